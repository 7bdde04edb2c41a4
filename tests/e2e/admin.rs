//! `/v1/mservices`, `/v1/quotas` and `/v1/stats` through both daemons.

use crate::bays::unreachable_kubeconfig;
use magnum_test_support::Deployment;
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN: (&str, &str, &str) = ("root", "admins", "admin,member,reader");
const OTHER: (&str, &str, &str) = ("bob", "other", "member");

async fn deployment() -> Deployment {
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
        &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos", "public": false}),
    )
    .await
    .expect(201);
    e2e
}

async fn as_admin(
    e2e: &Deployment,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let reply = e2e.request_as(ADMIN, method, path, body).await;
    (reply.status.as_u16(), reply.json)
}

#[tokio::test]
async fn admins_see_the_conductors_and_their_state() {
    let e2e = deployment().await;
    let (status, body) = as_admin(&e2e, Method::GET, "/v1/mservices", None).await;
    assert_eq!(status, 200, "{body}");
    let services = body["mservices"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{body}");
    assert_eq!(services[0]["binary"], "magnum-conductor");
    assert_eq!(services[0]["state"], "up");
    assert!(services[0]["report_count"].as_i64().unwrap() >= 1);
    assert!(services[0]["id"].is_i64());
    let member = e2e.get("/v1/mservices").await;
    assert_eq!(member.status, 403, "{}", member.text);
}

#[tokio::test]
async fn stats_count_a_projects_bays_and_nodes() {
    let e2e = deployment().await;
    for (name, nodes) in [("a", 2), ("b", 3)] {
        e2e.post(
            "/v1/bays",
            &json!({"name": name, "baymodel_id": "k8s", "node_count": nodes}),
        )
        .await
        .expect(201);
    }
    let own = e2e.get("/v1/stats").await;
    assert_eq!(
        own.expect(200),
        &json!({"clusters": 2, "nodes": 7}),
        "2 + 3 workers, 1 master each"
    );
    e2e.get("/v1/stats?project_id=demo&type=cluster")
        .await
        .expect(200);
    e2e.get("/v1/stats?type=pods").await.expect(400);
    let theirs = e2e.request_as(OTHER, Method::GET, "/v1/stats", None).await;
    assert_eq!(theirs.expect(200), &json!({"clusters": 0, "nodes": 0}));
    let peek = e2e
        .request_as(OTHER, Method::GET, "/v1/stats?project_id=demo", None)
        .await;
    assert_eq!(peek.status, 403, "{}", peek.text);
    let (status, all) = as_admin(&e2e, Method::GET, "/v1/stats", None).await;
    assert_eq!((status, all), (200, json!({"clusters": 2, "nodes": 7})));
}

#[tokio::test]
async fn quotas_are_managed_by_admins_and_enforced_on_bay_create() {
    let e2e = deployment().await;
    // No row: the configured default, with a null id.
    let default = e2e.get("/v1/quotas/demo/Cluster").await;
    let default = default.expect(200).clone();
    assert_eq!(
        (default["hard_limit"].clone(), default["id"].clone()),
        (json!(20), Value::Null)
    );

    let body = json!({"project_id": "demo", "resource": "Cluster", "hard_limit": 1});
    let refused = e2e.post("/v1/quotas", &body).await;
    assert_eq!(
        refused.status, 403,
        "members cannot set quotas: {}",
        refused.text
    );
    let (status, created) = as_admin(&e2e, Method::POST, "/v1/quotas", Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["hard_limit"], 1);
    assert!(created["id"].is_i64());
    let (status, _) = as_admin(&e2e, Method::POST, "/v1/quotas", Some(&body)).await;
    assert_eq!(status, 409, "one quota per project and resource");
    let (status, _) = as_admin(
        &e2e,
        Method::POST,
        "/v1/quotas",
        Some(&json!({"project_id": "demo", "resource": "Pod"})),
    )
    .await;
    assert_eq!(status, 400);

    // Enforced: the project holds one bay, the second is refused.
    e2e.post("/v1/bays", &json!({"name": "one", "baymodel_id": "k8s"}))
        .await
        .expect(201);
    let over = e2e
        .post("/v1/bays", &json!({"name": "two", "baymodel_id": "k8s"}))
        .await;
    assert_eq!(over.status, 403, "{}", over.text);
    assert!(
        over.error_message()
            .contains("Cluster quota exceeded for project demo")
    );

    let (status, raised) = as_admin(
        &e2e,
        Method::PATCH,
        "/v1/quotas/demo/Cluster",
        Some(&json!({"hard_limit": 3, "project_id": "demo"})),
    )
    .await;
    assert_eq!((status, raised["hard_limit"].clone()), (202, json!(3)));
    let (status, _) = as_admin(
        &e2e,
        Method::PATCH,
        "/v1/quotas/demo/Cluster",
        Some(&json!({"hard_limit": 3, "project_id": "other"})),
    )
    .await;
    assert_eq!(status, 400, "the body must match the path");
    e2e.post("/v1/bays", &json!({"name": "two", "baymodel_id": "k8s"}))
        .await
        .expect(201);

    let (status, listed) = as_admin(&e2e, Method::GET, "/v1/quotas?all_tenants=true", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["quotas"].as_array().unwrap().len(), 1);
    let member = e2e.get("/v1/quotas").await;
    assert_eq!(member.status, 403, "{}", member.text);
    let peek = e2e
        .request_as(OTHER, Method::GET, "/v1/quotas/demo/Cluster", None)
        .await;
    assert_eq!(peek.status, 403, "{}", peek.text);

    let (status, _) = as_admin(&e2e, Method::DELETE, "/v1/quotas/demo/Cluster", None).await;
    assert_eq!(status, 204);
    let (status, _) = as_admin(&e2e, Method::DELETE, "/v1/quotas/demo/Cluster", None).await;
    assert_eq!(status, 404);
    let (status, _) = as_admin(
        &e2e,
        Method::PATCH,
        "/v1/quotas/demo/Cluster",
        Some(&json!({"hard_limit": 3})),
    )
    .await;
    assert_eq!(status, 404, "no row to change");
}
