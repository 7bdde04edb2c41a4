//! The `workload` table: pods, services and replication controllers, told apart by `kind`.

use crate::lookup;
use crate::paging::{Page, push_page};
use crate::{Error, Scope};
use chrono::{DateTime, Utc};
use magnum_core::manifest::WorkloadKind;
use magnum_core::workload::Workload;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, QueryBuilder};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use magnum_core::workload::SORT_KEYS;

type Labels = BTreeMap<String, String>;

#[derive(Debug, sqlx::FromRow)]
struct WorkloadRow {
    id: i64,
    uuid: Uuid,
    project_id: String,
    user_id: String,
    bay_uuid: Uuid,
    name: String,
    desc: Option<String>,
    images: Option<Json<Vec<String>>>,
    labels: Json<Labels>,
    status: Option<String>,
    host: Option<String>,
    selector: Option<Json<Labels>>,
    ip: Option<String>,
    ports: Option<Json<Value>>,
    replicas: Option<i32>,
    ready_replicas: Option<i32>,
    manifest: String,
    manifest_url: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<WorkloadRow> for Workload {
    fn from(r: WorkloadRow) -> Self {
        Workload {
            id: Some(r.id),
            uuid: r.uuid,
            name: r.name,
            desc: r.desc,
            project_id: r.project_id,
            user_id: r.user_id,
            bay_uuid: r.bay_uuid,
            images: r.images.map(|j| j.0),
            labels: r.labels.0,
            status: r.status,
            host: r.host,
            selector: r.selector.map(|j| j.0),
            ip: r.ip,
            ports: r.ports.map(|j| j.0),
            replicas: r.replicas,
            ready_replicas: r.ready_replicas,
            manifest: Some(r.manifest),
            manifest_url: r.manifest_url,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "t.id, t.uuid, t.project_id, t.user_id, t.bay_uuid, t.name, t.\"desc\", \
    t.images, t.labels, t.status, t.host, t.selector, t.ip, t.ports, t.replicas, \
    t.ready_replicas, t.manifest, t.manifest_url, t.created_at, t.updated_at";

/// Stores a new record of `kind`; `w.manifest` must be set (the caller made the object from it).
pub async fn insert(
    conn: &mut PgConnection,
    kind: WorkloadKind,
    w: &Workload,
) -> Result<Workload, Error> {
    let row = sqlx::query_as!(
        WorkloadRow,
        r#"INSERT INTO workload (uuid, kind, project_id, user_id, bay_uuid, name, "desc", images,
               labels, status, host, selector, ip, ports, replicas, ready_replicas, manifest,
               manifest_url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
           RETURNING id, uuid, project_id, user_id, bay_uuid, name, "desc",
               images AS "images: Json<Vec<String>>", labels AS "labels: Json<Labels>", status,
               host, selector AS "selector: Json<Labels>", ip, ports AS "ports: Json<Value>",
               replicas, ready_replicas, manifest, manifest_url, created_at, updated_at"#,
        w.uuid,
        kind.as_str(),
        w.project_id,
        w.user_id,
        w.bay_uuid,
        w.name,
        w.desc,
        w.images.as_ref().map(Json) as _,
        Json(&w.labels) as _,
        w.status,
        w.host,
        w.selector.as_ref().map(Json) as _,
        w.ip,
        w.ports.as_ref().map(Json) as _,
        w.replicas,
        w.ready_replicas,
        w.manifest.as_deref().unwrap_or_default(),
        w.manifest_url,
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Writes everything but the identity of a record (after an update of its Kubernetes object);
/// `None` when the record is gone.
pub async fn save(
    conn: &mut PgConnection,
    kind: WorkloadKind,
    w: &Workload,
) -> Result<Option<Workload>, Error> {
    let row = sqlx::query_as!(
        WorkloadRow,
        r#"UPDATE workload SET "desc" = $3, images = $4, labels = $5, status = $6, host = $7,
               selector = $8, ip = $9, ports = $10, replicas = $11, ready_replicas = $12,
               manifest = $13, manifest_url = $14, updated_at = now()
           WHERE uuid = $1 AND kind = $2
           RETURNING id, uuid, project_id, user_id, bay_uuid, name, "desc",
               images AS "images: Json<Vec<String>>", labels AS "labels: Json<Labels>", status,
               host, selector AS "selector: Json<Labels>", ip, ports AS "ports: Json<Value>",
               replicas, ready_replicas, manifest, manifest_url, created_at, updated_at"#,
        w.uuid,
        kind.as_str(),
        w.desc,
        w.images.as_ref().map(Json) as _,
        Json(&w.labels) as _,
        w.status,
        w.host,
        w.selector.as_ref().map(Json) as _,
        w.ip,
        w.ports.as_ref().map(Json) as _,
        w.replicas,
        w.ready_replicas,
        w.manifest.as_deref().unwrap_or_default(),
        w.manifest_url,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// What Kubernetes last showed of an object, as the reconciler writes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// A pod's phase.
    pub status: Option<String>,
    /// A pod's node.
    pub host: Option<String>,
    /// A service's cluster IP.
    pub ip: Option<String>,
    /// A service's ports.
    pub ports: Option<Value>,
    /// An RC's ready replicas.
    pub ready_replicas: Option<i32>,
}

/// Records what Kubernetes shows of an object if it differs from the record (so unchanged
/// objects cost no write); `Ok(true)` when something changed.
pub async fn observe(conn: &mut PgConnection, uuid: Uuid, seen: &Observed) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"UPDATE workload SET status = $2, host = $3, ip = $4, ports = COALESCE($5, ports),
               ready_replicas = $6, updated_at = now()
           WHERE uuid = $1 AND (status IS DISTINCT FROM $2 OR host IS DISTINCT FROM $3
               OR ip IS DISTINCT FROM $4 OR ($5::jsonb IS NOT NULL AND ports IS DISTINCT FROM $5)
               OR ready_replicas IS DISTINCT FROM $6)"#,
        uuid,
        seen.status,
        seen.host,
        seen.ip,
        seen.ports.as_ref().map(Json) as _,
        seen.ready_replicas,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub use crate::lookup::Key;

/// Records of `kind` in scope matching `key`, optionally only in `bay` (at most two).
pub async fn find(
    conn: &mut PgConnection,
    scope: &Scope,
    kind: WorkloadKind,
    key: Key<'_>,
    bay: Option<Uuid>,
) -> Result<Vec<Workload>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM workload t WHERE t.kind = "));
    qb.push_bind(kind.as_str());
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    if let Some(bay) = bay {
        qb.push(" AND t.bay_uuid = ").push_bind(bay);
    }
    lookup::push_key_limit_2(&mut qb, &key);
    let rows: Vec<WorkloadRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A page of records of `kind` in scope, optionally of one bay and of one name.
pub async fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    kind: WorkloadKind,
    (bay, name): (Option<Uuid>, Option<&str>),
    page: &Page,
) -> Result<Vec<Workload>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM workload t WHERE t.kind = "));
    qb.push_bind(kind.as_str());
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    if let Some(bay) = bay {
        qb.push(" AND t.bay_uuid = ").push_bind(bay);
    }
    if let Some(name) = name {
        qb.push(" AND t.name = ").push_bind(name.to_owned());
    }
    push_page(&mut qb, "workload", page);
    let rows: Vec<WorkloadRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The database id of a record of `kind` in scope, for a list marker.
pub async fn marker_id(
    conn: &mut PgConnection,
    scope: &Scope,
    kind: WorkloadKind,
    uuid: Uuid,
) -> Result<Option<i64>, Error> {
    Ok(find(conn, scope, kind, Key::Uuid(uuid), None)
        .await?
        .first()
        .and_then(|w| w.id))
}

/// One record as the reconciler compares it with Kubernetes.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// The record.
    pub uuid: Uuid,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last written after a Kubernetes call; `None` while its create runs (or if the
    /// conductor making it died).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Every record of `kind` in `bay`.
pub async fn of_bay(
    conn: &mut PgConnection,
    bay: Uuid,
    kind: WorkloadKind,
) -> Result<Vec<Known>, Error> {
    Ok(sqlx::query_as!(
        Known,
        "SELECT uuid, created_at, updated_at FROM workload WHERE bay_uuid = $1 AND kind = $2 ORDER BY id",
        bay,
        kind.as_str()
    )
    .fetch_all(conn)
    .await?)
}

/// Removes a record.
pub async fn delete(conn: &mut PgConnection, uuid: Uuid) -> Result<bool, Error> {
    let done = sqlx::query!("DELETE FROM workload WHERE uuid = $1", uuid)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
