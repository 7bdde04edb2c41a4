//! `magnum-conductor`: serves the RPC API over AMQP and owns the database.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc instead of glibc malloc: allocation was ~30 % of the daemon's CPU under load
/// (doc/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Magnum's conductor: persists objects and drives the bay backends.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// oslo-style INI file; may be repeated, later files win.
    #[arg(long = "config-file", default_value = "/etc/magnum/magnum.conf")]
    config_file: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Database schema management.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
}

#[derive(Debug, Subcommand)]
enum DbAction {
    /// Applies every pending migration.
    Upgrade,
    /// Prints the schema version.
    Version,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg: magnum_conductor::ConductorConfig = magnum_config::load(&cli.config_file)?;
    let logging = magnum_daemon::Logging::init(cfg.default.debug);
    match cli.command {
        None => {
            let reload = magnum_conductor::Reload {
                files: cli.config_file,
                logging,
            };
            magnum_conductor::run(cfg, reload, magnum_daemon::shutdown_signal()).await
        }
        Some(Command::Db {
            action: DbAction::Upgrade,
        }) => magnum_conductor::db_upgrade(&cfg).await,
        Some(Command::Db {
            action: DbAction::Version,
        }) => magnum_conductor::db_version(&cfg).await,
    }
}
