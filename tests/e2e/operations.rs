//! What operators watch and do: `/healthcheck`, Prometheus metrics on both daemons, `SIGTERM`
//! draining the API, `SIGHUP` reloading the log level.

use crate::bays::unreachable_kubeconfig;
use magnum_test_support::{Deployment, eventually};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

const ADMIN: (&str, &str, &str) = ("root", "admins", "admin");

#[tokio::test]
async fn healthcheck_reports_the_broker_and_shows_details_to_admins_only() {
    let e2e = Deployment::start().await;
    let plain = e2e.get("/healthcheck").await;
    assert_eq!((plain.status.as_u16(), plain.text.as_str()), (200, "OK"));
    let member = e2e.get("/healthcheck?detailed=true").await;
    assert_eq!(member.status, 403, "{}", member.text);
    assert!(
        member.error_message().contains("context_is_admin"),
        "{}",
        member.text
    );
    let admin = e2e
        .request_as(ADMIN, Method::GET, "/healthcheck?detailed=true", None)
        .await;
    let body = admin.expect(200);
    assert_eq!(body["status"], "OK");
    assert_eq!(body["checks"]["broker"]["reachable"], true);
    let conductors = body["checks"]["conductors"].as_array().unwrap();
    assert_eq!(conductors.len(), 1, "{body}");
    assert_eq!(conductors[0]["state"], "up");
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The value of the first sample of `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn both_daemons_export_prometheus_metrics() {
    let kubeconfig = unreachable_kubeconfig();
    let conductor_port = free_port();
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n\
             [metrics]\nconductor_port = {conductor_port}\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post("/v1/baymodels", &crate::baymodel("k8s"))
        .await
        .expect(201);
    e2e.get("/v1/baymodels").await.expect(200);
    e2e.get("/v1/baymodels/nope").await.expect(404);
    e2e.post("/v1/bays", &json!({"name": "b", "baymodel_id": "k8s"}))
        .await
        .expect(201);

    assert!(e2e.api_metrics.ends_with("/metrics"), "{}", e2e.api_metrics);
    let api = e2e.scrape(&e2e.api_metrics).await;
    let count = |route: &str, status: &str| {
        sample(
            &api,
            "magnum_api_requests_total",
            &[
                &format!("route=\"{route}\""),
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert!(count("/v1/baymodels", "200").unwrap_or(0.0) >= 1.0, "{api}");
    assert_eq!(count("/v1/baymodels/{ident}", "404"), Some(1.0), "{api}");
    assert!(
        api.contains("magnum_api_request_duration_seconds_bucket"),
        "latency histogram: {api}"
    );
    assert!(
        sample(
            &api,
            "magnum_rpc_calls_total",
            &["method=\"bay_create\"", "outcome=\"ok\""]
        ) == Some(1.0),
        "{api}"
    );

    let url = format!("http://127.0.0.1:{conductor_port}/metrics");
    eventually(
        "the conductor reports its requests and the bay it is working on",
        Duration::from_secs(30),
        || async {
            let text = e2e.scrape(&url).await;
            sample(
                &text,
                "magnum_conductor_requests_total",
                &["method=\"bay_create\"", "outcome=\"ok\""],
            ) == Some(1.0)
                // The backend never answers: the create keeps its lease and retries.
                && sample(&text, "magnum_bays", &["status=\"CREATE_IN_PROGRESS\""]) == Some(1.0)
                && sample(&text, "magnum_bays", &["status=\"CREATE_COMPLETE\""]) == Some(0.0)
                && sample(&text, "magnum_conductor_leases_held", &[]) == Some(1.0)
                && sample(&text, "magnum_conductor_work_running", &[]) == Some(1.0)
        },
    )
    .await;
}

/// Serves one HTTP connection that never answers; returns its URL.
async fn hanging_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pod.yaml", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0_u8; 1024];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    url
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_stops_accepting() {
    let kubeconfig = unreachable_kubeconfig();
    let mut e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[api]\nmanifest_fetch_timeout = 3\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post("/v1/baymodels", &crate::baymodel("k8s"))
        .await
        .expect(201);
    e2e.post("/v1/bays", &json!({"name": "b", "baymodel_id": "k8s"}))
        .await
        .expect(201);
    // A request that takes three seconds: its manifest_url never answers.
    let url = hanging_server().await;
    let base = e2e.base.clone();
    let in_flight = tokio::spawn(async move {
        magnum_test_support::http_client()
            .post(format!("{base}/v1/pods"))
            .header("X-User-Id", "alice")
            .header("X-Project-Id", "demo")
            .header("X-Roles", "member")
            .json(&json!({"bay_uuid": "b", "manifest_url": url}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let signalled = Instant::now();
    e2e.signal_api("TERM").await;
    let answered = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(
        answered.status(),
        400,
        "its own answer, not a dropped connection"
    );
    let text = answered.text().await.unwrap_or_default();
    assert!(text.contains("did not answer in time"), "{text}");
    let status = e2e.wait_api_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "magnum-api exits cleanly: {status:?}");
    eprintln!(
        "magnum-api drained and exited {:?} after SIGTERM",
        signalled.elapsed()
    );
    let refused = magnum_test_support::http_client()
        .get(format!("{}/", e2e.base))
        .send()
        .await;
    assert!(refused.is_err(), "nothing listens any more");
}

#[tokio::test]
async fn sighup_reloads_the_log_level_from_the_configuration() {
    let e2e = Deployment::builder()
        .api_log_from_config()
        .config("[DEFAULT]\ndebug = false\n")
        .start()
        .await;
    let served = |e2e: &Deployment| {
        e2e.api_log()
            .iter()
            .filter(|l| l.contains("served"))
            .count()
    };
    e2e.get("/v1/baymodels").await.expect(200);
    assert_eq!(served(&e2e), 0, "no debug lines at info level");
    e2e.rewrite_override("[DEFAULT]\ndebug = true\n");
    e2e.signal_api("HUP").await;
    eventually(
        "the API logs at debug level",
        Duration::from_secs(20),
        || async {
            e2e.get("/v1/baymodels").await.expect(200);
            served(&e2e) > 0
        },
    )
    .await;
    e2e.rewrite_override("[DEFAULT]\ndebug = false\n");
    e2e.signal_api("HUP").await;
    eventually(
        "the API is back at info level",
        Duration::from_secs(20),
        || async {
            let before = served(&e2e);
            e2e.get("/v1/baymodels").await.expect(200);
            tokio::time::sleep(Duration::from_millis(200)).await;
            served(&e2e) == before
        },
    )
    .await;
}

#[tokio::test]
async fn a_conductor_stopped_with_sigterm_hands_its_bay_work_to_another_at_once() {
    let (double, kubeconfig) = crate::kube_bays::kube_double(2).await;
    // Leases outlive the test: only a handed-back lease lets the second conductor take over.
    let mut e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nlease_timeout = 300\nperiodic_interval = 1\n",
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
    double.set_latency(Duration::from_millis(400));
    let bay = e2e
        .post(
            "/v1/bays",
            &json!({"name": "slow", "baymodel_id": "k8s", "node_count": 2}),
        )
        .await;
    let uuid = bay.expect(201)["uuid"].as_str().unwrap().to_owned();
    eventually(
        "the first conductor holds the work",
        Duration::from_secs(20),
        || async {
            e2e.sql(&format!(
                "SELECT lease_owner FROM bay WHERE uuid = '{uuid}'"
            ))
            .await
            .first()
            .is_some_and(Option::is_some)
        },
    )
    .await;
    e2e.start_conductor();
    let stopped = Instant::now();
    let status = e2e.stop_conductor(0).await;
    assert!(status.success(), "a clean exit: {status:?}");
    eprintln!(
        "the first conductor exited {:?} after SIGTERM",
        stopped.elapsed()
    );
    double.set_latency(Duration::ZERO);
    let done = crate::bays::wait_status(&e2e, &format!("/v1/bays/{uuid}"), "CREATE_COMPLETE").await;
    assert_eq!(done["node_count"], 2);
    assert!(
        stopped.elapsed() < Duration::from_secs(120),
        "taken over long before the 300 s lease would have expired"
    );
}
