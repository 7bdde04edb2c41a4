//! Worker nodegroups end to end (spec/rest-api.md §4.3, specs/0002): tenants add groups over
//! HTTP, the conductor claims each group's own nodes (Kubernetes Nodes of the API double, hosts
//! of the real Docker Engines), scales and releases only that group's nodes, and refuses what
//! Magnum refuses.

use crate::bays::wait_status;
use crate::kube_bays::kube_double;
use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

use crate::bays::BAY_LABEL;
const GROUP_LABEL: &str = "magnum.openstack.org/nodegroup";

async fn kube_cluster(nodes: usize, node_count: u32) -> (KubeDouble, Deployment, String) {
    kube_cluster_with(nodes, node_count, "").await
}

/// A deployment on a Kubernetes double of `nodes` pool nodes, with `extra` configuration, and
/// a kubernetes cluster `prod` of `node_count` workers, created.
async fn kube_cluster_with(
    nodes: usize,
    node_count: u32,
    extra: &str,
) -> (KubeDouble, Deployment, String) {
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
        &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"}),
    )
    .await
    .expect(201);
    let uuid = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "prod", "cluster_template_id": "k8s", "node_count": node_count}),
        )
        .await
        .expect(202)["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_COMPLETE").await;
    (double, e2e, uuid)
}

