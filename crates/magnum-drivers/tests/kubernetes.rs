//! The kubernetes driver against the in-process Kubernetes API double: real HTTP, plain kube-rs.

use magnum_drivers::kubernetes::{
    ACCOUNT_NAME, ISOLATION_NAME, KubernetesConfig, KubernetesDriver, LIMITS_NAME, QUOTA_NAME,
    namespace,
};
use magnum_drivers::{BAY_LABEL, BayDriver, BayTarget, DriverError, NodeStatus, PROJECT_LABEL};
use magnum_test_support::kube_double::{GIT_VERSION, KubeDouble};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

const POOL: (&str, &str) = ("magnum.openstack.org/pool", "true");
const PROJECT: &str = "5a0c2b7e9f1d4e3c8b6a4d2f0e1c3b5a";

/// A double with `free` Ready pool nodes `node-0`…, and a driver pointed at it.
async fn setup(free: usize) -> (KubeDouble, KubernetesDriver) {
    let double = KubeDouble::start().await;
    for i in 0..free {
        double.add_node(&format!("node-{i}"), &[POOL], true);
    }
    let driver = KubernetesDriver::from_config(double.config(), &KubernetesConfig::default())
        .expect("driver for the double");
    (double, driver)
}

fn bay(node_count: u32) -> BayTarget {
    BayTarget {
        uuid: Uuid::new_v4(),
        project_id: PROJECT.into(),
        name: "k8s-bay".into(),
        node_count,
        labels: Default::default(),
        nodes_to_remove: vec![],
    }
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"]
        .get(key)
        .and_then(Value::as_str)
}

/// Names of the nodes labelled with the bay, as the double stores them.
fn held(double: &KubeDouble, bay: &BayTarget) -> Vec<String> {
    let uuid = bay.uuid.to_string();
    double
        .list("v1/nodes", None)
        .into_iter()
        .filter(|n| label(n, BAY_LABEL) == Some(uuid.as_str()))
        .map(|n| {
            n["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn bay_taints(node: &Value) -> Vec<Value> {
    node["spec"]["taints"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["key"] == BAY_LABEL)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A node with no trace of any bay.
fn assert_free(double: &KubeDouble, name: &str) {
    let node = double.get("v1/nodes", None, name).expect("node exists");
    assert_eq!(label(&node, BAY_LABEL), None, "{name} still labelled");
    assert_eq!(
        label(&node, PROJECT_LABEL),
        None,
        "{name} still has a project"
    );
    assert!(bay_taints(&node).is_empty(), "{name} still tainted");
    assert_eq!(label(&node, POOL.0), Some("true"), "pool label kept");
}

#[tokio::test]
async fn ensure_creates_every_object_and_claims_nodes() {
    let (double, driver) = setup(3).await;
    double.add_node("outside", &[], true);
    let mut bay = bay(2);
    bay.labels.insert("quota_pods".into(), "10".into());
    bay.labels.insert("default_memory".into(), "256Mi".into());
    let seen = driver.ensure(&bay).await.expect("ensure");

    let ns = namespace(&bay.uuid);
    let uuid = bay.uuid.to_string();
    let namespace_object = double.get("v1/namespaces", None, &ns).expect("namespace");
    assert_eq!(label(&namespace_object, BAY_LABEL), Some(uuid.as_str()));
    assert_eq!(label(&namespace_object, PROJECT_LABEL), Some(PROJECT));

    let quota = double
        .get("v1/resourcequotas", Some(&ns), QUOTA_NAME)
        .expect("quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "10");
    assert_eq!(quota["spec"]["hard"]["requests.cpu"], "16");
    assert_eq!(label(&quota, BAY_LABEL), Some(uuid.as_str()));
    let limits = double
        .get("v1/limitranges", Some(&ns), LIMITS_NAME)
        .expect("limits");
    let item = &limits["spec"]["limits"][0];
    assert_eq!(item["type"], "Container");
    assert_eq!(
        item["defaultRequest"],
        json!({"cpu": "500m", "memory": "256Mi"})
    );
    assert_eq!(item["default"], json!({"cpu": "500m", "memory": "256Mi"}));

    let policy = double
        .get(
            "networking.k8s.io/v1/networkpolicies",
            Some(&ns),
            ISOLATION_NAME,
        )
        .expect("network policy");
    assert_eq!(policy["spec"]["podSelector"], json!({}));
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{"from": [{"namespaceSelector": {"matchLabels": {BAY_LABEL: uuid}}}]}])
    );

    assert!(
        double
            .get("v1/serviceaccounts", Some(&ns), ACCOUNT_NAME)
            .is_some()
    );
    let role = double
        .get(
            "rbac.authorization.k8s.io/v1/roles",
            Some(&ns),
            ACCOUNT_NAME,
        )
        .expect("role");
    let core = &role["rules"][0];
    for resource in [
        "pods",
        "services",
        "replicationcontrollers",
        "configmaps",
        "secrets",
    ] {
        assert!(
            core["resources"]
                .as_array()
                .unwrap()
                .contains(&json!(resource)),
            "{resource}"
        );
    }
    assert!(core["verbs"].as_array().unwrap().contains(&json!("create")));
    let binding = double
        .get(
            "rbac.authorization.k8s.io/v1/rolebindings",
            Some(&ns),
            ACCOUNT_NAME,
        )
        .expect("role binding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT_NAME})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": ACCOUNT_NAME, "namespace": ns}])
    );

    assert_eq!(held(&double, &bay), ["node-0", "node-1"]);
    for name in ["node-0", "node-1"] {
        let node = double.get("v1/nodes", None, name).expect("node");
        assert_eq!(label(&node, PROJECT_LABEL), Some(PROJECT));
        assert_eq!(
            bay_taints(&node),
            [json!({"key": BAY_LABEL, "value": uuid, "effect": "NoSchedule"})]
        );
    }
    assert_free(&double, "node-2");
    assert_eq!(
        label(&double.get("v1/nodes", None, "outside").unwrap(), BAY_LABEL),
        None
    );

    assert!(seen.exists);
    assert_eq!(seen.api_address.as_deref(), Some(double.url().as_str()));
    assert_eq!(seen.coe_version.as_deref(), Some(GIT_VERSION));
    assert_eq!(
        seen.container_version.as_deref(),
        Some("containerd://2.0.5")
    );
    let names: Vec<&str> = seen.nodes.iter().map(|n| n.backend_id.as_str()).collect();
    assert_eq!(names, ["node-0", "node-1"]);
    assert!(seen.nodes.iter().all(|n| n.status == NodeStatus::Ready));
    assert_eq!(seen.nodes[0].addresses, ["192.0.2.10", "node-0"]);
    assert_eq!(seen.nodes[0].info["kubelet_version"], "v1.33.0");
    assert_eq!(seen.nodes[0].info["capacity"]["cpu"], "4");
}

