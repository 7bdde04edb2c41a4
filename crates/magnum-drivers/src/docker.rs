//! The docker driver (COE `swarm`): bays made of Docker Engine hosts, through bollard.
//!
//! The operator lists Engine endpoints in `[docker] hosts` ([`DockerConfig`]). A bay claims
//! `node_count` of them, and the claim lives in the Engine itself: a volume named
//! [`CLAIM_VOLUME`] labelled [`BAY_LABEL`]` = <bay uuid>`, [`PROJECT_LABEL`] and
//! [`NODEGROUP_LABEL`]` = <nodegroup name>` (each worker group holds its own hosts). Docker's volume
//! create is idempotent (creating an existing name returns the existing volume unchanged), so
//! claiming is "create with our labels, then read the labels back": the Engine serialises
//! conductors racing for one host and exactly one bay's label wins. No database row or lock is
//! involved, so two conductors can never hand one host to two bays.
//!
//! Every Engine call is bounded by `[docker] api_timeout`; a call that does not answer in time
//! is [`DriverError::Unreachable`], naming the endpoint. Containers are created on a host of their
//! bay with the container's uuid as hostname and labels naming bay, project and container (see
//! [`DockerDriver::create_container`] and the other container operations).

mod access;
pub mod authz;
mod containers;
mod engine;
mod tail;

pub use access::ClientAccess;
pub use engine::EngineStream;

pub use containers::{CONTAINER_LABEL, ContainerSpec, ContainerState, ContainerStatus, NAME_LABEL};

use crate::{
    BAY_LABEL, BayDriver, BayTarget, DEFAULT_WORKER, DriverError, NODEGROUP_LABEL, NodeStatus,
    Observed, ObservedNode, PROJECT_LABEL,
};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
};
use engine::{Engine, Fault, Tls};
use futures_util::future::join_all;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Name of the volume that marks a Docker host as claimed by a bay (labels say which).
pub const CLAIM_VOLUME: &str = "magnum-claim";

/// Rounds of claiming when another bay wins a race for a host, before giving up.
const CLAIM_ROUNDS: u32 = 4;

/// `[docker]` in `magnum.conf`: the Engine pool of the docker driver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DockerConfig {
    /// Engine endpoints, comma-separated: `unix:///var/run/docker.sock`, `tcp://10.0.0.5:2376`.
    /// Empty switches the driver off.
    #[serde(deserialize_with = "magnum_config::comma_list")]
    pub hosts: Vec<String>,
    /// CA certificate that signed the Engines' server certificates (tcp endpoints). With
    /// `tls_cert` and `tls_key`, every `tcp://` endpoint is spoken to over TLS.
    pub tls_cacert: Option<PathBuf>,
    /// Client certificate presented to the Engines (tcp endpoints).
    pub tls_cert: Option<PathBuf>,
    /// Private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Seconds one Engine call may take before the host counts as unreachable.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub api_timeout: u64,
    /// Most bytes of container logs or exec output returned (the last ones are kept).
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub max_log_bytes: usize,
    /// `host:port` (an IP address) the Docker client proxy listens on (specs/0005); unset: no
    /// proxy, and docker bays have no client certificates.
    pub client_proxy_listen: Option<String>,
    /// Host name or address clients reach the proxy at (the bays' `api_address`); default: the
    /// listen address.
    pub client_proxy_public_host: Option<String>,
    /// PEM certificate chain the proxy serves (its names must cover the public host).
    pub client_proxy_cert: Option<PathBuf>,
    /// PKCS#8 (or RSA/SEC1) PEM key of `client_proxy_cert`.
    pub client_proxy_key: Option<PathBuf>,
    /// PEM CA certificate clients verify the proxy with (handed out as the bay's CA).
    pub client_proxy_ca: Option<PathBuf>,
    /// PEM CA certificate that signs bay users' client certificates; only the proxy trusts it
    /// (never the Engines).
    pub client_ca_cert: Option<PathBuf>,
    /// Its PKCS#8 PEM private key.
    pub client_ca_key: Option<PathBuf>,
    /// Days a signed client certificate stays valid.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub client_cert_validity_days: u32,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            hosts: Vec::new(),
            tls_cacert: None,
            tls_cert: None,
            tls_key: None,
            api_timeout: 20,
            max_log_bytes: 1024 * 1024,
            client_proxy_listen: None,
            client_proxy_public_host: None,
            client_proxy_cert: None,
            client_proxy_key: None,
            client_proxy_ca: None,
            client_ca_cert: None,
            client_ca_key: None,
            client_cert_validity_days: 365,
        }
    }
}

