//! magnum-conductor: consumes the RPC topic, owns the database, and (later) drives bay backends.
//! `main.rs` only parses the command line; everything here is callable from tests.

mod backends;
mod config;
mod converge;
mod dispatch;
mod docker_proxy;
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

/// A pooled connection idle this long is pinged before use.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(1);

fn pool(cfg: &ConductorConfig) -> anyhow::Result<sqlx::PgPool> {
    let url = cfg.database.url()?;
    Ok(PgPoolOptions::new()
        .max_connections(cfg.database.max_pool_size.max(1))
        // sqlx pings every connection it takes back and drops a broken one, so a second ping
        // on each acquire (its default) was a third database round trip per request
        // (doc/benchmarks.md). Only a connection that sat idle, e.g. through a database
        // restart, is checked, and replaced if the check fails.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
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

/// What `SIGHUP` re-reads: the configuration files, for the log level.
#[derive(Debug, Clone)]
pub struct Reload {
    /// The `--config-file`s, in order.
    pub files: Vec<std::path::PathBuf>,
    /// The process's log filter.
    pub logging: magnum_daemon::Logging,
}

/// Runs the RPC server, the bay reconciler and the heartbeat until `shutdown`; then lets bay
/// work hand its leases back and leaves the services table. `SIGHUP` sets the log level from
/// the configuration files again.
pub async fn run(
    cfg: ConductorConfig,
    reload: Reload,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    magnum_daemon::serve_metrics(&cfg.metrics, cfg.metrics.conductor_port, shutdown.clone())
        .await?;
    magnum_daemon::on_hangup(shutdown.clone(), move || {
        match magnum_config::load::<ConductorConfig>(&reload.files) {
            Ok(fresh) => reload.logging.set_debug(fresh.default.debug),
            Err(e) => tracing::warn!(error = %e, "configuration not reloaded"),
        }
    });
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
    if let Some(access) = conductor.backends.docker_access() {
        tasks.spawn(docker_proxy::bind(Arc::clone(&conductor), access, shutdown.clone()).await?);
    }
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
