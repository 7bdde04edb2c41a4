//! Bays end to end on real backends: a docker bay on the real Docker Engines, kubernetes bays
//! against the Kubernetes API double; life cycle, scaling, failures, bad input.

use magnum_test_support::{Deployment, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Both test Engines (started by scripts/lib/services.sh).
pub(crate) fn docker_hosts() -> String {
    let first = std::env::var("MAGNUM_TEST_DOCKER_HOST")
        .unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let second = std::env::var("MAGNUM_TEST_DOCKER_HOST2")
        .unwrap_or_else(|_| "unix:///var/run/magnum-docker2.sock".into());
    format!("{first},{second}")
}

/// The label naming the bay on its claim volume, nodes and containers.
pub(crate) const BAY_LABEL: &str = "magnum.openstack.org/bay";

/// Frees both test Engines of bay claims and containers a failed earlier test may have left.
/// Safe because every test claiming Engines runs alone in nextest's `dockerd` group.
pub(crate) fn free_docker_engines() {
    for host in docker_hosts().split(',') {
        let run = |args: &[&str]| {
            std::process::Command::new("docker")
                .arg("-H")
                .arg(host)
                .args(args)
                .output()
        };
        if let Ok(out) = run(&["ps", "-aq", "--filter", &format!("label={BAY_LABEL}")]) {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = run(&["rm", "-f", id]);
            }
        }
        let _ = run(&["volume", "rm", "-f", "magnum-claim"]);
    }
}

/// The value of `label` on the claim volume of Engine `host`; `None` without a claim or label.
pub(crate) fn claim_label(host: &str, label: &str) -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(["-H", host, "volume", "inspect", "magnum-claim", "--format"])
        .arg(format!("{{{{ index .Labels \"{label}\" }}}}"))
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !value.is_empty() && value != "<no value>").then_some(value)
}

/// A deployment whose conductor drives the two test Engines.
pub(crate) async fn docker_deployment() -> Deployment {
    free_docker_engines();
    Deployment::builder()
        .config(&format!(
            "[docker]\nhosts = {}\n[conductor]\nperiodic_interval = 1\n",
            docker_hosts()
        ))
        .start()
        .await
}

