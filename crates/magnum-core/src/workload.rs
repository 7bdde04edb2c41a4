//! Pods, services and replication controllers as Magnum records (spec/rest-api.md §3.4): what a
//! tenant sends to create or patch one, and the record the conductor keeps of the object it made
//! in the bay's namespace from the tenant's [`Manifest`](crate::manifest::Manifest).
//!
//! The three kinds share one record type, [`Workload`]; the fields a kind does not have stay
//! `None` and are left out of its views and RPC primitives.

use crate::error::ValidationError;
use crate::fields::{self, FieldKind, FieldSpec, Flags, Mode};
use crate::manifest::{self, Manifest, WorkloadKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

const W: Flags = Flags::WRITABLE;
const WP: Flags = Flags::WRITABLE.with(Flags::PATCHABLE);
const RO: Flags = Flags::READ_ONLY;

/// Fields every kind has.
const COMMON: [FieldSpec; 10] = [
    FieldSpec::new("uuid", FieldKind::Uuid, W),
    FieldSpec::new("name", FieldKind::Opaque, RO),
    FieldSpec::new("bay_uuid", FieldKind::String { min: 1, max: 255 }, W),
    FieldSpec::new("bay_ident", FieldKind::String { min: 1, max: 255 }, W),
    FieldSpec::new("labels", FieldKind::Opaque, RO),
    FieldSpec::new(
        "manifest",
        FieldKind::String {
            min: 0,
            max: usize::MAX,
        },
        WP,
    ),
    FieldSpec::new("manifest_url", FieldKind::String { min: 0, max: 2048 }, WP),
    FieldSpec::new("links", FieldKind::Opaque, RO),
    FieldSpec::new("created_at", FieldKind::Opaque, RO),
    FieldSpec::new("updated_at", FieldKind::Opaque, RO),
];

const fn with_common<const N: usize, const M: usize>(own: [FieldSpec; N]) -> [FieldSpec; M] {
    let mut all = [COMMON[0]; M];
    let mut i = 0;
    while i < COMMON.len() {
        all[i] = COMMON[i];
        i += 1;
    }
    let mut j = 0;
    while j < N {
        all[COMMON.len() + j] = own[j];
        j += 1;
    }
    all
}

/// A pod's fields.
pub static POD_FIELDS: [FieldSpec; 14] = with_common([
    FieldSpec::new("desc", FieldKind::String { min: 0, max: 255 }, WP),
    FieldSpec::new("images", FieldKind::Opaque, RO),
    FieldSpec::new("status", FieldKind::Opaque, RO),
    FieldSpec::new("host", FieldKind::Opaque, RO),
]);

/// A service's fields.
pub static SERVICE_FIELDS: [FieldSpec; 13] = with_common([
    FieldSpec::new("selector", FieldKind::Opaque, RO),
    FieldSpec::new("ports", FieldKind::Opaque, RO),
    FieldSpec::new("ip", FieldKind::Opaque, RO),
]);

/// A replication controller's fields: `replicas` may be set on create and patched (scales).
pub static RC_FIELDS: [FieldSpec; 13] = with_common([
    FieldSpec::new("images", FieldKind::Opaque, RO),
    FieldSpec::new(
        "replicas",
        FieldKind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        WP,
    ),
    FieldSpec::new("ready_replicas", FieldKind::Opaque, RO),
]);

/// The field table of `kind`.
pub fn fields_of(kind: WorkloadKind) -> &'static [FieldSpec] {
    match kind {
        WorkloadKind::Pod => &POD_FIELDS,
        WorkloadKind::Service => &SERVICE_FIELDS,
        WorkloadKind::ReplicationController => &RC_FIELDS,
    }
}

/// Columns a list may sort by.
pub const SORT_KEYS: &[&str] = &["id", "uuid", "name", "bay_uuid", "created_at", "updated_at"];

