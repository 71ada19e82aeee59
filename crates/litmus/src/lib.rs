//! Litmus tests on real hardware: classic LKMM shapes run on two threads, outcomes counted.
//!
//! Mirrors the kernel's `tools/memory-model/litmus-tests/` (run there by herd7 against the model
//! and by litmus7 against hardware). Each [`LitmusTest`] is one shape with its LKMM verdict:
//! an *allowed* ("Sometimes") outcome may or may not show up on a given CPU, a *forbidden*
//! ("Never") one must never show up. Seeing a forbidden outcome means a barrier in this crate
//! (or the hardware) is broken; [`Report::violation`] says so.
//!
//! Seeing an allowed outcome proves the harness is sensitive: x86 is TSO, whose store buffer
//! lets a later load pass an earlier store, so plain SB and R show their weak outcome, while
//! MP and LB are allowed by LKMM but impossible on x86.
//!
//! # How a run works
//!
//! Two threads (pinned to different CPUs where the OS allows) run the test `iterations` times.
//! Iteration `i` uses fresh variables `x[i]`, `y[i]` (an array per batch, zeroed between
//! batches), so no iteration sees another's stores. Both threads meet at a spin rendezvous
//! before every iteration (an atomic counter), each then waits a small pseudo-random number of
//! `pause`s to vary their skew, and runs its two accesses. After each batch the first thread
//! tallies the registers (and, for R, the final value of `y`) into a histogram.
//!
//! ```
//! use ksync_litmus::{self as litmus, Config};
//! let test = litmus::find("MP+rel+acq").unwrap();
//! let report = litmus::run(test, &Config { iterations: 2_000, ..Config::default() });
//! assert!(!report.violation()); // the LKMM forbids MP's weak outcome with release/acquire
//! assert_eq!(report.histogram.iter().map(|(_, n)| n).sum::<u64>(), report.iterations);
//! ```

// Real threads and real barriers only: nothing here is a loom model, and under `cfg(loom)`
// ksync-barrier's accesses take loom's atomics, so the crate is empty in that build.
#![cfg(not(loom))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::boxed::Box;
use std::format;
use std::string::String;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crossbeam_utils::CachePadded;

use ksync_barrier::{
    read_once, smp_load_acquire, smp_mb, smp_rmb, smp_store_release, smp_wmb, write_once,
};

/// The LKMM's verdict on a test's `exists` clause (herd7's "Sometimes" / "Never").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some execution may show the outcome ("Sometimes").
    Allowed,
    /// No execution may show the outcome ("Never"); seeing it is a bug.
    Forbidden,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allowed => "Allowed",
            Verdict::Forbidden => "Forbidden",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Sb,
    SbMb,
    Mp,
    MpRelAcq,
    MpWmbRmb,
    Lb,
    LbRelAcq,
    R,
    RMb,
}

