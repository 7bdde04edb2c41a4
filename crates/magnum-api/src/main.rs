//! `magnum-api`: the OpenStack Magnum REST API daemon.

use clap::Parser;
use std::path::PathBuf;

/// mimalloc instead of glibc malloc: allocation was ~30 % of the daemon's CPU under load
/// (doc/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Magnum's REST API: authenticates, authorizes and validates, then calls the conductor.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// oslo-style INI file; may be repeated, later files win.
    #[arg(long = "config-file", default_value = "/etc/magnum/magnum.conf")]
    config_file: Vec<PathBuf>,
    /// Print the policy sample (every rule at its compiled-in default) and exit.
    #[arg(long)]
    print_policy_defaults: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_policy_defaults {
        use std::io::Write as _;
        std::io::stdout().write_all(magnum_api::policy_sample().as_bytes())?;
        return Ok(());
    }
    let cfg: magnum_api::ApiConfig = magnum_config::load(&cli.config_file)?;
    let logging = magnum_daemon::Logging::init(cfg.default.debug);
    let reload = magnum_api::Reload {
        files: cli.config_file,
        logging,
    };
    magnum_api::run(cfg, reload, magnum_daemon::shutdown_signal()).await
}
