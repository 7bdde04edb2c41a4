//! Bays (Clusters): one container orchestration environment made from a baymodel
//! (spec/rest-api.md §2.7, §3.2, §4.2), its status life cycle, and input validation.

use crate::error::ValidationError;
use crate::fields::{self, FieldKind, FieldSpec, Flags, Mode};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// Where a bay is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BayStatus {
    /// Accepted; the backend work runs.
    CreateInProgress,
    /// The create failed or timed out; `status_reason` says why.
    CreateFailed,
    /// Ready.
    CreateComplete,
    /// A scale or upgrade runs.
    UpdateInProgress,
    /// The update failed; `status_reason` says why.
    UpdateFailed,
    /// Updated.
    UpdateComplete,
    /// Being removed.
    DeleteInProgress,
    /// The removal failed; `status_reason` says why.
    DeleteFailed,
    /// Removed (transient: the row goes right after).
    DeleteComplete,
}

impl BayStatus {
    /// Every status.
    pub const ALL: [BayStatus; 9] = [
        BayStatus::CreateInProgress,
        BayStatus::CreateFailed,
        BayStatus::CreateComplete,
        BayStatus::UpdateInProgress,
        BayStatus::UpdateFailed,
        BayStatus::UpdateComplete,
        BayStatus::DeleteInProgress,
        BayStatus::DeleteFailed,
        BayStatus::DeleteComplete,
    ];

    /// Statuses from which an update (PATCH, resize, upgrade) is accepted.
    pub const UPDATABLE: [BayStatus; 3] = [
        BayStatus::CreateComplete,
        BayStatus::UpdateComplete,
        BayStatus::UpdateFailed,
    ];

    /// Statuses in which workloads may be created in the bay.
    pub const READY: [BayStatus; 2] = [BayStatus::CreateComplete, BayStatus::UpdateComplete];

    /// The API and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BayStatus::CreateInProgress => "CREATE_IN_PROGRESS",
            BayStatus::CreateFailed => "CREATE_FAILED",
            BayStatus::CreateComplete => "CREATE_COMPLETE",
            BayStatus::UpdateInProgress => "UPDATE_IN_PROGRESS",
            BayStatus::UpdateFailed => "UPDATE_FAILED",
            BayStatus::UpdateComplete => "UPDATE_COMPLETE",
            BayStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
            BayStatus::DeleteFailed => "DELETE_FAILED",
            BayStatus::DeleteComplete => "DELETE_COMPLETE",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        BayStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether work on the backend is running.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            BayStatus::CreateInProgress | BayStatus::UpdateInProgress | BayStatus::DeleteInProgress
        )
    }

    /// Whether the bay's client credentials may be used or rotated: it was created and is not
    /// being (or has not been) deleted.
    pub fn has_usable_credentials(self) -> bool {
        !matches!(
            self,
            BayStatus::CreateInProgress
                | BayStatus::CreateFailed
                | BayStatus::DeleteInProgress
                | BayStatus::DeleteFailed
                | BayStatus::DeleteComplete
        )
    }

    /// Whether workloads may be created in a bay of this status.
    pub fn is_ready(self) -> bool {
        BayStatus::READY.contains(&self)
    }
}

impl fmt::Display for BayStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The backend operation a bay's row asks conductors to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BayOp {
    /// Make the backend objects and claim nodes.
    Create,
    /// Scale to `node_count`.
    Update,
    /// Remove everything.
    Delete,
    /// Scale, releasing named nodes first.
    Resize,
    /// Move to another baymodel of the same COE.
    Upgrade,
    /// Claim the nodes of a new worker nodegroup (`op_args.nodegroup` = its uuid).
    #[serde(rename = "nodegroup_create")]
    NodegroupCreate,
    /// Scale one worker nodegroup (`op_args.nodegroup` = its uuid).
    #[serde(rename = "nodegroup_update")]
    NodegroupUpdate,
    /// Release one worker nodegroup's nodes and remove it (`op_args.nodegroup` = its uuid).
    #[serde(rename = "nodegroup_delete")]
    NodegroupDelete,
}