/// One litmus test: a two-thread shape, the outcome asked about, and the verdicts.
#[derive(Debug)]
pub struct LitmusTest {
    /// Short name used by ksync (`"SB"`, `"SB+mb"`, `"MP+rel+acq"`, ...).
    pub name: &'static str,
    /// The name of the kernel's test of the same shape (`"SB+poonceonces"`, ...).
    pub kernel_name: &'static str,
    /// Thread 0's code, in kernel spelling.
    pub p0: &'static str,
    /// Thread 1's code, in kernel spelling.
    pub p1: &'static str,
    /// The two values an outcome is made of (registers, or a final memory value).
    pub observed: [&'static str; 2],
    /// The outcome the test asks about (its `exists` clause).
    pub exists: [u32; 2],
    /// What the LKMM says about that outcome.
    pub lkmm: Verdict,
    /// Whether x86's TSO hardware can show the outcome.
    pub x86_observable: bool,
    shape: Shape,
}

impl LitmusTest {
    /// The `exists` clause in litmus syntax, e.g. `0:r0=0 /\ 1:r0=0`.
    pub fn exists_clause(&self) -> String {
        format!(
            "{}={} /\\ {}={}",
            self.observed[0], self.exists[0], self.observed[1], self.exists[1]
        )
    }
}

/// The tests, in the order `ksync litmus` prints them.
pub static TESTS: &[LitmusTest] = &[
    LitmusTest {
        name: "SB",
        kernel_name: "SB+poonceonces",
        p0: "WRITE_ONCE(*x, 1); r0 = READ_ONCE(*y);",
        p1: "WRITE_ONCE(*y, 1); r0 = READ_ONCE(*x);",
        observed: ["0:r0", "1:r0"],
        exists: [0, 0],
        lkmm: Verdict::Allowed,
        x86_observable: true,
        shape: Shape::Sb,
    },
    LitmusTest {
        name: "SB+mb",
        kernel_name: "SB+fencembonceonces",
        p0: "WRITE_ONCE(*x, 1); smp_mb(); r0 = READ_ONCE(*y);",
        p1: "WRITE_ONCE(*y, 1); smp_mb(); r0 = READ_ONCE(*x);",
        observed: ["0:r0", "1:r0"],
        exists: [0, 0],
        lkmm: Verdict::Forbidden,
        x86_observable: false,
        shape: Shape::SbMb,
    },
    LitmusTest {
        name: "MP",
        kernel_name: "MP+poonceonces",
        p0: "WRITE_ONCE(*x, 1); WRITE_ONCE(*y, 1);",
        p1: "r0 = READ_ONCE(*y); r1 = READ_ONCE(*x);",
        observed: ["1:r0", "1:r1"],
        exists: [1, 0],
        lkmm: Verdict::Allowed,
        x86_observable: false,
        shape: Shape::Mp,
    },
    LitmusTest {
        name: "MP+rel+acq",
        kernel_name: "MP+pooncerelease+poacquireonce",
        p0: "WRITE_ONCE(*x, 1); smp_store_release(y, 1);",
        p1: "r0 = smp_load_acquire(y); r1 = READ_ONCE(*x);",
        observed: ["1:r0", "1:r1"],
        exists: [1, 0],
        lkmm: Verdict::Forbidden,
        x86_observable: false,
        shape: Shape::MpRelAcq,
    },
    LitmusTest {
        name: "MP+wmb+rmb",
        kernel_name: "MP+fencewmbonceonce+fencermbonceonce",
        p0: "WRITE_ONCE(*x, 1); smp_wmb(); WRITE_ONCE(*y, 1);",
        p1: "r0 = READ_ONCE(*y); smp_rmb(); r1 = READ_ONCE(*x);",
        observed: ["1:r0", "1:r1"],
        exists: [1, 0],
        lkmm: Verdict::Forbidden,
        x86_observable: false,
        shape: Shape::MpWmbRmb,
    },
    LitmusTest {
        name: "LB",
        kernel_name: "LB+poonceonces",
        p0: "r0 = READ_ONCE(*x); WRITE_ONCE(*y, 1);",
        p1: "r0 = READ_ONCE(*y); WRITE_ONCE(*x, 1);",
        observed: ["0:r0", "1:r0"],
        exists: [1, 1],
        lkmm: Verdict::Allowed,
        x86_observable: false,
        shape: Shape::Lb,
    },
    LitmusTest {
        name: "LB+rel+acq",
        kernel_name: "LB+poacquireonce+pooncerelease",
        p0: "r0 = READ_ONCE(*x); smp_store_release(y, 1);",
        p1: "r0 = smp_load_acquire(y); WRITE_ONCE(*x, 1);",
        observed: ["0:r0", "1:r0"],
        exists: [1, 1],
        lkmm: Verdict::Forbidden,
        x86_observable: false,
        shape: Shape::LbRelAcq,
    },
    LitmusTest {
        name: "R",
        kernel_name: "R+poonceonces",
        p0: "WRITE_ONCE(*x, 1); WRITE_ONCE(*y, 1);",
        p1: "WRITE_ONCE(*y, 2); r0 = READ_ONCE(*x);",
        observed: ["1:r0", "y"],
        exists: [0, 2],
        lkmm: Verdict::Allowed,
        x86_observable: true,
        shape: Shape::R,
    },
    LitmusTest {
        name: "R+mb",
        kernel_name: "R+fencembonceonces",
        p0: "WRITE_ONCE(*x, 1); smp_mb(); WRITE_ONCE(*y, 1);",
        p1: "WRITE_ONCE(*y, 2); smp_mb(); r0 = READ_ONCE(*x);",
        observed: ["1:r0", "y"],
        exists: [0, 2],
        lkmm: Verdict::Forbidden,
        x86_observable: false,
        shape: Shape::RMb,
    },
];

/// Looks a test up by its ksync name or its kernel name (case-insensitive).
pub fn find(name: &str) -> Option<&'static LitmusTest> {
    TESTS
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name) || t.kernel_name.eq_ignore_ascii_case(name))
}

