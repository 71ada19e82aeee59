//! `ksync bench`: throughput, fairness and wait latency over locks x threads x critical sections.
//!
//! The engine is `ksync::harness::throughput` (parking_lot's benchmark design). This module
//! plans the matrix, runs it in rounds (the order of locks alternates between rounds, since
//! the first lock measured in a round is penalised on a noisy machine), takes medians over
//! the rounds, and prints a table, JSON or an SVG chart.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ksync::harness::locks::LockInfo;
use ksync::harness::machine::Machine;
use ksync::harness::throughput::{self, Point, SAMPLE_PERIOD};
use serde::Serialize;

use crate::options::{self, MAX_THREADS};
use crate::progress::Bar;

/// The baselines every ratio is taken against; always measured.
pub const BASELINES: [&str; 2] = ["std", "parking_lot"];

/// Bounds of the automatic per-point duration.
const MIN_POINT: Duration = Duration::from_millis(100);
const MAX_POINT: Duration = Duration::from_secs(2);

/// Options of `ksync bench`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Locks to measure (comma-separated or repeated) [default: all]; std and parking_lot are
    /// always measured too, as the baselines of the ratios
    #[arg(long, short, value_delimiter = ',', value_parser = options::lock_parser())]
    pub lock: Vec<String>,

    /// Thread counts (comma-separated) [default: 1,2,cores,2 x cores,8]
    #[arg(long, short, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_THREADS)))]
    pub threads: Vec<u32>,

    /// Work units inside each critical section (comma-separated list; one unit is one step of a
    /// dependent rotate-multiply-add chain, about 5 cycles)
    #[arg(long, value_delimiter = ',', default_value = "1,50", value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub cs: Vec<u32>,

    /// Work units between critical sections (comma-separated list)
    #[arg(long, value_delimiter = ',', default_value = "0,10", value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub ncs: Vec<u32>,

    /// Measuring time per point and round [default: --budget spread over all points, between
    /// 100ms and 2s]
    #[arg(long, short, value_parser = options::positive_duration)]
    pub duration: Option<Duration>,

    /// Total measuring time to aim for when --duration is not given
    #[arg(long, default_value = "60s", value_parser = options::positive_duration)]
    pub budget: Duration,

    /// Rounds; the order of locks alternates between rounds and the table shows medians
    #[arg(long, short, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=99))]
    pub rounds: u32,

    /// Print the results as JSON on stdout instead of the table
    #[arg(long)]
    pub json: bool,

    /// Also draw throughput vs threads per lock into FILE (SVG)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

const AFTER_HELP: &str = "\
Each point: the lock, padded onto cache lines of its own; N threads released together; each
loops `lock; CS units of work on the protected data; unlock; NCS units of work` until the
point's time is up. Mops/s is all threads' acquisitions per second; fairness is min/max of the
per-thread acquisition counts (1 = fair, 0 = some thread starved); wait is the time from asking
for the lock to holding it, sampled on one acquisition in 32 into an HDR histogram. Ratios are
against std::sync::Mutex and parking_lot::Mutex measured in the same run at the same point.
Threads marked * outnumber the cores: spinning waiters then burn the CPU a preempted holder
needs. Exit status 1 if a lock lost updates (failed to exclude).";

/// What to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Locks, in registry order (baselines included).
    pub locks: Vec<&'static LockInfo>,
    /// Thread counts, ascending.
    pub threads: Vec<usize>,
    /// Critical-section sizes (work units).
    pub cs: Vec<u32>,
    /// Gaps between critical sections (work units).
    pub ncs: Vec<u32>,
    /// Rounds.
    pub rounds: usize,
    /// Time per point and round.
    pub duration: Duration,
}

