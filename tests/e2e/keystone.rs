//! Keystone mode end to end, against the real Keystone `scripts/lib/keystone.sh` runs and the
//! real daemons: token validation (valid, missing, invalid, expired, revoked, unscoped), the
//! service token's renewal, tenant isolation in every resource family, admin cross-project
//! listing, public templates, and policy file overrides reloaded while running.

use magnum_test_support::keystone::{ADMIN, ALICE, BOB, SERVICE};
use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, DeploymentBuilder, Reply, TestKeystone, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A deployment in keystone mode, `authtoken` lines added to `[keystone_authtoken]` and
/// `extra` sections after it, once it reaches a conductor.
async fn keystone_deployment(ks: &TestKeystone, authtoken: &str, extra: &str) -> Deployment {
    let builder: DeploymentBuilder = Deployment::builder()
        .config(&ks.api_config(authtoken))
        .config(extra)
        .without_waiting();
    let e2e = builder.start().await;
    let token = ks.token(ALICE).await;
    eventually(
        "the API reaches a conductor",
        Duration::from_secs(60),
        || async {
            let r = get(&e2e, &token, "/v1/baymodels").await;
            r.status.as_u16() != 503
        },
    )
    .await;
    e2e
}

async fn call(
    e2e: &Deployment,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    e2e.request_with_token(Some(token), method, path, body, &[])
        .await
}

async fn get(e2e: &Deployment, token: &str, path: &str) -> Reply {
    call(e2e, token, Method::GET, path, None).await
}

/// Asserts a 401 with the Keystone challenge and the OpenStack error body.
#[track_caller]
fn assert_unauthenticated(reply: &Reply, ks: &TestKeystone) {
    reply.expect(401);
    assert_eq!(
        reply.headers["www-authenticate"],
        format!("Keystone uri=\"{}/v3\"", ks.url).as_str()
    );
    assert_eq!(reply.error_message(), "Authentication required");
}

