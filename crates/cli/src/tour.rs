//! The tour: what `ksync` with no subcommand runs. In under two minutes it shows a new
//! user that the memory-model barriers hold on this CPU, that every ksync lock survives
//! locktorture, and how fast the locks are next to std and parking_lot.

use std::process::ExitCode;
use std::time::Duration;

use ksync::harness::machine::Machine;
use ksync::harness::torture::Config;

use crate::bench::{self, Plan, Results};
use crate::options;
use crate::progress::Bar;
use crate::{litmus, trace};

/// Thread counts of the tour's benchmark summary.
const TOUR_THREADS: [usize; 3] = [1, 2, 8];
/// The tour benchmark's critical section and gap, in work units: a hot lock, so the table shows
/// each lock's own cost (one thread) and its behaviour under full contention.
const TOUR_CS: u32 = 1;
const TOUR_NCS: u32 = 0;
const TOUR_ROUNDS: usize = 2;

/// Options of `ksync tour` (plain `ksync` uses the defaults).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Time limit of each litmus test (9 tests)
    #[arg(long, default_value = "500ms", value_parser = options::positive_duration)]
    pub litmus_time: Duration,

    /// Torture time per lock
    #[arg(long, default_value = "5s", value_parser = options::positive_duration)]
    pub torture_duration: Duration,

    /// Total measuring time of the benchmark summary
    #[arg(long, default_value = "60s", value_parser = options::positive_duration)]
    pub bench_budget: Duration,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            litmus_time: Duration::from_millis(500),
            torture_duration: Duration::from_secs(5),
            bench_budget: Duration::from_secs(60),
        }
    }
}

/// What each step concluded, for the summary.
struct Summary {
    lines: Vec<String>,
    failed: bool,
}

impl Summary {
    fn add(&mut self, step: &str, ok: bool, text: String) {
        self.failed |= !ok;
        self.lines.push(format!(
            "  {step:<8} {}  {text}",
            if ok { "ok  " } else { "FAIL" }
        ));
    }
}

/// Runs the tour.
pub fn run(args: &Args) -> ExitCode {
    let machine = Machine::detect();
    let torture_locks = options::default_locks();
    let bench_locks = options::public_locks();
    let plan = Plan::new(
        &bench_locks,
        TOUR_THREADS.to_vec(),
        vec![TOUR_CS],
        vec![TOUR_NCS],
        TOUR_ROUNDS,
        None,
        args.bench_budget,
    );
    let tests = litmus::selected(&[]);
    let litmus_time = args.litmus_time * tests.len() as u32;
    let torture_time = args.torture_duration * torture_locks.len() as u32;
    println!("ksync: a tour of kernel-style locking on this machine ({machine})");
    println!(
        "Four steps, about {}: litmus, torture, bench, trace. Each has its own subcommand: \
         see `ksync help`.",
        options::human(litmus_time + torture_time + plan.expected())
    );
    let mut summary = Summary {
        lines: Vec::new(),
        failed: false,
    };

    // 1. litmus
    println!(
        "\n[1/4] litmus: does this CPU keep the kernel memory model's promises? ({} tests, up to {} each)",
        tests.len(),
        options::human(args.litmus_time)
    );
    println!("      Allowed outcomes may show up (x86's store buffer shows SB and R); Forbidden ones must not.\n");
    let config = ksync_litmus::Config {
        iterations: 1 << 40,
        time_limit: Some(args.litmus_time),
        ..Default::default()
    };
    let reports = litmus::run_tests(&tests, &config, false, litmus_time);
    let violations: Vec<_> = reports
        .iter()
        .filter(|r| r.violation())
        .map(|r| r.test.name)
        .collect();
    let seen_allowed: Vec<_> = reports
        .iter()
        .filter(|r| !r.violation() && r.observed())
        .map(|r| r.test.name)
        .collect();
    summary.add(
        "litmus",
        violations.is_empty(),
        if violations.is_empty() {
            format!(
                "{} tests, no forbidden outcome; allowed weak outcomes seen: {}",
                reports.len(),
                if seen_allowed.is_empty() {
                    "none".to_owned()
                } else {
                    seen_allowed.join(", ")
                }
            )
        } else {
            format!("forbidden outcome seen in {}", violations.join(", "))
        },
    );

    // 2. torture
    let threads = 2 * machine.cores;
    let which = if torture_locks
        .iter()
        .any(|i| i.kind == ksync::harness::locks::Kind::Ksync)
    {
        "every ksync lock"
    } else {
        "the peers (this build has no ksync lock yet)"
    };
    println!(
        "\n[2/4] torture: locktorture on {which}: {} each, {}",
        options::human(args.torture_duration),
        options::threads_note(&machine, threads)
    );
    println!("      Exclusion checked three ways on every acquisition; every writer must make progress.\n");
    let config = Config {
        threads,
        duration: args.torture_duration,
        stat_interval: Duration::ZERO,
        ..Config::default()
    };
    let mut tortured = Vec::new();
    for info in &torture_locks {
        let bar = Bar::timed(args.torture_duration, info.name);
        let report = ksync::harness::torture::run(info.name, &config, |_| {});
        bar.finish();
        match report {
            Ok(report) => {
                println!(
                    "  {:<16} {}  {}",
                    info.name,
                    if report.success() {
                        "SUCCESS"
                    } else {
                        "FAILURE"
                    },
                    report.stats()
                );
                for reason in report.failure_reasons() {
                    println!("  {:<16} {reason}", "");
                }
                tortured.push((info.name, report.success()));
            }
            Err(e) => {
                println!("  {:<16} error: {e}", info.name);
                tortured.push((info.name, false));
            }
        }
    }
    let failed: Vec<_> = tortured
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    summary.add(
        "torture",
        failed.is_empty(),
        if failed.is_empty() {
            format!("{}/{} locks SUCCESS", tortured.len(), tortured.len())
        } else {
            format!("FAILURE: {}", failed.join(", "))
        },
    );
    println!("\n      Full output and knobs (--stutter, --shuffle, --long-hold): `ksync torture --lock <name>`.");

    // 3. bench
    println!(
        "\n[3/4] bench: throughput at 1, 2 and 8 threads, next to std and parking_lot (about {})",
        options::human(plan.expected())
    );
    println!(
        "      {}\n",
        bench::describe(&plan, &machine).replace('\n', "\n      ")
    );
    match bench::measure(&plan, machine.clone()) {
        Ok(results) => {
            print!("{}", summary_table(&results));
            let broken = results.broken();
            summary.add(
                "bench",
                broken.is_empty(),
                if broken.is_empty() {
                    bench_headline(&results)
                } else {
                    format!("LOST UPDATES in {}", broken.join(", "))
                },
            );
        }
        Err(e) => summary.add("bench", false, format!("error: {e}")),
    }
    println!(
        "\n      More: `ksync bench` (latency, fairness, critical-section sizes, --json, --svg)."
    );

    // 4. trace
    println!("\n[4/4] trace: the qspinlock word, transition by transition");
    let (text, ok) = trace::qspinlock(3);
    for line in text.lines() {
        println!("    {line}");
    }
    summary.add(
        "trace",
        ok,
        if ok {
            "3 contenders: fast path, pending lane, queue; the kernel's diagram, step by step"
                .into()
        } else {
            "the qspinlock word left the kernel's diagram".into()
        },
    );

    println!("\nSummary ({machine})");
    for line in &summary.lines {
        println!("{line}");
    }
    if summary.failed {
        println!("\nSomething failed: see above.");
        ExitCode::FAILURE
    } else {
        println!("\nEverything passed.");
        ExitCode::SUCCESS
    }
}