#[tokio::test]
async fn ensure_is_idempotent() {
    let (double, driver) = setup(3).await;
    let bay = bay(2);
    let first = driver.ensure(&bay).await.expect("first ensure");
    let version = double.resource_version();
    let second = driver.ensure(&bay).await.expect("second ensure");
    assert_eq!(first, second);
    assert_eq!(
        double.resource_version(),
        version,
        "a repeated ensure writes nothing"
    );
    assert_eq!(held(&double, &bay), ["node-0", "node-1"]);
}

#[tokio::test]
async fn scaling_claims_and_releases_nodes() {
    let (double, driver) = setup(4).await;
    let mut bay = bay(1);
    driver.ensure(&bay).await.expect("create");
    assert_eq!(held(&double, &bay), ["node-0"]);

    bay.node_count = 3;
    let seen = driver.ensure(&bay).await.expect("scale up");
    assert_eq!(seen.nodes.len(), 3);
    assert_eq!(held(&double, &bay), ["node-0", "node-1", "node-2"]);

    // The named node goes first, then the newest claim (node-2, claimed after node-1).
    bay.node_count = 1;
    bay.nodes_to_remove = vec!["node-0".into()];
    let seen = driver.ensure(&bay).await.expect("scale down");
    assert_eq!(held(&double, &bay), ["node-1"]);
    assert_eq!(seen.nodes.len(), 1);
    for name in ["node-0", "node-2", "node-3"] {
        assert_free(&double, name);
    }
    let kept = double.get("v1/nodes", None, "node-1").unwrap();
    assert!(kept["metadata"]["annotations"]["magnum.openstack.org/claimed-at"].is_string());
    let released = double.get("v1/nodes", None, "node-0").unwrap();
    assert!(
        released["metadata"]["annotations"]
            .get("magnum.openstack.org/claimed-at")
            .is_none()
    );

    bay.node_count = 0;
    bay.nodes_to_remove.clear();
    driver.ensure(&bay).await.expect("scale to zero");
    assert!(held(&double, &bay).is_empty());
}

