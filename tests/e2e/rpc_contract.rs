//! The AMQP contract of spec/rpc.md, pinned on the bytes crossing a real RabbitMQ: hand-written
//! envelopes go to a real conductor, and its raw replies are asserted and compared with golden
//! snapshots in `tests/golden/<version>/<method>/<case>.json` (`MAGNUM_UPDATE_GOLDEN=1` rewrites
//! them). A change of interface fails here: add a new method or version instead.

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use magnum_test_support::{Deployment, eventually};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// A raw AMQP caller with its own reply queue.
struct RawCaller {
    _conn: Connection,
    channel: lapin::Channel,
    consumer: lapin::Consumer,
    reply_q: String,
    exchange: String,
    topic: String,
}

impl RawCaller {
    async fn new(e2e: &Deployment) -> RawCaller {
        let conn = Connection::connect(
            &magnum_test_support::amqp_url(),
            ConnectionProperties::default(),
        )
        .await
        .expect("broker reachable");
        // A passive declare of a queue that does not exist yet closes its channel: probe on
        // throwaway channels.
        eventually(
            "a conductor consumes the topic",
            Duration::from_secs(30),
            || async {
                let Ok(probe) = conn.create_channel().await else {
                    return false;
                };
                let passive = QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                };
                let count = match probe
                    .queue_declare(e2e.topic.as_str().into(), passive, FieldTable::default())
                    .await
                {
                    Ok(q) => q.consumer_count(),
                    Err(_) => 0,
                };
                let _ = probe.close(200, "probe done".into()).await;
                count > 0
            },
        )
        .await;
        let channel = conn.create_channel().await.unwrap();
        let reply_q = format!("reply_{}", uuid::Uuid::new_v4().simple());
        channel
            .queue_declare(
                reply_q.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                reply_q.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        RawCaller {
            _conn: conn,
            channel,
            consumer,
            reply_q,
            exchange: e2e.exchange.clone(),
            topic: e2e.topic.clone(),
        }
    }

    /// Publishes raw bytes to the topic with oslo's properties.
    async fn publish_bytes(&self, body: &[u8], props: BasicProperties) {
        self.channel
            .basic_publish(
                self.exchange.as_str().into(),
                self.topic.as_str().into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap();
    }

    fn props() -> BasicProperties {
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2)
    }

    /// Publishes an inner message (as written by hand) in an oslo 2.0 envelope.
    async fn publish(&self, inner: &Value) {
        let envelope = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
        self.publish_bytes(envelope.to_string().as_bytes(), Self::props())
            .await;
    }

    /// A call: fills `_msg_id`, `_reply_q`, `_unique_id` and a context, then waits for the reply.
    async fn call(&mut self, method: &str, version: Option<&str>, args: Value) -> Value {
        let mut inner = json!({
            "method": method, "args": args,
            "_msg_id": uuid::Uuid::new_v4().simple().to_string(), "_reply_q": self.reply_q,
            "_timeout": null, "_unique_id": uuid::Uuid::new_v4().simple().to_string(),
            "_context_request_id": "req-6f1d3b2e-8c4a-4f0b-9d7e-2a1c5b8e9f30",
            "_context_user_id": "alice", "_context_project_id": "demo",
            "_context_roles": ["member", "reader"], "_context_is_admin": false
        });
        if let Some(v) = version {
            inner["version"] = json!(v);
        }
        self.publish(&inner).await;
        let reply = self
            .next_reply(Duration::from_secs(20))
            .await
            .expect("a reply");
        assert_eq!(reply["_msg_id"], inner["_msg_id"]);
        reply
    }

    /// The next reply's inner message, or `None` after `limit`.
    async fn next_reply(&mut self, limit: Duration) -> Option<Value> {
        let delivery = tokio::time::timeout(limit, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        let outer: Value = serde_json::from_slice(&delivery.data).expect("reply is JSON");
        assert_eq!(outer["oslo.version"], "2.0");
        assert_eq!(
            delivery
                .properties
                .content_type()
                .as_ref()
                .map(|t| t.as_str()),
            Some("application/json")
        );
        Some(
            serde_json::from_str(outer["oslo.message"].as_str().expect("inner as text"))
                .expect("inner JSON"),
        )
    }
}

fn failure(reply: &Value) -> Value {
    assert!(
        reply["result"].is_null() && reply["ending"] == true,
        "{reply}"
    );
    serde_json::from_str(reply["failure"].as_str().expect("failure is JSON text")).unwrap()
}

/// Replaces ids, uuids and timestamps with placeholders so snapshots are stable.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = match (k.as_str(), v) {
                    ("_msg_id" | "_unique_id", Value::String(_)) => json!("<id>"),
                    ("created_at" | "updated_at", Value::String(_)) => json!("<timestamp>"),
                    ("id", Value::Number(_)) => json!("<db id>"),
                    ("failure", Value::String(text)) => {
                        normalize(&serde_json::from_str(text).unwrap_or(json!(text)))
                    }
                    _ => normalize(v),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::String(s) if uuid::Uuid::try_parse(s).is_ok() && s.len() == 36 => json!("<uuid>"),
        other => other.clone(),
    }
}