/// How long to run a test.
#[derive(Clone, Debug)]
pub struct Config {
    /// Iterations to run (rounded up to whole batches of [`Config::batch`]).
    pub iterations: u64,
    /// Stop at the end of the first batch that shows the `exists` outcome.
    pub stop_on_exists: bool,
    /// Stop at the end of the first batch past this wall-clock budget.
    pub time_limit: Option<Duration>,
    /// Iterations per batch (fresh variables within a batch). At least 1.
    pub batch: usize,
    /// Pin the two threads to two different CPUs (Linux; ignored where not possible).
    pub pin: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            iterations: 100_000,
            stop_on_exists: false,
            time_limit: None,
            batch: 4096,
            pin: true,
        }
    }
}

/// The outcome of running one test.
#[derive(Clone, Debug)]
pub struct Report {
    /// The test that ran.
    pub test: &'static LitmusTest,
    /// Iterations actually run.
    pub iterations: u64,
    /// Every outcome seen, with its count, in ascending order of outcome.
    pub histogram: Vec<([u32; 2], u64)>,
    /// How many iterations showed the `exists` outcome.
    pub exists_count: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Whether the `exists` outcome was seen at least once.
    pub fn observed(&self) -> bool {
        self.exists_count > 0
    }

    /// Whether the run saw an outcome the LKMM forbids: a broken barrier (or CPU).
    pub fn violation(&self) -> bool {
        self.test.lkmm == Verdict::Forbidden && self.observed()
    }
}

impl fmt::Display for Report {
    /// litmus7-style output: the test, the histogram, and the `Observation` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.test;
        writeln!(f, "Test {} {} ({})", t.name, t.lkmm, t.kernel_name)?;
        writeln!(f, "  P0: {}", t.p0)?;
        writeln!(f, "  P1: {}", t.p1)?;
        writeln!(f, "  exists ({})", t.exists_clause())?;
        writeln!(f, "Histogram ({} states)", self.histogram.len())?;
        for (outcome, n) in &self.histogram {
            let mark = if *outcome == t.exists { "*>" } else { ":>" };
            writeln!(
                f,
                "{n:<10}{mark}{}={}; {}={};",
                t.observed[0], outcome[0], t.observed[1], outcome[1]
            )?;
        }
        let word = match (self.exists_count, self.iterations - self.exists_count) {
            (0, _) => "Never",
            (_, 0) => "Always",
            _ => "Sometimes",
        };
        write!(
            f,
            "Observation {} {} {} {} ({:.2?}){}",
            t.name,
            word,
            self.exists_count,
            self.iterations - self.exists_count,
            self.elapsed,
            if self.violation() {
                "  FORBIDDEN OUTCOME SEEN"
            } else {
                ""
            }
        )
    }
}

/// Per-batch variables: fresh `x[i]`, `y[i]` for every iteration, and the registers.
struct Batch {
    x: Box<[AtomicU32]>,
    y: Box<[AtomicU32]>,
    /// Thread 0's register.
    p0_r0: Box<[AtomicU32]>,
    /// Thread 1's registers.
    p1_r0: Box<[AtomicU32]>,
    p1_r1: Box<[AtomicU32]>,
}

fn zeroed(n: usize) -> Box<[AtomicU32]> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

impl Batch {
    fn new(n: usize) -> Self {
        Batch {
            x: zeroed(n),
            y: zeroed(n),
            p0_r0: zeroed(n),
            p1_r0: zeroed(n),
            p1_r1: zeroed(n),
        }
    }
}

/// Shared state of one run.
struct Run<'a> {
    test: &'a LitmusTest,
    batch: Batch,
    /// The per-iteration rendezvous: each thread adds 1 before iteration `k` and waits for
    /// `2 * (k + 1)`.
    rendezvous: CachePadded<AtomicU64>,
    /// Batch boundaries (tally, reset) use a blocking barrier.
    between: Barrier,
    stop: AtomicBool,
}

/// A tiny xorshift generator for the pre-iteration delay (no dependency, not crypto).
fn next_delay(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state & 0x7
}

