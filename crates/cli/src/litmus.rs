//! `ksync litmus`: the LKMM litmus shapes of `ksync_litmus`, run on this CPU.

use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use ksync_litmus::{self as litmus, Config, LitmusTest, Report, Verdict, TESTS};

use crate::options;
use crate::progress::Bar;

/// Options of `ksync litmus`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Test(s) to run (comma-separated or repeated) [default: all]
    #[arg(long, short, value_delimiter = ',', value_parser = test_parser())]
    pub test: Vec<&'static str>,

    /// Iterations per test (rounded up to whole batches of 4096)
    #[arg(long, short, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000_000))]
    pub iterations: u64,

    /// Stop a test after this long even if its iterations are not done
    #[arg(long, default_value = "2s", value_parser = options::positive_duration)]
    pub time_limit: Duration,

    /// Print each test's code and full outcome histogram, litmus7 style
    #[arg(long, short)]
    pub verbose: bool,
}

const AFTER_HELP: &str = "\
Each test is a two-thread shape from the kernel's tools/memory-model/litmus-tests/, run on two
pinned threads with fresh variables every iteration. `LKMM` is the kernel memory model's verdict
on the `exists` outcome: Allowed outcomes may or may not show up on a given CPU (x86 shows SB's
and R's store-buffer outcome), Forbidden ones must never show up; seeing one means a barrier is
broken, and the exit status is 1.";

fn test_parser() -> impl TypedValueParser<Value = &'static str> {
    PossibleValuesParser::new(TESTS.iter().map(|t| t.name)).map(|name| {
        litmus::find(&name)
            .expect("possible values come from TESTS")
            .name
    })
}

/// The tests `names` selects (all of them when empty).
pub fn selected(names: &[&'static str]) -> Vec<&'static LitmusTest> {
    TESTS
        .iter()
        .filter(|t| names.is_empty() || names.contains(&t.name))
        .collect()
}

/// The table header.
pub fn header() -> String {
    format!(
        "{:<12} {:<38} {:<10} {:<4} {:>9} {:>11}  verdict",
        "test", "kernel name", "LKMM", "x86", "seen", "iterations"
    )
}

/// One table row.
pub fn row(report: &Report) -> String {
    let t = report.test;
    format!(
        "{:<12} {:<38} {:<10} {:<4} {:>9} {:>11}  {}",
        t.name,
        t.kernel_name,
        t.lkmm.to_string(),
        if t.x86_observable { "yes" } else { "no" },
        report.exists_count,
        report.iterations,
        verdict(report)
    )
}

fn verdict(report: &Report) -> &'static str {
    if report.violation() {
        "FAIL: forbidden outcome seen"
    } else if report.test.lkmm == Verdict::Allowed && report.observed() {
        "ok (allowed, seen)"
    } else {
        "ok"
    }
}

/// Runs `tests`, printing a row (or the litmus7 report) per test; returns the reports.
pub fn run_tests(
    tests: &[&'static LitmusTest],
    config: &Config,
    verbose: bool,
    expected: Duration,
) -> Vec<Report> {
    let bar = Bar::steps(tests.len() as u64, expected, "litmus");
    let mut reports = Vec::with_capacity(tests.len());
    if !verbose {
        bar.println(&header());
    }
    for test in tests {
        bar.message(test.name);
        let report = litmus::run(test, config);
        if verbose {
            bar.println(&format!("{report}\n"));
        } else {
            bar.println(&row(&report));
        }
        bar.step(test.name);
        reports.push(report);
    }
    bar.finish();
    reports
}

/// Runs `ksync litmus`.
pub fn run(args: &Args) -> ExitCode {
    let machine = ksync::harness::machine::Machine::detect();
    println!("ksync litmus: LKMM shapes on real threads; {machine}\n");
    let tests = selected(&args.test);
    let config = Config {
        iterations: args.iterations,
        time_limit: Some(args.time_limit),
        ..Config::default()
    };
    let reports = run_tests(
        &tests,
        &config,
        args.verbose,
        args.time_limit * tests.len() as u32,
    );
    let failures = reports.iter().filter(|r| r.violation()).count();
    if failures == 0 {
        println!("\nAll forbidden outcomes stayed unseen.");
        ExitCode::SUCCESS
    } else {
        println!("\n{failures} test(s) saw an outcome the LKMM forbids.");
        ExitCode::FAILURE
    }
}