/// Names of the Nodes the bay holds for `group`, sorted.
fn held(double: &KubeDouble, bay: &str, group: &str) -> Vec<String> {
    let mut names: Vec<String> = double
        .list("v1/nodes", None)
        .into_iter()
        .filter(|n| n["metadata"]["labels"][BAY_LABEL] == bay)
        .filter(|n| n["metadata"]["labels"][GROUP_LABEL] == group)
        .map(|n| {
            n["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// Waits until the group at `path` shows `status`; fails fast on another final status.
async fn wait_group(e2e: &Deployment, path: &str, status: &str) -> Value {
    wait_status(e2e, path, status).await
}

fn assert_error_body(reply: &magnum_test_support::Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let detail = reply.json["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains(needle), "{needle:?} not in {}", reply.text);
    let legacy: Value =
        serde_json::from_str(reply.json["error_message"].as_str().unwrap_or("null")).unwrap();
    assert_eq!(legacy["faultstring"], detail, "{}", reply.text);
    assert_eq!(
        reply.json["errors"][0]["code"],
        if status < 500 { "client" } else { "server" }
    );
}

#[tokio::test]
async fn a_worker_nodegroup_claims_scales_and_releases_only_its_own_nodes() {
    let (double, e2e, bay) = kube_cluster(5, 1).await;
    let cluster = format!("/v1/clusters/{bay}");
    let groups = format!("{cluster}/nodegroups");
    let default_nodes = held(&double, &bay, "default-worker");
    assert_eq!(
        default_nodes.len(),
        1,
        "the default group's claim is labelled"
    );

    // Create: 202 with the stored group, then its nodes are claimed and labelled.
    let created = e2e
        .post(
            &groups,
            &json!({"name": "gpu", "node_count": 2, "max_node_count": null,
                    "min_node_count": 0, "role": "worker", "labels": {"tier": "gpu"}}),
        )
        .await;
    let created = created.expect(202).clone();
    assert_eq!(created["name"], "gpu");
    assert_eq!(created["is_default"], false);
    assert_eq!(created["role"], "worker");
    assert_eq!(created["cluster_id"], bay.as_str());
    assert_eq!(created["status"], "CREATE_IN_PROGRESS");
    assert_eq!(created["labels"], json!({"tier": "gpu"}));
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    assert_ne!(
        uuid,
        uuid::Uuid::new_v5(&bay.parse().unwrap(), b"gpu").to_string()
    );
    assert!(
        created["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1/clusters/{bay}/nodegroups/{uuid}")),
        "{created}"
    );
    let gpu = format!("{groups}/gpu");
    let shown = wait_group(&e2e, &gpu, "CREATE_COMPLETE").await;
    assert_eq!(shown["uuid"], uuid.as_str());
    assert_eq!(shown["node_count"], 2);
    let gpu_nodes = held(&double, &bay, "gpu");
    assert_eq!(gpu_nodes.len(), 2);
    let addresses = shown["node_addresses"].as_array().unwrap();
    for node in &gpu_nodes {
        assert!(addresses.contains(&json!(node)), "{node} in {shown}");
    }
    assert_eq!(held(&double, &bay, "default-worker"), default_nodes);
    let worker = e2e.get(&format!("{groups}/default-worker")).await;
    let worker = worker.expect(200);
    assert_eq!(worker["node_count"], 1);
    assert!(
        worker["node_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !gpu_nodes.contains(&a.as_str().unwrap().to_owned())),
        "{worker}"
    );
    let shown_cluster = e2e.get(&cluster).await;
    assert_eq!(shown_cluster.expect(200)["node_count"], 1);
    assert_eq!(shown_cluster.json["status"], "UPDATE_COMPLETE");
    let listed = e2e.get(&groups).await;
    let listed = listed.expect(200)["nodegroups"].as_array().unwrap().clone();
    let names: Vec<&str> = listed.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default-master", "default-worker", "gpu"]);
    assert_eq!(listed[2]["is_default"], false);
    assert!(listed[2].get("node_addresses").is_none(), "reduced items");
    // Paging, as every list: a page, a `next` link that keeps the sort, the rest after it.
    let first = e2e
        .get(&format!("{groups}?limit=2&sort_key=name&sort_dir=desc"))
        .await;
    let first = first.expect(200).clone();
    let page_names = |page: &Value| -> Vec<String> {
        page["nodegroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(page_names(&first), ["gpu", "default-worker"]);
    let next = first["next"].as_str().expect("a next link").to_owned();
    assert!(
        next.contains("sort_key=name") && next.contains("sort_dir=desc"),
        "{next}"
    );
    let rest = &next[next.find("/v1/").unwrap()..];
    let second = e2e.get(rest).await;
    assert_eq!(page_names(second.expect(200)), ["default-master"]);
    assert!(second.json.get("next").is_none(), "{}", second.text);
    let unknown = e2e
        .get(&format!("{groups}?marker={}", uuid::Uuid::new_v4()))
        .await;
    assert_error_body(&unknown, 404, "could not be found");
    e2e.get(&format!("{groups}/{uuid}")).await.expect(200);

    // The name is unique in the cluster.
    let again = e2e.post(&groups, &json!({"name": "gpu"})).await;
    assert_error_body(&again, 409, "already exists");

    // Scale up, then down: only the group's own nodes move.
    let scaled = e2e
        .patch(
            &gpu,
            &json!([{"op": "replace", "path": "/node_count", "value": 3}]),
        )
        .await;
    assert_eq!(scaled.expect(202)["status"], "UPDATE_IN_PROGRESS");
    let shown = wait_group(&e2e, &gpu, "UPDATE_COMPLETE").await;
    assert_eq!(shown["node_count"], 3);
    let three = held(&double, &bay, "gpu");
    assert_eq!(three.len(), 3);
    assert!(
        three
            .iter()
            .all(|n| gpu_nodes.contains(n) || !default_nodes.contains(n))
    );
    e2e.patch(
        &gpu,
        &json!([{"op": "replace", "path": "/node_count", "value": 1}]),
    )
    .await
    .expect(202);
    wait_group(&e2e, &gpu, "UPDATE_COMPLETE").await;
    assert_eq!(held(&double, &bay, "gpu").len(), 1);
    assert_eq!(held(&double, &bay, "default-worker"), default_nodes);

    // Resize with `nodegroup` scales that group, not the cluster's own count.
    e2e.post(
        &format!("{cluster}/actions/resize"),
        &json!({"node_count": 2, "nodegroup": "gpu"}),
    )
    .await
    .expect(202);
    wait_group(&e2e, &gpu, "UPDATE_COMPLETE").await;
    wait_status(&e2e, &cluster, "UPDATE_COMPLETE").await;
    assert_eq!(held(&double, &bay, "gpu").len(), 2);
    assert_eq!(e2e.get(&cluster).await.json["node_count"], 1);

    // node_count stays within min/max.
    e2e.patch(
        &gpu,
        &json!([{"op": "replace", "path": "/max_node_count", "value": 2}]),
    )
    .await
    .expect(202);
    let bounded = wait_group(&e2e, &gpu, "UPDATE_COMPLETE").await;
    assert_eq!(bounded["max_node_count"], 2);
    let over = e2e
        .patch(
            &gpu,
            &json!([{"op": "replace", "path": "/node_count", "value": 3}]),
        )
        .await;
    assert_error_body(&over, 400, "max_node_count");
    let over = e2e
        .post(
            &format!("{cluster}/actions/resize"),
            &json!({"node_count": 3, "nodegroup": "gpu"}),
        )
        .await;
    assert_error_body(&over, 400, "max_node_count");

    // The defaults cannot be deleted; another project sees none of it.
    for name in ["default-worker", "default-master"] {
        let refused = e2e.delete(&format!("{groups}/{name}")).await;
        assert_error_body(
            &refused,
            400,
            "Deleting a default nodegroup is not supported.",
        );
    }
    let bob = ("bob", "other", "member");
    for (method, path, body) in [
        (Method::GET, groups.clone(), None),
        (Method::GET, gpu.clone(), None),
        (Method::POST, groups.clone(), Some(json!({"name": "mine"}))),
        (
            Method::PATCH,
            gpu.clone(),
            Some(json!([{"op": "replace", "path": "/node_count", "value": 1}])),
        ),
        (Method::DELETE, gpu.clone(), None),
    ] {
        let reply = e2e
            .request_as(bob, method.clone(), &path, body.as_ref())
            .await;
        assert_error_body(&reply, 404, &format!("Cluster {bay} could not be found."));
    }
    assert_eq!(held(&double, &bay, "gpu").len(), 2);

    // Delete releases only the group's nodes.
    e2e.delete(&gpu).await.expect(204);
    eventually("the group is gone", Duration::from_secs(60), || async {
        e2e.get(&gpu).await.status == 404
    })
    .await;
    assert!(held(&double, &bay, "gpu").is_empty());
    assert_eq!(held(&double, &bay, "default-worker"), default_nodes);
    let gone = e2e.get(&gpu).await;
    assert_error_body(&gone, 404, "Nodegroup gpu could not be found.");

    // A group the pool cannot fill fails with the reason and claims nothing; it can be deleted.
    let big = format!("{groups}/big");
    e2e.post(&groups, &json!({"name": "big", "node_count": 9}))
        .await
        .expect(202);
    let failed = wait_group(&e2e, &big, "CREATE_FAILED").await;
    assert_eq!(
        failed["status_reason"],
        "Not enough free Kubernetes nodes for nodegroup big: 9 requested, 4 available."
    );
    assert_eq!(failed["node_count"], 0);
    assert!(held(&double, &bay, "big").is_empty());
    let bay_failed = e2e.get(&cluster).await;
    assert_eq!(bay_failed.json["status"], "UPDATE_FAILED");
    e2e.delete(&big).await.expect(204);
    eventually(
        "the failed group is gone",
        Duration::from_secs(60),
        || async { e2e.get(&big).await.status == 404 },
    )
    .await;

    // Deleting the cluster releases every group's nodes.
    e2e.post(&groups, &json!({"name": "web", "node_count": 2}))
        .await
        .expect(202);
    wait_group(&e2e, &format!("{groups}/web"), "CREATE_COMPLETE").await;
    assert_eq!(held(&double, &bay, "web").len(), 2);
    e2e.delete(&cluster).await.expect(204);
    eventually("the cluster is gone", Duration::from_secs(60), || async {
        e2e.get(&cluster).await.status == 404
    })
    .await;
    let still: Vec<Value> = double
        .list("v1/nodes", None)
        .into_iter()
        .filter(|n| !n["metadata"]["labels"][BAY_LABEL].is_null())
        .collect();
    assert!(still.is_empty(), "{still:?}");
    assert_eq!(e2e.count("nodegroup").await, 0);
}

#[tokio::test]
async fn bad_nodegroup_requests_get_openstack_errors_and_a_busy_cluster_refuses() {
    let (double, e2e, bay) = kube_cluster(3, 1).await;
    let groups = format!("/v1/clusters/{bay}/nodegroups");
    for (body, needle) in [
        (
            json!({"name": "m", "role": "master"}),
            "Creating master nodegroups is not supported.",
        ),
        (
            json!({"name": "m", "role": "gpu"}),
            "Only worker nodegroups can be created.",
        ),
        (
            json!({"node_count": 1}),
            "Invalid input for field/attribute name. Value: None. Mandatory field missing.",
        ),
        (json!({"name": "two words"}), "label"),
        (json!({"name": "default-worker"}), "reserved"),
        (
            json!({"name": "n", "node_count": -1}),
            "Value should be greater or equal to 0.",
        ),
        (
            json!({"name": "n", "node_count": "many"}),
            "Expected an integer.",
        ),
        (
            json!({"name": "n", "node_count": 3, "max_node_count": 2}),
            "max_node_count",
        ),
        (
            json!({"name": "n", "colour": "red"}),
            "Unknown attribute for argument nodegroup: colour",
        ),
        (
            json!({"name": "n", "status": "CREATE_COMPLETE"}),
            "read-only",
        ),
        (
            json!({"name": "n", "node_count": 100}),
            "[bay] max_node_count",
        ),
        (json!(["n"]), "must be a JSON object"),
    ] {
        let reply = e2e.post(&groups, &body).await;
        assert_error_body(&reply, 400, needle);
    }
    let malformed = e2e
        .raw(
            Method::POST,
            &groups,
            &[("Content-Type", "application/json")],
            b"{\"name\": ".to_vec(),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    let missing = e2e
        .post("/v1/clusters/nope/nodegroups", &json!({"name": "n"}))
        .await;
    assert_error_body(&missing, 404, "Cluster nope could not be found.");

    e2e.post(&groups, &json!({"name": "ok", "node_count": 1}))
        .await
        .expect(202);
    let ok = format!("{groups}/ok");
    wait_group(&e2e, &ok, "CREATE_COMPLETE").await;
    for (patch, needle) in [
        (
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
            "internal attribute",
        ),
        (
            json!([{"op": "replace", "path": "/role", "value": "master"}]),
            "internal attribute",
        ),
        (
            json!([{"op": "replace", "path": "/nope", "value": 1}]),
            "No such attribute",
        ),
        (json!([{"op": "move", "path": "/node_count"}]), "move"),
        (
            json!([{"op": "replace", "path": "/node_count", "value": -2}]),
            "greater or equal to 0",
        ),
        (
            json!([{"op": "replace", "path": "/min_node_count", "value": 2}]),
            "min_node_count",
        ),
    ] {
        let reply = e2e.patch(&ok, &patch).await;
        assert_error_body(&reply, 400, needle);
    }
    let reply = e2e
        .patch(
            &format!("{groups}/default-worker"),
            &json!([{"op": "replace", "path": "/node_count", "value": 2}]),
        )
        .await;
    assert_error_body(&reply, 400, "follows its cluster");
    let reply = e2e
        .patch(
            &format!("{groups}/nope"),
            &json!([{"op": "replace", "path": "/node_count", "value": 2}]),
        )
        .await;
    assert_error_body(&reply, 404, "Nodegroup nope could not be found.");
    assert_error_body(
        &e2e.delete(&format!("{groups}/nope")).await,
        404,
        "Nodegroup nope could not be found.",
    );

    // One operation per cluster: while a group's nodes are being claimed (slow API server),
    // the cluster takes no other operation.
    double.set_latency(Duration::from_millis(400));
    e2e.post(&groups, &json!({"name": "slow", "node_count": 1}))
        .await
        .expect(202);
    let busy = e2e
        .post(&groups, &json!({"name": "second", "node_count": 1}))
        .await;
    assert_error_body(&busy, 400, "UPDATE_IN_PROGRESS");
    let busy = e2e
        .patch(
            &ok,
            &json!([{"op": "replace", "path": "/node_count", "value": 2}]),
        )
        .await;
    assert_error_body(&busy, 400, "UPDATE_IN_PROGRESS");
    let busy = e2e.delete(&ok).await;
    assert_error_body(&busy, 400, "UPDATE_IN_PROGRESS");
    double.set_latency(Duration::ZERO);
    wait_group(&e2e, &format!("{groups}/slow"), "CREATE_COMPLETE").await;
    assert_eq!(
        e2e.get(&groups).await.json["nodegroups"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn a_nodegroup_left_in_progress_past_the_timeout_is_failed_by_the_reconciler() {
    let (_double, e2e, bay) = kube_cluster(2, 1).await;
    let groups = format!("/v1/clusters/{bay}/nodegroups");
    e2e.post(&groups, &json!({"name": "lost", "node_count": 1}))
        .await
        .expect(202);
    let lost = format!("{groups}/lost");
    wait_group(&e2e, &lost, "CREATE_COMPLETE").await;
    // As if a conductor had recorded an update and died before recording the bay's operation.
    e2e.sql(
        "UPDATE nodegroup SET status = 'UPDATE_IN_PROGRESS', \
         updated_at = now() - interval '2 hours' WHERE name = 'lost'",
    )
    .await;
    let failed = wait_group(&e2e, &lost, "UPDATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("did not finish within 60 minute(s)"),
        "{failed}"
    );
}

#[tokio::test]
async fn docker_bay_nodegroups_claim_their_own_hosts_on_the_real_engines() {
    let e2e = crate::bays::docker_deployment().await;
    crate::bays::swarm_baymodel(&e2e, "swarm").await;
    let bay = e2e
        .post(
            "/v1/clusters",
            &json!({"name": "hive", "cluster_template_id": "swarm", "node_count": 1}),
        )
        .await
        .expect(202)["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let cluster = format!("/v1/clusters/{bay}");
    let first = wait_status(&e2e, &cluster, "CREATE_COMPLETE").await;
    let groups = format!("{cluster}/nodegroups");
    e2e.post(&groups, &json!({"name": "extra", "node_count": 1}))
        .await
        .expect(202);
    let extra = wait_group(&e2e, &format!("{groups}/extra"), "CREATE_COMPLETE").await;
    let hosts = [
        std::env::var("MAGNUM_TEST_DOCKER_HOST").unwrap(),
        std::env::var("MAGNUM_TEST_DOCKER_HOST2").unwrap(),
    ];
    let extra_hosts = extra["node_addresses"].as_array().unwrap().clone();
    assert_eq!(extra_hosts.len(), 1, "{extra}");
    assert_eq!(first["node_addresses"].as_array().unwrap().len(), 1);
    assert_ne!(first["node_addresses"][0], extra_hosts[0]);
    assert!(hosts.iter().any(|h| extra_hosts[0] == h.as_str()));
    let label = crate::bays::claim_label(extra_hosts[0].as_str().unwrap(), GROUP_LABEL);
    assert_eq!(label.as_deref(), Some("extra"));
    let worker = e2e.get(&format!("{groups}/default-worker")).await;
    assert_eq!(worker.json["node_addresses"], first["node_addresses"]);

    // No third host: a second group fails and claims nothing.
    e2e.post(&groups, &json!({"name": "more", "node_count": 1}))
        .await
        .expect(202);
    let failed = wait_group(&e2e, &format!("{groups}/more"), "CREATE_FAILED").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .starts_with("Not enough free Docker hosts for nodegroup more"),
        "{failed}"
    );

    e2e.delete(&format!("{groups}/extra")).await.expect(204);
    eventually("the group is gone", Duration::from_secs(60), || async {
        e2e.get(&format!("{groups}/extra")).await.status == 404
    })
    .await;
    assert_eq!(
        crate::bays::claim_label(extra_hosts[0].as_str().unwrap(), BAY_LABEL),
        None,
        "the group's host is free again"
    );
    assert_eq!(
        crate::bays::claim_label(first["node_addresses"][0].as_str().unwrap(), BAY_LABEL)
            .as_deref(),
        Some(bay.as_str()),
        "the default group keeps its host"
    );
    e2e.delete(&cluster).await.expect(204);
    eventually("the cluster is gone", Duration::from_secs(60), || async {
        e2e.get(&cluster).await.status == 404
    })
    .await;
}

#[tokio::test]
async fn nodegroup_nodes_count_against_the_bay_node_limit_and_failures_name_the_group() {
    let (double, e2e, bay) = kube_cluster_with(3, 1, "[bay]\nmax_node_count = 3\n").await;
    let cluster = format!("/v1/clusters/{bay}");
    let groups = format!("{cluster}/nodegroups");
    e2e.post(&groups, &json!({"name": "gpu", "node_count": 2}))
        .await
        .expect(202);
    wait_group(&e2e, &format!("{groups}/gpu"), "CREATE_COMPLETE").await;
    let over = e2e
        .post(&groups, &json!({"name": "more", "node_count": 1}))
        .await;
    assert_error_body(&over, 400, "above the maximum of 3 ([bay] max_node_count)");
    let over = e2e
        .patch(
            &cluster,
            &json!([{"op": "replace", "path": "/node_count", "value": 2}]),
        )
        .await;
    assert_error_body(&over, 400, "nodegroups are above the maximum of 3");
    let over = e2e
        .patch(
            &format!("{groups}/gpu"),
            &json!([{"op": "replace", "path": "/node_count", "value": 3}]),
        )
        .await;
    assert_error_body(&over, 400, "above the maximum of 3");

    // A group that fails shows in the cluster's faults under its own name.
    e2e.delete(&format!("{groups}/gpu")).await.expect(204);
    eventually("gpu is gone", Duration::from_secs(60), || async {
        e2e.get(&format!("{groups}/gpu")).await.status == 404
    })
    .await;
    let free: Vec<String> = double
        .list("v1/nodes", None)
        .into_iter()
        .filter(|n| n["metadata"]["labels"][BAY_LABEL].is_null())
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(free.len(), 2);
    assert!(double.remove_node(&free[0]));
    e2e.post(&groups, &json!({"name": "wide", "node_count": 2}))
        .await
        .expect(202);
    let failed = wait_group(&e2e, &format!("{groups}/wide"), "CREATE_FAILED").await;
    let reason = failed["status_reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("for nodegroup wide"), "{reason}");
    let shown = e2e.get(&cluster).await;
    assert_eq!(shown.json["status"], "UPDATE_FAILED");
    assert_eq!(
        shown.json["faults"],
        json!({"wide": reason}),
        "{}",
        shown.text
    );
    assert_eq!(shown.json["node_count"], 1);
}

#[tokio::test]
async fn a_nodegroup_create_whose_conductor_dies_is_finished_by_another_under_the_lease() {
    let (double, mut e2e, bay) = kube_cluster_with(4, 1, "[conductor]\nlease_timeout = 3\n").await;
    let groups = format!("/v1/clusters/{bay}/nodegroups");
    double.set_latency(Duration::from_millis(800));
    e2e.post(&groups, &json!({"name": "gpu", "node_count": 2}))
        .await
        .expect(202);
    eventually(
        "the first conductor holds the group's work",
        Duration::from_secs(20),
        || async {
            e2e.sql(&format!(
                "SELECT lease_owner FROM bay WHERE uuid = '{bay}' AND op = 'nodegroup_create'"
            ))
            .await
            .first()
            .is_some_and(Option::is_some)
        },
    )
    .await;
    e2e.start_conductor();
    e2e.kill_conductor(0).await;
    let pending = e2e
        .sql("SELECT status FROM nodegroup WHERE name = 'gpu'")
        .await;
    assert_eq!(
        pending,
        [Some("CREATE_IN_PROGRESS".to_owned())],
        "killed mid-claim"
    );
    double.set_latency(Duration::ZERO);
    let done = wait_group(&e2e, &format!("{groups}/gpu"), "CREATE_COMPLETE").await;
    assert_eq!(done["node_count"], 2);
    assert_eq!(
        held(&double, &bay, "gpu").len(),
        2,
        "claimed once, not twice"
    );
    assert_eq!(held(&double, &bay, "default-worker").len(), 1);
    wait_status(&e2e, &format!("/v1/clusters/{bay}"), "UPDATE_COMPLETE").await;
}
