//! Nodes: machines where work runs. The conductor mirrors a bay's Kubernetes Nodes or Docker
//! hosts; records made through the API have no backend (spec/rest-api.md §3.3).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A stored node (RPC object Node 1.0 plus extensions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Database id; internal.
    pub id: i64,
    /// Public identifier.
    pub uuid: Uuid,
    /// Owning project (the bay's).
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Display name (the backend's name for a mirrored node).
    pub name: Option<String>,
    /// `kubernetes` or `docker` for mirrored nodes, `virt` by default for API-made ones.
    #[serde(rename = "type")]
    pub node_type: Option<String>,
    /// Image, for API-made nodes.
    pub image_id: Option<String>,
    /// Ironic node, for API-made nodes.
    pub ironic_node_id: Option<String>,
    /// The bay holding it.
    pub bay_uuid: Option<Uuid>,
    /// `master` or `worker`.
    pub role: Option<String>,
    /// `Ready`, `NotReady` or `Unknown`, as the backend reports.
    pub status: Option<String>,
    /// Addresses.
    pub addresses: Vec<String>,
    /// Backend handle (Kubernetes Node name, Docker endpoint); admins only.
    pub backend_id: Option<String>,
    /// When it was stored.
    #[serde(with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Fields a node list may sort by.
pub const SORT_KEYS: &[&str] = &[
    "id",
    "uuid",
    "name",
    "type",
    "image_id",
    "ironic_node_id",
    "bay_uuid",
    "role",
    "status",
    "project_id",
    "created_at",
    "updated_at",
];
