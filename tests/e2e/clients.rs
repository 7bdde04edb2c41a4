//! The real OpenStack clients against both daemons: python-magnumclient 5.0.0 (`openstack coe
//! …`, through python-openstackclient), 4.11.0 (the `magnum` shell, its last release) and
//! openstacksdk's container-infrastructure-management proxy, installed by
//! `scripts/lib/clients.sh` (`ensure_clients`) into the virtualenvs named by
//! `MAGNUM_TEST_CLIENTS_V5` and `MAGNUM_TEST_CLIENTS_V4`. Each command runs as its own process
//! and its printed output is asserted; both token modes are covered: noauth with an endpoint
//! override (the token `<user>:<project>` picks the identity) and the real Keystone of
//! `scripts/lib/keystone.sh`, where the clients log in with a password and find our endpoint in
//! the catalog (service type `container-infra`, in a region of the test's own).
//!
//! Neither client generation has baymodel, bay, node, pod, service, rc or container commands
//! any more (4.11.0's `magnum help` lists cluster, cluster-template, ca, quotas, stats and
//! service commands only), so those resources are covered by the HTTP tests. doc/user-guide.md
//! holds the command table these tests back.

use magnum_test_support::keystone::{ADMIN, ALICE};
use magnum_test_support::kube_double::KubeDouble;
use magnum_test_support::{Deployment, TestKeystone, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A client command line: program, leading arguments and environment.
struct Cli {
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What a command printed.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn venv(var: &str) -> PathBuf {
    let dir = std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: these tests need the clients scripts/test installs \
             (or run `source scripts/lib/clients.sh && ensure_clients` first)"
        )
    });
    PathBuf::from(dir).join("bin")
}

impl Cli {
    fn new(label: &'static str, program: PathBuf, args: &[&str]) -> Cli {
        Cli {
            label,
            program,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
        }
    }

    /// python-magnumclient 5.0.0 as `openstack … coe`, without Keystone.
    fn v5_noauth(e2e: &Deployment, token: &str) -> Cli {
        let endpoint = format!("{}/v1", e2e.base);
        Cli::new(
            "5.0.0",
            venv("MAGNUM_TEST_CLIENTS_V5").join("openstack"),
            &[
                "--os-auth-type",
                "admin_token",
                "--os-endpoint",
                &endpoint,
                "--os-token",
                token,
                "coe",
            ],
        )
    }

    /// python-magnumclient 4.11.0's `magnum` shell, without Keystone.
    fn v4_noauth(e2e: &Deployment, token: &str) -> Cli {
        let endpoint = format!("{}/v1", e2e.base);
        Cli::new(
            "4.11.0",
            venv("MAGNUM_TEST_CLIENTS_V4").join("magnum"),
            &["--os-token", token, "--os-endpoint-override", &endpoint],
        )
    }

    /// Password login against the test Keystone as `who`, our endpoint from `region`'s catalog.
    fn with_keystone(mut self, ks: &TestKeystone, region: &str, who: (&str, &str)) -> Cli {
        let password = if who == ADMIN {
            std::env::var("MAGNUM_TEST_KEYSTONE_ADMIN_PASSWORD")
        } else {
            std::env::var("MAGNUM_TEST_KEYSTONE_USER_PASSWORD")
        }
        .expect("Keystone passwords in the environment");
        for (k, v) in [
            ("OS_AUTH_URL", format!("{}/v3", ks.url)),
            ("OS_IDENTITY_API_VERSION", "3".to_owned()),
            ("OS_USERNAME", who.0.to_owned()),
            ("OS_PASSWORD", password),
            ("OS_PROJECT_NAME", who.1.to_owned()),
            ("OS_USER_DOMAIN_NAME", "Default".to_owned()),
            ("OS_PROJECT_DOMAIN_NAME", "Default".to_owned()),
            ("OS_REGION_NAME", region.to_owned()),
        ] {
            self.env.push((k.to_owned(), v));
        }
        self
    }

    fn v5_keystone(ks: &TestKeystone, region: &str, who: (&str, &str)) -> Cli {
        Cli::new(
            "5.0.0",
            venv("MAGNUM_TEST_CLIENTS_V5").join("openstack"),
            &["coe"],
        )
        .with_keystone(ks, region, who)
    }

    fn v4_keystone(ks: &TestKeystone, region: &str, who: (&str, &str)) -> Cli {
        Cli::new("4.11.0", venv("MAGNUM_TEST_CLIENTS_V4").join("magnum"), &[])
            .with_keystone(ks, region, who)
    }

    async fn run(&self, args: &[&str]) -> Out {
        let home = std::env::temp_dir().join("magnum-e2e-clients-home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            // `cluster config` picks the shell syntax of its `export` line from $SHELL.
            .env("SHELL", "/bin/bash")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("{} {args:?} did not finish in 60 s", self.label))
            .expect("client runs");
        let out = Out {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        // The transcript the closing note shows.
        eprintln!(
            "[{}] {} → exit {:?}\n{}{}",
            self.label,
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
        out
    }

    /// Runs a command that must succeed; returns its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_eq!(
            out.code,
            Some(0),
            "[{}] {args:?} failed:\n{}{}",
            self.label,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs a command with `-f json` (appended unless `args` has `-f`); returns the parsed
    /// output.
    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        if !args.contains(&"-f") {
            all.extend(["-f", "json"]);
        }
        let text = self.ok(&all).await;
        // `cluster template create` prints a line of its own before the document.
        let start = text
            .lines()
            .position(|l| l.starts_with('{') || l.starts_with('['))
            .unwrap_or(0);
        let text = text.lines().skip(start).collect::<Vec<_>>().join("\n");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("[{}] {args:?} printed no JSON ({e}): {text}", self.label))
    }

    /// Runs a command that must fail; returns everything it printed.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_ne!(
            out.code,
            Some(0),
            "[{}] {args:?} should fail:\n{}",
            self.label,
            out.stdout
        );
        format!("{}{}", out.stdout, out.stderr)
    }
}

