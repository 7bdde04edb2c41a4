//! Hostile input: a seeded fuzz run over every route with random and boundary JSON, paths and
//! query strings; slow clients cut off by the header and body read timeouts; bodies over the
//! limit. Nothing a client sends may produce a 5xx, a panic or a hung connection.

use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, http_client};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// xorshift64*: a fixed seed gives the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "",
    "a",
    "bm",
    "kb",
    "detail",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "9223372036854775808",
    "-9223372036854775809",
    "5d1c7b0e-8d4a-4f0b-9d7e-2a1c5b8e9f30",
    "kubernetes",
    "swarm",
    "replace",
    "/name",
    "/labels/x",
    "é🦀\u{202e}\u{feff}",
    "\0",
    "a\0b",
    "../..",
    "%00",
    "'; DROP TABLE bay; --",
    "{{7*7}}",
    "\\u0000",
];

/// Field names requests use, so random bodies reach validation beyond "unknown attribute".
const FIELDS: &[&str] = &[
    "name",
    "coe",
    "image_id",
    "baymodel_id",
    "cluster_template_id",
    "node_count",
    "master_count",
    "labels",
    "uuid",
    "bay_uuid",
    "bay_ident",
    "manifest",
    "manifest_url",
    "image",
    "command",
    "memory",
    "environment",
    "project_id",
    "resource",
    "hard_limit",
    "nodes_to_remove",
    "op",
    "path",
    "value",
    "create_timeout",
    "bay_create_timeout",
    "apiserver_port",
    "public",
    "dns_nameserver",
    "docker_volume_size",
    "csr",
    "ca_cert_type",
];

fn word(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "x".repeat(rng.below(3000)),
        1 => (0..rng.below(40))
            .map(|_| char::from_u32(u32::try_from(rng.below(0x3000)).unwrap()).unwrap_or('?'))
            .collect(),
        _ => (*rng.pick(WORDS)).to_owned(),
    }
}

fn number(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => json!(i64::MAX),
        1 => json!(i64::MIN),
        2 => json!(u64::MAX),
        3 => json!(1.5e308),
        4 => json!(-0.0),
        5 => json!(rng.next()),
        _ => json!(rng.below(5) as i64 - 1),
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth > 4 { 4 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 1),
        2 => number(rng),
        3 => Value::String(word(rng)),
        4 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => object(rng, depth + 1),
    }
}

fn object(rng: &mut Rng, depth: usize) -> Value {
    let mut map = serde_json::Map::new();
    for _ in 0..rng.below(6) {
        let key = if rng.below(4) == 0 {
            word(rng)
        } else {
            (*rng.pick(FIELDS)).to_owned()
        };
        map.insert(key, value(rng, depth));
    }
    Value::Object(map)
}

/// A random body: JSON of any shape, patches, or raw bytes that are not JSON at all.
fn body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => Vec::new(),
        1 => {
            let n = 1 + rng.below(5000);
            format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()
        }
        2 => {
            let n = 1 + rng.below(3000);
            format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes()
        }
        3 => (0..rng.below(200))
            .map(|_| (rng.next() & 0xff) as u8)
            .collect(),
        4 => b"{\"name\": 1e99999999, \"node_count\": 123456789012345678901234567890}".to_vec(),
        5 => b"{\"name\": \"\\ud800\", \"a\": \"\\u0000\"}".to_vec(),
        6 => {
            let ops: Vec<Value> = (0..rng.below(4))
                .map(|_| {
                    json!({"op": value(rng, 3), "path": rng.pick(&["/name", "/node_count",
                    "/labels/a", "/uuid", "/coe", "/", "//", "/labels/a/b", "/hard_limit"])
                    .to_owned(), "value": value(rng, 2)})
                })
                .collect();
            Value::Array(ops).to_string().into_bytes()
        }
        7 => value(rng, 0).to_string().into_bytes(),
        8 => b"\xef\xbb\xbf{\"name\": \"bom\"}".to_vec(),
        _ => object(rng, 0).to_string().into_bytes(),
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn query(rng: &mut Rng) -> String {
    const KEYS: &[&str] = &[
        "limit",
        "marker",
        "sort_key",
        "sort_dir",
        "all_tenants",
        "project_id",
        "bay_ident",
        "command",
        "rollback",
        "detail",
        "",
    ];
    let pairs: Vec<String> = (0..rng.below(4))
        .map(|_| {
            let key = if rng.below(5) == 0 {
                word(rng)
            } else {
                (*rng.pick(KEYS)).to_owned()
            };
            format!("{}={}", percent_encode(&key), percent_encode(&word(rng)))
        })
        .collect();
    match rng.below(6) {
        0 => String::new(),
        1 => "?&&==&%zz&%00".to_owned(),
        _ => format!("?{}", pairs.join("&")),
    }
}

