//! Runs both daemons as child processes, the way operators run them.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where `cargo build --bins` left the daemons: the directory above the test binary's `deps/`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

fn config_args(base: &std::path::Path, overrides: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec![
        "--config-file".into(),
        base.into(),
        "--config-file".into(),
        overrides.into(),
    ]
}

/// Options for [`Deployment::start_with`].
#[derive(Debug, Default)]
pub struct DeploymentBuilder {
    extra_config: String,
    conductors: usize,
    start_api: bool,
    wait: bool,
    api_log_from_config: bool,
}

impl DeploymentBuilder {
    /// Adds INI text after the generated configuration (later sections win).
    pub fn config(mut self, ini: &str) -> Self {
        self.extra_config.push_str(ini);
        self.extra_config.push('\n');
        self
    }

    /// Number of conductors to start (default 1; 0 for none).
    pub fn conductors(mut self, n: usize) -> Self {
        self.conductors = n;
        self
    }

    /// Starts the API too (default true).
    pub fn without_api(mut self) -> Self {
        self.start_api = false;
        self
    }

    /// Runs the API without `RUST_LOG`, so its log level comes from `[DEFAULT] debug` (and a
    /// `SIGHUP` can change it).
    pub fn api_log_from_config(mut self) -> Self {
        self.api_log_from_config = true;
        self
    }

    /// Returns as soon as the API listens, without waiting until it reaches a conductor.
    pub fn without_waiting(mut self) -> Self {
        self.wait = false;
        self
    }

    /// Starts the deployment.
    pub async fn start(self) -> Deployment {
        Deployment::start_with(self).await
    }
}

/// Both daemons on a fresh database and a private exchange and topic.
#[derive(Debug)]
pub struct Deployment {
    /// Base URL of the API, e.g. `http://127.0.0.1:40123`.
    pub base: String,
    /// URL of the API's Prometheus metrics, e.g. `http://127.0.0.1:40124/metrics`.
    pub api_metrics: String,
    /// The configuration file both daemons read first.
    pub config_file: PathBuf,
    /// The test's own settings, read after `config_file`.
    pub override_file: PathBuf,
    /// Database URL of this deployment.
    pub database_url: String,
    /// The private control exchange.
    pub exchange: String,
    /// The private conductor topic.
    pub topic: String,
    database: String,
    dir: PathBuf,
    api: Option<Child>,
    api_log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    conductors: Vec<Child>,
    http: reqwest::Client,
}

/// An HTTP answer with its body parsed as JSON (null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON.
    pub json: Value,
    /// Body as text.
    pub text: String,
}

impl Reply {
    /// Asserts the status, showing the body otherwise; returns the JSON.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    /// The OpenStack error message (`errors[0].detail`), asserting both body shapes exist.
    #[track_caller]
    pub fn error_message(&self) -> String {
        let detail = self.json["errors"][0]["detail"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("no errors[0].detail in {}", self.text);
            });
        let legacy: Value =
            serde_json::from_str(self.json["error_message"].as_str().unwrap_or("{}"))
                .expect("error_message holds JSON text");
        assert_eq!(
            legacy["faultstring"], detail,
            "both error shapes carry the message"
        );
        detail.to_owned()
    }
}

impl Deployment {
    /// One API and one conductor.
    pub async fn start() -> Deployment {
        Self::builder().start().await
    }

    /// Options for a deployment.
    pub fn builder() -> DeploymentBuilder {
        DeploymentBuilder {
            extra_config: String::new(),
            conductors: 1,
            start_api: true,
            wait: true,
            api_log_from_config: false,
        }
    }

