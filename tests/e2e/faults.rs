//! Outages: no conductor, a restarted broker, a restarted database. Tests that restart a shared
//! service are named `fault_*` and run alone in nextest's `faults` profile (scripts/test).

use magnum_test_support::{Deployment, eventually};
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_api_answers_503_at_once_while_no_conductor_runs_and_recovers_when_one_starts() {
    let mut e2e = Deployment::builder().conductors(0).start().await;
    // Until its broker connection is up the API says the broker is unreachable; then that no
    // conductor runs. Either way: a prompt 503 with an error body.
    eventually(
        "the API reports the missing conductor",
        Duration::from_secs(30),
        || async {
            let started = Instant::now();
            let reply = e2e
                .post("/v1/baymodels", &crate::baymodel("nobody-home"))
                .await;
            reply.expect(503);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "503 came after {:?}",
                started.elapsed()
            );
            reply.error_message() == "No magnum-conductor is running."
        },
    )
    .await;
    e2e.start_conductor();
    e2e.wait_for_conductor().await;
    e2e.post("/v1/baymodels", &crate::baymodel("somebody-home"))
        .await
        .expect(201);
    assert_eq!(
        e2e.count("baymodel").await,
        1,
        "the refused request left nothing behind"
    );
}

fn rabbitmqctl(args: &[&str]) {
    let status = Command::new("rabbitmqctl")
        .args(args)
        .status()
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

#[tokio::test]
async fn fault_both_daemons_reconnect_after_a_broker_restart() {
    let e2e = Deployment::start().await;
    e2e.post("/v1/baymodels", &crate::baymodel("before"))
        .await
        .expect(201);
    rabbitmqctl(&["stop_app"]);
    let started = Instant::now();
    let during = e2e.post("/v1/baymodels", &crate::baymodel("during")).await;
    let waited = started.elapsed();
    eventually(
        "/healthcheck reports the broker",
        Duration::from_secs(20),
        || async {
            let health = e2e.get("/healthcheck").await;
            health.status == 503 && health.text == "broker unreachable"
        },
    )
    .await;
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
    during.expect(503);
    during.error_message();
    assert!(
        waited < Duration::from_secs(10),
        "the outage answer took {waited:?}"
    );
    eventually(
        "requests go through again",
        Duration::from_secs(60),
        || async {
            e2e.post("/v1/baymodels", &crate::baymodel("after"))
                .await
                .status
                == 201
        },
    )
    .await;
    let names = e2e.sql("SELECT name FROM baymodel ORDER BY id").await;
    assert_eq!(names, [Some("before".into()), Some("after".into())]);
    assert_eq!(e2e.get("/healthcheck").await.text, "OK");
}

#[tokio::test]
async fn fault_the_database_going_away_is_a_503_and_service_resumes_when_it_returns() {
    let e2e = Deployment::start().await;
    e2e.post("/v1/baymodels", &crate::baymodel("before"))
        .await
        .expect(201);
    let pg = |action: &str| {
        let status = Command::new("pg_ctlcluster")
            .args(["15", "main", action])
            .status()
            .expect("pg_ctlcluster");
        assert!(status.success(), "pg_ctlcluster {action} failed");
    };
    pg("stop");
    let during = e2e.get("/v1/baymodels").await;
    pg("start");
    during.expect(503);
    assert!(
        during.error_message().contains("database"),
        "{}",
        during.text
    );
    eventually("reads work again", Duration::from_secs(60), || async {
        e2e.get("/v1/baymodels").await.status == 200
    })
    .await;
    e2e.post("/v1/baymodels", &crate::baymodel("after"))
        .await
        .expect(201);
}

#[tokio::test]
async fn fault_a_docker_host_that_stops_answering_shows_in_its_bay_and_recovers() {
    crate::bays::free_docker_engines();
    let e2e = Deployment::builder()
        .config(&format!(
            "[docker]\nhosts = {}\napi_timeout = 2\n[conductor]\nperiodic_interval = 1\n",
            crate::bays::docker_hosts()
        ))
        .start()
        .await;
    crate::bays::swarm_baymodel(&e2e, "swarm").await;
    let bay = e2e
        .post(
            "/v1/bays",
            &serde_json::json!({"name": "pair", "baymodel_id": "swarm", "node_count": 2}),
        )
        .await;
    let uuid = bay.expect(201)["uuid"].as_str().unwrap().to_owned();
    crate::bays::wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_COMPLETE").await;
    let pid =
        std::fs::read_to_string("/var/run/magnum-docker2.pid").expect("second dockerd pid file");
    let signal = |sig: &str| {
        let status = Command::new("kill")
            .args([sig, pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    // A frozen daemon: the socket still accepts connections but nothing answers.
    signal("-STOP");
    // Poll without panicking: the daemon must be thawed whatever happens.
    let started = Instant::now();
    let mut noticed = false;
    while !noticed && started.elapsed() < Duration::from_secs(60) {
        let nodes = e2e.get("/v1/nodes/detail?bay_ident=pair").await.json;
        let unknown = nodes["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["status"] == "Unknown"));
        noticed = unknown
            && e2e.get(&format!("/v1/clusters/{uuid}")).await.json["health_status"] == "UNHEALTHY";
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal("-CONT");
    assert!(
        noticed,
        "the reconciler did not notice the frozen host within 60 s"
    );
    eventually(
        "the host is Ready again",
        Duration::from_secs(60),
        || async {
            let nodes = e2e.get("/v1/nodes/detail?bay_ident=pair").await.json;
            nodes["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 2 && n.iter().all(|n| n["status"] == "Ready"))
        },
    )
    .await;
    e2e.delete(&format!("/v1/bays/{uuid}")).await.expect(204);
    eventually("the bay is gone", Duration::from_secs(60), || async {
        e2e.get(&format!("/v1/bays/{uuid}")).await.status == 404
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Faults under load: a client keeps creating and deleting baymodels, kubernetes bays (on the
// Kubernetes API double) and containers (on a docker bay over both test Engines) while one
// shared service is restarted; afterwards every acknowledged request must be reflected exactly
// once in the database and the backend.

use magnum_test_support::kube_double::KubeDouble;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

const BAY_LABEL: &str = "magnum.openstack.org/bay";
const CONTAINER_LABEL: &str = "magnum.openstack.org/container";
/// How long an outage answer may take.
const PROMPT: Duration = Duration::from_secs(10);

/// One request of the workload and its answer.
#[derive(Debug, Clone)]
struct Op {
    kind: &'static str,
    create: bool,
    name: String,
    status: u16,
    uuid: Option<String>,
    took: Duration,
    at: Instant,
    /// Non-2xx answers: whether the body had both OpenStack error shapes.
    error_body: bool,
}

fn has_error_body(json: &Value) -> bool {
    let detail = json["errors"][0]["detail"].as_str();
    let legacy = json["error_message"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    detail.is_some() && legacy.is_some_and(|l| l["faultstring"].as_str() == detail)
}

/// The shared service a test restarts. Dropping it brings the service back whatever happened,
/// so a failing test never leaves other runs without a broker, a database or an Engine.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    RabbitMq,
    Postgres,
    Conductor,
    Dockerd,
}

struct Restorer(Option<Fault>);

impl Drop for Restorer {
    fn drop(&mut self) {
        // Only when the test failed before bringing the service back; never panics.
        match self.0 {
            Some(Fault::RabbitMq) => {
                let _ = Command::new("rabbitmqctl").arg("start_app").status();
                let _ = Command::new("rabbitmqctl").arg("await_startup").status();
            }
            Some(Fault::Postgres) => {
                let _ = Command::new("pg_ctlcluster")
                    .args(["15", "main", "start"])
                    .status();
            }
            Some(Fault::Dockerd) => {
                let _ = Command::new("bash")
                    .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                    .args(["-c", START_SECOND_DOCKERD])
                    .status();
            }
            Some(Fault::Conductor) | None => {}
        }
    }
}

/// Starts the second Engine exactly as scripts/lib/services.sh does (a no-op when it runs).
const START_SECOND_DOCKERD: &str =
    "source scripts/lib/services.sh && ensure_second_dockerd >/dev/null";

fn second_dockerd_pid() -> Option<String> {
    std::fs::read_to_string("/var/run/magnum-docker2.pid")
        .ok()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
}

fn process_alive(pid: &str) -> bool {
    Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command without blocking the workload's task.
async fn run(program: &str, args: &[&str]) {
    let status = tokio::process::Command::new(program)
        .args(args)
        .status()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

/// Takes the service down, keeps it down for a while, brings it back; returns the outage window.
async fn inject(fault: Fault, conductor_pid: Option<u32>) -> (Instant, Instant) {
    let down = Duration::from_secs(6);
    let started = Instant::now();
    let mut restore = Restorer(Some(fault));
    match fault {
        Fault::RabbitMq => {
            run("rabbitmqctl", &["stop_app"]).await;
            tokio::time::sleep(down).await;
            run("rabbitmqctl", &["start_app"]).await;
            run("rabbitmqctl", &["await_startup"]).await;
        }
        Fault::Postgres => {
            run("pg_ctlcluster", &["15", "main", "stop"]).await;
            tokio::time::sleep(down).await;
            run("pg_ctlcluster", &["15", "main", "start"]).await;
        }
        Fault::Conductor => {
            let pid = conductor_pid.expect("a conductor to kill").to_string();
            run("kill", &["-KILL", &pid]).await;
        }
        Fault::Dockerd => {
            let pid = second_dockerd_pid().expect("second dockerd pid file");
            run("kill", &["-TERM", &pid]).await;
            let deadline = Instant::now() + Duration::from_secs(30);
            while process_alive(&pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
            let status = tokio::process::Command::new("bash")
                .current_dir(root)
                .args(["-c", START_SECOND_DOCKERD])
                .status()
                .await
                .expect("bash runs");
            assert!(status.success(), "ensure_second_dockerd failed");
        }
    }
    restore.0 = None;
    (started, Instant::now())
}

/// Loops create-then-delete-every-other of one kind until `stop`, recording every answer.
async fn churn(
    e2e: &Deployment,
    kind: &'static str,
    stop: &AtomicBool,
    body: impl Fn(&str) -> Value,
) -> Vec<Op> {
    let collection = match kind {
        "baymodel" => "/v1/baymodels",
        "bay" => "/v1/bays",
        _ => "/v1/containers",
    };
    let mut ops = Vec::new();
    let mut previous: Option<(String, Option<String>)> = None;
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("{}{i}", &kind[..1]);
        let started = Instant::now();
        let reply = e2e.post(collection, &body(&name)).await;
        let uuid = reply.json["uuid"].as_str().map(str::to_owned);
        ops.push(Op {
            kind,
            create: true,
            name: name.clone(),
            status: reply.status.as_u16(),
            uuid: uuid.clone(),
            took: started.elapsed(),
            at: started,
            error_body: reply.status.is_success() || has_error_body(&reply.json),
        });
        // Delete every other object right after creating the next one.
        if i % 2 == 1
            && let Some((old, old_uuid)) = previous.take()
        {
            let ident = old_uuid.clone().unwrap_or_else(|| old.clone());
            let started = Instant::now();
            let reply = e2e.delete(&format!("{collection}/{ident}")).await;
            ops.push(Op {
                kind,
                create: false,
                name: old,
                status: reply.status.as_u16(),
                uuid: old_uuid,
                took: started.elapsed(),
                at: started,
                error_body: reply.status.is_success() || has_error_body(&reply.json),
            });
        }
        previous = Some((name, uuid));
        i += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    ops
}

/// Engine containers labelled as Magnum containers, by Magnum uuid, over both test Engines.
fn engine_containers() -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for host in crate::bays::docker_hosts().split(',') {
        let out = Command::new("docker")
            .args(["-H", host, "ps", "-a", "--filter"])
            .arg(format!("label={CONTAINER_LABEL}"))
            .args(["--format", &format!("{{{{.Label \"{CONTAINER_LABEL}\"}}}}")])
            .output()
            .expect("docker ps");
        assert!(out.status.success(), "docker ps on {host}");
        for uuid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            *found.entry(uuid.to_owned()).or_default() += 1;
        }
    }
    found
}

async fn rows(e2e: &Deployment, query: &str) -> Vec<String> {
    e2e.sql(query).await.into_iter().flatten().collect()
}

async fn under_load(fault: Fault) {
    crate::bays::free_docker_engines();
    let double = KubeDouble::start().await;
    for i in 0..60 {
        double.add_node(
            &format!("worker-{i}"),
            &[("magnum.openstack.org/pool", "true")],
            true,
        );
    }
    let kubeconfig = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.kubeconfig",
        magnum_test_support::unique_suffix()
    ));
    double.write_kubeconfig(&kubeconfig).unwrap();
    let conductors = if fault == Fault::Conductor { 2 } else { 1 };
    let e2e = Deployment::builder()
        .conductors(conductors)
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n\
             [docker]\nhosts = {}\napi_timeout = 5\n\
             [conductor]\nperiodic_interval = 1\nlease_timeout = 5\n\
             [bay]\ncreate_timeout = 1\noperation_timeout = 1\n\
             [quotas]\nmax_clusters_per_project = 1000\n",
            kubeconfig.display(),
            crate::bays::docker_hosts()
        ))
        .start()
        .await;
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"}),
    )
    .await
    .expect(201);
    crate::bays::swarm_baymodel(&e2e, "swarm").await;
    let dock = e2e
        .post(
            "/v1/bays",
            &json!({"name": "dock", "baymodel_id": "swarm", "node_count": 2}),
        )
        .await;
    let dock = dock.expect(201)["uuid"].as_str().unwrap().to_owned();
    crate::bays::wait_status(&e2e, &format!("/v1/bays/{dock}"), "CREATE_COMPLETE").await;

    let stop = AtomicBool::new(false);
    let outage = std::sync::Mutex::new(None);
    let conductor_pid = e2e.conductor_pids().first().copied();
    let driver = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let window = inject(fault, conductor_pid).await;
        *outage.lock().unwrap() = Some(window);
        // Keep the load on after recovery long enough to see every kind succeed again.
        tokio::time::sleep(Duration::from_secs(12)).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (baymodels, bays, containers, ()) = tokio::join!(
        churn(&e2e, "baymodel", &stop, crate::baymodel),
        churn(
            &e2e,
            "bay",
            &stop,
            |n| json!({"name": n, "baymodel_id": "k8s",
            "node_count": 1, "bay_create_timeout": 1})
        ),
        churn(&e2e, "container", &stop, |n| json!({"name": n,
            "image": "magnum-test/busybox:latest", "command": "sleep 300", "bay_uuid": "dock"})),
        driver,
    );
    let (down_at, up_at) = outage.lock().unwrap().expect("the fault ran");
    let ops: Vec<Op> = [baymodels, bays, containers].concat();

    // Every answer is a success, a client error the workload can cause, or a prompt 503; every
    // error has the OpenStack body.
    let mut summary = BTreeMap::<u16, usize>::new();
    for op in &ops {
        *summary.entry(op.status).or_default() += 1;
        assert!(
            matches!(op.status, 200..=299 | 400 | 404 | 409 | 503),
            "{op:?}: unexpected status"
        );
        assert!(op.error_body, "{op:?}: no OpenStack error body");
        if op.status == 503 {
            assert!(op.took < PROMPT, "{op:?}: the outage answer was slow");
        }
    }
    // Service came back by itself: every kind had a successful create after the outage.
    for kind in ["baymodel", "bay", "container"] {
        assert!(
            ops.iter()
                .any(|o| o.kind == kind && o.create && o.at > up_at && o.status / 100 == 2),
            "no {kind} create succeeded after the {fault:?} fault"
        );
    }

    // Quiescence: nothing in progress (creates time out after a minute at most).
    let mut settled = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(80) {
        let busy = rows(
            &e2e,
            "SELECT uuid::text FROM bay WHERE status LIKE '%IN_PROGRESS' \
             UNION ALL SELECT uuid::text FROM container WHERE status = 'Creating'",
        )
        .await;
        if busy.is_empty() {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stuck = rows(
        &e2e,
        "SELECT name || ' ' || status FROM bay WHERE status LIKE '%IN_PROGRESS' \
         UNION ALL SELECT name || ' ' || status FROM container WHERE status = 'Creating'",
    )
    .await;
    assert!(
        settled,
        "objects stuck in progress past their timeout: {stuck:?}"
    );

    // Exactly once: acknowledged creates exist once, acknowledged deletes are gone, refused
    // ones left at most one object.
    let mut checks = 0;
    for (kind, table) in [
        ("baymodel", "baymodel"),
        ("bay", "bay"),
        ("container", "container"),
    ] {
        let names: BTreeSet<&str> = ops
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.as_str())
            .collect();
        let stored = rows(&e2e, &format!("SELECT name FROM {table}")).await;
        for name in names {
            let of = |create: bool| {
                ops.iter()
                    .filter(move |o| o.kind == kind && o.name == name && o.create == create)
            };
            let created = of(true).any(|o| o.status / 100 == 2);
            let deleted = of(false).any(|o| o.status / 100 == 2);
            // A 503 may come after the request went out (publish unconfirmed): it may or may
            // not have been carried out.
            let unsure = of(true).chain(of(false)).any(|o| o.status == 503);
            let count = stored.iter().filter(|n| *n == name).count();
            let expected = match (created, deleted) {
                (_, true) => count == 0,
                (true, false) if unsure => count <= 1,
                (true, false) => count == 1,
                (false, false) => count <= 1,
            };
            let history: Vec<_> = of(true).chain(of(false)).collect();
            assert!(
                expected,
                "{kind} {name}: created {created}, deleted {deleted}, {count} rows; {history:?}"
            );
            checks += 1;
        }
    }
    // Backends: a namespace for exactly the stored kubernetes bays, one Engine container for
    // each stored container (none for one that failed before reaching an Engine), no orphans.
    let bay_rows = rows(
        &e2e,
        &format!("SELECT uuid::text || ' ' || status FROM bay WHERE uuid <> '{dock}'"),
    )
    .await;
    let namespaces: BTreeSet<String> = double
        .list("v1/namespaces", None)
        .iter()
        .filter_map(|n| {
            n["metadata"]["labels"][BAY_LABEL]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut stored_bays = BTreeSet::new();
    for row in &bay_rows {
        let (uuid, status) = row.split_once(' ').unwrap();
        stored_bays.insert(uuid.to_owned());
        if status == "CREATE_COMPLETE" {
            assert!(namespaces.contains(uuid), "bay {uuid} has no namespace");
        }
        checks += 1;
    }
    for ns in &namespaces {
        assert!(
            stored_bays.contains(ns),
            "namespace of a deleted bay {ns} left"
        );
        checks += 1;
    }
    let container_rows = rows(
        &e2e,
        "SELECT uuid::text || ' ' || status || ' ' || coalesce(backend_id, '-') || ' ' || \
         coalesce(host::text, '-') || ' ' || coalesce(status_reason, '-') FROM container",
    )
    .await;
    let engine = engine_containers();
    let mut stored_containers = BTreeSet::new();
    for row in &container_rows {
        let mut parts = row.splitn(3, ' ');
        let (uuid, status) = (parts.next().unwrap(), parts.next().unwrap());
        stored_containers.insert(uuid.to_owned());
        let n = engine.get(uuid).copied().unwrap_or(0);
        let ok = if status == "Error" { n <= 1 } else { n == 1 };
        assert!(
            ok,
            "container {row} on {n} Engines; its requests: {:?}",
            ops.iter()
                .filter(|o| o.kind == "container" && o.uuid.as_deref() == Some(uuid))
                .collect::<Vec<_>>()
        );
        checks += 1;
    }
    for (uuid, n) in &engine {
        assert!(
            stored_containers.contains(uuid),
            "Engine container of a deleted container {uuid} left ({n})"
        );
        checks += 1;
    }
    let during = ops
        .iter()
        .filter(|o| o.at >= down_at && o.at <= up_at)
        .count();
    let ok = ops.iter().filter(|o| o.status / 100 == 2).count();
    let unavailable = summary.get(&503).copied().unwrap_or(0);
    eprintln!(
        "fault {fault:?}: {} requests ({during} during the {:.1} s outage), {ok} 2xx, \
         {unavailable} 503, statuses {summary:?}; {checks} consistency checks passed",
        ops.len(),
        (up_at - down_at).as_secs_f64()
    );
    drop(e2e);
    crate::bays::free_docker_engines();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_under_load_rabbitmq_restart_loses_and_duplicates_nothing() {
    under_load(Fault::RabbitMq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_under_load_postgres_restart_loses_and_duplicates_nothing() {
    under_load(Fault::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_under_load_conductor_sigkill_with_a_second_conductor_loses_nothing() {
    under_load(Fault::Conductor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_under_load_dockerd_restart_loses_and_duplicates_nothing() {
    under_load(Fault::Dockerd).await;
}
