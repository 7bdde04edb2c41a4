//! The system under test: services (scripts/lib/services.sh), release binaries, a scratch
//! database, a private exchange/topic, a private Docker Engine, and both daemons.

use anyhow::{Context as _, bail};
use sqlx::{Connection, Executor, PgConnection};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The private Docker Engine of the container scenario: its own socket, data and exec roots,
/// so the bench never claims (or is disturbed by claims on) the Engines tests share.
pub(crate) const DOCKER_SOCK: &str = "/run/magnum-bench-docker.sock";
const DOCKER_PIDFILE: &str = "/run/magnum-bench-docker.pid";
const DOCKER_LOG: &str = "/var/log/magnum-bench-dockerd.log";

/// The repository root (this crate's grandparent).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `DATABASE_URL` as services.sh exports it.
pub(crate) fn admin_database_url() -> String {
    env_or(
        "DATABASE_URL",
        "postgres://magnum:magnum@127.0.0.1:5432/magnum",
    )
}

/// The AMQP URL of the test vhost.
pub(crate) fn amqp_url() -> String {
    env_or(
        "MAGNUM_TEST_AMQP_URL",
        "amqp://magnum:magnum@127.0.0.1:5672/magnum-test",
    )
}

/// Ensures PostgreSQL, RabbitMQ and the bench's own Docker Engine (with the test image) run,
/// through the project's service script. Returns whether this call started the Engine.
pub(crate) async fn ensure_services(with_docker: bool) -> anyhow::Result<bool> {
    let docker_was_up = with_docker && docker_answers().await;
    let mut script = String::from(
        "exec 1>&2; set -euo pipefail; source scripts/lib/services.sh; ensure_postgres; ensure_rabbitmq\n",
    );
    if with_docker {
        script.push_str(&format!(
            "_svc_log_init; _svc_ensure_docker_packages\n\
             _svc_root mkdir -p /var/lib/magnum-bench-docker /run/magnum-bench-docker\n\
             _svc_root touch {DOCKER_LOG}\n\
             _svc_start_dockerd 'bench Docker Engine' {DOCKER_SOCK} {DOCKER_LOG} {DOCKER_PIDFILE} \
               --data-root /var/lib/magnum-bench-docker --exec-root /run/magnum-bench-docker \
               --containerd-namespace magnum-bench --containerd-plugins-namespace magnum-bench-plugins\n\
             ensure_test_image unix://{DOCKER_SOCK}\n"
        ));
    }
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo_root())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .await
        .context("running scripts/lib/services.sh")?;
    if !status.success() {
        bail!("scripts/lib/services.sh could not provide the services");
    }
    Ok(with_docker && !docker_was_up)
}

async fn docker_answers() -> bool {
    match bollard::Docker::connect_with_unix(DOCKER_SOCK, 5, bollard::API_DEFAULT_VERSION) {
        Ok(docker) => docker.ping().await.is_ok(),
        Err(_) => false,
    }
}

/// Stops the bench's Docker Engine (only when this run started it).
pub(crate) fn stop_private_docker() {
    let Ok(pid) = std::fs::read_to_string(DOCKER_PIDFILE) else {
        return;
    };
    let pid = pid.trim();
    if pid.chars().all(|c| c.is_ascii_digit()) && !pid.is_empty() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", pid])
            .status();
    }
}

/// `cargo build --release --bins --locked` in the repository (honours `CARGO_TARGET_DIR`).
pub(crate) async fn build_release() -> anyhow::Result<()> {
    eprintln!("==> cargo build --release --bins --locked");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bins", "--locked"])
        .current_dir(repo_root())
        .status()
        .await
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

/// Where the daemons are: `--bin-dir`, else next to this binary.
pub(crate) fn bin_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match explicit {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("binary directory")?
            .to_path_buf(),
    };
    for name in ["magnum-api", "magnum-conductor"] {
        if !dir.join(name).exists() {
            bail!(
                "{} is missing: build release binaries or pass --bin-dir",
                dir.join(name).display()
            );
        }
    }
    Ok(dir)
}

