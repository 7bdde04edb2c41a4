//! The kubernetes driver against the in-process Kubernetes API double: real HTTP, plain kube-rs.

use magnum_drivers::kubernetes::{
    ACCOUNT_NAME, ISOLATION_NAME, KubernetesConfig, KubernetesDriver, LIMITS_NAME, QUOTA_NAME,
    namespace,
};
use magnum_drivers::{
    BAY_LABEL, BayDriver, BayTarget, DEFAULT_WORKER, DriverError, GroupTarget, NODEGROUP_LABEL,
    NodeStatus, PROJECT_LABEL,
};
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
        groups: vec![],
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

// ---- Tenant workloads: pods, services, replication controllers (spec/rest-api.md §3.4). ----

mod workloads {
    use super::{bay, label, setup};
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, PostParams};
    use magnum_core::manifest::{self, Manifest, WorkloadKind, parse, set_replicas};
    use magnum_drivers::kubernetes::{
        KubernetesDriver, SERVICE_ACCOUNT_WAIT, UUID_LABEL, WorkloadState, namespace,
    };
    use magnum_drivers::{BAY_LABEL, BayDriver, DriverError};
    use magnum_test_support::kube_double::KubeDouble;
    use serde_json::{Value, json};
    use std::time::Instant;
    use uuid::Uuid;

    const MAX: usize = 1 << 20;

    const POD_YAML: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: redis-master
  labels:
    name: redis-master
spec:
  containers:
  - name: master
    image: redis:7
    command: [redis-server]
    ports:
    - containerPort: 6379
";

    const RC_YAML: &str = "\
apiVersion: v1
kind: ReplicationController
metadata:
  name: redis
spec:
  replicas: 2
  selector:
    name: redis
  template:
    metadata:
      labels:
        name: redis
    spec:
      containers:
      - name: redis
        image: redis:7