/// Compares with (or, with `MAGNUM_UPDATE_GOLDEN=1`, writes) a golden snapshot.
fn golden(method: &str, case: &str, value: &Value) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("golden/1.0/{method}/{case}.json"));
    let text = serde_json::to_string_pretty(&normalize(value)).unwrap() + "\n";
    if std::env::var_os("MAGNUM_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with MAGNUM_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert_eq!(
        text, expected,
        "wire change in {method}/{case}: add a new method or version instead"
    );
}

fn baymodel_primitive(uuid: &str, name: &str) -> Value {
    json!({"magnum_object.name": "BayModel", "magnum_object.namespace": "magnum",
           "magnum_object.version": "1.7",
           "magnum_object.data": {"uuid": uuid, "name": name, "coe": "swarm", "image_id": "img",
               "flavor_id": null, "master_flavor_id": null, "keypair_id": null,
               "dns_nameserver": null, "external_network_id": null, "fixed_network": null,
               "fixed_subnet": null, "network_driver": "docker", "apiserver_port": null,
               "docker_volume_size": null, "docker_storage_driver": "devicemapper",
               "ssh_authorized_key": null, "cluster_distro": null, "http_proxy": null,
               "https_proxy": null, "no_proxy": null, "volume_driver": null,
               "insecure_registry": null, "labels": {}, "registry_enabled": false,
               "tls_disabled": false, "public": false, "hidden": false,
               "floating_ip_enabled": true, "master_lb_enabled": false, "server_type": "vm",
               "tags": null}})
}

#[tokio::test]
async fn ping_conductor_answers_true_with_and_without_a_version() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let reply = amqp.call("ping_conductor", Some("1.0"), json!({})).await;
    assert_eq!(
        (&reply["result"], &reply["failure"], &reply["ending"]),
        (&json!(true), &Value::Null, &json!(true))
    );
    assert!(reply.get("_unique_id").is_some());
    golden("ping_conductor", "success", &reply);
    let unversioned = amqp.call("ping_conductor", None, json!({})).await;
    assert_eq!(unversioned["result"], true, "no version reads as 1.0");
}

#[tokio::test]
async fn unserved_versions_methods_and_arguments_are_typed_failures() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    for version in ["2.0", "1.99"] {
        let f = failure(&amqp.call("ping_conductor", Some(version), json!({})).await);
        assert_eq!(f["class"], "UnsupportedVersion");
        assert_eq!(f["module"], "oslo_messaging.rpc.dispatcher");
        assert_eq!(
            f["message"],
            format!(
                "Endpoint does not support RPC version {version}. Attempted method: ping_conductor"
            )
        );
    }
    let reply = amqp.call("bay_frobnicate", Some("1.0"), json!({})).await;
    let f = failure(&reply);
    assert_eq!(
        (f["class"].as_str(), f["message"].as_str()),
        (
            Some("NoSuchMethod"),
            Some("Endpoint does not support RPC method bay_frobnicate")
        )
    );
    golden("dispatcher", "no_such_method", &reply);
    let f = failure(
        &amqp
            .call(
                "baymodel_delete",
                Some("1.0"),
                json!({"uuid": "x", "force": true}),
            )
            .await,
    );
    assert_eq!(
        (f["class"].as_str(), f["module"].as_str()),
        (Some("TypeError"), Some("builtins"))
    );
    // A namespace we do not serve.
    let mut inner = json!({"method": "ping_conductor", "args": {}, "namespace": "baremetal",
        "_msg_id": "0123456789abcdef0123456789abcdef", "_reply_q": amqp.reply_q, "_unique_id": "fedcba9876543210fedcba9876543210"});
    inner["version"] = json!("1.0");
    amqp.publish(&inner).await;
    let f = failure(&amqp.next_reply(Duration::from_secs(20)).await.unwrap());
    assert_eq!(f["class"], "UnsupportedVersion");
}