/// Every route of crates/magnum-api/src/router.rs with its methods; `{}` is a path parameter.
const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/healthcheck", &["GET"]),
    ("/v1", &["GET"]),
    ("/v1/baymodels", &["GET", "POST"]),
    ("/v1/baymodels/detail", &["GET"]),
    ("/v1/baymodels/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/clustertemplates", &["GET", "POST"]),
    ("/v1/clustertemplates/detail", &["GET"]),
    ("/v1/clustertemplates/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/bays", &["GET", "POST"]),
    ("/v1/bays/detail", &["GET"]),
    ("/v1/bays/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/clusters", &["GET", "POST"]),
    ("/v1/clusters/detail", &["GET"]),
    ("/v1/clusters/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/clusters/{}/actions/resize", &["POST"]),
    ("/v1/clusters/{}/actions/upgrade", &["POST"]),
    ("/v1/clusters/{}/nodegroups", &["GET", "POST"]),
    ("/v1/clusters/{}/nodegroups/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/containers", &["GET", "POST"]),
    ("/v1/containers/detail", &["GET"]),
    ("/v1/containers/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/containers/{}/logs", &["GET"]),
    ("/v1/containers/{}/{}", &["PUT"]),
    ("/v1/pods", &["GET", "POST"]),
    ("/v1/pods/detail", &["GET"]),
    ("/v1/pods/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/pods/{}/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/services", &["GET", "POST"]),
    ("/v1/services/detail", &["GET"]),
    ("/v1/services/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/services/{}/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/rcs", &["GET", "POST"]),
    ("/v1/rcs/detail", &["GET"]),
    ("/v1/rcs/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/rcs/{}/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/mservices", &["GET"]),
    ("/v1/quotas", &["GET", "POST"]),
    ("/v1/quotas/{}/{}", &["GET", "PATCH", "DELETE"]),
    ("/v1/stats", &["GET"]),
    ("/v1/nodes", &["GET"]),
    ("/v1/nodes/detail", &["GET"]),
    ("/v1/nodes/{}", &["GET"]),
    // Not routes: unknown paths and wrong methods must be 404/405 with the error body.
    ("/v2/{}", &["GET"]),
    ("/v1/bays", &["PUT", "DELETE", "OPTIONS"]),
];

/// Path parameters: real objects of the deployment, boundary words and random text.
const IDENTS: &[&str] = &[
    "bm", "kb", "web", "c1", "start", "stop", "execute", "reboot", "logs", "demo", "Cluster",
];

