//! The kubernetes driver: a bay is a tenant slice of a registered cluster, through kube-rs.
//!
//! For a bay the driver makes, in Namespace `magnum-<bay uuid>` (labelled with [`BAY_LABEL`] and
//! [`PROJECT_LABEL`](crate::PROJECT_LABEL), as is every object it creates): ResourceQuota [`QUOTA_NAME`], LimitRange
//! [`LIMITS_NAME`] (both from bay labels, see the `objects` module's table), a default-deny
//! NetworkPolicy [`ISOLATION_NAME`] admitting ingress only from the bay's own pods, and
//! ServiceAccount, Role and RoleBinding [`ACCOUNT_NAME`]. Everything is written by server-side
//! apply with field manager [`FIELD_MANAGER`], so every call converges.
//!
//! Worker Nodes are claimed from the pool (`[kubernetes] node_pool_selector`): a free node has no
//! [`BAY_LABEL`]; claiming adds the label, [`PROJECT_LABEL`](crate::PROJECT_LABEL) and the taint
//! `magnum.openstack.org/bay=<uuid>:NoSchedule` under the node's resourceVersion, so two
//! conductors can never both win one node. Tenant workloads get [`placement`]'s node selector and
//! toleration and so land only on the bay's nodes.
//!
//! Tenant pods, services and replication controllers (spec/rest-api.md §3.4) are made from a
//! [`Manifest`](magnum_core::manifest::Manifest) by [`KubernetesDriver::apply_workload`] and its
//! siblings (`workloads` module): labelled with [`UUID_LABEL`], placed, and written by
//! server-side apply.

mod api;
mod credentials;
mod nodes;
mod objects;
mod workloads;

pub use workloads::{
    ObservedWorkload, SERVICE_ACCOUNT_WAIT, UUID_LABEL, WorkloadState, desired_object, state_of,
    workload_field_manager,
};

pub use credentials::CERTIFICATES_BINDING;

use crate::credentials::{ClientCa, certificates_pem};
use crate::{BAY_LABEL, BayDriver, BayTarget, DriverError, Observed};
use k8s_openapi::api::core::v1::{Namespace, PodSpec, Taint, Toleration};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Field manager of every server-side apply the driver sends.
pub const FIELD_MANAGER: &str = "magnum-conductor";
/// Name of the bay's ResourceQuota.
pub const QUOTA_NAME: &str = "magnum-quota";
/// Name of the bay's LimitRange.
pub const LIMITS_NAME: &str = "magnum-limits";
/// Name of the bay's default-deny NetworkPolicy.
pub const ISOLATION_NAME: &str = "magnum-isolation";
/// Name of the bay's ServiceAccount, Role and RoleBinding.
pub const ACCOUNT_NAME: &str = "magnum-bay";
/// Annotation on a claimed node: when it was claimed (newest claims are released first).
pub const CLAIMED_AT_ANNOTATION: &str = "magnum.openstack.org/claimed-at";
/// `app.kubernetes.io/managed-by`, set to `magnum` on every object the driver creates.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// `[kubernetes]` in magnum.conf: the cluster bays are carved from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct KubernetesConfig {
    /// Path of a kubeconfig file for the cluster.
    pub kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use; its current context when unset.
    pub context: Option<String>,
    /// Use the pod's service account (`KUBERNETES_SERVICE_HOST`, mounted token) instead of a
    /// kubeconfig: for a conductor running inside the cluster.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub in_cluster: bool,
    /// Label selector of the Nodes bays may claim.
    pub node_pool_selector: String,
    /// Seconds any one Kubernetes API call may take before it counts as unreachable.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub api_timeout: u64,
    /// PEM certificate of the CA that signs bay users' client certificates; the cluster's API
    /// server must trust it for client authentication (`--client-ca-file`). Unset: no
    /// certificates are signed.
    pub client_ca_cert: Option<PathBuf>,
    /// Its PKCS#8 PEM private key.
    pub client_ca_key: Option<PathBuf>,
    /// Days a signed client certificate stays valid.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub client_cert_validity_days: u32,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            context: None,
            in_cluster: false,
            node_pool_selector: "magnum.openstack.org/pool=true".into(),
            api_timeout: 20,
            client_ca_cert: None,
            client_ca_key: None,
            client_cert_validity_days: 365,
        }
    }
}

impl KubernetesConfig {
    /// [`KubernetesConfig::api_timeout`] as a duration, at least one second.
    pub fn api_timeout(&self) -> Duration {
        Duration::from_secs(self.api_timeout.max(1))
    }

