//! Tests of the double through kube-rs typed APIs, as the drivers use it.

use super::KubeDouble;
use crate::eventually;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, Node, Pod, ReplicationController, Service, ServiceAccount,
};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use serde_json::json;
use std::time::Duration;

fn status(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API status, got {other:?}"),
    }
}

async fn namespace(client: &kube::Client, name: &str) -> Namespace {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap()
}

fn config_map(name: &str, labels: &serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn creating_and_getting_follow_api_server_codes() {
    let double = KubeDouble::start().await;
    let client = double.client();
    let created = namespace(&client, "alpha").await;
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    assert_eq!(
        meta.labels.as_ref().unwrap()["kubernetes.io/metadata.name"],
        "alpha"
    );
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));

    let api = Api::<Namespace>::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "alpha"}})).unwrap();
    let (code, reason, message) =
        status(api.create(&PostParams::default(), &ns).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(message, "namespaces \"alpha\" already exists");

    let (code, reason, message) = status(api.get("nope").await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), message.as_str()),
        (404, "NotFound", "namespaces \"nope\" not found")
    );
    assert!(api.get_opt("nope").await.unwrap().is_none());

    let cms = Api::<ConfigMap>::namespaced(client.clone(), "missing");
    let (code, _, message) = status(
        cms.create(&PostParams::default(), &config_map("c", &json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (404, "namespaces \"missing\" not found")
    );

    let bad = config_map("c", &json!({"ok": "has space"}));
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "alpha");
    let (code, reason, _) = status(cms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, super::GIT_VERSION);
}

#[tokio::test]
async fn resource_versions_increase_and_stale_writes_conflict() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "ns").await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "ns");
    let first = cms
        .create(&PostParams::default(), &config_map("c", &json!({})))
        .await
        .unwrap();
    let rv = |cm: &ConfigMap| {
        cm.metadata
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };

    let mut edited = first.clone();
    edited.data = Some([("k".to_owned(), "w".to_owned())].into());
    let second = cms
        .replace("c", &PostParams::default(), &edited)
        .await
        .unwrap();
    assert!(rv(&second) > rv(&first));

    // The same stale copy again: the server refuses.
    let (code, reason, message) = status(
        cms.replace("c", &PostParams::default(), &edited)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        message.contains("the object has been modified"),
        "{message}"
    );

    // A merge patch naming a stale resourceVersion is a failed precondition too…
    let stale = json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"k": "x"}});
    let err = cms
        .patch("c", &PatchParams::default(), &Patch::Merge(&stale))
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 409);
    // …while the current one, or none, applies.
    let fresh = json!({"metadata": {"resourceVersion": second.metadata.resource_version}, "data": {"k": "x"}});
    let third = cms
        .patch("c", &PatchParams::default(), &Patch::Merge(&fresh))
        .await
        .unwrap();
    assert_eq!(third.data.unwrap()["k"], "x");
    assert!(rv(&cms.get("c").await.unwrap()) > rv(&second));

    // JSON patch, sent raw (kube's `Patch::Json` needs its `jsonpatch` feature).
    let ops = json!([
        {"op": "add", "path": "/metadata/labels", "value": {"a": "1"}},
        {"op": "replace", "path": "/data/k", "value": "y"},
    ]);
    let request = axum::http::Request::patch("/api/v1/namespaces/ns/configmaps/c")
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string().into_bytes())
        .unwrap();
    let patched: ConfigMap = client.request(request).await.unwrap();
    assert_eq!(patched.data.unwrap()["k"], "y");
    assert_eq!(patched.metadata.labels.unwrap()["a"], "1");
    assert!(double.resource_version() >= rv(&cms.get("c").await.unwrap()));
}

#[tokio::test]
async fn server_side_apply_creates_then_merges() {
    let double = KubeDouble::start().await;
    let client = double.client();
    let api = Api::<Namespace>::all(client.clone());
    let params = PatchParams::apply("magnum-conductor").force();
    let applied = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ssa", "labels": {"a": "1"}}});
    let ns = api
        .patch("ssa", &params, &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(ns.metadata.labels.as_ref().unwrap()["a"], "1");
    let again = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ssa", "labels": {"b": "2"}}});
    let ns = api
        .patch("ssa", &params, &Patch::Apply(&again))
        .await
        .unwrap();
    let labels = ns.metadata.labels.unwrap();
    assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("1", "2"));
    assert_eq!(
        ns.status.unwrap().phase.as_deref(),
        Some("Active"),
        "apply keeps the status"
    );
}

