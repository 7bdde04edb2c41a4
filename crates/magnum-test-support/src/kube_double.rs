//! An in-process Kubernetes API double: real HTTP on 127.0.0.1, so the driver under test is plain
//! kube-rs code that works unchanged against a real cluster (no kube-apiserver can be installed
//! on these machines; see `shared/RECIPES.md`).
//!
//! What it serves, like kube-apiserver where it matters:
//! - any resource under `/api/v1/…` and `/apis/{group}/{version}/…`, namespaced
//!   (`/namespaces/{ns}/{plural}[/{name}]`) or cluster-scoped (`/{plural}[/{name}]`), plus the
//!   `status` subresource; known kinds keep their real scope, others are stored generically;
//! - create (201; 409 `AlreadyExists`; 404 when the namespace is missing; 403 when it is
//!   terminating), get (404 `NotFound`), list with `labelSelector` (`=`, `==`, `!=`, exists,
//!   `!k`, `in`, `notin`, `>`, `<`), `fieldSelector` (`=`, `!=` on dotted paths), `limit` and
//!   `continue`, replace (409 `Conflict` on a stale `metadata.resourceVersion`), patch (merge,
//!   strategic merge served as merge, JSON patch, server-side apply as create-or-merge; a
//!   `resourceVersion` in the patch is a precondition), delete (200 with the object; delete
//!   preconditions; deleting a Namespace removes every object in it), deletecollection;
//! - a monotonically increasing resourceVersion, uid, creationTimestamp, generation;
//! - a namespace's `default` ServiceAccount about 100 ms after the namespace, and pods refused
//!   until their ServiceAccount exists; pods stay `Pending`; RCs create no pods (status
//!   `replicas: 0`); services get a cluster IP (10.96.x.y, data only) and port defaults;
//! - a pod update may change only images, deadlines and added tolerations, else 422 as
//!   `ValidatePodUpdate` words it; a service keeps its cluster IP and node ports through writes
//!   that leave them out, and refuses to change its cluster IP (422);
//! - name and label validation (422 `Invalid`), `/version`, minimal discovery (`/api`, `/apis`,
//!   `/api/v1`, `/apis/{group}/{version}`); every error a `Status` with `code`, `reason`,
//!   `message`.
//!
//! Differences from a real server: no watch, no authentication, lists are not snapshots (a
//! `continue` resumes after the last name returned, over current state), server-side apply
//! merges instead of tracking field ownership, and a deleted namespace vanishes at once unless
//! [`KubeDouble::set_namespace_finalize_delay`] keeps it `Terminating` for a while.

mod patch;
mod selector;
mod server;
mod status;
mod store;
#[cfg(test)]
mod tests;
mod validate;

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use server::Shared;
use status::Resource;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::task::JoinHandle;

/// The `gitVersion` `/version` reports.
pub const GIT_VERSION: &str = store::GIT_VERSION;

