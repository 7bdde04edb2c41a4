//! magnum-conductor: consumes the RPC topic, owns the database, and (later) drives bay backends.
//! `main.rs` only parses the command line; everything here is callable from tests.

mod backends;
mod config;
mod converge;
mod dispatch;
mod handlers;
mod heartbeat;
mod reconcile;

pub use config::ConductorConfig;
pub use dispatch::Conductor;

use anyhow::Context as _;
use sqlx::postgres::PgPoolOptions;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}

fn pool(cfg: &ConductorConfig) -> anyhow::Result<sqlx::PgPool> {
    let url = cfg.database.url()?;
    Ok(PgPoolOptions::new()
        .max_connections(cfg.database.max_pool_size.max(1))
        .acquire_timeout(Duration::from_secs(cfg.database.pool_timeout.max(1)))
        // Connect on demand: the conductor starts, and recovers, while the database is away.
        .connect_lazy(&url)?)
}

/// `magnum-conductor db upgrade`: applies pending migrations.
pub async fn db_upgrade(cfg: &ConductorConfig) -> anyhow::Result<()> {
    let pool = pool(cfg)?;
    magnum_db::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    tracing::info!(version = ?latest_applied(&pool).await?, "database schema is up to date");
    Ok(())
}

/// `magnum-conductor db version`: prints the applied schema version (0 if none).
pub async fn db_version(cfg: &ConductorConfig) -> anyhow::Result<()> {
    let pool = pool(cfg)?;
    let version = latest_applied(&pool).await?.unwrap_or(0);
    writeln!(std::io::stdout(), "{version}")?;
    Ok(())
}

async fn latest_applied(pool: &sqlx::PgPool) -> anyhow::Result<Option<i64>> {
    use sqlx::migrate::Migrate as _;
    let mut conn = pool.acquire().await.context("connecting to the database")?;
    let table = &magnum_db::MIGRATOR.table_name;
    conn.ensure_migrations_table(table).await?;
    let applied = conn.list_applied_migrations(table).await?;
    Ok(applied.iter().map(|m| m.version).max())
}

/// Runs the RPC server, the bay reconciler and the heartbeat until `shutdown`; then lets bay
/// work hand its leases back and leaves the services table.
pub async fn run(cfg: ConductorConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let transport = cfg.transport()?;
    let backends = backends::Backends::new(&cfg).await?;
    let conductor = Arc::new(Conductor::new(
        &cfg,
        pool(&cfg)?,
        backends,
        shutdown.clone(),
    ));
    tracing::info!(server = %conductor.server_name(), host = %conductor.host(), "starting magnum-conductor");
    let mut tasks = JoinSet::new();
    let server = magnum_rpc::RpcServer::new(transport, conductor.server_name());
    tasks.spawn(server.serve(
        Arc::new(dispatch::Handlers(Arc::clone(&conductor))),
        shutdown.clone(),
    ));
    tasks.spawn(heartbeat::report(
        Arc::clone(&conductor),
        cfg.conductor.heartbeat_every(),
        shutdown.clone(),
    ));
    tasks.spawn(reconcile::run(
        Arc::clone(&conductor),
        cfg.conductor.periodic_every(),
        shutdown.clone(),
    ));
    while tasks.join_next().await.is_some() {
        shutdown.cancel(); // one task ending stops the others
    }
    conductor.work.close();
    conductor.work.wait().await;
    conductor.leave().await;
    Ok(())
}