    /// The client CA, when both of its files are set.
    pub fn client_ca(&self) -> Result<Option<ClientCa>, DriverError> {
        let set = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        match (set(&self.client_ca_cert), set(&self.client_ca_key)) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                let days = u64::from(self.client_cert_validity_days.max(1));
                ClientCa::load(&cert, &key, Duration::from_secs(days * 86_400)).map(Some)
            }
            _ => Err(DriverError::NotConfigured(
                "[kubernetes] client_ca_cert and client_ca_key must be set together.".into(),
            )),
        }
    }
}

/// The bay driver for COE `kubernetes`. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct KubernetesDriver {
    client: kube::Client,
    api_address: Option<String>,
    /// PEM of the CA the cluster's serving certificate chains to (from the kubeconfig).
    cluster_ca: Option<String>,
    /// Signs bay users' client certificates.
    client_ca: Option<Arc<ClientCa>>,
    pool_selector: String,
    timeout: Duration,
}

impl std::fmt::Debug for KubernetesDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesDriver")
            .field("api_address", &self.api_address)
            .field("cluster_ca", &self.cluster_ca.is_some())
            .field("client_ca", &self.client_ca)
            .field("pool_selector", &self.pool_selector)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The Namespace of a bay: `magnum-<uuid>`.
pub fn namespace(bay: &Uuid) -> String {
    format!("magnum-{bay}")
}

/// Where a bay's workloads may run: on its claimed nodes, whose taint they tolerate.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// `nodeSelector` entries: [`BAY_LABEL`] = the bay's uuid.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerates the bay's `NoSchedule` taint.
    pub toleration: Toleration,
}

impl Placement {
    /// Adds the node selector (overriding a tenant's value for [`BAY_LABEL`]) and the
    /// toleration (once) to a pod spec or pod template spec.
    pub fn apply_to(&self, spec: &mut PodSpec) {
        let selector = spec.node_selector.get_or_insert_with(BTreeMap::new);
        selector.extend(self.node_selector.clone());
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        if !tolerations.contains(&self.toleration) {
            tolerations.push(self.toleration.clone());
        }
    }
}

/// The node selector and toleration that keep a bay's pods on the bay's nodes.
pub fn placement(bay: &Uuid) -> Placement {
    Placement {
        node_selector: [(BAY_LABEL.to_owned(), bay.to_string())].into(),
        toleration: Toleration {
            key: Some(BAY_LABEL.to_owned()),
            operator: Some("Equal".to_owned()),
            value: Some(bay.to_string()),
            effect: Some("NoSchedule".to_owned()),
            toleration_seconds: None,
        },
    }
}

/// The taint a claimed node carries: `magnum.openstack.org/bay=<uuid>:NoSchedule`.
pub fn bay_taint(bay: &Uuid) -> Taint {
    Taint {
        key: BAY_LABEL.to_owned(),
        value: Some(bay.to_string()),
        effect: "NoSchedule".to_owned(),
        time_added: None,
    }
}

