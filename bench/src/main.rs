//! `portcullis-bench`: the load-test harness of issue 5.
//!
//! `bench/load.sh [ARGS]` builds `portcullis` and this binary in release mode and runs
//! `portcullis-bench ARGS`:
//!
//! - `run` (the default) starts `portcullis serve` on a fresh SQLite (or, with
//!   `--postgres URL`, PostgreSQL) database, registers clients through the CLI,
//!   pre-creates authorization codes through `portcullis-sql`, and measures
//!   client_credentials, introspection, refresh-token rotation and code exchange, each
//!   against the `hello` ceiling measured in the same run.
//! - `external` points the same generator at another server for comparison.
//! - `hello` is the ceiling itself: a minimal axum token endpoint, run as a child.
//!
//! For each scenario it prints requests/s, p50/p99 latency, errors (with the first
//! one) and the server's peak RSS, then a markdown table. The load generator
//! ([`load`]) is closed-loop HTTP/1.1 on `hyper::client::conn::http1`, one task and one
//! keep-alive connection per virtual user, on a tokio runtime of `--threads` workers.
//!
//! Everything ends by itself: each scenario is bounded by its duration plus a grace
//! period, a watchdog thread ends the process (killing the servers it started) when
//! the whole run overstays its budget, and child servers are killed on every exit
//! path, Ctrl-C included.

mod child;
mod cli;
mod external;
mod hello;
mod load;
mod report;
mod rss;
mod run;
mod stats;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Cli, Command, LoadArgs};

/// Setup allowance of the watchdog budget (CLI calls, server start, first tokens).
const SETUP_BUDGET: Duration = Duration::from_secs(180);

/// Per-scenario allowance on top of its duration.
const SCENARIO_BUDGET: Duration = Duration::from_secs(40);

fn main() -> ExitCode {
    let command = Cli::parse().into_command();
    let result = match command {
        Command::Hello { bind } => hello::serve(bind),
        Command::Run(args) => {
            // Code creation: generous, at 1000 codes/s.
            let codes = Duration::from_secs(u64::from(args.codes) / 1000);
            let budget = budget(&args.load, args.scenarios.0.len(), codes);
            let load = args.load.clone();
            // `run` handles Ctrl-C itself, to drop its PostgreSQL database.
            block_on(&load, budget, false, run::run(args))
        }
        Command::External(args) => {
            let scenarios =
                1 + usize::from(args.introspect_url.is_some()) + usize::from(args.with_hello);
            let budget = budget(&args.load, scenarios, Duration::ZERO);
            let load = args.load.clone();
            block_on(&load, budget, true, external::run(args))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The longest a whole run may take before the watchdog ends it.
fn budget(load: &LoadArgs, scenarios: usize, extra: Duration) -> Duration {
    let per_scenario = Duration::from_secs(load.duration) + SCENARIO_BUDGET;
    SETUP_BUDGET + extra + per_scenario * u32::try_from(scenarios).unwrap_or(u32::MAX)
}

/// Runs `work` on a runtime of `load.threads` workers, bounded by `budget` and, with
/// `ctrl_c`, by Ctrl-C.
fn block_on(
    load: &LoadArgs,
    budget: Duration,
    ctrl_c: bool,
    work: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(load.threads as usize)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // The watchdog: a plain thread, so that it fires even if the runtime is wedged.
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        eprintln!(
            "error: the run exceeded its {} s budget: killing the servers it started",
            budget.as_secs()
        );
        child::kill_all();
        std::process::exit(3);
    });
    let result = runtime.block_on(async {
        if ctrl_c {
            tokio::select! {
                result = work => result,
                _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
            }
        } else {
            work.await
        }
    });
    // Whatever was left running (guards dropped with `work` already did their part).
    child::kill_all();
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
