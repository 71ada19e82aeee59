//! `ksync torture`: the user-space locktorture (`kernel/locking/locktorture.c`).

use std::process::ExitCode;
use std::time::Duration;

use ksync::harness::machine::Machine;
use ksync::harness::torture::{self, Config, Report};

use crate::options::{self, MAX_THREADS};
use crate::progress::Bar;

/// Options of `ksync torture` (locktorture's module parameters, renamed where noted).
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Lock(s) to torture, one after the other (comma-separated or repeated) [default: every
    /// ksync lock; the peers while this build has none] (locktorture's torture_type)
    #[arg(long, short, value_delimiter = ',', value_parser = options::lock_parser())]
    pub lock: Vec<String>,

    /// Writer threads [default: 2 x cores] (locktorture's nwriters_stress)
    #[arg(long, short, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_THREADS)))]
    pub threads: Option<u32>,

    /// How long each lock is tortured, e.g. 500ms, 5s, 1m
    #[arg(long, short, default_value = "5s", value_parser = options::positive_duration)]
    pub duration: Duration,

    /// Critical-section work: each acquisition holds the lock for a random 0..=HOLD work units
    /// (one unit is about 5 cycles)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub hold: u32,

    /// The occasional long hold: about every 10 x LONG_HOLD one holder sleeps LONG_HOLD inside
    /// the critical section; 0s turns it off (locktorture's long_hold)
    #[arg(long, default_value = "100ms", value_parser = options::duration)]
    pub long_hold: Duration,

    /// Alternately run and pause all writers for this long; 0s turns it off (locktorture's
    /// stutter)
    #[arg(long, default_value = "0s", value_parser = options::period)]
    pub stutter: Duration,

    /// Every interval, take one CPU (in turn) away from all writers with sched_setaffinity;
    /// 0s turns it off (locktorture's shuffle_interval; Linux only)
    #[arg(long, default_value = "0s", value_parser = options::period)]
    pub shuffle: Duration,

    /// Print a statistics line this often; 0s prints only the final one (locktorture's
    /// stat_interval)
    #[arg(long, default_value = "1s", value_parser = options::period)]
    pub stat_interval: Duration,
}

const AFTER_HELP: &str = "\
Exclusion is checked three ways on every acquisition: a held flag set inside the critical
section and checked on entry, an atomic inside-counter (entered with fetch_add == 0, left with
fetch_sub == 1), and a non-atomic counter in the protected data whose final value must equal the
sum of all acquisitions. A writer that never acquired the lock is a failure too.

Output is locktorture's: a Start line with the parameters, a `Writes:` line every
--stat-interval and at the end (`???` after Max/Min: the busiest writer got more than twice the
acquisitions of the idlest; `!!!` after Fail: a check failed), and
`<lock>-torture:--- End of test: SUCCESS|FAILURE`. Exit status 1 if any lock failed.";

impl Args {
    fn config(&self, machine: &Machine) -> Config {
        Config {
            threads: self
                .threads
                .map_or(2 * machine.cores, |t| usize::try_from(t).unwrap_or(1)),
            duration: self.duration,
            hold: self.hold,
            long_hold: self.long_hold,
            stutter: self.stutter,
            shuffle: self.shuffle,
            stat_interval: self.stat_interval,
        }
    }
}

/// Runs `ksync torture`.
pub fn run(args: &Args) -> ExitCode {
    let machine = Machine::detect();
    let config = args.config(&machine);
    let locks: Vec<&'static str> = if args.lock.is_empty() {
        options::default_locks().iter().map(|i| i.name).collect()
    } else {
        args.lock.iter().map(|n| options::info(n).name).collect()
    };
    println!(
        "ksync torture: {machine}; {}",
        options::threads_note(&machine, config.threads)
    );
    let mut failed = Vec::new();
    for (i, lock) in locks.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("{lock}: {}", options::info(lock).description);
        match torture_one(lock, &config) {
            Ok(report) if report.success() => {}
            Ok(_) => failed.push(*lock),
            Err(e) => {
                eprintln!("ksync torture: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if locks.len() > 1 {
        println!();
        if failed.is_empty() {
            println!("ksync torture: all {} locks: SUCCESS", locks.len());
        } else {
            println!(
                "ksync torture: FAILURE: {} of {} locks failed: {}",
                failed.len(),
                locks.len(),
                failed.join(", ")
            );
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Tortures one lock, printing locktorture's lines as they come.
pub fn torture_one(lock: &str, config: &Config) -> Result<Report, ksync::harness::Error> {
    println!("{}", torture::start_line(lock, config));
    let bar = Bar::timed(config.duration, lock);
    let report = torture::run(lock, config, |stats| {
        bar.println(&format!("{lock}-torture: {stats}"));
    });
    bar.finish();
    let report = report?;
    println!("{lock}-torture: {}", report.stats());
    print_details(&report);
    println!("{}", report.end_line());
    Ok(report)
}

/// The lines locktorture does not have: what the workload knobs did, and why a run failed.
fn print_details(report: &Report) {
    let lock = report.lock;
    let c = &report.config;
    let mut knobs = Vec::new();
    if !c.long_hold.is_zero() {
        knobs.push(format!("long holds: {}", report.long_holds));
    }
    if !c.stutter.is_zero() {
        knobs.push(format!("stutter pauses: {}", report.stutter_pauses));
    }
    if report.shuffle_unavailable {
        knobs.push("shuffle: unavailable here (one CPU, or not Linux)".to_owned());
    } else if !c.shuffle.is_zero() {
        knobs.push(format!("CPU shuffles: {}", report.shuffles));
    }
    let secs = report.elapsed.as_secs_f64();
    knobs.push(format!(
        "{:.2} M acquisitions/s",
        report.total() as f64 / secs / 1e6
    ));
    println!("{lock}-torture: {}", knobs.join(", "));
    for reason in report.failure_reasons() {
        println!("{lock}-torture: FAILURE: {reason}");
    }
}