fn has_error_body(json: &Value) -> bool {
    let detail = json["errors"][0]["detail"].as_str();
    let legacy = json["error_message"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    detail.is_some() && legacy.is_some_and(|l| l["faultstring"].as_str() == detail)
}

#[tokio::test]
async fn a_seeded_fuzz_run_over_every_route_gets_no_5xx_and_keeps_the_daemons_up() {
    let double = KubeDouble::start().await;
    double.add_node("worker-0", &[("magnum.openstack.org/pool", "true")], true);
    let kubeconfig = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.kubeconfig",
        magnum_test_support::unique_suffix()
    ));
    double.write_kubeconfig(&kubeconfig).unwrap();
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    e2e.post(
        "/v1/baymodels",
        &json!({"name": "bm", "coe": "kubernetes", "image_id": "fcos"}),
    )
    .await
    .expect(201);
    let bay = e2e
        .post("/v1/bays", &json!({"name": "kb", "baymodel_id": "bm"}))
        .await;
    let uuid = bay.expect(201)["uuid"].as_str().unwrap().to_owned();
    crate::bays::wait_status(&e2e, &format!("/v1/bays/{uuid}"), "CREATE_COMPLETE").await;
    e2e.post(
        "/v1/pods",
        &json!({"bay_uuid": "kb", "manifest": json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
            .to_string()}),
    )
    .await
    .expect(201);

    let _ = http_client(); // installs the TLS provider reqwest needs
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let per_route = 25;
    let mut tried = 0;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for (template, methods) in ROUTES {
        for method in *methods {
            for _ in 0..per_route {
                let mut path = String::new();
                for (i, part) in template.split("{}").enumerate() {
                    if i > 0 {
                        let ident = if rng.below(2) == 0 {
                            (*rng.pick(IDENTS)).to_owned()
                        } else {
                            word(&mut rng)
                        };
                        path.push_str(&percent_encode(&ident));
                    }
                    path.push_str(part);
                }
                if rng.below(8) == 0 {
                    path.push('/');
                }
                path.push_str(&query(&mut rng));
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                let roles = *rng.pick(&["member", "admin", "reader", ""]);
                let mut req = client
                    .request(method.clone(), format!("{}{path}", e2e.base))
                    .header("X-User-Id", "fuzz")
                    .header("X-Project-Id", "demo")
                    .header("X-Roles", roles);
                match rng.below(6) {
                    0 => req = req.header("OpenStack-API-Version", "container-infra latest"),
                    1 => {
                        req = req.header(
                            "OpenStack-API-Version",
                            format!(
                                "container-infra {}",
                                word(&mut rng).replace(|c: char| c.is_control(), "")
                            ),
                        );
                    }
                    2 => req = req.header("Content-Type", "text/plain"),
                    _ => req = req.header("Content-Type", "application/json"),
                }
                let sent = body(&mut rng);
                let size = sent.len();
                let started = Instant::now();
                let resp =
                    req.body(sent).send().await.unwrap_or_else(|e| {
                        panic!("{method} {path} ({size} bytes): no answer: {e}")
                    });
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                tried += 1;
                *statuses.entry(status).or_default() += 1;
                assert!(
                    status < 500,
                    "{method} {path} ({size} byte body) → {status}: {text}"
                );
                if status >= 400 {
                    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    assert!(
                        has_error_body(&json),
                        "{method} {path} → {status} without an OpenStack error body: {text}"
                    );
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{method} {path} took {:?}",
                    started.elapsed()
                );
            }
        }
    }
    // NUL cannot be stored: refused up front, never a database error.
    e2e.get("/v1/containers/a%00b").await.expect(400);
    e2e.get("/v1/bays?bay_ident=%00").await.expect(400);
    e2e.post("/v1/baymodels", &crate::baymodel("a\0b"))
        .await
        .expect(400);
    // Both daemons still serve.
    e2e.get("/healthcheck").await.expect(200);
    e2e.post("/v1/baymodels", &crate::baymodel("still-up"))
        .await
        .expect(201);
    eprintln!(
        "fuzz: {tried} inputs over {} routes, statuses {statuses:?}",
        ROUTES.len()
    );
}

