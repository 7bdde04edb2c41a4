//! The `node` table: nodes mirrored from a bay's backend, and nodes made through the API.

use crate::paging::{Page, push_page};
use crate::{Error, Scope};
use chrono::{DateTime, Utc};
use magnum_core::node::Node;
use sqlx::types::Json;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;

pub use magnum_core::node::SORT_KEYS;

#[derive(Debug, sqlx::FromRow)]
struct NodeRow {
    id: i64,
    uuid: Uuid,
    project_id: String,
    user_id: String,
    name: Option<String>,
    #[sqlx(rename = "type")]
    node_type: Option<String>,
    image_id: Option<String>,
    ironic_node_id: Option<String>,
    bay_uuid: Option<Uuid>,
    role: Option<String>,
    status: Option<String>,
    addresses: Json<Vec<String>>,
    backend_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<NodeRow> for Node {
    fn from(r: NodeRow) -> Self {
        Node {
            id: r.id,
            uuid: r.uuid,
            project_id: r.project_id,
            user_id: r.user_id,
            name: r.name,
            node_type: r.node_type,
            image_id: r.image_id,
            ironic_node_id: r.ironic_node_id,
            bay_uuid: r.bay_uuid,
            role: r.role,
            status: r.status,
            addresses: r.addresses.0,
            backend_id: r.backend_id,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "t.id, t.uuid, t.project_id, t.user_id, t.name, t.type, t.image_id, \
    t.ironic_node_id, t.bay_uuid, t.role, t.status, t.addresses, t.backend_id, t.created_at, \
    t.updated_at";

/// A node as the backend reports it, to mirror.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirrored {
    /// Backend handle.
    pub backend_id: String,
    /// Name.
    pub name: String,
    /// Addresses.
    pub addresses: Vec<String>,
    /// `Ready`, `NotReady`, `Unknown`.
    pub status: String,
    /// What else the backend says.
    pub info: serde_json::Value,
    /// The nodegroup it was claimed for (`default-worker` for the bay's own nodes).
    pub nodegroup: String,
}

/// Makes the bay's node rows match `nodes`: new ones added, known ones updated, the rest removed.
/// The backend holds the claims, so a machine now claimed by this bay moves its row here.
pub async fn mirror(
    conn: &mut PgConnection,
    bay_uuid: Uuid,
    project_id: &str,
    user_id: &str,
    node_type: &str,
    nodes: &[Mirrored],
) -> Result<(), Error> {
    let ids: Vec<String> = nodes.iter().map(|n| n.backend_id.clone()).collect();
    sqlx::query!(
        "DELETE FROM node WHERE bay_uuid = $1 AND NOT (backend_id = ANY($2))",
        bay_uuid,
        &ids
    )
    .execute(&mut *conn)
    .await?;
    for node in nodes {
        sqlx::query!(
            r#"INSERT INTO node (uuid, project_id, user_id, name, type, bay_uuid, role, status,
                   addresses, backend_id, backend_info, nodegroup)
               VALUES ($1, $2, $3, $4, $5, $6, 'worker', $7, $8, $9, $10, $11)
               ON CONFLICT (backend_id) WHERE bay_uuid IS NOT NULL DO UPDATE SET
                   bay_uuid = EXCLUDED.bay_uuid, project_id = EXCLUDED.project_id,
                   name = EXCLUDED.name, status = EXCLUDED.status, addresses = EXCLUDED.addresses,
                   backend_info = EXCLUDED.backend_info, nodegroup = EXCLUDED.nodegroup,
                   updated_at = CASE WHEN node.status IS DISTINCT FROM EXCLUDED.status
                                       OR node.addresses IS DISTINCT FROM EXCLUDED.addresses
                                     THEN now() ELSE node.updated_at END"#,
            Uuid::new_v4(),
            project_id,
            user_id,
            node.name,
            node_type,
            bay_uuid,
            node.status,
            Json(&node.addresses) as _,
            node.backend_id,
            node.info,
            node.nodegroup,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What to look a node up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Database id.
    Id(i64),
    /// Public uuid.
    Uuid(Uuid),
}

/// The node in scope with this key.
pub async fn find(
    conn: &mut PgConnection,
    scope: &Scope,
    key: &Key,
) -> Result<Option<Node>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM node t WHERE true"));
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    match key {
        Key::Id(id) => qb.push(" AND t.id = ").push_bind(*id),
        Key::Uuid(uuid) => qb.push(" AND t.uuid = ").push_bind(*uuid),
    };
    let row: Option<NodeRow> = qb.build_query_as().fetch_optional(conn).await?;
    Ok(row.map(Into::into))
}

/// A page of nodes in scope, optionally of one bay.
pub async fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    bay_uuid: Option<Uuid>,
    page: &Page,
) -> Result<Vec<Node>, Error> {
    let mut qb = QueryBuilder::new(format!("SELECT {COLUMNS} FROM node t WHERE true"));
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    if let Some(bay) = bay_uuid {
        qb.push(" AND t.bay_uuid = ").push_bind(bay);
    }
    let page = Page {
        sort_key: if page.sort_key == "type" {
            "type"
        } else {
            page.sort_key
        },
        ..page.clone()
    };
    push_page(&mut qb, "node", &page);
    let rows: Vec<NodeRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The database id of a node in scope, for a list marker.
pub async fn marker_id(
    conn: &mut PgConnection,
    scope: &Scope,
    uuid: Uuid,
) -> Result<Option<i64>, Error> {
    Ok(find(conn, scope, &Key::Uuid(uuid)).await?.map(|n| n.id))
}

/// The backend id of a node of `bay` named by uuid, name or backend id.
pub async fn backend_id_of(
    conn: &mut PgConnection,
    bay: Uuid,
    ident: &str,
) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT backend_id AS "backend_id!" FROM node
           WHERE bay_uuid = $1 AND backend_id IS NOT NULL
             AND (uuid::text = $2 OR name = $2 OR backend_id = $2)"#,
        bay,
        ident
    )
    .fetch_optional(conn)
    .await?)
}

/// Marks every node of a bay `Unknown` (its backend stopped answering).
pub async fn mark_unknown(conn: &mut PgConnection, bay: Uuid) -> Result<(), Error> {
    sqlx::query!(
        "UPDATE node SET status = 'Unknown', updated_at = now() WHERE bay_uuid = $1 AND status IS DISTINCT FROM 'Unknown'",
        bay
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The nodegroup a bay's node with this backend id was mirrored with.
pub async fn group_of(conn: &mut PgConnection, backend_id: &str) -> Result<Option<String>, Error> {
    let group: Option<Option<String>> = sqlx::query_scalar(
        "SELECT nodegroup FROM node WHERE backend_id = $1 AND bay_uuid IS NOT NULL",
    )
    .bind(backend_id)
    .fetch_optional(conn)
    .await?;
    Ok(group.flatten())
}
