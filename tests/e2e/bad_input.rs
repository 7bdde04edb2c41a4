//! Bad input gets a clear 4xx with an OpenStack error body, and nothing half-written stays.

use magnum_test_support::Deployment;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn bad_create_bodies_are_refused_with_a_clear_message_and_store_nothing() {
    let e2e = Deployment::start().await;
    let long_name = "n".repeat(256);
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"coe": "kubernetes"}),
            "Invalid input for field/attribute image_id. Value: None. Mandatory field missing.",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "flavour": "m1"}),
            "Unknown attribute for argument baymodel: flavour",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "driver": "docker"}),
            "driver",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "created_at": "2020-01-01"}),
            "created_at",
        ),
        (
            json!({"name": "x", "coe": "nomad", "image_id": "i"}),
            "nomad",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "apiserver_port": "eighty"}),
            "apiserver_port",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "apiserver_port": 80}),
            "apiserver_port",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "public": "maybe"}),
            "public",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "labels": ["a"]}),
            "labels",
        ),
        (
            json!({"name": "x", "coe": "kubernetes", "image_id": "i", "uuid": "not-a-uuid"}),
            "uuid",
        ),
        (
            json!({"name": long_name, "coe": "kubernetes", "image_id": "i"}),
            "name",
        ),
        (
            json!({"name": "detail", "coe": "kubernetes", "image_id": "i"}),
            "name",
        ),
        (
            json!({"name": "x", "coe": "swarm", "image_id": "i", "network_driver": "calico"}),
            "network_driver",
        ),
        (json!(["not", "an", "object"]), "Invalid input"),
    ];
    for (body, needle) in cases {
        let reply = e2e.post("/v1/baymodels", &body).await;
        reply.expect(400);
        let message = reply.error_message();
        assert!(message.contains(needle), "{body} → {message}");
        assert_eq!(reply.json["errors"][0]["code"], "client");
    }
    assert_eq!(
        e2e.count("baymodel").await,
        0,
        "no refused request left a row"
    );
}

#[tokio::test]
async fn malformed_empty_and_oversized_bodies_are_4xx() {
    let e2e = Deployment::start().await;
    let json_header = [("Content-Type", "application/json")];
    let malformed = e2e
        .raw(
            Method::POST,
            "/v1/baymodels",
            &json_header,
            b"{\"name\": ".to_vec(),
        )
        .await;
    malformed.expect(400);
    assert!(malformed.error_message().contains("not valid JSON"));
    e2e.raw(Method::POST, "/v1/baymodels", &json_header, Vec::new())
        .await
        .expect(400);
    let octet = [("Content-Type", "application/octet-stream")];
    let body = serde_json::to_vec(&crate::baymodel("octet")).unwrap();
    e2e.raw(Method::POST, "/v1/baymodels", &octet, body)
        .await
        .expect(201);
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let too_large = e2e
        .raw(
            Method::POST,
            "/v1/baymodels",
            &json_header,
            huge.into_bytes(),
        )
        .await;
    too_large.expect(413);
    too_large.error_message();
    assert_eq!(e2e.count("baymodel").await, 1);
}

#[tokio::test]
async fn bad_patches_are_refused_and_leave_the_template_unchanged() {
    let e2e = Deployment::start().await;
    e2e.post("/v1/baymodels", &crate::baymodel("p"))
        .await
        .expect(201);
    let cases = [
        (json!([{"op": "move", "path": "/name", "value": "q"}]), "op"),
        (
            json!([{"op": "replace", "path": "/uuid", "value": "x"}]),
            "'/uuid' is an internal attribute and can not be updated",
        ),
        (
            json!([{"op": "replace", "path": "/driver", "value": "x"}]),
            "internal attribute",
        ),
        (
            json!([{"op": "remove", "path": "/coe"}]),
            "'/coe' is a mandatory attribute and can not be removed",
        ),
        (
            json!([{"op": "replace", "path": "/nonexistent", "value": 1}]),
            "nonexistent",
        ),
        (
            json!([{"op": "replace", "path": "name", "value": "q"}]),
            "path",
        ),
        (json!([{"op": "replace", "path": "/name"}]), "name"),
        (
            json!({"op": "replace", "path": "/name", "value": "q"}),
            "Invalid input",
        ),
        (
            json!([{"op": "replace", "path": "/name", "value": "q"}, {"op": "replace", "path": "/coe", "value": "nomad"}]),
            "nomad",
        ),
    ];
    for (patch, needle) in cases {
        let reply = e2e.patch("/v1/baymodels/p", &patch).await;
        reply.expect(400);
        let message = reply.error_message();
        assert!(message.contains(needle), "{patch} → {message}");
    }
    let unchanged = e2e.get("/v1/baymodels/p").await;
    assert_eq!(unchanged.expect(200)["coe"], "kubernetes");
    assert!(
        unchanged.json["updated_at"].is_null(),
        "a refused patch writes nothing"
    );
}