/// The docker driver: one bollard client per configured Engine, connected on first use.
/// Cloning is cheap and shares the clients.
#[derive(Debug, Clone)]
pub struct DockerDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: Vec<String>,
    engines: Vec<Engine>,
    max_log_bytes: usize,
}

/// What one host's claim volume says about a bay.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// No claim volume: the host is free.
    Free,
    /// Claimed by the bay asked about, for this nodegroup.
    Ours(String),
    /// Claimed by another bay (or a foreign volume of that name).
    Taken,
}

impl DockerDriver {
    /// Checks `[docker]` and prepares a client per endpoint; nothing is contacted yet, so an
    /// Engine that is down (or a socket that does not exist yet) does not stop start-up.
    ///
    /// Fails with [`DriverError::NotConfigured`] on an empty or malformed `hosts` list, a zero
    /// `api_timeout`, an incomplete `tls_*` triple or an unreadable certificate file.
    pub fn new(config: &DockerConfig) -> Result<DockerDriver, DriverError> {
        if config.hosts.is_empty() {
            return Err(DriverError::NotConfigured(
                "[docker] hosts lists no Docker Engine endpoint.".into(),
            ));
        }
        if config.api_timeout == 0 {
            return Err(DriverError::NotConfigured(
                "[docker] api_timeout must be at least 1 second.".into(),
            ));
        }
        let tls = tls_config(config)?;
        let timeout = Duration::from_secs(config.api_timeout);
        let mut engines: Vec<Engine> = Vec::with_capacity(config.hosts.len());
        for url in &config.hosts {
            if engines.iter().any(|e| e.url() == url) {
                return Err(DriverError::NotConfigured(format!(
                    "[docker] hosts lists {url} twice."
                )));
            }
            engines.push(Engine::new(url, tls.as_ref(), timeout)?);
        }
        Ok(DockerDriver {
            inner: Arc::new(Inner {
                endpoints: config.hosts.clone(),
                engines,
                max_log_bytes: config.max_log_bytes,
            }),
        })
    }