impl Run<'_> {
    /// Waits until both threads have arrived for iteration `k`.
    #[inline(always)]
    fn meet(&self, k: u64) {
        // Relaxed is enough: the rendezvous only aligns the threads in time; the batch
        // barrier provides the happens-before edges the tally relies on.
        self.rendezvous.fetch_add(1, Ordering::Relaxed);
        let target = 2 * (k + 1);
        while self.rendezvous.load(Ordering::Relaxed) < target {
            core::hint::spin_loop();
        }
    }

    /// Runs thread `me`'s half of iteration `i`.
    #[inline(always)]
    fn step(&self, me: usize, i: usize) {
        let b = &self.batch;
        let (x, y) = (&b.x[i], &b.y[i]);
        // Each arm is the test's own code (`p0`/`p1`): its orderings are what the test checks.
        match (me, self.test.shape) {
            (0, Shape::Sb) => {
                write_once(x, 1);
                write_once(&b.p0_r0[i], read_once(y));
            }
            (1, Shape::Sb) => {
                write_once(y, 1);
                write_once(&b.p1_r0[i], read_once(x));
            }
            (0, Shape::SbMb) => {
                write_once(x, 1);
                smp_mb();
                write_once(&b.p0_r0[i], read_once(y));
            }
            (1, Shape::SbMb) => {
                write_once(y, 1);
                smp_mb();
                write_once(&b.p1_r0[i], read_once(x));
            }
            (0, Shape::Mp) | (0, Shape::R) => {
                write_once(x, 1);
                write_once(y, 1);
            }
            (1, Shape::Mp) => {
                let r0 = read_once(y);
                let r1 = read_once(x);
                write_once(&b.p1_r0[i], r0);
                write_once(&b.p1_r1[i], r1);
            }
            (0, Shape::MpRelAcq) => {
                write_once(x, 1);
                smp_store_release(y, 1);
            }
            (1, Shape::MpRelAcq) => {
                let r0 = smp_load_acquire(y);
                let r1 = read_once(x);
                write_once(&b.p1_r0[i], r0);
                write_once(&b.p1_r1[i], r1);
            }
            (0, Shape::MpWmbRmb) => {
                write_once(x, 1);
                smp_wmb();
                write_once(y, 1);
            }
            (1, Shape::MpWmbRmb) => {
                let r0 = read_once(y);
                smp_rmb();
                let r1 = read_once(x);
                write_once(&b.p1_r0[i], r0);
                write_once(&b.p1_r1[i], r1);
            }
            (0, Shape::Lb) => {
                let r0 = read_once(x);
                write_once(y, 1);
                write_once(&b.p0_r0[i], r0);
            }
            (1, Shape::Lb) => {
                let r0 = read_once(y);
                write_once(x, 1);
                write_once(&b.p1_r0[i], r0);
            }
            (0, Shape::LbRelAcq) => {
                let r0 = read_once(x);
                smp_store_release(y, 1);
                write_once(&b.p0_r0[i], r0);
            }
            (1, Shape::LbRelAcq) => {
                let r0 = smp_load_acquire(y);
                write_once(x, 1);
                write_once(&b.p1_r0[i], r0);
            }
            (1, Shape::R) => {
                write_once(y, 2);
                write_once(&b.p1_r0[i], read_once(x));
            }
            (0, Shape::RMb) => {
                write_once(x, 1);
                smp_mb();
                write_once(y, 1);
            }
            (1, Shape::RMb) => {
                write_once(y, 2);
                smp_mb();
                write_once(&b.p1_r0[i], read_once(x));
            }
            _ => unreachable!("two threads only"),
        }
    }

    /// The outcome of iteration `i`, after the batch barrier.
    fn outcome(&self, i: usize) -> [u32; 2] {
        let b = &self.batch;
        // Relaxed: the batch barrier orders the test threads' register writes before these reads.
        let get = |v: &AtomicU32| v.load(Ordering::Relaxed);
        match self.test.shape {
            Shape::Sb | Shape::SbMb | Shape::Lb | Shape::LbRelAcq => {
                [get(&b.p0_r0[i]), get(&b.p1_r0[i])]
            }
            Shape::Mp | Shape::MpRelAcq | Shape::MpWmbRmb => [get(&b.p1_r0[i]), get(&b.p1_r1[i])],
            Shape::R | Shape::RMb => [get(&b.p1_r0[i]), get(&b.y[i])],
        }
    }

    fn reset(&self) {
        let b = &self.batch;
        for v in [&b.x, &b.y, &b.p0_r0, &b.p1_r0, &b.p1_r1] {
            for a in v.iter() {
                // Relaxed: the batch barrier that follows orders the reset before the next batch.
                a.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// Runs `test` on two real threads as `config` says, and returns the histogram.
///
/// Blocks for the whole run. The calling thread's CPU affinity is never changed (the two test
/// threads are new threads).
pub fn run(test: &'static LitmusTest, config: &Config) -> Report {
    let batch = config.batch.max(1);
    let batches = config.iterations.div_ceil(batch as u64).max(1);
    let run = Run {
        test,
        batch: Batch::new(batch),
        rendezvous: CachePadded::new(AtomicU64::new(0)),
        between: Barrier::new(2),
        stop: AtomicBool::new(false),
    };
    let cpus = allowed_cpus();
    let start = Instant::now();
    let mut tally = Tally {
        hist: [[0; 3]; 3],
        done: 0,
    };
    let ctx = Worker {
        run: &run,
        config,
        batches,
        batch,
        cpus: &cpus,
        start,
    };
    std::thread::scope(|s| {
        s.spawn(|| ctx.work(1, None));
        s.spawn(|| ctx.work(0, Some(&mut tally)));
    });
    let hist = tally.hist;
    let done = tally.done;

    let mut histogram = Vec::new();
    for (a, row) in hist.iter().enumerate() {
        for (b, &n) in row.iter().enumerate() {
            if n > 0 {
                histogram.push(([a as u32, b as u32], n));
            }
        }
    }
    let exists_count = hist[test.exists[0] as usize][test.exists[1] as usize];
    Report {
        test,
        iterations: done,
        histogram,
        exists_count,
        elapsed: start.elapsed(),
    }
}

/// Thread 0's running totals.
struct Tally {
    hist: [[u64; 3]; 3],
    done: u64,
}

/// What each of the two test threads needs.
struct Worker<'a> {
    run: &'a Run<'a>,
    config: &'a Config,
    batches: u64,
    batch: usize,
    cpus: &'a [usize],
    start: Instant,
}

impl Worker<'_> {
    /// Thread `me`'s whole run; thread 0 also tallies each batch into `tally`.
    fn work(&self, me: usize, mut tally: Option<&mut Tally>) {
        let (run, test) = (self.run, self.run.test);
        if self.config.pin && self.cpus.len() >= 2 {
            pin_to(self.cpus[me]);
        }
        let mut seed = 0x9E37_79B9u32 ^ (me as u32 + 1);
        let mut k = 0u64;
        for _ in 0..self.batches {
            for i in 0..self.batch {
                run.meet(k);
                k += 1;
                for _ in 0..next_delay(&mut seed) {
                    core::hint::spin_loop();
                }
                run.step(me, i);
            }
            run.between.wait();
            if let Some(t) = tally.as_deref_mut() {
                let mut seen = false;
                for i in 0..self.batch {
                    let o = run.outcome(i);
                    t.hist[o[0].min(2) as usize][o[1].min(2) as usize] += 1;
                    seen |= o == test.exists;
                }
                t.done += self.batch as u64;
                run.reset();
                let out_of_time = self
                    .config
                    .time_limit
                    .is_some_and(|limit| self.start.elapsed() >= limit);
                if (self.config.stop_on_exists && seen) || out_of_time {
                    // Relaxed: the batch barrier just below orders it before both threads read it.
                    run.stop.store(true, Ordering::Relaxed);
                }
            }
            // The tally and the reset happen before either thread starts the next batch, and
            // both threads see the same `stop`.
            run.between.wait();
            // Relaxed: stored (if at all) before the barrier above, so both threads read the same.
            if run.stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
}

/// The CPUs this process may run on (Linux), or an empty list.
fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `cpu_set_t` is plain data; zeroed is a valid empty set, and
        // `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes into it.
        unsafe {
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            if libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
                return (0..libc::CPU_SETSIZE as usize)
                    .filter(|&c| libc::CPU_ISSET(c, &set))
                    .collect();
            }
        }
    }
    Vec::new()
}

/// Pins the calling thread to `cpu` (best effort: failure only costs sensitivity).
fn pin_to(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as above; `sched_setaffinity(0, ..)` only changes the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            let _ = libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}
