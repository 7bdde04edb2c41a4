//! `magnum-bench`: brings up magnum-api and magnum-conductor (release builds) on a scratch
//! database and a private RPC topic, loads them over HTTP and AMQP for a bounded time per
//! scenario, and prints one table (doc/benchmarks.md). Not a test: nothing here is timed in CI.

mod cpu;
mod load;
mod report;
mod scenarios;
mod stack;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Benchmarks both daemons over loopback and prints req/s, latency percentiles and RSS.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// Seconds of measured load per scenario.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) duration: f64,
    /// Seconds of unmeasured load before each scenario's measurement.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) warmup: f64,
    /// Concurrent HTTP/1.1 connections (and concurrent RPC calls).
    #[arg(long, default_value_t = 16)]
    pub(crate) connections: usize,
    /// Scenarios to run, in order (repeat or comma-separate); all when absent.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) scenario: Vec<Scenario>,
    /// Use the binaries already in the target directory instead of `cargo build --release
    /// --bins`.
    #[arg(long)]
    pub(crate) skip_build: bool,
    /// Directory holding release `magnum-api` and `magnum-conductor` (default: next to this
    /// binary).
    #[arg(long)]
    pub(crate) bin_dir: Option<PathBuf>,
    /// Bays inserted for the bay list scenario.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) bays: u32,
    /// Baymodels created for the list and show scenarios.
    #[arg(long, default_value_t = 100)]
    pub(crate) baymodels: u32,
    /// Containers taken to Running per path (API and Docker) in the container scenario.
    #[arg(long, default_value_t = 10)]
    pub(crate) container_runs: u32,
    /// Threads of the load generator's runtime (it shares the machine with the daemons).
    #[arg(long, default_value_t = 1)]
    pub(crate) client_threads: usize,
    /// Extra INI text appended to the daemons' configuration (e.g. "[conductor]\nworkers = 32").
    #[arg(long)]
    pub(crate) extra_config: Option<String>,
    /// Leave the daemons running after the table until Ctrl-C (for profiling).
    #[arg(long)]
    pub(crate) hold: bool,
}

/// One benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// `GET /`: the version document.
    Version,
    /// `GET /v1/baymodels` returning every seeded baymodel.
    List,
    /// `GET /v1/baymodels/<uuid>`.
    Show,
    /// `POST /v1/baymodels` then `DELETE` of the created one: one pair.
    CreateDelete,
    /// `GET /v1/bays?limit=100&marker=<random>` over the seeded bays.
    BayList,
    /// `ping_conductor` RPC calls straight over AMQP.
    Rpc,
    /// A container taken to Running through the API, next to the same through Docker's API.
    Container,
}

impl Scenario {
    /// Every scenario, in the default order.
    pub(crate) const ALL: [Scenario; 7] = [
        Scenario::Version,
        Scenario::List,
        Scenario::Show,
        Scenario::CreateDelete,
        Scenario::Rpc,
        Scenario::BayList,
        Scenario::Container,
    ];
}

impl Cli {
    /// The scenarios to run.
    pub(crate) fn scenarios(&self) -> Vec<Scenario> {
        if self.scenario.is_empty() {
            Scenario::ALL.to_vec()
        } else {
            self.scenario.clone()
        }
    }

    /// Measured seconds per scenario.
    pub(crate) fn measured(&self) -> Duration {
        Duration::from_secs_f64(self.duration.max(0.1))
    }

    /// Warm-up seconds per scenario.
    pub(crate) fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup.max(0.0))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.client_threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(scenarios::run(cli))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_with_defaults_and_scenario_lists() {
        let cli = Cli::try_parse_from(["magnum-bench"]).unwrap();
        assert_eq!(cli.connections, 16);
        assert_eq!(cli.measured(), Duration::from_secs(20));
        assert_eq!(cli.scenarios(), Scenario::ALL.to_vec());
        let cli = Cli::try_parse_from([
            "magnum-bench",
            "--duration",
            "5",
            "--connections",
            "4",
            "--scenario",
            "show,create-delete",
            "--scenario",
            "bay-list",
            "--skip-build",
        ])
        .unwrap();
        assert_eq!(
            cli.scenarios(),
            vec![Scenario::Show, Scenario::CreateDelete, Scenario::BayList]
        );
        assert!(cli.skip_build && cli.connections == 4);
        assert!(Cli::try_parse_from(["magnum-bench", "--scenario", "nope"]).is_err());
    }
}
