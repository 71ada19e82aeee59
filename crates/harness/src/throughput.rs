//! The throughput, fairness and wait-latency engine: parking_lot's lock benchmark design.
//!
//! One run (a [`Point`]) is: one lock, padded onto cache lines of its own; `threads` threads
//! released together by a barrier; each loops
//!
//! ```text
//! lock; cs_units of work on the protected payload; count += 1 (non-atomic); unlock;
//! ncs_units of work on a thread-local value
//! ```
//!
//! until a stop flag rises after `duration`, counting its own acquisitions. From the counts
//! come the total throughput (Mops/s), and fairness = min/max of the per-thread counts (1.0:
//! every thread got the lock equally often; 0.0: some thread never got it). The payload's
//! non-atomic counter must end equal to the total: a cheap exclusion check on every run.
//! [`work`] defines the work unit.
//!
//! # Wait latency, sampled
//!
//! The wait of an acquisition is the time from calling `lock` to running inside the critical
//! section. Timing every acquisition would cost two clock reads (about 20 ns each through the
//! vDSO) and distort a critical section of a few nanoseconds, so each thread times one
//! acquisition in [`SAMPLE_PERIOD`] (a per-thread countdown, with each thread starting at a
//! different phase). A sampled acquisition reads the clock before `lock` and first thing inside
//! the critical section, so it holds the lock about one clock read longer than the others: a
//! cost spread over [`SAMPLE_PERIOD`] acquisitions. The interval between the two reads also
//! contains one read's own cost (25 to 40 ns on a virtual machine's vDSO clock), more than an
//! uncontended lock: [`clock_overhead_ns`] measures it once per process (the median of 1001
//! back-to-back reads) and each sample is recorded net of it, so an uncontended acquisition
//! shows its few nanoseconds rather than the clock's. Samples go into a per-thread HDR
//! histogram (3 significant digits, up to 60 s), merged at the end: p50, p99, max.
//!
//! # Using it from a criterion bench
//!
//! The engine runs for a fixed time, so a bench reports the time per acquisition derived from
//! the measured throughput (criterion's `iter_custom`):
//!
//! ```no_run
//! use std::time::Duration;
//! use criterion::Criterion;
//! use ksync::harness::throughput;
//!
//! fn bench(c: &mut Criterion) {
//!     let mut g = c.benchmark_group("contended_4_threads");
//!     for lock in ["std", "parking_lot"] {
//!         g.bench_function(lock, |b| {
//!             b.iter_custom(|iters| {
//!                 let p = throughput::run(lock, 4, 1, 10, Duration::from_millis(50)).unwrap();
//!                 // Time per acquisition (all threads together), times the iterations asked for.
//!                 p.time_for(iters)
//!             })
//!         });
//!     }
//!     g.finish();
//! }
//! # bench(&mut Criterion::default());
//! ```

use std::hint::black_box;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::locks::{self, Lock, LockInfo, LockVisitor, Payload};
use super::{work, Error};
use ksync_barrier::sync::atomic::{AtomicBool, Ordering};

/// Each thread times one acquisition in this many.
pub const SAMPLE_PERIOD: u32 = 32;

/// Histogram bounds: 1 ns to 60 s, 3 significant digits; longer waits saturate at 60 s.
const HIST_LOW_NS: u64 = 1;
const HIST_HIGH_NS: u64 = 60_000_000_000;
const HIST_SIGFIG: u8 = 3;

/// One measurement's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Threads contending for the lock (at least 1).
    pub threads: usize,
    /// Work units inside each critical section.
    pub cs_units: u32,
    /// Work units between critical sections.
    pub ncs_units: u32,
    /// How long the threads run (more than zero).
    pub duration: Duration,
}

impl Config {
    /// Checks the parameters: at least one thread, a non-zero duration.
    pub fn validate(&self) -> Result<(), Error> {
        if self.threads == 0 {
            return Err(Error::ZeroThreads);
        }
        if self.duration.is_zero() {
            return Err(Error::ZeroDuration);
        }
        Ok(())
    }
}