/// A pod, service or RC record; also the RPC primitive's data, where only the fields a request
/// sets are present.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Workload {
    /// Database id (absent in requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Magnum's uuid (not Kubernetes' `metadata.uid`).
    pub uuid: Uuid,
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// A pod's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Owner.
    #[serde(default)]
    pub project_id: String,
    /// Creator.
    #[serde(default)]
    pub user_id: String,
    /// The bay whose namespace holds the object.
    pub bay_uuid: Uuid,
    /// Container images (pods and RCs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// `metadata.labels` (an RC's: its template's).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A pod's phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The node a pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A service's selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    /// A service's cluster IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A service's ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Value>,
    /// An RC's desired replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// An RC's ready replicas, as Kubernetes last reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// The manifest text the object was made from (never shown by GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Where the manifest was fetched from, if a URL was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
    /// Created.
    #[serde(default, with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Workload {
    /// Copies into the record what the API shows of a manifest (name, labels, images, selector,
    /// ports, replicas), for `kind`'s fields only.
    pub fn describe(&mut self, m: &Manifest) {
        self.name = m.name.clone();
        self.labels = m.labels.clone();
        match m.kind {
            WorkloadKind::Pod => self.images = Some(manifest::images(m)),
            WorkloadKind::Service => {
                self.selector = Some(manifest::selector(m).unwrap_or_default());
                self.ports = manifest::ports(m);
            }
            WorkloadKind::ReplicationController => {
                self.images = Some(manifest::images(m));
                self.replicas = manifest::replicas(m);
            }
        }
    }
}

/// A create request, checked against the kind's field table (the manifest is parsed later,
/// once a `manifest_url` has been fetched).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadRequest {
    /// Chosen uuid, if any.
    pub uuid: Option<Uuid>,
    /// The bay as given in `bay_uuid` or `bay_ident` (uuid or name).
    pub bay: Option<String>,
    /// A pod's description.
    pub desc: Option<String>,
    /// The manifest text.
    pub manifest: Option<String>,
    /// The manifest's URL.
    pub manifest_url: Option<String>,
    /// An RC's replicas, overriding the manifest's.
    pub replicas: Option<i64>,
}

impl WorkloadRequest {
    /// Checks a create body for `kind`: unknown and read-only attributes, types, and `bay_uuid`
    /// and `bay_ident` naming different bays (400).
    pub fn from_create_body(kind: WorkloadKind, body: &Value) -> Result<Self, ValidationError> {
        let f = fields::validate_body(kind.singular(), fields_of(kind), body, Mode::Create)?;
        let text = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        let bay = match (text("bay_uuid"), text("bay_ident")) {
            (Some(a), Some(b)) if a != b => {
                return Err(ValidationError::invalid(
                    "bay_ident",
                    &Value::String(b),
                    "bay_uuid and bay_ident name different bays.",
                ));
            }
            (a, b) => a.or(b),
        };
        Ok(WorkloadRequest {
            uuid: f.get("uuid").and_then(|v| v.as_str()?.parse().ok()),
            bay,
            desc: text("desc"),
            manifest: text("manifest").filter(|m| !m.trim().is_empty()),
            manifest_url: text("manifest_url").filter(|u| !u.trim().is_empty()),
            replicas: f.get("replicas").and_then(Value::as_i64),
        })
    }
}

/// What a PATCH asks of a record: the fields it changes, checked against the kind's table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadChange {
    /// New description (`Some(None)`: removed).
    pub desc: Option<Option<String>>,
    /// New manifest text.
    pub manifest: Option<String>,
    /// New manifest URL (to fetch unless a manifest is given too).
    pub manifest_url: Option<String>,
    /// New replica count.
    pub replicas: Option<i64>,
}