/// Both daemons on a scratch database and a private exchange and topic.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The API's address.
    pub(crate) addr: SocketAddr,
    /// Scratch database URL.
    pub(crate) database_url: String,
    /// Private exchange.
    pub(crate) exchange: String,
    /// Private topic.
    pub(crate) topic: String,
    database: String,
    dir: PathBuf,
    api: Child,
    conductor: Child,
}

impl Stack {
    /// Creates the database, migrates it and starts the conductor, then the API.
    pub(crate) async fn start(bins: &Path, extra_config: &str) -> anyhow::Result<Stack> {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("magnum_bench_{suffix}");
        let admin_url = admin_database_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .context("PostgreSQL reachable")?;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .await?;
        let database_url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{database}"),
            None => bail!("DATABASE_URL has no database name"),
        };
        let transport = amqp_url().replacen("amqp://", "rabbit://", 1);
        let exchange = format!("magnum-bench-{suffix}");
        let topic = format!("magnum-conductor-bench-{suffix}");
        let dir = std::env::temp_dir().join(format!("magnum-bench-{suffix}"));
        std::fs::create_dir_all(&dir)?;
        let config = format!(
            "[DEFAULT]\ntransport_url = {transport}\ncontrol_exchange = {exchange}\n\
             auth_strategy = noauth\ngraceful_shutdown_timeout = 5\n\
             [api]\nhost = 127.0.0.1\nport = 0\n\
             [conductor]\ntopic = {topic}\n\
             [database]\nconnection = {database_url}\n\
             [oslo_messaging_rabbit]\nrabbit_transient_queues_ttl = 300\n\
             [metrics]\napi_port = 0\nconductor_port = 0\n\
             [docker]\nhosts = unix://{DOCKER_SOCK}\n\
             [quotas]\nmax_clusters_per_project = 100000\n\
             {extra_config}\n"
        );
        let config_file = dir.join("magnum.conf");
        std::fs::write(&config_file, config)?;
        let base = repo_root().join("etc/magnum/magnum.conf");
        let args = vec![
            "--config-file".into(),
            base.into_os_string(),
            "--config-file".into(),
            config_file.into_os_string(),
        ];
        let status = Command::new(bins.join("magnum-conductor"))
            .args(&args)
            .args(["db", "upgrade"])
            .stdout(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("magnum-conductor db upgrade failed");
        }
        let conductor = Command::new(bins.join("magnum-conductor"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting magnum-conductor")?;
        let mut api = Command::new(bins.join("magnum-api"))
            .args(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting magnum-api")?;
        let stderr = api.stderr.take().context("stderr piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("listening on ") {
                    return Some(line[at + "listening on ".len()..].trim().to_owned());
                }
            }
            None
        })
        .await
        .context("magnum-api did not listen within 30 s")?
        .context("magnum-api exited before listening")?;
        // Keep draining the API's log so it never blocks on a full pipe; show warnings.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("[magnum-api] {line}");
                }
            }
        });
        Ok(Stack {
            addr: addr.parse().context("API address")?,
            database_url,
            exchange,
            topic,
            database,
            dir,
            api,
            conductor,
        })
    }

    /// Process id of magnum-api.
    pub(crate) fn api_pid(&self) -> Option<u32> {
        self.api.id()
    }

    /// Process id of magnum-conductor.
    pub(crate) fn conductor_pid(&self) -> Option<u32> {
        self.conductor.id()
    }

    /// Runs SQL against the scratch database.
    pub(crate) async fn sql(&self, query: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.database_url).await?;
        conn.execute(sqlx::AssertSqlSafe(query.to_owned())).await?;
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.api.start_kill();
        let _ = self.conductor.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::process::Command::new("psql")
            .arg(admin_database_url())
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

/// Resident memory of `pid` in MiB (`VmRSS` of /proc/<pid>/status).
pub(crate) fn rss_mib(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}
