//! `magnum-conductor`: serves the RPC API over AMQP and owns the database.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    magnum_conductor::init_tracing(cfg.default.debug);
    match cli.command {
        None => magnum_conductor::run(cfg, magnum_conductor::shutdown_signal()).await,
        Some(Command::Db {
            action: DbAction::Upgrade,
        }) => magnum_conductor::db_upgrade(&cfg).await,
        Some(Command::Db {
            action: DbAction::Version,
        }) => magnum_conductor::db_version(&cfg).await,
    }
}