/// The cost of one clock read as seen between two back-to-back `Instant::now()` calls, in
/// nanoseconds: the median of 1001 pairs, measured once per process. Sampled waits are recorded
/// net of it.
pub fn clock_overhead_ns() -> u64 {
    static OVERHEAD: OnceLock<u64> = OnceLock::new();
    *OVERHEAD.get_or_init(|| {
        let mut deltas: Vec<u64> = (0..1001)
            .map(|_| {
                let a = Instant::now();
                let b = Instant::now();
                u64::try_from(b.saturating_duration_since(a).as_nanos()).unwrap_or(u64::MAX)
            })
            .collect();
        deltas.sort_unstable();
        deltas[deltas.len() / 2]
    })
}

/// Wait-latency percentiles from the sampled acquisitions, in nanoseconds, net of the clock's
/// own cost ([`clock_overhead_ns`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    /// Acquisitions timed.
    pub samples: u64,
    /// The clock overhead subtracted from each sample.
    pub clock_overhead_ns: u64,
    /// Median wait.
    pub p50_ns: u64,
    /// 99th percentile wait.
    pub p99_ns: u64,
    /// Longest wait seen.
    pub max_ns: u64,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Point {
    /// The lock's registry name.
    pub lock: &'static str,
    /// The parameters it ran with.
    pub config: Config,
    /// Time from the threads' release to the stop flag.
    pub elapsed: Duration,
    /// Acquisitions by each thread.
    pub per_thread: Vec<u64>,
    /// All acquisitions (the sum of `per_thread`).
    pub total: u64,
    /// The payload's non-atomic counter at the end: equal to `total` if the lock excluded.
    pub payload_count: u64,
    /// Sampled wait latency.
    pub wait: Wait,
}

impl Point {
    /// Acquisitions per second, in millions (all threads together).
    pub fn mops(&self) -> f64 {
        self.total as f64 / self.elapsed.as_secs_f64() / 1e6
    }

    /// min/max of the per-thread acquisition counts: 1.0 is perfectly fair, 0.0 means some
    /// thread never got the lock.
    pub fn fairness(&self) -> f64 {
        let max = self.per_thread.iter().copied().max().unwrap_or(0);
        let min = self.per_thread.iter().copied().min().unwrap_or(0);
        if max == 0 {
            0.0
        } else {
            min as f64 / max as f64
        }
    }

    /// Elapsed time divided by the acquisitions: the reciprocal of the throughput.
    /// `elapsed` itself when nothing was acquired. A `Duration` has whole nanoseconds, so this
    /// is rounded to 1 ns; for a criterion bench use [`time_for`](Self::time_for).
    pub fn time_per_acquisition(&self) -> Duration {
        if self.total == 0 {
            self.elapsed
        } else {
            self.elapsed.div_f64(self.total as f64)
        }
    }

    /// The time `n` acquisitions took at this point's rate (what `iter_custom` returns for `n`
    /// iterations), scaled before rounding so that criterion sees sub-nanosecond differences.
    pub fn time_for(&self, n: u64) -> Duration {
        Duration::from_secs_f64(self.elapsed.as_secs_f64() * n as f64 / self.total.max(1) as f64)
    }

    /// Whether the payload counter matches the acquisitions (no update lost to a second
    /// holder).
    pub fn excluded(&self) -> bool {
        self.payload_count == self.total
    }
}

/// Measures the lock registered as `lock`: `threads` threads, `cs_units` of work inside the
/// lock and `ncs_units` outside, for `duration`. Blocks for the run.
///
/// Errors: an unknown lock name (the error lists the valid ones), zero threads, zero duration.
pub fn run(
    lock: &str,
    threads: usize,
    cs_units: u32,
    ncs_units: u32,
    duration: Duration,
) -> Result<Point, Error> {
    let config = Config {
        threads,
        cs_units,
        ncs_units,
        duration,
    };
    run_config(lock, &config)
}

/// [`run`] with the parameters in a [`Config`].
pub fn run_config(lock: &str, config: &Config) -> Result<Point, Error> {
    config.validate()?;
    locks::dispatch(lock, Measure(config))
}

/// Measures a lock type that need not be registered (e.g. a bench's own variant), reported
/// under `name`.
pub fn run_lock<L: Lock<Payload>>(name: &'static str, config: &Config) -> Result<Point, Error> {
    config.validate()?;
    Ok(measure::<L>(name, config))
}

