//! The `bay` table. Every status change is a compare-and-set, and backend work is fenced by the
//! operation id and the lease (spec/rpc.md §8.3).

use crate::lookup;
use crate::paging::{Page, push_page};
use crate::{Error, Scope};
use chrono::{DateTime, Utc};
use magnum_core::bay::{Bay, BayOp, BayStatus, HealthStatus};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

pub use magnum_core::bay::SORT_KEYS;

#[derive(Debug, sqlx::FromRow)]
struct BayRow {
    id: i64,
    uuid: Uuid,
    project_id: String,
    user_id: String,
    name: String,
    baymodel_id: Uuid,
    stack_id: Option<String>,
    status: String,
    status_reason: Option<String>,
    api_address: Option<String>,
    node_addresses: Json<Vec<String>>,
    master_addresses: Json<Vec<String>>,
    node_count: i32,
    master_count: i32,
    discovery_url: Option<String>,
    create_timeout: Option<i32>,
    labels: Json<BTreeMap<String, String>>,
    keypair: Option<String>,
    flavor_id: Option<String>,
    master_flavor_id: Option<String>,
    docker_volume_size: Option<i32>,
    fixed_network: Option<String>,
    fixed_subnet: Option<String>,
    floating_ip_enabled: Option<bool>,
    master_lb_enabled: Option<bool>,
    health_status: Option<String>,
    health_status_reason: Option<Json<BTreeMap<String, String>>>,
    coe_version: Option<String>,
    container_version: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<BayRow> for Bay {
    fn from(r: BayRow) -> Self {
        Bay {
            id: r.id,
            uuid: r.uuid,
            project_id: r.project_id,
            user_id: r.user_id,
            name: r.name,
            baymodel_id: r.baymodel_id,
            stack_id: r.stack_id,
            // The column's CHECK constraint admits only known statuses.
            status: BayStatus::parse(&r.status).unwrap_or(BayStatus::CreateFailed),
            status_reason: r.status_reason,
            api_address: r.api_address,
            node_addresses: r.node_addresses.0,
            master_addresses: r.master_addresses.0,
            node_count: r.node_count,
            master_count: r.master_count,
            discovery_url: r.discovery_url,
            create_timeout: r.create_timeout,
            labels: r.labels.0,
            keypair: r.keypair,
            flavor_id: r.flavor_id,
            master_flavor_id: r.master_flavor_id,
            docker_volume_size: r.docker_volume_size,
            fixed_network: r.fixed_network,
            fixed_subnet: r.fixed_subnet,
            floating_ip_enabled: r.floating_ip_enabled,
            master_lb_enabled: r.master_lb_enabled,
            health_status: r.health_status.as_deref().and_then(HealthStatus::parse),
            health_status_reason: r.health_status_reason.map(|j| j.0),
            coe_version: r.coe_version,
            container_version: r.container_version,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "t.id, t.uuid, t.project_id, t.user_id, t.name, t.baymodel_id, \
    t.stack_id, t.status, t.status_reason, t.api_address, t.node_addresses, t.master_addresses, \
    t.node_count, t.master_count, t.discovery_url, t.create_timeout, t.labels, t.keypair, \
    t.flavor_id, t.master_flavor_id, t.docker_volume_size, t.fixed_network, t.fixed_subnet, \
    t.floating_ip_enabled, t.master_lb_enabled, t.health_status, t.health_status_reason, \
    t.coe_version, t.container_version, t.created_at, t.updated_at";

/// A new bay row: the validated request with the baymodel's values filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBay {
    /// Public identifier, chosen by the API.
    pub uuid: Uuid,
    /// Owner.
    pub project_id: String,
    /// Creator.
    pub user_id: String,
    /// Name.
    pub name: String,
    /// The baymodel's uuid.
    pub baymodel_id: Uuid,
    /// Worker nodes.
    pub node_count: i32,
    /// Masters.
    pub master_count: i32,
    /// Minutes a create may take.
    pub create_timeout: Option<i32>,
    /// Stored only.
    pub discovery_url: Option<String>,
    /// Labels drivers read.
    pub labels: BTreeMap<String, String>,
    /// Key pair.
    pub keypair: Option<String>,
    /// Worker flavor.
    pub flavor_id: Option<String>,
    /// Master flavor.
    pub master_flavor_id: Option<String>,
    /// Docker volume size.
    pub docker_volume_size: Option<i32>,
    /// Fixed network.
    pub fixed_network: Option<String>,
    /// Fixed subnet.
    pub fixed_subnet: Option<String>,
    /// Floating IPs.
    pub floating_ip_enabled: Option<bool>,
    /// Master load balancer.
    pub master_lb_enabled: Option<bool>,
}

/// Stores a bay in `CREATE_IN_PROGRESS` with a create operation `op_id` waiting for a conductor.
pub async fn insert(conn: &mut PgConnection, bay: &NewBay, op_id: Uuid) -> Result<Bay, Error> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO bay (uuid, project_id, user_id, name, baymodel_id, status, node_count,
               master_count, create_timeout, discovery_url, labels, keypair, flavor_id,
               master_flavor_id, docker_volume_size, fixed_network, fixed_subnet,
               floating_ip_enabled, master_lb_enabled, op, op_id, op_started_at)
           VALUES ($1, $2, $3, $4, $5, 'CREATE_IN_PROGRESS', $6, $7, $8, $9, $10, $11, $12, $13,
               $14, $15, $16, $17, $18, 'create', $19, now())
           RETURNING id"#,
        bay.uuid,
        bay.project_id,
        bay.user_id,
        bay.name,
        bay.baymodel_id,
        bay.node_count,
        bay.master_count,
        bay.create_timeout,
        bay.discovery_url,
        Json(&bay.labels) as _,
        bay.keypair,
        bay.flavor_id,
        bay.master_flavor_id,
        bay.docker_volume_size,
        bay.fixed_network,
        bay.fixed_subnet,
        bay.floating_ip_enabled,
        bay.master_lb_enabled,
        op_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    find(conn, &Scope::all(), Key::Id(id))
        .await?
        .pop()
        .ok_or_else(|| Error::Other(sqlx::Error::RowNotFound))
}

pub use crate::lookup::Key;

/// Bays in scope matching `key` (at most two: enough to detect an ambiguous name).
pub async fn find(conn: &mut PgConnection, scope: &Scope, key: Key<'_>) -> Result<Vec<Bay>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM bay t WHERE true"));
    push_scope(&mut qb, scope);
    lookup::push_key_limit_2(&mut qb, &key);
    let rows: Vec<BayRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

fn push_scope(qb: &mut QueryBuilder<Postgres>, scope: &Scope) {
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
}

/// Filters of a bay list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only bays of this baymodel.
    pub baymodel_id: Option<Uuid>,
    /// Only bays in one of these statuses.
    pub status: Vec<BayStatus>,
    /// Only this project's bays (admins).
    pub project_id: Option<String>,
}

/// A page of bays in scope.
pub async fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    filters: &Filters,
    page: &Page,
) -> Result<Vec<Bay>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM bay t WHERE true"));
    push_scope(&mut qb, scope);
    if let Some(model) = filters.baymodel_id {
        qb.push(" AND t.baymodel_id = ").push_bind(model);
    }
    if !filters.status.is_empty() {
        let names: Vec<String> = filters
            .status
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        qb.push(" AND t.status = ANY(").push_bind(names).push(")");
    }
    if let Some(project) = &filters.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    push_page(&mut qb, "bay", page);
    let rows: Vec<BayRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The database id of a bay in scope, for a list marker.
pub async fn marker_id(
    conn: &mut PgConnection,
    scope: &Scope,
    uuid: Uuid,
) -> Result<Option<i64>, Error> {
    Ok(find(conn, scope, Key::Uuid(uuid))
        .await?
        .first()
        .map(|b| b.id))
}

/// Bays and their nodes (Σ `node_count` + `master_count`) of one project, or of all.
pub async fn stats(conn: &mut PgConnection, project_id: Option<&str>) -> Result<(i64, i64), Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "clusters!",
               COALESCE(sum(node_count + master_count), 0)::bigint AS "nodes!"
           FROM bay WHERE $1::text IS NULL OR project_id = $1"#,
        project_id
    )
    .fetch_one(conn)
    .await?;
    Ok((row.clusters, row.nodes))
}

