//! Pods, services and replication controllers end to end: manifests in YAML and JSON, inline or
//! from a `manifest_url`, through both daemons into a kubernetes bay's namespace on the
//! Kubernetes API double; status read back from Kubernetes; every refusal a clear 4xx.

use crate::bays::wait_status;
use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const POD_YAML: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}]
";

const SERVICE_YAML: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
";

const RC_YAML: &str = "\
apiVersion: v1
kind: ReplicationController
metadata:
  name: workers
spec:
  replicas: 2
  selector: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
      - name: worker
        image: busybox:1.36
        command: [sleep, '3600']
";

/// A kubernetes bay `apps` of one node on a fresh double, ready for workloads.
async fn kube_bay(extra: &str) -> (KubeDouble, Deployment, String) {
    let (double, kubeconfig) = crate::kube_bays::kube_double(1).await;
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n{extra}",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"}),
    )
    .await
    .expect(201);
    let bay = e2e
        .post(
            "/v1/bays",
            &json!({"name": "apps", "baymodel_id": "k8s", "node_count": 1}),
        )
        .await;
    let uuid = bay.expect(201)["uuid"].as_str().unwrap().to_owned();
    wait_status(&e2e, &format!("/v1/bays/{uuid}"), "CREATE_COMPLETE").await;
    (double, e2e, uuid)
}

fn namespace(bay: &str) -> String {
    format!("magnum-{bay}")
}

/// One line of the transcript the closing note shows.
fn transcript(request: &str, reply: &Value) {
    eprintln!("{request}\n  → {reply}");
}