/// The rows of the prettytable a shell command printed (header row first).
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// A `Property | Value` table as a map.
fn properties(text: &str) -> BTreeMap<String, String> {
    table(text)
        .into_iter()
        .skip(1)
        .filter(|r| r.len() == 2)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

/// A list table as maps from column to cell.
fn rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut t = table(text).into_iter();
    let Some(header) = t.next() else {
        return Vec::new();
    };
    t.map(|r| header.iter().cloned().zip(r).collect()).collect()
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

const POOL: (&str, &str) = ("magnum.openstack.org/pool", "true");

/// A deployment whose conductor drives a Kubernetes API double with `nodes` free pool nodes;
/// `extra` goes after the generated configuration.
async fn kube_deployment(nodes: usize, extra: &str) -> (KubeDouble, Deployment) {
    let double = KubeDouble::start().await;
    for i in 0..nodes {
        double.add_node(&format!("worker-{i}"), &[POOL], true);
    }
    let kubeconfig = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.kubeconfig",
        magnum_test_support::unique_suffix()
    ));
    double.write_kubeconfig(&kubeconfig).unwrap();
    let e2e = Deployment::builder()
        .config(&format!(
            "[kubernetes]\nkubeconfig = {}\n[conductor]\nperiodic_interval = 1\n{extra}",
            kubeconfig.display()
        ))
        .without_waiting()
        .start()
        .await;
    (double, e2e)
}

/// Waits until cluster `name` reaches `status`, as alice of project `demo` (noauth).
async fn wait_cluster(e2e: &Deployment, name: &str, status: &str) {
    wait_cluster_as(e2e, "alice:demo", name, status).await;
}

/// Waits until cluster `name` reaches `status`, seen with `token`.
async fn wait_cluster_as(e2e: &Deployment, token: &str, name: &str, status: &str) {
    let path = format!("/v1/clusters/{name}");
    eventually(
        &format!("cluster {name} is {status}"),
        Duration::from_secs(90),
        || async {
            let r = e2e
                .request_with_token(Some(token), Method::GET, &path, None, &[])
                .await;
            let now = r.json["status"].as_str().unwrap_or_default().to_owned();
            assert!(
                !now.ends_with("FAILED"),
                "cluster {name} failed: {}",
                r.text
            );
            now == status
        },
    )
    .await;
}

/// Waits until nodegroup `group` of cluster `cluster` reaches `status`, or (`None`) is gone,
/// as alice of project `demo` (noauth).
async fn wait_nodegroup(e2e: &Deployment, cluster: &str, group: &str, status: Option<&str>) {
    let path = format!("/v1/clusters/{cluster}/nodegroups/{group}");
    eventually(
        &format!("nodegroup {group} is {status:?}"),
        Duration::from_secs(90),
        || async {
            let r = e2e
                .request_with_token(Some("alice:demo"), Method::GET, &path, None, &[])
                .await;
            let now = r.json["status"].as_str().unwrap_or_default().to_owned();
            assert!(
                !now.ends_with("FAILED"),
                "nodegroup {group} failed: {}",
                r.text
            );
            match status {
                Some(status) => now == status,
                None => r.status == 404,
            }
        },
    )
    .await;
}

/// Waits until cluster `name` is gone, as alice of project `demo` (noauth).
async fn wait_cluster_gone(e2e: &Deployment, name: &str) {
    wait_cluster_gone_as(e2e, "alice:demo", name).await;
}

/// Waits until cluster `name` is gone, seen with `token`.
async fn wait_cluster_gone_as(e2e: &Deployment, token: &str, name: &str) {
    let path = format!("/v1/clusters/{name}");
    eventually(
        &format!("cluster {name} is deleted"),
        Duration::from_secs(90),
        || async {
            e2e.request_with_token(Some(token), Method::GET, &path, None, &[])
                .await
                .status
                == 404
        },
    )
    .await;
}

