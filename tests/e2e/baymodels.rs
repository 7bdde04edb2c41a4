//! BayModels / ClusterTemplates end to end: HTTP → magnum-api → AMQP → magnum-conductor →
//! PostgreSQL and back.

use magnum_test_support::Deployment;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_baymodel_goes_through_create_list_show_patch_and_delete() {
    let e2e = Deployment::start().await;
    let created = e2e
        .post(
            "/v1/baymodels",
            &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fedora",
            "labels": {"a": "1"}, "apiserver_port": "6443", "tls_disabled": "False",
            "keypair_id": null}),
        )
        .await;
    let body = created.expect(201).clone();
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        created.headers["location"],
        format!("{}/v1/baymodels/{uuid}", e2e.base)
    );
    assert_eq!(body["apiserver_port"], 6443);
    assert_eq!(body["network_driver"], "flannel");
    assert_eq!(body["driver"], "kubernetes");
    assert_eq!(body["project_id"], "demo");
    assert!(body["updated_at"].is_null());
    assert!(body["created_at"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(
        body["links"][0]["href"],
        format!("{}/v1/baymodels/{uuid}", e2e.base)
    );
    assert!(body.get("id").is_none());

    let list = e2e.get("/v1/baymodels").await;
    let items = list.expect(200)["baymodels"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert!(
        items[0].get("labels").is_none(),
        "the plain baymodel list is reduced"
    );
    assert!(list.json.get("next").is_none());
    let detail = e2e.get("/v1/baymodels/detail").await;
    assert_eq!(
        detail.expect(200)["baymodels"][0]["labels"],
        json!({"a": "1"})
    );
    let templates = e2e.get("/v1/clustertemplates").await;
    assert_eq!(
        templates.expect(200)["clustertemplates"][0]["labels"],
        json!({"a": "1"})
    );

    assert_eq!(
        e2e.get("/v1/baymodels/k8s").await.expect(200)["uuid"],
        uuid.as_str()
    );
    assert_eq!(
        e2e.get(&format!("/v1/clustertemplates/{uuid}"))
            .await
            .expect(200)["name"],
        "k8s"
    );

    let patched = e2e
        .patch(
            &format!("/v1/baymodels/{uuid}"),
            &json!([
            {"op": "replace", "path": "/name", "value": "k8s-2"},
            {"op": "add", "path": "/labels/b", "value": "2"},
            {"op": "remove", "path": "/labels/a"},
            {"op": "replace", "path": "/tls_disabled", "value": "True"}]),
        )
        .await;
    let body = patched.expect(200);
    assert_eq!(
        (body["name"].as_str(), &body["labels"]),
        (Some("k8s-2"), &json!({"b": "2"}))
    );
    assert_eq!(body["tls_disabled"], true);
    assert!(body["updated_at"].is_string());
    let stored = e2e
        .sql(&format!("SELECT name FROM baymodel WHERE uuid = '{uuid}'"))
        .await;
    assert_eq!(stored, [Some("k8s-2".to_owned())]);

    e2e.delete("/v1/clustertemplates/k8s-2").await.expect(204);
    e2e.get(&format!("/v1/baymodels/{uuid}")).await.expect(404);
    assert_eq!(e2e.count("baymodel").await, 0);
}

#[tokio::test]
async fn lists_page_with_limit_marker_and_sort_and_link_the_next_page() {
    let e2e = Deployment::start().await;
    for name in ["c", "a", "e", "b", "d"] {
        e2e.post("/v1/baymodels", &crate::baymodel(name))
            .await
            .expect(201);
    }
    let first = e2e.get("/v1/baymodels?limit=2&sort_key=name").await;
    let names: Vec<_> = first.expect(200)["baymodels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let next = first.json["next"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with(&format!("{}/v1/baymodels?", e2e.base)),
        "{next}"
    );
    let second = e2e.get(next.trim_start_matches(&e2e.base)).await;
    let names: Vec<_> = second.expect(200)["baymodels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, ["c", "d"]);
    let third = e2e
        .get(
            second.json["next"]
                .as_str()
                .unwrap()
                .trim_start_matches(&e2e.base),
        )
        .await;
    assert_eq!(third.expect(200)["baymodels"].as_array().unwrap().len(), 1);
    assert!(
        third.json.get("next").is_none(),
        "no next link after the last page"
    );

    let desc = e2e
        .get("/v1/baymodels?sort_key=name&sort_dir=desc&limit=0")
        .await;
    assert_eq!(desc.expect(200)["baymodels"][0]["name"], "e");
    let unknown_marker = e2e
        .get(&format!("/v1/baymodels?marker={}", uuid::Uuid::new_v4()))
        .await;
    unknown_marker.expect(404);
}

#[tokio::test]
async fn tenants_see_their_own_and_public_templates_only() {
    let e2e = Deployment::start().await;
    let p1 = ("u1", "p1", "member");
    let p2 = ("u2", "p2", "member");
    let admin = ("root", "ops", "admin");
    let private = e2e
        .request_as(
            p1,
            Method::POST,
            "/v1/baymodels",
            Some(&crate::baymodel("mine")),
        )
        .await;
    let private_uuid = private.expect(201)["uuid"].as_str().unwrap().to_owned();
    let mut public = crate::baymodel("shared");
    public["public"] = json!(true);
    let denied = e2e
        .request_as(p1, Method::POST, "/v1/baymodels", Some(&public))
        .await;
    denied.expect(403);
    assert_eq!(
        denied.error_message(),
        "Policy doesn't allow baymodel:publish to be performed."
    );
    let shared = e2e
        .request_as(admin, Method::POST, "/v1/baymodels", Some(&public))
        .await;
    let shared_uuid = shared.expect(201)["uuid"].as_str().unwrap().to_owned();

    let seen = e2e.request_as(p2, Method::GET, "/v1/baymodels", None).await;
    let names: Vec<_> = seen.expect(200)["baymodels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, ["shared"]);
    let foreign = e2e
        .request_as(
            p2,
            Method::GET,
            &format!("/v1/baymodels/{private_uuid}"),
            None,
        )
        .await;
    foreign.expect(404);
    assert_eq!(
        foreign.error_message(),
        format!("BayModel {private_uuid} could not be found.")
    );
    e2e.request_as(
        p2,
        Method::DELETE,
        &format!("/v1/baymodels/{private_uuid}"),
        None,
    )
    .await
    .expect(404);
    e2e.request_as(p2, Method::GET, "/v1/baymodels/shared", None)
        .await
        .expect(200);
    let not_theirs = e2e
        .request_as(
            p2,
            Method::DELETE,
            &format!("/v1/baymodels/{shared_uuid}"),
            None,
        )
        .await;
    not_theirs.expect(403);
    // Admins see every project with all_tenants; tenants may not ask for it.
    let all = e2e
        .request_as(admin, Method::GET, "/v1/baymodels?all_tenants=true", None)
        .await;
    assert_eq!(all.expect(200)["baymodels"].as_array().unwrap().len(), 2);
    e2e.request_as(p1, Method::GET, "/v1/baymodels?all_tenants=1", None)
        .await
        .expect(403);
}

#[tokio::test]
async fn a_name_shared_by_two_visible_templates_is_ambiguous() {
    let e2e = Deployment::start().await;
    let mut public = crate::baymodel("twin");
    public["public"] = json!(true);
    for project in ["p1", "p2"] {
        e2e.request_as(
            ("root", project, "admin"),
            Method::POST,
            "/v1/baymodels",
            Some(&public),
        )
        .await
        .expect(201);
    }
    let ambiguous = e2e
        .request_as(
            ("u3", "p3", "member"),
            Method::GET,
            "/v1/baymodels/twin",
            None,
        )
        .await;
    ambiguous.expect(409);
    assert!(
        ambiguous
            .error_message()
            .starts_with("Multiple BayModels exist with same name")
    );
    // The owner's own template wins over another project's public one.
    e2e.request_as(
        ("root", "p1", "admin"),
        Method::GET,
        "/v1/baymodels/twin",
        None,
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_baymodel_in_use_by_a_bay_can_be_renamed_but_not_deleted_or_changed() {
    let e2e = Deployment::start().await;
    let created = e2e.post("/v1/baymodels", &crate::baymodel("used")).await;
    let uuid = created.expect(201)["uuid"].as_str().unwrap().to_owned();
    e2e.sql(&format!(
        "INSERT INTO bay (uuid, project_id, user_id, name, baymodel_id, status, node_count, master_count)
         VALUES ('{}', 'demo', 'alice', 'b1', '{uuid}', 'CREATE_COMPLETE', 1, 1) RETURNING name",
        uuid::Uuid::new_v4()
    ))
    .await;
    let refused = e2e.delete("/v1/baymodels/used").await;
    refused.expect(400);
    assert_eq!(
        refused.error_message(),
        "BayModel used is referenced by one or multiple bays."
    );
    let changed = e2e
        .patch(
            "/v1/baymodels/used",
            &json!([{"op": "replace", "path": "/image_id", "value": "x"}]),
        )
        .await;
    changed.expect(400);
    e2e.patch(
        "/v1/baymodels/used",
        &json!([{"op": "replace", "path": "/name", "value": "renamed"}]),
    )
    .await
    .expect(200);
    assert_eq!(e2e.count("baymodel").await, 1);
}