impl Plan {
    /// Builds a plan: `locks` plus the baselines (registry order), the lists sorted and
    /// deduplicated, and the per-point time from `duration` or else from `budget`.
    pub fn new(
        locks: &[&'static LockInfo],
        mut threads: Vec<usize>,
        mut cs: Vec<u32>,
        mut ncs: Vec<u32>,
        rounds: usize,
        duration: Option<Duration>,
        budget: Duration,
    ) -> Self {
        let locks: Vec<&'static LockInfo> = ksync::harness::locks::LOCKS
            .iter()
            .filter(|info| {
                BASELINES.contains(&info.name) || locks.iter().any(|l| l.name == info.name)
            })
            .collect();
        for list in [&mut cs, &mut ncs] {
            list.sort_unstable();
            list.dedup();
        }
        threads.sort_unstable();
        threads.dedup();
        let mut plan = Plan {
            locks,
            threads,
            cs,
            ncs,
            rounds: rounds.max(1),
            duration: Duration::ZERO,
        };
        plan.duration = duration.unwrap_or_else(|| {
            let runs = u32::try_from(plan.runs()).unwrap_or(u32::MAX).max(1);
            (budget / runs).clamp(MIN_POINT, MAX_POINT)
        });
        plan
    }

    /// Measurements in the whole plan (points x rounds).
    pub fn runs(&self) -> usize {
        self.locks.len() * self.threads.len() * self.cs.len() * self.ncs.len() * self.rounds
    }

    /// The measuring time of the whole plan.
    pub fn expected(&self) -> Duration {
        self.duration
            .saturating_mul(u32::try_from(self.runs()).unwrap_or(u32::MAX))
    }

    /// The (cs, ncs) pairs, in order.
    pub fn shapes(&self) -> Vec<(u32, u32)> {
        self.cs
            .iter()
            .flat_map(|&c| self.ncs.iter().map(move |&n| (c, n)))
            .collect()
    }
}

/// The default thread counts: 1, 2, the cores, twice the cores, and 8.
pub fn default_threads(machine: &Machine) -> Vec<usize> {
    let mut t = vec![1, 2, machine.cores, 2 * machine.cores, 8];
    t.sort_unstable();
    t.dedup();
    t
}

/// One point of the matrix, measured in every round.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The lock.
    pub info: &'static LockInfo,
    /// Threads.
    pub threads: usize,
    /// Critical-section work units.
    pub cs: u32,
    /// Work units between critical sections.
    pub ncs: u32,
    /// The measurement of each round, in round order.
    pub rounds: Vec<Point>,
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Cell {
    /// Median Mops/s over the rounds.
    pub fn mops(&self) -> f64 {
        median(self.rounds.iter().map(Point::mops))
    }

    /// Median fairness over the rounds.
    pub fn fairness(&self) -> f64 {
        median(self.rounds.iter().map(Point::fairness))
    }

    /// Median of a wait statistic over the rounds, in ns.
    fn wait(&self, pick: impl Fn(&Point) -> u64) -> u64 {
        median(self.rounds.iter().map(|p| pick(p) as f64)).round() as u64
    }

    /// Median p50 wait (ns).
    pub fn p50(&self) -> u64 {
        self.wait(|p| p.wait.p50_ns)
    }

    /// Median p99 wait (ns).
    pub fn p99(&self) -> u64 {
        self.wait(|p| p.wait.p99_ns)
    }

    /// Median max wait (ns).
    pub fn max(&self) -> u64 {
        self.wait(|p| p.wait.max_ns)
    }

    /// Whether every round's payload counter matched its acquisitions.
    pub fn excluded(&self) -> bool {
        self.rounds.iter().all(Point::excluded)
    }
}

/// A whole run.
pub struct Results {
    /// What was measured.
    pub plan: Plan,
    /// Where.
    pub machine: Machine,
    /// One cell per point, in (cs, ncs, threads, lock) order.
    pub cells: Vec<Cell>,
}

impl Results {
    /// The cell of `lock` at a point.
    pub fn cell(&self, lock: &str, threads: usize, cs: u32, ncs: u32) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.info.name == lock && c.threads == threads && c.cs == cs && c.ncs == ncs)
    }

    /// `cell`'s median throughput over `baseline`'s at the same point.
    pub fn ratio(&self, cell: &Cell, baseline: &str) -> Option<f64> {
        let base = self.cell(baseline, cell.threads, cell.cs, cell.ncs)?.mops();
        (base > 0.0).then(|| cell.mops() / base)
    }

    /// The locks that lost updates at some point.
    pub fn broken(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for cell in self.cells.iter().filter(|c| !c.excluded()) {
            if !names.contains(&cell.info.name) {
                names.push(cell.info.name);
            }
        }
        names
    }
}