#[tokio::test]
async fn bad_envelopes_get_no_reply_and_do_not_stall_the_conductor() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let call = |reply_q: &str| json!({"method": "ping_conductor", "args": {}, "_msg_id": "aa", "_reply_q": reply_q, "_unique_id": uuid::Uuid::new_v4().simple().to_string()});
    let v3 = json!({"oslo.version": "3.0", "oslo.message": call(&amqp.reply_q).to_string()});
    amqp.publish_bytes(v3.to_string().as_bytes(), RawCaller::props())
        .await;
    amqp.publish_bytes(b"{not json", RawCaller::props()).await;
    let xml = BasicProperties::default().with_content_type("application/xml".into());
    amqp.publish_bytes(
        json!({"oslo.version": "2.0", "oslo.message": call(&amqp.reply_q).to_string()})
            .to_string()
            .as_bytes(),
        xml,
    )
    .await;
    // A call to a reply queue that no longer exists.
    amqp.publish(&call("reply_deleted_long_ago")).await;
    let ping = amqp.call("ping_conductor", Some("1.0"), json!({})).await;
    assert_eq!(ping["result"], true);
    assert!(
        amqp.next_reply(Duration::from_millis(500)).await.is_none(),
        "nothing answered the bad messages"
    );
}

#[tokio::test]
async fn baymodel_methods_store_read_update_and_delete_on_the_wire() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let uuid = "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f";
    let created = amqp
        .call(
            "baymodel_create",
            Some("1.0"),
            json!({"baymodel": baymodel_primitive(uuid, "swarm-1")}),
        )
        .await;
    assert_eq!(created["result"]["magnum_object.name"], "BayModel");
    assert_eq!(
        created["result"]["magnum_object.data"]["project_id"],
        "demo"
    );
    assert_eq!(created["result"]["magnum_object.data"]["driver"], "docker");
    golden("baymodel_create", "success", &created);

    let get = |objmethod: &str, arg: Value| {
        json!({"objname": "BayModel", "objmethod": objmethod,
        "object_versions": {"BayModel": "1.7"}, "args": [arg], "kwargs": {}})
    };
    let by_name = amqp
        .call(
            "object_class_action_versions",
            Some("1.0"),
            get("get_by_name", json!("swarm-1")),
        )
        .await;
    assert_eq!(by_name["result"]["magnum_object.data"]["uuid"], uuid);
    golden(
        "object_class_action_versions",
        "baymodel_get_by_name",
        &by_name,
    );
    let missing = amqp
        .call(
            "object_class_action_versions",
            Some("1.0"),
            get("get_by_uuid", json!("00000000-0000-4000-8000-000000000404")),
        )
        .await;
    let f = failure(&missing);
    assert_eq!(
        (f["class"].as_str(), f["kwargs"]["code"].as_u64()),
        (Some("BayModelNotFound"), Some(404))
    );
    assert_eq!(f["module"], "magnum.common.exception");
    golden(
        "object_class_action_versions",
        "baymodel_not_found",
        &missing,
    );
    let listed = amqp
        .call(
            "object_class_action_versions",
            Some("1.0"),
            json!({"objname": "BayModel",
        "objmethod": "list", "object_versions": {"BayModel": "1.7"}, "args": [],
        "kwargs": {"limit": 10, "sort_key": "name", "sort_dir": "asc"}}),
        )
        .await;
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(1));
    let liberty = amqp
        .call(
            "object_class_action",
            None,
            json!({"objname": "BayModel", "objmethod": "get",
        "objver": "1.7", "args": [uuid], "kwargs": {}}),
        )
        .await;
    assert_eq!(liberty["result"]["magnum_object.data"]["name"], "swarm-1");

    let mut changed = baymodel_primitive(uuid, "swarm-2");
    changed["magnum_object.changes"] = json!(["name"]);
    changed["magnum_object.data"]["image_id"] = json!("not-written");
    let updated = amqp
        .call("baymodel_update", Some("1.0"), json!({"baymodel": changed}))
        .await;
    assert_eq!(updated["result"]["magnum_object.data"]["name"], "swarm-2");
    assert_eq!(
        updated["result"]["magnum_object.data"]["image_id"], "img",
        "only changed fields are written"
    );
    golden("baymodel_update", "success", &updated);

    let deleted = amqp
        .call("baymodel_delete", Some("1.0"), json!({"uuid": uuid}))
        .await;
    assert_eq!(
        (&deleted["result"], &deleted["failure"]),
        (&Value::Null, &Value::Null)
    );
    golden("baymodel_delete", "success", &deleted);
    let again = amqp
        .call("baymodel_delete", Some("1.0"), json!({"uuid": uuid}))
        .await;
    assert_eq!(failure(&again)["class"], "BayModelNotFound");
    golden("baymodel_delete", "not_found", &again);
}

fn object(name: &str, version: &str, data: &Value) -> Value {
    json!({"magnum_object.name": name, "magnum_object.namespace": "magnum",
           "magnum_object.version": version, "magnum_object.data": data})
}