/// Rows = locks; per thread count: Mops/s, the ratios to std and parking_lot, and fairness.
fn summary_table(results: &Results) -> String {
    let plan = &results.plan;
    let mut out = format!("  {:<16}", "lock");
    for &t in &plan.threads {
        let star = if results.machine.oversubscribed(t) {
            "*"
        } else {
            ""
        };
        out.push_str(&format!(
            " | {:>27}",
            format!("{t}{star} thread{}", if t == 1 { "" } else { "s" })
        ));
    }
    out.push_str(&format!("\n  {:<16}", ""));
    for _ in &plan.threads {
        out.push_str(&format!(
            " | {:>7} {:>6} {:>6} {:>5}",
            "Mops/s", "vs std", "vs pl", "fair"
        ));
    }
    out.push('\n');
    for info in &plan.locks {
        out.push_str(&format!("  {:<16}", info.name));
        for &t in &plan.threads {
            match results.cell(info.name, t, TOUR_CS, TOUR_NCS) {
                Some(c) => out.push_str(&format!(
                    " | {:>7} {:>6} {:>6} {:>5.2}",
                    options::mops(c.mops()),
                    options::ratio(results.ratio(c, "std")),
                    options::ratio(results.ratio(c, "parking_lot")),
                    c.fairness()
                )),
                None => out.push_str(&format!(" | {:>27}", "-")),
            }
        }
        out.push('\n');
    }
    out.push_str(
        "\n  fair = min/max of the threads' acquisition counts: a lock that lets its holder re-take it\n  \
         at once (std, parking_lot, test-and-set) looks fast under a hot lock by starving the others;\n  \
         a FIFO lock (ticket, qspinlock) hands over in order and pays a cache-line transfer each time.\n",
    );
    out
}

/// One line: the fastest lock at each thread count and its ratio to std.
fn bench_headline(results: &Results) -> String {
    let parts: Vec<String> = results
        .plan
        .threads
        .iter()
        .filter_map(|&t| {
            let best = results
                .cells
                .iter()
                .filter(|c| c.threads == t)
                .max_by(|a, b| a.mops().total_cmp(&b.mops()))?;
            Some(format!(
                "{t}T: {} {} Mops/s ({} std)",
                best.info.name,
                options::mops(best.mops()),
                options::ratio(results.ratio(best, "std"))
            ))
        })
        .collect();
    format!("fastest at {}", parts.join("; "))
}