/// Sends `bytes` one at a time, `pause` apart, until the server closes or `limit` passes;
/// returns what the server answered and when the connection ended.
async fn trickle(stream: &mut TcpStream, bytes: &[u8], pause: Duration) -> bool {
    for b in bytes {
        if stream.write_all(&[*b]).await.is_err() {
            return false;
        }
        tokio::time::sleep(pause).await;
    }
    true
}

async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection is still open after {limit:?}: {}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_clients_are_cut_off_by_the_header_and_body_timeouts() {
    let e2e = Deployment::builder()
        .config("[api]\nclient_header_timeout = 2\nclient_body_timeout = 2\n")
        .start()
        .await;
    let addr = e2e.base.trim_start_matches("http://").to_owned();

    // Headers sent a byte every 300 ms: cut off after about 2 s, never answered.
    let mut slow_head = TcpStream::connect(&addr).await.unwrap();
    let head = b"GET /v1/baymodels HTTP/1.1\r\nHost: x\r\nX-User-Id: a\r\nX-Project-Id: p\r\n\r\n";
    let started = Instant::now();
    let all_sent = trickle(&mut slow_head, head, Duration::from_millis(300)).await;
    let (answer, _) = read_until_closed(&mut slow_head, Duration::from_secs(10)).await;
    assert!(
        !all_sent || !answer.starts_with("HTTP/1.1 200"),
        "a head trickled over {:?} was served: {answer}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(8));

    // A connection that sends nothing is closed too.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let (_, took) = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert!(
        took < Duration::from_secs(5),
        "idle connection kept {took:?}"
    );

    // A body slower than allowed: 408 with the error body, then the connection closes.
    let mut slow_body = TcpStream::connect(&addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/baymodels HTTP/1.1\r\nHost: x\r\nX-User-Id: a\r\nX-Project-Id: p\r\n\
              X-Roles: member\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"na",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (answer, _) = read_until_closed(&mut slow_body, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(6));

    // Twenty slow clients at once do not stop others from being served promptly.
    let mut hogs = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /v1 HTTP/1.1\r\n").await.unwrap();
        hogs.push(s);
    }
    let started = Instant::now();
    e2e.get("/v1/baymodels").await.expect(200);
    assert!(started.elapsed() < Duration::from_secs(2));
    for mut s in hogs {
        let (_, took) = read_until_closed(&mut s, Duration::from_secs(10)).await;
        assert!(took < Duration::from_secs(5));
    }

    // Ordinary requests still work, and nothing was stored by the cut-off ones.
    e2e.post("/v1/baymodels", &crate::baymodel("fine"))
        .await
        .expect(201);
    assert_eq!(e2e.count("baymodel").await, 1);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_however_they_arrive() {
    let e2e = Deployment::builder()
        .config("[api]\nmax_request_body_size = 4096\n")
        .start()
        .await;
    let json_header = [("Content-Type", "application/json")];
    for (path, method) in [
        ("/v1/baymodels", Method::POST),
        ("/v1/bays", Method::POST),
        ("/v1/baymodels/x", Method::PATCH),
        ("/v1/pods", Method::POST),
        ("/v1/quotas", Method::POST),
        ("/v1/clusters/x/actions/resize", Method::POST),
    ] {
        let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(5000)).into_bytes();
        let reply = e2e.raw(method.clone(), path, &json_header, huge).await;
        reply.expect(413);
        reply.error_message();
    }
    // Chunked, without a Content-Length: counted as it arrives.
    let addr = e2e.base.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let mut request =
        b"POST /v1/baymodels HTTP/1.1\r\nHost: x\r\nX-User-Id: a\r\nX-Project-Id: p\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..10 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b' '; 0x400]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&request).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Just under the limit is read (and then judged on its content).
    let fits = format!("{{\"name\": \"{}\"}}", "x".repeat(3000)).into_bytes();
    e2e.raw(Method::POST, "/v1/baymodels", &json_header, fits)
        .await
        .expect(400);
    assert_eq!(e2e.count("baymodel").await, 0);
}