/// A project id as a label value: characters outside `[A-Za-z0-9-_.]` become `-`, at most 63,
/// alphanumeric at both ends. Keystone project ids (32 hex digits) pass unchanged.
pub fn project_label_value(project_id: &str) -> String {
    let mapped: String = project_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

impl KubernetesDriver {
    /// Connects to the cluster `[kubernetes]` names: its kubeconfig (and context) or, with
    /// `in_cluster`, the pod's service account. Sends nothing yet.
    pub async fn new(cfg: &KubernetesConfig) -> Result<Self, DriverError> {
        let kubeconfig = cfg
            .kubeconfig
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty());
        let config = match (cfg.in_cluster, kubeconfig) {
            (true, None) => kube::Config::incluster()
                .map_err(|e| DriverError::NotConfigured(format!("[kubernetes] in_cluster: {e}")))?,
            (false, Some(path)) => {
                let not_configured = |e: kube::config::KubeconfigError| {
                    DriverError::NotConfigured(format!(
                        "[kubernetes] kubeconfig {}: {e}",
                        path.display()
                    ))
                };
                let file = Kubeconfig::read_from(path).map_err(not_configured)?;
                let options = KubeConfigOptions {
                    context: cfg.context.clone().filter(|c| !c.is_empty()),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(not_configured)?
            }
            (true, Some(_)) => {
                return Err(DriverError::NotConfigured(
                    "[kubernetes] sets both kubeconfig and in_cluster; set one.".into(),
                ));
            }
            (false, None) => {
                return Err(DriverError::NotConfigured(
                    "[kubernetes] needs kubeconfig = <path> or in_cluster = true.".into(),
                ));
            }
        };
        Self::from_config(config, cfg)
    }

    /// Builds the driver from a kube-rs configuration; the cluster URL becomes the bays'
    /// `api_address`.
    pub fn from_config(
        mut config: kube::Config,
        cfg: &KubernetesConfig,
    ) -> Result<Self, DriverError> {
        config.connect_timeout = Some(cfg.api_timeout());
        let address = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let cluster_ca = config
            .root_cert
            .as_deref()
            .filter(|certs| !certs.is_empty())
            .map(certificates_pem);
        let client = kube::Client::try_from(config).map_err(|e| {
            DriverError::NotConfigured(format!("[kubernetes] cannot build a client: {e}"))
        })?;
        let mut driver = Self::from_client(client, cfg).with_api_address(address);
        driver.cluster_ca = cluster_ca;
        driver.client_ca = cfg.client_ca()?.map(Arc::new);
        Ok(driver)
    }

    /// Builds the driver around an existing client (tests). The client does not reveal its
    /// URL: set the bays' `api_address` with [`KubernetesDriver::with_api_address`].
    pub fn from_client(client: kube::Client, cfg: &KubernetesConfig) -> Self {
        KubernetesDriver {
            client,
            api_address: None,
            cluster_ca: None,
            client_ca: None,
            pool_selector: cfg.node_pool_selector.clone(),
            timeout: cfg.api_timeout(),
        }
    }

    /// Sets the `api_address` reported for every bay.
    #[must_use]
    pub fn with_api_address(mut self, address: impl Into<String>) -> Self {
        self.api_address = Some(address.into());
        self
    }

    /// Sets the cluster CA (PEM) and the client CA (tests, which build the client themselves).
    #[must_use]
    pub fn with_certificate_authorities(
        mut self,
        cluster_ca: Option<String>,
        client_ca: Option<ClientCa>,
    ) -> Self {
        self.cluster_ca = cluster_ca;
        self.client_ca = client_ca.map(Arc::new);
        self
    }

    /// Server-side applies one object of the bay (create or converge).
    async fn apply<K>(&self, api: &Api<K>, name: &str, object: &K) -> Result<(), DriverError>
    where
        K: kube::Resource<DynamicType = ()> + serde::Serialize + DeserializeOwned + Clone,
        K: std::fmt::Debug,
    {
        let what = format!("apply {} {name}", K::kind(&()));
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.call(&what, api.patch(name, &params, &Patch::Apply(object)))
            .await
            .map(drop)
            .map_err(|f| f.into_driver(&what))
    }

    /// Creates or converges the bay's Namespace and every object in it.
    async fn ensure_objects(&self, bay: &BayTarget) -> Result<(), DriverError> {
        let o = objects::BayObjects::new(bay)?;
        let ns = namespace(&bay.uuid);
        let c = || self.client.clone();
        self.apply(&Api::all(c()), &ns, &o.namespace).await?;
        self.apply(&Api::namespaced(c(), &ns), ACCOUNT_NAME, &o.service_account)
            .await?;
        self.apply(&Api::namespaced(c(), &ns), ACCOUNT_NAME, &o.role)
            .await?;
        self.apply(&Api::namespaced(c(), &ns), ACCOUNT_NAME, &o.role_binding)
            .await?;
        self.apply(&Api::namespaced(c(), &ns), QUOTA_NAME, &o.quota)
            .await?;
        self.apply(&Api::namespaced(c(), &ns), LIMITS_NAME, &o.limits)
            .await?;
        self.apply(&Api::namespaced(c(), &ns), ISOLATION_NAME, &o.isolation)
            .await
    }
}

impl BayDriver for KubernetesDriver {
    async fn ensure(&self, bay: &BayTarget) -> Result<Observed, DriverError> {
        self.ensure_objects(bay).await?;
        self.converge_nodes(bay).await?;
        self.observe(bay).await
    }

    async fn observe(&self, bay: &BayTarget) -> Result<Observed, DriverError> {
        let ns = namespace(&bay.uuid);
        let what = format!("get Namespace {ns}");
        let exists = match self
            .call(&what, Api::<Namespace>::all(self.client.clone()).get(&ns))
            .await
        {
            Ok(_) => true,
            Err(f) if f.code() == Some(404) => false,
            Err(f) => return Err(f.into_driver(&what)),
        };
        let held = self.held_nodes(&bay.uuid).await?;
        let what = "read the Kubernetes version";
        let version = self
            .call(what, self.client.apiserver_version())
            .await
            .map_err(|f| f.into_driver(what))?;
        let container_version = held
            .iter()
            .filter_map(|n| n.status.as_ref()?.node_info.as_ref())
            .map(|i| i.container_runtime_version.clone())
            .find(|v| !v.is_empty());
        Ok(Observed {
            exists,
            api_address: self.api_address.clone(),
            coe_version: Some(version.git_version),
            container_version,
            nodes: held.iter().map(nodes::observed).collect(),
        })
    }

    async fn delete(&self, bay: &BayTarget) -> Result<(), DriverError> {
        let held = self.held_nodes(&bay.uuid).await?;
        self.release_all(&held.iter().collect::<Vec<_>>(), &bay.uuid)
            .await?;
        let ns = namespace(&bay.uuid);
        let what = format!("delete Namespace {ns}");
        let api = Api::<Namespace>::all(self.client.clone());
        match self
            .call(&what, api.delete(&ns, &DeleteParams::background()))
            .await
        {
            Ok(_) => {
                tracing::info!(bay.uuid = %bay.uuid, namespace = %ns, "deleted bay namespace");
                Ok(())
            }
            // Gone already, or already terminating: both mean the deletion is under way.
            Err(f) if matches!(f.code(), Some(404 | 409)) => Ok(()),
            Err(f) => Err(f.into_driver(&what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_match_the_documented_ones() {
        let cfg = KubernetesConfig::default();
        assert_eq!(cfg.node_pool_selector, "magnum.openstack.org/pool=true");
        assert_eq!(cfg.api_timeout(), Duration::from_secs(20));
        assert!(!cfg.in_cluster && cfg.kubeconfig.is_none() && cfg.context.is_none());
        let parsed: KubernetesConfig =
            serde_json::from_value(serde_json::json!({"in_cluster": true})).expect("parses");
        assert_eq!(
            parsed,
            KubernetesConfig {
                in_cluster: true,
                ..KubernetesConfig::default()
            }
        );
    }

    #[test]
    fn the_kubernetes_section_reads_from_ini() {
        #[derive(Deserialize)]
        struct File {
            kubernetes: KubernetesConfig,
        }
        let file: File = magnum_config::parse_str(
            "[kubernetes]\nkubeconfig = /etc/magnum/kubeconfig\ncontext = prod\nin_cluster = false\n\
             node_pool_selector = pool in (magnum)\napi_timeout = 5\n",
        )
        .expect("parses");
        assert_eq!(
            file.kubernetes,
            KubernetesConfig {
                kubeconfig: Some("/etc/magnum/kubeconfig".into()),
                context: Some("prod".into()),
                in_cluster: false,
                node_pool_selector: "pool in (magnum)".into(),
                api_timeout: 5,
                ..KubernetesConfig::default()
            }
        );
        let empty: File = magnum_config::parse_str("[kubernetes]\n").expect("parses");
        assert_eq!(empty.kubernetes, KubernetesConfig::default());
    }

    #[test]
    fn placement_adds_selector_and_toleration_once() {
        let bay = Uuid::from_u128(3);
        let place = placement(&bay);
        let mut spec = PodSpec {
            node_selector: Some([(BAY_LABEL.to_owned(), "other".to_owned())].into()),
            ..PodSpec::default()
        };
        place.apply_to(&mut spec);
        place.apply_to(&mut spec);
        assert_eq!(spec.node_selector.unwrap()[BAY_LABEL], bay.to_string());
        let tolerations = spec.tolerations.unwrap();
        assert_eq!(tolerations.len(), 1);
        assert_eq!(tolerations[0].effect.as_deref(), Some("NoSchedule"));
        assert_eq!(
            namespace(&bay),
            "magnum-00000000-0000-0000-0000-000000000003"
        );
    }

    #[test]
    fn project_ids_become_valid_label_values() {
        assert_eq!(
            project_label_value("4f0a1c6b9d7e4c53a1b2c3d4e5f60718"),
            "4f0a1c6b9d7e4c53a1b2c3d4e5f60718"
        );
        assert_eq!(project_label_value("my project!"), "my-project");
        assert_eq!(project_label_value(&"x".repeat(80)).len(), 63);
    }

    #[tokio::test]
    async fn new_without_a_cluster_is_not_configured() {
        let err = KubernetesDriver::new(&KubernetesConfig::default())
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::NotConfigured(_)), "{err:?}");
        let cfg = KubernetesConfig {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..KubernetesConfig::default()
        };
        let err = KubernetesDriver::new(&cfg).await.unwrap_err();
        assert!(err.to_string().contains("/nonexistent/kubeconfig"), "{err}");
    }
}