/// How many bays there are in each status (statuses with none are left out).
pub async fn count_by_status(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, Error> {
    let rows = sqlx::query!(r#"SELECT status, count(*) AS "n!" FROM bay GROUP BY status"#)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.n)).collect())
}

/// How many bays' work `owner` holds a live lease on.
pub async fn leases_held(conn: &mut PgConnection, owner: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM bay WHERE lease_owner = $1 AND lease_expires_at > now()"#,
        owner
    )
    .fetch_one(conn)
    .await?)
}

/// How many bays a project holds (for its quota).
pub async fn count_in_project(conn: &mut PgConnection, project_id: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM bay WHERE project_id = $1"#,
        project_id
    )
    .fetch_one(conn)
    .await?)
}

/// Starts an operation on a bay if its status is one of `from`: writes the in-progress status,
/// `op`, a fresh `op_id` and `node_count`, and frees the lease so any conductor may claim the
/// work. `rollback_to` keeps the count to restore if a rolled-back update fails. `Ok(false)`: the
/// status did not match (another operation runs, or the bay is gone).
#[allow(
    clippy::too_many_arguments,
    reason = "one compare-and-set with every column it writes"
)]
pub async fn begin_op(
    conn: &mut PgConnection,
    uuid: Uuid,
    from: &[BayStatus],
    op: BayOp,
    op_id: Uuid,
    node_count: i32,
    rollback_to: Option<i32>,
    baymodel_id: Option<Uuid>,
    op_args: &serde_json::Value,
) -> Result<bool, Error> {
    let from: Vec<String> = from.iter().map(|s| s.as_str().to_owned()).collect();
    let done = sqlx::query!(
        r#"UPDATE bay SET status = $3, status_reason = NULL, op = $4, op_id = $5,
               op_started_at = now(), node_count = $6, rollback_node_count = $7,
               baymodel_id = COALESCE($8, baymodel_id), op_args = $9,
               lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
           WHERE uuid = $1 AND status = ANY($2)"#,
        uuid,
        &from,
        op.in_progress().as_str(),
        op.as_str(),
        op_id,
        node_count,
        rollback_to,
        baymodel_id,
        op_args,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Work waiting in a bay row: what to do, and the fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// The bay.
    pub uuid: Uuid,
    /// The operation.
    pub op: BayOp,
    /// Its fencing token.
    pub op_id: Uuid,
}

/// Claims the operation `op_id` of a bay for `owner` until `lease` from now, if nobody holds a
/// live lease on it. `Ok(false)`: superseded, finished, or another conductor works on it.
pub async fn claim(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
    owner: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE bay SET lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4)
           WHERE uuid = $1 AND op_id = $2 AND op IS NOT NULL
             AND (lease_owner IS NULL OR lease_expires_at < now())"#,
        uuid,
        op_id,
        owner,
        lease.as_secs_f64(),
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends a held lease. `Ok(false)`: the lease was lost (taken over or superseded).
pub async fn renew(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
    owner: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE bay SET lease_expires_at = now() + make_interval(secs => $4)
           WHERE uuid = $1 AND op_id = $2 AND lease_owner = $3"#,
        uuid,
        op_id,
        owner,
        lease.as_secs_f64(),
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a lease back without finishing (graceful shutdown): another conductor may claim it.
pub async fn release(conn: &mut PgConnection, owner: &str) -> Result<u64, Error> {
    let done = sqlx::query!(
        "UPDATE bay SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1",
        owner
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Operations with no live lease: abandoned by a dead conductor, or whose cast was lost.
pub async fn unclaimed_work(conn: &mut PgConnection, limit: i64) -> Result<Vec<Work>, Error> {
    let rows = sqlx::query!(
        r#"SELECT uuid, op AS "op!", op_id AS "op_id!" FROM bay
           WHERE op IS NOT NULL AND op_id IS NOT NULL
             AND (lease_owner IS NULL OR lease_expires_at < now())
           ORDER BY op_started_at LIMIT $1"#,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Work {
                uuid: r.uuid,
                op: BayOp::parse(&r.op)?,
                op_id: r.op_id,
            })
        })
        .collect())
}

