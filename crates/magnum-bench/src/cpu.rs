//! Where a scenario's CPU goes: CPU time of the two daemons, the broker, the database and the
//! load generator, read from /proc before and after the scenario, divided by its operations.
//! On a 2-core box every one of them competes for the same cores, so this split says what a
//! faster daemon can and cannot buy (doc/benchmarks.md, "CPU per operation").

use std::time::Instant;

/// Unit of `utime`/`stime` in /proc/<pid>/stat: USER_HZ, 100 on every Linux ABI.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds used so far by each party, and by the machine as a whole.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    at: Instant,
    api: f64,
    conductor: f64,
    /// Every `beam.smp` process (RabbitMQ).
    broker: f64,
    /// Every `postgres` process (the server and its backends).
    database: f64,
    /// This process: the HTTP or AMQP load generator.
    bench: f64,
    /// Machine-wide busy and total seconds, summed over CPUs (/proc/stat).
    busy: f64,
    total: f64,
}

/// The split of one scenario: CPU microseconds per operation for each party, and how busy the
/// machine was (100 % = every core).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Split {
    pub(crate) api_us: f64,
    pub(crate) conductor_us: f64,
    pub(crate) broker_us: f64,
    pub(crate) database_us: f64,
    pub(crate) bench_us: f64,
    pub(crate) busy_pct: f64,
}

impl Snapshot {
    /// Reads the counters now. A party that cannot be read counts as zero.
    pub(crate) fn take(api: Option<u32>, conductor: Option<u32>) -> Snapshot {
        let (mut broker, mut database) = (0.0, 0.0);
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some((comm, seconds)) = process_cpu(pid) {
                    match comm.as_str() {
                        "beam.smp" => broker += seconds,
                        "postgres" => database += seconds,
                        _ => {}
                    }
                }
            }
        }
        let seconds = |pid: Option<u32>| pid.and_then(process_cpu).map_or(0.0, |(_, s)| s);
        let (busy, total) = machine_cpu().unwrap_or_default();
        Snapshot {
            at: Instant::now(),
            api: seconds(api),
            conductor: seconds(conductor),
            broker,
            database,
            bench: seconds(Some(std::process::id())),
            busy,
            total,
        }
    }

    /// The split between `self` and a later snapshot, for a steady rate of `ops_per_sec`.
    /// (The window includes the warm-up, run at the same rate as the measurement.)
    pub(crate) fn split(&self, later: &Snapshot, ops_per_sec: f64) -> Split {
        let wall = later.at.duration_since(self.at).as_secs_f64();
        let ops = ops_per_sec * wall;
        if ops <= 0.0 {
            return Split::default();
        }
        let per_op = |before: f64, after: f64| (after - before).max(0.0) * 1e6 / ops;
        let total = later.total - self.total;
        Split {
            api_us: per_op(self.api, later.api),
            conductor_us: per_op(self.conductor, later.conductor),
            broker_us: per_op(self.broker, later.broker),
            database_us: per_op(self.database, later.database),
            bench_us: per_op(self.bench, later.bench),
            busy_pct: if total > 0.0 {
                100.0 * (later.busy - self.busy) / total
            } else {
                0.0
            },
        }
    }
}

impl Split {
    /// CPU microseconds per operation, all parties together.
    pub(crate) fn total_us(&self) -> f64 {
        self.api_us + self.conductor_us + self.broker_us + self.database_us + self.bench_us
    }
}

/// The command name and CPU seconds (user + system, all threads) of one process.
fn process_cpu(pid: u32) -> Option<(String, f64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses /proc/<pid>/stat: `pid (comm) state …`, with utime and stime the 14th and 15th
/// fields. `comm` may hold spaces and parentheses, so it ends at the last `)`.
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After the comm: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let mut rest = stat.get(close + 1..)?.split_ascii_whitespace().skip(11);
    let utime: f64 = rest.next()?.parse().ok()?;
    let stime: f64 = rest.next()?.parse().ok()?;
    Some((comm, (utime + stime) / TICKS_PER_SEC))
}

/// Machine-wide (busy, total) CPU seconds from the `cpu` line of /proc/stat.
fn machine_cpu() -> Option<(f64, f64)> {
    parse_machine(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// `cpu user nice system idle iowait irq softirq steal …`: idle and iowait are not busy.
fn parse_machine(stat: &str) -> Option<(f64, f64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let total: f64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some(((total - idle) / TICKS_PER_SEC, total / TICKS_PER_SEC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_the_command_and_its_cpu_seconds() {
        let stat = "4437 (beam.smp) S 1 4437 4437 0 -1 4194560 1 0 0 0 5871 1234 0 0 20 0 40 0";
        let (comm, seconds) = parse_stat(stat).unwrap();
        assert_eq!(comm, "beam.smp");
        assert!((seconds - 71.05).abs() < 1e-9, "{seconds}");
        // A command name with spaces and a parenthesis still parses.
        let odd = "7 (a b) c) R 1 1 1 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0";
        assert_eq!(parse_stat(odd).unwrap(), ("a b) c".to_owned(), 1.5));
        assert_eq!(parse_stat("12 (truncated) S 1"), None);
    }

    #[test]
    fn the_machine_line_splits_busy_from_idle() {
        let stat = "cpu  700 0 200 1000 100 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n";
        assert_eq!(parse_machine(stat), Some((9.0, 20.0)));
    }

    #[test]
    fn a_split_divides_each_party_by_the_operations_in_the_window() {
        let start = Instant::now();
        let before = Snapshot {
            at: start,
            api: 1.0,
            conductor: 2.0,
            broker: 3.0,
            database: 4.0,
            bench: 0.0,
            busy: 10.0,
            total: 20.0,
        };
        let after = Snapshot {
            at: start + std::time::Duration::from_secs(2),
            api: 1.2,
            conductor: 2.4,
            broker: 3.5,
            database: 4.1,
            bench: 0.1,
            busy: 13.0,
            total: 24.0,
        };
        // 1,000 ops/s over 2 s: 0.2 CPU s over 2,000 ops is 100 µs each.
        let split = before.split(&after, 1000.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(split.api_us, 100.0), "{split:?}");
        assert!(close(split.conductor_us, 200.0), "{split:?}");
        assert!(close(split.broker_us, 250.0), "{split:?}");
        assert!(close(split.database_us, 50.0), "{split:?}");
        assert!(close(split.bench_us, 50.0), "{split:?}");
        assert!(close(split.busy_pct, 75.0), "{split:?}");
        assert!(close(split.total_us(), 650.0), "{split:?}");
        assert_eq!(before.split(&after, 0.0), Split::default());
    }
}
