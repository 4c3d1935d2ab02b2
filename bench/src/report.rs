//! Printing results: one line per scenario as it finishes, then a markdown table.

use crate::load::Outcome;
use crate::rss::mib;
use crate::stats::percentile;

/// What became of one scenario.
#[derive(Debug)]
pub(crate) enum RowResult {
    /// Not measurable (yet), with the reason shown in the req/s column.
    NotAvailable(&'static str),
    /// The scenario could not run.
    Failed(String),
    /// Measured.
    Measured {
        /// What the load generator saw.
        outcome: Outcome,
        /// The server's peak RSS during the scenario, in KiB.
        peak_rss_kib: Option<u64>,
        /// CPU used during the scenario, in % of one core: (server, load generator).
        cpu_percent: (Option<f64>, Option<f64>),
        /// CPU used by local PostgreSQL processes during the scenario, in % of one
        /// core (`None` on SQLite or without a local PostgreSQL).
        database_cpu_percent: Option<f64>,
    },
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Row {
    /// Scenario name, possibly prefixed with a label.
    pub(crate) label: String,
    /// Whether this row is the hello ceiling the others are compared with.
    pub(crate) is_hello: bool,
    /// The result.
    pub(crate) result: RowResult,
}

/// Microseconds as milliseconds with two decimals.
fn ms(us: Option<u32>) -> String {
    us.map_or_else(
        || "-".to_owned(),
        |us| format!("{:.2}", f64::from(us) / 1000.0),
    )
}

fn rss(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".to_owned(), |kib| format!("{:.1}", mib(kib)))
}

impl Row {
    /// The one-line summary printed when the scenario ends.
    pub(crate) fn summary(&self) -> String {
        match &self.result {
            RowResult::NotAvailable(why) => format!("{:<24} {why}", self.label),
            RowResult::Failed(error) => format!("{:<24} FAILED: {error}", self.label),
            RowResult::Measured {
                outcome,
                peak_rss_kib,
                cpu_percent,
                database_cpu_percent,
            } => {
                let sorted = &outcome.merged.sorted_us;
                let pct = |p: Option<f64>| p.map_or_else(|| "?".to_owned(), |p| format!("{p:.0}%"));
                let mut line = format!(
                    "{:<24} {:>9.0} req/s  p50 {:>7} ms  p99 {:>7} ms  max {:>8} ms  ok {:>8}  errors {:>6}  peak RSS {:>6} MiB  CPU server {:>4} bench {:>4}  ({:.1} s)",
                    self.label,
                    outcome.rate(),
                    ms(percentile(sorted, 50.0)),
                    ms(percentile(sorted, 99.0)),
                    ms(sorted.last().copied()),
                    outcome.merged.ok,
                    outcome.merged.errors,
                    rss(*peak_rss_kib),
                    pct(cpu_percent.0),
                    pct(cpu_percent.1),
                    outcome.elapsed.as_secs_f64(),
                );
                if let Some(database) = database_cpu_percent {
                    line.push_str(&format!("  CPU database {}", pct(Some(*database))));
                    // CPU of the server and the database per request: unlike the rate,
                    // barely moved by what else the machine runs.
                    if let (Some(server), rate) = (cpu_percent.0, outcome.rate()) {
                        if rate > 0.0 {
                            let micros = (server + database) / 100.0 * 1e6 / rate;
                            line.push_str(&format!(
                                " ({micros:.0} µs per request with the server)"
                            ));
                        }
                    }
                }
                if outcome.codes_ran_out {
                    line.push_str(
                        "\n    stopped early: the pre-created codes ran out (raise --codes)",
                    );
                }
                if let Some(error) = &outcome.merged.first_error {
                    line.push_str(&format!("\n    first error: {error}"));
                }
                line
            }
        }
    }
}

/// The markdown table of `rows`, with the % of the hello row's rate when there is one.
pub(crate) fn table(rows: &[Row]) -> String {
    let hello_rate = rows
        .iter()
        .find_map(|row| match (&row.result, row.is_hello) {
            (RowResult::Measured { outcome, .. }, true) if outcome.rate() > 0.0 => {
                Some(outcome.rate())
            }
            _ => None,
        });
    let mut out = String::from(
        "| scenario | req/s | % of hello | p50 ms | p99 ms | errors | peak RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let line = match &row.result {
            RowResult::NotAvailable(why) => format!("| {} | {why} | | | | | |", row.label),
            RowResult::Failed(error) => {
                format!(
                    "| {} | failed: {} | | | | | |",
                    row.label,
                    error.replace('|', "/")
                )
            }
            RowResult::Measured {
                outcome,
                peak_rss_kib,
                ..
            } => {
                let sorted = &outcome.merged.sorted_us;
                let percent = hello_rate.map_or_else(
                    || "-".to_owned(),
                    |hello| format!("{:.1} %", 100.0 * outcome.rate() / hello),
                );
                let mut errors = outcome.merged.errors.to_string();
                if outcome.codes_ran_out {
                    errors.push_str(" (codes ran out)");
                }
                format!(
                    "| {} | {:.0} | {percent} | {} | {} | {errors} | {} |",
                    row.label,
                    outcome.rate(),
                    ms(percentile(sorted, 50.0)),
                    ms(percentile(sorted, 99.0)),
                    rss(*peak_rss_kib),
                )
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
