//! Tenant workloads in a bay: pods, services and replication controllers made from a tenant's
//! [`Manifest`] in the bay's namespace (spec/rest-api.md §3.4, spec/rpc.md §7.3).
//!
//! Every object is written by server-side apply with a field manager of its own
//! (`magnum-conductor-<magnum uuid>`, see [`workload_field_manager`]), so an update converges on
//! exactly the new manifest (fields the tenant dropped are dropped) and two records racing for
//! one name conflict instead of silently sharing the object. The object carries the tenant's
//! labels plus [`UUID_LABEL`] (the record's uuid), [`BAY_LABEL`] and
//! [`MANAGED_BY_LABEL`]; pods and RC pod templates get the bay's [`placement`] (node selector and
//! toleration), so they run only on the bay's nodes.
//!
//! Errors: a name held by another object is [`DriverError::AlreadyExists`]; a Kubernetes
//! client-error answer (400 decoding, 403 quota, 404, 422 `Invalid`, …) is
//! [`DriverError::Rejected`] with Kubernetes' status code and message; 429 and 5xx, timeouts and
//! connection failures are [`DriverError::Unreachable`]; 401 (the conductor's own credentials) is
//! [`DriverError::Refused`].

use super::api::Failure;
use super::{KubernetesDriver, MANAGED_BY_LABEL, namespace, placement};
use crate::{BAY_LABEL, DriverError};
use k8s_openapi::api::core::v1::{
    Namespace, Pod, PodSpec, ReplicationController, Service, ServiceAccount,
};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use magnum_core::manifest::{self, Manifest, WorkloadKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Label holding the Magnum uuid of the record an object belongs to.
pub const UUID_LABEL: &str = "magnum.openstack.org/uuid";

/// How long a pod's creation waits for its namespace's `default` ServiceAccount, which the
/// namespace controller adds a moment after the namespace (a real server refuses pods until
/// then).
pub const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(10);

/// Pause between two looks for the `default` ServiceAccount.
const SERVICE_ACCOUNT_POLL: Duration = Duration::from_millis(100);

/// Attempts at one write when the object changes under us (a racing create or delete).
const ATTEMPTS: usize = 3;

/// What Kubernetes shows of a tenant object: what the API's `status`, `host`, `ip`, `ports`
/// and `replicas` come from. Fields that do not apply to the kind are `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkloadState {
    /// A pod's `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub status: Option<String>,
    /// A pod's `spec.nodeName`, once scheduled.
    pub host: Option<String>,
    /// A service's `spec.clusterIP` (Kubernetes' string `None` for a headless service).
    pub ip: Option<String>,
    /// A service's `spec.ports` as Kubernetes holds them (defaults such as `protocol` filled in).
    pub ports: Option<Value>,
    /// An RC's desired `spec.replicas`.
    pub replicas: Option<i32>,
    /// An RC's `status.readyReplicas` (0 when Kubernetes omits it).
    pub ready_replicas: Option<i32>,
}

/// One tenant object of a bay, found by [`KubernetesDriver::list_workloads`].
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedWorkload {
    /// The Magnum uuid its [`UUID_LABEL`] names.
    pub uuid: Uuid,
    /// Its `metadata.name`.
    pub name: String,
    /// What Kubernetes shows of it.
    pub state: WorkloadState,
}

/// The field manager of one record's server-side applies: `magnum-conductor-<uuid>`.
pub fn workload_field_manager(magnum_uuid: &Uuid) -> String {
    format!("{}-{magnum_uuid}", super::FIELD_MANAGER)
}

