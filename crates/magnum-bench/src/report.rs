//! The result table: one row per measurement, rendered as Markdown so it pastes into
//! doc/benchmarks.md unchanged.

use crate::cpu::Split;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::time::Duration;

/// One measured line of the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    /// What was measured.
    pub(crate) name: String,
    /// Operations completed in the measured window.
    pub(crate) ops: u64,
    /// Operations that failed (unexpected status or transport error).
    pub(crate) errors: u64,
    /// Operations per second.
    pub(crate) per_sec: f64,
    /// Median latency, milliseconds.
    pub(crate) p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub(crate) p99_ms: f64,
    /// Slowest operation, milliseconds.
    pub(crate) max_ms: f64,
    /// Peak resident memory of magnum-api during the scenario, MiB (None: not sampled).
    pub(crate) api_rss_mib: Option<f64>,
    /// Peak resident memory of magnum-conductor during the scenario, MiB.
    pub(crate) conductor_rss_mib: Option<f64>,
    /// CPU per operation by process (None: not a steady-load scenario).
    pub(crate) cpu: Option<Split>,
}

impl Row {
    /// A row from a latency histogram in microseconds over `window`.
    pub(crate) fn from_histogram(
        name: &str,
        hist: &Histogram<u64>,
        errors: u64,
        window: Duration,
    ) -> Row {
        let ms = |us: u64| us as f64 / 1000.0;
        let ops = hist.len();
        Row {
            name: name.to_owned(),
            ops,
            errors,
            per_sec: ops as f64 / window.as_secs_f64().max(1e-9),
            p50_ms: ms(hist.value_at_quantile(0.50)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            max_ms: ms(hist.max()),
            api_rss_mib: None,
            conductor_rss_mib: None,
            cpu: None,
        }
    }
}

/// A labelled value outside the main table (memory, ratios).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact {
    /// What it is.
    pub(crate) label: String,
    /// Its value, formatted.
    pub(crate) value: String,
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// Renders the rows, the CPU split of those that have one, and the facts as Markdown tables.
pub(crate) fn render(rows: &[Row], facts: &[Fact]) -> String {
    let header = [
        "scenario",
        "ops",
        "errors",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "api RSS MiB",
        "conductor RSS MiB",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for r in rows {
        cells.push(vec![
            r.name.clone(),
            r.ops.to_string(),
            r.errors.to_string(),
            format!("{:.1}", r.per_sec),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p99_ms),
            format!("{:.2}", r.max_ms),
            mib(r.api_rss_mib),
            mib(r.conductor_rss_mib),
        ]);
    }
    let mut out = table(&cells);
    let split: Vec<_> = rows.iter().filter_map(|r| r.cpu.map(|c| (r, c))).collect();
    if !split.is_empty() {
        out.push('\n');
        let mut cells = vec![
            [
                "CPU µs per operation",
                "api",
                "conductor",
                "RabbitMQ",
                "PostgreSQL",
                "bench",
                "all",
                "machine busy %",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        let us = |v: f64| format!("{v:.0}");
        cells.extend(split.iter().map(|(r, c)| {
            vec![
                r.name.clone(),
                us(c.api_us),
                us(c.conductor_us),
                us(c.broker_us),
                us(c.database_us),
                us(c.bench_us),
                us(c.total_us()),
                format!("{:.0}", c.busy_pct),
            ]
        }));
        out.push_str(&table(&cells));
    }
    if !facts.is_empty() {
        out.push('\n');
        let mut cells = vec![vec!["measure".to_owned(), "value".to_owned()]];
        cells.extend(facts.iter().map(|f| vec![f.label.clone(), f.value.clone()]));
        out.push_str(&table(&cells));
    }
    out
}

fn table(cells: &[Vec<String>]) -> String {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in cells.iter().enumerate() {
        out.push('|');
        for (c, cell) in row.iter().enumerate() {
            // Text left, numbers right.
            if c == 0 {
                let _ = write!(out, " {cell:<w$} |", w = widths[c]);
            } else {
                let _ = write!(out, " {cell:>w$} |", w = widths[c]);
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in widths.iter().enumerate() {
                let dashes = "-".repeat(*w);
                if c == 0 {
                    let _ = write!(out, "-{dashes}-|");
                } else {
                    let _ = write!(out, "-{dashes}:|");
                }
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_becomes_a_row_and_the_table_aligns() {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=1000u64 {
            hist.record(us * 10).unwrap();
        }
        let mut row = Row::from_histogram("show", &hist, 2, Duration::from_secs(2));
        assert_eq!(row.ops, 1000);
        assert!((row.per_sec - 500.0).abs() < 1e-9);
        assert!((row.p50_ms - 5.0).abs() < 0.01, "{}", row.p50_ms);
        assert!((row.p99_ms - 9.9).abs() < 0.01, "{}", row.p99_ms);
        row.api_rss_mib = Some(12.25);
        let mut without_cpu = row.clone();
        without_cpu.name = "ping".into();
        row.cpu = Some(Split {
            api_us: 100.0,
            conductor_us: 120.0,
            broker_us: 150.0,
            database_us: 80.0,
            bench_us: 20.0,
            busy_pct: 97.4,
        });
        let facts = [Fact {
            label: "magnum-api RSS idle".into(),
            value: "10.0 MiB".into(),
        }];
        let text = render(&[row, without_cpu], &facts);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("| scenario |"), "{text}");
        assert!(lines[1].starts_with("|----------|"), "{text}");
        assert!(lines[2].contains("| show     |") && lines[2].contains("500.0"));
        assert!(
            lines[2].contains("12.2") && lines[2].ends_with("- |"),
            "{text}"
        );
        assert_eq!(lines[0].len(), lines[2].len(), "columns align");
        let split = lines
            .iter()
            .position(|l| l.starts_with("| CPU µs per operation |"))
            .expect("a CPU table");
        assert!(
            lines[split + 2].starts_with("| show ")
                && lines[split + 2].ends_with(
                    "| 100 |       120 |      150 |         80 |    20 | 470 |             97 |"
                ),
            "{text}"
        );
        assert!(
            !lines[split + 3].starts_with("| ping"),
            "a row without a split is left out: {text}"
        );
        assert!(
            text.contains("| magnum-api RSS idle | 10.0 MiB |"),
            "{text}"
        );
    }
}
