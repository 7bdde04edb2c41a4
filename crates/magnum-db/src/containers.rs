//! The `container` table.

use crate::lookup;
use crate::paging::{Page, push_page};
use crate::{Error, Scope};
use chrono::{DateTime, Utc};
use magnum_core::container::{Container, ContainerStatus};
use sqlx::types::Json;
use sqlx::{PgConnection, QueryBuilder};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

pub use magnum_core::container::SORT_KEYS;

#[derive(Debug, sqlx::FromRow)]
struct ContainerRow {
    id: i64,
    uuid: Uuid,
    project_id: String,
    user_id: String,
    name: String,
    image: String,
    command: Option<String>,
    memory: Option<String>,
    environment: Json<BTreeMap<String, String>>,
    bay_uuid: Uuid,
    status: String,
    status_reason: Option<String>,
    host: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<ContainerRow> for Container {
    fn from(r: ContainerRow) -> Self {
        Container {
            id: r.id,
            uuid: r.uuid,
            project_id: r.project_id,
            user_id: r.user_id,
            name: r.name,
            image: r.image,
            command: r.command,
            memory: r.memory,
            environment: r.environment.0,
            bay_uuid: r.bay_uuid,
            // The column's CHECK constraint admits only known statuses.
            status: ContainerStatus::parse(&r.status).unwrap_or(ContainerStatus::Unknown),
            status_reason: r.status_reason,
            host: r.host,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "t.id, t.uuid, t.project_id, t.user_id, t.name, t.image, t.command, \
    t.memory, t.environment, t.bay_uuid, t.status, t.status_reason, t.host, t.created_at, \
    t.updated_at";

/// A new container row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContainer {
    /// Public identifier.
    pub uuid: Uuid,
    /// Owner.
    pub project_id: String,
    /// Creator.
    pub user_id: String,
    /// Name, unique in the bay.
    pub name: String,
    /// Image.
    pub image: String,
    /// Command.
    pub command: Option<String>,
    /// Memory.
    pub memory: Option<String>,
    /// Environment.
    pub environment: BTreeMap<String, String>,
    /// The bay.
    pub bay_uuid: Uuid,
}

/// Stores a container in `Creating`, claimed by `owner` for `lease` (the Engine create follows).
pub async fn insert(
    conn: &mut PgConnection,
    c: &NewContainer,
    owner: &str,
    lease: Duration,
) -> Result<Container, Error> {
    let row = sqlx::query_as!(
        ContainerRow,
        r#"INSERT INTO container (uuid, project_id, user_id, name, image, command, memory,
               environment, bay_uuid, status, lease_owner, lease_expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'Creating', $10,
               now() + make_interval(secs => $11))
           RETURNING id, uuid, project_id, user_id, name, image, command, memory,
               environment AS "environment: Json<BTreeMap<String, String>>", bay_uuid, status,
               status_reason, host, created_at, updated_at"#,
        c.uuid,
        c.project_id,
        c.user_id,
        c.name,
        c.image,
        c.command,
        c.memory,
        Json(&c.environment) as _,
        c.bay_uuid,
        owner,
        lease.as_secs_f64(),
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

pub use crate::lookup::Key;

/// Containers in scope matching `key` (at most two).
pub async fn find(
    conn: &mut PgConnection,
    scope: &Scope,
    key: Key<'_>,
) -> Result<Vec<Container>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM container t WHERE true"));
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    lookup::push_key_limit_2(&mut qb, &key);
    let rows: Vec<ContainerRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A page of containers in scope, optionally of one bay.
pub async fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    bay: Option<Uuid>,
    page: &Page,
) -> Result<Vec<Container>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM container t WHERE true"));
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    if let Some(bay) = bay {
        qb.push(" AND t.bay_uuid = ").push_bind(bay);
    }
    push_page(&mut qb, "container", page);
    let rows: Vec<ContainerRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The database id of a container in scope, for a list marker.
pub async fn marker_id(
    conn: &mut PgConnection,
    scope: &Scope,
    uuid: Uuid,
) -> Result<Option<i64>, Error> {
    Ok(find(conn, scope, Key::Uuid(uuid))
        .await?
        .first()
        .map(|c| c.id))
}

/// Ends the Engine create held by `owner`: records the host and Engine id, or the failure.
pub async fn created(
    conn: &mut PgConnection,
    uuid: Uuid,
    owner: &str,
    host: Option<Uuid>,
    backend_id: Option<&str>,
    status: ContainerStatus,
    reason: Option<&str>,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE container SET host = $3, backend_id = $4, status = $5, status_reason = $6,
               lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
           WHERE uuid = $1 AND lease_owner = $2 AND status = 'Creating'"#,
        uuid,
        owner,
        host,
        backend_id,
        status.as_str(),
        reason,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Where a container lives: its host's Engine endpoint.
pub async fn endpoint(conn: &mut PgConnection, uuid: Uuid) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT n.backend_id AS "backend_id!" FROM container c JOIN node n ON n.uuid = c.host
           WHERE c.uuid = $1 AND n.backend_id IS NOT NULL"#,
        uuid
    )
    .fetch_optional(conn)
    .await?)
}

/// Records a status read from the Engine, if it differs (compare-and-set on the old status).
pub async fn set_status(
    conn: &mut PgConnection,
    uuid: Uuid,
    from: ContainerStatus,
    to: ContainerStatus,
    reason: Option<&str>,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE container SET status = $3, status_reason = $4, updated_at = now()
           WHERE uuid = $1 AND status = $2 AND (status <> $3 OR status_reason IS DISTINCT FROM $4)"#,
        uuid,
        from.as_str(),
        to.as_str(),
        reason,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Renames a container (names are unique per bay: a taken name is [`Error::Duplicate`]);
/// `None` when it is gone.
pub async fn rename(
    conn: &mut PgConnection,
    uuid: Uuid,
    name: &str,
) -> Result<Option<Container>, Error> {
    let row = sqlx::query_as!(
        ContainerRow,
        r#"UPDATE container SET name = $2, updated_at = now() WHERE uuid = $1
           RETURNING id, uuid, project_id, user_id, name, image, command, memory,
               environment AS "environment: Json<BTreeMap<String, String>>", bay_uuid, status,
               status_reason, host, created_at, updated_at"#,
        uuid,
        name,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// Removes a container's row.
pub async fn delete(conn: &mut PgConnection, uuid: Uuid) -> Result<bool, Error> {
    let done = sqlx::query!("DELETE FROM container WHERE uuid = $1", uuid)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates abandoned in `Creating` (their conductor died): claims them for `owner`.
pub async fn claim_abandoned(
    conn: &mut PgConnection,
    owner: &str,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Uuid>, Error> {
    Ok(sqlx::query_scalar!(
        r#"UPDATE container SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2)
           WHERE uuid IN (SELECT uuid FROM container WHERE status = 'Creating'
                            AND (lease_owner IS NULL OR lease_expires_at < now())
                          ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING uuid"#,
        owner,
        lease.as_secs_f64(),
        limit
    )
    .fetch_all(conn)
    .await?)
}