#[tokio::test]
async fn label_selectors_filter_lists() {
    let double = KubeDouble::start().await;
    double.add_node("n1", &[("pool", "true"), ("zone", "a")], true);
    double.add_node("n2", &[("pool", "true"), ("zone", "b"), ("bay", "x")], true);
    double.add_node("n3", &[("zone", "c")], false);
    let nodes = Api::<Node>::all(double.client());
    let names = |selector: &'static str| {
        let nodes = nodes.clone();
        async move {
            let lp = ListParams::default().labels(selector);
            let list = nodes.list(&lp).await.unwrap();
            list.items
                .into_iter()
                .map(|n| n.metadata.name.unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("pool=true").await, ["n1", "n2"]);
    assert_eq!(names("pool==true,!bay").await, ["n1"]);
    assert_eq!(names("zone!=a").await, ["n2", "n3"]);
    assert_eq!(names("bay").await, ["n2"]);
    assert_eq!(names("zone in (a, c)").await, ["n1", "n3"]);
    assert_eq!(names("zone notin (a),pool").await, ["n2"]);
    assert_eq!(names("").await, ["n1", "n2", "n3"]);
    let err = nodes
        .list(&ListParams::default().labels("zone in (a"))
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 400);
    let by_name = nodes
        .list(&ListParams::default().fields("metadata.name=n2"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
}

#[tokio::test]
async fn lists_page_with_limit_and_continue() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "pages").await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "pages");
    for i in 0..5 {
        cms.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i}"), &json!({"p": "y"})),
        )
        .await
        .unwrap();
    }
    cms.create(&PostParams::default(), &config_map("other", &json!({})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut lp = ListParams::default().labels("p=y").limit(2);
    let first = cms.list(&lp).await.unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let mut page = first;
    loop {
        seen.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.clone().filter(|c| !c.is_empty()) {
            Some(token) => {
                lp = lp.continue_token(&token);
                page = cms.list(&lp).await.unwrap();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
    let err = cms
        .list(&ListParams::default().continue_token("zz"))
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 400);
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_objects() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "doomed").await;
    namespace(&client, "kept").await;
    for ns in ["doomed", "kept"] {
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &config_map("c", &json!({})))
            .await
            .unwrap();
    }
    let namespaces = Api::<Namespace>::all(client.clone());
    let deleted = namespaces
        .delete("doomed", &DeleteParams::background())
        .await
        .unwrap();
    assert!(deleted.left().is_some(), "the deleted namespace comes back");
    assert!(namespaces.get_opt("doomed").await.unwrap().is_none());
    assert!(double.get("v1/configmaps", Some("doomed"), "c").is_none());
    assert!(double.get("v1/configmaps", Some("kept"), "c").is_some());
    let err = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 404);
    let cms = Api::<ConfigMap>::namespaced(client, "doomed");
    let err = cms
        .create(&PostParams::default(), &config_map("c", &json!({})))
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 404);
}

#[tokio::test]
async fn a_terminating_namespace_refuses_content_then_vanishes() {
    let double = KubeDouble::start().await;
    double.set_namespace_finalize_delay(Duration::from_millis(300));
    let client = double.client();
    namespace(&client, "slow").await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let ns = namespaces
        .delete("slow", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(ns.metadata.deletion_timestamp.is_some());
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "slow");
    let (code, _, message) = status(
        cms.create(&PostParams::default(), &config_map("c", &json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert!(
        message.contains("because it is being terminated"),
        "{message}"
    );
    assert_eq!(
        status(
            namespaces
                .delete("slow", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .0,
        409
    );
    eventually("the namespace is gone", Duration::from_secs(5), || {
        let namespaces = namespaces.clone();
        async move { namespaces.get_opt("slow").await.unwrap().is_none() }
    })
    .await;
}

#[tokio::test]
async fn pods_wait_for_the_default_service_account_and_stay_pending() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "work").await;
    let pods = Api::<Pod>::namespaced(client.clone(), "work");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    // Straight after the namespace, as on a real cluster, the account is not there yet.
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), "work");
    if accounts.get_opt("default").await.unwrap().is_none() {
        let (code, _, message) =
            status(pods.create(&PostParams::default(), &pod).await.unwrap_err());
        assert_eq!(code, 403);
        assert!(
            message.contains("error looking up service account work/default"),
            "{message}"
        );
    }
    eventually("the default account exists", Duration::from_secs(5), || {
        let accounts = accounts.clone();
        async move { accounts.get_opt("default").await.unwrap().is_some() }
    })
    .await;
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(
        created.spec.unwrap().service_account_name.as_deref(),
        Some("default")
    );

    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "rc"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "x"}},
                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }))
    .unwrap();
    let rc = Api::<ReplicationController>::namespaced(client.clone(), "work")
        .create(&PostParams::default(), &rc)
        .await
        .unwrap();
    assert_eq!(rc.status.unwrap().replicas, 0);
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        1,
        "no RC pods"
    );

    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "svc"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}},
    }))
    .unwrap();
    let svc = Api::<Service>::namespaced(client, "work")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    let spec = svc.spec.unwrap();
    assert!(spec.cluster_ip.is_some());
    assert_eq!(spec.ports.unwrap()[0].protocol.as_deref(), Some("TCP"));
}

