//! Version documents, microversions, request ids, error bodies and routing.

use magnum_test_support::Deployment;
use reqwest::Method;

#[tokio::test]
async fn root_and_v1_documents_are_public_and_describe_the_version_range() {
    let e2e = Deployment::start().await;
    let client = magnum_test_support::http_client();
    let root = client.get(format!("{}/", e2e.base)).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert!(
        root.headers()["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-")
    );
    assert!(
        root.headers().get("openstack-api-version").is_none(),
        "no version headers on /"
    );
    let root: serde_json::Value = root.json().await.unwrap();
    assert_eq!(root["name"], "OpenStack Magnum API");
    assert_eq!(root["versions"][0]["max_version"], "1.10");
    assert_eq!(
        root["default_version"]["links"][0]["href"],
        format!("{}/v1/", e2e.base)
    );

    let v1 = e2e.get("/v1").await;
    let doc = v1.expect(200);
    assert_eq!(doc["id"], "v1");
    assert_eq!(
        doc["baymodels"][1]["href"],
        format!("{}/baymodels/", e2e.base)
    );
    assert_eq!(
        v1.headers["openstack-api-minimum-version"],
        "container-infra 1.1"
    );
    assert_eq!(
        v1.headers["openstack-api-maximum-version"],
        "container-infra 1.10"
    );
    assert_eq!(v1.headers["openstack-api-version"], "container-infra 1.1");
    let health = client
        .get(format!("{}/healthcheck", e2e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "OK");
}

#[tokio::test]
async fn microversions_are_negotiated_and_out_of_range_is_406() {
    let e2e = Deployment::start().await;
    let latest = e2e
        .raw(
            Method::GET,
            "/v1/baymodels",
            &[("OpenStack-API-Version", "container-infra latest")],
            vec![],
        )
        .await;
    latest.expect(200);
    assert_eq!(
        latest.headers["openstack-api-version"],
        "container-infra 1.10"
    );
    let legacy = e2e
        .raw(
            Method::GET,
            "/v1/baymodels",
            &[("X-OpenStack-Magnum-API-Version", "1.2")],
            vec![],
        )
        .await;
    assert_eq!(legacy.headers["x-openstack-magnum-api-version"], "1.2");

    let too_new = e2e
        .raw(
            Method::GET,
            "/v1/baymodels",
            &[("OpenStack-API-Version", "container-infra 1.11")],
            vec![],
        )
        .await;
    too_new.expect(406);
    assert_eq!(
        too_new.json["errors"][0]["code"],
        "magnum.microversion-unsupported"
    );
    assert_eq!(too_new.json["errors"][0]["max_version"], "1.10");
    assert_eq!(
        too_new.headers["openstack-api-maximum-version"],
        "container-infra 1.10"
    );
    assert!(
        too_new.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    let garbage = e2e
        .raw(
            Method::GET,
            "/v1/baymodels",
            &[("OpenStack-API-Version", "container-infra one")],
            vec![],
        )
        .await;
    garbage.expect(406);
    assert!(garbage.error_message().contains("Invalid value"));
    let other_service = e2e
        .raw(
            Method::GET,
            "/v1/baymodels",
            &[("OpenStack-API-Version", "compute 2.1")],
            vec![],
        )
        .await;
    other_service.expect(406);
}

#[tokio::test]
async fn every_error_has_both_body_shapes_and_the_request_id() {
    let e2e = Deployment::start().await;
    let missing = e2e.get("/v1/baymodels/nope").await;
    missing.expect(404);
    assert_eq!(missing.error_message(), "BayModel nope could not be found.");
    let id = missing.headers["x-openstack-request-id"].to_str().unwrap();
    assert_eq!(missing.json["errors"][0]["request_id"], id);
    assert_eq!(
        missing.json["errors"][0]["title"],
        "BayModel nope could not be found"
    );
    assert!(
        missing.text.starts_with("{\"error_message\""),
        "error_message comes first"
    );

    let unknown_route = e2e.get("/v1/federations").await;
    unknown_route.expect(404);
    unknown_route.error_message();
    let wrong_method = e2e.request(Method::PUT, "/v1/baymodels", None).await;
    wrong_method.expect(405);
    wrong_method.error_message();
    assert!(
        wrong_method.headers["allow"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
}

#[tokio::test]
async fn trailing_slashes_and_bookmark_paths_are_served_without_redirects() {
    let e2e = Deployment::start().await;
    let created = e2e.post("/v1/baymodels/", &crate::baymodel("slashy")).await;
    let uuid = created.expect(201)["uuid"].as_str().unwrap().to_owned();
    e2e.get("/v1/baymodels/?limit=2").await.expect(200);
    e2e.get(&format!("/v1/baymodels/{uuid}/")).await.expect(200);
    let bookmark = e2e.get(&format!("/baymodels/{uuid}")).await;
    assert_eq!(bookmark.expect(200)["name"], "slashy");
    e2e.get("/v1/clustertemplates/slashy/").await.expect(200);
}

#[tokio::test]
async fn an_inbound_request_id_is_kept_as_the_global_id_and_a_fresh_one_is_returned() {
    let e2e = Deployment::start().await;
    let inbound = "req-0f6f3f0e-8c4a-4f0b-9d7e-2a1c5b8e9f30";
    let reply = e2e
        .raw(
            Method::GET,
            "/v1/baymodels",
            &[("X-OpenStack-Request-ID", inbound)],
            vec![],
        )
        .await;
    reply.expect(200);
    let ours = reply.headers["x-openstack-request-id"].to_str().unwrap();
    assert!(ours.starts_with("req-") && ours != inbound);
}

/// The routes `doc/api-reference.md` lists: each path with its methods.
fn documented_routes() -> std::collections::BTreeMap<String, Vec<String>> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../doc/api-reference.md"
    ))
    .unwrap();
    let mut routes: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, method, path, ..] = cells.as_slice()
            && ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method)
        {
            let path = path.trim_matches('`').to_owned();
            routes.entry(path).or_default().push((*method).to_owned());
        }
    }
    routes
}

