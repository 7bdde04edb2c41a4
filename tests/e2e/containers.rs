//! Containers end to end on the real Docker Engines: every action, errors and tenancy.

use crate::bays::{docker_deployment, swarm_baymodel, wait_status};
use magnum_test_support::{Deployment, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn container_status(e2e: &Deployment, name: &str) -> String {
    e2e.get(&format!("/v1/containers/{name}")).await.json["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_container(e2e: &Deployment, name: &str, status: &str) -> Value {
    eventually(
        &format!("container {name} is {status}"),
        Duration::from_secs(60),
        || async { container_status(e2e, name).await == status },
    )
    .await;
    e2e.get(&format!("/v1/containers/{name}")).await.json
}

#[tokio::test]
async fn docker_bay_containers_go_through_every_action_on_the_engine() {
    let e2e = docker_deployment().await;
    swarm_baymodel(&e2e, "swarm").await;
    let bay = e2e
        .post("/v1/bays", &json!({"name": "apps", "baymodel_id": "swarm"}))
        .await;
    let bay_uuid = bay.expect(201)["uuid"].as_str().unwrap().to_owned();
    wait_status(&e2e, &format!("/v1/bays/{bay_uuid}"), "CREATE_COMPLETE").await;

    let created = e2e
        .post(
            "/v1/containers",
            &json!({"name": "web-1", "image": "magnum-test/busybox:latest",
            "command": "sh -c 'echo hello from web-1; exec sleep 300'", "memory": "64m",
            "environment": {"GREETING": "hi"}, "bay_uuid": "apps"}),
        )
        .await;
    let body = created.expect(201).clone();
    assert_eq!(
        (body["status"].as_str(), body["bay_uuid"].as_str()),
        (Some("Creating"), Some(bay_uuid.as_str()))
    );
    let stopped = wait_container(&e2e, "web-1", "Stopped").await;
    assert!(stopped["host"].is_string());
    let listed = e2e.get("/v1/containers?bay_ident=apps").await;
    assert_eq!(
        listed.expect(200)["containers"].as_array().unwrap().len(),
        1
    );

    let put = |action: &str| {
        let path = format!("/v1/containers/web-1/{action}");
        let e2e = &e2e;
        async move { e2e.request(Method::PUT, &path, None).await }
    };
    assert_eq!(put("start").await.expect(200), &Value::Null);
    assert_eq!(container_status(&e2e, "web-1").await, "Running");
    put("start").await.expect(200); // already running: success
    eventually(
        "the log shows the greeting",
        Duration::from_secs(20),
        || async {
            let logs = e2e.get("/v1/containers/web-1/logs").await;
            logs.json["output"]
                .as_str()
                .unwrap_or_default()
                .contains("hello from web-1")
        },
    )
    .await;
    let exec = e2e
        .request(
            Method::PUT,
            "/v1/containers/web-1/execute?command=sh%20-c%20%27echo%20%24GREETING%3B%20exit%203%27",
            None,
        )
        .await;
    let out = exec.expect(200);
    assert_eq!(
        (out["output"].as_str(), out["exit_code"].as_i64()),
        (Some("hi\n"), Some(3))
    );
    e2e.request(Method::PUT, "/v1/containers/web-1/execute", None)
        .await
        .expect(400);

    put("pause").await.expect(200);
    assert_eq!(container_status(&e2e, "web-1").await, "Paused");
    let refused = e2e.delete("/v1/containers/web-1").await;
    refused.expect(409);
    assert!(refused.error_message().contains("Paused"));
    put("unpause").await.expect(200);
    assert_eq!(container_status(&e2e, "web-1").await, "Running");
    put("reboot").await.expect(200);
    assert_eq!(container_status(&e2e, "web-1").await, "Running");
    put("stop").await.expect(200);
    assert_eq!(container_status(&e2e, "web-1").await, "Stopped");
    let conflict = put("pause").await;
    conflict.expect(409);
    conflict.error_message();
    put("explode").await.expect(404);

    // Another tenant sees nothing.
    let other = e2e
        .request_as(
            ("eve", "elsewhere", "member"),
            Method::GET,
            "/v1/containers/web-1",
            None,
        )
        .await;
    other.expect(404);
    let theirs = e2e
        .request_as(
            ("eve", "elsewhere", "member"),
            Method::GET,
            "/v1/containers",
            None,
        )
        .await;
    assert_eq!(theirs.expect(200)["containers"], json!([]));

    // Changes made outside the product show up.
    put("start").await.expect(200);
    let engine = crate::bays::docker_hosts();
    for host in engine.split(',') {
        let _ = std::process::Command::new("docker")
            .args([
                "-H",
                host,
                "kill",
                &format!("magnum-{}", body["uuid"].as_str().unwrap()),
            ])
            .output();
    }
    assert_eq!(container_status(&e2e, "web-1").await, "Stopped");

    // PATCH renames the record, and only that; the Engine container is still found by uuid.
    let renamed = e2e
        .patch(
            "/v1/containers/web-1",
            &json!([{"op": "replace", "path": "/name", "value": "web-one"}]),
        )
        .await;
    assert_eq!(renamed.expect(200)["name"], "web-one");
    let refused = e2e
        .patch(
            "/v1/containers/web-one",
            &json!([{"op": "replace", "path": "/image", "value": "other"}]),
        )
        .await;
    refused.expect(400);
    assert_eq!(container_status(&e2e, "web-one").await, "Stopped");
    e2e.patch(
        "/v1/containers/web-one",
        &json!([{"op": "replace", "path": "/name", "value": "web-1"}]),
    )
    .await
    .expect(200);

    e2e.delete("/v1/containers/web-1").await.expect(204);
    e2e.get("/v1/containers/web-1").await.expect(404);

    // An image that is not there: a clear error on the container, not a hang.
    e2e.post(
        "/v1/containers",
        &json!({"name": "ghost", "image": "no-such/image:1", "bay_uuid": bay_uuid}),
    )
    .await
    .expect(201);
    let failed = wait_container(&e2e, "ghost", "Error").await;
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("could not be found or pulled"),
        "{failed}"
    );
    e2e.delete("/v1/containers/ghost").await.expect(204);
    e2e.delete(&format!("/v1/bays/{bay_uuid}"))
        .await
        .expect(204);
    eventually("the bay is gone", Duration::from_secs(60), || async {
        e2e.get(&format!("/v1/bays/{bay_uuid}")).await.status == 404
    })
    .await;
}

#[tokio::test]
async fn containers_need_a_ready_swarm_bay_and_valid_input() {
    let kubeconfig = crate::bays::unreachable_kubeconfig();
    let e2e = Deployment::builder()
        .config(&format!("[kubernetes]\nkubeconfig = {}\n[docker]\nhosts = unix:///nonexistent.sock\n[conductor]\nperiodic_interval = 0\n", kubeconfig.display()))
        .start()
        .await;
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "k", "coe": "kubernetes", "image_id": "i"}),
    )
    .await
    .expect(201);
    e2e.post("/v1/bays", &json!({"name": "kbay", "baymodel_id": "k"}))
        .await
        .expect(201);
    for (body, needle) in [
        (
            json!({"image": "busybox", "bay_uuid": "kbay"}),
            "expecting a swarm bay",
        ),
        (
            json!({"image": "busybox", "bay_uuid": "nope"}),
            "Bay nope could not be found.",
        ),
        (json!({"image": "Bad Image", "bay_uuid": "kbay"}), "image"),
        (
            json!({"image": "busybox", "bay_uuid": "kbay", "memory": "1m"}),
            "memory",
        ),
        (
            json!({"image": "busybox", "bay_uuid": "kbay", "name": "!"}),
            "name",
        ),
        (
            json!({"image": "busybox", "bay_uuid": "kbay", "command": "echo 'open"}),
            "command",
        ),
        (json!({"image": "busybox"}), "bay_uuid"),
        (
            json!({"image": "busybox", "image_id": "alpine", "bay_uuid": "kbay"}),
            "image_id",
        ),
    ] {
        let reply = e2e.post("/v1/containers", &body).await;
        reply.expect(400);
        assert!(
            reply.error_message().contains(needle),
            "{body} → {}",
            reply.text
        );
    }
    swarm_baymodel(&e2e, "s").await;
    e2e.post("/v1/bays", &json!({"name": "sbay", "baymodel_id": "s"}))
        .await
        .expect(201);
    // The only Engine is unreachable, so that bay never becomes ready (or fails).
    let not_ready = e2e
        .post(
            "/v1/containers",
            &json!({"image": "busybox", "bay_uuid": "sbay"}),
        )
        .await;
    not_ready.expect(400);
    assert_eq!(e2e.count("container").await, 0);
}
