//! What magnum-api and magnum-conductor share as daemons: logging whose level `SIGHUP` can
//! change, the shutdown and reload signals, and the Prometheus `/metrics` endpoint.

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The log filter of the running process, changeable at run time.
#[derive(Debug, Clone)]
pub struct Logging {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    from_env: bool,
}

fn level(debug: bool) -> &'static str {
    if debug { "debug" } else { "info" }
}

impl Logging {
    /// Logs to stderr at `info` (`debug` with `[DEFAULT] debug`); `RUST_LOG`, when set, wins
    /// and is never replaced by a reload.
    pub fn init(debug: bool) -> Logging {
        let from_env = std::env::var_os("RUST_LOG").is_some();
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level(debug)));
        let (filter, handle) = reload::Layer::new(filter);
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
            .is_ok();
        Logging {
            handle: installed.then_some(handle),
            from_env,
        }
    }

    /// Applies `[DEFAULT] debug` again (on `SIGHUP`), unless `RUST_LOG` set the filter.
    pub fn set_debug(&self, debug: bool) {
        if self.from_env {
            return;
        }
        let wanted = level(debug);
        if let Some(handle) = &self.handle
            && handle.reload(EnvFilter::new(wanted)).is_ok()
        {
            tracing::info!(level = wanted, "log level reloaded");
        }
    }
}

/// A token cancelled by `SIGTERM` or ctrl-c.
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}

/// Calls `reload` on every `SIGHUP` until `shutdown`.
pub fn on_hangup(shutdown: CancellationToken, reload: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while shutdown
            .run_until_cancelled(hangups.recv())
            .await
            .flatten()
            .is_some()
        {
            tracing::info!("SIGHUP: reloading");
            reload();
        }
    });
}

/// `[metrics]`: where a daemon serves Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MetricsSection {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Address to listen on.
    pub host: String,
    /// magnum-api's metrics port (0: any free port, logged at start).
    pub api_port: u16,
    /// magnum-conductor's metrics port (0: any free port, logged at start).
    pub conductor_port: u16,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            host: "127.0.0.1".into(),
            api_port: 9512,
            conductor_port: 9513,
        }
    }
}

/// Buckets of request and call latencies, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Installs the process's metrics recorder and serves its `/metrics` on `host:port` until
/// `shutdown`; logs `metrics on http://<addr>/metrics`. Does nothing when disabled.
pub async fn serve_metrics(
    section: &MetricsSection,
    port: u16,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if !section.enabled {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .install_recorder()?;
    let listener = tokio::net::TcpListener::bind((section.host.as_str(), port)).await?;
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    let upkeep = handle.clone();
    let ticks = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        while ticks.run_until_cancelled(every.tick()).await.is_some() {
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route("/metrics", get(move || render(handle.clone())));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(())
}

async fn render(handle: PrometheusHandle) -> String {
    handle.render()
}
