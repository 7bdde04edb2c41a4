//! The `nodegroup` table: a bay's stored worker groups (specs/0002). Each read adds what the
//! group's mirrored node rows show (addresses, how many it holds); every status change is a
//! compare-and-set on the current status.

use crate::Error;
use chrono::{DateTime, Utc};
use magnum_core::bay::BayStatus;
use magnum_core::nodegroup::NodeGroup;
use sqlx::types::Json;
use sqlx::{PgConnection, QueryBuilder};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    uuid: Uuid,
    bay_uuid: Uuid,
    project_id: String,
    user_id: String,
    name: String,
    role: String,
    node_count: i32,
    min_node_count: i32,
    max_node_count: Option<i32>,
    flavor_id: Option<String>,
    image_id: Option<String>,
    docker_volume_size: Option<i32>,
    labels: Json<BTreeMap<String, String>>,
    status: String,
    status_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
    node_addresses: Json<Vec<String>>,
    nodes_held: i64,
}

impl From<Row> for NodeGroup {
    fn from(r: Row) -> Self {
        NodeGroup {
            id: r.id,
            uuid: r.uuid,
            bay_uuid: r.bay_uuid,
            project_id: r.project_id,
            user_id: r.user_id,
            name: r.name,
            role: r.role,
            node_count: r.node_count,
            min_node_count: r.min_node_count,
            max_node_count: r.max_node_count,
            flavor_id: r.flavor_id,
            image_id: r.image_id,
            docker_volume_size: r.docker_volume_size,
            labels: r.labels.0,
            node_addresses: r.node_addresses.0,
            nodes_held: i32::try_from(r.nodes_held).unwrap_or(i32::MAX),
            // The column's CHECK constraint admits only known statuses.
            status: BayStatus::parse(&r.status).unwrap_or(BayStatus::CreateFailed),
            status_reason: r.status_reason,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

/// Columns of a group plus its nodes' addresses (in node order) and count.
const SELECT: &str = "SELECT g.id, g.uuid, g.bay_uuid, g.project_id, g.user_id, g.name, g.role, \
    g.node_count, g.min_node_count, g.max_node_count, g.flavor_id, g.image_id, \
    g.docker_volume_size, g.labels, g.status, g.status_reason, g.created_at, g.updated_at, \
    COALESCE((SELECT jsonb_agg(a.value ORDER BY n.id, a.ord) FROM node n \
        CROSS JOIN LATERAL jsonb_array_elements_text(n.addresses) WITH ORDINALITY AS a(value, ord) \
        WHERE n.bay_uuid = g.bay_uuid AND n.nodegroup = g.name), '[]'::jsonb) AS node_addresses, \
    (SELECT count(*) FROM node n WHERE n.bay_uuid = g.bay_uuid AND n.nodegroup = g.name) \
        AS nodes_held \
    FROM nodegroup g";

/// A group to store, in `CREATE_IN_PROGRESS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNodeGroup {
    /// Public identifier.
    pub uuid: Uuid,
    /// The bay.
    pub bay_uuid: Uuid,
    /// Owning project (the bay's).
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Name, unique in the bay.
    pub name: String,
    /// Nodes to claim.
    pub node_count: i32,
    /// Lower bound.
    pub min_node_count: i32,
    /// Upper bound.
    pub max_node_count: Option<i32>,
    /// Flavor.
    pub flavor_id: Option<String>,
    /// Image.
    pub image_id: Option<String>,
    /// Docker volume size.
    pub docker_volume_size: Option<i32>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// Stores a new worker group in `CREATE_IN_PROGRESS`. A taken name or uuid is
/// [`Error::Duplicate`] (`nodegroup_bay_uuid_name_key`, `nodegroup_uuid_key`).
pub async fn insert(conn: &mut PgConnection, g: &NewNodeGroup) -> Result<NodeGroup, Error> {
    sqlx::query(
        "INSERT INTO nodegroup (uuid, bay_uuid, project_id, user_id, name, role, node_count, \
             min_node_count, max_node_count, flavor_id, image_id, docker_volume_size, labels, \
             status) \
         VALUES ($1, $2, $3, $4, $5, 'worker', $6, $7, $8, $9, $10, $11, $12, 'CREATE_IN_PROGRESS')",
    )
    .bind(g.uuid)
    .bind(g.bay_uuid)
    .bind(&g.project_id)
    .bind(&g.user_id)
    .bind(&g.name)
    .bind(g.node_count)
    .bind(g.min_node_count)
    .bind(g.max_node_count)
    .bind(&g.flavor_id)
    .bind(&g.image_id)
    .bind(g.docker_volume_size)
    .bind(Json(&g.labels))
    .execute(&mut *conn)
    .await?;
    find(conn, g.uuid)
        .await?
        .ok_or_else(|| Error::Other(sqlx::Error::RowNotFound))
}

/// The group with this uuid, whatever its bay.
pub async fn find(conn: &mut PgConnection, uuid: Uuid) -> Result<Option<NodeGroup>, Error> {
    let mut qb = QueryBuilder::new(SELECT);
    qb.push(" WHERE g.uuid = ").push_bind(uuid);
    let row: Option<Row> = qb.build_query_as().fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

/// Every stored group of a bay, in creation order.
pub async fn of_bay(conn: &mut PgConnection, bay_uuid: Uuid) -> Result<Vec<NodeGroup>, Error> {
    let mut qb = QueryBuilder::new(SELECT);
    qb.push(" WHERE g.bay_uuid = ")
        .push_bind(bay_uuid)
        .push(" ORDER BY g.id");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Sets a group's status (and reason) if it is in one of `from`. `Ok(false)`: it was not (or
/// is gone).
pub async fn set_status(
    conn: &mut PgConnection,
    uuid: Uuid,
    from: &[BayStatus],
    to: BayStatus,
    reason: Option<&str>,
) -> Result<bool, Error> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let done = sqlx::query(
        "UPDATE nodegroup SET status = $3, status_reason = $4, updated_at = now() \
         WHERE uuid = $1 AND status = ANY($2)",
    )
    .bind(uuid)
    .bind(&from)
    .bind(to.as_str())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Starts an update: new counts and bounds, `UPDATE_IN_PROGRESS`, if the group is in one of
/// `from`. `Ok(false)`: it was not.
pub async fn begin_update(
    conn: &mut PgConnection,
    uuid: Uuid,
    from: &[BayStatus],
    node_count: i32,
    min_node_count: i32,
    max_node_count: Option<i32>,
) -> Result<bool, Error> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let done = sqlx::query(
        "UPDATE nodegroup SET status = 'UPDATE_IN_PROGRESS', status_reason = NULL, \
             node_count = $3, min_node_count = $4, max_node_count = $5, updated_at = now() \
         WHERE uuid = $1 AND status = ANY($2)",
    )
    .bind(uuid)
    .bind(&from)
    .bind(node_count)
    .bind(min_node_count)
    .bind(max_node_count)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the count a group is to hold (a failed scale goes back to what it holds).
pub async fn set_node_count(conn: &mut PgConnection, uuid: Uuid, count: i32) -> Result<(), Error> {
    sqlx::query("UPDATE nodegroup SET node_count = $2 WHERE uuid = $1")
        .bind(uuid)
        .bind(count)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a group whose nodes are released, if it is being deleted.
pub async fn remove(conn: &mut PgConnection, uuid: Uuid) -> Result<bool, Error> {
    let done =
        sqlx::query("DELETE FROM nodegroup WHERE uuid = $1 AND status = 'DELETE_IN_PROGRESS'")
            .bind(uuid)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Sum of the node counts of a bay's groups other than `except` (for `[bay] max_node_count`).
pub async fn total_nodes(
    conn: &mut PgConnection,
    bay_uuid: Uuid,
    except: Option<Uuid>,
) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(node_count), 0)::bigint FROM nodegroup \
         WHERE bay_uuid = $1 AND uuid IS DISTINCT FROM $2 AND status <> 'CREATE_FAILED'",
    )
    .bind(bay_uuid)
    .bind(except)
    .fetch_one(conn)
    .await?)
}

/// A group left `*_IN_PROGRESS` with no bay operation working on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The group.
    pub uuid: Uuid,
    /// Its bay.
    pub bay_uuid: Uuid,
    /// Its status.
    pub status: BayStatus,
}

/// Groups `*_IN_PROGRESS` for more than `minutes` whose bay runs no operation on them.
pub async fn stuck(conn: &mut PgConnection, minutes: i64) -> Result<Vec<Stuck>, Error> {
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT g.uuid, g.bay_uuid, g.status FROM nodegroup g JOIN bay b ON b.uuid = g.bay_uuid \
         WHERE g.status IN ('CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS', 'DELETE_IN_PROGRESS') \
           AND COALESCE(g.updated_at, g.created_at) + make_interval(mins => $1) < now() \
           AND (b.op IS NULL OR b.op_args->>'nodegroup' IS DISTINCT FROM g.uuid::text)",
    )
    .bind(i32::try_from(minutes).unwrap_or(i32::MAX))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(uuid, bay_uuid, status)| {
            Some(Stuck {
                uuid,
                bay_uuid,
                status: BayStatus::parse(&status)?,
            })
        })
        .collect())
}