    /// The configured endpoints, in `[docker] hosts` order (the order hosts are claimed in).
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The endpoints whose claim volume names `bay`, in `[docker] hosts` order (hosts that do
    /// not answer are left out).
    pub async fn bay_endpoints(&self, bay: Uuid) -> Vec<String> {
        let claims = self.read_claims(bay).await;
        self.inner
            .engines
            .iter()
            .zip(claims)
            .filter(|(_, c)| matches!(c, Ok(Claim::Ours(_))))
            .map(|(e, _)| e.url().to_owned())
            .collect()
    }

    /// A fresh byte stream to `endpoint` (TLS set up for TLS endpoints), for relaying raw HTTP,
    /// and the `Host` header to send on it. Bounded by `api_timeout`.
    pub async fn dial(
        &self,
        endpoint: &str,
    ) -> Result<(Box<dyn EngineStream>, String), DriverError> {
        self.engine(endpoint)?.dial().await
    }

    /// The engine serving `endpoint`, which must be one of [`DockerDriver::endpoints`].
    fn engine(&self, endpoint: &str) -> Result<&Engine, DriverError> {
        self.inner
            .engines
            .iter()
            .find(|e| e.url() == endpoint)
            .ok_or_else(|| {
                DriverError::NotConfigured(format!(
                    "Docker host {endpoint} is not listed in [docker] hosts."
                ))
            })
    }

    /// Reads the claim of every host at once; `Err` for hosts that did not answer.
    async fn read_claims(&self, bay: Uuid) -> Vec<Result<Claim, DriverError>> {
        join_all(self.inner.engines.iter().map(|e| read_claim(e, bay))).await
    }

    /// Chooses, among `endpoints` (a bay's hosts), the one running the fewest containers;
    /// ties go to the earlier endpoint. Hosts that do not answer are skipped.
    ///
    /// [`DriverError::Unreachable`] when none answers; [`DriverError::Refused`] for an empty list.
    pub async fn least_loaded(&self, endpoints: &[String]) -> Result<String, DriverError> {
        if endpoints.is_empty() {
            return Err(DriverError::Refused(
                "The bay holds no Docker host to run the container on.".into(),
            ));
        }
        let engines = endpoints
            .iter()
            .map(|ep| self.engine(ep))
            .collect::<Result<Vec<_>, _>>()?;
        let loads = join_all(engines.iter().map(|e| async move {
            let docker = e.docker().await?;
            let info = e.run("info", docker.info()).await?;
            Ok::<_, Fault>(info.containers_running.unwrap_or(0))
        }))
        .await;
        let mut best: Option<(i64, &Engine)> = None;
        let mut errors = Vec::new();
        for (engine, load) in engines.iter().zip(loads) {
            match load {
                Ok(n) if best.is_none_or(|(m, _)| n < m) => best = Some((n, engine)),
                Ok(_) => {}
                Err(e) => errors.push(DriverError::from(e).to_string()),
            }
        }
        best.map(|(_, e)| e.url().to_owned()).ok_or_else(|| {
            DriverError::Unreachable(format!(
                "None of the bay's Docker hosts answered: {}",
                errors.join("; ")
            ))
        })
    }

    /// One host held for `nodegroup` as a node: ping for health, info and version for the rest.
    async fn node(engine: &Engine, nodegroup: String) -> ObservedNode {
        let (ping, info, version) = match engine.docker().await {
            Ok(docker) => {
                let (ping, info, version) = tokio::join!(
                    engine.run("ping", docker.ping()),
                    engine.run("info", docker.info()),
                    engine.run("version", docker.version()),
                );
                (ping.is_ok(), info.ok(), version.ok())
            }
            Err(_) => (false, None, None),
        };
        ObservedNode {
            backend_id: engine.url().to_owned(),
            name: info
                .as_ref()
                .and_then(|i| i.name.clone())
                .unwrap_or_else(|| engine.url().to_owned()),
            addresses: vec![engine.url().to_owned()],
            status: if ping {
                NodeStatus::Ready
            } else {
                NodeStatus::Unknown
            },
            nodegroup,
            info: serde_json::json!({
                "server_version": info.as_ref().and_then(|i| i.server_version.clone())
                    .or_else(|| version.as_ref().and_then(|v| v.version.clone())),
                "api_version": version.as_ref().and_then(|v| v.api_version.clone()),
                "operating_system": info.as_ref().and_then(|i| i.operating_system.clone()),
                "ncpu": info.as_ref().and_then(|i| i.ncpu),
                "mem_total": info.as_ref().and_then(|i| i.mem_total),
                "containers_running": info.as_ref().and_then(|i| i.containers_running),
            }),
        }
    }
}

/// The TLS triple, all three or none (empty values count as unset).
fn tls_config(config: &DockerConfig) -> Result<Option<Tls>, DriverError> {
    let set = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    match (
        set(&config.tls_cacert),
        set(&config.tls_cert),
        set(&config.tls_key),
    ) {
        (None, None, None) => Ok(None),
        (Some(ca), Some(cert), Some(key)) => {
            for (option, path) in [("tls_cacert", &ca), ("tls_cert", &cert), ("tls_key", &key)] {
                std::fs::metadata(path).map_err(|e| {
                    DriverError::NotConfigured(format!("[docker] {option} {}: {e}", path.display()))
                })?;
            }
            // bollard builds its rustls config from the process-wide provider; ring is the one
            // compiled in. Installing fails harmlessly when another part of the process did first.
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _already = rustls::crypto::ring::default_provider().install_default();
            }
            Ok(Some(Tls { ca, cert, key }))
        }
        _ => Err(DriverError::NotConfigured(
            "[docker] tls_cacert, tls_cert and tls_key must be set together.".into(),
        )),
    }
}