#[tokio::test]
async fn clients_v5_openstack_coe_drives_templates_clusters_nodegroups_quotas_and_stats() {
    let (_double, e2e) = kube_deployment(3, "").await;
    e2e.wait_for_conductor().await;
    let coe = Cli::v5_noauth(&e2e, "alice:demo");
    let admin = Cli::v5_noauth(&e2e, "admin:demo");

    // Cluster templates.
    let ct = coe
        .json(&[
            "cluster",
            "template",
            "create",
            "k8s",
            "--coe",
            "kubernetes",
            "--image",
            "fcos",
            "--external-network",
            "public",
            "--labels",
            "a=1,b=2",
        ])
        .await;
    assert_eq!(ct["name"], "k8s");
    assert_eq!(ct["coe"], "kubernetes");
    assert_eq!(ct["image_id"], "fcos");
    assert_eq!(ct["labels"], json!({"a": "1", "b": "2"}));
    let ct_uuid = ct["uuid"].as_str().unwrap().to_owned();
    let listed = coe.json(&["cluster", "template", "list"]).await;
    assert_eq!(
        listed,
        json!([{"uuid": ct_uuid, "name": "k8s", "tags": null}])
    );
    let shown = coe.json(&["cluster", "template", "show", "k8s"]).await;
    assert_eq!(shown["uuid"], ct_uuid.as_str());
    let updated = coe
        .json(&[
            "cluster",
            "template",
            "update",
            "k8s",
            "--docker-volume-size",
            "5",
            "--label",
            "a=9",
            "--no-label",
            "b",
            "--tls-disabled",
        ])
        .await;
    assert_eq!(updated["docker_volume_size"], 5);
    assert_eq!(updated["labels"], json!({"a": "9"}));
    assert_eq!(updated["tls_disabled"], true);
    let out = coe.fails(&["cluster", "template", "show", "nope"]).await;
    assert!(
        out.contains("ClusterTemplate nope could not be found."),
        "{out}"
    );

    // Clusters.
    let out = coe
        .ok(&[
            "cluster",
            "create",
            "apps",
            "--cluster-template",
            "k8s",
            "--node-count",
            "1",
            "--master-count",
            "1",
        ])
        .await;
    assert!(
        out.contains("Request to create cluster") && out.contains("accepted"),
        "{out}"
    );
    wait_cluster(&e2e, "apps", "CREATE_COMPLETE").await;
    let listed = coe.json(&["cluster", "list"]).await;
    assert_eq!(names(&listed), ["apps"]);
    assert_eq!(listed[0]["status"], "CREATE_COMPLETE");
    assert_eq!(listed[0]["node_count"], 1);
    let shown = coe.json(&["cluster", "show", "apps"]).await;
    assert_eq!(shown["cluster_template_id"], ct_uuid.as_str());
    assert_eq!(shown["status"], "CREATE_COMPLETE");
    let out = coe
        .ok(&["cluster", "update", "apps", "--node-count", "2"])
        .await;
    assert!(out.contains("Request to update cluster"), "{out}");
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    assert_eq!(
        coe.json(&["cluster", "show", "apps"]).await["node_count"],
        2
    );
    let out = coe.ok(&["cluster", "resize", "apps", "1"]).await;
    assert!(out.contains("Request to resize cluster"), "{out}");
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    assert_eq!(
        coe.json(&["cluster", "show", "apps"]).await["node_count"],
        1
    );

    // Nodegroups of the cluster.
    let groups = coe.json(&["nodegroup", "list", "apps"]).await;
    assert_eq!(
        names(&groups),
        ["default-master", "default-worker"],
        "{groups}"
    );
    let worker = coe
        .json(&["nodegroup", "show", "apps", "default-worker"])
        .await;
    assert_eq!(worker["role"], "worker");
    assert_eq!(worker["node_count"], 1);
    let out = coe.fails(&["nodegroup", "show", "apps", "nope"]).await;
    assert!(out.contains("Nodegroup nope could not be found."), "{out}");
    let masters = coe
        .json(&["nodegroup", "list", "apps", "--role", "master"])
        .await;
    assert_eq!(names(&masters), ["default-master"]);

    // A worker nodegroup of the cluster: create, update, resize and delete. The 5.0.0 commands
    // print a message (no `-f`); `show` is read back as JSON.
    let out = coe
        .ok(&[
            "nodegroup",
            "create",
            "apps",
            "gpu",
            "--node-count",
            "1",
            "--max-nodes",
            "2",
            "--labels",
            "tier=gpu",
        ])
        .await;
    assert!(
        out.contains("Request to create nodegroup") && out.contains("accepted"),
        "{out}"
    );
    wait_nodegroup(&e2e, "apps", "gpu", Some("CREATE_COMPLETE")).await;
    let gpu = coe.json(&["nodegroup", "show", "apps", "gpu"]).await;
    assert_eq!(
        (&gpu["role"], &gpu["is_default"], &gpu["node_count"]),
        (&json!("worker"), &json!(false), &json!(1)),
        "{gpu}"
    );
    assert_eq!(gpu["labels"], json!({"tier": "gpu"}));
    assert_eq!(gpu["max_node_count"], 2);
    assert!(out.contains(gpu["uuid"].as_str().unwrap()), "{out}");
    let groups = coe.json(&["nodegroup", "list", "apps"]).await;
    assert_eq!(
        names(&groups),
        ["default-master", "default-worker", "gpu"],
        "{groups}"
    );
    let out = coe
        .ok(&[
            "nodegroup",
            "update",
            "apps",
            "gpu",
            "--min-nodes",
            "1",
            "--max-nodes",
            "3",
        ])
        .await;
    assert!(
        out.contains("Request to update nodegroup gpu has been accepted."),
        "{out}"
    );
    wait_nodegroup(&e2e, "apps", "gpu", Some("UPDATE_COMPLETE")).await;
    let gpu = coe.json(&["nodegroup", "show", "apps", "gpu"]).await;
    assert_eq!(
        (&gpu["min_node_count"], &gpu["max_node_count"]),
        (&json!(1), &json!(3))
    );
    let out = coe
        .ok(&["cluster", "resize", "apps", "2", "--nodegroup", "gpu"])
        .await;
    assert!(out.contains("Request to resize cluster"), "{out}");
    wait_nodegroup(&e2e, "apps", "gpu", Some("UPDATE_COMPLETE")).await;
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    assert_eq!(
        coe.json(&["nodegroup", "show", "apps", "gpu"]).await["node_count"],
        2
    );
    assert_eq!(
        coe.json(&["cluster", "show", "apps"]).await["node_count"],
        1
    );
    let out = coe
        .fails(&["nodegroup", "delete", "apps", "default-worker"])
        .await;
    assert!(
        out.contains("Deleting a default nodegroup is not supported."),
        "{out}"
    );
    let out = coe
        .fails(&["nodegroup", "create", "apps", "ctl", "--role", "master"])
        .await;
    assert!(
        out.contains("Creating master nodegroups is not supported."),
        "{out}"
    );
    let out = coe.ok(&["nodegroup", "delete", "apps", "gpu"]).await;
    assert!(
        out.contains("Request to delete nodegroup gpu has been accepted."),
        "{out}"
    );
    wait_nodegroup(&e2e, "apps", "gpu", None).await;
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;

    // Stats of the caller's project; quotas and services are for admins. `stats` and `quotas`
    // print tables only (no `-f`).
    let stats = properties(&coe.ok(&["stats", "list", "demo"]).await);
    assert_eq!(
        (stats["clusters"].as_str(), stats["nodes"].as_str()),
        ("1", "2")
    );
    let services = admin.json(&["service", "list"]).await;
    assert_eq!(services[0]["binary"], "magnum-conductor", "{services}");
    assert_eq!(services[0]["state"], "up");
    let out = coe.fails(&["service", "list"]).await;
    assert!(
        out.contains("Policy doesn't allow magnum-service:get_all to be performed."),
        "{out}"
    );
    let quota = ["--project-id", "demo", "--resource", "Cluster"];
    let out = admin
        .ok(&[&["quotas", "create"], &quota[..], &["--hard-limit", "5"]].concat())
        .await;
    assert!(!out.contains("failed"), "{out}");
    assert_eq!(properties(&out)["hard_limit"], "5");
    let listed = rows(&admin.ok(&["quotas", "list"]).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0]["project_id"].as_str(),
            listed[0]["hard_limit"].as_str()
        ),
        ("demo", "5")
    );
    let shown = properties(&admin.ok(&[&["quotas", "show"], &quota[..]].concat()).await);
    assert_eq!(shown["resource"], "Cluster");
    let out = admin
        .ok(&[&["quotas", "update"], &quota[..], &["--hard-limit", "10"]].concat())
        .await;
    assert!(!out.contains("failed"), "{out}");
    assert_eq!(properties(&out)["hard_limit"], "10");
    let out = admin
        .ok(&[&["quotas", "delete"], &quota[..]].concat())
        .await;
    assert!(out.contains("Request to delete quota"), "{out}");
    assert!(rows(&admin.ok(&["quotas", "list"]).await).is_empty());
    let out = coe.ok(&[&["quotas", "create"], &quota[..]].concat()).await;
    assert!(
        out.contains("Policy doesn't allow quota:create to be performed."),
        "{out}"
    );

    // Refusals print our message.
    let out = coe.fails(&["cluster", "show", "nope"]).await;
    assert!(out.contains("Cluster nope could not be found."), "{out}");
    // 5.0.0 prints the failure of a delete and still exits 0.
    let out = coe.ok(&["cluster", "template", "delete", "k8s"]).await;
    assert!(
        out.contains(
            "Delete for cluster template k8s failed: ClusterTemplate k8s is referenced by one \
             or multiple clusters. (HTTP 400)"
        ),
        "{out}"
    );

    // Deletes.
    let out = coe.ok(&["cluster", "delete", "apps"]).await;
    assert!(out.contains("Request to delete cluster apps"), "{out}");
    wait_cluster_gone(&e2e, "apps").await;
    assert_eq!(coe.json(&["cluster", "list"]).await, json!([]));
    coe.ok(&["cluster", "template", "delete", "k8s"]).await;
    assert_eq!(coe.json(&["cluster", "template", "list"]).await, json!([]));
}