/// Runs the plan: every round measures every point, locks in registry order on even rounds and
/// reversed on odd ones.
pub fn measure(plan: &Plan, machine: Machine) -> Result<Results, ksync::harness::Error> {
    let shapes = plan.shapes();
    let mut cells: Vec<Cell> = Vec::new();
    for &(cs, ncs) in &shapes {
        for &threads in &plan.threads {
            for &info in &plan.locks {
                cells.push(Cell {
                    info,
                    threads,
                    cs,
                    ncs,
                    rounds: Vec::with_capacity(plan.rounds),
                });
            }
        }
    }
    let bar = Bar::steps(plan.runs() as u64, plan.expected(), "bench");
    let per_group = plan.locks.len();
    for round in 0..plan.rounds {
        for group in cells.chunks_mut(per_group) {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..per_group).collect()
            } else {
                (0..per_group).rev().collect()
            };
            for i in order {
                let cell = &mut group[i];
                bar.message(&format!(
                    "round {}/{}: {} x{} cs={} ncs={}",
                    round + 1,
                    plan.rounds,
                    cell.info.name,
                    cell.threads,
                    cell.cs,
                    cell.ncs
                ));
                let point = throughput::run(
                    cell.info.name,
                    cell.threads,
                    cell.cs,
                    cell.ncs,
                    plan.duration,
                )?;
                cell.rounds.push(point);
                bar.step("");
            }
        }
    }
    bar.finish();
    Ok(Results {
        plan: plan.clone(),
        machine,
        cells,
    })
}

/// The header lines: machine, plan, method.
pub fn describe(plan: &Plan, machine: &Machine) -> String {
    let over: Vec<String> = plan
        .threads
        .iter()
        .filter(|&&t| machine.oversubscribed(t))
        .map(|t| t.to_string())
        .collect();
    let mut s = format!(
        "machine: {machine}\n\
         plan: {} x {} x {} x {}, {} per point: {} in all\n\
         method: 1 work unit = one dependent rotate-multiply-add ({:.2} ns here); wait sampled on 1 acquisition in {SAMPLE_PERIOD}, net of the clock's {} ns; medians over rounds, lock order alternating",
        options::plural(plan.locks.len(), "lock"),
        options::plural(plan.threads.len(), "thread count"),
        options::plural(plan.shapes().len(), "critical-section shape"),
        options::plural(plan.rounds, "round"),
        options::human(plan.duration),
        options::human(plan.expected()),
        ksync::harness::work_unit_ns(),
        throughput::clock_overhead_ns(),
    );
    if !over.is_empty() {
        s.push_str(&format!(
            "\n* {} threads outnumber the {} cores",
            over.join(", "),
            machine.cores
        ));
    }
    s
}