/// Polls `objname.get_by_uuid(uuid)` until its `status` is `status`.
async fn wait_object(amqp: &mut RawCaller, objname: &str, uuid: &str, status: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let reply = amqp
            .call(
                "object_class_action_versions",
                Some("1.0"),
                json!({"objname": objname, "objmethod": "get_by_uuid", "object_versions": {},
                       "args": [uuid], "kwargs": {}}),
            )
            .await;
        let now = reply["result"]["magnum_object.data"]["status"].clone();
        if now == status {
            return reply;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{objname} {uuid} not {status}: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn nodegroup_methods_create_update_and_delete_on_the_wire() {
    let double = magnum_test_support::kube_double::KubeDouble::start().await;
    for i in 0..3 {
        double.add_node(
            &format!("worker-{i}"),
            &[("magnum.openstack.org/pool", "true")],
            true,
        );
    }
    let kubeconfig = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.kubeconfig",
        magnum_test_support::unique_suffix()
    ));
    double.write_kubeconfig(&kubeconfig).unwrap();
    let e2e = Deployment::builder()
        .without_api()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n",
            kubeconfig.display()
        ))
        .start()
        .await;
    let mut amqp = RawCaller::new(&e2e).await;
    let model = "7c1e9a04-b2d3-4f6e-8a5b-0c9d1e2f3a4b";
    let mut template = baymodel_primitive(model, "k8s");
    template["magnum_object.data"]["coe"] = json!("kubernetes");
    template["magnum_object.data"]["network_driver"] = json!("flannel");
    let created = amqp
        .call(
            "baymodel_create",
            Some("1.0"),
            json!({"baymodel": template}),
        )
        .await;
    assert!(created["failure"].is_null(), "{created}");
    let bay = "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f";
    let spec = json!({"uuid": bay, "name": "web", "baymodel_id": model, "node_count": 1,
        "master_count": 1, "create_timeout": 60, "discovery_url": null, "labels": null,
        "merge_labels": false, "keypair": null, "flavor_id": null, "master_flavor_id": null,
        "docker_volume_size": null, "fixed_network": null, "fixed_subnet": null,
        "floating_ip_enabled": null, "master_lb_enabled": null});
    let reply = amqp
        .call(
            "bay_create",
            Some("1.0"),
            json!({"bay": object("Bay", "1.0", &spec), "bay_create_timeout": 60}),
        )
        .await;
    assert!(reply["failure"].is_null(), "{reply}");
    wait_object(&mut amqp, "Bay", bay, "CREATE_COMPLETE").await;

    let group = "c2f4a6b8-1d3e-4f50-8a7b-9c0d1e2f3a4b";
    let nodegroup = json!({"uuid": group, "name": "gpu", "role": "worker", "node_count": 1,
        "min_node_count": 0, "max_node_count": 2, "flavor_id": null, "image_id": null,
        "docker_volume_size": null, "labels": {"tier": "gpu"}, "merge_labels": false});
    let created = amqp
        .call(
            "nodegroup_create",
            Some("1.0"),
            json!({"bay_uuid": bay, "nodegroup": object("NodeGroup", "1.0", &nodegroup)}),
        )
        .await;
    assert_eq!(created["result"]["magnum_object.name"], "NodeGroup");
    assert_eq!(
        created["result"]["magnum_object.data"]["status"],
        "CREATE_IN_PROGRESS"
    );
    assert_eq!(created["result"]["magnum_object.data"]["image_id"], "img");
    golden("nodegroup_create", "success", &created);
    let done = wait_object(&mut amqp, "NodeGroup", group, "CREATE_COMPLETE").await;
    assert_eq!(done["result"]["magnum_object.data"]["nodes_held"], 1);
    let taken = amqp
        .call(
            "nodegroup_create",
            Some("1.0"),
            json!({"bay_uuid": bay, "nodegroup": object("NodeGroup", "1.0", &{
                let mut d = nodegroup.clone();
                d["uuid"] = json!("0d9c8b7a-6f5e-44d3-b2a1-908f7e6d5c4b");
                d
            })}),
        )
        .await;
    assert_eq!(failure(&taken)["class"], "NodeGroupAlreadyExists");
    golden("nodegroup_create", "already_exists", &taken);
    let missing = amqp
        .call(
            "nodegroup_create",
            Some("1.0"),
            json!({"bay_uuid": "00000000-0000-4000-8000-000000000404",
                   "nodegroup": object("NodeGroup", "1.0", &nodegroup)}),
        )
        .await;
    assert_eq!(failure(&missing)["class"], "BayNotFound");
    golden("nodegroup_create", "bay_not_found", &missing);

    let change = object(
        "NodeGroup",
        "1.0",
        &json!({"uuid": group, "node_count": 2, "min_node_count": 0, "max_node_count": 2}),
    );
    let updated = amqp
        .call(
            "nodegroup_update",
            Some("1.0"),
            json!({"bay_uuid": bay, "nodegroup": change}),
        )
        .await;
    assert_eq!(
        updated["result"]["magnum_object.data"]["status"],
        "UPDATE_IN_PROGRESS"
    );
    assert_eq!(updated["result"]["magnum_object.data"]["node_count"], 2);
    golden("nodegroup_update", "success", &updated);
    wait_object(&mut amqp, "NodeGroup", group, "UPDATE_COMPLETE").await;
    let over = object(
        "NodeGroup",
        "1.0",
        &json!({"uuid": group, "node_count": 3, "min_node_count": 0, "max_node_count": 2}),
    );
    let refused = amqp
        .call(
            "nodegroup_update",
            Some("1.0"),
            json!({"bay_uuid": bay, "nodegroup": over}),
        )
        .await;
    assert_eq!(failure(&refused)["class"], "InvalidParameterValue");
    golden("nodegroup_update", "out_of_bounds", &refused);

    let default_worker = uuid::Uuid::new_v5(&bay.parse().unwrap(), b"default-worker");
    let refused = amqp
        .call(
            "nodegroup_delete",
            Some("1.0"),
            json!({"bay_uuid": bay, "uuid": default_worker}),
        )
        .await;
    assert_eq!(failure(&refused)["class"], "InvalidParameterValue");
    golden("nodegroup_delete", "default_nodegroup", &refused);
    let deleted = amqp
        .call(
            "nodegroup_delete",
            Some("1.0"),
            json!({"bay_uuid": bay, "uuid": group}),
        )
        .await;
    assert_eq!(
        (&deleted["result"], &deleted["failure"]),
        (&Value::Null, &Value::Null)
    );
    golden("nodegroup_delete", "success", &deleted);
    eventually("the group is removed", Duration::from_secs(60), || async {
        e2e.count("nodegroup").await == 0
    })
    .await;
    let gone = amqp
        .call(
            "nodegroup_delete",
            Some("1.0"),
            json!({"bay_uuid": bay, "uuid": group}),
        )
        .await;
    assert_eq!(failure(&gone)["class"], "NodeGroupNotFound");
    golden("nodegroup_delete", "not_found", &gone);
    let bad = amqp
        .call("nodegroup_delete", Some("1.0"), json!({"uuid": group}))
        .await;
    assert_eq!(failure(&bad)["class"], "TypeError");
}