/// The object the driver writes for a manifest: the tenant's object in the bay's namespace, with
/// Magnum's labels and, on pods and RC templates, the bay's placement; fields only a server sets
/// (`status`, `uid`, `resourceVersion`, …) are dropped, so a manifest copied from
/// `kubectl get -o yaml` applies cleanly. A namespace other than the bay's or `default` is
/// refused with 400, as Kubernetes refuses a body whose namespace differs from the URL's.
pub fn desired_object(
    bay: &Uuid,
    manifest: &Manifest,
    magnum_uuid: &Uuid,
) -> Result<Value, DriverError> {
    let ns = namespace(bay);
    manifest::check_namespace(manifest, &ns).map_err(|e| DriverError::Rejected {
        code: 400,
        message: e.to_string(),
    })?;
    let mut object = manifest.object.clone();
    let Some(root) = object.as_object_mut() else {
        return Err(undecodable(manifest.kind, "the manifest is not an object"));
    };
    root.remove("status");
    let mut metadata = take_map(root, "metadata");
    for server_set in [
        "uid",
        "resourceVersion",
        "selfLink",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
    ] {
        metadata.remove(server_set);
    }
    metadata.insert("name".into(), json!(manifest.name));
    metadata.insert("namespace".into(), json!(ns));
    let mut labels = take_map(&mut metadata, "labels");
    labels.insert(UUID_LABEL.into(), json!(magnum_uuid.to_string()));
    labels.insert(BAY_LABEL.into(), json!(bay.to_string()));
    labels.insert(MANAGED_BY_LABEL.into(), json!("magnum"));
    metadata.insert("labels".into(), Value::Object(labels));
    root.insert("metadata".into(), Value::Object(metadata));
    let pod_spec = match manifest.kind {
        WorkloadKind::Pod => Some("/spec"),
        WorkloadKind::ReplicationController => Some("/spec/template/spec"),
        WorkloadKind::Service => None,
    };
    if let Some(pointer) = pod_spec {
        let spec = object
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| undecodable(manifest.kind, &format!("{pointer} is not an object")))?;
        place(bay, manifest.kind, spec)?;
    }
    Ok(object)
}

/// Adds the bay's node selector and toleration to a pod spec written by a tenant, keeping every
/// other field as written (including ones this client's types do not know).
fn place(bay: &Uuid, kind: WorkloadKind, spec: &mut Map<String, Value>) -> Result<(), DriverError> {
    let mut typed: PodSpec = serde_json::from_value(Value::Object(spec.clone()))
        .map_err(|e| undecodable(kind, &e.to_string()))?;
    placement(bay).apply_to(&mut typed);
    let node_selector = serde_json::to_value(&typed.node_selector)
        .map_err(|e| undecodable(kind, &e.to_string()))?;
    let tolerations =
        serde_json::to_value(&typed.tolerations).map_err(|e| undecodable(kind, &e.to_string()))?;
    spec.insert("nodeSelector".into(), node_selector);
    spec.insert("tolerations".into(), tolerations);
    Ok(())
}

/// The 400 kube-apiserver answers when a body does not decode as its kind.
fn undecodable(kind: WorkloadKind, why: &str) -> DriverError {
    DriverError::Rejected {
        code: 400,
        message: format!("{kind} in version \"v1\" cannot be handled as a {kind}: {why}"),
    }
}

/// Removes and returns the map at `key` of `map`; an empty map if absent or not a map.
fn take_map(map: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match map.remove(key) {
        Some(Value::Object(inner)) => inner,
        _ => Map::new(),
    }
}

/// What Kubernetes shows of one object of `kind`.
pub fn state_of(kind: WorkloadKind, object: &Value) -> WorkloadState {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let int = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
    };
    match kind {
        WorkloadKind::Pod => WorkloadState {
            status: text("/status/phase"),
            host: text("/spec/nodeName"),
            ..WorkloadState::default()
        },
        WorkloadKind::Service => WorkloadState {
            ip: text("/spec/clusterIP"),
            ports: object.pointer("/spec/ports").cloned(),
            ..WorkloadState::default()
        },
        WorkloadKind::ReplicationController => WorkloadState {
            replicas: Some(int("/spec/replicas").unwrap_or(1)),
            ready_replicas: Some(int("/status/readyReplicas").unwrap_or(0)),
            ..WorkloadState::default()
        },
    }
}

fn api_resource(kind: WorkloadKind) -> ApiResource {
    match kind {
        WorkloadKind::Pod => ApiResource::erase::<Pod>(&()),
        WorkloadKind::Service => ApiResource::erase::<Service>(&()),
        WorkloadKind::ReplicationController => ApiResource::erase::<ReplicationController>(&()),
    }
}

/// The Magnum uuid an object is labelled with.
fn owner(object: &DynamicObject) -> Option<&str> {
    object
        .metadata
        .labels
        .as_ref()?
        .get(UUID_LABEL)
        .map(String::as_str)
}