struct Measure<'a>(&'a Config);

impl LockVisitor for Measure<'_> {
    type Output = Point;

    fn visit<L: Lock<Payload> + 'static>(self, info: &'static LockInfo) -> Point {
        measure::<L>(info.name, self.0)
    }
}

/// What the threads share. The lock and the stop flag have cache lines of their own, so the
/// only line bouncing between CPUs is the lock's (with its payload, as in real use).
struct Shared<L> {
    lock: CachePadded<L>,
    stop: CachePadded<AtomicBool>,
    start: Barrier,
}

fn measure<L: Lock<Payload>>(name: &'static str, config: &Config) -> Point {
    let overhead = clock_overhead_ns();
    let shared = Shared {
        lock: CachePadded::new(L::new(Payload::new())),
        stop: CachePadded::new(AtomicBool::new(false)),
        start: Barrier::new(config.threads + 1),
    };
    let (elapsed, results) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..config.threads)
            .map(|index| {
                let shared = &shared;
                s.spawn(move || worker(shared, config, index, overhead))
            })
            .collect();
        shared.start.wait();
        let start = Instant::now();
        // The measurement window is a sleep of the main thread: workload timing, not
        // synchronisation (the threads stop on the flag and are joined).
        std::thread::sleep(config.duration);
        // Relaxed: the flag only has to become visible eventually; the joins below order
        // everything the threads did before the results are read.
        shared.stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .collect();
        (elapsed, results)
    });

    let mut hist = new_histogram();
    let mut per_thread = Vec::with_capacity(results.len());
    for (count, h) in &results {
        per_thread.push(*count);
        hist.add(h).expect("histograms with equal bounds add");
    }
    let total = per_thread.iter().sum();
    // Relaxed: every thread has been joined, which orders all their stores before this load.
    let payload_count = shared.lock.with(|p| p.count.load(Ordering::Relaxed));
    Point {
        lock: name,
        config: config.clone(),
        elapsed,
        per_thread,
        total,
        payload_count,
        wait: Wait {
            clock_overhead_ns: clock_overhead_ns(),
            ..wait_stats(&hist)
        },
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, HIST_SIGFIG)
        .expect("constant, valid histogram bounds")
}

fn wait_stats(hist: &Histogram<u64>) -> Wait {
    if hist.is_empty() {
        return Wait::default();
    }
    Wait {
        samples: hist.len(),
        clock_overhead_ns: 0,
        p50_ns: hist.value_at_quantile(0.50),
        p99_ns: hist.value_at_quantile(0.99),
        max_ns: hist.max(),
    }
}

/// The critical section: `cs` steps of the chain on the payload, and the non-atomic count,
/// read on entry and written back on exit so that a second holder anywhere in between loses
/// the increment.
#[inline(always)]
fn critical_section(p: &Payload, cs: u32) {
    // Relaxed throughout: the lock's acquire/release orders these against the previous and
    // next holder; they must not be RMWs (a correct lock makes a plain load/store enough, and
    // a broken one must be able to lose updates so the count exposes it).
    let c = p.count.load(Ordering::Relaxed);
    let x = p.chain.load(Ordering::Relaxed);
    p.chain.store(work(cs, x), Ordering::Relaxed);
    p.count.store(c + 1, Ordering::Relaxed);
}

