//! `/v1/certificates` and `/v1/credentials` end to end: the conductor signs with the operator's
//! client CA, names only the bay in the certificate, binds that identity in the bay's namespace
//! on the Kubernetes API double, and rotation moves the bay's rights to a new group.

use crate::bays::wait_status;
use crate::kube_bays::kube_double;
use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, TestCa, eventually};
use rcgen::{CertificateParams, DnType, KeyPair};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use x509_parser::prelude::{FromDer, X509Certificate};

const BINDING: &str = "magnum-bay-certificates";
const BINDINGS: &str = "rbac.authorization.k8s.io/v1/rolebindings";
const BOB: (&str, &str, &str) = ("bob", "other", "member");

/// A kube deployment whose conductor signs with a fresh client CA (`None`: no client CA set).
/// `extra` goes first in the configuration.
async fn deployment(
    nodes: usize,
    client_ca: Option<&TestCa>,
    extra: &str,
) -> (KubeDouble, Deployment) {
    let (double, kubeconfig) = kube_double(nodes).await;
    let mut config = format!(
        "{extra}[conductor]\nperiodic_interval = 1\n[kubernetes]\nkubeconfig = {}\n",
        kubeconfig.display()
    );
    if let Some(ca) = client_ca {
        let (cert, key) = ca.write(
            &std::env::temp_dir(),
            &format!(
                "magnum-e2e-client-ca-{}",
                magnum_test_support::unique_suffix()
            ),
        );
        config.push_str(&format!(
            "client_ca_cert = {}\nclient_ca_key = {}\nclient_cert_validity_days = 2\n",
            cert.display(),
            key.display()
        ));
    }
    let e2e = Deployment::builder().config(&config).start().await;
    (double, e2e)
}

async fn cluster(e2e: &Deployment, template: &str, name: &str) -> String {
    let reply = e2e
        .post(
            "/v1/clusters",
            &json!({"name": name, "cluster_template_id": template, "node_count": 1}),
        )
        .await;
    let uuid = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    wait_status(e2e, &format!("/v1/clusters/{uuid}"), "CREATE_COMPLETE").await;
    uuid
}

/// A PEM request for `CN=admin, O=system:masters`, as python-magnumclient's `cluster config`.
fn admin_csr() -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "admin");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn der(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).expect("PEM").into_contents()
}

/// The subject of a PEM certificate, after checking it is signed by `ca`.
fn subject_signed_by(pem_text: &str, ca: &TestCa) -> String {
    let cert_der = der(pem_text);
    let (_, cert) = X509Certificate::from_der(&cert_der).expect("certificate");
    let ca_der = der(&ca.cert_pem);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).expect("CA");
    cert.verify_signature(Some(ca_cert.public_key()))
        .expect("signed by the client CA");
    let days =
        (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
    assert_eq!(
        days, 2,
        "client_cert_validity_days, plus the 5 minutes of slack"
    );
    cert.subject().to_string()
}

fn bound_group(double: &KubeDouble, bay: &str) -> Option<Value> {
    let binding = double.get(BINDINGS, Some(&format!("magnum-{bay}")), BINDING)?;
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["roleRef"]["name"], "magnum-bay");
    let subjects = binding["subjects"].as_array().unwrap().clone();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert_eq!(subjects[0]["kind"], "Group");
    Some(subjects[0]["name"].clone())
}