impl WorkloadChange {
    /// Applies a JSON patch to the patchable fields of `current` (manifest texts are not shown,
    /// so they start empty) and returns the change. A patch that removes the manifest, or
    /// changes nothing, is refused.
    pub fn from_patch(
        kind: WorkloadKind,
        current: &Workload,
        patch: &Value,
    ) -> Result<Self, ValidationError> {
        let mut fields = Map::new();
        fields.insert("desc".into(), serde_json::json!(current.desc));
        fields.insert("replicas".into(), serde_json::json!(current.replicas));
        let (patched, changed) = crate::patch::apply(fields_of(kind), &fields, patch)?;
        let text = |k: &str| patched.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut change = WorkloadChange::default();
        for name in changed {
            match name {
                "desc" => change.desc = Some(text("desc")),
                "manifest" => {
                    change.manifest = Some(
                        text("manifest")
                            .filter(|m| !m.trim().is_empty())
                            .ok_or_else(|| {
                                ValidationError::Other(manifest::EMPTY_MESSAGE.to_owned())
                            })?,
                    );
                }
                "manifest_url" => {
                    change.manifest_url = Some(
                        text("manifest_url")
                            .filter(|u| !u.trim().is_empty())
                            .ok_or_else(|| {
                                ValidationError::Other(manifest::EMPTY_MESSAGE.to_owned())
                            })?,
                    );
                }
                "replicas" => {
                    change.replicas =
                        Some(patched.get("replicas").and_then(Value::as_i64).unwrap_or(1));
                }
                _ => {}
            }
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_hold_common_fields_first() {
        for kind in [
            WorkloadKind::Pod,
            WorkloadKind::Service,
            WorkloadKind::ReplicationController,
        ] {
            let names: Vec<_> = fields_of(kind).iter().map(|f| f.name).collect();
            assert_eq!(names[0], "uuid");
            assert!(names.contains(&"manifest_url"), "{kind}: {names:?}");
        }
        assert!(fields::find(&POD_FIELDS, "desc").is_some());
        assert!(fields::find(&SERVICE_FIELDS, "desc").is_none());
        assert!(fields::find(&RC_FIELDS, "replicas").is_some());
    }

    #[test]
    fn create_body_takes_either_bay_key_but_not_two_bays() {
        let r = WorkloadRequest::from_create_body(
            WorkloadKind::Pod,
            &json!({"bay_uuid": "b1", "manifest": "x", "desc": "d"}),
        )
        .unwrap();
        assert_eq!(r.bay.as_deref(), Some("b1"));
        assert_eq!(r.desc.as_deref(), Some("d"));
        let r = WorkloadRequest::from_create_body(
            WorkloadKind::Service,
            &json!({"bay_ident": "b1", "bay_uuid": "b1", "manifest_url": "http://x/y"}),
        )
        .unwrap();
        assert_eq!(r.bay.as_deref(), Some("b1"));
        assert_eq!(r.manifest, None);
        let err = WorkloadRequest::from_create_body(
            WorkloadKind::Pod,
            &json!({"bay_ident": "b1", "bay_uuid": "b2"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("different bays"), "{err}");
    }

    #[test]
    fn create_body_refuses_read_only_and_foreign_fields() {
        let err = WorkloadRequest::from_create_body(
            WorkloadKind::Pod,
            &json!({"bay_uuid": "b", "status": "Running"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        let err = WorkloadRequest::from_create_body(
            WorkloadKind::Service,
            &json!({"bay_uuid": "b", "desc": "no"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Unknown attribute"), "{err}");
        let err = WorkloadRequest::from_create_body(
            WorkloadKind::ReplicationController,
            &json!({"bay_uuid": "b", "replicas": -1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("replicas"), "{err}");
    }

    #[test]
    fn patch_reports_what_changed() {
        let current = Workload {
            replicas: Some(2),
            ..Workload::default()
        };
        let change = WorkloadChange::from_patch(
            WorkloadKind::ReplicationController,
            &current,
            &json!([{"op": "replace", "path": "/replicas", "value": "5"}]),
        )
        .unwrap();
        assert_eq!(change.replicas, Some(5));
        let change = WorkloadChange::from_patch(
            WorkloadKind::Pod,
            &current,
            &json!([{"op": "replace", "path": "/desc", "value": "web"},
                    {"op": "replace", "path": "/manifest", "value": "{}"}]),
        )
        .unwrap();
        assert_eq!(change.desc, Some(Some("web".into())));
        assert_eq!(change.manifest.as_deref(), Some("{}"));
        let err = WorkloadChange::from_patch(
            WorkloadKind::Service,
            &current,
            &json!([{"op": "replace", "path": "/ip", "value": "10.0.0.1"}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("internal attribute"), "{err}");
        let err = WorkloadChange::from_patch(
            WorkloadKind::Pod,
            &current,
            &json!([{"op": "replace", "path": "/bay_uuid", "value": "x"}]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("internal attribute"), "{err}");
    }

    #[test]
    fn describe_copies_what_the_kind_shows() {
        let m = manifest::parse(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {a: b}}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
            WorkloadKind::Service,
            1 << 20,
        )
        .unwrap();
        let mut w = Workload::default();
        w.describe(&m);
        assert_eq!(w.name, "web");
        assert_eq!(w.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(w.ports, Some(json!([{"port": 80}])));
        assert_eq!(w.images, None);
        assert_eq!(w.replicas, None);
    }
}