impl BayOp {
    /// The database and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BayOp::Create => "create",
            BayOp::Update => "update",
            BayOp::Delete => "delete",
            BayOp::Resize => "resize",
            BayOp::Upgrade => "upgrade",
            BayOp::NodegroupCreate => "nodegroup_create",
            BayOp::NodegroupUpdate => "nodegroup_update",
            BayOp::NodegroupDelete => "nodegroup_delete",
        }
    }

    /// Parses the database spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            BayOp::Create,
            BayOp::Update,
            BayOp::Delete,
            BayOp::Resize,
            BayOp::Upgrade,
            BayOp::NodegroupCreate,
            BayOp::NodegroupUpdate,
            BayOp::NodegroupDelete,
        ]
        .into_iter()
        .find(|op| op.as_str() == text)
    }

    /// The status the bay shows while the operation runs.
    pub fn in_progress(self) -> BayStatus {
        match self {
            BayOp::Create => BayStatus::CreateInProgress,
            BayOp::Update | BayOp::Resize | BayOp::Upgrade => BayStatus::UpdateInProgress,
            BayOp::NodegroupCreate | BayOp::NodegroupUpdate | BayOp::NodegroupDelete => {
                BayStatus::UpdateInProgress
            }
            BayOp::Delete => BayStatus::DeleteInProgress,
        }
    }

    /// The status after success.
    pub fn complete(self) -> BayStatus {
        match self {
            BayOp::Create => BayStatus::CreateComplete,
            BayOp::Update | BayOp::Resize | BayOp::Upgrade => BayStatus::UpdateComplete,
            BayOp::NodegroupCreate | BayOp::NodegroupUpdate | BayOp::NodegroupDelete => {
                BayStatus::UpdateComplete
            }
            BayOp::Delete => BayStatus::DeleteComplete,
        }
    }

    /// The status after failure.
    pub fn failed(self) -> BayStatus {
        match self {
            BayOp::Create => BayStatus::CreateFailed,
            BayOp::Update | BayOp::Resize | BayOp::Upgrade => BayStatus::UpdateFailed,
            BayOp::NodegroupCreate | BayOp::NodegroupUpdate | BayOp::NodegroupDelete => {
                BayStatus::UpdateFailed
            }
            BayOp::Delete => BayStatus::DeleteFailed,
        }
    }
}

/// Health as the reconciler last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// Every node ready.
    Healthy,
    /// Some node not ready or gone.
    Unhealthy,
    /// The backend did not answer.
    Unknown,
}

impl HealthStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "HEALTHY",
            HealthStatus::Unhealthy => "UNHEALTHY",
            HealthStatus::Unknown => "UNKNOWN",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            HealthStatus::Healthy,
            HealthStatus::Unhealthy,
            HealthStatus::Unknown,
        ]
        .into_iter()
        .find(|h| h.as_str() == text)
    }
}