#[tokio::test]
async fn certificate_calls_for_an_unknown_bay_are_typed_failures() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let bay = json!({"magnum_object.name": "Bay", "magnum_object.namespace": "magnum",
        "magnum_object.version": "1.0",
        "magnum_object.data": {"uuid": "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f"}});
    let certificate = json!({"magnum_object.name": "Certificate",
        "magnum_object.namespace": "magnum", "magnum_object.version": "1.0",
        "magnum_object.data": {"project_id": "demo", "user_id": "alice",
            "bay_uuid": "5d1c7b0e-3f6a-4c2d-9e8b-1a2b3c4d5e6f", "csr": "x", "pem": null}});
    for (method, args) in [
        (
            "get_ca_certificate",
            json!({"bay": bay, "ca_cert_type": "kubernetes"}),
        ),
        (
            "sign_certificate",
            json!({"bay": bay, "certificate": certificate}),
        ),
        ("rotate_ca_certificate", json!({"bay": bay})),
        ("credential_rotate", json!({"bay": bay})),
    ] {
        let reply = amqp.call(method, Some("1.0"), args).await;
        assert_eq!(failure(&reply)["class"], "BayNotFound", "{method}: {reply}");
        golden(method, "not_found", &reply);
    }
    let reply = amqp
        .call(
            "credential_rotate",
            Some("1.0"),
            json!({"bay": bay, "force": true}),
        )
        .await;
    assert_eq!(failure(&reply)["class"], "TypeError", "{reply}");
    golden("credential_rotate", "unexpected_argument", &reply);
}

#[tokio::test]
async fn a_container_exec_redelivered_to_another_conductor_does_not_run_again() {
    let mut e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let unique_id = uuid::Uuid::new_v4().simple().to_string();
    let reply_q = amqp.reply_q.clone();
    let exec = |msg_id: &str| {
        json!({
            "method": "container_exec", "version": "1.0",
            "args": {"container_uuid": "c2f4a6b8-1d3e-4f50-8a7b-9c0d1e2f3a4b", "command": "id"},
            "_msg_id": msg_id, "_reply_q": reply_q, "_timeout": null,
            "_unique_id": unique_id,
            "_context_request_id": "req-6f1d3b2e-8c4a-4f0b-9d7e-2a1c5b8e9f30",
            "_context_user_id": "alice", "_context_project_id": "demo",
            "_context_roles": ["member"], "_context_is_admin": false
        })
    };
    amqp.publish(&exec("first")).await;
    let first = amqp
        .next_reply(Duration::from_secs(20))
        .await
        .expect("a reply");
    assert_eq!(failure(&first)["class"], "ContainerNotFound", "{first}");

    // The conductor that ran it is gone; a fresh one (no memory of the id) gets the copy.
    e2e.stop_conductor(0).await;
    e2e.start_conductor();
    amqp.publish(&exec("copy")).await;
    let copy = amqp
        .next_reply(Duration::from_secs(30))
        .await
        .expect("a reply");
    assert_eq!(copy["_msg_id"], "copy");
    assert_eq!(failure(&copy)["class"], "Conflict", "{copy}");
    assert_eq!(
        e2e.sql(&format!(
            "SELECT method FROM rpc_dedupe WHERE unique_id = '{unique_id}'"
        ))
        .await,
        vec![Some("container_exec".to_owned())]
    );
}