/// One thread's loop; returns its acquisitions and its wait histogram.
fn worker<L: Lock<Payload>>(
    shared: &Shared<L>,
    config: &Config,
    index: usize,
    clock_overhead_ns: u64,
) -> (u64, Histogram<u64>) {
    let mut hist = new_histogram();
    let (cs, ncs) = (config.cs_units, config.ncs_units);
    let mut local = index as u64 + 1;
    let mut acquisitions = 0u64;
    // Threads start at different phases of the sampling period, so they do not all sample the
    // same rounds of a FIFO lock's handoff order.
    let mut countdown = (index as u32).wrapping_mul(7) % SAMPLE_PERIOD;
    shared.start.wait();
    // Relaxed: a stale `false` only costs one more iteration.
    while !shared.stop.load(Ordering::Relaxed) {
        if countdown == 0 {
            countdown = SAMPLE_PERIOD - 1;
            let asked = Instant::now();
            let entered = shared.lock.with(|p| {
                let entered = Instant::now();
                critical_section(p, cs);
                entered
            });
            let wait = entered.saturating_duration_since(asked).as_nanos();
            let wait = u64::try_from(wait).unwrap_or(u64::MAX);
            hist.saturating_record(wait.saturating_sub(clock_overhead_ns));
        } else {
            countdown -= 1;
            shared.lock.with(|p| critical_section(p, cs));
        }
        local = work(ncs, local);
        acquisitions += 1;
    }
    black_box(local);
    (acquisitions, hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_the_lock_excludes() {
        for lock in ["std", "parking_lot", "spin", "spin-ticket"] {
            let p = run(lock, 3, 2, 5, Duration::from_millis(30)).unwrap();
            assert_eq!(p.lock, lock);
            assert_eq!(p.per_thread.len(), 3);
            assert_eq!(p.per_thread.iter().sum::<u64>(), p.total);
            assert!(p.total > 0, "{lock}: no acquisitions");
            assert_eq!(p.payload_count, p.total, "{lock}: lost updates");
            assert!(p.excluded());
            assert!((0.0..=1.0).contains(&p.fairness()));
            assert!(p.mops() > 0.0);
            // Every thread samples its first acquisition or one within SAMPLE_PERIOD.
            assert!(p.wait.samples > 0);
            assert!(p.wait.p50_ns <= p.wait.p99_ns && p.wait.p99_ns <= p.wait.max_ns);
        }
    }

    #[test]
    fn a_broken_lock_loses_updates() {
        // lock_busted does not exclude: with 4 threads and long critical sections, updates of
        // the non-atomic counter are lost whenever two "holders" overlap, which preemption
        // alone guarantees over 200 ms.
        let p = run("lock_busted", 4, 200, 0, Duration::from_millis(200)).unwrap();
        assert!(p.total > 0);
        assert!(
            !p.excluded(),
            "lock_busted lost no update in {} acquisitions",
            p.total
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        let d = Duration::from_millis(1);
        assert_eq!(run("std", 0, 1, 1, d).unwrap_err(), Error::ZeroThreads);
        assert_eq!(
            run("std", 1, 1, 1, Duration::ZERO).unwrap_err(),
            Error::ZeroDuration
        );
        assert!(matches!(
            run("nope", 1, 1, 1, d).unwrap_err(),
            Error::UnknownLock { .. }
        ));
    }

    #[test]
    fn run_lock_measures_unregistered_types() {
        let config = Config {
            threads: 2,
            cs_units: 1,
            ncs_units: 1,
            duration: Duration::from_millis(10),
        };
        let p = run_lock::<parking_lot::Mutex<Payload>>("mine", &config).unwrap();
        assert_eq!(p.lock, "mine");
        assert_eq!(p.payload_count, p.total);
    }

    #[test]
    fn derived_figures() {
        let p = Point {
            lock: "x",
            config: Config {
                threads: 2,
                cs_units: 0,
                ncs_units: 0,
                duration: Duration::from_secs(1),
            },
            elapsed: Duration::from_secs(2),
            per_thread: vec![1_000_000, 3_000_000],
            total: 4_000_000,
            payload_count: 4_000_000,
            wait: Wait::default(),
        };
        assert_eq!(p.mops(), 2.0);
        assert_eq!(p.fairness(), 1.0 / 3.0);
        assert_eq!(p.time_per_acquisition(), Duration::from_nanos(500));
        assert_eq!(p.time_for(3), Duration::from_nanos(1500));
        // 666.67 ns per acquisition: `time_per_acquisition` rounds to 667 ns (x 3M = 2.001 s),
        // `time_for` scales first.
        let q = Point {
            per_thread: vec![1_000_000, 2_000_000],
            total: 3_000_000,
            payload_count: 3_000_000,
            ..p
        };
        assert_eq!(q.time_per_acquisition(), Duration::from_nanos(667));
        assert_eq!(q.time_for(3_000_000), Duration::from_secs(2));
    }
}