#[tokio::test]
async fn pods_services_and_rcs_from_yaml_run_in_the_bays_namespace_and_follow_kubernetes() {
    let (double, e2e, bay) = kube_bay("").await;
    let ns = namespace(&bay);

    // The 2015 client sends bay_uuid; the late-2015 one bay_ident, by name.
    let pod = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": bay, "manifest": POD_YAML, "desc": "front"}),
        )
        .await;
    let pod = pod.expect(201).clone();
    transcript("POST /v1/pods {bay_uuid, manifest: <pod YAML>, desc}", &pod);
    assert_eq!(pod["name"], "web");
    assert_eq!(pod["images"], json!(["nginx:1.27"]));
    assert_eq!(pod["labels"], json!({"app": "web", "tier": "front"}));
    assert_eq!(pod["status"], "Pending");
    assert_eq!(pod["desc"], "front");
    assert_eq!(pod["manifest"], POD_YAML, "POST echoes the manifest");
    let in_k8s = double.get("v1/pods", Some(&ns), "web").expect("the pod");
    assert_eq!(
        in_k8s["metadata"]["labels"]["magnum.openstack.org/uuid"],
        pod["uuid"]
    );
    assert_eq!(
        in_k8s["spec"]["nodeSelector"]["magnum.openstack.org/bay"],
        bay.as_str(),
        "placed on the bay's nodes"
    );
    assert!(
        in_k8s["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "magnum.openstack.org/bay"),
        "tolerates the bay's taint: {in_k8s}"
    );

    let service = e2e
        .post(
            "/v1/services",
            &json!({"bay_ident": "apps", "manifest": SERVICE_YAML}),
        )
        .await;
    let service = service.expect(201).clone();
    transcript(
        "POST /v1/services {bay_ident: apps, manifest: <service YAML>}",
        &service,
    );
    assert_eq!(service["selector"], json!({"app": "web"}));
    assert!(
        service["ip"].as_str().unwrap().starts_with("10.96."),
        "the cluster IP Kubernetes gave: {service}"
    );
    assert_eq!(
        service["ports"][0]["protocol"], "TCP",
        "as Kubernetes holds them"
    );

    let rc = e2e
        .post("/v1/rcs", &json!({"bay_uuid": "apps", "manifest": RC_YAML}))
        .await;
    let rc = rc.expect(201).clone();
    transcript("POST /v1/rcs {bay_uuid: apps, manifest: <RC YAML>}", &rc);
    assert_eq!(
        (rc["replicas"].clone(), rc["images"].clone()),
        (json!(2), json!(["busybox:1.36"]))
    );
    assert_eq!(rc["labels"], json!({"app": "worker"}));
    let rc_uuid = rc["uuid"].as_str().unwrap().to_owned();

    // Lists, with and without the bay; GET never shows the manifest.
    let pods = e2e.get("/v1/pods?bay_ident=apps").await;
    let pods = pods.expect(200)["pods"].as_array().unwrap().clone();
    assert_eq!(pods.len(), 1);
    assert!(pods[0].get("manifest").is_none());
    assert_eq!(
        e2e.get("/v1/services").await.expect(200)["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let rcs = e2e.get("/v1/rcs/detail").await;
    transcript("GET /v1/rcs/detail", rcs.expect(200));

    // Item routes: by name, with the bay as a second segment or in the query (1.1.0's forms).
    e2e.get("/v1/pods/web").await.expect(200);
    e2e.get(&format!("/v1/pods/web/{bay}")).await.expect(200);
    e2e.get("/v1/services/web/apps").await.expect(200);
    e2e.get("/v1/rcs/workers/?bay_ident=apps").await.expect(200);
    e2e.get("/v1/rcs/workers?bay_ident=nope").await.expect(404);

    // Status follows Kubernetes: a kubelet runs the pod, the RC's pods become ready.
    assert!(double.set_status(
        "v1/pods",
        Some(&ns),
        "web",
        &json!({"phase": "Running", "podIP": "10.244.0.5"})
    ));
    assert!(double.set_status(
        "v1/replicationcontrollers",
        Some(&ns),
        "workers",
        &json!({"replicas": 2, "readyReplicas": 2})
    ));
    eventually(
        "the pod shows Running and the RC 2 ready",
        Duration::from_secs(30),
        || async {
            let pod = e2e.get("/v1/pods/web").await;
            let rc = e2e.get(&format!("/v1/rcs/{rc_uuid}")).await;
            pod.json["status"] == "Running" && rc.json["ready_replicas"] == 2
        },
    )
    .await;
    transcript(
        "GET /v1/pods/web (after the kubelet reported Running)",
        &e2e.get("/v1/pods/web").await.json,
    );

    // PATCH of replicas scales the RC in Kubernetes.
    let scaled = e2e
        .patch(
            "/v1/rcs/workers/apps",
            &json!([{"op": "replace", "path": "/replicas", "value": 5}]),
        )
        .await;
    let scaled = scaled.expect(200).clone();
    transcript("PATCH /v1/rcs/workers/apps [replace /replicas 5]", &scaled);
    assert_eq!(scaled["replicas"], 5);
    let in_k8s = double
        .get("v1/replicationcontrollers", Some(&ns), "workers")
        .unwrap();
    assert_eq!(in_k8s["spec"]["replicas"], 5);

    // PATCH of the manifest replaces the object: a pod may change its image.
    let new_image = POD_YAML.replace("nginx:1.27", "nginx:1.28");
    let patched = e2e
        .patch(
            "/v1/pods/web",
            &json!([{"op": "replace", "path": "/manifest", "value": new_image},
                    {"op": "replace", "path": "/desc", "value": "front, updated"}]),
        )
        .await;
    let patched = patched.expect(200).clone();
    assert_eq!(patched["images"], json!(["nginx:1.28"]));
    assert_eq!(patched["desc"], "front, updated");
    assert_eq!(
        double.get("v1/pods", Some(&ns), "web").unwrap()["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    // …but not anything else: Kubernetes' own 422 reaches the client.
    let moved = POD_YAML.replace("containerPort: 80", "containerPort: 8080");
    let refused = e2e
        .patch(
            "/v1/pods/web",
            &json!([{"op": "replace", "path": "/manifest", "value": moved}]),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.error_message().contains("Forbidden"),
        "{}",
        refused.text
    );
    // Renaming through a manifest, or touching read-only fields, is a 400.
    let renamed = POD_YAML.replace("name: web", "name: web2");
    let refused = e2e
        .patch(
            "/v1/pods/web",
            &json!([{"op": "replace", "path": "/manifest", "value": renamed}]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let refused = e2e
        .patch(
            "/v1/services/web",
            &json!([{"op": "replace", "path": "/ip", "value": "10.0.0.1"}]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.error_message().contains("internal attribute"));

    // An object removed behind Magnum's back loses its record.
    assert!(double.remove("v1/services", Some(&ns), "web"));
    eventually(
        "the service record is dropped",
        Duration::from_secs(30),
        || async { e2e.get("/v1/services/web").await.status == 404 },
    )
    .await;

    // DELETE removes the object, then the record.
    e2e.delete("/v1/pods/web/apps").await.expect(204);
    e2e.delete(&format!("/v1/rcs/workers?bay_ident={bay}"))
        .await
        .expect(204);
    assert!(double.get("v1/pods", Some(&ns), "web").is_none());
    assert!(
        double
            .get("v1/replicationcontrollers", Some(&ns), "workers")
            .is_none()
    );
    e2e.get("/v1/pods/web").await.expect(404);
    assert_eq!(e2e.count("workload").await, 0);
}

/// Serves fixed bodies over HTTP on 127.0.0.1: `/hang` accepts and never answers, other paths
/// not listed are 404. Returns the base URL.
async fn manifest_server(routes: Vec<(&'static str, String)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                if path == "/hang" {
                    tokio::time::sleep(Duration::from_secs(300)).await;
                    return;
                }
                // `/redirect/<url>` answers 302 to `<url>`.
                if let Some(to) = path.strip_prefix("/redirect/") {
                    let reply = format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                    return;
                }
                let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => ("200 OK", body.clone()),
                    None => ("404 Not Found", String::new()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn manifests_come_from_urls_within_limits_and_bad_ones_are_clear_400s() {
    let (double, e2e, bay) =
        kube_bay("[api]\nmanifest_fetch_timeout = 2\n[DEFAULT]\nmax_manifest_size = 4096\n").await;
    let big = format!("{POD_YAML}# {}\n", "x".repeat(5000));
    let server = manifest_server(vec![
        ("/pod.yaml", POD_YAML.to_owned()),
        ("/big.yaml", big),
        ("/rc.yaml", RC_YAML.to_owned()),
        ("/service.json", r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"}, "spec": {"ports": [{"port": 8080}]}}"#.to_owned()),
    ])
    .await;

    let url = format!("{server}/pod.yaml");
    let pod = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "apps", "manifest_url": url}),
        )
        .await;
    let pod = pod.expect(201).clone();
    assert_eq!(pod["name"], "web");
    assert_eq!(pod["manifest_url"], url.as_str());
    assert!(
        double
            .get("v1/pods", Some(&namespace(&bay)), "web")
            .is_some()
    );
    let service = e2e
        .post(
            "/v1/services",
            &json!({"bay_uuid": "apps", "manifest_url": format!("{server}/service.json")}),
        )
        .await;
    assert_eq!(service.expect(201)["name"], "api");

    let refused = |body: Value, needle: &'static str| {
        let e2e = &e2e;
        async move {
            let reply = e2e.post("/v1/pods", &body).await;
            assert_eq!(reply.status, 400, "{body}: {}", reply.text);
            assert!(
                reply.error_message().contains(needle),
                "{body}: {}",
                reply.error_message()
            );
        }
    };
    refused(
        json!({"bay_uuid": "apps", "manifest_url": format!("{server}/big.yaml")}),
        "larger than the limit of 4096 bytes",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps", "manifest_url": format!("{server}/missing.yaml")}),
        "404",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps", "manifest_url": format!("{server}/hang")}),
        "did not answer in time",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps", "manifest_url": "http://169.254.169.254/latest/meta-data"}),
        "denied network",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps",
               "manifest_url": format!("{server}/redirect/http://169.254.169.254/latest")}),
        "a redirect to http://169.254.169.254/latest is refused",
    )
    .await;
    let followed = e2e
        .post(
            "/v1/rcs",
            &json!({"bay_uuid": "apps",
                    "manifest_url": format!("{server}/redirect/{server}/rc.yaml")}),
        )
        .await;
    assert_eq!(
        followed.expect(201)["name"],
        "workers",
        "a harmless redirect is followed"
    );
    refused(
        json!({"bay_uuid": "apps", "manifest_url": "file:///etc/passwd"}),
        "not http or https",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps", "manifest_url": "http://127.0.0.1:1/pod.yaml"}),
        "Could not fetch the manifest",
    )
    .await;
    refused(json!({"bay_uuid": "apps"}), "'manifest' can't be empty").await;
    refused(
        json!({"bay_uuid": "apps", "manifest": SERVICE_YAML}),
        "kind",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps", "manifest": POD_YAML.replace("name: web", "name: Web_1")}),
        "metadata.name",
    )
    .await;
    refused(
        json!({"bay_uuid": "apps",
               "manifest": POD_YAML.replace("  name: web\n", "  name: web\n  namespace: kube-system\n")}),
        "namespace",
    )
    .await;
    refused(
        json!({"bay_uuid": "nope", "manifest": POD_YAML}),
        "Bay nope could not be found",
    )
    .await;
    // The name is taken in the bay: 409, and nothing half-written.
    let again = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "apps", "manifest": POD_YAML}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(e2e.count("workload").await, 3);
    // Kubernetes' own refusal keeps its status and message.
    let bad_label = POD_YAML.replace("tier: front", "tier: 'not valid!'");
    let rejected = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "apps", "manifest": bad_label.replace("name: web", "name: web2")}),
        )
        .await;
    assert_eq!(rejected.status, 422, "{}", rejected.text);
    assert_eq!(
        e2e.count("workload").await,
        3,
        "a refused create leaves no record"
    );
}

