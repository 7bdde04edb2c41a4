//! Outages: no conductor, a restarted broker, a restarted database. Tests that restart a shared
//! service are named `fault_*` and run alone in nextest's `faults` profile (scripts/test).

use magnum_test_support::{Deployment, eventually};
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_api_answers_503_at_once_while_no_conductor_runs_and_recovers_when_one_starts() {
    let mut e2e = Deployment::builder().conductors(0).start().await;
    // Until its broker connection is up the API says the broker is unreachable; then that no
    // conductor runs. Either way: a prompt 503 with an error body.
    eventually(
        "the API reports the missing conductor",
        Duration::from_secs(30),
        || async {
            let started = Instant::now();
            let reply = e2e
                .post("/v1/baymodels", &crate::baymodel("nobody-home"))
                .await;
            reply.expect(503);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "503 came after {:?}",
                started.elapsed()
            );
            reply.error_message() == "No magnum-conductor is running."
        },
    )
    .await;
    e2e.start_conductor();
    e2e.wait_for_conductor().await;
    e2e.post("/v1/baymodels", &crate::baymodel("somebody-home"))
        .await
        .expect(201);
    assert_eq!(
        e2e.count("baymodel").await,
        1,
        "the refused request left nothing behind"
    );
}

fn rabbitmqctl(args: &[&str]) {
    let status = Command::new("rabbitmqctl")
        .args(args)
        .status()
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

#[tokio::test]
async fn fault_both_daemons_reconnect_after_a_broker_restart() {
    let e2e = Deployment::start().await;
    e2e.post("/v1/baymodels", &crate::baymodel("before"))
        .await
        .expect(201);
    rabbitmqctl(&["stop_app"]);
    let started = Instant::now();
    let during = e2e.post("/v1/baymodels", &crate::baymodel("during")).await;
    let waited = started.elapsed();
    eventually(
        "/healthcheck reports the broker",
        Duration::from_secs(20),
        || async {
            let health = e2e.get("/healthcheck").await;
            health.status == 503 && health.text == "broker unreachable"
        },
    )
    .await;
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
    during.expect(503);
    during.error_message();
    assert!(
        waited < Duration::from_secs(10),
        "the outage answer took {waited:?}"
    );
    eventually(
        "requests go through again",
        Duration::from_secs(60),
        || async {
            e2e.post("/v1/baymodels", &crate::baymodel("after"))
                .await
                .status
                == 201
        },
    )
    .await;
    let names = e2e.sql("SELECT name FROM baymodel ORDER BY id").await;
    assert_eq!(names, [Some("before".into()), Some("after".into())]);
    assert_eq!(e2e.get("/healthcheck").await.text, "OK");
}

#[tokio::test]
async fn fault_the_database_going_away_is_a_503_and_service_resumes_when_it_returns() {
    let e2e = Deployment::start().await;
    e2e.post("/v1/baymodels", &crate::baymodel("before"))
        .await
        .expect(201);
    let pg = |action: &str| {
        let status = Command::new("pg_ctlcluster")
            .args(["15", "main", action])
            .status()
            .expect("pg_ctlcluster");
        assert!(status.success(), "pg_ctlcluster {action} failed");
    };
    pg("stop");
    let during = e2e.get("/v1/baymodels").await;
    pg("start");
    during.expect(503);
    assert!(
        during.error_message().contains("database"),
        "{}",
        during.text
    );
    eventually("reads work again", Duration::from_secs(60), || async {
        e2e.get("/v1/baymodels").await.status == 200
    })
    .await;
    e2e.post("/v1/baymodels", &crate::baymodel("after"))
        .await
        .expect(201);
}

#[tokio::test]
async fn fault_a_docker_host_that_stops_answering_shows_in_its_bay_and_recovers() {
    crate::bays::free_docker_engines();
    let e2e = Deployment::builder()
        .config(&format!(
            "[docker]\nhosts = {}\napi_timeout = 2\n[conductor]\nperiodic_interval = 1\n",
            crate::bays::docker_hosts()
        ))
        .start()
        .await;
    crate::bays::swarm_baymodel(&e2e, "swarm").await;
    let bay = e2e
        .post(
            "/v1/bays",
            &serde_json::json!({"name": "pair", "baymodel_id": "swarm", "node_count": 2}),
        )
        .await;
    let uuid = bay.expect(201)["uuid"].as_str().unwrap().to_owned();
    crate::bays::wait_status(&e2e, &format!("/v1/clusters/{uuid}"), "CREATE_COMPLETE").await;
    let pid =
        std::fs::read_to_string("/var/run/magnum-docker2.pid").expect("second dockerd pid file");
    let signal = |sig: &str| {
        let status = Command::new("kill")
            .args([sig, pid.trim()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    // A frozen daemon: the socket still accepts connections but nothing answers.
    signal("-STOP");
    // Poll without panicking: the daemon must be thawed whatever happens.
    let started = Instant::now();
    let mut noticed = false;
    while !noticed && started.elapsed() < Duration::from_secs(60) {
        let nodes = e2e.get("/v1/nodes/detail?bay_ident=pair").await.json;
        let unknown = nodes["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["status"] == "Unknown"));
        noticed = unknown
            && e2e.get(&format!("/v1/clusters/{uuid}")).await.json["health_status"] == "UNHEALTHY";
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal("-CONT");
    assert!(
        noticed,
        "the reconciler did not notice the frozen host within 60 s"
    );
    eventually(
        "the host is Ready again",
        Duration::from_secs(60),
        || async {
            let nodes = e2e.get("/v1/nodes/detail?bay_ident=pair").await.json;
            nodes["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 2 && n.iter().all(|n| n["status"] == "Ready"))
        },
    )
    .await;
    e2e.delete(&format!("/v1/bays/{uuid}")).await.expect(204);
    eventually("the bay is gone", Duration::from_secs(60), || async {
        e2e.get(&format!("/v1/bays/{uuid}")).await.status == 404
    })
    .await;
}