/// The full table.
pub fn table(results: &Results) -> String {
    let mut out = String::new();
    for (cs, ncs) in results.plan.shapes() {
        out.push_str(&format!(
            "\ncs={cs} ncs={ncs} (work units inside / outside the lock)\n"
        ));
        out.push_str(&format!(
            "{:>8}  {:<16} {:>8} {:>6} {:>9} {:>9} {:>9} {:>7} {:>7}\n",
            "threads", "lock", "Mops/s", "fair", "wait p50", "p99", "max", "vs std", "vs pl"
        ));
        for &threads in &results.plan.threads {
            let mark = if results.machine.oversubscribed(threads) {
                "*"
            } else {
                ""
            };
            for info in &results.plan.locks {
                let Some(c) = results.cell(info.name, threads, cs, ncs) else {
                    continue;
                };
                out.push_str(&format!(
                    "{:>8}  {:<16} {:>8} {:>6.2} {:>9} {:>9} {:>9} {:>7} {:>7}{}\n",
                    format!("{threads}{mark}"),
                    info.name,
                    options::mops(c.mops()),
                    c.fairness(),
                    options::nanos(c.p50()),
                    options::nanos(c.p99()),
                    options::nanos(c.max()),
                    options::ratio(results.ratio(c, "std")),
                    options::ratio(results.ratio(c, "parking_lot")),
                    if c.excluded() { "" } else { "  LOST UPDATES" }
                ));
            }
        }
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    machine: JsonMachine<'a>,
    config: JsonConfig<'a>,
    points: Vec<JsonPoint>,
}

#[derive(Serialize)]
struct JsonMachine<'a> {
    cpu_model: &'a str,
    cores: usize,
    backend: &'static str,
    os: &'static str,
}

#[derive(Serialize)]
struct JsonConfig<'a> {
    locks: Vec<&'static str>,
    threads: &'a [usize],
    cs: &'a [u32],
    ncs: &'a [u32],
    rounds: usize,
    duration_per_point_s: f64,
    wait_sample_period: u32,
    clock_overhead_ns: u64,
    work_unit: &'static str,
    work_unit_ns: f64,
}

#[derive(Serialize)]
struct JsonPoint {
    lock: &'static str,
    kind: &'static str,
    threads: usize,
    cs: u32,
    ncs: u32,
    oversubscribed: bool,
    mops: f64,
    fairness: f64,
    wait_ns: JsonWait,
    vs_std: Option<f64>,
    vs_parking_lot: Option<f64>,
    excluded: bool,
    rounds: Vec<JsonRound>,
}

#[derive(Serialize)]
struct JsonWait {
    p50: u64,
    p99: u64,
    max: u64,
}

#[derive(Serialize)]
struct JsonRound {
    elapsed_s: f64,
    total: u64,
    per_thread: Vec<u64>,
    payload_count: u64,
    mops: f64,
    fairness: f64,
    wait_samples: u64,
    wait_ns: JsonWait,
}

