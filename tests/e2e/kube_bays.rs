//! Kubernetes bays end to end: the conductor binary drives the in-process Kubernetes API double
//! through a kubeconfig, exactly as it would a real cluster.

use crate::bays::wait_status;
use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, eventually};
use serde_json::json;
use std::time::Duration;

const POOL: (&str, &str) = ("magnum.openstack.org/pool", "true");
const BAY_LABEL: &str = "magnum.openstack.org/bay";

/// A Kubernetes API double with `nodes` ready pool nodes (`worker-0`, …) and a kubeconfig file
/// that points at it.
pub(crate) async fn kube_double(nodes: usize) -> (KubeDouble, std::path::PathBuf) {
    let double = KubeDouble::start().await;
    for i in 0..nodes {
        double.add_node(&format!("worker-{i}"), &[POOL], true);
    }
    let kubeconfig = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.kubeconfig",
        magnum_test_support::unique_suffix()
    ));
    double.write_kubeconfig(&kubeconfig).unwrap();
    (double, kubeconfig)
}

async fn cluster(nodes: usize, extra: &str) -> (KubeDouble, Deployment) {
    let (double, kubeconfig) = kube_double(nodes).await;
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n{extra}",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post(
        "/v1/clustertemplates",
        &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos",
        "labels": {"quota_pods": "20"}}),
    )
    .await
    .expect(201);
    (double, e2e)
}

fn claimed_by(double: &KubeDouble, bay: &str) -> Vec<String> {
    double
        .list("v1/nodes", None)
        .into_iter()
        .filter(|n| n["metadata"]["labels"][BAY_LABEL] == bay)
        .map(|n| {
            n["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_kubernetes_bay_gets_its_namespace_isolation_and_nodes_and_gives_them_back() {
    let (double, e2e) = cluster(3, "").await;
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "prod", "cluster_template_id": "k8s", "node_count": 2}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    let path = format!("/v1/clusters/{uuid}");
    let done = wait_status(&e2e, &path, "CREATE_COMPLETE").await;
    assert_eq!(done["api_address"], double.url());
    assert!(done["coe_version"].as_str().unwrap().starts_with("v1.33"));
    let namespace = format!("magnum-{uuid}");
    assert_eq!(done["stack_id"], namespace.as_str());
    let ns = double
        .get("v1/namespaces", None, &namespace)
        .expect("the bay's namespace");
    assert_eq!(ns["metadata"]["labels"][BAY_LABEL], uuid.as_str());
    assert_eq!(
        ns["metadata"]["labels"]["magnum.openstack.org/project"],
        "demo"
    );
    for (kind, name) in [
        ("v1/resourcequotas", "magnum-quota"),
        ("v1/limitranges", "magnum-limits"),
        ("networking.k8s.io/v1/networkpolicies", "magnum-isolation"),
        ("v1/serviceaccounts", "magnum-bay"),
        ("rbac.authorization.k8s.io/v1/roles", "magnum-bay"),
        ("rbac.authorization.k8s.io/v1/rolebindings", "magnum-bay"),
    ] {
        assert!(
            double.get(kind, Some(&namespace), name).is_some(),
            "{kind}/{name} missing"
        );
    }
    assert_eq!(
        double
            .get("v1/resourcequotas", Some(&namespace), "magnum-quota")
            .unwrap()["spec"]["hard"]["pods"],
        "20"
    );
    assert_eq!(claimed_by(&double, &uuid).len(), 2);
    let groups = e2e.get(&format!("{path}/nodegroups")).await;
    let groups = groups.expect(200)["nodegroups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1]["node_count"], 2);
    e2e.get(&format!("{path}/nodegroups/default-worker"))
        .await
        .expect(200);

    // Scale up to all three, then resize down releasing a named node.
    e2e.patch(
        &path,
        &json!([{"op": "replace", "path": "/node_count", "value": 3}]),
    )
    .await
    .expect(202);
    wait_status(&e2e, &path, "UPDATE_COMPLETE").await;
    assert_eq!(claimed_by(&double, &uuid).len(), 3);
    e2e.post(
        &format!("{path}/actions/resize"),
        &json!({"node_count": 1, "nodes_to_remove": ["worker-0"]}),
    )
    .await
    .expect(202);
    wait_status(&e2e, &path, "UPDATE_COMPLETE").await;
    let held = claimed_by(&double, &uuid);
    assert_eq!(held.len(), 1);
    assert!(!held.contains(&"worker-0".to_owned()));

    e2e.delete(&path).await.expect(204);
    eventually("the cluster is gone", Duration::from_secs(60), || async {
        e2e.get(&path).await.status == 404
    })
    .await;
    assert!(
        double.get("v1/namespaces", None, &namespace).is_none(),
        "namespace removed"
    );
    assert!(claimed_by(&double, &uuid).is_empty(), "nodes released");
    let taints: Vec<_> = double
        .list("v1/nodes", None)
        .iter()
        .map(|n| n["spec"]["taints"].clone())
        .collect();
    assert!(
        taints
            .iter()
            .all(|t| t.as_array().is_none_or(Vec::is_empty)),
        "{taints:?}"
    );
}

#[tokio::test]
async fn too_few_free_nodes_fail_the_create_with_a_clear_reason_and_claim_nothing() {
    let (double, e2e) = cluster(1, "").await;
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "big", "cluster_template_id": "k8s", "node_count": 2}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    let failed = wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("Not enough free Kubernetes nodes"),
        "{failed}"
    );
    assert!(claimed_by(&double, &uuid).is_empty());
}

#[tokio::test]
async fn the_reconciler_notices_nodes_going_not_ready_and_disappearing() {
    let (double, e2e) = cluster(2, "").await;
    let reply = e2e
        .post(
            "/v1/bays",
            &json!({"name": "watched", "baymodel_id": "k8s", "node_count": 2}),
        )
        .await;
    let uuid = reply.expect(201)["uuid"].as_str().unwrap().to_owned();
    let path = format!("/v1/clusters/{uuid}");
    wait_status(&e2e, &path, "CREATE_COMPLETE").await;
    eventually(
        "the cluster is healthy",
        Duration::from_secs(30),
        || async { e2e.get(&path).await.json["health_status"] == "HEALTHY" },
    )
    .await;
    double.set_node_ready("worker-0", false);
    eventually(
        "the node shows NotReady",
        Duration::from_secs(30),
        || async {
            let nodes = e2e.get("/v1/nodes/detail?bay_ident=watched").await.json;
            nodes["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["name"] == "worker-0" && n["status"] == "NotReady")
        },
    )
    .await;
    let unhealthy = e2e.get(&path).await.json;
    assert_eq!(unhealthy["health_status"], "UNHEALTHY");
    assert!(
        unhealthy["health_status_reason"]["worker-0"].is_string(),
        "{unhealthy}"
    );
    double.remove_node("worker-1");
    eventually(
        "the vanished node is dropped",
        Duration::from_secs(30),
        || async {
            let nodes = e2e.get("/v1/nodes?bay_ident=watched").await.json;
            nodes["nodes"].as_array().unwrap().len() == 1
        },
    )
    .await;
}

#[tokio::test]
async fn a_backend_that_refuses_ends_the_create_with_its_reason() {
    let (double, e2e) = cluster(1, "").await;
    double.deny("networkpolicies");
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "denied", "cluster_template_id": "k8s", "node_count": 1}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    let failed = wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("forbidden"),
        "{failed}"
    );
}