/// A running Kubernetes API double; the server stops when this is dropped.
#[derive(Debug)]
pub struct KubeDouble {
    address: SocketAddr,
    serving_ca: crate::TestCa,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for KubeDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl KubeDouble {
    /// Starts serving on 127.0.0.1 at a free port, on the current tokio runtime.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start() -> KubeDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the Kubernetes API double");
        let address = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared::default());
        let app = server::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "Kubernetes API double stopped");
            }
        });
        KubeDouble {
            address,
            serving_ca: crate::TestCa::generate("kube-double serving CA"),
            shared,
            server,
        }
    }

    /// Base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kube-rs configuration pointing at the double (plain HTTP, no credentials).
    ///
    /// # Panics
    /// Never in practice: the URL is always valid.
    pub fn config(&self) -> kube::Config {
        let url = self.url().parse().expect("the double's URL is a valid URI");
        kube::Config::new(url)
    }

    /// A kube-rs client talking to the double.
    ///
    /// # Panics
    /// If kube-rs cannot build a client for a plain HTTP URL (it always can).
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("kube client for the double")
    }

    /// The cluster CA [`KubeDouble::kubeconfig`] names (`certificate-authority-data`), as a
    /// real cluster's kubeconfig does. The double itself serves plain HTTP, so nothing verifies
    /// against it; it stands for the CA a tenant's kubeconfig must trust.
    pub fn serving_ca_pem(&self) -> &str {
        &self.serving_ca.cert_pem
    }

    /// A kubeconfig (YAML) whose one context, `magnum-double`, points at the double without
    /// credentials, naming [`KubeDouble::serving_ca_pem`] as the cluster's CA: for code that
    /// reads `[kubernetes] kubeconfig`, such as the conductor binary.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.serving_ca.cert_pem);
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: magnum-double\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n\
             contexts:\n\
             - name: magnum-double\n  context:\n    cluster: magnum-double\n    user: magnum-double\n\
             current-context: magnum-double\n\
             users:\n\
             - name: magnum-double\n  user: {{}}\n",
            url = self.url()
        )
    }

    /// Writes [`KubeDouble::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store()
    }

    /// Adds a worker Node with these labels and a `Ready` condition of `True` or `False`,
    /// addresses from the documentation range (192.0.2.0/24) and a kubelet's node info.
    ///
    /// # Panics
    /// If a node of that name exists or the name or labels are invalid.
    pub fn add_node(&self, name: &str, labels: &[(&str, &str)], ready: bool) {
        let mut store = self.store();
        let resource = nodes();
        let index = store.count(&resource) + 10;
        let quantity = |q: &str| Quantity(q.to_owned());
        let resources: BTreeMap<String, Quantity> = [
            ("cpu".to_owned(), quantity("4")),
            ("memory".to_owned(), quantity("8Gi")),
            ("pods".to_owned(), quantity("110")),
        ]
        .into();
        let node = Node {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                addresses: Some(vec![
                    NodeAddress {
                        type_: "InternalIP".into(),
                        address: format!("192.0.2.{}", index % 250),
                    },
                    NodeAddress {
                        type_: "Hostname".into(),
                        address: name.to_owned(),
                    },
                ]),
                capacity: Some(resources.clone()),
                allocatable: Some(resources),
                conditions: Some(vec![ready_condition(ready)]),
                node_info: Some(NodeSystemInfo {
                    architecture: "amd64".into(),
                    boot_id: uuid::Uuid::new_v4().to_string(),
                    container_runtime_version: "containerd://2.0.5".into(),
                    kernel_version: "6.12.0".into(),
                    kube_proxy_version: String::new(),
                    kubelet_version: "v1.33.0".into(),
                    machine_id: uuid::Uuid::new_v4().simple().to_string(),
                    operating_system: "linux".into(),
                    os_image: "Debian GNU/Linux 13 (trixie)".into(),
                    system_uuid: uuid::Uuid::new_v4().to_string(),
                    ..NodeSystemInfo::default()
                }),
                ..NodeStatus::default()
            }),
        };
        let node = serde_json::to_value(&node).expect("a Node serializes");
        if let Err(e) = store.create(&resource, None, node) {
            panic!("add_node({name}): {}", e.message);
        }
    }

    /// Sets a node's `Ready` condition to `True` or `False` (a kubelet's status update, which
    /// bumps its resourceVersion). Returns whether the node exists.
    pub fn set_node_ready(&self, name: &str, ready: bool) -> bool {
        let mut store = self.store();
        let Ok(mut node) = store.get(&nodes(), None, name) else {
            return false;
        };
        let condition = serde_json::to_value(ready_condition(ready)).unwrap_or(Value::Null);
        let conditions = node
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut);
        match conditions {
            Some(list) => {
                list.retain(|c| c.get("type").and_then(Value::as_str) != Some("Ready"));
                list.push(condition);
            }
            None => node["status"]["conditions"] = json!([condition]),
        }
        let status = json!({"status": node["status"].clone()});
        store
            .replace(&nodes(), None, name, status, Some("status"))
            .is_ok()
    }

    /// Removes a node at once (a machine that vanished). Returns whether it existed.
    pub fn remove_node(&self, name: &str) -> bool {
        self.store().remove(&nodes(), None, name)
    }

    /// Replaces an object's `status`, as a kubelet or controller would (a pod's `phase`, an RC's
    /// `readyReplicas`). Returns whether the object exists.
    pub fn set_status(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        status: &Value,
    ) -> bool {
        let Some(resource) = Resource::parse(resource) else {
            return false;
        };
        self.store()
            .replace(
                &resource,
                namespace,
                name,
                json!({ "status": status }),
                Some("status"),
            )
            .is_ok()
    }

    /// Removes an object at once, behind Magnum's back (someone with a kubeconfig). Returns
    /// whether it existed.
    pub fn remove(&self, resource: &str, namespace: Option<&str>, name: &str) -> bool {
        Resource::parse(resource)
            .is_some_and(|resource| self.store().remove(&resource, namespace, name))
    }

    /// One object as stored. `resource` is `<apiVersion>/<plural>`: `v1/nodes`,
    /// `networking.k8s.io/v1/networkpolicies`; `namespace` is `None` for cluster-scoped kinds.
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let resource = Resource::parse(resource)?;
        self.store().get(&resource, namespace, name).ok()
    }

    /// Every object of a resource, sorted by namespace and name; `namespace` `None` lists all
    /// namespaces (or the cluster-scoped objects).
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(resource) = Resource::parse(resource) else {
            return Vec::new();
        };
        let listed = self.store().list(
            &resource,
            namespace,
            &selector::LabelSelector::default(),
            &selector::FieldSelector::default(),
            None,
            None,
        );
        match listed {
            Ok(Value::Object(mut list)) => match list.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Creates an object directly, as a POST would (same defaults and checks); the error is the
    /// `Status` a POST would get.
    pub fn create(
        &self,
        resource: &str,
        namespace: Option<&str>,
        object: Value,
    ) -> Result<Value, Value> {
        let resource = Resource::parse(resource).ok_or_else(
            || json!({"kind": "Status", "message": "resource must be <apiVersion>/<plural>"}),
        )?;
        self.store()
            .create(&resource, namespace, object)
            .map_err(|e| e.to_json())
    }

    /// Answers every request for a resource (plural name, e.g. `networkpolicies`) with 403
    /// `Forbidden`, as an RBAC authorizer would.
    pub fn deny(&self, plural: &str) {
        self.store().denied.insert(plural.to_owned());
    }

    /// Undoes [`KubeDouble::deny`].
    pub fn allow(&self, plural: &str) {
        self.store().denied.remove(plural);
    }

    /// Delays every answer by `latency` (to test client timeouts).
    pub fn set_latency(&self, latency: Duration) {
        self.store().latency = latency;
    }

    /// Keeps a deleted namespace `Terminating` for `delay` before it disappears, as the namespace
    /// controller does; zero (the default) removes it at once. Its objects go at once either way.
    pub fn set_namespace_finalize_delay(&self, delay: Duration) {
        self.store().namespace_finalize_delay = delay;
    }

    /// The newest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.store().revision()
    }
}

fn nodes() -> Resource {
    Resource {
        group: String::new(),
        version: "v1".into(),
        plural: "nodes".into(),
    }
}

fn ready_condition(ready: bool) -> NodeCondition {
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "False",
            "KubeletNotReady",
            "container runtime network not ready",
        )
    };
    NodeCondition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        ..NodeCondition::default()
    }
}