#[tokio::test]
async fn the_api_reference_lists_exactly_the_served_routes() {
    let routes = documented_routes();
    assert!(routes.len() > 40, "{routes:?}");

    // Every path literal of the router table is documented.
    let router = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/magnum-api/src/router.rs"
    ))
    .unwrap();
    for piece in router.split(".route(").skip(1) {
        let literal = piece
            .trim_start()
            .strip_prefix('"')
            .and_then(|p| p.split('"').next());
        if let Some(path) = literal {
            assert!(
                routes.contains_key(path),
                "{path} is served (router.rs) but not in doc/api-reference.md"
            );
        }
    }

    // Every documented method reaches a handler; every other method is 405.
    let e2e = Deployment::start().await;
    e2e.wait_for_conductor().await;
    const NOT_ROUTED: &str = "The resource could not be found.";
    for (template, methods) in &routes {
        let path = template
            .replace("{ident}", "no-such-ident")
            .replace("{bay}", "no-such-bay")
            .replace("{nodegroup}", "no-such-group")
            .replace("{project_id}", "demo")
            .replace("{resource}", "Cluster")
            .replace("{action}", "start");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let body = (method != "GET" && method != "DELETE").then(|| serde_json::json!({}));
            let reply = e2e
                .request_as(
                    ("root", "admin-project", "admin"),
                    method.parse::<Method>().unwrap(),
                    &path,
                    body.as_ref(),
                )
                .await;
            if methods.iter().any(|m| m == method) {
                assert!(
                    reply.status != 405
                        && !(reply.status == 404 && reply.error_message() == NOT_ROUTED),
                    "{method} {template} is documented but not served: {} {}",
                    reply.status,
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.status, 405,
                    "{method} {template} is served but not documented: {}",
                    reply.text
                );
            }
        }
    }
}