#[tokio::test]
async fn workloads_need_a_ready_kubernetes_bay_of_the_callers_own() {
    // A docker driver whose only Engine does not exist: swarm bays are admitted, then fail.
    let (_double, e2e, _bay) =
        kube_bay("[docker]\nhosts = unix:///nonexistent/magnum-e2e.sock\n").await;
    // A swarm bay and a kubernetes bay that cannot get its nodes: neither takes pods.
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "swarm", "coe": "swarm", "image_id": "fcos"}),
    )
    .await
    .expect(201);
    e2e.post(
        "/v1/bays",
        &json!({"name": "dockers", "baymodel_id": "swarm"}),
    )
    .await
    .expect(201);
    let big = e2e
        .post(
            "/v1/bays",
            &json!({"name": "big", "baymodel_id": "k8s", "node_count": 5}),
        )
        .await;
    let big = big.expect(201)["uuid"].as_str().unwrap().to_owned();
    wait_status(&e2e, &format!("/v1/bays/{big}"), "CREATE_FAILED").await;
    let swarm = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "dockers", "manifest": POD_YAML}),
        )
        .await;
    assert_eq!(swarm.status, 400, "{}", swarm.text);
    assert!(
        swarm
            .error_message()
            .contains("Cannot fulfill request with a swarm bay, expecting a kubernetes bay."),
        "{}",
        swarm.text
    );
    let failed = e2e
        .post("/v1/rcs", &json!({"bay_uuid": "big", "manifest": RC_YAML}))
        .await;
    assert_eq!(failed.status, 400, "{}", failed.text);
    assert!(
        failed.error_message().contains("CREATE_FAILED"),
        "{}",
        failed.text
    );
    // A container in a kubernetes bay is refused the other way round.
    let container = e2e
        .post(
            "/v1/containers",
            &json!({"image": "busybox", "bay_uuid": "apps"}),
        )
        .await;
    assert_eq!(container.status, 400, "{}", container.text);
    assert!(container.error_message().contains("expecting a swarm bay"));

    // Tenancy: another project neither sees nor reaches the pod, by uuid or by name.
    let pod = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "apps", "manifest": POD_YAML}),
        )
        .await;
    let uuid = pod.expect(201)["uuid"].as_str().unwrap().to_owned();
    let other = ("mallory", "other", "member");
    for path in [
        format!("/v1/pods/{uuid}"),
        "/v1/pods/web".to_owned(),
        "/v1/pods/web/apps".to_owned(),
    ] {
        let reply = e2e.request_as(other, Method::GET, &path, None).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
        let reply = e2e.request_as(other, Method::DELETE, &path, None).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
    }
    let listed = e2e.request_as(other, Method::GET, "/v1/pods", None).await;
    assert_eq!(listed.expect(200)["pods"], json!([]));
    // Its own bay of the same name holds nothing of ours either.
    let theirs = e2e
        .request_as(
            other,
            Method::POST,
            "/v1/pods",
            Some(&json!({"bay_uuid": "apps", "manifest": POD_YAML})),
        )
        .await;
    assert_eq!(theirs.status, 400, "another project's bay: {}", theirs.text);
    e2e.get(&format!("/v1/pods/{uuid}")).await.expect(200);
}