/// What the backend showed when an operation ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Backend handle.
    pub stack_id: Option<String>,
    /// COE API endpoint.
    pub api_address: Option<String>,
    /// Worker addresses.
    pub node_addresses: Vec<String>,
    /// COE version.
    pub coe_version: Option<String>,
    /// Runtime version.
    pub container_version: Option<String>,
}

/// Ends the operation `op_id` held by `owner` with `status`, writing what the backend showed
/// (`None`: keep the stored values). `Ok(false)`: the lease or the operation was lost.
pub async fn finish(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
    owner: &str,
    status: BayStatus,
    reason: Option<&str>,
    outcome: Option<&Outcome>,
) -> Result<bool, Error> {
    let o = outcome.cloned().unwrap_or_default();
    let done = sqlx::query!(
        r#"UPDATE bay SET status = $4, status_reason = $5,
               stack_id = CASE WHEN $6 THEN $7 ELSE stack_id END,
               api_address = CASE WHEN $6 THEN $8 ELSE api_address END,
               node_addresses = CASE WHEN $6 THEN $9 ELSE node_addresses END,
               coe_version = CASE WHEN $6 THEN $10 ELSE coe_version END,
               container_version = CASE WHEN $6 THEN $11 ELSE container_version END,
               op = NULL, op_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
               rollback_node_count = NULL, updated_at = now()
           WHERE uuid = $1 AND op_id = $2 AND lease_owner = $3"#,
        uuid,
        op_id,
        owner,
        status.as_str(),
        reason,
        outcome.is_some(),
        o.stack_id,
        o.api_address,
        Json(&o.node_addresses) as _,
        o.coe_version,
        o.container_version,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates running past their timeout (`create_timeout` minutes, else `default_minutes`; 0 means
/// none), by the database's clock.
pub async fn expired_creates(
    conn: &mut PgConnection,
    default_minutes: i64,
) -> Result<Vec<Work>, Error> {
    let minutes = i32::try_from(default_minutes).unwrap_or(i32::MAX);
    let rows = sqlx::query!(
        r#"SELECT uuid, op_id AS "op_id!" FROM bay
           WHERE op = 'create' AND op_id IS NOT NULL
             AND COALESCE(create_timeout, $1) > 0
             AND created_at + make_interval(mins => COALESCE(create_timeout, $1)) < now()"#,
        minutes
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Work {
            uuid: r.uuid,
            op: BayOp::Create,
            op_id: r.op_id,
        })
        .collect())
}

/// Fails an operation past its deadline, whoever holds it (compare-and-set on the operation).
pub async fn expire(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
    status: BayStatus,
    reason: &str,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE bay SET status = $3, status_reason = $4, op = NULL, op_id = NULL,
               lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
           WHERE uuid = $1 AND op_id = $2"#,
        uuid,
        op_id,
        status.as_str(),
        reason,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The arguments of operation `op_id` (`{}` if none; `None` if the operation is gone).
pub async fn op_args(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
) -> Result<Option<serde_json::Value>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT op_args FROM bay WHERE uuid = $1 AND op_id = $2",
        uuid,
        op_id
    )
    .fetch_optional(conn)
    .await?)
}