#[tokio::test]
async fn bad_query_parameters_and_idents_are_4xx() {
    let e2e = Deployment::start().await;
    for (path, needle) in [
        (
            "/v1/baymodels?sort_key=labels",
            "labels is an invalid field for sorting",
        ),
        ("/v1/baymodels?sort_key=secret", "invalid field for sorting"),
        ("/v1/baymodels?sort_dir=up", "Invalid sort direction"),
        ("/v1/baymodels?limit=-1", "limit"),
        ("/v1/baymodels?limit=ten", "limit"),
        ("/v1/baymodels?marker=123", "marker"),
        ("/v1/baymodels?colour=red", "Unknown argument: \"colour\""),
    ] {
        let reply = e2e.get(path).await;
        reply.expect(400);
        assert!(
            reply.error_message().contains(needle),
            "{path} → {}",
            reply.text
        );
    }
    e2e.get(&format!("/v1/baymodels/{}", uuid::Uuid::new_v4()))
        .await
        .expect(404);
    e2e.get("/v1/baymodels/5d1c7b0e-zzzz").await.expect(404);
}

#[tokio::test]
async fn duplicate_names_and_uuids_in_a_project_are_conflicts() {
    let e2e = Deployment::start().await;
    let first = e2e.post("/v1/baymodels", &crate::baymodel("dup")).await;
    let uuid = first.expect(201)["uuid"].clone();
    let again = e2e.post("/v1/baymodels", &crate::baymodel("dup")).await;
    again.expect(409);
    assert!(again.error_message().contains("dup"));
    let mut same_uuid = crate::baymodel("other");
    same_uuid["uuid"] = uuid;
    e2e.post("/v1/baymodels", &same_uuid).await.expect(409);
    // Another project may use the same name.
    e2e.request_as(
        ("bob", "elsewhere", "member"),
        Method::POST,
        "/v1/baymodels",
        Some(&crate::baymodel("dup")),
    )
    .await
    .expect(201);
    let rename = e2e.post("/v1/baymodels", &crate::baymodel("dup2")).await;
    rename.expect(201);
    let clash = e2e
        .patch(
            "/v1/baymodels/dup2",
            &json!([{"op": "replace", "path": "/name", "value": "dup"}]),
        )
        .await;
    clash.expect(409);
    assert_eq!(e2e.count("baymodel").await, 3);
}

#[tokio::test]
async fn concurrent_creates_of_one_name_have_exactly_one_winner() {
    let e2e = Deployment::start().await;
    let body = crate::baymodel("race");
    let attempts = (0..50).map(|_| e2e.post("/v1/baymodels", &body));
    let replies = futures_util::future::join_all(attempts).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    let lost = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!((won, lost), (1, 49));
    assert_eq!(e2e.count("baymodel").await, 1);
}

#[tokio::test]
async fn fifty_concurrent_bay_creates_of_one_name_have_exactly_one_winner() {
    // The Kubernetes API is unreachable: the winner stays in progress, which is enough here.
    let kubeconfig = crate::bays::unreachable_kubeconfig();
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 0\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post("/v1/baymodels", &crate::baymodel("k"))
        .await
        .expect(201);
    let body = json!({"name": "race", "baymodel_id": "k"});
    let attempts = (0..50).map(|_| e2e.post("/v1/bays", &body));
    let replies = futures_util::future::join_all(attempts).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    let lost: Vec<_> = replies.iter().filter(|r| r.status != 201).collect();
    assert_eq!(won, 1);
    for reply in &lost {
        reply.expect(409);
        reply.error_message();
    }
    assert_eq!(e2e.count("bay").await, 1);
}