#[tokio::test]
async fn a_duplicate_unique_id_is_handled_once() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let inner = json!({"method": "baymodel_create", "version": "1.0",
        "args": {"baymodel": baymodel_primitive("7c1e9a04-b2d3-4f6e-8a5b-0c9d1e2f3a4b", "once")},
        "_msg_id": "7c1e9a04b2d34f6e8a5b0c9d1e2f3a4b", "_reply_q": amqp.reply_q,
        "_unique_id": "e5d4c3b2a1f04e9d8c7b6a5f4e3d2c1b", "_context_project_id": "demo", "_context_user_id": "alice"});
    amqp.publish(&inner).await;
    amqp.publish(&inner).await;
    let first = amqp
        .next_reply(Duration::from_secs(20))
        .await
        .expect("one reply");
    assert!(first["failure"].is_null(), "{first}");
    assert!(
        amqp.next_reply(Duration::from_secs(1)).await.is_none(),
        "the copy got no second reply"
    );
    assert_eq!(e2e.count("baymodel").await, 1);
}

#[tokio::test]
async fn a_call_whose_deadline_passed_before_delivery_never_runs() {
    let e2e = Deployment::builder().without_api().start().await;
    let mut amqp = RawCaller::new(&e2e).await;
    let long_ago = 1_000_000u64; // 1970: expiration counts from the publish timestamp
    let props = RawCaller::props()
        .with_timestamp(long_ago)
        .with_expiration("60000".into());
    let inner = json!({"method": "baymodel_create", "version": "1.0",
        "args": {"baymodel": baymodel_primitive("0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9", "late")},
        "_msg_id": "0a1b2c3d4e5f40718293a4b5c6d7e8f9", "_reply_q": amqp.reply_q,
        "_unique_id": uuid::Uuid::new_v4().simple().to_string(), "_context_project_id": "demo"});
    let envelope = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    amqp.publish_bytes(envelope.to_string().as_bytes(), props)
        .await;
    assert_eq!(
        amqp.call("ping_conductor", Some("1.0"), json!({})).await["result"],
        true
    );
    assert_eq!(e2e.count("baymodel").await, 0);
}

mod requests {
    //! Golden snapshots of what our own client sends, one per method: the request half of the
    //! wire contract.

    use super::golden;
    use magnum_core::bay::BaySpec;
    use magnum_core::baymodel::{BayModel, BayModelSpec};
    use magnum_core::certificate::Certificate;
    use magnum_core::nodegroup::{NodeGroup, NodeGroupChange, NodeGroupSpec};
    use magnum_core::quota::Quota;
    use magnum_core::service::MagnumService;
    use magnum_core::workload::Workload;
    use magnum_rpc::Method;
    use magnum_rpc::RequestContext;
    use magnum_rpc::admin::{
        CreateQuota, DeleteQuota, GetClusterStats, GetQuota, QuotaKey, UpdateQuota,
    };
    use magnum_rpc::certificates::{
        CredentialRotate, GetCaCertificate, RotateCaCertificate, SignCertificate,
    };
    use magnum_rpc::envelope;
    use magnum_rpc::methods::{
        BayChange, BayConverge, BayCreate, BayDelete, BayModelCreate, BayModelDelete,
        BayModelUpdate, BayResize, BayUpdate, BayUpgrade, ConductorVersions, ContainerCreate,
        ContainerDelete, ContainerExec, ContainerLogs, ContainerPause, ContainerReboot,
        ContainerRename, ContainerShow, ContainerStart, ContainerStop, ContainerUnpause, GetObject,
        ListObjects, ListQuery, Lookup, NodeGroupCreate, NodeGroupDelete, NodeGroupUpdate,
        PingConductor,
    };
    use magnum_rpc::workloads::{
        PodObject, RcObject, ServiceObject, WorkloadCreate, WorkloadDelete, WorkloadUpdate,
    };
    use serde_json::{Value, json};
    use uuid::Uuid;