/// A stored bay. Field names are the RPC object's (Bay 1.0 plus extensions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bay {
    /// Database id; internal.
    pub id: i64,
    /// Public identifier.
    pub uuid: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Display name, unique in its project.
    pub name: String,
    /// The baymodel's uuid.
    pub baymodel_id: Uuid,
    /// Backend handle (the namespace, the first Docker host).
    pub stack_id: Option<String>,
    /// Life-cycle status.
    pub status: BayStatus,
    /// Why the status is what it is (failures, timeouts).
    pub status_reason: Option<String>,
    /// Where the bay's COE API answers.
    pub api_address: Option<String>,
    /// Addresses of the worker nodes.
    pub node_addresses: Vec<String>,
    /// Addresses of the masters.
    pub master_addresses: Vec<String>,
    /// Worker nodes.
    pub node_count: i32,
    /// Masters.
    pub master_count: i32,
    /// Discovery URL, stored only.
    pub discovery_url: Option<String>,
    /// Minutes a create may take (0: no limit).
    pub create_timeout: Option<i32>,
    /// Labels drivers read (the baymodel's, possibly merged with the bay's).
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
    /// Health as last seen.
    pub health_status: Option<HealthStatus>,
    /// Health details per node.
    pub health_status_reason: Option<BTreeMap<String, String>>,
    /// Kubernetes or Docker Engine version.
    pub coe_version: Option<String>,
    /// Container runtime version.
    pub container_version: Option<String>,
    /// When it was stored.
    #[serde(with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Bay {
    /// When a running create gives up (`None`: never).
    pub fn create_deadline(&self, default_minutes: i64) -> Option<DateTime<Utc>> {
        let minutes = self.create_timeout.map_or(default_minutes, i64::from);
        match (minutes, self.created_at) {
            (0, _) | (_, None) => None,
            (m, Some(created)) => Some(created + Duration::minutes(m)),
        }
    }
}

/// A validated create request (bays and clusters alike), before the conductor fills in the
/// baymodel's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaySpec {
    /// Requested uuid; `None`: generate.
    pub uuid: Option<Uuid>,
    /// Name; `None`: generate `bay-<8 hex>` / `cluster-<8 hex>`.
    pub name: Option<String>,
    /// The baymodel as sent (uuid or name); the API resolves it.
    pub baymodel_id: String,
    /// Worker nodes.
    pub node_count: i32,
    /// Masters.
    pub master_count: i32,
    /// Minutes a create may take; `None`: `[bay] create_timeout`.
    pub create_timeout: Option<i32>,
    /// Stored only.
    pub discovery_url: Option<String>,
    /// Labels; `None`: the baymodel's.
    pub labels: Option<BTreeMap<String, String>>,
    /// Merge `labels` over the baymodel's instead of replacing them.
    pub merge_labels: bool,
    /// Key pair; `None`: the baymodel's.
    pub keypair: Option<String>,
    /// Worker flavor; `None`: the baymodel's.
    pub flavor_id: Option<String>,
    /// Master flavor; `None`: the baymodel's.
    pub master_flavor_id: Option<String>,
    /// Docker volume size; `None`: the baymodel's.
    pub docker_volume_size: Option<i32>,
    /// Fixed network; `None`: the baymodel's.
    pub fixed_network: Option<String>,
    /// Fixed subnet; `None`: the baymodel's.
    pub fixed_subnet: Option<String>,
    /// Floating IPs; `None`: the baymodel's.
    pub floating_ip_enabled: Option<bool>,
    /// Master load balancer; `None`: the baymodel's.
    pub master_lb_enabled: Option<bool>,
}

const W: Flags = Flags::WRITABLE;
const WP: Flags = Flags::WRITABLE.with(Flags::PATCHABLE);
const M: Flags = Flags::MANDATORY;
const RO: Flags = Flags::READ_ONLY;
const TEXT: FieldKind = FieldKind::String { min: 0, max: 255 };
const COUNT: FieldKind = FieldKind::Int {
    min: 0,
    max: 1_000_000,
};
const MINUTES: FieldKind = FieldKind::Int {
    min: 0,
    max: 10_000_000,
};
const BAY_NAME: FieldKind = FieldKind::String { min: 1, max: 242 };