/// What `engine`'s claim volume says about `bay`.
async fn read_claim(engine: &Engine, bay: Uuid) -> Result<Claim, DriverError> {
    let docker = engine.docker().await?;
    match engine
        .run("claim inspection", docker.inspect_volume(CLAIM_VOLUME))
        .await
    {
        Ok(volume) => Ok(claim_of(&volume.labels, bay)),
        Err(Fault::NotFound(_)) => Ok(Claim::Free),
        Err(e) => Err(e.into()),
    }
}

fn claim_of(labels: &HashMap<String, String>, bay: Uuid) -> Claim {
    if labels.get(BAY_LABEL).is_some_and(|b| *b == bay.to_string()) {
        Claim::Ours(
            labels
                .get(NODEGROUP_LABEL)
                .cloned()
                .unwrap_or_else(|| DEFAULT_WORKER.to_owned()),
        )
    } else {
        Claim::Taken
    }
}

/// Creates the claim volume with the bay's labels and `group`, and reads back whose it is:
/// `true` when the host is now the bay's (also when it already was).
async fn claim(engine: &Engine, bay: &BayTarget, group: &str) -> Result<bool, DriverError> {
    let docker = engine.docker().await?;
    let labels = HashMap::from([
        (BAY_LABEL.to_owned(), bay.uuid.to_string()),
        (PROJECT_LABEL.to_owned(), bay.project_id.clone()),
        (NODEGROUP_LABEL.to_owned(), group.to_owned()),
    ]);
    let request = VolumeCreateRequest {
        name: Some(CLAIM_VOLUME.to_owned()),
        labels: Some(labels),
        ..Default::default()
    };
    let volume = engine
        .run("claim creation", docker.create_volume(request))
        .await?;
    Ok(matches!(claim_of(&volume.labels, bay.uuid), Claim::Ours(_)))
}