/// The results as JSON.
pub fn json(results: &Results) -> String {
    let plan = &results.plan;
    let m = &results.machine;
    let report = JsonReport {
        tool: "ksync bench",
        version: env!("CARGO_PKG_VERSION"),
        machine: JsonMachine {
            cpu_model: &m.cpu_model,
            cores: m.cores,
            backend: m.backend,
            os: m.os,
        },
        config: JsonConfig {
            locks: plan.locks.iter().map(|i| i.name).collect(),
            threads: &plan.threads,
            cs: &plan.cs,
            ncs: &plan.ncs,
            rounds: plan.rounds,
            duration_per_point_s: plan.duration.as_secs_f64(),
            wait_sample_period: SAMPLE_PERIOD,
            clock_overhead_ns: throughput::clock_overhead_ns(),
            work_unit: "one step of x = rotl(x, 23) * 6364136223846793005 + 1442695040888963407 (wrapping u64)",
            work_unit_ns: ksync::harness::work_unit_ns(),
        },
        points: results
            .cells
            .iter()
            .map(|c| JsonPoint {
                lock: c.info.name,
                kind: c.info.kind.as_str(),
                threads: c.threads,
                cs: c.cs,
                ncs: c.ncs,
                oversubscribed: m.oversubscribed(c.threads),
                mops: c.mops(),
                fairness: c.fairness(),
                wait_ns: JsonWait {
                    p50: c.p50(),
                    p99: c.p99(),
                    max: c.max(),
                },
                vs_std: results.ratio(c, "std"),
                vs_parking_lot: results.ratio(c, "parking_lot"),
                excluded: c.excluded(),
                rounds: c
                    .rounds
                    .iter()
                    .map(|p| JsonRound {
                        elapsed_s: p.elapsed.as_secs_f64(),
                        total: p.total,
                        per_thread: p.per_thread.clone(),
                        payload_count: p.payload_count,
                        mops: p.mops(),
                        fairness: p.fairness(),
                        wait_samples: p.wait.samples,
                        wait_ns: JsonWait {
                            p50: p.wait.p50_ns,
                            p99: p.wait.p99_ns,
                            max: p.wait.max_ns,
                        },
                    })
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).expect("plain data serializes")
}

/// Runs `ksync bench`.
pub fn run(args: &Args) -> ExitCode {
    let machine = Machine::detect();
    let locks: Vec<&'static LockInfo> = if args.lock.is_empty() {
        options::public_locks()
    } else {
        args.lock.iter().map(|n| options::info(n)).collect()
    };
    let threads = if args.threads.is_empty() {
        default_threads(&machine)
    } else {
        args.threads
            .iter()
            .map(|&t| usize::try_from(t).unwrap_or(1))
            .collect()
    };
    let plan = Plan::new(
        &locks,
        threads,
        args.cs.clone(),
        args.ncs.clone(),
        usize::try_from(args.rounds).unwrap_or(1),
        args.duration,
        args.budget,
    );
    let header = describe(&plan, &machine);
    if args.json {
        // Keep stdout pure JSON; say what is going on where a human may be watching.
        eprintln!("ksync bench\n{header}");
    } else {
        println!("ksync bench\n{header}");
    }
    let results = match measure(&plan, machine) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ksync bench: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{}", json(&results));
    } else {
        print!("{}", table(&results));
    }
    if let Some(path) = &args.svg {
        match crate::chart::write_svg(path, &results) {
            Ok(()) => eprintln!("ksync bench: chart written to {}", path.display()),
            Err(e) => {
                eprintln!("ksync bench: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let broken = results.broken();
    if broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "ksync bench: LOST UPDATES: {} failed to exclude (the payload counter fell short of the acquisitions)",
            broken.join(", ")
        );
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksync::harness::locks;

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0]), 2.5);
        assert_eq!(median([]), 0.0);
    }

    #[test]
    fn plans_add_the_baselines_and_fit_the_budget() {
        let spin = locks::find("spin").unwrap();
        let plan = Plan::new(
            &[spin],
            vec![4, 1, 4],
            vec![50, 1],
            vec![20],
            2,
            None,
            Duration::from_secs(12),
        );
        let names: Vec<_> = plan.locks.iter().map(|i| i.name).collect();
        assert_eq!(names, ["std", "parking_lot", "spin"]);
        assert_eq!(plan.threads, [1, 4]);
        assert_eq!(plan.cs, [1, 50]);
        // 3 locks x 2 threads x 2 shapes x 2 rounds = 24 runs in 12 s: 500 ms each.
        assert_eq!(plan.runs(), 24);
        assert_eq!(plan.duration, Duration::from_millis(500));
        assert_eq!(plan.expected(), Duration::from_secs(12));
        // A tiny budget is clamped to the minimum per point; an explicit duration wins.
        let tiny = Plan::new(&[spin], vec![1], vec![1], vec![1], 1, None, Duration::ZERO);
        assert_eq!(tiny.duration, MIN_POINT);
        let fixed = Plan::new(
            &[spin],
            vec![1],
            vec![1],
            vec![1],
            1,
            Some(Duration::from_millis(7)),
            Duration::ZERO,
        );
        assert_eq!(fixed.duration, Duration::from_millis(7));
    }
}