";

    fn service_json(name: &str) -> String {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"name": "redis"}},
            "spec": {"selector": {"name": "redis"}, "ports": [{"port": 6379}]},
        })
        .to_string()
    }

    fn pod_json(name: &str, image: &str) -> String {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        })
        .to_string()
    }

    fn manifest(text: &str, kind: WorkloadKind) -> Manifest {
        parse(text, kind, MAX).expect("a valid manifest")
    }

    /// A double, a driver and a ready bay (namespace and one node).
    async fn bay_ready() -> (KubeDouble, KubernetesDriver, Uuid) {
        let (double, driver) = setup(1).await;
        let bay = bay(1);
        driver.ensure(&bay).await.expect("ensure");
        (double, driver, bay.uuid)
    }

    fn stored(double: &KubeDouble, resource: &str, bay: &Uuid, name: &str) -> Option<Value> {
        double.get(resource, Some(&namespace(bay)), name)
    }

    /// The bay's node selector and toleration are in this pod spec.
    fn assert_placed(spec: &Value, bay: &Uuid) {
        let uuid = bay.to_string();
        assert_eq!(spec["nodeSelector"][BAY_LABEL], json!(uuid), "{spec}");
        let tolerations = spec["tolerations"].as_array().expect("tolerations");
        assert!(
            tolerations.iter().any(|t| t["key"] == BAY_LABEL
                && t["value"] == json!(uuid)
                && t["effect"] == "NoSchedule"),
            "{spec}"
        );
    }

    #[tokio::test]
    async fn a_yaml_pod_lands_in_the_bay_namespace_placed_and_labelled() {
        let (double, driver, bay) = bay_ready().await;
        let uuid = Uuid::new_v4();
        let pod = manifest(POD_YAML, WorkloadKind::Pod);
        let state = driver
            .apply_workload(&bay, &pod, &uuid)
            .await
            .expect("created");
        assert_eq!(
            state,
            WorkloadState {
                status: Some("Pending".into()),
                ..WorkloadState::default()
            }
        );
        let object = stored(&double, "v1/pods", &bay, "redis-master").expect("stored");
        assert_placed(&object["spec"], &bay);
        assert_eq!(label(&object, UUID_LABEL), Some(uuid.to_string().as_str()));
        assert_eq!(label(&object, BAY_LABEL), Some(bay.to_string().as_str()));
        assert_eq!(label(&object, "name"), Some("redis-master"));
        assert_eq!(object["spec"]["containers"][0]["image"], "redis:7");
        assert_eq!(
            object["spec"]["containers"][0]["command"],
            json!(["redis-server"])
        );
        assert_eq!(
            driver
                .workload_state(&bay, WorkloadKind::Pod, "redis-master")
                .await
                .expect("state"),
            Some(state)
        );
    }

    #[tokio::test]
    async fn a_json_pod_is_created_the_same_way() {
        let (double, driver, bay) = bay_ready().await;
        let pod = manifest(&pod_json("web", "nginx:1.27"), WorkloadKind::Pod);
        let state = driver
            .apply_workload(&bay, &pod, &Uuid::new_v4())
            .await
            .expect("created");
        assert_eq!(state.status.as_deref(), Some("Pending"));
        let object = stored(&double, "v1/pods", &bay, "web").expect("stored");
        assert_placed(&object["spec"], &bay);
        assert_eq!(object["metadata"]["namespace"], json!(namespace(&bay)));
    }

    #[tokio::test]
    async fn services_get_a_cluster_ip_and_their_ports() {
        let (double, driver, bay) = bay_ready().await;
        let svc = manifest(&service_json("redis"), WorkloadKind::Service);
        let state = driver
            .apply_workload(&bay, &svc, &Uuid::new_v4())
            .await
            .expect("created");
        let ip = state.ip.clone().expect("a cluster IP");
        assert!(ip.starts_with("10.96."), "{ip}");
        assert_eq!(
            state.ports,
            Some(json!([{"port": 6379, "protocol": "TCP", "targetPort": 6379}]))
        );
        assert_eq!((state.status, state.replicas), (None, None));
        let object = stored(&double, "v1/services", &bay, "redis").expect("stored");
        assert!(
            object["spec"].get("nodeSelector").is_none(),
            "no placement on services"
        );

        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: frontend\nspec:\n  \
                    ports:\n  - port: 80\n";
        let other = driver
            .apply_workload(
                &bay,
                &manifest(yaml, WorkloadKind::Service),
                &Uuid::new_v4(),
            )
            .await
            .expect("created from YAML");
        assert_ne!(other.ip, Some(ip), "each service has its own address");
    }

    #[tokio::test]
    async fn rcs_carry_placement_on_their_template_and_show_replicas() {
        let (double, driver, bay) = bay_ready().await;
        let rc = manifest(RC_YAML, WorkloadKind::ReplicationController);
        let state = driver
            .apply_workload(&bay, &rc, &Uuid::new_v4())
            .await
            .expect("created");
        assert_eq!(
            state,
            WorkloadState {
                replicas: Some(2),
                ready_replicas: Some(0),
                ..WorkloadState::default()
            }
        );
        let object = stored(&double, "v1/replicationcontrollers", &bay, "redis").expect("stored");
        assert_placed(&object["spec"]["template"]["spec"], &bay);
        assert_eq!(
            object["status"]["replicas"], 0,
            "no controller in the double"
        );
        assert_eq!(object["spec"]["selector"], json!({"name": "redis"}));

        let json_rc = serde_json::to_string(&json!({
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        }))
        .expect("json");
        let rc = manifest(&json_rc, WorkloadKind::ReplicationController);
        let state = driver
            .apply_workload(&bay, &rc, &Uuid::new_v4())
            .await
            .expect("created from JSON");
        assert_eq!(state.replicas, Some(1), "Kubernetes' default");
    }

    #[tokio::test]
    async fn applying_again_converges_without_changes() {
        let (double, driver, bay) = bay_ready().await;
        let uuid = Uuid::new_v4();
        for (resource, text, kind, name) in [
            (
                "v1/pods",
                POD_YAML.to_owned(),
                WorkloadKind::Pod,
                "redis-master",
            ),
            (
                "v1/services",
                service_json("redis"),
                WorkloadKind::Service,
                "redis",
            ),
            (
                "v1/replicationcontrollers",
                RC_YAML.to_owned(),
                WorkloadKind::ReplicationController,
                "redis",
            ),
        ] {
            let object = manifest(&text, kind);
            let first = driver
                .apply_workload(&bay, &object, &uuid)
                .await
                .expect("first");
            let version = |d: &KubeDouble| {
                stored(d, resource, &bay, name).expect("stored")["metadata"]["resourceVersion"]
                    .clone()
            };
            let before = version(&double);
            let again = driver
                .apply_workload(&bay, &object, &uuid)
                .await
                .expect("again");
            assert_eq!(first, again, "{kind}");
            assert_eq!(version(&double), before, "{kind}: nothing changed");
        }
    }

    #[tokio::test]
    async fn a_name_taken_by_another_object_already_exists() {
        let (double, driver, bay) = bay_ready().await;
        let pod = manifest(&pod_json("web", "nginx"), WorkloadKind::Pod);
        driver
            .apply_workload(&bay, &pod, &Uuid::new_v4())
            .await
            .expect("first record");
        let err = driver
            .apply_workload(&bay, &pod, &Uuid::new_v4())
            .await
            .expect_err("another record, same name");
        assert_eq!(
            err,
            DriverError::AlreadyExists(format!("A Pod named web already exists in bay {bay}."))
        );

        // Made with a kubeconfig, not by Magnum: neither adopted nor deleted.
        let ns = namespace(&bay);
        double
            .create(
                "v1/services",
                Some(&ns),
                json!({"metadata": {"name": "mine"}, "spec": {"ports": [{"port": 1}]}}),
            )
            .expect("created directly");
        let svc = manifest(&service_json("mine"), WorkloadKind::Service);
        let err = driver
            .apply_workload(&bay, &svc, &Uuid::new_v4())
            .await
            .expect_err("taken");
        assert!(matches!(err, DriverError::AlreadyExists(_)), "{err:?}");
        let err = driver
            .update_workload(&bay, &svc, &Uuid::new_v4())
            .await
            .expect_err("not ours to update");
        assert!(matches!(err, DriverError::AlreadyExists(_)), "{err:?}");
        driver
            .delete_workload(&bay, WorkloadKind::Service, "mine")
            .await
            .expect("nothing to do");
        assert!(
            stored(&double, "v1/services", &bay, "mine").is_some(),
            "left alone"
        );
        let listed = driver
            .list_workloads(&bay, WorkloadKind::Service)
            .await
            .expect("list");
        assert!(listed.is_empty(), "{listed:?}");
    }

    #[tokio::test]
    async fn updating_an_rc_scales_it() {
        let (double, driver, bay) = bay_ready().await;
        let uuid = Uuid::new_v4();
        let mut rc = manifest(RC_YAML, WorkloadKind::ReplicationController);
        driver
            .apply_workload(&bay, &rc, &uuid)
            .await
            .expect("created");
        set_replicas(&mut rc, 5).expect("valid");
        let state = driver
            .update_workload(&bay, &rc, &uuid)
            .await
            .expect("scaled");
        assert_eq!((state.replicas, state.ready_replicas), (Some(5), Some(0)));
        let object = stored(&double, "v1/replicationcontrollers", &bay, "redis").expect("stored");
        assert_eq!(object["spec"]["replicas"], 5);
        assert_eq!(object["metadata"]["generation"], 2);
        assert_placed(&object["spec"]["template"]["spec"], &bay);

        let bigger = RC_YAML
            .replace("redis:7", "redis:8")
            .replace("replicas: 2", "replicas: 0");
        let rc = manifest(&bigger, WorkloadKind::ReplicationController);
        assert_eq!(manifest::replicas(&rc), Some(0));
        let state = driver
            .update_workload(&bay, &rc, &uuid)
            .await
            .expect("new manifest");
        assert_eq!(state.replicas, Some(0));
        let object = stored(&double, "v1/replicationcontrollers", &bay, "redis").expect("stored");
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][0]["image"],
            "redis:8"
        );
    }

    #[tokio::test]
    async fn a_pod_update_may_change_its_image_and_kubernetes_refuses_the_rest() {
        let (double, driver, bay) = bay_ready().await;
        let uuid = Uuid::new_v4();
        let pod = manifest(POD_YAML, WorkloadKind::Pod);
        driver
            .apply_workload(&bay, &pod, &uuid)
            .await
            .expect("created");
        let newer = manifest(&POD_YAML.replace("redis:7", "redis:8"), WorkloadKind::Pod);
        let state = driver
            .update_workload(&bay, &newer, &uuid)
            .await
            .expect("image changed");
        assert_eq!(state.status.as_deref(), Some("Pending"));
        let object = stored(&double, "v1/pods", &bay, "redis-master").expect("stored");
        assert_eq!(object["spec"]["containers"][0]["image"], "redis:8");

        let other_command = POD_YAML.replace("[redis-server]", "[redis-sentinel]");
        let err = driver
            .update_workload(&bay, &manifest(&other_command, WorkloadKind::Pod), &uuid)
            .await
            .expect_err("immutable");
        let DriverError::Rejected { code, message } = err else {
            panic!("expected Kubernetes' refusal, got {err:?}");
        };
        assert_eq!(code, 422);
        assert!(
            message.starts_with("Pod \"redis-master\" is invalid: spec: Forbidden: pod updates"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_service_update_keeps_its_cluster_ip() {
        let (_double, driver, bay) = bay_ready().await;
        let uuid = Uuid::new_v4();
        let svc = manifest(&service_json("redis"), WorkloadKind::Service);
        let created = driver
            .apply_workload(&bay, &svc, &uuid)
            .await
            .expect("created");
        let text = service_json("redis").replace("6379", "6380");
        let updated = driver
            .update_workload(&bay, &manifest(&text, WorkloadKind::Service), &uuid)
            .await
            .expect("updated");
        assert_eq!(updated.ip, created.ip);
        assert_eq!(updated.ports.expect("ports")[0]["port"], 6380);
    }

    #[tokio::test]
    async fn deleting_removes_the_object_and_repeats_quietly() {
        let (double, driver, bay) = bay_ready().await;
        let uuid = Uuid::new_v4();
        let rc = manifest(RC_YAML, WorkloadKind::ReplicationController);
        driver
            .apply_workload(&bay, &rc, &uuid)
            .await
            .expect("created");
        let listed = driver
            .list_workloads(&bay, WorkloadKind::ReplicationController)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].uuid, listed[0].name.as_str()), (uuid, "redis"));
        for _ in 0..2 {
            driver
                .delete_workload(&bay, WorkloadKind::ReplicationController, "redis")
                .await
                .expect("deleted");
        }
        assert!(stored(&double, "v1/replicationcontrollers", &bay, "redis").is_none());
        assert_eq!(
            driver
                .workload_state(&bay, WorkloadKind::ReplicationController, "redis")
                .await
                .expect("state"),
            None
        );
        let err = driver
            .update_workload(&bay, &rc, &uuid)
            .await
            .expect_err("gone");
        assert!(
            matches!(&err, DriverError::Rejected { code: 404, message }
                if message == "replicationcontrollers \"redis\" not found"),
            "{err:?}"
        );
        // Re-created under a new record once the old one is gone.
        driver
            .apply_workload(&bay, &rc, &Uuid::new_v4())
            .await
            .expect("the name is free again");
    }

    #[tokio::test]
    async fn kubernetes_refusals_keep_their_status_and_message() {
        let (_double, driver, bay) = bay_ready().await;
        // The manifest rules leave label syntax to Kubernetes, which answers 422.
        let text = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "labels": {"tier": "has space"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        })
        .to_string();
        let err = driver
            .apply_workload(&bay, &manifest(&text, WorkloadKind::Pod), &Uuid::new_v4())
            .await
            .expect_err("invalid label");
        let DriverError::Rejected { code, message } = err else {
            panic!("expected Kubernetes' refusal, got {err:?}");
        };
        assert_eq!(code, 422);
        assert!(
            message.starts_with("Pod \"web\" is invalid: metadata.labels"),
            "{message}"
        );

        // A name the manifest rules would refuse, forced past them: the server refuses it too.
        let mut bad = manifest(&pod_json("web", "nginx"), WorkloadKind::Pod);
        bad.name = "Not_Valid".into();
        bad.object["metadata"]["name"] = json!("Not_Valid");
        let err = driver
            .apply_workload(&bay, &bad, &Uuid::new_v4())
            .await
            .expect_err("invalid name");
        assert!(
            matches!(&err, DriverError::Rejected { code: 422, message }
                if message.contains("metadata.name: Invalid value")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_foreign_namespace_is_refused_before_anything_is_sent() {
        let (double, driver, bay) = bay_ready().await;
        let other = namespace(&Uuid::new_v4());
        let text = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": other},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        })
        .to_string();
        let before = double.resource_version();
        let err = driver
            .apply_workload(&bay, &manifest(&text, WorkloadKind::Pod), &Uuid::new_v4())
            .await
            .expect_err("foreign namespace");
        assert!(
            matches!(err, DriverError::Rejected { code: 400, .. }),
            "{err:?}"
        );
        assert_eq!(double.resource_version(), before, "nothing written");
        assert!(double.get("v1/pods", Some(&other), "web").is_none());
    }

    #[tokio::test]
    async fn a_pod_waits_for_the_namespaces_default_account() {
        let (double, driver) = setup(0).await;
        let bay = Uuid::new_v4();
        // The namespace alone, straight away: its account comes about 100 ms later.
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace(&bay)}}))
            .expect("a namespace");
        Api::<Namespace>::all(double.client())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        let started = Instant::now();
        let state = driver
            .apply_workload(
                &bay,
                &manifest(&pod_json("early", "nginx"), WorkloadKind::Pod),
                &Uuid::new_v4(),
            )
            .await
            .expect("created once the account exists");
        assert_eq!(state.status.as_deref(), Some("Pending"));
        assert!(started.elapsed() < SERVICE_ACCOUNT_WAIT);

        let err = driver
            .apply_workload(
                &Uuid::new_v4(),
                &manifest(&pod_json("nowhere", "nginx"), WorkloadKind::Pod),
                &Uuid::new_v4(),
            )
            .await
            .expect_err("no namespace");
        assert!(
            matches!(&err, DriverError::Refused(m) if m.contains("does not exist")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn deleting_the_bay_takes_its_workloads_along() {
        let (double, driver) = setup(1).await;
        let target = bay(1);
        driver.ensure(&target).await.expect("ensure");
        let svc = manifest(&service_json("redis"), WorkloadKind::Service);
        driver
            .apply_workload(&target.uuid, &svc, &Uuid::new_v4())
            .await
            .expect("created");
        driver.delete(&target).await.expect("bay deleted");
        assert!(stored(&double, "v1/services", &target.uuid, "redis").is_none());
        assert!(
            driver
                .list_workloads(&target.uuid, WorkloadKind::Service)
                .await
                .expect("empty list")
                .is_empty()
        );
    }
}

fn group(name: &str, node_count: u32) -> GroupTarget {
    GroupTarget {
        name: name.into(),
        node_count,
        labels: Default::default(),
    }
}

/// Names of the nodes the bay holds for `group`, as the double stores them.
fn held_for(double: &KubeDouble, bay: &BayTarget, group: &str) -> Vec<String> {
    let uuid = bay.uuid.to_string();
    double
        .list("v1/nodes", None)
        .into_iter()
        .filter(|n| label(n, BAY_LABEL) == Some(uuid.as_str()))
        .filter(|n| label(n, NODEGROUP_LABEL) == Some(group))
        .map(|n| {
            n["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn nodegroups_claim_labelled_nodes_and_shrink_or_go_without_touching_the_others() {
    let (double, driver) = setup(5).await;
    let mut target = bay(1);
    driver.ensure(&target).await.expect("default workers");
    let default_nodes = held_for(&double, &target, DEFAULT_WORKER);
    assert_eq!(default_nodes.len(), 1);

    target.groups = vec![group("gpu", 2), group("web", 1)];
    let seen = driver.ensure(&target).await.expect("groups claimed");
    let gpu = held_for(&double, &target, "gpu");
    assert_eq!(gpu.len(), 2);
    assert_eq!(held_for(&double, &target, "web").len(), 1);
    assert_eq!(held_for(&double, &target, DEFAULT_WORKER), default_nodes);
    for node in &seen.nodes {
        let stored = double.get("v1/nodes", None, &node.backend_id).unwrap();
        assert_eq!(
            label(&stored, NODEGROUP_LABEL),
            Some(node.nodegroup.as_str())
        );
        assert_eq!(
            bay_taints(&stored).len(),
            1,
            "the bay's taint on every group's node"
        );
    }
    let mut groups: Vec<&str> = seen.nodes.iter().map(|n| n.nodegroup.as_str()).collect();
    groups.sort_unstable();
    assert_eq!(groups, [DEFAULT_WORKER, "gpu", "gpu", "web"]);

    // Shrinking gpu (releasing the named node first) leaves the default and web nodes alone.
    target.groups = vec![group("gpu", 1), group("web", 1)];
    target.nodes_to_remove = vec![gpu[1].clone()];
    driver.ensure(&target).await.expect("gpu shrunk");
    assert_eq!(held_for(&double, &target, "gpu"), [gpu[0].clone()]);
    assert_free(&double, &gpu[1]);
    assert_eq!(held_for(&double, &target, DEFAULT_WORKER), default_nodes);
    assert_eq!(held_for(&double, &target, "web").len(), 1);

    // Shrinking the default group leaves the groups alone; a group not listed any more gives
    // its nodes back.
    target.nodes_to_remove.clear();
    target.node_count = 0;
    target.groups = vec![group("gpu", 1)];
    driver.ensure(&target).await.expect("web dropped");
    assert!(held_for(&double, &target, DEFAULT_WORKER).is_empty());
    assert!(held_for(&double, &target, "web").is_empty());
    assert_eq!(held_for(&double, &target, "gpu"), [gpu[0].clone()]);

    // Too few free nodes for a group: nothing claimed by the call stays, nothing held goes.
    target.groups = vec![group("gpu", 1), group("big", 9)];
    let err = driver.ensure(&target).await.unwrap_err();
    assert_eq!(
        err,
        DriverError::Insufficient(
            "Not enough free Kubernetes nodes for nodegroup big: 9 requested, 4 available.".into()
        )
    );
    assert!(held_for(&double, &target, "big").is_empty());
    assert_eq!(held(&double, &target), [gpu[0].clone()]);

    driver.delete(&target).await.expect("bay deleted");
    for i in 0..5 {
        assert_free(&double, &format!("node-{i}"));
    }
}

#[tokio::test]
async fn claims_made_before_nodegroups_belong_to_the_default_group() {
    let (double, driver) = setup(2).await;
    let mut target = bay(1);
    driver.ensure(&target).await.expect("claimed");
    let name = held(&double, &target).pop().unwrap();
    // A claim from before nodegroups carries no group label.
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(double.client());
    let unlabel = json!({"metadata": {"labels": {NODEGROUP_LABEL: null}}});
    nodes
        .patch(
            &name,
            &Default::default(),
            &kube::api::Patch::Merge(&unlabel),
        )
        .await
        .unwrap();
    let stored = double.get("v1/nodes", None, &name).unwrap();
    assert_eq!(label(&stored, NODEGROUP_LABEL), None);
    let seen = driver.observe(&target).await.unwrap();
    assert_eq!(seen.nodes[0].nodegroup, DEFAULT_WORKER);
    target.groups = vec![group("gpu", 1)];
    driver.ensure(&target).await.expect("group added");
    assert_eq!(held(&double, &target).len(), 2);
    assert_eq!(held_for(&double, &target, "gpu").len(), 1);
    driver.delete(&target).await.unwrap();
}