#[tokio::test]
async fn clients_v4_magnum_shell_drives_templates_clusters_quotas_and_stats() {
    let (_double, e2e) = kube_deployment(3, "").await;
    e2e.wait_for_conductor().await;
    let magnum = Cli::v4_noauth(&e2e, "alice:demo");
    let admin = Cli::v4_noauth(&e2e, "admin:demo");

    // Cluster templates.
    let ct = properties(
        &magnum
            .ok(&[
                "cluster-template-create",
                "k8s",
                "--coe",
                "kubernetes",
                "--image",
                "fcos",
                "--external-network",
                "public",
                "--labels",
                "a=1",
            ])
            .await,
    );
    assert_eq!(ct["name"], "k8s");
    assert_eq!(ct["coe"], "kubernetes");
    let ct_uuid = ct["uuid"].clone();
    let listed = rows(&magnum.ok(&["cluster-template-list"]).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0]["uuid"].as_str(), listed[0]["name"].as_str()),
        (ct_uuid.as_str(), "k8s")
    );
    let detail = rows(&magnum.ok(&["cluster-template-list", "--detail"]).await);
    assert_eq!(detail[0]["coe"], "kubernetes");
    let shown = properties(&magnum.ok(&["cluster-template-show", "k8s"]).await);
    assert_eq!(shown["image_id"], "fcos");
    let updated = properties(
        &magnum
            .ok(&[
                "cluster-template-update",
                "k8s",
                "replace",
                "docker_volume_size=5",
            ])
            .await,
    );
    assert_eq!(updated["docker_volume_size"], "5");
    let out = magnum.fails(&["cluster-template-show", "nope"]).await;
    assert!(
        out.contains("ClusterTemplate nope could not be found."),
        "{out}"
    );

    // Clusters.
    let out = magnum
        .ok(&[
            "cluster-create",
            "apps",
            "--cluster-template",
            "k8s",
            "--node-count",
            "1",
        ])
        .await;
    assert!(out.contains("Request to create cluster"), "{out}");
    wait_cluster(&e2e, "apps", "CREATE_COMPLETE").await;
    let listed = rows(&magnum.ok(&["cluster-list"]).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["status"].as_str()),
        ("apps", "CREATE_COMPLETE")
    );
    let shown = properties(&magnum.ok(&["cluster-show", "apps"]).await);
    assert_eq!(shown["cluster_template_id"], ct_uuid);
    let long = magnum.ok(&["cluster-show", "--long", "apps"]).await;
    assert!(long.contains("kubernetes"), "{long}");
    let out = magnum
        .ok(&["cluster-update", "apps", "replace", "node_count=2"])
        .await;
    assert!(out.contains("Request to update cluster apps"), "{out}");
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    assert_eq!(
        properties(&magnum.ok(&["cluster-show", "apps"]).await)["node_count"],
        "2"
    );

    // Stats, services, quotas.
    let stats = properties(&magnum.ok(&["stats-list", "--project-id", "demo"]).await);
    assert_eq!(
        (stats["clusters"].as_str(), stats["nodes"].as_str()),
        ("1", "3")
    );
    let services = rows(&admin.ok(&["service-list"]).await);
    assert_eq!(services[0]["binary"], "magnum-conductor");
    assert_eq!(services[0]["state"], "up");
    let out = magnum.fails(&["service-list"]).await;
    assert!(
        out.contains("Policy doesn't allow magnum-service:get_all to be performed."),
        "{out}"
    );
    let quota = ["--project-id", "demo", "--resource", "Cluster"];
    let out = admin
        .ok(&[&["quotas-create"], &quota[..], &["--hard-limit", "5"]].concat())
        .await;
    assert!(!out.contains("failed"), "{out}");
    assert_eq!(properties(&out)["hard_limit"], "5");
    let listed = rows(&admin.ok(&["quotas-list"]).await);
    assert_eq!(
        (
            listed[0]["project_id"].as_str(),
            listed[0]["hard_limit"].as_str()
        ),
        ("demo", "5")
    );
    let shown = properties(&admin.ok(&[&["quotas-show"], &quota[..]].concat()).await);
    assert_eq!(shown["hard_limit"], "5");
    let out = admin
        .ok(&[&["quotas-update"], &quota[..], &["--hard-limit", "10"]].concat())
        .await;
    assert_eq!(properties(&out)["hard_limit"], "10");
    let out = admin.ok(&[&["quotas-delete"], &quota[..]].concat()).await;
    assert!(out.contains("Request to delete quota"), "{out}");
    assert!(rows(&admin.ok(&["quotas-list"]).await).is_empty());

    // Refusals print our message.
    let out = magnum.fails(&["cluster-show", "nope"]).await;
    assert!(out.contains("Cluster nope could not be found."), "{out}");
    // 4.11.0 prints the failure of a delete and still exits 0.
    let out = magnum.ok(&["cluster-template-delete", "k8s"]).await;
    assert!(
        out.contains("ClusterTemplate k8s is referenced by one or multiple clusters."),
        "{out}"
    );

    // Deletes.
    let out = magnum.ok(&["cluster-delete", "apps"]).await;
    assert!(out.contains("Request to delete cluster apps"), "{out}");
    wait_cluster_gone(&e2e, "apps").await;
    assert!(rows(&magnum.ok(&["cluster-list"]).await).is_empty());
    let out = magnum.ok(&["cluster-template-delete", "k8s"]).await;
    assert!(
        out.contains("Request to delete cluster template k8s has been accepted."),
        "{out}"
    );
    assert!(rows(&magnum.ok(&["cluster-template-list"]).await).is_empty());
}

