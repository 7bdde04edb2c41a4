//! magnum-api: the OpenStack Magnum REST API. It authenticates tenants, checks policy, validates
//! requests and calls magnum-conductor over AMQP; it holds no database credentials and links no
//! backend driver. `main.rs` only parses the command line; everything here is callable from tests.

mod config;
mod error;
mod error_body;
mod extract;
mod handlers;
mod links;
mod list_query;
mod manifest_fetch;
mod microversion;
mod middleware;
mod router;
mod state;
mod versions;
mod views;

pub use config::ApiConfig;

use anyhow::Context as _;
use axum::ServiceExt;
use axum::extract::Request;
use magnum_auth::{NoauthDefaults, Policy};
use magnum_core::baymodel::BayModelRules;
use tokio_util::sync::CancellationToken;
use tower::Layer as _;

/// Logs to stderr; `RUST_LOG` overrides the level that `[DEFAULT] debug` picks.
pub fn init_tracing(debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A token cancelled by SIGTERM or ctrl-c.
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}

fn policy(cfg: &ApiConfig) -> anyhow::Result<Policy> {
    let policy = Policy::defaults(cfg.oslo_policy.enforce_new_defaults);
    match &cfg.oslo_policy.policy_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading policy file {}", path.display()))?;
            Ok(policy.with_overrides(&text)?)
        }
        None => Ok(policy),
    }
}

/// Serves the API until `shutdown`; logs `listening on <addr>` once bound.
pub async fn run(cfg: ApiConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    if cfg.default.auth_strategy != "noauth" {
        anyhow::bail!(
            "[DEFAULT] auth_strategy = {:?} is not available in this build; use noauth",
            cfg.default.auth_strategy
        );
    }
    tracing::warn!(
        "auth_strategy = noauth: identities come from request headers (development only)"
    );
    let cap = cfg.upgrade_levels.cap().map_err(anyhow::Error::msg)?;
    let rpc = magnum_rpc::RpcClient::start(cfg.transport()?, cap, shutdown.clone());
    let noauth = NoauthDefaults {
        default_user_id: cfg.noauth.default_user_id.clone(),
        default_project_id: cfg.noauth.default_project_id.clone(),
        default_roles: cfg.noauth.default_roles.clone(),
    };
    let rules = BayModelRules {
        kubernetes_allowed_network_drivers: cfg
            .cluster_template
            .kubernetes_allowed_network_drivers
            .clone(),
    };
    let manifests = manifest_fetch::ManifestFetcher::new(
        std::time::Duration::from_secs(cfg.api.manifest_fetch_timeout),
        manifest_fetch::parse_cidrs(&cfg.api.manifest_url_denied_cidrs)?,
        cfg.default.max_manifest_size,
    )?;
    let state = state::AppState::new(
        rpc,
        policy(&cfg)?,
        noauth,
        rules,
        &cfg.api,
        manifests,
        &cfg.default,
    );
    let app = router::router(state, cfg.api.max_request_body_size);
    // Path normalisation must run before routing, so it wraps the router.
    let app = axum::middleware::map_request(middleware::normalize_path_async).layer(app);
    let listener = tokio::net::TcpListener::bind((cfg.api.host.as_str(), cfg.api.port))
        .await
        .with_context(|| format!("binding {}:{}", cfg.api.host, cfg.api.port))?;
    tracing::info!("listening on {}", listener.local_addr()?);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
