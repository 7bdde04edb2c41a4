//! The bay drivers this conductor runs, chosen per bay by its baymodel's COE.

use crate::config::ConductorConfig;
use magnum_core::baymodel::Coe;
use magnum_drivers::docker::{ClientAccess, DockerDriver};
use magnum_drivers::kubernetes::KubernetesDriver;
use magnum_drivers::{BayDriver, BayTarget, DriverError, Observed};
use std::sync::Arc;

/// Configured drivers; a driver without configuration is absent.
#[derive(Debug, Default)]
pub(crate) struct Backends {
    docker: Option<DockerDriver>,
    /// The Docker client proxy's settings, when `[docker] client_proxy_listen` is set.
    docker_access: Option<Arc<ClientAccess>>,
    kubernetes: Option<KubernetesDriver>,
}

/// One driver, for one bay.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend<'a> {
    /// COE `swarm`.
    Docker(&'a DockerDriver),
    /// COE `kubernetes`.
    Kubernetes(&'a KubernetesDriver),
}

impl Backends {
    /// Builds the drivers `[docker]` and `[kubernetes]` configure.
    pub(crate) async fn new(cfg: &ConductorConfig) -> anyhow::Result<Self> {
        let docker = if cfg.docker.hosts.is_empty() {
            None
        } else {
            Some(DockerDriver::new(&cfg.docker)?)
        };
        let docker_access = cfg.docker.client_access()?.map(Arc::new);
        if docker_access.is_some() && docker.is_none() {
            anyhow::bail!("[docker] client_proxy_listen is set but [docker] hosts is empty.");
        }
        let k8s = &cfg.kubernetes;
        let kubernetes = if k8s.kubeconfig.is_none() && !k8s.in_cluster {
            None
        } else {
            Some(KubernetesDriver::new(k8s).await?)
        };
        if docker.is_none() && kubernetes.is_none() {
            tracing::warn!(
                "no bay driver is configured ([docker] hosts, [kubernetes] kubeconfig): bays cannot be created"
            );
        }
        Ok(Backends {
            docker,
            docker_access,
            kubernetes,
        })
    }

    /// The docker driver, if configured (containers need it).
    pub(crate) fn docker(&self) -> Option<&DockerDriver> {
        self.docker.as_ref()
    }

    /// The Docker client proxy's settings, if it is on.
    pub(crate) fn docker_access(&self) -> Option<&Arc<ClientAccess>> {
        self.docker_access.as_ref()
    }

    /// The kubernetes driver, if configured (pods, services and RCs need it).
    pub(crate) fn kubernetes(&self) -> Option<&KubernetesDriver> {
        self.kubernetes.as_ref()
    }

    /// The driver for bays of `coe`, or why there is none.
    pub(crate) fn for_coe(&self, coe: Coe) -> Result<Backend<'_>, DriverError> {
        match (coe, &self.docker, &self.kubernetes) {
            (Coe::Swarm, Some(docker), _) => Ok(Backend::Docker(docker)),
            (Coe::Kubernetes, _, Some(kubernetes)) => Ok(Backend::Kubernetes(kubernetes)),
            (Coe::Mesos, _, _) => Err(DriverError::NotConfigured(
                "No driver serves mesos bays.".into(),
            )),
            (coe, _, _) => Err(DriverError::NotConfigured(format!(
                "The {} driver is not configured on this conductor.",
                coe.driver().unwrap_or("?")
            ))),
        }
    }
}

impl Backend<'_> {
    /// The `type` of the nodes this driver mirrors.
    pub(crate) fn node_type(self) -> &'static str {
        match self {
            Backend::Docker(_) => "docker",
            Backend::Kubernetes(_) => "kubernetes",
        }
    }

    /// The backend handle shown as `stack_id`.
    pub(crate) fn stack_id(self, bay: &BayTarget, seen: &Observed) -> Option<String> {
        match self {
            Backend::Docker(_) => Some(
                seen.nodes
                    .iter()
                    .map(|n| n.backend_id.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Backend::Kubernetes(_) => Some(magnum_drivers::kubernetes::namespace(&bay.uuid)),
        }
    }

    /// [`BayDriver::ensure`].
    pub(crate) async fn ensure(self, bay: &BayTarget) -> Result<Observed, DriverError> {
        match self {
            Backend::Docker(d) => d.ensure(bay).await,
            Backend::Kubernetes(k) => k.ensure(bay).await,
        }
    }

    /// [`BayDriver::observe`].
    pub(crate) async fn observe(self, bay: &BayTarget) -> Result<Observed, DriverError> {
        match self {
            Backend::Docker(d) => d.observe(bay).await,
            Backend::Kubernetes(k) => k.observe(bay).await,
        }
    }

    /// [`BayDriver::delete`].
    pub(crate) async fn delete(self, bay: &BayTarget) -> Result<(), DriverError> {
        match self {
            Backend::Docker(d) => d.delete(bay).await,
            Backend::Kubernetes(k) => k.delete(bay).await,
        }
    }
}