/// Read-only fields both families show.
const SHOWN: [FieldSpec; 14] = [
    FieldSpec::new("status", FieldKind::Opaque, RO),
    FieldSpec::new("status_reason", FieldKind::Opaque, RO),
    FieldSpec::new("api_address", FieldKind::Opaque, RO),
    FieldSpec::new("node_addresses", FieldKind::Opaque, RO),
    FieldSpec::new("master_addresses", FieldKind::Opaque, RO),
    FieldSpec::new("stack_id", FieldKind::Opaque, RO),
    FieldSpec::new("coe_version", FieldKind::Opaque, RO),
    FieldSpec::new("container_version", FieldKind::Opaque, RO),
    FieldSpec::new("project_id", FieldKind::Opaque, RO),
    FieldSpec::new("user_id", FieldKind::Opaque, RO),
    FieldSpec::new("links", FieldKind::Opaque, RO),
    FieldSpec::new("created_at", FieldKind::Opaque, RO),
    FieldSpec::new("updated_at", FieldKind::Opaque, RO),
    FieldSpec::new("id", FieldKind::Opaque, RO),
];

/// `/v1/bays` fields (§3.2).
pub static BAY_FIELDS: &[FieldSpec] = &[
    FieldSpec::new("uuid", FieldKind::Uuid, W),
    FieldSpec::new("name", BAY_NAME, W),
    FieldSpec::new("baymodel_id", FieldKind::String { min: 1, max: 255 }, M),
    FieldSpec::new("node_count", COUNT, WP),
    FieldSpec::new("master_count", COUNT, W),
    FieldSpec::new("bay_create_timeout", MINUTES, W),
    FieldSpec::new("discovery_url", TEXT, W),
    SHOWN[0],
    SHOWN[1],
    SHOWN[2],
    SHOWN[3],
    SHOWN[4],
    SHOWN[5],
    SHOWN[6],
    SHOWN[7],
    SHOWN[8],
    SHOWN[9],
    SHOWN[10],
    SHOWN[11],
    SHOWN[12],
    SHOWN[13],
    FieldSpec::new("baymodel", FieldKind::Opaque, RO),
    FieldSpec::new("health_status", FieldKind::Opaque, RO),
];

/// `/v1/clusters` fields (§4.2).
pub static CLUSTER_FIELDS: &[FieldSpec] = &[
    FieldSpec::new("uuid", FieldKind::Uuid, W),
    FieldSpec::new("name", BAY_NAME, W),
    FieldSpec::new(
        "cluster_template_id",
        FieldKind::String { min: 1, max: 255 },
        M,
    ),
    FieldSpec::new("node_count", COUNT, WP),
    FieldSpec::new("master_count", COUNT, W),
    FieldSpec::new("create_timeout", MINUTES, W),
    FieldSpec::new("discovery_url", TEXT, W),
    FieldSpec::new("keypair", TEXT, W),
    FieldSpec::new("flavor_id", TEXT, W),
    FieldSpec::new("master_flavor_id", TEXT, W),
    FieldSpec::new(
        "docker_volume_size",
        FieldKind::Int {
            min: 1,
            max: 100_000,
        },
        W,
    ),
    FieldSpec::new("labels", FieldKind::Dict, W),
    FieldSpec::new("merge_labels", FieldKind::Bool, W),
    FieldSpec::new("fixed_network", TEXT, W),
    FieldSpec::new("fixed_subnet", TEXT, W),
    FieldSpec::new("floating_ip_enabled", FieldKind::Bool, W),
    FieldSpec::new("master_lb_enabled", FieldKind::Bool, W),
    SHOWN[0],
    SHOWN[1],
    SHOWN[2],
    SHOWN[3],
    SHOWN[4],
    SHOWN[5],
    SHOWN[6],
    SHOWN[7],
    SHOWN[8],
    SHOWN[9],
    SHOWN[10],
    SHOWN[11],
    SHOWN[12],
    SHOWN[13],
    FieldSpec::new("health_status", FieldKind::Opaque, RO),
    FieldSpec::new("health_status_reason", FieldKind::Opaque, RO),
    FieldSpec::new("faults", FieldKind::Opaque, RO),
];