/// Restores the node count a rolled-back update started from; `None` if there is none.
pub async fn rollback_count(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
) -> Result<Option<i32>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT rollback_node_count FROM bay WHERE uuid = $1 AND op_id = $2",
        uuid,
        op_id
    )
    .fetch_optional(conn)
    .await?
    .flatten())
}

/// Sets the node count while `owner` holds operation `op_id` (a rolled-back update).
pub async fn set_node_count(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
    owner: &str,
    count: i32,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        "UPDATE bay SET node_count = $4 WHERE uuid = $1 AND op_id = $2 AND lease_owner = $3",
        uuid,
        op_id,
        owner,
        count
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a deleted bay's row (its nodes, pods, services, rcs and containers go with it), if
/// `owner` still holds the delete operation `op_id`.
pub async fn remove(
    conn: &mut PgConnection,
    uuid: Uuid,
    op_id: Uuid,
    owner: &str,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        "DELETE FROM bay WHERE uuid = $1 AND op_id = $2 AND lease_owner = $3",
        uuid,
        op_id,
        owner
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the reconciler's view of a bay that is not being worked on.
pub async fn set_health(
    conn: &mut PgConnection,
    uuid: Uuid,
    health: HealthStatus,
    reason: &BTreeMap<String, String>,
    node_addresses: &[String],
) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE bay SET health_status = $2, health_status_reason = $3, node_addresses = $4,
               updated_at = CASE WHEN health_status IS DISTINCT FROM $2 THEN now() ELSE updated_at END
           WHERE uuid = $1 AND op IS NULL"#,
        uuid,
        health.as_str(),
        Json(reason) as _,
        Json(node_addresses) as _,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uuids of settled bays (no operation running), for the reconciler.
pub async fn settled(conn: &mut PgConnection, limit: i64) -> Result<Vec<Uuid>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT uuid FROM bay WHERE op IS NULL AND status IN ('CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_FAILED') ORDER BY id LIMIT $1",
        limit
    )
    .fetch_all(conn)
    .await?)
}

/// The bay's credential generation (see migration 0005); `None`: no such bay.
pub async fn credential_generation(
    conn: &mut PgConnection,
    uuid: Uuid,
) -> Result<Option<i32>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT credential_generation FROM bay WHERE uuid = $1",
        uuid
    )
    .fetch_optional(conn)
    .await?)
}

/// Moves the bay from credential generation `from` to `from + 1`; `false` when it is no longer
/// at `from` (another rotation won) or is gone.
pub async fn advance_credential_generation(
    conn: &mut PgConnection,
    uuid: Uuid,
    from: i32,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        "UPDATE bay SET credential_generation = credential_generation + 1, updated_at = now() \
         WHERE uuid = $1 AND credential_generation = $2",
        uuid,
        from
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