#[tokio::test]
async fn a_conductor_killed_mid_create_is_replaced_and_the_bay_completes_once() {
    let (double, mut e2e) = cluster(3, "[conductor]\nlease_timeout = 2\n").await;
    // A slow API server keeps the first conductor inside its create long enough to kill it.
    double.set_latency(Duration::from_millis(700));
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "survivor", "cluster_template_id": "k8s", "node_count": 2}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    eventually(
        "the first conductor holds the work",
        Duration::from_secs(10),
        || async {
            let held = format!(
                "SELECT lease_owner FROM bay WHERE uuid = '{uuid}' AND lease_owner IS NOT NULL"
            );
            !e2e.sql(&held).await.is_empty()
        },
    )
    .await;
    let first_owner = e2e
        .sql(&format!(
            "SELECT lease_owner FROM bay WHERE uuid = '{uuid}'"
        ))
        .await;
    e2e.kill_conductor(0).await;
    eprintln!("killed the conductor holding the create ({first_owner:?}) with SIGKILL");
    e2e.start_conductor();
    let done = wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_COMPLETE").await;
    let owner_now = e2e
        .sql(&format!(
            "SELECT lease_owner FROM bay WHERE uuid = '{uuid}'"
        ))
        .await;
    assert_eq!(owner_now, [None], "work finished and released");
    assert_eq!(done["node_count"], 2);
    let held = claimed_by(&double, &uuid);
    assert_eq!(held.len(), 2, "each node claimed once: {held:?}");
    assert_eq!(
        double
            .list("v1/namespaces", None)
            .iter()
            .filter(|n| n["metadata"]["name"] == format!("magnum-{uuid}"))
            .count(),
        1
    );
    assert_eq!(e2e.count("node").await, 2);
    eprintln!(
        "the restarted conductor finished the bay: {} with nodes {held:?}",
        done["status"]
    );
}

#[tokio::test]
async fn two_conductors_share_the_topic_and_never_hand_a_node_to_two_bays() {
    let (double, mut e2e) = cluster(3, "").await;
    e2e.start_conductor();
    let creates = (0..4).map(|i| {
        let body = json!({"name": format!("b{i}"), "cluster_template_id": "k8s", "node_count": 1});
        let e2e = &e2e;
        async move { e2e.post("/v1/clusters", &body).await }
    });
    let replies = futures_util::future::join_all(creates).await;
    let uuids: Vec<String> = replies
        .iter()
        .map(|r| r.expect(202)["uuid"].as_str().unwrap().to_owned())
        .collect();
    let mut complete = 0;
    for uuid in &uuids {
        let path = format!("/v1/clusters/{uuid}");
        let settled = loop {
            let status = e2e.get(&path).await.json["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !status.ends_with("IN_PROGRESS") && !status.is_empty() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if settled == "CREATE_COMPLETE" {
            complete += 1;
        } else {
            let reason = e2e.get(&path).await.json["status_reason"].clone();
            assert!(
                reason
                    .as_str()
                    .unwrap_or_default()
                    .contains("Not enough free Kubernetes nodes"),
                "{reason}"
            );
        }
    }
    // Three nodes, four bays of one node each: exactly three complete, one fails cleanly.
    assert_eq!(complete, 3);
    let mut owners: Vec<String> = double
        .list("v1/nodes", None)
        .iter()
        .filter_map(|n| {
            n["metadata"]["labels"][BAY_LABEL]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    owners.sort();
    owners.dedup();
    assert_eq!(
        owners.len(),
        3,
        "each claimed node belongs to a different bay"
    );
    let workers = e2e.sql("SELECT DISTINCT lease_owner FROM bay").await;
    assert_eq!(workers, [None], "no work left claimed");
    let _ = &mut e2e;
}