/// Fields a bay list may sort by.
pub const SORT_KEYS: &[&str] = &[
    "id",
    "uuid",
    "name",
    "baymodel_id",
    "cluster_template_id",
    "status",
    "node_count",
    "master_count",
    "create_timeout",
    "bay_create_timeout",
    "stack_id",
    "api_address",
    "health_status",
    "coe_version",
    "keypair",
    "flavor_id",
    "master_flavor_id",
    "docker_volume_size",
    "project_id",
    "user_id",
    "created_at",
    "updated_at",
];

/// Checks a bay name: `^[a-zA-Z][a-zA-Z0-9_.-]*$`, 1..242 characters (§2.1).
fn check_name(name: &str) -> Result<(), ValidationError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(ValidationError::Invalid {
            field: "name".into(),
            value: name.to_owned(),
            reason: "Names must start with a letter and contain only letters, digits, '_', '.' \
                     and '-'."
                .into(),
        })
    }
}

/// Checks a node count: at least 1, or 0 from microversion 1.10.
pub fn check_node_count(count: i64, allow_zero: bool) -> Result<(), ValidationError> {
    let least = i64::from(!allow_zero);
    if count < least {
        return Err(ValidationError::Invalid {
            field: "node_count".into(),
            value: count.to_string(),
            reason: format!("Value should be greater or equal to {least}."),
        });
    }
    Ok(())
}

fn get<T: serde::de::DeserializeOwned>(
    fields: &serde_json::Map<String, Value>,
    key: &str,
) -> Option<T> {
    fields
        .get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

impl BaySpec {
    /// Validates a `POST /v1/bays` body; `allow_zero_nodes` from microversion 1.10.
    pub fn from_bay_body(body: &Value, allow_zero_nodes: bool) -> Result<Self, ValidationError> {
        let f = fields::validate_body("bay", BAY_FIELDS, body, Mode::Create)?;
        Self::build(&f, "baymodel_id", "bay_create_timeout", allow_zero_nodes)
    }

    /// Validates a `POST /v1/clusters` body; `allow_zero_nodes` from microversion 1.10.
    pub fn from_cluster_body(
        body: &Value,
        allow_zero_nodes: bool,
    ) -> Result<Self, ValidationError> {
        let f = fields::validate_body("cluster", CLUSTER_FIELDS, body, Mode::Create)?;
        Self::build(
            &f,
            "cluster_template_id",
            "create_timeout",
            allow_zero_nodes,
        )
    }

    fn build(
        f: &serde_json::Map<String, Value>,
        template_key: &str,
        timeout_key: &str,
        allow_zero_nodes: bool,
    ) -> Result<Self, ValidationError> {
        let node_count: i64 = get(f, "node_count").unwrap_or(1);
        check_node_count(node_count, allow_zero_nodes)?;
        let master_count: i64 = get(f, "master_count").unwrap_or(1);
        if master_count < 1 {
            return Err(ValidationError::Invalid {
                field: "master_count".into(),
                value: master_count.to_string(),
                reason: "Value should be greater or equal to 1.".into(),
            });
        }
        let name: Option<String> = get(f, "name");
        if let Some(name) = &name {
            check_name(name)?;
        }
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(BaySpec {
            uuid: get(f, "uuid"),
            name,
            baymodel_id: get(f, template_key).unwrap_or_default(),
            node_count: int(node_count),
            master_count: int(master_count),
            create_timeout: get::<i64>(f, timeout_key).map(int),
            discovery_url: get(f, "discovery_url"),
            labels: get(f, "labels"),
            merge_labels: get(f, "merge_labels").unwrap_or(false),
            keypair: get(f, "keypair"),
            flavor_id: get(f, "flavor_id"),
            master_flavor_id: get(f, "master_flavor_id"),
            docker_volume_size: get::<i64>(f, "docker_volume_size").map(int),
            fixed_network: get(f, "fixed_network"),
            fixed_subnet: get(f, "fixed_subnet"),
            floating_ip_enabled: get(f, "floating_ip_enabled"),
            master_lb_enabled: get(f, "master_lb_enabled"),
        })
    }
}

/// The only field a bay PATCH may change (§3.2, §4.2).
const PATCHABLE: &[&str] = &["node_count"];

/// Reads a bay or cluster PATCH: only `/node_count` may change (the new count is returned);
/// other writable fields are refused as "cannot change", read-only ones as internal.
pub fn patched_node_count(
    current: &Bay,
    patch: &Value,
    kind: &str,
    allow_zero_nodes: bool,
) -> Result<i32, ValidationError> {
    let specs = if kind == "cluster" {
        CLUSTER_FIELDS
    } else {
        BAY_FIELDS
    };
    let ops = crate::patch::parse(patch)?;
    let mut count = i64::from(current.node_count);
    let mut refused = Vec::new();
    for op in &ops {
        let field = op.field();
        if crate::patch::INTERNAL_PATHS.contains(&format!("/{field}").as_str())
            || fields::find(specs, field).is_some_and(FieldSpec::is_read_only)
        {
            return Err(ValidationError::Internal {
                path: op.path.clone(),
            });
        }
        if fields::find(specs, field).is_none() {
            return Err(ValidationError::Invalid {
                field: "path".into(),
                value: op.path.clone(),
                reason: "No such attribute.".into(),
            });
        }
        if !PATCHABLE.contains(&field) {
            refused.push(field.to_owned());
            continue;
        }
        match (&op.op, &op.value) {
            (crate::patch::Op::Remove, _) => count = 1,
            (_, Some(value)) => {
                let spec = fields::find(specs, "node_count")
                    .copied()
                    .unwrap_or(FieldSpec::new("node_count", COUNT, WP));
                let coerced = fields::coerce(&spec, value, Mode::Patch)?;
                count = coerced.as_i64().unwrap_or(count);
            }
            (_, None) => {
                return Err(ValidationError::Invalid {
                    field: "node_count".into(),
                    value: "None".into(),
                    reason: "A value is required.".into(),
                });
            }
        }
    }
    if !refused.is_empty() {
        refused.sort();
        refused.dedup();
        return Err(ValidationError::Other(format!(
            "cannot change {kind} property(ies) {}.",
            refused.join(", ")
        )));
    }
    check_node_count(count, allow_zero_nodes)?;
    Ok(i32::try_from(count).unwrap_or(i32::MAX))
}

/// What the reconciler should do with a bay, given the time (pure, so it is unit-tested).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deadline {
    /// Keep working or waiting.
    Running,
    /// The operation ran past its timeout: fail it with this reason.
    Expired(String),
}

