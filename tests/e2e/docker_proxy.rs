//! The Docker client proxy end to end (specs/0005): a TLS swarm bay on the real test Engines, a
//! client bundle from `POST /v1/certificates`, and the real `docker` CLI through the proxy.

use crate::bays::{BAY_LABEL, claim_label, docker_hosts, free_docker_engines, wait_status};
use magnum_test_support::{Deployment, TestCa, eventually};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const IMAGE: &str = "magnum-test/busybox:latest";

/// The docker CLI: `$MAGNUM_TEST_DOCKER_CLI`, else `docker` on the PATH.
pub(crate) fn docker_cli() -> String {
    std::env::var("MAGNUM_TEST_DOCKER_CLI").unwrap_or_else(|_| "docker".into())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The proxy's serving certificate for 127.0.0.1, signed by `ca`; returns (cert, key) paths.
fn serving_cert(ca: &TestCa, dir: &Path) -> (PathBuf, PathBuf) {
    let ca_key = KeyPair::from_pem(&ca.key_pem).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "magnum docker proxy");
    params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("proxy.pem"), dir.join("proxy.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// A client bundle directory: `ca.pem`, `cert.pem`, `key.pem`, signed through the API.
async fn signed_bundle(e2e: &Deployment, bay: &str, dir: &Path) -> PathBuf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "admin");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let signed = e2e
        .post(
            "/v1/certificates",
            &json!({"cluster_uuid": bay, "csr": csr}),
        )
        .await;
    let cert = signed.expect(201)["pem"].as_str().unwrap().to_owned();
    let ca = e2e.get(&format!("/v1/certificates/{bay}")).await;
    let ca = ca.expect(200)["pem"].as_str().unwrap().to_owned();
    let out = dir.join(format!("bundle-{}", magnum_test_support::unique_suffix()));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("ca.pem"), ca).unwrap();
    std::fs::write(out.join("cert.pem"), cert).unwrap();
    std::fs::write(out.join("key.pem"), key.serialize_pem()).unwrap();
    out
}

/// Runs the docker CLI with `bundle` against the proxy.
fn through(bundle: &Path, host: &str, args: &[&str]) -> Output {
    let file = |name: &str| bundle.join(name).display().to_string();
    Command::new(docker_cli())
        .args(["--tlsverify", "--tlscacert"])
        .arg(file("ca.pem"))
        .arg("--tlscert")
        .arg(file("cert.pem"))
        .arg("--tlskey")
        .arg(file("key.pem"))
        .args(["-H", host])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .expect("the docker CLI runs")
}

/// Runs the docker CLI straight at an Engine (the test's own access, not a tenant's).
fn direct(engine: &str, args: &[&str]) -> Output {
    Command::new(docker_cli())
        .args(["-H", engine])
        .args(args)
        .output()
        .expect("the docker CLI runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        stdout(out)
    );
    stdout(out)
}

/// Fails, saying one of `words` (case-insensitive) on stderr.
fn refused(out: &Output, what: &str, words: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success(), "{what} succeeded: {}", stdout(out));
    assert!(
        words.iter().any(|w| err.contains(&w.to_lowercase())),
        "{what}: expected one of {words:?} in: {err}"
    );
}

/// A deployment whose conductor runs the Docker client proxy on a free loopback port in front of
/// the test Engines, with its own client and serving CAs.
pub(crate) struct ProxyStack {
    pub(crate) e2e: Deployment,
    /// `tcp://127.0.0.1:<port>`: the docker bays' `api_address`.
    pub(crate) host: String,
    /// The CA clients verify the proxy with (the bays' CA).
    pub(crate) proxy_ca: TestCa,
    /// A scratch directory of this test's.
    pub(crate) dir: PathBuf,
}