#[tokio::test]
async fn too_few_free_nodes_is_insufficient_and_claims_nothing() {
    let (double, driver) = setup(2).await;
    double.add_node("sick", &[POOL], false);
    let err = driver.ensure(&bay(3)).await.unwrap_err();
    assert_eq!(
        err,
        DriverError::Insufficient(
            "Not enough free Kubernetes nodes: 3 requested, 2 available.".into()
        )
    );
    for name in ["node-0", "node-1"] {
        assert_free(&double, name);
    }

    // A bay that holds one node and asks for more keeps what it held before the call.
    let mut bay = bay(1);
    driver.ensure(&bay).await.expect("one node");
    bay.node_count = 4;
    let err = driver.ensure(&bay).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Not enough free Kubernetes nodes: 4 requested, 2 available."
    );
    assert_eq!(held(&double, &bay), ["node-0"]);
    assert_free(&double, "node-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bays_racing_for_the_same_nodes_never_share_one() {
    for round in 0..5 {
        let (double, driver) = setup(3).await;
        let (a, b) = (bay(2), bay(2));
        let (ra, rb) = tokio::join!(driver.ensure(&a), driver.ensure(&b));
        let outcomes = [ra.is_ok(), rb.is_ok()];
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "round {round}: {ra:?} {rb:?}"
        );
        let (winner, loser, err) = match (ra, rb) {
            (Ok(_), Err(e)) => (&a, &b, e),
            (Err(e), Ok(_)) => (&b, &a, e),
            other => panic!("round {round}: {other:?}"),
        };
        assert!(
            matches!(err, DriverError::Insufficient(_)),
            "round {round}: {err:?}"
        );
        assert_eq!(held(&double, winner).len(), 2, "round {round}");
        assert!(
            held(&double, loser).is_empty(),
            "round {round}: the loser keeps nothing"
        );
        for node in double.list("v1/nodes", None) {
            assert!(bay_taints(&node).len() <= 1, "round {round}: {node}");
            if let Some(holder) = label(&node, BAY_LABEL) {
                assert_eq!(holder, winner.uuid.to_string());
                assert_eq!(bay_taints(&node)[0]["value"], holder);
            }
        }
    }
}

#[tokio::test]
async fn observe_shows_nodes_going_not_ready_or_away() {
    let (double, driver) = setup(3).await;
    let bay = bay(2);
    driver.ensure(&bay).await.expect("ensure");

    assert!(double.set_node_ready("node-0", false));
    let seen = driver.observe(&bay).await.expect("observe");
    let status: Vec<_> = seen
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.status))
        .collect();
    assert_eq!(
        status,
        [
            ("node-0", NodeStatus::NotReady),
            ("node-1", NodeStatus::Ready)
        ]
    );

    assert!(double.remove_node("node-1"));
    let seen = driver.observe(&bay).await.expect("observe");
    let names: Vec<&str> = seen.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node-0"]);

    // The next ensure replaces the vanished node; the NotReady one stays the bay's.
    let seen = driver.ensure(&bay).await.expect("ensure again");
    let names: Vec<&str> = seen.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node-0", "node-2"]);
}

#[tokio::test]
async fn unready_and_cordoned_pool_nodes_are_not_claimed() {
    let (double, driver) = setup(0).await;
    double.add_node("a-unready", &[POOL], false);
    double.add_node("b-ready", &[POOL], true);
    double.add_node("c-cordoned", &[POOL], true);
    let cordon = json!({"metadata": {"name": "c-cordoned"}, "spec": {"unschedulable": true}});
    let node = double.get("v1/nodes", None, "c-cordoned").unwrap();
    let mut cordoned = node.clone();
    cordoned["spec"] = cordon["spec"].clone();
    double.remove_node("c-cordoned");
    double
        .create("v1/nodes", None, cordoned)
        .expect("cordoned node");
    let bay = bay(1);
    driver.ensure(&bay).await.expect("one ready node");
    assert_eq!(held(&double, &bay), ["b-ready"]);
    let err = driver
        .ensure(&BayTarget {
            node_count: 2,
            ..bay.clone()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Insufficient(_)), "{err:?}");
}

#[tokio::test]
async fn a_custom_pool_selector_and_paged_node_lists() {
    let double = KubeDouble::start().await;
    for i in 0..300 {
        double.add_node(&format!("n{i:03}"), &[("tier", "magnum")], true);
    }
    double.add_node("other", &[POOL], true);
    let cfg = KubernetesConfig {
        node_pool_selector: "tier in (magnum)".into(),
        ..Default::default()
    };
    let driver = KubernetesDriver::from_config(double.config(), &cfg).expect("driver");
    let bay = bay(260);
    let seen = driver.ensure(&bay).await.expect("ensure");
    assert_eq!(seen.nodes.len(), 260, "held nodes span two list pages");
    assert!(!held(&double, &bay).contains(&"other".to_owned()));
    driver.delete(&bay).await.expect("delete");
    assert!(held(&double, &bay).is_empty());
}