/// Gives a host back: removes the bay's containers on it (forced), then the claim volume if the
/// bay holds it. Succeeds when nothing of the bay is left there.
async fn release(engine: &Engine, bay: Uuid) -> Result<(), DriverError> {
    let docker = engine.docker().await?;
    let filters = HashMap::from([("label", vec![format!("{BAY_LABEL}={bay}")])]);
    let list = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = engine
        .run("container list", docker.list_containers(Some(list)))
        .await?;
    for id in containers.into_iter().filter_map(|c| c.id) {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match engine
            .run(
                "container removal",
                docker.remove_container(&id, Some(options)),
            )
            .await
        {
            Ok(()) | Err(Fault::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if matches!(read_claim(engine, bay).await?, Claim::Ours(_)) {
        match engine
            .run(
                "claim removal",
                docker.remove_volume(CLAIM_VOLUME, None::<RemoveVolumeOptions>),
            )
            .await
        {
            Ok(()) | Err(Fault::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(bay.uuid = %bay, endpoint = engine.url(), "released Docker host");
    }
    Ok(())
}

/// A pause before claiming again after losing a race: growing with the round, randomised so that
/// two conductors racing for the same hosts fall out of step.
fn backoff(round: u32) -> Duration {
    Duration::from_millis(100 * u64::from(round + 1) + rand::random_range(0..150))
}

impl BayDriver for DockerDriver {
    /// Claims or releases hosts until each worker group holds exactly its count.
    ///
    /// Hosts named in `nodes_to_remove`, hosts of groups no longer wanted, then the last held
    /// ones of a group beyond its count are released first; free answering hosts are then
    /// claimed in `[docker] hosts` order, group after group (unreachable hosts are skipped).
    /// When another bay wins a host this call was claiming, the call gives back what it claimed,
    /// waits a little and tries again, so that of two bays racing for the same hosts one gets
    /// them all. Too few free hosts is [`DriverError::Insufficient`] with this call's claims
    /// released again.
    async fn ensure(&self, bay: &BayTarget) -> Result<Observed, DriverError> {
        let groups = bay.all_groups();
        let wanted = |count: u32| usize::try_from(count).unwrap_or(usize::MAX);
        let engines = &self.inner.engines;
        let to_remove = |e: &Engine| bay.nodes_to_remove.iter().any(|n| n == e.url());
        let mut failure = None;
        for round in 0..CLAIM_ROUNDS {
            let claims = self.read_claims(bay.uuid).await;
            let mut keep: HashMap<&str, Vec<&Engine>> = HashMap::new();
            let mut drop: Vec<&Engine> = Vec::new();
            for (engine, claim) in engines.iter().zip(&claims) {
                let Ok(Claim::Ours(group)) = claim else {
                    continue;
                };
                match groups.iter().find(|g| g.name == *group) {
                    Some(g) if !to_remove(engine) => {
                        keep.entry(g.name.as_str()).or_default().push(engine);
                    }
                    _ => drop.push(engine),
                }
            }
            for group in &groups {
                let held = keep.entry(group.name.as_str()).or_default();
                while held.len() > wanted(group.node_count) {
                    drop.extend(held.pop());
                }
            }
            for engine in drop {
                release(engine, bay.uuid).await?;
            }
            let mut free = engines
                .iter()
                .zip(&claims)
                .filter(|(e, c)| matches!(c, Ok(Claim::Free)) && !to_remove(e))
                .map(|(e, _)| e);
            let mut claimed: Vec<&Engine> = Vec::new();
            let mut attempted: Vec<&Engine> = Vec::new();
            let mut lost_race = false;
            failure = None;
            'groups: for group in &groups {
                let have = keep.get(group.name.as_str()).map_or(0, Vec::len);
                let mut got = 0;
                while have + got < wanted(group.node_count) {
                    let Some(engine) = free.next() else {
                        failure = Some(bay.insufficient(
                            "Docker hosts",
                            &group.name,
                            wanted(group.node_count),
                            have + got,
                        ));
                        break 'groups;
                    };
                    match claim(engine, bay, &group.name).await {
                        Ok(true) => {
                            tracing::info!(bay.uuid = %bay.uuid, endpoint = engine.url(), nodegroup = %group.name, "claimed Docker host");
                            claimed.push(engine);
                            got += 1;
                        }
                        Ok(false) => {
                            lost_race = true;
                            break 'groups;
                        }
                        Err(e) => {
                            // The claim may have landed before the error: roll it back with the rest.
                            tracing::warn!(bay.uuid = %bay.uuid, endpoint = engine.url(), error = %e, "claiming a Docker host failed");
                            attempted.push(engine);
                        }
                    }
                }
            }
            if failure.is_none() && !lost_race {
                for engine in attempted {
                    if let Err(e) = release(engine, bay.uuid).await {
                        tracing::warn!(bay.uuid = %bay.uuid, endpoint = engine.url(), error = %e, "releasing a Docker host whose claim failed failed; a later ensure releases it");
                    }
                }
                return self.observe(bay).await;
            }
            for engine in claimed.into_iter().chain(attempted) {
                if let Err(e) = release(engine, bay.uuid).await {
                    tracing::warn!(bay.uuid = %bay.uuid, endpoint = engine.url(), error = %e, "releasing a Docker host claimed by a failed ensure failed");
                }
            }
            if !lost_race {
                break;
            }
            tokio::time::sleep(backoff(round)).await;
        }
        Err(failure.unwrap_or_else(|| {
            DriverError::Insufficient(
                "Not enough free Docker hosts: other bays kept winning the hosts this bay was claiming.".into(),
            )
        }))
    }

    /// The hosts holding the bay's claim, as nodes. Hosts whose claim cannot be read are left
    /// out (nothing says they are the bay's); a held host that stops answering is `Unknown`.
    async fn observe(&self, bay: &BayTarget) -> Result<Observed, DriverError> {
        let claims = self.read_claims(bay.uuid).await;
        let held = self
            .inner
            .engines
            .iter()
            .zip(claims)
            .filter_map(|(e, c)| match c {
                Ok(Claim::Ours(group)) => Some(DockerDriver::node(e, group)),
                _ => None,
            });
        let nodes = join_all(held).await;
        let version = nodes
            .iter()
            .find_map(|n| n.info["server_version"].as_str().map(str::to_owned));
        Ok(Observed {
            exists: !nodes.is_empty(),
            api_address: nodes.first().map(|n| n.backend_id.clone()),
            coe_version: version.clone(),
            container_version: version,
            nodes,
        })
    }

    /// Releases every host: removes the bay's containers (forced) and its claim volume on each.
    /// A host that does not answer may still hold the bay's claim, so it makes the call fail
    /// with [`DriverError::Unreachable`] (the conductor retries); an operator retiring a dead
    /// host for good removes it from `[docker] hosts`.
    async fn delete(&self, bay: &BayTarget) -> Result<(), DriverError> {
        let results = join_all(self.inner.engines.iter().map(|e| release(e, bay.uuid))).await;
        let errors: Vec<DriverError> = results.into_iter().filter_map(Result::err).collect();
        match errors.first() {
            None => Ok(()),
            Some(first) => {
                let message = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(match first {
                    DriverError::Unreachable(_) => DriverError::Unreachable(message),
                    _ => DriverError::Refused(message),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_section_reads_lists_and_numbers_as_text() {
        #[derive(Deserialize)]
        struct File {
            docker: DockerConfig,
        }
        let file: File = magnum_config::parse_str(
            "[docker]\nhosts = unix:///var/run/docker.sock, tcp://10.0.0.5:2376\napi_timeout = 5\nmax_log_bytes = 2048\n",
        )
        .unwrap();
        assert_eq!(
            file.docker,
            DockerConfig {
                hosts: vec![
                    "unix:///var/run/docker.sock".into(),
                    "tcp://10.0.0.5:2376".into()
                ],
                api_timeout: 5,
                max_log_bytes: 2048,
                ..DockerConfig::default()
            }
        );
        let empty: File = magnum_config::parse_str("[docker]\n").unwrap();
        assert_eq!(empty.docker, DockerConfig::default());
        assert_eq!(
            (empty.docker.api_timeout, empty.docker.max_log_bytes),
            (20, 1_048_576)
        );
    }

    #[test]
    fn bad_configurations_are_refused_at_start_up() {
        let with = |hosts: &[&str]| DockerConfig {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..DockerConfig::default()
        };
        for bad in [
            with(&[]),
            with(&["http://host:2375"]),
            with(&["tcp://host"]),
            with(&["tcp://host:2375/"]),
            with(&["unix://relative.sock"]),
            with(&["unix:///a.sock", "unix:///a.sock"]),
            DockerConfig {
                tls_cacert: Some("/nonexistent/ca.pem".into()),
                ..with(&["tcp://127.0.0.1:2376"])
            },
            DockerConfig {
                tls_cacert: Some("/nonexistent/ca.pem".into()),
                tls_cert: Some("/nonexistent/cert.pem".into()),
                tls_key: Some("/nonexistent/key.pem".into()),
                ..with(&["tcp://127.0.0.1:2376"])
            },
            DockerConfig {
                api_timeout: 0,
                ..with(&["unix:///a.sock"])
            },
        ] {
            let err = DockerDriver::new(&bad).unwrap_err();
            assert!(
                matches!(err, DriverError::NotConfigured(_)),
                "{bad:?}: {err:?}"
            );
        }
        // A socket that does not exist yet is fine: clients connect on first use.
        let ok =
            DockerDriver::new(&with(&["unix:///nonexistent.sock", "tcp://127.0.0.1:1"])).unwrap();
        assert_eq!(
            ok.endpoints(),
            ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"]
        );
    }

    #[test]
    fn a_claim_is_ours_only_with_our_bay_label() {
        let bay = Uuid::new_v4();
        let ours = HashMap::from([(BAY_LABEL.to_owned(), bay.to_string())]);
        let theirs = HashMap::from([(BAY_LABEL.to_owned(), Uuid::new_v4().to_string())]);
        assert_eq!(claim_of(&ours, bay), Claim::Ours(DEFAULT_WORKER.into()));
        let grouped = HashMap::from([
            (BAY_LABEL.to_owned(), bay.to_string()),
            (NODEGROUP_LABEL.to_owned(), "gpu".to_owned()),
        ]);
        assert_eq!(claim_of(&grouped, bay), Claim::Ours("gpu".into()));
        assert_eq!(claim_of(&theirs, bay), Claim::Taken);
        assert_eq!(claim_of(&HashMap::new(), bay), Claim::Taken);
    }
}