#[tokio::test]
async fn any_group_and_kind_is_stored_generically() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "ns").await;
    let gvk = GroupVersionKind::gvk("example.magnum.openstack.org", "v1alpha1", "Widget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets = Api::<DynamicObject>::namespaced_with(client.clone(), "ns", &resource);
    let widget = DynamicObject::new("w1", &resource).data(json!({"spec": {"size": 3}}));
    widgets
        .create(&PostParams::default(), &widget)
        .await
        .unwrap();
    let got = widgets.get("w1").await.unwrap();
    assert_eq!(got.data["spec"]["size"], 3);
    let listed = widgets.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        double
            .get(
                "example.magnum.openstack.org/v1alpha1/widgets",
                Some("ns"),
                "w1"
            )
            .is_some()
    );

    let clustered = Api::<DynamicObject>::all_with(client, &resource);
    clustered
        .create(
            &PostParams::default(),
            &DynamicObject::new("global", &resource),
        )
        .await
        .unwrap();
    assert_eq!(
        double
            .list("example.magnum.openstack.org/v1alpha1/widgets", None)
            .len(),
        2
    );
}

#[tokio::test]
async fn denied_resources_answer_forbidden_and_collections_delete_by_selector() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "ns").await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "ns");
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        cms.create(
            &PostParams::default(),
            &config_map(name, &json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    let gone = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=web"),
        )
        .await
        .unwrap();
    assert_eq!(gone.left().map(|l| l.items.len()), Some(2));
    assert_eq!(double.list("v1/configmaps", Some("ns")).len(), 1);

    double.deny("configmaps");
    let (code, reason, message) = status(cms.get("c").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert!(
        message.contains("cannot get resource \"configmaps\""),
        "{message}"
    );
    double.allow("configmaps");
    assert!(cms.get("c").await.is_ok());

    assert!(double.set_node_ready("nope", true).eq(&false));
    double.add_node("n1", &[], true);
    let before = Api::<Node>::all(client.clone()).get("n1").await.unwrap();
    assert!(double.set_node_ready("n1", false));
    let after = Api::<Node>::all(client.clone()).get("n1").await.unwrap();
    assert_ne!(
        before.metadata.resource_version,
        after.metadata.resource_version
    );
    let ready = after.status.unwrap().conditions.unwrap();
    assert_eq!(ready[0].status, "False");
    assert!(double.remove_node("n1"));
    assert!(
        Api::<Node>::all(client)
            .get_opt("n1")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn pod_updates_may_change_images_and_add_tolerations_only() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "work").await;
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), "work");
    eventually("the default account exists", Duration::from_secs(5), || {
        let accounts = accounts.clone();
        async move { accounts.get_opt("default").await.unwrap().is_some() }
    })
    .await;
    let pods = Api::<Pod>::namespaced(client, "work");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1", "command": ["a"]}],
                 "tolerations": [{"key": "k", "operator": "Exists"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let merge = |patch: serde_json::Value| {
        let pods = pods.clone();
        async move {
            pods.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
    };
    let updated = merge(json!({"spec": {
        "containers": [{"name": "c", "image": "nginx:2", "command": ["a"]}],
        "tolerations": [{"key": "k", "operator": "Exists"}, {"key": "x", "operator": "Exists"}],
        "activeDeadlineSeconds": 60,
    }}))
    .await
    .unwrap();
    assert_eq!(
        updated.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:2")
    );
    for forbidden in [
        json!({"spec": {"containers": [{"name": "c", "image": "nginx:2", "command": ["b"]}]}}),
        json!({"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}),
        json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
    ] {
        let (code, reason, message) = status(merge(forbidden.clone()).await.unwrap_err());
        assert_eq!((code, reason.as_str()), (422, "Invalid"), "{forbidden}");
        assert!(
            message.starts_with("Pod \"web\" is invalid: spec: Forbidden: pod updates"),
            "{message}"
        );
    }
    let labelled = merge(json!({"metadata": {"labels": {"a": "b"}}}))
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.labels.unwrap()["a"],
        "b",
        "metadata is free"
    );
}

#[tokio::test]
async fn services_keep_their_cluster_ip_and_port_defaults_across_writes() {
    let double = KubeDouble::start().await;
    let client = double.client();
    namespace(&client, "work").await;
    let services = Api::<Service>::namespaced(client, "work");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "svc"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]},
    }))
    .unwrap();
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    let spec = created.spec.clone().unwrap();
    let ip = spec.cluster_ip.clone().unwrap();
    let node_port = spec.ports.unwrap()[0].node_port;
    assert!(node_port.is_some());

    // A replace that leaves the allocations out keeps them, with the defaults filled in again.
    let mut body = created.clone();
    body.spec =
        Some(serde_json::from_value(json!({"type": "NodePort", "ports": [{"port": 80}]})).unwrap());
    let replaced = services
        .replace("svc", &PostParams::default(), &body)
        .await
        .unwrap();
    let spec = replaced.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some(ip.as_str()));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(
        (port.node_port, port.protocol.as_deref()),
        (node_port, Some("TCP"))
    );

    let moved = json!({"spec": {"clusterIP": "10.96.9.9", "clusterIPs": ["10.96.9.9"]}});
    let (code, _, message) = status(
        services
            .patch("svc", &PatchParams::default(), &Patch::Merge(&moved))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(message.contains("field is immutable"), "{message}");
}