pub(crate) async fn proxy_deployment() -> ProxyStack {
    free_docker_engines();
    let dir = std::env::temp_dir().join(format!(
        "magnum-e2e-docker-proxy-{}",
        magnum_test_support::unique_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let client_ca = TestCa::generate("magnum e2e docker client CA");
    let proxy_ca = TestCa::generate("magnum e2e docker proxy CA");
    let (client_ca_cert, client_ca_key) = client_ca.write(&dir, "client-ca");
    let (proxy_ca_cert, _) = proxy_ca.write(&dir, "proxy-ca");
    let (proxy_cert, proxy_key) = serving_cert(&proxy_ca, &dir);
    let port = free_port();
    let e2e = Deployment::builder()
        .config(&format!(
            "[docker]\nhosts = {}\nclient_proxy_listen = 127.0.0.1:{port}\n\
             client_proxy_cert = {}\nclient_proxy_key = {}\nclient_proxy_ca = {}\n\
             client_ca_cert = {}\nclient_ca_key = {}\n[conductor]\nperiodic_interval = 1\n",
            docker_hosts(),
            proxy_cert.display(),
            proxy_key.display(),
            proxy_ca_cert.display(),
            client_ca_cert.display(),
            client_ca_key.display(),
        ))
        .start()
        .await;
    ProxyStack {
        e2e,
        host: format!("tcp://127.0.0.1:{port}"),
        proxy_ca,
        dir,
    }
}

#[tokio::test]
async fn docker_bay_bundle_drives_only_its_own_containers_through_the_proxy() {
    let ProxyStack {
        e2e,
        host,
        proxy_ca,
        dir,
    } = proxy_deployment().await;
    e2e.post(
        "/v1/clustertemplates",
        &json!({"name": "swarm", "coe": "swarm", "image_id": "busybox"}),
    )
    .await
    .expect(201);
    let mut uuids = Vec::new();
    for name in ["mine", "other"] {
        let reply = e2e
            .post(
                "/v1/clusters",
                &json!({"name": name, "cluster_template_id": "swarm", "node_count": 1}),
            )
            .await;
        uuids.push(reply.expect(202)["uuid"].as_str().unwrap().to_owned());
    }
    let mut engines = Vec::new();
    for uuid in &uuids {
        let bay = wait_status(&e2e, &format!("/v1/bays/{uuid}"), "CREATE_COMPLETE").await;
        assert_eq!(bay["api_address"], host.as_str(), "{bay}");
        engines.push(bay["node_addresses"][0].as_str().unwrap().to_owned());
    }
    let (mine, other) = (&uuids[0], &uuids[1]);
    let (my_engine, other_engine) = (&engines[0], &engines[1]);
    assert_ne!(my_engine, other_engine);

    // The bay's CA is the proxy's; the bundle works with the real CLI.
    let ca = e2e.get(&format!("/v1/certificates/{mine}")).await;
    assert_eq!(ca.expect(200)["pem"], proxy_ca.cert_pem.as_str());
    let bundle = signed_bundle(&e2e, mine, &dir).await;
    let docker = |args: &[&str]| through(&bundle, &host, args);
    let version = ok(
        &docker(&["version", "--format", "{{.Server.Version}}"]),
        "version",
    );
    assert!(!version.is_empty());

    // A container of the other bay, and an unlabelled one on this bay's own Engine.
    let foreign = ok(
        &direct(
            other_engine,
            &[
                "run",
                "-d",
                "--network",
                "none",
                "--label",
                &format!("magnum.openstack.org/bay={other}"),
                IMAGE,
                "sleep",
                "300",
            ],
        ),
        "a container of the other bay",
    );
    let stray = ok(
        &direct(
            my_engine,
            &["run", "-d", "--network", "none", IMAGE, "sleep", "300"],
        ),
        "an unlabelled container beside the bay's",
    );

    // Its own container: run, list, exec, logs.
    let id = ok(
        &docker(&[
            "run",
            "-d",
            "--network",
            "none",
            "--label",
            "app=web",
            IMAGE,
            "sh",
            "-c",
            "echo hello from the bay; sleep 300",
        ]),
        "docker run -d",
    );
    let labels = ok(
        &direct(
            my_engine,
            &["inspect", "--format", "{{json .Config.Labels}}", &id],
        ),
        "inspect on the Engine",
    );
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["magnum.openstack.org/bay"], mine.as_str());
    assert_eq!(labels["app"], "web");
    let listed = ok(&docker(&["ps", "-a", "-q", "--no-trunc"]), "docker ps");
    assert_eq!(listed.split_whitespace().collect::<Vec<_>>(), [id.as_str()]);
    let exec = ok(&docker(&["exec", &id, "echo", "from exec"]), "docker exec");
    assert_eq!(exec, "from exec");
    // Standard input travels through the upgraded (hijacked) connection too.
    let mut cat = Command::new(docker_cli())
        .args(["--tlsverify", "--tlscacert"])
        .arg(bundle.join("ca.pem"))
        .arg("--tlscert")
        .arg(bundle.join("cert.pem"))
        .arg("--tlskey")
        .arg(bundle.join("key.pem"))
        .args(["-H", &host, "exec", "-i", &id, "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = cat.stdin.take().unwrap();
        stdin.write_all(b"typed into exec -i\n").unwrap();
    }
    let echoed = ok(&cat.wait_with_output().unwrap(), "docker exec -i");
    assert_eq!(echoed, "typed into exec -i");
    let logs = ok(&docker(&["logs", &id]), "docker logs");
    assert!(logs.contains("hello from the bay"), "{logs}");
    let short = &id[..12];
    ok(
        &docker(&["container", "inspect", short]),
        "inspect by short id",
    );

    // Others' containers are invisible and refused by id.
    for theirs in [&foreign, &stray] {
        for args in [
            vec!["container", "inspect", theirs.as_str()],
            vec!["logs", theirs.as_str()],
            vec!["exec", theirs.as_str(), "true"],
            vec!["stop", theirs.as_str()],
            vec!["rm", theirs.as_str()],
        ] {
            refused(&docker(&args), &format!("{args:?}"), &["no such container"]);
        }
        // `rm -f` ignores "no such container": it must leave the container running.
        let _ = docker(&["rm", "-f", theirs.as_str()]);
    }

    // Host access is refused, and so is everything off the allow-list.
    for (args, words) in [
        (
            vec!["run", "-d", "--privileged", IMAGE, "true"],
            &["Privileged"][..],
        ),
        (
            vec![
                "run",
                "-d",
                "--network",
                "none",
                "-v",
                "/:/host",
                IMAGE,
                "true",
            ],
            &["Binds"],
        ),
        (
            vec!["run", "-d", "--network", "host", IMAGE, "true"],
            &["NetworkMode"],
        ),
        (
            vec!["run", "-d", "--pid", "host", IMAGE, "true"],
            &["PidMode"],
        ),
        (
            vec!["run", "-d", "--cap-add", "SYS_ADMIN", IMAGE, "true"],
            &["CapAdd"],
        ),
        (
            vec!["exec", "--privileged", id.as_str(), "true"],
            &["Privileged"],
        ),
        (vec!["volume", "ls"], &["not allowed"]),
        (vec!["network", "ls"], &["not allowed"]),
        (vec!["system", "df"], &["not allowed"]),
    ] {
        refused(&docker(&args), &format!("{args:?}"), words);
    }
    let still = ok(&docker(&["ps", "-a", "-q", "--no-trunc"]), "docker ps");
    assert_eq!(still, id, "refused runs created nothing");
    for (engine, theirs) in [(other_engine, &foreign), (my_engine, &stray)] {
        let untouched = ok(
            &direct(
                engine,
                &["inspect", "--format", "{{.State.Running}}", theirs],
            ),
            "a container that is not the bay's",
        );
        assert_eq!(untouched, "true", "{theirs} was touched");
    }

    ok(&docker(&["rm", "-f", &id]), "docker rm -f");
    assert_eq!(ok(&docker(&["ps", "-a", "-q"]), "docker ps"), "");

    // A bundle of the other bay sees its container, not this bay's.
    let other_bundle = signed_bundle(&e2e, other, &dir).await;
    let theirs = ok(
        &through(&other_bundle, &host, &["ps", "-q", "--no-trunc"]),
        "docker ps as the other bay",
    );
    assert_eq!(theirs, foreign);

    // Rotation revokes the old bundle at once; a new one works.
    let reply = e2e
        .request(Method::PATCH, &format!("/v1/certificates/{mine}"), None)
        .await;
    reply.expect(202);
    refused(
        &docker(&["ps"]),
        "ps with a rotated bundle",
        &["no longer valid"],
    );
    let fresh = signed_bundle(&e2e, mine, &dir).await;
    ok(&through(&fresh, &host, &["ps"]), "ps with a new bundle");
    // A certificate from another CA does not get past the handshake.
    let forged = dir.join("forged");
    std::fs::create_dir_all(&forged).unwrap();
    std::fs::copy(fresh.join("ca.pem"), forged.join("ca.pem")).unwrap();
    let rogue = TestCa::generate("rogue");
    let (rogue_cert, rogue_key) = rogue.write(&forged, "rogue");
    std::fs::copy(rogue_cert, forged.join("cert.pem")).unwrap();
    std::fs::copy(rogue_key, forged.join("key.pem")).unwrap();
    assert!(!through(&forged, &host, &["ps"]).status.success());

    for id in [&foreign, &stray] {
        let _ = direct(&engines[0], &["rm", "-f", id]);
        let _ = direct(&engines[1], &["rm", "-f", id]);
    }
    // Deleting the bays releases both Engines: nothing is left claimed for the next test.
    for uuid in &uuids {
        let path = format!("/v1/clusters/{uuid}");
        e2e.delete(&path).await.expect(204);
        eventually("the cluster is gone", Duration::from_secs(60), || async {
            e2e.get(&path).await.status == 404
        })
        .await;
    }
    for engine in &engines {
        assert_eq!(
            claim_label(engine, BAY_LABEL),
            None,
            "{engine} is still claimed"
        );
    }
}