#[tokio::test]
async fn delete_removes_the_namespace_and_releases_nodes() {
    let (double, driver) = setup(3).await;
    let bay = bay(2);
    driver.ensure(&bay).await.expect("ensure");
    let ns = namespace(&bay.uuid);
    driver.delete(&bay).await.expect("delete");
    assert!(double.get("v1/namespaces", None, &ns).is_none());
    for kind in ["v1/resourcequotas", "v1/limitranges", "v1/serviceaccounts"] {
        assert!(double.list(kind, Some(&ns)).is_empty(), "{kind}");
    }
    assert!(
        double
            .list("networking.k8s.io/v1/networkpolicies", Some(&ns))
            .is_empty()
    );
    for name in ["node-0", "node-1", "node-2"] {
        assert_free(&double, name);
    }
    let seen = driver.observe(&bay).await.expect("observe");
    assert!(!seen.exists && seen.nodes.is_empty());
    driver
        .delete(&bay)
        .await
        .expect("deleting nothing succeeds");
}

#[tokio::test]
async fn delete_while_the_namespace_terminates_succeeds() {
    let (double, driver) = setup(1).await;
    double.set_namespace_finalize_delay(Duration::from_secs(30));
    let bay = bay(1);
    driver.ensure(&bay).await.expect("ensure");
    driver.delete(&bay).await.expect("delete");
    let seen = driver.observe(&bay).await.expect("observe");
    assert!(seen.exists, "a terminating namespace still exists");
    driver
        .delete(&bay)
        .await
        .expect("delete again: already terminating");
    assert_free(&double, "node-0");
}

#[tokio::test]
async fn refusals_carry_the_servers_message() {
    let (double, driver) = setup(2).await;
    double.deny("networkpolicies");
    let bay = bay(1);
    let err = driver.ensure(&bay).await.unwrap_err();
    let DriverError::Refused(message) = err else {
        panic!("expected Refused, got {err:?}")
    };
    assert!(
        message.contains(
            "cannot patch resource \"networkpolicies\" in API group \"networking.k8s.io\""
        ),
        "{message}"
    );
    assert!(message.contains(ISOLATION_NAME), "{message}");

    double.allow("networkpolicies");
    double.deny("nodes");
    let err = driver.ensure(&bay).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Refused(m) if m.contains("cannot list resource \"nodes\"")),
        "{err:?}"
    );
    double.allow("nodes");
    driver.ensure(&bay).await.expect("allowed again");

    let mut bad = bay.clone();
    bad.labels.insert("quota_cpu".into(), "plenty".into());
    let err = driver.ensure(&bad).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Refused(m) if m.contains("quota_cpu=plenty")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_or_missing_api_server_is_unreachable() {
    let (double, _) = setup(1).await;
    let cfg = KubernetesConfig {
        api_timeout: 1,
        ..Default::default()
    };
    let driver = KubernetesDriver::from_config(double.config(), &cfg).expect("driver");
    double.set_latency(Duration::from_millis(1500));
    let err = driver.observe(&bay(1)).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::Unreachable(m) if m.contains("within 1 s")),
        "{err:?}"
    );

    let url = double.url();
    drop(double);
    let err = driver.ensure(&bay(1)).await.unwrap_err();
    assert!(matches!(err, DriverError::Unreachable(_)), "{url}: {err:?}");
}

#[tokio::test]
async fn new_connects_through_a_kubeconfig_and_context() {
    let double = KubeDouble::start().await;
    double.add_node("node-0", &[POOL], true);
    let path = std::env::temp_dir().join(format!("magnum-kubeconfig-{}", Uuid::new_v4()));
    double.write_kubeconfig(&path).expect("kubeconfig written");
    let cfg = KubernetesConfig {
        kubeconfig: Some(path.clone()),
        context: Some("magnum-double".into()),
        ..Default::default()
    };
    let driver = KubernetesDriver::new(&cfg)
        .await
        .expect("driver from kubeconfig");
    let seen = driver.ensure(&bay(1)).await.expect("ensure");
    assert_eq!(seen.api_address.as_deref(), Some(double.url().as_str()));
    assert_eq!(seen.nodes.len(), 1);

    let wrong = KubernetesConfig {
        context: Some("elsewhere".into()),
        ..cfg
    };
    let err = KubernetesDriver::new(&wrong).await.unwrap_err();
    assert!(
        matches!(&err, DriverError::NotConfigured(m) if m.contains("elsewhere")),
        "{err:?}"
    );
    std::fs::remove_file(&path).expect("kubeconfig removed");
}