/// A stored object as one JSON value (type, metadata and the rest).
fn as_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The driver error of a failed workload call: client errors keep Kubernetes' code and message.
fn workload_error(failure: Failure, what: &str) -> DriverError {
    match failure {
        Failure::Status(status) if matches!(status.code, 400..=499) && status.code != 401 => {
            if status.code == 409 && status.reason == "AlreadyExists" {
                return DriverError::AlreadyExists(status.message.clone());
            }
            let message = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            DriverError::Rejected {
                code: status.code,
                message,
            }
        }
        other => other.into_driver(what),
    }
}

fn taken(kind: WorkloadKind, name: &str, bay: &Uuid) -> DriverError {
    DriverError::AlreadyExists(format!(
        "A {kind} named {name} already exists in bay {bay}."
    ))
}

fn terminating(kind: WorkloadKind, name: &str, bay: &Uuid) -> DriverError {
    DriverError::AlreadyExists(format!(
        "A {kind} named {name} is still being deleted in bay {bay}; try again shortly."
    ))
}

impl KubernetesDriver {
    fn workloads(&self, bay: &Uuid, kind: WorkloadKind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &namespace(bay), &api_resource(kind))
    }

    async fn get_workload(
        &self,
        bay: &Uuid,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<DynamicObject>, DriverError> {
        let what = format!("get {kind} {name} in {}", namespace(bay));
        self.call(&what, self.workloads(bay, kind).get_opt(name))
            .await
            .map_err(|f| workload_error(f, &what))
    }

    /// Server-side applies the desired object under the record's own field manager; `force`
    /// takes over fields other managers (say, `kubectl edit`) set since.
    async fn apply_desired(
        &self,
        bay: &Uuid,
        manifest: &Manifest,
        magnum_uuid: &Uuid,
        force: bool,
    ) -> Result<DynamicObject, Failure> {
        let desired = desired_object(bay, manifest, magnum_uuid).map_err(Failure::Driver)?;
        let manager = workload_field_manager(magnum_uuid);
        let mut params = PatchParams::apply(&manager);
        params.force = force;
        let what = format!(
            "apply {} {} in {}",
            manifest.kind,
            manifest.name,
            namespace(bay)
        );
        self.call(
            &what,
            self.workloads(bay, manifest.kind).patch(
                &manifest.name,
                &params,
                &Patch::Apply(&desired),
            ),
        )
        .await
    }

    /// Creates the tenant object of a manifest in the bay's namespace, or converges the one this
    /// record made before (same name and [`UUID_LABEL`]): safe to repeat. Pods wait (up to
    /// [`SERVICE_ACCOUNT_WAIT`]) for the namespace's `default` ServiceAccount first.
    ///
    /// Errors: the name held by another object (another record's, or one made with a
    /// kubeconfig) or still being deleted → [`DriverError::AlreadyExists`]; Kubernetes refusing
    /// the object → [`DriverError::Rejected`] with its code and message.
    pub async fn apply_workload(
        &self,
        bay: &Uuid,
        manifest: &Manifest,
        magnum_uuid: &Uuid,
    ) -> Result<WorkloadState, DriverError> {
        // Refuse a foreign namespace or an undecodable spec before anything is sent.
        desired_object(bay, manifest, magnum_uuid)?;
        let (kind, name) = (manifest.kind, manifest.name.as_str());
        let ours = magnum_uuid.to_string();
        let what = format!("create {kind} {name} in {}", namespace(bay));
        for _ in 0..ATTEMPTS {
            match self.get_workload(bay, kind, name).await? {
                Some(existing) if owner(&existing) != Some(ours.as_str()) => {
                    return Err(taken(kind, name, bay));
                }
                Some(existing) if existing.metadata.deletion_timestamp.is_some() => {
                    return Err(terminating(kind, name, bay));
                }
                Some(_) => {
                    let applied = self
                        .apply_desired(bay, manifest, magnum_uuid, true)
                        .await
                        .map_err(|f| workload_error(f, &what))?;
                    return Ok(state_of(kind, &as_value(&applied)));
                }
                None => {}
            }
            if kind == WorkloadKind::Pod && uses_default_account(&manifest.object) {
                self.wait_for_default_account(bay).await?;
            }
            // Not forced: should another record's apply have created the object meanwhile, its
            // uuid label conflicts with ours and the loop looks again.
            match self.apply_desired(bay, manifest, magnum_uuid, false).await {
                Ok(created) => {
                    tracing::info!(
                        bay.uuid = %bay, kind = %kind, name, uuid = %magnum_uuid,
                        "created tenant object"
                    );
                    return Ok(state_of(kind, &as_value(&created)));
                }
                Err(f) if f.code() == Some(409) => continue,
                Err(f) => return Err(workload_error(f, &what)),
            }
        }
        Err(taken(kind, name, bay))
    }

    /// Replaces the tenant object with a new manifest of the same kind and name (PATCH of
    /// `manifest`, or of an RC's `replicas`, which scales it). Kubernetes' own rules apply: a pod,
    /// for one, may change little more than its images, else [`DriverError::Rejected`] 422.
    ///
    /// Errors: the object gone → [`DriverError::Rejected`] 404; held by an object that is not
    /// this record's → [`DriverError::AlreadyExists`].
    pub async fn update_workload(
        &self,
        bay: &Uuid,
        manifest: &Manifest,
        magnum_uuid: &Uuid,
    ) -> Result<WorkloadState, DriverError> {
        desired_object(bay, manifest, magnum_uuid)?;
        let (kind, name) = (manifest.kind, manifest.name.as_str());
        let ours = magnum_uuid.to_string();
        let what = format!("update {kind} {name} in {}", namespace(bay));
        match self.get_workload(bay, kind, name).await? {
            None => {
                return Err(DriverError::Rejected {
                    code: 404,
                    message: format!("{} \"{name}\" not found", kind.resource()),
                });
            }
            Some(existing) if owner(&existing) != Some(ours.as_str()) => {
                return Err(taken(kind, name, bay));
            }
            Some(existing) if existing.metadata.deletion_timestamp.is_some() => {
                return Err(terminating(kind, name, bay));
            }
            Some(_) => {}
        }
        let applied = self
            .apply_desired(bay, manifest, magnum_uuid, true)
            .await
            .map_err(|f| workload_error(f, &what))?;
        tracing::info!(
            bay.uuid = %bay, kind = %kind, name, uuid = %magnum_uuid, "updated tenant object"
        );
        Ok(state_of(kind, &as_value(&applied)))
    }

    /// Deletes the tenant object `name` (an RC's pods follow, by garbage collection). Succeeds
    /// when it is gone already, and leaves alone an object of that name Magnum did not make
    /// (no [`UUID_LABEL`]).
    pub async fn delete_workload(
        &self,
        bay: &Uuid,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<(), DriverError> {
        let what = format!("delete {kind} {name} in {}", namespace(bay));
        for _ in 0..ATTEMPTS {
            let Some(existing) = self.get_workload(bay, kind, name).await? else {
                return Ok(());
            };
            if owner(&existing).is_none() {
                tracing::warn!(
                    bay.uuid = %bay, kind = %kind, name,
                    "not deleting an object Magnum did not create"
                );
                return Ok(());
            }
            // Exactly the object looked at: a newer one of the same name is left alone.
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: existing.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            match self
                .call(&what, self.workloads(bay, kind).delete(name, &params))
                .await
            {
                Ok(_) => {
                    tracing::info!(bay.uuid = %bay, kind = %kind, name, "deleted tenant object");
                    return Ok(());
                }
                Err(f) if f.code() == Some(404) => return Ok(()),
                Err(f) if f.code() == Some(409) => continue,
                Err(f) => return Err(workload_error(f, &what)),
            }
        }
        Err(DriverError::Unreachable(format!(
            "{kind} {name} in {} kept changing while it was being deleted",
            namespace(bay)
        )))
    }

    /// What Kubernetes shows of the tenant object `name`; `None` when there is none.
    pub async fn workload_state(
        &self,
        bay: &Uuid,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<WorkloadState>, DriverError> {
        Ok(self
            .get_workload(bay, kind, name)
            .await?
            .map(|object| state_of(kind, &as_value(&object))))
    }

    /// Every object of `kind` in the bay's namespace that Magnum made (labelled with
    /// [`UUID_LABEL`]), for the reconciler: one list call instead of one call per record.
    /// A bay whose namespace is gone has none.
    pub async fn list_workloads(
        &self,
        bay: &Uuid,
        kind: WorkloadKind,
    ) -> Result<Vec<ObservedWorkload>, DriverError> {
        let what = format!("list {} in {}", kind.resource(), namespace(bay));
        let api = self.workloads(bay, kind);
        let mut params = kube::api::ListParams::default()
            .labels(UUID_LABEL)
            .limit(250);
        let mut found = Vec::new();
        loop {
            let page = self
                .call(&what, api.list(&params))
                .await
                .map_err(|f| workload_error(f, &what))?;
            for object in &page.items {
                let Some(uuid) = owner(object).and_then(|u| Uuid::parse_str(u).ok()) else {
                    continue;
                };
                found.push(ObservedWorkload {
                    uuid,
                    name: object.metadata.name.clone().unwrap_or_default(),
                    state: state_of(kind, &as_value(object)),
                });
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(found),
            }
        }
    }

    /// Waits, bounded by [`SERVICE_ACCOUNT_WAIT`], until the bay's namespace has its `default`
    /// ServiceAccount. A missing namespace is [`DriverError::Refused`] at once.
    async fn wait_for_default_account(&self, bay: &Uuid) -> Result<(), DriverError> {
        let ns = namespace(bay);
        let what = format!("get ServiceAccount default in {ns}");
        let accounts = Api::<ServiceAccount>::namespaced(self.client.clone(), &ns);
        let deadline = Instant::now() + SERVICE_ACCOUNT_WAIT;
        let mut namespace_checked = false;
        loop {
            let found = self
                .call(&what, accounts.get_opt("default"))
                .await
                .map_err(|f| f.into_driver(&what))?;
            if found.is_some() {
                return Ok(());
            }
            if !namespace_checked {
                let what = format!("get Namespace {ns}");
                let exists = self
                    .call(
                        &what,
                        Api::<Namespace>::all(self.client.clone()).get_opt(&ns),
                    )
                    .await
                    .map_err(|f| f.into_driver(&what))?;
                if exists.is_none() {
                    return Err(DriverError::Refused(format!(
                        "Namespace {ns} of bay {bay} does not exist: the bay's Kubernetes \
                         objects are gone."
                    )));
                }
                namespace_checked = true;
            }
            if Instant::now() + SERVICE_ACCOUNT_POLL > deadline {
                return Err(DriverError::Unreachable(format!(
                    "ServiceAccount default of namespace {ns} did not appear within {} s: is the \
                     cluster's controller manager running?",
                    SERVICE_ACCOUNT_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(SERVICE_ACCOUNT_POLL).await;
        }
    }
}

/// Whether a pod runs as its namespace's `default` ServiceAccount (names none, or that one).
fn uses_default_account(pod: &Value) -> bool {
    ["/spec/serviceAccountName", "/spec/serviceAccount"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_str))
        .find(|name| !name.is_empty())
        .is_none_or(|name| name == "default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use magnum_core::manifest::parse;

    fn bay() -> Uuid {
        Uuid::from_u128(0xb)
    }

    fn rc() -> Manifest {
        let text = json!({
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web", "labels": {"app": "web", UUID_LABEL: "forged"},
                         "resourceVersion": "17", "uid": "x"},
            "spec": {
                "selector": {"app": "web"},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "nginx", "futureField": 1}],
                        "nodeSelector": {"disk": "ssd"},
                    },
                },
            },
            "status": {"replicas": 3},
        })
        .to_string();
        parse(&text, WorkloadKind::ReplicationController, 1 << 20).expect("valid rc")
    }

    #[test]
    fn the_desired_object_carries_labels_placement_and_no_server_fields() {
        let uuid = Uuid::from_u128(0xa);
        let object = desired_object(&bay(), &rc(), &uuid).expect("valid");
        let meta = &object["metadata"];
        assert_eq!(meta["namespace"], json!(namespace(&bay())));
        assert_eq!(meta["labels"][UUID_LABEL], json!(uuid.to_string()));
        assert_eq!(meta["labels"][BAY_LABEL], json!(bay().to_string()));
        assert_eq!(meta["labels"]["app"], json!("web"));
        assert!(meta.get("resourceVersion").is_none() && meta.get("uid").is_none());
        assert!(object.get("status").is_none());
        let spec = &object["spec"]["template"]["spec"];
        assert_eq!(spec["nodeSelector"]["disk"], json!("ssd"), "tenant's kept");
        assert_eq!(spec["nodeSelector"][BAY_LABEL], json!(bay().to_string()));
        assert_eq!(spec["tolerations"][0]["value"], json!(bay().to_string()));
        assert_eq!(spec["tolerations"][0]["effect"], json!("NoSchedule"));
        assert_eq!(
            spec["containers"][0]["futureField"],
            json!(1),
            "fields unknown to k8s-openapi survive"
        );
        assert_eq!(workload_field_manager(&uuid).len(), 53);
    }

    #[test]
    fn undecodable_specs_and_foreign_namespaces_are_client_errors() {
        let mut bad = rc();
        bad.object["spec"]["template"]["spec"]["tolerations"] = json!("all");
        let err = desired_object(&bay(), &bad, &Uuid::nil()).expect_err("bad tolerations");
        let DriverError::Rejected { code: 400, message } = err else {
            panic!("expected a 400, got {err:?}");
        };
        assert!(
            message.starts_with(
                "ReplicationController in version \"v1\" cannot be handled as a \
                 ReplicationController: "
            ),
            "{message}"
        );
        let mut foreign = rc();
        foreign.object["metadata"]["namespace"] =
            json!("magnum-11111111-2222-3333-4444-555555555555");
        let err = desired_object(&bay(), &foreign, &Uuid::nil()).expect_err("foreign");
        assert!(
            matches!(err, DriverError::Rejected { code: 400, .. }),
            "{err:?}"
        );
        let mut legacy = rc();
        legacy.object["metadata"]["namespace"] = json!("default");
        let object = desired_object(&bay(), &legacy, &Uuid::nil()).expect("default is fine");
        assert_eq!(object["metadata"]["namespace"], json!(namespace(&bay())));
    }

    #[test]
    fn state_follows_the_kind() {
        let pod = json!({"spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}});
        assert_eq!(
            state_of(WorkloadKind::Pod, &pod),
            WorkloadState {
                status: Some("Running".into()),
                host: Some("node-1".into()),
                ..WorkloadState::default()
            }
        );
        let svc = json!({"spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}});
        let state = state_of(WorkloadKind::Service, &svc);
        assert_eq!(state.ip.as_deref(), Some("10.96.0.10"));
        assert_eq!(state.ports, Some(json!([{"port": 80}])));
        let rc = json!({"spec": {"replicas": 3}, "status": {"replicas": 3, "readyReplicas": 2}});
        let state = state_of(WorkloadKind::ReplicationController, &rc);
        assert_eq!((state.replicas, state.ready_replicas), (Some(3), Some(2)));
        let fresh = state_of(WorkloadKind::ReplicationController, &json!({"spec": {}}));
        assert_eq!((fresh.replicas, fresh.ready_replicas), (Some(1), Some(0)));
    }

    #[test]
    fn only_pods_without_an_account_or_with_default_wait_for_it() {
        assert!(uses_default_account(&json!({"spec": {}})));
        assert!(uses_default_account(
            &json!({"spec": {"serviceAccountName": "default"}})
        ));
        assert!(uses_default_account(
            &json!({"spec": {"serviceAccountName": ""}})
        ));
        assert!(!uses_default_account(
            &json!({"spec": {"serviceAccountName": "magnum-bay"}})
        ));
        assert!(!uses_default_account(
            &json!({"spec": {"serviceAccount": "x"}})
        ));
    }

    #[test]
    fn client_errors_keep_their_code_and_server_errors_stay_retryable() {
        let status = |code: u16, reason: &str, message: &str| {
            Failure::Status(Box::new(kube::core::Status {
                code,
                reason: reason.into(),
                message: message.into(),
                ..kube::core::Status::default()
            }))
        };
        assert_eq!(
            workload_error(status(422, "Invalid", "Pod \"x\" is invalid"), "create"),
            DriverError::Rejected {
                code: 422,
                message: "Pod \"x\" is invalid".into()
            }
        );
        assert_eq!(
            workload_error(
                status(409, "AlreadyExists", "pods \"x\" already exists"),
                "c"
            ),
            DriverError::AlreadyExists("pods \"x\" already exists".into())
        );
        assert!(matches!(
            workload_error(
                status(403, "Forbidden", "exceeded quota: magnum-quota"),
                "c"
            ),
            DriverError::Rejected { code: 403, .. }
        ));
        assert!(matches!(
            workload_error(status(503, "ServiceUnavailable", "x"), "c"),
            DriverError::Unreachable(_)
        ));
        assert!(matches!(
            workload_error(status(401, "Unauthorized", "x"), "c"),
            DriverError::Refused(_)
        ));
    }
}