pub(crate) async fn swarm_baymodel(e2e: &Deployment, name: &str) -> String {
    let body = json!({"name": name, "coe": "swarm", "image_id": "magnum-test/busybox"});
    e2e.post("/v1/baymodels", &body).await.expect(201)["uuid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the bay reaches `status`, failing fast on an unexpected final status.
pub(crate) async fn wait_status(e2e: &Deployment, path: &str, status: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let reply = e2e.get(path).await;
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{path} not {status} in time: {}",
            reply.text
        );
        if reply.status == 503 {
            // A conductor is (re)starting.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let now = reply.json["status"].as_str().unwrap_or_default().to_owned();
        if now == status {
            return reply.json;
        }
        assert!(
            now.ends_with("IN_PROGRESS"),
            "{path} went to {now} instead of {status}: {}",
            reply.text
        );
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{path} still {now}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn docker_bays_are_created_scaled_and_deleted_on_real_engines() {
    let e2e = docker_deployment().await;
    let model = swarm_baymodel(&e2e, "swarm").await;
    let created = e2e
        .post(
            "/v1/bays",
            &json!({"name": "web", "baymodel_id": "swarm", "node_count": "1"}),
        )
        .await;
    let bay = created.expect(201).clone();
    assert_eq!(
        (bay["status"].as_str(), bay["baymodel_id"].as_str()),
        (Some("CREATE_IN_PROGRESS"), Some(model.as_str()))
    );
    assert_eq!(bay["bay_create_timeout"], 60);
    let uuid = bay["uuid"].as_str().unwrap().to_owned();
    let path = format!("/v1/bays/{uuid}");
    let done = wait_status(&e2e, &path, "CREATE_COMPLETE").await;
    assert!(
        done["api_address"].as_str().unwrap().starts_with("unix://"),
        "{done}"
    );
    assert_eq!(done["node_addresses"].as_array().unwrap().len(), 1);
    assert!(done["coe_version"].is_string());
    let nodes = e2e.get("/v1/nodes/detail?bay_ident=web").await;
    let nodes = nodes.expect(200)["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0]["type"].as_str(), nodes[0]["status"].as_str()),
        (Some("docker"), Some("Ready"))
    );

    // Scale up through the modern API (202), then past the pool (UPDATE_FAILED with a reason).
    let scale = e2e
        .patch(
            "/v1/clusters/web",
            &json!([{"op": "replace", "path": "/node_count", "value": 2}]),
        )
        .await;
    assert_eq!(scale.expect(202)["uuid"], uuid.as_str());
    let scaled = wait_status(&e2e, &path, "UPDATE_COMPLETE").await;
    assert_eq!(scaled["node_count"], 2);
    assert_eq!(
        e2e.get("/v1/nodes?bay_ident=web").await.json["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let too_many = e2e
        .patch(
            &path,
            &json!([{"op": "replace", "path": "/node_count", "value": 3}]),
        )
        .await;
    too_many.expect(200);
    let failed = wait_status(&e2e, &path, "UPDATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("Not enough free Docker hosts"),
        "{failed}"
    );
    let cluster = e2e.get(&format!("/v1/clusters/{uuid}")).await;
    assert!(cluster.expect(200)["faults"]["default-worker"].is_string());

    // Resize back to one node, naming the one to release.
    let second = nodes_of(&e2e, "web").await.into_iter().nth(1).unwrap();
    let resize = e2e
        .post(
            &format!("/v1/clusters/{uuid}/actions/resize"),
            &json!({"node_count": 1, "nodes_to_remove": [second]}),
        )
        .await;
    resize.expect(202);
    wait_status(&e2e, &path, "UPDATE_COMPLETE").await;
    let left = nodes_of(&e2e, "web").await;
    assert_eq!(left.len(), 1);
    assert!(!left.contains(&second), "the named node was released");

    e2e.delete(&path).await.expect(204);
    let again = e2e.delete(&path).await;
    assert!(
        matches!(again.status.as_u16(), 400 | 404),
        "deleting twice: {}",
        again.text
    );
    eventually("the bay is gone", Duration::from_secs(60), || async {
        e2e.get(&path).await.status == 404
    })
    .await;
    assert_eq!(e2e.count("node").await, 0);
    assert_eq!(e2e.count("bay").await, 0);
}

async fn nodes_of(e2e: &Deployment, bay: &str) -> Vec<String> {
    let nodes = e2e.get(&format!("/v1/nodes/detail?bay_ident={bay}")).await;
    nodes.expect(200)["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn docker_bay_requests_beyond_the_pool_fail_with_the_backends_reason() {
    let e2e = docker_deployment().await;
    swarm_baymodel(&e2e, "swarm").await;
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "big", "cluster_template_id": "swarm", "node_count": 3}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    let failed = wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("3 requested"),
        "{failed}"
    );
    // A failed bay can be deleted, and releases whatever it held.
    e2e.delete(&format!("/v1/clusters/{uuid}"))
        .await
        .expect(204);
    eventually(
        "the failed bay is gone",
        Duration::from_secs(60),
        || async { e2e.get(&format!("/v1/clusters/{uuid}")).await.status == 404 },
    )
    .await;
}

#[tokio::test]
async fn bad_bay_requests_are_clear_4xx() {
    let e2e = Deployment::builder()
        .config("[bay]\nmax_node_count = 5\n[docker]\nhosts = unix:///nonexistent.sock\n")
        .start()
        .await;
    let mut mesos = json!({"name": "m", "coe": "mesos", "image_id": "i"});
    e2e.post("/v1/baymodels", &mesos).await.expect(201);
    mesos["name"] = json!("k");
    mesos["coe"] = json!("kubernetes");
    e2e.post("/v1/baymodels", &mesos).await.expect(201);
    swarm_baymodel(&e2e, "s").await;
    for (body, needle) in [
        (
            json!({"baymodel_id": "nope"}),
            "BayModel nope could not be found.",
        ),
        (json!({"baymodel_id": "s", "node_count": 0}), "node_count"),
        (json!({"baymodel_id": "s", "node_count": -1}), "node_count"),
        (
            json!({"baymodel_id": "s", "node_count": 6}),
            "max_node_count",
        ),
        (
            json!({"baymodel_id": "s", "master_count": 2}),
            "master_count",
        ),
        (json!({"baymodel_id": "m"}), "mesos"),
        (
            json!({"baymodel_id": "k"}),
            "kubernetes driver is not configured",
        ),
        (json!({"baymodel_id": "s", "name": "9lives"}), "name"),
        (
            json!({"baymodel_id": "s", "status": "CREATE_COMPLETE"}),
            "status",
        ),
        (
            json!({"baymodel_id": "s", "bay_create_timeout": -5}),
            "bay_create_timeout",
        ),
        (json!({"baymodel_id": "s", "labels": {}}), "labels"),
    ] {
        let reply = e2e.post("/v1/bays", &body).await;
        reply.expect(400);
        assert!(
            reply.error_message().contains(needle),
            "{body} → {}",
            reply.text
        );
    }
    let zero = e2e
        .raw(
            Method::POST,
            "/v1/clusters",
            &[
                ("OpenStack-API-Version", "container-infra 1.10"),
                ("Content-Type", "application/json"),
            ],
            json!({"cluster_template_id": "s", "node_count": 0})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(
        zero.status, 202,
        "node_count 0 is allowed from 1.10: {}",
        zero.text
    );
    assert_eq!(e2e.count("bay").await, 1);
    e2e.get("/v1/bays/nope").await.expect(404);
    e2e.delete("/v1/bays/nope").await.expect(404);
}

/// A kubeconfig naming a Kubernetes API that nothing serves: every call is refused.
pub(crate) fn unreachable_kubeconfig() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.kubeconfig",
        magnum_test_support::unique_suffix()
    ));
    let text = "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n\
        clusters:\n- name: nowhere\n  cluster:\n    server: http://127.0.0.1:9\n\
        contexts:\n- name: nowhere\n  context:\n    cluster: nowhere\n    user: nobody\n\
        users:\n- name: nobody\n  user:\n    token: none\n";
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn bay_names_clash_updates_in_progress_are_refused_and_patches_touch_only_node_count() {
    let kubeconfig = unreachable_kubeconfig();
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 0\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "s", "coe": "kubernetes", "image_id": "i"}),
    )
    .await
    .expect(201);
    // The Kubernetes API is unreachable, so the create keeps retrying: the bay stays in progress.
    let first = e2e
        .post("/v1/bays", &json!({"name": "b1", "baymodel_id": "s"}))
        .await;
    first.expect(201);
    e2e.post("/v1/bays", &json!({"name": "b1", "baymodel_id": "s"}))
        .await
        .expect(409);
    let busy = e2e
        .patch(
            "/v1/bays/b1",
            &json!([{"op": "replace", "path": "/node_count", "value": 2}]),
        )
        .await;
    busy.expect(400);
    assert!(busy.error_message().contains("CREATE_IN_PROGRESS"));
    let renamed = e2e
        .patch(
            "/v1/bays/b1",
            &json!([{"op": "replace", "path": "/name", "value": "b2"}]),
        )
        .await;
    renamed.expect(400);
    assert_eq!(
        renamed.error_message(),
        "cannot change bay property(ies) name."
    );
    let internal = e2e
        .patch(
            "/v1/bays/b1",
            &json!([{"op": "replace", "path": "/api_address", "value": "x"}]),
        )
        .await;
    internal.expect(400);
    assert!(internal.error_message().contains("internal attribute"));
    e2e.delete("/v1/baymodels/s").await.expect(400);
}

#[tokio::test]
async fn a_create_stuck_past_its_timeout_ends_create_failed_with_the_reason() {
    let kubeconfig = unreachable_kubeconfig();
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "k", "coe": "kubernetes", "image_id": "i"}),
    )
    .await
    .expect(201);
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "stuck", "cluster_template_id": "k", "create_timeout": 5}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    let shown = e2e.get(&format!("/v1/clusters/{uuid}")).await;
    assert_eq!(
        (
            shown.json["status"].as_str(),
            shown.json["create_timeout"].as_i64()
        ),
        (Some("CREATE_IN_PROGRESS"), Some(5))
    );
    // Five minutes pass: moved back in the database instead of waiting.
    e2e.sql(&format!("UPDATE bay SET created_at = now() - interval '6 minutes' WHERE uuid = '{uuid}' RETURNING name")).await;
    let failed = wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("timeout"),
        "{failed}"
    );
    assert_eq!(failed["faults"]["default-worker"], failed["status_reason"]);
}
