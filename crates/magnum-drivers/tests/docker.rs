//! The docker driver against the two real Docker Engines of the test machine
//! (`MAGNUM_TEST_DOCKER_HOST`, `MAGNUM_TEST_DOCKER_HOST2`; `scripts/lib/services.sh` starts them).
//!
//! Claim tests assume both Engines are free of `magnum-claim` volumes: this binary runs in the
//! nextest `dockerd` test group, one test at a time. Every test uses fresh bay uuids and deletes
//! its bays on the way out, also when it fails.

use bollard::Docker;
use magnum_drivers::docker::{
    CLAIM_VOLUME, CONTAINER_LABEL, ContainerSpec, ContainerStatus, DockerConfig, DockerDriver,
};
use magnum_drivers::{
    BAY_LABEL, BayDriver, BayTarget, DEFAULT_WORKER, DriverError, GroupTarget, NODEGROUP_LABEL,
    NodeStatus, PROJECT_LABEL,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

const IMAGE: &str = "magnum-test/busybox:latest";
const PROJECT: &str = "docker-driver-tests";

/// The two Engine endpoints.
fn engines() -> (String, String) {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    (
        var("MAGNUM_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"),
        var(
            "MAGNUM_TEST_DOCKER_HOST2",
            "unix:///var/run/magnum-docker2.sock",
        ),
    )
}

fn config(hosts: &[&str]) -> DockerConfig {
    DockerConfig {
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        // Generous: on a loaded two-core machine an Engine can take seconds to start a
        // container. Tests of unanswering Engines set their own short limit.
        api_timeout: 30,
        ..DockerConfig::default()
    }
}

fn bay(node_count: u32) -> BayTarget {
    BayTarget {
        uuid: Uuid::new_v4(),
        project_id: PROJECT.into(),
        name: "docker-test-bay".into(),
        node_count,
        labels: BTreeMap::new(),
        nodes_to_remove: Vec::new(),
        groups: vec![],
    }
}

fn held(seen: &magnum_drivers::Observed) -> Vec<&str> {
    seen.nodes.iter().map(|n| n.backend_id.as_str()).collect()
}

/// Deletes the bays on drop (also when the test panics), from a thread of its own since drop
/// cannot await.
struct Cleanup {
    config: DockerConfig,
    bays: Vec<BayTarget>,
}

impl Cleanup {
    fn new(bays: &[&BayTarget]) -> Cleanup {
        let (one, two) = engines();
        Cleanup {
            config: config(&[&one, &two]),
            bays: bays.iter().map(|b| (*b).clone()).collect(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let config = self.config.clone();
        let bays = std::mem::take(&mut self.bays);
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(async {
                let driver = DockerDriver::new(&config).expect("driver for cleanup");
                for bay in &bays {
                    if let Err(e) = driver.delete(bay).await {
                        eprintln!("cleanup of bay {} failed: {e}", bay.uuid);
                    }
                }
            });
        })
        .join();
        if done.is_err() {
            eprintln!("cleanup thread panicked");
        }
    }
}

/// A raw bollard client, to check what the driver left in an Engine.
async fn raw(endpoint: &str) -> Docker {
    Docker::connect_with_unix(endpoint, 10, bollard::API_DEFAULT_VERSION)
        .expect("a client for the test Engine")
        .negotiate_version()
        .await
        .expect("the test Engine answers")
}

/// Which bay's label the claim volume of `endpoint` carries, if there is one.
async fn claim_holder(endpoint: &str) -> Option<String> {
    match raw(endpoint).await.inspect_volume(CLAIM_VOLUME).await {
        Ok(volume) => Some(volume.labels.get(BAY_LABEL).cloned().unwrap_or_default()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => None,
        Err(e) => panic!("inspecting the claim on {endpoint}: {e}"),
    }
}

/// The claim tests need both Engines free; say so plainly when they are not.
async fn assert_pool_free() {
    let (one, two) = engines();
    for endpoint in [one, two] {
        if let Some(holder) = claim_holder(&endpoint).await {
            panic!(
                "{endpoint} is claimed by bay {holder}: these tests need both Engines free \
                 (a crashed earlier run? remove the {CLAIM_VOLUME} volume)"
            );
        }
    }
}

fn spec(bay: &BayTarget, command: &[&str]) -> ContainerSpec {
    let uuid = Uuid::new_v4();
    ContainerSpec {
        uuid,
        name: format!("container-{}", &uuid.simple().to_string()[..8]),
        image: IMAGE.into(),
        command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        memory: Some(64 * 1024 * 1024),
        environment: BTreeMap::from([("GREETING".to_owned(), "hello".to_owned())]),
        bay_uuid: bay.uuid,
        project_id: bay.project_id.clone(),
    }
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bay_claims_scales_and_releases_hosts() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let mut target = bay(1);
    let _cleanup = Cleanup::new(&[&target]);

    let seen = driver.ensure(&target).await.unwrap();
    assert!(seen.exists);
    assert_eq!(held(&seen), [one.as_str()]);
    let node = &seen.nodes[0];
    assert_eq!(node.status, NodeStatus::Ready);
    assert_eq!(node.addresses, [one.as_str()]);
    assert!(!node.name.is_empty());
    for key in [
        "server_version",
        "api_version",
        "operating_system",
        "ncpu",
        "mem_total",
        "containers_running",
    ] {
        assert!(!node.info[key].is_null(), "info lacks {key}: {}", node.info);
    }
    assert_eq!(seen.api_address.as_deref(), Some(one.as_str()));
    assert_eq!(
        seen.coe_version.as_deref(),
        node.info["server_version"].as_str()
    );
    assert_eq!(driver.observe(&target).await.unwrap(), seen);
    assert_eq!(claim_holder(&one).await, Some(target.uuid.to_string()));
    let volume = raw(&one).await.inspect_volume(CLAIM_VOLUME).await.unwrap();
    assert_eq!(
        volume.labels.get(PROJECT_LABEL).map(String::as_str),
        Some(PROJECT)
    );

    target.node_count = 2;
    let seen = driver.ensure(&target).await.unwrap();
    assert_eq!(held(&seen), [one.as_str(), two.as_str()]);
    assert!(seen.nodes.iter().all(|n| n.status == NodeStatus::Ready));

    // A container of the bay on the host being released goes with it.
    let doomed = spec(&target, &["sleep", "600"]);
    driver.create_container(&one, &doomed).await.unwrap();
    target.node_count = 1;
    target.nodes_to_remove = vec![one.clone()];
    let seen = driver.ensure(&target).await.unwrap();
    assert_eq!(held(&seen), [two.as_str()]);
    assert_eq!(seen.api_address.as_deref(), Some(two.as_str()));
    assert_eq!(claim_holder(&one).await, None);
    assert_eq!(
        driver.find_container(&one, doomed.uuid).await.unwrap(),
        None
    );

    driver.delete(&target).await.unwrap();
    let seen = driver.observe(&target).await.unwrap();
    assert!(!seen.exists);
    assert!(seen.nodes.is_empty() && seen.api_address.is_none());
    assert_eq!(
        (claim_holder(&one).await, claim_holder(&two).await),
        (None, None)
    );
    // Deleting what is gone succeeds.
    driver.delete(&target).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_without_names_releases_the_last_hosts() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let mut target = bay(2);
    let _cleanup = Cleanup::new(&[&target]);
    driver.ensure(&target).await.unwrap();
    target.node_count = 1;
    let seen = driver.ensure(&target).await.unwrap();
    assert_eq!(held(&seen), [one.as_str()]);
    target.node_count = 0;
    let seen = driver.ensure(&target).await.unwrap();
    assert!(!seen.exists);
    assert_eq!(
        (claim_holder(&one).await, claim_holder(&two).await),
        (None, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_free_hosts_is_insufficient_and_leaves_nothing_claimed() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let greedy = bay(3);
    let small = bay(1);
    let wants_two = bay(2);
    let _cleanup = Cleanup::new(&[&greedy, &small, &wants_two]);

    let err = driver.ensure(&greedy).await.unwrap_err();
    assert_eq!(
        err,
        DriverError::Insufficient("Not enough free Docker hosts: 3 requested, 2 available.".into())
    );
    assert!(!driver.observe(&greedy).await.unwrap().exists);
    assert_eq!(
        (claim_holder(&one).await, claim_holder(&two).await),
        (None, None)
    );

    // A host held by another bay is not free; that bay keeps it.
    driver.ensure(&small).await.unwrap();
    let err = driver.ensure(&wants_two).await.unwrap_err();
    assert_eq!(
        err,
        DriverError::Insufficient("Not enough free Docker hosts: 2 requested, 1 available.".into())
    );
    assert_eq!(claim_holder(&one).await, Some(small.uuid.to_string()));
    assert_eq!(claim_holder(&two).await, None);
    assert_eq!(held(&driver.observe(&small).await.unwrap()), [one.as_str()]);
    assert!(!driver.observe(&wants_two).await.unwrap().exists);
    // Nor can a bay run containers on a host it does not hold.
    let intruder = spec(&wants_two, &["true"]);
    let err = driver.create_container(&one, &intruder).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Refused(m) if m.contains("is not a host of bay")),
        "{err:?}"
    );
    assert_eq!(
        driver.find_container(&one, intruder.uuid).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_bays_racing_for_the_same_hosts_cannot_share_one() {
    assert_pool_free().await;
    let (one, two) = engines();
    // Two conductors, each with its own clients.
    let first = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let second = DockerDriver::new(&config(&[&one, &two])).unwrap();
    for round in 0..3 {
        let (a, b) = (bay(2), bay(2));
        let _cleanup = Cleanup::new(&[&a, &b]);
        let (ra, rb) = tokio::join!(first.ensure(&a), second.ensure(&b));
        let (winner, loser, lost) = match (&ra, &rb) {
            (Ok(_), Err(e)) => (&a, &b, e),
            (Err(e), Ok(_)) => (&b, &a, e),
            _ => panic!("round {round}: exactly one bay must get both hosts: {ra:?} / {rb:?}"),
        };
        assert!(
            matches!(lost, DriverError::Insufficient(m) if m.starts_with("Not enough free Docker hosts: 2 requested")),
            "{lost:?}"
        );
        assert_eq!(
            held(&first.observe(winner).await.unwrap()),
            [one.as_str(), two.as_str()]
        );
        assert!(!first.observe(loser).await.unwrap().exists);
        first.delete(winner).await.unwrap();
        second.delete(loser).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_is_idempotent_across_conductors() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let other_conductor = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let target = bay(2);
    let _cleanup = Cleanup::new(&[&target]);
    let shape = |seen: &magnum_drivers::Observed| {
        (
            seen.exists,
            seen.api_address.clone(),
            seen.coe_version.clone(),
            seen.nodes
                .iter()
                .map(|n| (n.backend_id.clone(), n.name.clone(), n.status))
                .collect::<Vec<_>>(),
        )
    };
    let first = driver.ensure(&target).await.unwrap();
    let again = driver.ensure(&target).await.unwrap();
    let elsewhere = other_conductor.ensure(&target).await.unwrap();
    assert_eq!(shape(&first), shape(&again));
    assert_eq!(shape(&first), shape(&elsewhere));
    assert_eq!(held(&first), [one.as_str(), two.as_str()]);
    driver.delete(&target).await.unwrap();
    other_conductor.delete(&target).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hosts_are_skipped_and_reported_quickly() {
    assert_pool_free().await;
    let (one, two) = engines();
    // Accepts connections and never answers: only the api_timeout bound ends a call to it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("tcp://{}", silent.local_addr().unwrap());
    let bogus = [
        "unix:///nonexistent.sock",
        "tcp://127.0.0.1:1",
        silent_url.as_str(),
    ];
    let pool = DockerDriver::new(&DockerConfig {
        api_timeout: 1,
        ..config(&[bogus[0], bogus[1], bogus[2], &one])
    })
    .unwrap();
    let target = bay(1);
    let _cleanup = Cleanup::new(&[&target]);

    let started = Instant::now();
    let seen = pool.ensure(&target).await.unwrap();
    assert_eq!(held(&seen), [one.as_str()]);
    let err = pool
        .ensure(&BayTarget {
            node_count: 2,
            ..target.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DriverError::Insufficient("Not enough free Docker hosts: 2 requested, 1 available.".into())
    );
    assert_eq!(held(&pool.observe(&target).await.unwrap()), [one.as_str()]);
    assert_eq!(claim_holder(&two).await, None);

    // Deleting cannot vouch for hosts that do not answer: Unreachable (retried by the
    // conductor), naming them; what answers is released all the same.
    let err = pool.delete(&target).await.unwrap_err();
    let DriverError::Unreachable(message) = &err else {
        panic!("{err:?}")
    };
    for host in bogus {
        assert!(message.contains(host), "{message}");
    }
    assert!(message.contains("within 1 s"), "{message}");
    assert_eq!(claim_holder(&one).await, None);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // Only dead hosts: observing is fine, container calls fail fast.
    let dead = DockerDriver::new(&DockerConfig {
        api_timeout: 1,
        ..config(&bogus)
    })
    .unwrap();
    let started = Instant::now();
    let seen = dead.observe(&target).await.unwrap();
    assert!(!seen.exists && seen.nodes.is_empty());
    for host in bogus {
        assert_eq!(
            dead.status(host, Uuid::new_v4()).await,
            ContainerStatus::Unknown
        );
        let err = dead
            .create_container(host, &spec(&target, &["true"]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DriverError::Unreachable(ref m) if m.contains(host)),
            "{err:?}"
        );
    }
    let err = dead.least_loaded(&argv(&bogus)).await.unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
    let err = dead.start(&one, Uuid::new_v4()).await.unwrap_err();
    assert!(matches!(err, DriverError::NotConfigured(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_goes_through_its_lifecycle() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let target = bay(1);
    let _cleanup = Cleanup::new(&[&target]);
    let seen = driver.ensure(&target).await.unwrap();
    let host = driver
        .least_loaded(
            &seen
                .nodes
                .iter()
                .map(|n| n.backend_id.clone())
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(host, one);

    // Each run prints ~3 MB, then END-<run>, then records the run number in /done.
    let script = "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; \
                  yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy \
                  | head -c 3000000; echo; echo END-$n; echo $n > /done; exec sleep 600";
    let container = spec(&target, &["sh", "-c", script]);
    let id = driver.create_container(&host, &container).await.unwrap();
    assert_eq!(
        driver.create_container(&host, &container).await.unwrap(),
        id,
        "a repeated create adopts the container"
    );
    let state = driver
        .find_container(&host, container.uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (state.id.as_str(), state.status),
        (id.as_str(), ContainerStatus::Stopped)
    );
    assert_eq!(state.engine_state, "created");
    let inspected = raw(&host).await.inspect_container(&id, None).await.unwrap();
    let config = inspected.config.unwrap();
    assert_eq!(
        config.hostname.as_deref(),
        Some(container.uuid.to_string().as_str())
    );
    let labels = config.labels.unwrap();
    assert_eq!(labels[BAY_LABEL], target.uuid.to_string());
    assert_eq!(labels[PROJECT_LABEL], PROJECT);
    assert_eq!(labels[CONTAINER_LABEL], container.uuid.to_string());
    assert!(config.env.unwrap().contains(&"GREETING=hello".to_owned()));
    let host_config = inspected.host_config.unwrap();
    assert_eq!(host_config.network_mode.as_deref(), Some("none"));
    assert_eq!(host_config.memory, Some(64 * 1024 * 1024));

    driver.start(&host, container.uuid).await.unwrap();
    driver.start(&host, container.uuid).await.unwrap();
    assert_eq!(
        driver.status(&host, container.uuid).await,
        ContainerStatus::Running
    );
    driver.pause(&host, container.uuid).await.unwrap();
    assert_eq!(
        driver.status(&host, container.uuid).await,
        ContainerStatus::Paused
    );
    driver.pause(&host, container.uuid).await.unwrap();
    driver.unpause(&host, container.uuid).await.unwrap();
    assert_eq!(
        driver.status(&host, container.uuid).await,
        ContainerStatus::Running
    );
    driver.unpause(&host, container.uuid).await.unwrap();
    driver
        .restart(&host, container.uuid, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        driver.status(&host, container.uuid).await,
        ContainerStatus::Running
    );

    // Wait for the second run to finish its output.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (out, code) = driver
            .exec(&host, container.uuid, &argv(&["cat", "/done"]))
            .await
            .unwrap();
        if code == 0 && out == "2\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second run never finished: {out:?} {code}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The Engine copies output to its log asynchronously: wait for the last line to land.
    loop {
        let last = driver.logs(&host, container.uuid, Some(1)).await.unwrap();
        if last == "END-2\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "END-2 never reached the log: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = driver.logs(&host, container.uuid, None).await.unwrap();
    let max = DockerConfig::default().max_log_bytes;
    assert!(
        logs.len() <= max && logs.len() > max - 100,
        "{} bytes of logs",
        logs.len()
    );
    assert!(
        logs.ends_with("\nEND-2\n"),
        "{:?}",
        &logs[logs.len() - 100..]
    );

    let (output, code) = driver
        .exec(
            &host,
            container.uuid,
            &argv(&["sh", "-c", "echo hi; echo oops >&2; echo $GREETING; exit 3"]),
        )
        .await
        .unwrap();
    assert_eq!(code, 3);
    for line in ["hi\n", "oops\n", "hello\n"] {
        assert!(output.contains(line), "{output:?}");
    }

    driver
        .stop(&host, container.uuid, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        driver.status(&host, container.uuid).await,
        ContainerStatus::Stopped
    );
    driver
        .stop(&host, container.uuid, Duration::from_secs(1))
        .await
        .unwrap();
    let err = driver.pause(&host, container.uuid).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Refused(m) if m.contains("is not running")),
        "{err:?}"
    );
    let err = driver
        .exec(&host, container.uuid, &argv(&["true"]))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Refused(_)), "{err:?}");

    driver.remove(&host, container.uuid, false).await.unwrap();
    assert_eq!(
        driver.find_container(&host, container.uuid).await.unwrap(),
        None
    );
    assert_eq!(
        driver.status(&host, container.uuid).await,
        ContainerStatus::Error
    );
    driver.remove(&host, container.uuid, true).await.unwrap();
    let err = driver.start(&host, container.uuid).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Refused(m) if m.contains("does not exist")),
        "{err:?}"
    );
    driver.delete(&target).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_refused_quickly_with_its_name() {
    assert_pool_free().await;
    let (one, _) = engines();
    let driver = DockerDriver::new(&config(&[&one])).unwrap();
    let target = bay(1);
    let _cleanup = Cleanup::new(&[&target]);
    driver.ensure(&target).await.unwrap();
    let mut container = spec(&target, &["true"]);
    container.image = format!("magnum-test/absent-{}:latest", container.uuid.simple());
    let started = Instant::now();
    let err = driver.create_container(&one, &container).await.unwrap_err();
    let DriverError::Refused(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.starts_with(&format!(
            "Image {} could not be found or pulled: ",
            container.image
        )),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        driver.find_container(&one, container.uuid).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_containers_go_to_the_least_loaded_host() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let target = bay(2);
    let _cleanup = Cleanup::new(&[&target]);
    driver.ensure(&target).await.unwrap();
    let hosts = vec![one.clone(), two.clone()];
    let running = |info: bollard::models::SystemInfo| info.containers_running.unwrap_or(0);
    let on_one = running(raw(&one).await.info().await.unwrap());
    let on_two = running(raw(&two).await.info().await.unwrap());
    // Load the first host beyond the second, then the second must be chosen.
    for _ in 0..=(on_two - on_one).max(0) {
        let c = spec(&target, &["sleep", "600"]);
        driver.create_container(&one, &c).await.unwrap();
        driver.start(&one, c.uuid).await.unwrap();
    }
    assert_eq!(driver.least_loaded(&hosts).await.unwrap(), two);
    let err = driver.least_loaded(&[]).await.unwrap_err();
    assert!(matches!(err, DriverError::Refused(_)), "{err:?}");
    // Deleting the bay removes its running containers.
    driver.delete(&target).await.unwrap();
    let filters =
        std::collections::HashMap::from([("label", vec![format!("{BAY_LABEL}={}", target.uuid)])]);
    let left = raw(&one)
        .await
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// Mutual TLS for `tcp://` endpoints: an in-process TLS terminator in front of the first Engine's
/// socket stands in for a `dockerd --tlsverify` (test-only keys; valid until 2126).
mod tls {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    const CA: &str = r"-----BEGIN CERTIFICATE-----
MIIBeDCCAR6gAwIBAgIUCN7yEbgcaS5uaWUexeiZlwVU8k0wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObWFnbnVtIHRlc3QgQ0EwIBcNMjYxMjAzMTkzOTA4WhgPMjEy
NjExMDkxOTM5MDhaMBkxFzAVBgNVBAMMDm1hZ251bSB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE+pYYw1Rq3DB7MFjDRFQmPnAYRlZZ9WM6JcQ/ZL8N
Jt1AGcX65bXGfIqpV6iDTrNx2AsTiF9E+h6q981OtgkfTaNCMEAwDwYDVR0TAQH/
BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFN+3t0LZ49iK2FrzI8S8
fuu1f2xyMAoGCCqGSM49BAMCA0gAMEUCIBhQajoN/kTnBtx875pt7KmfWhS8gvGf
/5rxuUXB+zUfAiEAveuxfzGjdLJfgimkL14SmEV/u6opaXU6Ks3TZZQamSE=
-----END CERTIFICATE-----
";
    const CLIENT_CERT: &str = r"-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIUYAgzQybuUg/2ag9KhMOfsKN7cvkwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObWFnbnVtIHRlc3QgQ0EwIBcNMjYxMjAzMTkzOTA4WhgPMjEy
NjExMDkxOTM5MDhaMBsxGTAXBgNVBAMMEG1hZ251bS1jb25kdWN0b3IwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAARsPJG99mEKcSU/XUAx7XBVBIMP0zOpeX0GybpL
AnydADzCxrzBLygT0lv0/CmzS3cuFrGc8xycyDDaGRhtZFt+o3UwczAMBgNVHRMB
Af8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAjAfBgNV
HSMEGDAWgBTft7dC2ePYitha8yPEvH7rtX9scjAdBgNVHQ4EFgQUmueLwWdxlQLH
CruzHXqFsGrk3AAwCgYIKoZIzj0EAwIDSAAwRQIgSV0V2j2n8WaGId+Xr2SzU879
URj27DL7QPdMd/PW6PUCIQDw+5Zjjmyotplfw1UJG5gm88pXtMLlBl9Xha9ES2hI
Ng==
-----END CERTIFICATE-----
";
    const CLIENT_KEY: &str = r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8drdT5++3YPPui3J
e78gKtQ0gD27qs/XhM2sxoJSmeuhRANCAARsPJG99mEKcSU/XUAx7XBVBIMP0zOp
eX0GybpLAnydADzCxrzBLygT0lv0/CmzS3cuFrGc8xycyDDaGRhtZFt+
-----END PRIVATE KEY-----
";
    const SERVER_CERT: &str = r"-----BEGIN CERTIFICATE-----
MIIBwzCCAWqgAwIBAgIUYAgzQybuUg/2ag9KhMOfsKN7cvgwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObWFnbnVtIHRlc3QgQ0EwIBcNMjYxMjAzMTkzOTA4WhgPMjEy
NjExMDkxOTM5MDhaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEG
CCqGSM49AwEHA0IABPnXloSS4lVyb5IxvNdkG9AFLYDrsrBPpfU89xqVYld+C+To
fpAHN6jqNwNZByllFE9JjMirP1VPqv6DZQOvhbKjgZIwgY8wDAYDVR0TAQH/BAIw
ADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwGgYDVR0RBBMw
EYcEfwAAAYIJbG9jYWxob3N0MB8GA1UdIwQYMBaAFN+3t0LZ49iK2FrzI8S8fuu1
f2xyMB0GA1UdDgQWBBR5DSkbCxGGlU7cGD5x2e7hwec3FTAKBggqhkjOPQQDAgNH
ADBEAiADxTe/ONfxjrHO5GqQ2Mx7zKdcDxMkXU4FxZ/2EqSk2AIgexKfqSEqv3+Q
2JrvgFYnfeUMTOpUeKNdZfgPUd+JhLE=
-----END CERTIFICATE-----
";
    const SERVER_KEY: &str = r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBYoyaTHFWFSstjl+
gSd8Pb0jopK1a957Wt+M4xd08tChRANCAAT515aEkuJVcm+SMbzXZBvQBS2A67Kw
T6X1PPcalWJXfgvk6H6QBzeo6jcDWQcpZRRPSYzIqz9VT6r+g2UDr4Wy
-----END PRIVATE KEY-----
";
    const OTHER_CA: &str = r"-----BEGIN CERTIFICATE-----
MIIBdzCCARygAwIBAgIUd706IwNOtpHDlTDYOjwFf4c615gwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNc29tZSBvdGhlciBDQTAgFw0yNjEyMDMxOTM5MDhaGA8yMTI2
MTEwOTE5MzkwOFowGDEWMBQGA1UEAwwNc29tZSBvdGhlciBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABJaC/uq36WFzH7LDH47Iy5MdeteaEi08aWAWoi03Egy6
jyDQMJ3+lH33HADFCsBemsjb12KYQS7ErtJh0ESHbcejQjBAMA8GA1UdEwEB/wQF
MAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBR0RG8cmmyAv7ldsdGVpWJX
h5sBGTAKBggqhkjOPQQDAgNJADBGAiEA5JXrxGLnIP+1YNCDH0uMk2nIuAcBo9AQ
E45IP/7ZiUkCIQC/W9gjxfsvVXqx8UudYQHU2RANojwCsufbkONz4BA6Yg==
-----END CERTIFICATE-----
";

    /// Writes the PEM files into a fresh directory.
    fn pem_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("magnum-docker-tls-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        for (name, pem) in [
            ("ca.pem", CA),
            ("cert.pem", CLIENT_CERT),
            ("key.pem", CLIENT_KEY),
            ("other-ca.pem", OTHER_CA),
        ] {
            std::fs::write(dir.join(name), pem).expect("writing a PEM file");
        }
        dir
    }

    /// Accepts TLS connections that present a client certificate of [`CA`] and relays them to
    /// the Engine at `engine` (a `unix://` endpoint). Returns the `tcp://` endpoint.
    async fn tls_front(engine: &str) -> String {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(CA.as_bytes()).expect("CA PEM"))
            .expect("CA certificate");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(SERVER_CERT.as_bytes()).expect("server PEM")],
                PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).expect("server key PEM"),
            )
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let endpoint = format!("tcp://{}", listener.local_addr().expect("its address"));
        let socket = engine.trim_start_matches("unix://").to_owned();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, socket) = (acceptor.clone(), socket.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return; // a client without a valid certificate
                    };
                    if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut unix).await;
                    }
                });
            }
        });
        endpoint
    }

    fn tls_config(dir: &Path, ca: &str, hosts: &[&str]) -> DockerConfig {
        DockerConfig {
            tls_cacert: Some(dir.join(ca)),
            tls_cert: Some(dir.join("cert.pem")),
            tls_key: Some(dir.join("key.pem")),
            ..config(hosts)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp_endpoints_speak_mutual_tls() {
        assert_pool_free().await;
        let (one, _) = engines();
        let endpoint = tls_front(&one).await;
        let dir = pem_dir();
        let driver = DockerDriver::new(&tls_config(&dir, "ca.pem", &[&endpoint])).unwrap();
        let target = bay(1);
        let _cleanup = Cleanup::new(&[&target]);
        let seen = driver.ensure(&target).await.unwrap();
        assert_eq!(held(&seen), [endpoint.as_str()]);
        assert_eq!(seen.nodes[0].status, NodeStatus::Ready);
        // The claim landed in the Engine behind the TLS front.
        assert_eq!(claim_holder(&one).await, Some(target.uuid.to_string()));
        driver.delete(&target).await.unwrap();
        assert_eq!(claim_holder(&one).await, None);

        // An Engine whose certificate the configured CA did not sign is not trusted.
        let wary = DockerDriver::new(&tls_config(&dir, "other-ca.pem", &[&endpoint])).unwrap();
        let err = wary.delete(&target).await.unwrap_err();
        assert!(
            matches!(&err, DriverError::Unreachable(m) if m.contains(&endpoint)),
            "{err:?}"
        );
        // Nor is a plain-text client let in.
        let plain = DockerDriver::new(&config(&[&endpoint])).unwrap();
        let err = plain.delete(&target).await.unwrap_err();
        assert!(matches!(err, DriverError::Unreachable(_)), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodegroups_hold_their_own_hosts_and_release_only_those() {
    assert_pool_free().await;
    let (one, two) = engines();
    let driver = DockerDriver::new(&config(&[&one, &two])).unwrap();
    let mut target = bay(1);
    let _cleanup = Cleanup::new(&[&target]);
    let group = |count: u32| GroupTarget {
        name: "extra".into(),
        node_count: count,
        labels: BTreeMap::new(),
    };

    target.groups = vec![group(1)];
    let seen = driver.ensure(&target).await.unwrap();
    let by_group: Vec<(&str, &str)> = seen
        .nodes
        .iter()
        .map(|n| (n.backend_id.as_str(), n.nodegroup.as_str()))
        .collect();
    assert_eq!(
        by_group,
        [(one.as_str(), DEFAULT_WORKER), (two.as_str(), "extra")]
    );
    let volume = raw(&two).await.inspect_volume(CLAIM_VOLUME).await.unwrap();
    assert_eq!(
        volume.labels.get(NODEGROUP_LABEL).map(String::as_str),
        Some("extra")
    );
    assert_eq!(
        volume.labels.get(BAY_LABEL).cloned(),
        Some(target.uuid.to_string())
    );
    assert_eq!(driver.observe(&target).await.unwrap(), seen);

    // No free host for a bigger group: nothing held changes.
    target.groups = vec![group(2)];
    let err = driver.ensure(&target).await.unwrap_err();
    assert_eq!(
        err,
        DriverError::Insufficient(
            "Not enough free Docker hosts for nodegroup extra: 2 requested, 1 available.".into()
        )
    );
    assert_eq!(
        held(&driver.observe(&target).await.unwrap()),
        [one.as_str(), two.as_str()]
    );

    // Scaling the default group to zero keeps the group's host; dropping the group frees it.
    target.node_count = 0;
    target.groups = vec![group(1)];
    let seen = driver.ensure(&target).await.unwrap();
    assert_eq!(held(&seen), [two.as_str()]);
    assert_eq!(claim_holder(&one).await, None);
    target.node_count = 1;
    target.groups.clear();
    let seen = driver.ensure(&target).await.unwrap();
    assert_eq!(held(&seen), [one.as_str()]);
    assert_eq!(seen.nodes[0].nodegroup, DEFAULT_WORKER);
    assert_eq!(claim_holder(&two).await, None);

    driver.delete(&target).await.unwrap();
    assert_pool_free().await;
}