/// A kube deployment in keystone mode whose endpoint is in the test Keystone's catalog: the
/// `container-infra` service gets public and internal endpoints in a region of this test's own
/// (the deployment listens on a port of its own, not the 9511 of the default region). Returns
/// the region's name too.
async fn keystone_kube_deployment(ks: &TestKeystone) -> (KubeDouble, Deployment, String) {
    let (double, e2e) =
        kube_deployment(2, &format!("{}{}", ks.api_config(""), client_ca_config())).await;
    let token = ks.token(ALICE).await;
    eventually(
        "the API reaches a conductor",
        Duration::from_secs(60),
        || async {
            e2e.request_with_token(Some(&token), Method::GET, "/v1/clusters", None, &[])
                .await
                .status
                != 503
        },
    )
    .await;
    let (_, services) = ks
        .admin_call(Method::GET, "/services?type=container-infra", None)
        .await;
    let service = services["services"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a container-infra service in Keystone: {services}"))
        .to_owned();
    let region = format!("magnum-e2e-{}", magnum_test_support::unique_suffix());
    let (status, body) = ks
        .admin_call(
            Method::POST,
            "/regions",
            Some(json!({"region": {"id": region}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for interface in ["public", "internal"] {
        let (status, body) = ks
            .admin_call(
                Method::POST,
                "/endpoints",
                Some(json!({"endpoint": {
                    "service_id": service, "interface": interface, "region_id": region,
                    "url": format!("{}/v1", e2e.base)
                }})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    (double, e2e, region)
}

/// Removes the test's region and its endpoints from the catalog.
async fn drop_region(ks: &TestKeystone, region: &str) {
    let (_, endpoints) = ks
        .admin_call(Method::GET, &format!("/endpoints?region_id={region}"), None)
        .await;
    for e in endpoints["endpoints"].as_array().into_iter().flatten() {
        let id = e["id"].as_str().unwrap_or_default();
        ks.admin_call(Method::DELETE, &format!("/endpoints/{id}"), None)
            .await;
    }
    ks.admin_call(Method::DELETE, &format!("/regions/{region}"), None)
        .await;
}

#[tokio::test]
async fn clients_log_in_to_keystone_and_find_magnum_in_the_catalog() {
    let ks = TestKeystone::from_env();
    let (double, e2e, region) = keystone_kube_deployment(&ks).await;
    let alice_token = ks.token(ALICE).await;
    let coe = Cli::v5_keystone(&ks, &region, ALICE);
    let bob = Cli::v5_keystone(&ks, &region, magnum_test_support::keystone::BOB);
    let admin = Cli::v5_keystone(&ks, &region, ADMIN);
    let magnum = Cli::v4_keystone(&ks, &region, ALICE);
    let magnum_admin = Cli::v4_keystone(&ks, &region, ADMIN);

    // 5.0.0: a template and a cluster of alice's project.
    let ct = coe
        .json(&[
            "cluster",
            "template",
            "create",
            "k8s",
            "--coe",
            "kubernetes",
            "--image",
            "fcos",
            "--external-network",
            "public",
        ])
        .await;
    assert_eq!(ct["project_id"], ks.project_id(ALICE.1).await.as_str());
    let out = coe
        .ok(&["cluster", "create", "apps", "--cluster-template", "k8s"])
        .await;
    assert!(out.contains("Request to create cluster"), "{out}");
    wait_cluster_as(&e2e, &alice_token, "apps", "CREATE_COMPLETE").await;
    let listed = coe.json(&["cluster", "list"]).await;
    assert_eq!(names(&listed), ["apps"]);
    assert_eq!(
        coe.json(&["cluster", "show", "apps"]).await["cluster_template_id"],
        ct["uuid"]
    );
    let groups = coe.json(&["nodegroup", "list", "apps"]).await;
    assert_eq!(names(&groups), ["default-master", "default-worker"]);
    let stats = properties(
        &coe.ok(&["stats", "list", ct["project_id"].as_str().unwrap()])
            .await,
    );
    assert_eq!(stats["clusters"], "1");
    let out = coe.fails(&["cluster", "show", "nope"]).await;
    assert!(out.contains("Cluster nope could not be found."), "{out}");
    // Another project sees nothing of it.
    assert_eq!(bob.json(&["cluster", "list"]).await, json!([]));
    let out = bob.fails(&["cluster", "show", "apps"]).await;
    assert!(out.contains("Cluster apps could not be found."), "{out}");
    // The admin lists the services; a member may not.
    let services = admin.json(&["service", "list"]).await;
    assert_eq!(services[0]["binary"], "magnum-conductor");
    let out = coe.fails(&["service", "list"]).await;
    assert!(
        out.contains("Policy doesn't allow magnum-service:get_all to be performed."),
        "{out}"
    );

    // 4.11.0, the same objects.
    let listed = rows(&magnum.ok(&["cluster-list"]).await);
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["status"].as_str()),
        ("apps", "CREATE_COMPLETE")
    );
    let templates = rows(&magnum.ok(&["cluster-template-list"]).await);
    assert_eq!(templates[0]["name"], "k8s");
    let shown = properties(&magnum.ok(&["cluster-show", "apps"]).await);
    assert_eq!(shown["status"], "CREATE_COMPLETE");
    let out = magnum.fails(&["cluster-show", "nope"]).await;
    assert!(out.contains("Cluster nope could not be found."), "{out}");
    let services = rows(&magnum_admin.ok(&["service-list"]).await);
    assert_eq!(services[0]["binary"], "magnum-conductor");

    // Certificates with Keystone tokens: the subject names alice's Keystone user id inside the
    // bay, and 4.11.0's ca-rotate works on this (session) path.
    let uuid = shown["uuid"].clone();
    let csr = std::env::temp_dir().join(format!(
        "magnum-e2e-{}.csr",
        magnum_test_support::unique_suffix()
    ));
    std::fs::write(&csr, MAGNUMCLIENT_CSR).unwrap();
    let subject =
        certificate_subject(&coe.ok(&["ca", "sign", "apps", csr.to_str().unwrap()]).await);
    assert!(
        subject.starts_with(&format!("CN=magnum:bay:{uuid}:"))
            && subject.ends_with(&format!("O=magnum:bay:{uuid}:g0"))
            && !subject.contains(":alice,"),
        "a Keystone user id, not a name: {subject}"
    );
    magnum.ok(&["ca-rotate", "--cluster", "apps"]).await;
    assert_eq!(
        certificate_group(&double, &uuid),
        format!("magnum:bay:{uuid}:g1")
    );
    let _ = std::fs::remove_file(csr);

    // Deletes through both.
    let out = magnum.ok(&["cluster-delete", "apps"]).await;
    assert!(out.contains("Request to delete cluster apps"), "{out}");
    wait_cluster_gone_as(&e2e, &alice_token, "apps").await;
    coe.ok(&["cluster", "template", "delete", "k8s"]).await;
    assert_eq!(coe.json(&["cluster", "template", "list"]).await, json!([]));
    drop_region(&ks, &region).await;
}

/// openstacksdk's `container_infrastructure_management` proxy: create, list, show and delete
/// a cluster template and a cluster, logged in to Keystone and finding `container-infra` in the
/// catalog (openstacksdk's alias for `container-infrastructure-management`).
const SDK_SCRIPT: &str = r#"
import json, sys, time
import openstack

auth_url, username, password, project, region = sys.argv[1:6]
conn = openstack.connect(
    auth_url=auth_url, username=username, password=password, project_name=project,
    user_domain_name="Default", project_domain_name="Default", region_name=region,
)
cim = conn.container_infrastructure_management
out = {}
ct = cim.create_cluster_template(
    name="sdk-k8s", coe="kubernetes", image_id="fcos", external_network_id="public",
)
out["template_created"] = {"id": ct.id, "name": ct.name, "coe": ct.coe}
out["templates"] = sorted(t.name for t in cim.cluster_templates())
out["template_shown"] = cim.get_cluster_template(ct.id).name

cluster = cim.create_cluster(
    name="sdk-apps", cluster_template_id=ct.id, node_count=1, master_count=1,
)
out["cluster_created_id"] = cluster.id
deadline = time.time() + 90
while True:
    shown = cim.get_cluster(cluster.id)
    if shown.status == "CREATE_COMPLETE" or time.time() > deadline:
        break
    time.sleep(0.5)
out["cluster_shown"] = {"name": shown.name, "status": shown.status,
                        "template": shown.cluster_template_id, "nodes": shown.node_count}
out["clusters"] = sorted(c.name for c in cim.clusters())
try:
    cim.get_cluster("nope")
    out["missing"] = "found"
except openstack.exceptions.NotFoundException as e:
    out["missing"] = str(e)

cim.delete_cluster(cluster.id)
deadline = time.time() + 90
while time.time() < deadline:
    if cim.find_cluster(cluster.id) is None:
        break
    time.sleep(0.5)
out["clusters_after_delete"] = sorted(c.name for c in cim.clusters())
cim.delete_cluster_template(ct.id)
out["templates_after_delete"] = sorted(t.name for t in cim.cluster_templates())
print(json.dumps(out))
"#;

#[tokio::test]
async fn clients_openstacksdk_creates_lists_shows_and_deletes_templates_and_clusters() {
    let ks = TestKeystone::from_env();
    let (_double, _e2e, region) = keystone_kube_deployment(&ks).await;
    let password = std::env::var("MAGNUM_TEST_KEYSTONE_USER_PASSWORD").unwrap();
    let auth_url = format!("{}/v3", ks.url);
    let sdk = Cli::new(
        "openstacksdk",
        venv("MAGNUM_TEST_CLIENTS_V5").join("python"),
        &[],
    );
    let text = sdk
        .ok(&[
            "-c", SDK_SCRIPT, &auth_url, ALICE.0, &password, ALICE.1, &region,
        ])
        .await;
    let out: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    let ct = out["template_created"]["id"].as_str().unwrap();
    assert_eq!(out["template_created"]["coe"], "kubernetes");
    assert_eq!(out["templates"], json!(["sdk-k8s"]));
    assert_eq!(out["template_shown"], "sdk-k8s");
    assert!(out["cluster_created_id"].is_string(), "{out}");
    assert_eq!(
        out["cluster_shown"],
        json!({"name": "sdk-apps", "status": "CREATE_COMPLETE", "template": ct, "nodes": 1})
    );
    assert_eq!(out["clusters"], json!(["sdk-apps"]));
    assert!(
        out["missing"]
            .as_str()
            .unwrap()
            .contains("Cluster nope could not be found."),
        "{out}"
    );
    assert_eq!(out["clusters_after_delete"], json!([]));
    assert_eq!(out["templates_after_delete"], json!([]));
    drop_region(&ks, &region).await;
}

#[tokio::test]
async fn clients_cluster_paging_upgrade_rollback_and_config() {
    let (_double, e2e) = kube_deployment(3, "").await;
    e2e.wait_for_conductor().await;
    let coe = Cli::v5_noauth(&e2e, "alice:demo");
    let magnum = Cli::v4_noauth(&e2e, "alice:demo");
    let dir = std::env::temp_dir().join(format!(
        "magnum-e2e-clients-{}",
        magnum_test_support::unique_suffix()
    ));
    let (v5_dir, v4_dir) = (dir.join("v5"), dir.join("v4"));
    for d in [&v5_dir, &v4_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let template = [
        "--coe",
        "kubernetes",
        "--image",
        "fcos",
        "--external-network",
        "public",
    ];
    coe.ok(&[&["cluster", "template", "create", "k8s"], &template[..]].concat())
        .await;
    let plain = coe
        .json(
            &[
                &["cluster", "template", "create", "plain", "--tls-disabled"],
                &template[..],
            ]
            .concat(),
        )
        .await;
    coe.ok(&["cluster", "create", "apps", "--cluster-template", "k8s"])
        .await;
    coe.ok(&["cluster", "create", "open", "--cluster-template", "plain"])
        .await;
    wait_cluster(&e2e, "apps", "CREATE_COMPLETE").await;
    wait_cluster(&e2e, "open", "CREATE_COMPLETE").await;

    // Paging: one item per page without following `next`.
    assert_eq!(
        coe.json(&["cluster", "list", "--limit", "1"])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        coe.json(&["cluster", "template", "list", "--limit", "1"])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        rows(&magnum.ok(&["cluster-list", "--limit", "1"]).await).len(),
        1
    );
    assert_eq!(
        rows(&magnum.ok(&["cluster-template-list", "--limit", "1"]).await).len(),
        1
    );

    // Upgrade to another template; updates with rollback.
    let out = coe.ok(&["cluster", "upgrade", "apps", "plain"]).await;
    assert!(
        out.contains("Request to upgrade cluster apps has been accepted."),
        "{out}"
    );
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    assert_eq!(
        coe.json(&["cluster", "show", "apps"]).await["cluster_template_id"],
        plain["uuid"]
    );
    let out = coe
        .ok(&[
            "cluster",
            "update",
            "--rollback",
            "apps",
            "--node-count",
            "2",
        ])
        .await;
    assert!(
        out.contains("Request to update cluster apps has been accepted."),
        "{out}"
    );
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    let out = magnum
        .ok(&[
            "cluster-update",
            "--rollback",
            "apps",
            "replace",
            "node_count=1",
        ])
        .await;
    assert!(
        out.contains("Request to update cluster apps has been accepted."),
        "{out}"
    );
    wait_cluster(&e2e, "apps", "UPDATE_COMPLETE").await;
    assert_eq!(
        coe.json(&["cluster", "show", "apps"]).await["node_count"],
        1
    );

    // A TLS-less cluster's kubeconfig needs only the cluster and its template.
    let api = coe.json(&["cluster", "show", "open"]).await["api_address"]
        .as_str()
        .unwrap()
        .to_owned();
    for (cli, args, d) in [
        (&coe, vec!["cluster", "config", "open", "--dir"], &v5_dir),
        (&magnum, vec!["cluster-config", "open", "--dir"], &v4_dir),
    ] {
        let d_str = d.to_str().unwrap();
        let out = cli.ok(&[&args[..], &[d_str]].concat()).await;
        assert!(
            out.contains(&format!("export KUBECONFIG={d_str}/config")),
            "{out}"
        );
        let config = std::fs::read_to_string(d.join("config")).unwrap();
        assert!(config.contains(&format!("server: {api}")), "{config}");
    }

    let _ = std::fs::remove_dir_all(dir);
}

/// A request as python-magnumclient's `cluster config` makes it (RSA 2048, `CN=admin,
/// O=system:masters`).
const MAGNUMCLIENT_CSR: &str =
    include_str!("../../crates/magnum-drivers/tests/data/magnumclient.csr");

/// `[kubernetes]` lines naming a fresh client CA written to the temporary directory.
fn client_ca_config() -> String {
    let ca = magnum_test_support::TestCa::generate("magnum e2e client CA");
    let (cert, key) = ca.write(
        &std::env::temp_dir(),
        &format!(
            "magnum-e2e-client-ca-{}",
            magnum_test_support::unique_suffix()
        ),
    );
    format!(
        "[kubernetes]\nclient_ca_cert = {}\nclient_ca_key = {}\n",
        cert.display(),
        key.display()
    )
}

/// The PEM block in what a command printed (4.11.0 prints a deprecation warning first).
fn pem_in(printed: &str) -> &str {
    printed
        .find("-----BEGIN")
        .map_or(printed, |start| &printed[start..])
        .trim()
}

/// The subject of the PEM certificate `printed` holds.
fn certificate_subject(printed: &str) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let der = pem::parse(pem_in(printed))
        .expect("a PEM certificate")
        .into_contents();
    let (_, cert) = X509Certificate::from_der(&der).expect("a certificate");
    cert.subject().to_string()
}

/// The group bound to the bay's certificates in its namespace.
fn certificate_group(double: &KubeDouble, bay: &str) -> String {
    double
        .get(
            "rbac.authorization.k8s.io/v1/rolebindings",
            Some(&format!("magnum-{bay}")),
            "magnum-bay-certificates",
        )
        .expect("the bay's certificate binding")["subjects"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Checks a kubeconfig `cluster config` wrote: kube-rs loads it, it trusts the cluster's CA and
/// presents a client certificate naming `user` inside bay `uuid`.
async fn check_kubeconfig(path: &std::path::Path, double: &KubeDouble, uuid: &str, user: &str) {
    let file = kube::config::Kubeconfig::read_from(path).expect("a kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube-rs reads the kubeconfig");
    assert_eq!(
        config.cluster_url.to_string().trim_end_matches('/'),
        double.url()
    );
    let ca = pem::parse(double.serving_ca_pem()).unwrap().into_contents();
    assert_eq!(config.root_cert, Some(vec![ca]));
    let text = std::fs::read_to_string(path).unwrap();
    let cert = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-certificate-data: "))
        .expect("client-certificate-data");
    use base64::Engine as _;
    let cert = base64::engine::general_purpose::STANDARD
        .decode(cert)
        .expect("base64");
    assert_eq!(
        certificate_subject(&String::from_utf8(cert).unwrap()),
        format!("CN=magnum:bay:{uuid}:{user}, O=magnum:bay:{uuid}:g0")
    );
}

#[tokio::test]
async fn clients_cluster_config_ca_and_credential_commands_for_a_tls_cluster() {
    let (double, e2e) = kube_deployment(1, &client_ca_config()).await;
    e2e.wait_for_conductor().await;
    let coe = Cli::v5_noauth(&e2e, "alice:demo");
    let magnum = Cli::v4_noauth(&e2e, "alice:demo");
    let dir = std::env::temp_dir().join(format!(
        "magnum-e2e-clients-{}",
        magnum_test_support::unique_suffix()
    ));
    let (v5_dir, v4_dir) = (dir.join("v5"), dir.join("v4"));
    for d in [&v5_dir, &v4_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    coe.ok(&[
        "cluster",
        "template",
        "create",
        "k8s",
        "--coe",
        "kubernetes",
        "--image",
        "fcos",
        "--external-network",
        "public",
    ])
    .await;
    coe.ok(&["cluster", "create", "apps", "--cluster-template", "k8s"])
        .await;
    wait_cluster(&e2e, "apps", "CREATE_COMPLETE").await;
    let uuid = e2e.get("/v1/clusters/apps").await.expect(200)["uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // `cluster config` fetches the CA, has a certificate signed for a fresh key and writes a
    // kubeconfig that names both.
    let out = coe
        .ok(&[
            "cluster",
            "config",
            "apps",
            "--dir",
            v5_dir.to_str().unwrap(),
        ])
        .await;
    let config = v5_dir.join("config");
    assert!(
        out.contains(&format!("export KUBECONFIG={}", config.display())),
        "{out}"
    );
    check_kubeconfig(&config, &double, &uuid, "alice").await;
    let out = magnum
        .ok(&["cluster-config", "apps", "--dir", v4_dir.to_str().unwrap()])
        .await;
    assert!(out.contains("export KUBECONFIG="), "{out}");
    // 4.11.0 writes the CA, the key and the signed certificate as files next to a kubeconfig
    // that does not name them (its config_cluster is called without the certificates).
    let read = |name: &str| std::fs::read_to_string(v4_dir.join(name)).unwrap();
    assert_eq!(read("ca.pem"), double.serving_ca_pem());
    assert_eq!(
        certificate_subject(&read("cert.pem")),
        format!("CN=magnum:bay:{uuid}:alice, O=magnum:bay:{uuid}:g0")
    );
    assert!(read("key.pem").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(read("config").contains(&format!("server: {}", double.url())));

    // `ca show` prints the cluster's CA; `ca sign` a certificate for the bay, whatever the
    // request's subject.
    assert_eq!(
        coe.ok(&["ca", "show", "apps"]).await.trim(),
        double.serving_ca_pem().trim()
    );
    assert_eq!(
        pem_in(&magnum.ok(&["ca-show", "apps"]).await),
        double.serving_ca_pem().trim()
    );
    let csr = dir.join("client.csr");
    std::fs::write(&csr, MAGNUMCLIENT_CSR).unwrap();
    let csr = csr.to_str().unwrap();
    let expected = format!("CN=magnum:bay:{uuid}:alice, O=magnum:bay:{uuid}:g0");
    assert_eq!(
        certificate_subject(&coe.ok(&["ca", "sign", "apps", csr]).await),
        expected
    );
    assert_eq!(
        certificate_subject(
            &magnum
                .ok(&["ca-sign", "--cluster", "apps", "--csr", csr])
                .await
        ),
        expected
    );
    assert_eq!(
        certificate_group(&double, &uuid),
        format!("magnum:bay:{uuid}:g0")
    );

    // Rotation: every earlier certificate loses the bay's rights.
    let out = coe.ok(&["ca", "rotate", "apps"]).await;
    assert!(
        out.contains(&format!(
            "Request to rotate the CA certificate for cluster {uuid} has been accepted."
        )),
        "{out}"
    );
    assert_eq!(
        certificate_group(&double, &uuid),
        format!("magnum:bay:{uuid}:g1")
    );
    let out = coe.ok(&["credential", "rotate", "apps"]).await;
    assert!(
        out.contains(&format!(
            "Request to rotate credentials for cluster {uuid} accepted."
        )),
        "{out}"
    );
    assert_eq!(
        certificate_group(&double, &uuid),
        format!("magnum:bay:{uuid}:g2")
    );
    // 4.11.0's ca-rotate sends the PATCH, which we serve, then fails on its own reply handling
    // on the token path (magnum-reference.md); the Keystone session path works (keystone test).
    let out = magnum.fails(&["ca-rotate", "--cluster", "apps"]).await;
    assert!(out.contains("object has no attribute 'items'"), "{out}");
    assert_eq!(
        certificate_group(&double, &uuid),
        format!("magnum:bay:{uuid}:g3")
    );
    // Errors print our message.
    let out = coe.fails(&["ca", "show", "nope"]).await;
    assert!(out.contains("Cluster nope could not be found"), "{out}");

    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn clients_docker_bay_swarm_cluster_on_the_real_engines_through_both_clients() {
    let e2e = crate::bays::docker_deployment().await;
    let coe = Cli::v5_noauth(&e2e, "alice:demo");
    let magnum = Cli::v4_noauth(&e2e, "alice:demo");
    let ct = coe
        .json(&[
            "cluster",
            "template",
            "create",
            "swarm",
            "--coe",
            "swarm",
            "--image",
            "magnum-test/busybox",
            "--external-network",
            "public",
        ])
        .await;
    assert_eq!(ct["coe"], "swarm");
    let out = magnum
        .ok(&[
            "cluster-create",
            "hive",
            "--cluster-template",
            "swarm",
            "--node-count",
            "1",
        ])
        .await;
    assert!(out.contains("Request to create cluster"), "{out}");
    wait_cluster(&e2e, "hive", "CREATE_COMPLETE").await;
    let shown = coe.json(&["cluster", "show", "hive"]).await;
    assert_eq!(shown["cluster_template_id"], ct["uuid"]);
    assert_eq!(shown["node_count"], 1);
    let listed = rows(&magnum.ok(&["cluster-list"]).await);
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["status"].as_str()),
        ("hive", "CREATE_COMPLETE")
    );
    let groups = coe.json(&["nodegroup", "list", "hive"]).await;
    assert!(
        names(&groups).contains(&"default-worker".to_owned()),
        "{groups}"
    );
    let out = coe.ok(&["cluster", "delete", "hive"]).await;
    assert!(out.contains("Request to delete cluster hive"), "{out}");
    wait_cluster_gone(&e2e, "hive").await;
    coe.ok(&["cluster", "template", "delete", "swarm"]).await;
    assert_eq!(coe.json(&["cluster", "template", "list"]).await, json!([]));
}

/// The `export` lines `cluster config` prints, as (name, value) pairs.
fn exports(printed: &str) -> BTreeMap<String, String> {
    printed
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A TLS swarm cluster behind the conductor's Docker client proxy (specs/0005): `cluster config`
/// of both clients writes a bundle and prints the environment, and the real docker CLI works
/// with exactly that.
#[tokio::test]
async fn clients_docker_bay_cluster_config_bundle_drives_the_docker_cli() {
    let stack = crate::docker_proxy::proxy_deployment().await;
    let e2e = &stack.e2e;
    let coe = Cli::v5_noauth(e2e, "alice:demo");
    let magnum = Cli::v4_noauth(e2e, "alice:demo");
    let ct = coe
        .json(&[
            "cluster",
            "template",
            "create",
            "swarm-tls",
            "--coe",
            "swarm",
            "--image",
            "magnum-test/busybox",
            "--external-network",
            "public",
        ])
        .await;
    assert_eq!(ct["tls_disabled"], false);
    coe.ok(&[
        "cluster",
        "create",
        "hive",
        "--cluster-template",
        "swarm-tls",
        "--node-count",
        "1",
    ])
    .await;
    wait_cluster(e2e, "hive", "CREATE_COMPLETE").await;
    let shown = coe.json(&["cluster", "show", "hive"]).await;
    assert_eq!(shown["api_address"], stack.host.as_str());

    let (v5_dir, v4_dir) = (stack.dir.join("v5"), stack.dir.join("v4"));
    for d in [&v5_dir, &v4_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let v5 = coe
        .ok(&[
            "cluster",
            "config",
            "hive",
            "--dir",
            v5_dir.to_str().unwrap(),
            "--output-certs",
        ])
        .await;
    let v4 = magnum
        .ok(&["cluster-config", "hive", "--dir", v4_dir.to_str().unwrap()])
        .await;
    for (label, printed, dir) in [("5.0.0", &v5, &v5_dir), ("4.11.0", &v4, &v4_dir)] {
        let env = exports(printed);
        assert_eq!(env["DOCKER_HOST"], stack.host, "[{label}] {printed}");
        assert_eq!(env["DOCKER_CERT_PATH"], dir.to_str().unwrap(), "[{label}]");
        assert_eq!(env["DOCKER_TLS_VERIFY"], "True", "[{label}]");
        let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
        assert_eq!(
            ca, stack.proxy_ca.cert_pem,
            "[{label}] the cluster CA is the proxy's"
        );
        // The docker CLI with nothing but the printed environment: a foreground run (attach,
        // wait and remove through the proxy), then an empty list.
        let docker = |args: &[&str]| {
            std::process::Command::new(crate::docker_proxy::docker_cli())
                .args(args)
                .env_remove("DOCKER_CONTEXT")
                .envs(&env)
                .output()
                .expect("the docker CLI runs")
        };
        let run = docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "magnum-test/busybox",
            "echo",
            label,
        ]);
        assert!(
            run.status.success(),
            "[{label}] docker run: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), label);
        let ps = docker(&["ps", "-a", "-q"]);
        assert!(
            ps.status.success(),
            "{}",
            String::from_utf8_lossy(&ps.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "", "[{label}]");
    }
    coe.ok(&["cluster", "delete", "hive"]).await;
    wait_cluster_gone(e2e, "hive").await;
    coe.ok(&["cluster", "template", "delete", "swarm-tls"])
        .await;
}