    async fn start_with(options: DeploymentBuilder) -> Deployment {
        let suffix = crate::unique_suffix();
        let database = format!("magnum_e2e_{suffix}");
        let admin_url = crate::database_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL reachable");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .await
            .expect("create db");
        let database_url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{database}"),
            None => panic!("DATABASE_URL has no database name"),
        };
        let amqp = crate::amqp_url();
        let transport = amqp.replacen("amqp://", "rabbit://", 1);
        let dir = std::env::temp_dir().join(format!("magnum-e2e-{suffix}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let exchange = format!("magnum-e2e-{suffix}");
        let topic = format!("magnum-conductor-{suffix}");
        let config = format!(
            "[DEFAULT]\ntransport_url = {transport}\ncontrol_exchange = {exchange}\n\
             auth_strategy = noauth\nrpc_response_timeout = 20\ngraceful_shutdown_timeout = 5\n\
             [api]\nhost = 127.0.0.1\nport = 0\n\
             [conductor]\ntopic = {topic}\nheartbeat_interval = 1\n\
             [database]\nconnection = {database_url}\n\
             [rpc]\npresence_check_interval = 0.2\n\
             [oslo_messaging_rabbit]\nrabbit_transient_queues_ttl = 120\n\
             [metrics]\napi_port = 0\nconductor_port = 0\n"
        );
        let config_file = dir.join("magnum.conf");
        std::fs::write(&config_file, config).expect("write config");
        // The test's own settings go in a second file, as operators layer theirs: later files
        // override single options of earlier ones.
        let override_file = dir.join("override.conf");
        std::fs::write(&override_file, &options.extra_config).expect("write config");
        let status = Command::new(binary("magnum-conductor"))
            .args(config_args(&config_file, &override_file))
            .args(["db", "upgrade"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .await
            .expect("run db upgrade");
        assert!(status.success(), "magnum-conductor db upgrade failed");
        let mut deployment = Deployment {
            base: String::new(),
            api_metrics: String::new(),
            config_file,
            override_file,
            database_url,
            exchange,
            topic,
            database,
            dir,
            api: None,
            api_log: std::sync::Arc::default(),
            conductors: Vec::new(),
            http: crate::http_client(),
        };
        for _ in 0..options.conductors {
            deployment.start_conductor();
        }
        if options.start_api {
            deployment.start_api(options.api_log_from_config).await;
            if options.conductors > 0 && options.wait {
                deployment.wait_for_conductor().await;
            }
        }
        deployment
    }

    /// Starts another conductor process.
    pub fn start_conductor(&mut self) {
        let child = Command::new(binary("magnum-conductor"))
            .args(self.config_args())
            .env(
                "RUST_LOG",
                std::env::var("MAGNUM_E2E_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start magnum-conductor");
        self.conductors.push(child);
    }

    /// The `--config-file` arguments the daemons of this deployment get.
    pub fn config_args(&self) -> Vec<std::ffi::OsString> {
        config_args(&self.config_file, &self.override_file)
    }

    /// Process ids of the running conductors.
    pub fn conductor_pids(&self) -> Vec<u32> {
        self.conductors.iter().filter_map(Child::id).collect()
    }

    /// Kills conductor `index` with SIGKILL.
    pub async fn kill_conductor(&mut self, index: usize) {
        let mut child = self.conductors.remove(index);
        child.kill().await.expect("kill conductor");
    }

    /// Sends SIGTERM to conductor `index` and waits for it to exit.
    pub async fn stop_conductor(&mut self, index: usize) -> std::process::ExitStatus {
        let mut child = self.conductors.remove(index);
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("conductor exits after SIGTERM")
            .expect("wait")
    }

    async fn start_api(&mut self, log_from_config: bool) {
        let mut command = Command::new(binary("magnum-api"));
        if log_from_config {
            command.env_remove("RUST_LOG");
        } else {
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .args(self.config_args())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start magnum-api");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut metrics = String::new();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("metrics on ") {
                    metrics = line[at + "metrics on ".len()..].trim().to_owned();
                }
                if let Some(at) = line.find("listening on ") {
                    return line[at + "listening on ".len()..].trim().to_owned();
                }
            }
            panic!("magnum-api exited before listening");
        })
        .await
        .expect("magnum-api starts listening");
        // Keep draining (and showing) the API's log so it never blocks on a full pipe; the last
        // lines stay readable through `api_log`.
        let kept = std::sync::Arc::clone(&self.api_log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if std::env::var_os("MAGNUM_E2E_LOG").is_some() {
                    eprintln!("[api] {line}");
                }
                let mut kept = kept
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if kept.len() >= 1000 {
                    kept.drain(..500);
                }
                kept.push(line);
            }
        });
        self.base = format!("http://{addr}");
        self.api_metrics = metrics;
        self.api = Some(child);
    }

    /// The API's most recent log lines (up to 1000).
    pub fn api_log(&self) -> Vec<String> {
        self.api_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the test's own configuration file (read after the generated one), e.g. before
    /// a `SIGHUP`.
    pub fn rewrite_override(&self, ini: &str) {
        std::fs::write(&self.override_file, ini).expect("write the override file");
    }

    /// Sends `signal` (`TERM`, `HUP`, …) to the API process.
    pub async fn signal_api(&self, signal: &str) {
        let pid = self.api.as_ref().and_then(Child::id).expect("the API runs");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .await
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Waits (up to `limit`) for the API process to exit and returns its status.
    pub async fn wait_api_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.api.take().expect("the API runs");
        tokio::time::timeout(limit, child.wait())
            .await
            .expect("magnum-api exits in time")
            .expect("wait for magnum-api")
    }

    /// The text of a Prometheus endpoint.
    pub async fn scrape(&self, url: &str) -> String {
        self.http
            .get(url)
            .send()
            .await
            .expect("metrics endpoint answers")
            .text()
            .await
            .unwrap_or_default()
    }

    /// Waits until the API reaches a conductor.
    pub async fn wait_for_conductor(&self) {
        crate::eventually(
            "the API reaches a conductor",
            Duration::from_secs(60),
            || async { self.get("/v1/baymodels").await.status != StatusCode::SERVICE_UNAVAILABLE },
        )
        .await;
    }

    /// Sends a request as project `demo`, user `alice`, role member (noauth headers).
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.request_as(("alice", "demo", "member"), method, path, body)
            .await
    }

    /// Sends a request as `(user, project, roles)`.
    pub async fn request_as(
        &self,
        who: (&str, &str, &str),
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-User-Id", who.0)
            .header("X-Project-Id", who.1)
            .header("X-Roles", who.2);
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("request sent");
        Self::reply(resp).await
    }

    /// Sends a request carrying `X-Auth-Token: token` (none when `None`) and no identity
    /// headers, as a Keystone client does, plus `headers`.
    pub async fn request_with_token(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("X-Auth-Token", token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("request sent");
        Self::reply(resp).await
    }

    /// Sends a raw body with arbitrary headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-User-Id", "alice")
            .header("X-Project-Id", "demo")
            .header("X-Roles", "member");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body).send().await.expect("request sent");
        Self::reply(resp).await
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// `GET` as the default tenant.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    /// `POST` JSON as the default tenant.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::POST, path, Some(body)).await
    }

    /// `PATCH` JSON as the default tenant.
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE` as the default tenant.
    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, None).await
    }

    /// Runs SQL against this deployment's database and returns the first column of each row
    /// as text.
    pub async fn sql(&self, query: &str) -> Vec<Option<String>> {
        use sqlx::Row;
        let mut conn = PgConnection::connect(&self.database_url)
            .await
            .expect("connect");
        let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_all(&mut conn)
            .await
            .expect("query");
        rows.iter()
            .map(|r| r.try_get::<Option<String>, _>(0).expect("text column"))
            .collect()
    }

    /// Counts rows of `table` in this deployment's database.
    pub async fn count(&self, table: &str) -> i64 {
        let mut conn = PgConnection::connect(&self.database_url)
            .await
            .expect("connect");
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut conn)
            .await
            .expect("count")
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for child in self.conductors.iter_mut().chain(self.api.iter_mut()) {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        // Dropping the database needs the daemons gone; psql keeps Drop synchronous.
        let admin_url = crate::database_url();
        let _ = std::process::Command::new("psql")
            .arg(&admin_url)
            .args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
