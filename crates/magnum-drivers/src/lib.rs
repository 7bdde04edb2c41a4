//! Bay drivers: how a bay becomes real on a backend. The conductor alone uses this crate; it picks
//! a driver by the baymodel's `coe` (`kubernetes` → [`kubernetes`], `swarm` → [`docker`]).
//!
//! Every driver call is idempotent against backend state: the conductor may repeat any call after
//! a crash, a redelivered message or a lost lease, and the backend converges to the same result.
//! Nodes are claimed in the backend itself (a label and taint on a Kubernetes Node, a labelled
//! claim volume on a Docker Engine), so two conductors can never hand one machine to two bays.

pub mod credentials;
pub mod docker;
pub mod kubernetes;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use uuid::Uuid;

/// Label naming the bay on every backend object a driver creates or claims.
pub const BAY_LABEL: &str = "magnum.openstack.org/bay";
/// Label naming the project on every backend object a driver creates.
pub const PROJECT_LABEL: &str = "magnum.openstack.org/project";
/// Label naming the nodegroup a node was claimed for, next to [`BAY_LABEL`]; a claim without it
/// (made before nodegroups existed) belongs to [`DEFAULT_WORKER`].
pub const NODEGROUP_LABEL: &str = "magnum.openstack.org/nodegroup";

pub use magnum_core::nodegroup::DEFAULT_WORKER;

/// What a driver is asked to make real for one bay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BayTarget {
    /// The bay's uuid; names and labels every backend object.
    pub uuid: Uuid,
    /// The owning project.
    pub project_id: String,
    /// The bay's name (informational).
    pub name: String,
    /// Worker nodes the bay must hold after the call.
    pub node_count: u32,
    /// The bay's labels (the baymodel's, merged with the bay's own): drivers read known keys.
    pub labels: BTreeMap<String, String>,
    /// Backend ids of nodes to release first when scaling down (resize `nodes_to_remove`).
    pub nodes_to_remove: Vec<String>,
    /// The bay's stored worker nodegroups besides [`DEFAULT_WORKER`] (which holds
    /// `node_count`). Nodes claimed for a group not listed here are released.
    #[serde(default)]
    pub groups: Vec<GroupTarget>,
}

/// One stored worker nodegroup of a bay: the nodes claimed for it carry its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupTarget {
    /// The group's name, unique in the bay; a valid label value.
    pub name: String,
    /// Nodes the group must hold after the call.
    pub node_count: u32,
    /// The group's labels: drivers read known keys, as with [`BayTarget::labels`].
    pub labels: BTreeMap<String, String>,
}

impl BayTarget {
    /// Every worker group the bay must hold, [`DEFAULT_WORKER`] (with `node_count`) first.
    pub fn all_groups(&self) -> Vec<GroupTarget> {
        let mut all = vec![GroupTarget {
            name: DEFAULT_WORKER.to_owned(),
            node_count: self.node_count,
            labels: self.labels.clone(),
        }];
        all.extend(self.groups.iter().cloned());
        all
    }

    /// Why too few free nodes were found for `group` (the default group keeps the wording of
    /// bays without groups).
    pub fn insufficient(
        &self,
        what: &str,
        group: &str,
        wanted: usize,
        available: usize,
    ) -> DriverError {
        let whose = if group == DEFAULT_WORKER {
            String::new()
        } else {
            format!(" for nodegroup {group}")
        };
        DriverError::Insufficient(format!(
            "Not enough free {what}{whose}: {wanted} requested, {available} available."
        ))
    }
}

/// Health of one node as its backend reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    /// Working.
    Ready,
    /// Known but not working (a NotReady Kubernetes node).
    NotReady,
    /// Not answering, or gone.
    Unknown,
}

impl NodeStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Ready => "Ready",
            NodeStatus::NotReady => "NotReady",
            NodeStatus::Unknown => "Unknown",
        }
    }
}

/// One machine of a bay as its backend reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedNode {
    /// The backend's handle: a Kubernetes Node name, a Docker Engine endpoint.
    pub backend_id: String,
    /// Display name (node name, engine host name).
    pub name: String,
    /// Addresses of the machine.
    pub addresses: Vec<String>,
    /// Health.
    pub status: NodeStatus,
    /// What else the backend says (engine version, capacity, …), shown to admins.
    pub info: serde_json::Value,
    /// The nodegroup the node was claimed for.
    pub nodegroup: String,
}

/// A bay as its backend sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Whether the backend objects of the bay exist at all.
    pub exists: bool,
    /// Where the bay's COE API answers (`https://…:6443`, `unix:///…`, `tcp://…:2376`).
    pub api_address: Option<String>,
    /// Kubernetes or Docker Engine version.
    pub coe_version: Option<String>,
    /// Container runtime version, where known.
    pub container_version: Option<String>,
    /// The nodes the bay holds.
    pub nodes: Vec<ObservedNode>,
}

/// Why a driver call failed. The conductor turns each into a `*_FAILED` status reason, or (for
/// [`DriverError::Unreachable`]) retries until the operation's timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The backend did not answer (connection refused, timeout): worth retrying.
    #[error("{0}")]
    Unreachable(String),
    /// The backend refused (quota, RBAC, invalid object); holds its reason.
    #[error("{0}")]
    Refused(String),
    /// Too few free nodes to claim `node_count`.
    #[error("{0}")]
    Insufficient(String),
    /// The driver is not configured on this conductor.
    #[error("{0}")]
    NotConfigured(String),
    /// A tenant object of that name already exists in the bay and is not the record's (a
    /// Kubernetes `AlreadyExists`, or a name held by another record): the API answers 409.
    #[error("{0}")]
    AlreadyExists(String),
    /// The backend refused a tenant's object with a client-error status (Kubernetes 400, 403 on
    /// quota, 404, 422 `Invalid`, …): the API answers `code` with `message`, the backend's own
    /// words (RPC `KubernetesAPIFailed`).
    #[error("{message}")]
    Rejected {
        /// The backend's HTTP status, 400–499.
        code: u16,
        /// The backend's message, verbatim.
        message: String,
    },
}

/// A bay backend. Implementations are plain clients of their backend's API.
pub trait BayDriver: Send + Sync {
    /// Makes the bay's backend objects exist and claims or releases nodes until each worker
    /// group holds exactly its count (`bay.node_count` for [`DEFAULT_WORKER`], each of
    /// `bay.groups`, none for any other group); returns what the backend then shows. Only a
    /// group's own nodes are released when it shrinks. On [`DriverError::Insufficient`] the
    /// nodes claimed by this call are released again.
    fn ensure(&self, bay: &BayTarget)
    -> impl Future<Output = Result<Observed, DriverError>> + Send;

    /// Reads the bay's state from the backend without changing anything.
    fn observe(
        &self,
        bay: &BayTarget,
    ) -> impl Future<Output = Result<Observed, DriverError>> + Send;

    /// Removes everything the driver made for the bay and releases its nodes. Succeeds when
    /// nothing is left, including when nothing was there.
    fn delete(&self, bay: &BayTarget) -> impl Future<Output = Result<(), DriverError>> + Send;
}