#[tokio::test]
async fn a_kubernetes_that_hangs_is_a_prompt_503_and_leaves_nothing_behind() {
    let (double, e2e, bay) = kube_bay("[kubernetes]\napi_timeout = 1\n").await;
    double.set_latency(Duration::from_secs(5));
    let started = std::time::Instant::now();
    let hung = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "apps", "manifest": POD_YAML}),
        )
        .await;
    assert_eq!(hung.status, 503, "{}", hung.text);
    assert!(
        hung.error_message().contains("did not answer"),
        "{}",
        hung.text
    );
    eprintln!(
        "a hanging Kubernetes answered 503 after {:?}",
        started.elapsed()
    );
    assert_eq!(
        e2e.count("workload").await,
        0,
        "no record of a failed create"
    );
    double.set_latency(Duration::ZERO);
    // Whatever reached Kubernetes has no record: the reconciler removes it.
    eventually("no pod is left", Duration::from_secs(30), || async {
        double
            .get("v1/pods", Some(&namespace(&bay)), "web")
            .is_none()
    })
    .await;
    e2e.post(
        "/v1/pods",
        &json!({"bay_uuid": "apps", "manifest": POD_YAML}),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn a_manifest_url_whose_name_resolves_into_a_denied_network_is_refused() {
    let (_double, e2e, _bay) =
        kube_bay("[api]\nmanifest_url_denied_cidrs = 169.254.0.0/16, 127.0.0.0/8\n").await;
    let server = manifest_server(vec![("/pod.yaml", POD_YAML.to_owned())]).await;
    let by_name = server.replace("127.0.0.1", "localhost");
    let reply = e2e
        .post(
            "/v1/pods",
            &json!({"bay_uuid": "apps", "manifest_url": format!("{by_name}/pod.yaml")}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(
        reply
            .error_message()
            .contains("inside the denied network 127.0.0.0/8"),
        "{}",
        reply.error_message()
    );
    assert_eq!(e2e.count("workload").await, 0);
}