/// Whether an in-progress create has run past its timeout.
pub fn create_deadline(bay: &Bay, default_minutes: i64, now: DateTime<Utc>) -> Deadline {
    match (bay.status, bay.create_deadline(default_minutes)) {
        (BayStatus::CreateInProgress, Some(deadline)) if now >= deadline => {
            let minutes = bay.create_timeout.map_or(default_minutes, i64::from);
            Deadline::Expired(format!(
                "Bay creation did not finish within its timeout of {minutes} minute(s)."
            ))
        }
        _ => Deadline::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bay(status: BayStatus) -> Bay {
        serde_json::from_value(json!({
            "id": 1, "uuid": Uuid::nil(), "project_id": "p", "user_id": "u", "name": "b",
            "baymodel_id": Uuid::nil(), "stack_id": null, "status": status, "status_reason": null,
            "api_address": null, "node_addresses": [], "master_addresses": [], "node_count": 2,
            "master_count": 1, "discovery_url": null, "create_timeout": 10, "labels": {},
            "keypair": null, "flavor_id": null, "master_flavor_id": null,
            "docker_volume_size": null, "fixed_network": null, "fixed_subnet": null,
            "floating_ip_enabled": null, "master_lb_enabled": null, "health_status": null,
            "health_status_reason": null, "coe_version": null, "container_version": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": null
        }))
        .unwrap()
    }

    #[test]
    fn bay_bodies_take_numbers_as_strings_and_refuse_bad_counts_and_names() {
        let spec = BaySpec::from_bay_body(
            &json!({"baymodel_id": "k8s", "node_count": "2", "bay_create_timeout": "30",
                    "discovery_url": null, "master_count": null}),
            false,
        )
        .unwrap();
        assert_eq!(
            (spec.node_count, spec.master_count, spec.create_timeout),
            (2, 1, Some(30))
        );
        assert!(
            BaySpec::from_bay_body(&json!({"baymodel_id": "k", "node_count": 0}), false).is_err()
        );
        assert!(
            BaySpec::from_bay_body(&json!({"baymodel_id": "k", "node_count": 0}), true).is_ok()
        );
        assert!(
            BaySpec::from_bay_body(&json!({"baymodel_id": "k", "name": "1bad"}), false).is_err()
        );
        assert!(
            BaySpec::from_bay_body(&json!({"baymodel_id": "k", "status": "X"}), false).is_err()
        );
        assert!(BaySpec::from_bay_body(&json!({"node_count": 1}), false).is_err());
        let cluster = BaySpec::from_cluster_body(
            &json!({"cluster_template_id": "t", "labels": {"a": 1}, "merge_labels": "true"}),
            false,
        )
        .unwrap();
        assert_eq!(cluster.labels.unwrap()["a"], "1");
        assert!(cluster.merge_labels);
    }

    #[test]
    fn a_bay_patch_changes_only_node_count() {
        let b = bay(BayStatus::CreateComplete);
        let n = patched_node_count(
            &b,
            &json!([{"op": "replace", "path": "/node_count", "value": "3"}]),
            "bay",
            false,
        );
        assert_eq!(n.unwrap(), 3);
        let name = patched_node_count(
            &b,
            &json!([{"op": "replace", "path": "/name", "value": "x"}]),
            "bay",
            false,
        );
        assert_eq!(
            name.unwrap_err().to_string(),
            "cannot change bay property(ies) name."
        );
        let internal = patched_node_count(
            &b,
            &json!([{"op": "replace", "path": "/api_address", "value": "x"}]),
            "bay",
            false,
        );
        assert!(matches!(internal, Err(ValidationError::Internal { .. })));
        let zero = patched_node_count(
            &b,
            &json!([{"op": "replace", "path": "/node_count", "value": 0}]),
            "cluster",
            false,
        );
        assert!(zero.is_err());
    }

    #[test]
    fn a_create_past_its_timeout_expires_and_zero_means_never() {
        let mut b = bay(BayStatus::CreateInProgress);
        let created = b.created_at.unwrap();
        assert_eq!(
            create_deadline(&b, 60, created + Duration::minutes(9)),
            Deadline::Running
        );
        assert!(matches!(
            create_deadline(&b, 60, created + Duration::minutes(10)),
            Deadline::Expired(_)
        ));
        b.create_timeout = Some(0);
        assert_eq!(
            create_deadline(&b, 60, created + Duration::days(9)),
            Deadline::Running
        );
        b.create_timeout = None;
        assert!(matches!(
            create_deadline(&b, 60, created + Duration::minutes(61)),
            Deadline::Expired(_)
        ));
        assert_eq!(
            create_deadline(
                &bay(BayStatus::CreateComplete),
                1,
                created + Duration::days(1)
            ),
            Deadline::Running
        );
    }

    #[test]
    fn operations_know_their_statuses() {
        assert_eq!(BayOp::Resize.in_progress(), BayStatus::UpdateInProgress);
        assert_eq!(BayOp::Create.failed(), BayStatus::CreateFailed);
        assert_eq!(
            BayStatus::parse("UPDATE_FAILED"),
            Some(BayStatus::UpdateFailed)
        );
        assert!(BayStatus::UPDATABLE.contains(&BayStatus::UpdateFailed));
        assert!(!BayStatus::CreateInProgress.is_ready());
    }
}