fn uuids(reply: &Reply, key: &str) -> Vec<String> {
    reply.expect(200)[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {}", reply.text))
        .iter()
        .map(|i| i["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keystone_tokens_authenticate_and_missing_invalid_or_unscoped_ones_do_not() {
    let ks = TestKeystone::from_env();
    let e2e = keystone_deployment(&ks, "", "").await;

    // The version documents and the health check stay public.
    for path in ["/", "/v1", "/healthcheck"] {
        let r = e2e
            .request_with_token(None, Method::GET, path, None, &[])
            .await;
        assert_eq!(r.status.as_u16(), 200, "{path}: {}", r.text);
    }

    let none = e2e
        .request_with_token(None, Method::GET, "/v1/baymodels", None, &[])
        .await;
    assert_unauthenticated(&none, &ks);
    // noauth's identity headers mean nothing here.
    let forged = e2e
        .request_with_token(
            None,
            Method::GET,
            "/v1/bays",
            None,
            &[
                ("X-User-Id", "admin"),
                ("X-Project-Id", "admin"),
                ("X-Roles", "admin"),
            ],
        )
        .await;
    assert_unauthenticated(&forged, &ks);
    // Nor is a noauth-style "<user>:<project>" token, or any other made-up one.
    for bogus in ["admin:admin", "gAAAAABnot-a-real-fernet-token"] {
        assert_unauthenticated(&get(&e2e, bogus, "/v1/clusters").await, &ks);
    }

    let alice = ks.token(ALICE).await;
    let r = get(&e2e, &alice, "/v1/baymodels").await;
    r.expect(200);
    assert!(
        r.headers["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-")
    );
    // Identity headers sent beside a valid token do not change who the caller is.
    let created = e2e
        .request_with_token(
            Some(&alice),
            Method::POST,
            "/v1/baymodels",
            Some(&crate::baymodel("mine")),
            &[("X-Project-Id", "someone-else"), ("X-Roles", "admin")],
        )
        .await;
    let created = created.expect(201);
    assert_eq!(created["project_id"], ks.project_id(ALICE.1).await.as_str());

    // A system-scoped token is valid but owns nothing: 403.
    let domain = ks.system_scoped_admin_token().await;
    let r = get(&e2e, &domain, "/v1/baymodels").await;
    r.expect(403);
    assert_eq!(r.error_message(), "The token is not scoped to a project.");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let ks = TestKeystone::from_env();
    let e2e = keystone_deployment(&ks, "", "").await;
    let token = ks.short_lived_token(BOB).await;
    get(&e2e, &token, "/v1/bays").await.expect(200);
    // Cached while valid, never past the token's own expiry.
    eventually(
        "the short-lived token expires",
        ks.short_ttl + Duration::from_secs(30),
        || async { get(&e2e, &token, "/v1/bays").await.status.as_u16() == 401 },
    )
    .await;
    assert_unauthenticated(&get(&e2e, &token, "/v1/bays").await, &ks);
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_its_cache_entry_ends() {
    let ks = TestKeystone::from_env();
    let e2e = keystone_deployment(&ks, "token_cache_time = 2\n", "").await;

    // Revoked before magnum-api ever saw it: refused at once.
    let early = ks.token(ALICE).await;
    ks.revoke(&early).await;
    assert_unauthenticated(&get(&e2e, &early, "/v1/baymodels").await, &ks);

    // Revoked after it was validated and cached: refused when the cache entry ends.
    let late = ks.token(ALICE).await;
    get(&e2e, &late, "/v1/baymodels").await.expect(200);
    ks.revoke(&late).await;
    eventually(
        "the revoked token is refused",
        Duration::from_secs(20),
        || async { get(&e2e, &late, "/v1/baymodels").await.status.as_u16() == 401 },
    )
    .await;
    assert_unauthenticated(&get(&e2e, &late, "/v1/baymodels").await, &ks);
}

#[tokio::test]
async fn the_service_token_is_renewed_after_keystone_refuses_it() {
    let ks = TestKeystone::from_env();
    // A service user of this test's own, so revoking its tokens touches no other test.
    let name = format!("magnum-svc-{}", magnum_test_support::unique_suffix());
    let service_project = ks.project_id(SERVICE.1).await;
    let (status, user) = ks
        .admin_call(
            Method::POST,
            "/users",
            Some(json!({"user": {"name": name, "password": "svc-pw", "domain_id": "default"}})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["user"]["id"].as_str().unwrap().to_owned();
    let role = ks.role_id("service").await;
    let grant = format!("/projects/{service_project}/users/{user_id}/roles/{role}");
    assert_eq!(ks.admin_call(Method::PUT, &grant, None).await.0, 204);

    let e2e =
        keystone_deployment(&ks, &format!("username = {name}\npassword = svc-pw\n"), "").await;
    let first = ks.token(BOB).await;
    get(&e2e, &first, "/v1/bays").await.expect(200);

    // Removing the role assignment revokes the service user's tokens; granting it again lets
    // a fresh authentication succeed. A token magnum-api has not cached makes it ask Keystone
    // with the revoked service token, get a 401, authenticate again and retry.
    assert_eq!(ks.admin_call(Method::DELETE, &grant, None).await.0, 204);
    assert_eq!(ks.admin_call(Method::PUT, &grant, None).await.0, 204);
    eventually(
        "a new token is validated with a renewed service token",
        Duration::from_secs(20),
        || async {
            // Keystone revokes by the second: a token issued in the revoking second is refused
            // too, so a fresh user token each time.
            let fresh = ks.token(BOB).await;
            get(&e2e, &fresh, "/v1/bays").await.status.as_u16() == 200
        },
    )
    .await;
    let _ = ks
        .admin_call(Method::DELETE, &format!("/users/{user_id}"), None)
        .await;
}

#[tokio::test]
async fn an_unreachable_keystone_or_refused_service_user_is_503_not_500() {
    let ks = TestKeystone::from_env();
    // Nothing listens on port 9 of 127.0.0.1 (discard, never run here).
    let down = Deployment::builder()
        .config(&ks.api_config("auth_url = http://127.0.0.1:9\nhttp_connect_timeout = 2\n"))
        .without_waiting()
        .start()
        .await;
    let r = get(&down, "some-token", "/v1/baymodels").await;
    r.expect(503);
    assert_eq!(r.error_message(), "The identity service is unavailable.");
    // Public routes do not need Keystone.
    down.request_with_token(None, Method::GET, "/v1", None, &[])
        .await
        .expect(200);

    let refused = Deployment::builder()
        .config(&ks.api_config("password = wrong\n"))
        .without_waiting()
        .start()
        .await;
    let token = ks.token(ALICE).await;
    let r = get(&refused, &token, "/v1/baymodels").await;
    r.expect(503);
    assert_eq!(r.error_message(), "The identity service is unavailable.");
}

/// A kubernetes pool of two nodes in the API double and a keystone deployment driving it.
async fn kube_keystone_deployment(ks: &TestKeystone, extra: &str) -> (KubeDouble, Deployment) {
    let (double, kubeconfig) = crate::kube_bays::kube_double(2).await;
    let e2e = keystone_deployment(
        ks,
        "",
        &format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n{extra}",
            kubeconfig.display()
        ),
    )
    .await;
    (double, e2e)
}

#[tokio::test]
async fn tenants_never_see_each_others_objects_and_admins_list_across_projects() {
    let ks = TestKeystone::from_env();
    let (_double, e2e) = kube_keystone_deployment(&ks, "").await;
    let (alice, bob, admin) = (
        ks.token(ALICE).await,
        ks.token(BOB).await,
        ks.token(ADMIN).await,
    );
    let project_a = ks.project_id(ALICE.1).await;
    let project_b = ks.project_id(BOB.1).await;

    // Alice's template, bay (with a node claimed from the pool) are recorded as hers.
    let model = call(
        &e2e,
        &alice,
        Method::POST,
        "/v1/baymodels",
        Some(&json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"})),
    )
    .await;
    let model = model.expect(201).clone();
    assert_eq!(model["project_id"], project_a.as_str());
    assert_eq!(model["user_id"], ks.user_id(ALICE.0).await.as_str());
    let model_uuid = model["uuid"].as_str().unwrap().to_owned();
    let bay = call(
        &e2e,
        &alice,
        Method::POST,
        "/v1/bays",
        Some(&json!({"name": "prod", "baymodel_id": "k8s", "node_count": 1})),
    )
    .await;
    assert_eq!(bay.status.as_u16(), 201, "{}", bay.text);
    let bay_uuid = bay.json["uuid"].as_str().unwrap().to_owned();
    // The clusters family shows the owners.
    let cluster = get(&e2e, &alice, &format!("/v1/clusters/{bay_uuid}")).await;
    assert_eq!(cluster.expect(200)["project_id"], project_a.as_str());
    assert_eq!(cluster.json["user_id"], model["user_id"]);
    eventually(
        "alice's bay is created",
        Duration::from_secs(60),
        || async {
            get(&e2e, &alice, &format!("/v1/bays/{bay_uuid}"))
                .await
                .json["status"]
                == "CREATE_COMPLETE"
        },
    )
    .await;
    let nodes = uuids(&get(&e2e, &alice, "/v1/nodes").await, "nodes");
    assert_eq!(nodes.len(), 1, "alice sees her bay's node");
    // …and a pod in it.
    let pod_manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
        spec: {containers: [{name: web, image: nginx}]}\n";
    let pod = call(
        &e2e,
        &alice,
        Method::POST,
        "/v1/pods",
        Some(&json!({"bay_uuid": bay_uuid, "manifest": pod_manifest})),
    )
    .await;
    let pod = pod.expect(201).clone();
    assert_eq!(pod["bay_uuid"], bay_uuid.as_str());
    let pod_uuid = pod["uuid"].as_str().unwrap().to_owned();

    // Bob: nothing of Alice's by uuid or by name, in either URL family, for any method.
    for path in [
        format!("/v1/baymodels/{model_uuid}"),
        "/v1/baymodels/k8s".to_owned(),
        format!("/v1/clustertemplates/{model_uuid}"),
        format!("/v1/bays/{bay_uuid}"),
        "/v1/bays/prod".to_owned(),
        format!("/v1/clusters/{bay_uuid}"),
        "/v1/clusters/prod".to_owned(),
        format!("/v1/clusters/{bay_uuid}/nodegroups"),
        format!("/v1/nodes/{}", nodes[0]),
        format!("/v1/pods/{pod_uuid}"),
        "/v1/pods/web".to_owned(),
        format!("/v1/pods/web/{bay_uuid}"),
    ] {
        let r = get(&e2e, &bob, &path).await;
        assert_eq!(r.status.as_u16(), 404, "GET {path}: {}", r.text);
    }
    let patch = json!([{"op": "replace", "path": "/name", "value": "stolen"}]);
    for path in [
        format!("/v1/baymodels/{model_uuid}"),
        format!("/v1/bays/{bay_uuid}"),
        format!("/v1/pods/{pod_uuid}"),
    ] {
        let r = call(&e2e, &bob, Method::PATCH, &path, Some(&patch)).await;
        assert_eq!(r.status.as_u16(), 404, "PATCH {path}: {}", r.text);
        let r = call(&e2e, &bob, Method::DELETE, &path, None).await;
        assert_eq!(r.status.as_u16(), 404, "DELETE {path}: {}", r.text);
    }
    for (path, key) in [
        ("/v1/baymodels", "baymodels"),
        ("/v1/clustertemplates/detail", "clustertemplates"),
        ("/v1/bays", "bays"),
        ("/v1/clusters/detail", "clusters"),
        ("/v1/nodes", "nodes"),
        ("/v1/containers", "containers"),
        ("/v1/pods", "pods"),
        ("/v1/services", "services"),
        ("/v1/rcs/detail", "rcs"),
    ] {
        assert!(
            uuids(&get(&e2e, &bob, path).await, key).is_empty(),
            "{path} leaks"
        );
    }
    assert_eq!(
        get(&e2e, &bob, "/v1/stats").await.expect(200),
        &json!({"clusters": 0, "nodes": 0})
    );
    assert_eq!(
        get(&e2e, &alice, "/v1/stats").await.expect(200),
        &json!({"clusters": 1, "nodes": 2})
    );
    // Naming Alice's objects as parents is "not found" too.
    let r = call(
        &e2e,
        &bob,
        Method::POST,
        "/v1/bays",
        Some(&json!({"name": "b1", "baymodel_id": model_uuid})),
    )
    .await;
    r.expect(400);
    assert!(
        r.error_message().contains("could not be found"),
        "{}",
        r.text
    );
    let r = call(
        &e2e,
        &bob,
        Method::POST,
        "/v1/containers",
        Some(&json!({"name": "c1", "image": "busybox", "bay_uuid": bay_uuid})),
    )
    .await;
    r.expect(400);
    assert!(
        r.error_message().contains("could not be found"),
        "{}",
        r.text
    );
    let r = get(&e2e, &bob, &format!("/v1/containers?bay_uuid={bay_uuid}")).await;
    assert_ne!(r.status.as_u16(), 200, "{}", r.text);
    // Names are per project: Bob's own "k8s" is no conflict, and Alice still sees hers alone.
    call(
        &e2e,
        &bob,
        Method::POST,
        "/v1/baymodels",
        Some(&json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"})),
    )
    .await
    .expect(201);
    assert_eq!(
        uuids(&get(&e2e, &alice, "/v1/baymodels").await, "baymodels"),
        vec![model_uuid.clone()]
    );

    // Tenants may not widen a list.
    for query in ["all_tenants=true", &format!("project_id={project_a}")] {
        let r = get(&e2e, &bob, &format!("/v1/bays?{query}")).await;
        r.expect(403);
        assert!(
            r.error_message().starts_with("Policy doesn't allow"),
            "{}",
            r.text
        );
    }
    // Admins see their own project by default, every project with all_tenants, one with
    // project_id, and any project's object by uuid.
    assert!(uuids(&get(&e2e, &admin, "/v1/bays").await, "bays").is_empty());
    assert_eq!(
        uuids(
            &get(&e2e, &admin, "/v1/bays?all_tenants=true").await,
            "bays"
        ),
        vec![bay_uuid.clone()]
    );
    assert_eq!(
        uuids(
            &get(&e2e, &admin, "/v1/clusters?all_projects=1").await,
            "clusters"
        ),
        vec![bay_uuid.clone()]
    );
    assert_eq!(
        uuids(
            &get(&e2e, &admin, &format!("/v1/bays?project_id={project_a}")).await,
            "bays"
        ),
        vec![bay_uuid.clone()]
    );
    assert!(
        uuids(
            &get(&e2e, &admin, &format!("/v1/bays?project_id={project_b}")).await,
            "bays"
        )
        .is_empty()
    );
    assert_eq!(
        uuids(
            &get(&e2e, &admin, "/v1/baymodels?all_tenants=true").await,
            "baymodels"
        )
        .len(),
        2
    );
    get(&e2e, &admin, &format!("/v1/bays/{bay_uuid}"))
        .await
        .expect(200);
}

#[tokio::test]
async fn public_templates_are_visible_to_all_and_changed_only_by_admins() {
    let ks = TestKeystone::from_env();
    let e2e = keystone_deployment(&ks, "", "").await;
    let (alice, bob, admin) = (
        ks.token(ALICE).await,
        ks.token(BOB).await,
        ks.token(ADMIN).await,
    );
    let public = json!({"name": "shared", "coe": "kubernetes", "image_id": "fcos", "public": true});
    // Publishing is for admins only.
    let r = call(&e2e, &alice, Method::POST, "/v1/baymodels", Some(&public)).await;
    r.expect(403);
    assert_eq!(
        r.error_message(),
        "Policy doesn't allow baymodel:publish to be performed."
    );
    let made = call(&e2e, &admin, Method::POST, "/v1/baymodels", Some(&public)).await;
    let uuid = made.expect(201)["uuid"].as_str().unwrap().to_owned();
    for token in [&alice, &bob] {
        get(&e2e, token, &format!("/v1/baymodels/{uuid}"))
            .await
            .expect(200);
        assert_eq!(
            uuids(
                &get(&e2e, token, "/v1/clustertemplates").await,
                "clustertemplates"
            ),
            vec![uuid.clone()]
        );
    }
    let patch = json!([{"op": "replace", "path": "/name", "value": "mine-now"}]);
    let path = format!("/v1/baymodels/{uuid}");
    call(&e2e, &bob, Method::PATCH, &path, Some(&patch))
        .await
        .expect(403);
    call(&e2e, &bob, Method::DELETE, &path, None)
        .await
        .expect(403);
    call(&e2e, &admin, Method::PATCH, &path, Some(&patch))
        .await
        .expect(200);
}

#[tokio::test]
async fn a_policy_file_override_takes_effect_and_is_reloaded_when_it_changes() {
    let ks = TestKeystone::from_env();
    let dir = std::env::temp_dir().join(format!(
        "magnum-e2e-policy-{}",
        magnum_test_support::unique_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("policy.yaml");
    std::fs::write(&file, "\"baymodel:create\": \"role:admin\"\n").unwrap();
    let e2e = keystone_deployment(
        &ks,
        "",
        &format!("[oslo_policy]\npolicy_file = {}\n", file.display()),
    )
    .await;
    let (alice, admin) = (ks.token(ALICE).await, ks.token(ADMIN).await);
    let body = crate::baymodel("k8s");
    let r = call(&e2e, &alice, Method::POST, "/v1/baymodels", Some(&body)).await;
    r.expect(403);
    assert_eq!(
        r.error_message(),
        "Policy doesn't allow baymodel:create to be performed."
    );
    call(&e2e, &admin, Method::POST, "/v1/baymodels", Some(&body))
        .await
        .expect(201);
    get(&e2e, &alice, "/v1/baymodels").await.expect(200);

    // A changed file is picked up while running: create opens again, listing closes.
    std::fs::write(
        &file,
        "# members may create again; only admins list\n\"baymodel:get_all\": \"role:admin\"\n",
    )
    .unwrap();
    eventually(
        "the changed policy file is in force",
        Duration::from_secs(20),
        || async { get(&e2e, &alice, "/v1/baymodels").await.status.as_u16() == 403 },
    )
    .await;
    let r = get(&e2e, &alice, "/v1/baymodels").await;
    assert_eq!(
        r.error_message(),
        "Policy doesn't allow baymodel:get_all to be performed."
    );
    call(
        &e2e,
        &alice,
        Method::POST,
        "/v1/baymodels",
        Some(&crate::baymodel("k8s-2")),
    )
    .await
    .expect(201);

    let _ = std::fs::remove_dir_all(dir);
}