    const BAY: Uuid = Uuid::from_u128(0x5d1c7b0e_3f6a_4c2d_9e8b_1a2b3c4d5e6f);
    const MODEL: Uuid = Uuid::from_u128(0x7c1e9a04_b2d3_4f6e_8a5b_0c9d1e2f3a4b);
    const CONTAINER: Uuid = Uuid::from_u128(0xc2f4a6b8_1d3e_4f50_8a7b_9c0d1e2f3a4b);

    fn context() -> RequestContext {
        RequestContext {
            request_id: "req-6f1d3b2e-8c4a-4f0b-9d7e-2a1c5b8e9f30".into(),
            user_id: Some("1b2c3d4e5f6a4b7c8d9e0f1a2b3c4d5e".into()),
            user_name: Some("alice".into()),
            project_id: Some("8a3c2f1e0d9b4c7a6e5f4d3c2b1a0f9e".into()),
            project_name: Some("demo".into()),
            user_domain_id: Some("default".into()),
            user_domain_name: Some("Default".into()),
            roles: vec!["member".into(), "reader".into()],
            ..RequestContext::default()
        }
    }

    fn pin<M: Method>(method: &M, case: &str) {
        let inner = envelope::request(
            &context(),
            M::NAME,
            &M::SINCE.to_string(),
            method.args(),
            Some(("msgid", "reply_q")),
        );
        golden(M::NAME, &format!("request_{case}"), &Value::Object(inner));
    }

    fn baymodel_spec() -> BayModelSpec {
        serde_json::from_value(json!({"uuid": MODEL, "name": "k8s", "coe": "kubernetes",
            "image_id": "fedora-coreos", "network_driver": "flannel",
            "docker_storage_driver": "devicemapper", "labels": {"kube_tag": "v1.33"},
            "server_type": "vm"}))
        .unwrap()
    }

    fn bay_spec() -> BaySpec {
        serde_json::from_value(
            json!({"uuid": BAY, "name": "web", "baymodel_id": MODEL.to_string(),
            "node_count": 2, "master_count": 1, "create_timeout": 60, "discovery_url": null,
            "labels": null, "merge_labels": false, "keypair": null, "flavor_id": null,
            "master_flavor_id": null, "docker_volume_size": null, "fixed_network": null,
            "fixed_subnet": null, "floating_ip_enabled": null, "master_lb_enabled": null}),
        )
        .unwrap()
    }