#[tokio::test]
async fn certificates_name_only_their_bay_and_rotation_retires_them() {
    let ca = TestCa::generate("magnum e2e client CA");
    let (double, e2e) = deployment(2, Some(&ca), "").await;
    e2e.post(
        "/v1/clustertemplates",
        &json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"}),
    )
    .await
    .expect(201);
    let apps = cluster(&e2e, "k8s", "apps").await;
    let other = cluster(&e2e, "k8s", "other").await;

    // The CA is the one the conductor's kubeconfig trusts for the cluster.
    for path in [
        "/v1/certificates/apps",
        &format!("/v1/certificates/{apps}?ca_cert_type=kubernetes"),
    ] {
        let reply = e2e.get(path).await;
        let body = reply.expect(200);
        assert_eq!(body["pem"], double.serving_ca_pem(), "{path}");
        assert_eq!(body["bay_uuid"], apps.as_str());
        assert_eq!(body["cluster_uuid"], apps.as_str());
        assert!(
            body["links"][0]["href"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/v1/certificates/{apps}")),
            "{body}"
        );
    }

    // Whatever the request asks for, the certificate names the caller inside the bay.
    let csr = admin_csr();
    let reply = e2e
        .post(
            "/v1/certificates",
            &json!({"cluster_uuid": "apps", "csr": csr}),
        )
        .await;
    let body = reply.expect(201).clone();
    assert_eq!(body["csr"], csr.as_str());
    assert_eq!(body["bay_uuid"], apps.as_str());
    let subject = subject_signed_by(body["pem"].as_str().unwrap(), &ca);
    assert_eq!(
        subject,
        format!("CN=magnum:bay:{apps}:alice, O=magnum:bay:{apps}:g0")
    );
    assert_eq!(
        bound_group(&double, &apps).expect("binding"),
        format!("magnum:bay:{apps}:g0").as_str()
    );
    assert!(
        bound_group(&double, &other).is_none(),
        "the other bay binds no certificate group until one is signed for it"
    );
    // bay_uuid works too, and equal idents in both keys are fine.
    e2e.post(
        "/v1/certificates",
        &json!({"bay_uuid": apps, "cluster_uuid": apps, "csr": admin_csr()}),
    )
    .await
    .expect(201);
    let reply = e2e
        .post(
            "/v1/certificates",
            &json!({"bay_uuid": other, "csr": admin_csr()}),
        )
        .await;
    let other_subject = subject_signed_by(reply.expect(201)["pem"].as_str().unwrap(), &ca);
    assert_eq!(
        other_subject,
        format!("CN=magnum:bay:{other}:alice, O=magnum:bay:{other}:g0")
    );
    assert_ne!(bound_group(&double, &other), bound_group(&double, &apps));

    // Bad requests: 400 with an error body, nothing signed.
    for (body, words) in [
        (
            json!({"cluster_uuid": "apps", "csr": "not a request"}),
            "PKCS#10",
        ),
        (json!({"cluster_uuid": "apps"}), "csr"),
        (json!({"csr": admin_csr()}), "cluster_uuid"),
        (
            json!({"cluster_uuid": "apps", "bay_uuid": other, "csr": admin_csr()}),
            "different bays",
        ),
        (
            json!({"cluster_uuid": "nope", "csr": admin_csr()}),
            "nope could not be found",
        ),
        (
            json!({"cluster_uuid": "apps", "csr": admin_csr(), "ca_cert_type": "etcd"}),
            "kubernetes",
        ),
        (
            json!({"cluster_uuid": "apps", "csr": admin_csr(), "subject": "x"}),
            "subject",
        ),
        // Numbers are taken as text (as WSME did), and then are no request.
        (json!({"cluster_uuid": "apps", "csr": 7}), "PKCS#10"),
        (json!({"cluster_uuid": "apps", "csr": ["x"]}), "csr"),
    ] {
        let reply = e2e.post("/v1/certificates", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert!(
            reply.error_message().contains(words),
            "{body}: {}",
            reply.text
        );
    }
    let reply = e2e.get("/v1/certificates/apps?ca_cert_type=etcd").await;
    assert_eq!(reply.status, 400, "{}", reply.text);

    // Another project sees nothing and signs nothing.
    for (method, path, status) in [
        (Method::GET, format!("/v1/certificates/{apps}"), 404),
        (Method::PATCH, format!("/v1/certificates/{apps}"), 404),
        (Method::PATCH, format!("/v1/credentials/{apps}"), 404),
    ] {
        let reply = e2e.request_as(BOB, method.clone(), &path, None).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
    }
    let reply = e2e
        .request_as(
            BOB,
            Method::POST,
            "/v1/certificates",
            Some(&json!({"cluster_uuid": apps, "csr": admin_csr()})),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);

    // Rotating the CA moves the bay's rights to the next group: earlier certificates lose them.
    let reply = e2e
        .request(Method::PATCH, "/v1/certificates/apps", None)
        .await;
    assert_eq!(reply.expect(202)["uuid"], apps.as_str());
    assert_eq!(
        bound_group(&double, &apps).unwrap(),
        format!("magnum:bay:{apps}:g1").as_str()
    );
    let reply = e2e
        .post(
            "/v1/certificates",
            &json!({"cluster_uuid": apps, "csr": admin_csr()}),
        )
        .await;
    let subject = subject_signed_by(reply.expect(201)["pem"].as_str().unwrap(), &ca);
    assert!(
        subject.ends_with(&format!("O=magnum:bay:{apps}:g1")),
        "{subject}"
    );
    assert_eq!(
        bound_group(&double, &other).unwrap(),
        format!("magnum:bay:{other}:g0").as_str(),
        "rotating one bay leaves the others alone"
    );

    // Rotating the credentials does the same and replaces the bay's ServiceAccount.
    let namespace = format!("magnum-{apps}");
    let account_uid = |d: &KubeDouble| {
        d.get("v1/serviceaccounts", Some(&namespace), "magnum-bay")
            .expect("service account")["metadata"]["uid"]
            .clone()
    };
    let before = account_uid(&double);
    let reply = e2e
        .request(Method::PATCH, &format!("/v1/credentials/{apps}"), None)
        .await;
    assert_eq!(reply.expect(202)["uuid"], apps.as_str());
    assert_eq!(
        bound_group(&double, &apps).unwrap(),
        format!("magnum:bay:{apps}:g2").as_str()
    );
    assert_ne!(account_uid(&double), before, "a new ServiceAccount");

    // Deleting the bay removes its namespace and with it the binding.
    e2e.delete(&format!("/v1/clusters/{apps}"))
        .await
        .expect(204);
    let path = format!("/v1/clusters/{apps}");
    eventually("the cluster is gone", Duration::from_secs(60), || async {
        e2e.get(&path).await.status == 404
    })
    .await;
    assert!(double.get(BINDINGS, Some(&namespace), BINDING).is_none());
}

#[tokio::test]
/// In the `dockerd` test group (its name has `docker_bay`): it configures the shared Engines.
async fn certificates_refused_for_a_docker_bay_and_without_tls_or_a_client_ca() {
    let docker = format!("[docker]\nhosts = {}\n", crate::bays::docker_hosts());
    let (_double, e2e) = deployment(2, None, &docker).await;
    for body in [
        json!({"name": "k8s", "coe": "kubernetes", "image_id": "fcos"}),
        json!({"name": "plain", "coe": "kubernetes", "image_id": "fcos", "tls_disabled": true}),
        json!({"name": "swarm", "coe": "swarm", "image_id": "busybox"}),
    ] {
        e2e.post("/v1/clustertemplates", &body).await.expect(201);
    }
    let k8s = cluster(&e2e, "k8s", "apps").await;
    let plain = cluster(&e2e, "plain", "plain").await;

    // Without [kubernetes] client_ca_*, the CA is still served, but nothing is signed.
    e2e.get(&format!("/v1/certificates/{k8s}"))
        .await
        .expect(200);
    let reply = e2e
        .post(
            "/v1/certificates",
            &json!({"cluster_uuid": k8s, "csr": admin_csr()}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(
        reply.error_message().contains("client_ca_cert"),
        "{}",
        reply.text
    );

    for (method, path) in [
        (Method::GET, format!("/v1/certificates/{plain}")),
        (Method::PATCH, format!("/v1/certificates/{plain}")),
        (Method::PATCH, format!("/v1/credentials/{plain}")),
    ] {
        let reply = e2e.request(method.clone(), &path, None).await;
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.text);
        assert!(
            reply.error_message().contains("TLS is disabled"),
            "{}",
            reply.text
        );
    }

    // A swarm bay without nodes (it claims none of the shared Engines): refused, with why.
    let body = json!({"name": "hive", "cluster_template_id": "swarm", "node_count": 0});
    let reply = e2e
        .raw(
            Method::POST,
            "/v1/clusters",
            &[
                ("Content-Type", "application/json"),
                ("OpenStack-API-Version", "container-infra 1.10"),
            ],
            body.to_string().into_bytes(),
        )
        .await;
    let hive = reply.expect(202)["uuid"].as_str().unwrap().to_owned();
    wait_status(&e2e, &format!("/v1/clusters/{hive}"), "CREATE_COMPLETE").await;
    let reply = e2e.get(&format!("/v1/certificates/{hive}")).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(
        reply.error_message().contains("docker bay"),
        "{}",
        reply.text
    );
}