    #[test]
    fn our_client_sends_every_method_as_pinned() {
        pin(&PingConductor, "default");
        pin(&ConductorVersions, "default");
        pin(
            &GetObject::<BayModel>::new(Lookup::Name("k8s".into())),
            "baymodel_get_by_name",
        );
        pin(
            &GetObject::<BayModel>::new(Lookup::Uuid(MODEL)),
            "baymodel_get_by_uuid",
        );
        let query = ListQuery {
            limit: Some(21),
            marker: Some(MODEL),
            sort_key: Some("name".into()),
            sort_dir: Some("desc".into()),
            filters: None,
        };
        pin(&ListObjects::<BayModel>::new(query), "baymodel_list");
        pin(
            &BayModelCreate {
                baymodel: baymodel_spec(),
            },
            "default",
        );
        pin(
            &BayModelUpdate {
                uuid: MODEL,
                baymodel: baymodel_spec(),
                changes: vec!["name".into()],
            },
            "default",
        );
        pin(&BayModelDelete { uuid: MODEL }, "default");
        pin(
            &BayCreate {
                bay: bay_spec(),
                bay_create_timeout: Some(60),
            },
            "default",
        );
        pin(
            &BayUpdate {
                bay: BayChange {
                    uuid: BAY,
                    node_count: Some(3),
                },
                rollback: true,
            },
            "default",
        );
        pin(&BayDelete { uuid: BAY }, "default");
        pin(
            &BayResize {
                bay: BayChange {
                    uuid: BAY,
                    node_count: None,
                },
                node_count: 1,
                nodes_to_remove: vec!["n1".into()],
                nodegroup: None,
            },
            "default",
        );
        pin(
            &BayUpgrade {
                bay: BayChange {
                    uuid: BAY,
                    node_count: None,
                },
                baymodel: MODEL,
                max_batch_size: 1,
                nodegroup: None,
            },
            "default",
        );
        pin(
            &NodeGroupCreate {
                bay_uuid: BAY,
                nodegroup: NodeGroupSpec {
                    uuid: CONTAINER,
                    name: "gpu".into(),
                    role: "worker".into(),
                    node_count: 2,
                    min_node_count: 0,
                    max_node_count: Some(4),
                    flavor_id: Some("m1.large".into()),
                    image_id: None,
                    docker_volume_size: None,
                    labels: Some([("tier".to_owned(), "gpu".to_owned())].into()),
                    merge_labels: false,
                },
            },
            "default",
        );
        pin(
            &NodeGroupUpdate {
                bay_uuid: BAY,
                nodegroup: NodeGroupChange {
                    uuid: CONTAINER,
                    node_count: 3,
                    min_node_count: 1,
                    max_node_count: None,
                },
            },
            "default",
        );
        pin(
            &NodeGroupDelete {
                bay_uuid: BAY,
                uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &GetObject::<NodeGroup>::new(Lookup::Uuid(CONTAINER)),
            "nodegroup_get_by_uuid",
        );
        pin(
            &BayConverge {
                bay_uuid: BAY,
                op: "create".into(),
                op_id: "0d9c8b7a6f5e44d3b2a1908f7e6d5c4b".into(),
            },
            "default",
        );
        let container: magnum_core::container::ContainerSpec = serde_json::from_value(json!({
            "uuid": CONTAINER, "name": "web-1", "image": "busybox:1.36", "command": "httpd -f",
            "memory": "512m", "environment": {"A": "1"}, "bay_uuid": BAY.to_string()}))
        .unwrap();
        pin(&ContainerCreate { container }, "default");
        pin(
            &ContainerShow {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerDelete {
                container_uuid: CONTAINER,
                force: true,
            },
            "default",
        );
        pin(
            &ContainerStart {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerStop {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerPause {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerUnpause {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerReboot {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerLogs {
                container_uuid: CONTAINER,
            },
            "default",
        );
        pin(
            &ContainerExec {
                container_uuid: CONTAINER,
                command: "echo hi".into(),
            },
            "default",
        );
        let pod = Workload {
            uuid: CONTAINER,
            bay_uuid: BAY,
            desc: Some("front".into()),
            manifest: Some("apiVersion: v1\nkind: Pod\n".into()),
            manifest_url: Some("http://example.org/pod.yaml".into()),
            ..Workload::default()
        };
        pin(&WorkloadCreate::<PodObject>::new(pod.clone()), "default");
        pin(
            &WorkloadUpdate::<PodObject>::new(pod, vec!["desc".into()]),
            "default",
        );
        pin(&WorkloadDelete::<PodObject>::new(CONTAINER), "default");
        let rc = Workload {
            uuid: CONTAINER,
            bay_uuid: BAY,
            replicas: Some(3),
            ..Workload::default()
        };
        pin(
            &WorkloadUpdate::<RcObject>::new(rc, vec!["replicas".into()]),
            "default",
        );
        let service = Workload {
            uuid: CONTAINER,
            bay_uuid: BAY,
            manifest: Some("{\"kind\": \"Service\"}".into()),
            ..Workload::default()
        };
        pin(&WorkloadCreate::<ServiceObject>::new(service), "default");
        let query = ListQuery {
            limit: Some(2),
            filters: Some(
                json!({"name": "web"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            ..ListQuery::default()
        };
        pin(&ListObjects::<PodObject>::new(query), "pod_list_by_name");
        pin(
            &ContainerRename {
                uuid: CONTAINER,
                name: "web-2".into(),
            },
            "container_save",
        );
        let request = Certificate {
            project_id: "8a3c2f1e0d9b4c7a6e5f4d3c2b1a0f9e".into(),
            user_id: "1b2c3d4e5f6a4b7c8d9e0f1a2b3c4d5e".into(),
            bay_uuid: BAY,
            csr: Some(
                "-----BEGIN CERTIFICATE REQUEST-----\nMIIC\n-----END CERTIFICATE REQUEST-----\n"
                    .into(),
            ),
            pem: None,
            ca_cert_type: None,
        };
        pin(
            &SignCertificate {
                bay: BAY,
                certificate: request,
            },
            "default",
        );
        pin(
            &GetCaCertificate {
                bay: BAY,
                ca_cert_type: Some("kubernetes".into()),
            },
            "default",
        );
        pin(&RotateCaCertificate { bay: BAY }, "default");
        pin(&CredentialRotate { bay: BAY }, "default");
        pin(
            &ListObjects::<MagnumService>::new(ListQuery::default()),
            "magnumservice_list",
        );
        pin(
            &GetClusterStats {
                project_id: Some("demo".into()),
            },
            "stats_get_cluster_stats",
        );
        pin(
            &GetQuota {
                project_id: "demo".into(),
                resource: "Cluster".into(),
            },
            "quota_get_by_project_id_resource",
        );
        pin(
            &UpdateQuota {
                project_id: "demo".into(),
                resource: "Cluster".into(),
                hard_limit: 5,
            },
            "quota_update_quota",
        );
        let quota = Quota {
            id: None,
            project_id: "demo".into(),
            resource: "Cluster".into(),
            hard_limit: 2,
            created_at: None,
            updated_at: None,
        };
        pin(&CreateQuota { quota }, "quota_create");
        pin(
            &DeleteQuota {
                key: QuotaKey {
                    project_id: "demo".into(),
                    resource: "Cluster".into(),
                },
            },
            "quota_delete",
        );
    }
}
