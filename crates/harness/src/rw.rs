//! Reader/writer workloads: the registry of read-mostly primitives and the engine that tortures
//! and measures them.
//!
//! Mirrors the reader/writer half of `kernel/locking/locktorture.c` (its `rw_lock`,
//! `rw_lock_irq`, `rwsem_lock` types, which add `nreaders_stress` reader threads and a
//! `Reads:` line) and the read side of `kernel/rcu/rcutorture.c` (readers hold a version while
//! updaters replace it). A mutex is a [`Lock`](crate::locks::Lock); anything with a read side
//! (a reader-writer lock, a seqlock, an RCU-protected pointer) is a [`ReadWrite`], and this
//! module's [`RW_LOCKS`] is its registry, beside [`LOCKS`](crate::locks::LOCKS). Adding one is
//! one line in the `rw_registry!` invocation plus, for a type that is not a `lock_api` 0.5
//! `RawRwLock`, a small [`ReadWrite`] impl.
//!
//! # The payload and what is checked
//!
//! What is shared is a [`Snapshot`]: [`WORDS`] `u64`s that satisfy an invariant, word `i` is
//! `generation * (i + 1)`. A writer reads the generation, and writes generation + 1 into every
//! word, one word at a time (so a reader that overlaps a writer sees a mix, a *torn read*, unless
//! the primitive excludes it). Readers check the invariant on every read. At the end the
//! generation must equal the number of updates (no update lost to two writers at once). Lock
//! adapters keep the words in `AtomicU64`s accessed with `Relaxed` loads and stores, so a broken
//! primitive produces *counted* failures, not undefined behaviour (the same argument as
//! [`Payload`](crate::locks::Payload)).
//!
//! ```
//! use std::time::Duration;
//! use ksync::harness::rw::{self, Config, Role};
//!
//! let config = Config { roles: vec![Role::Reader, Role::Reader, Role::Writer], ..Config::quick() };
//! let report = rw::run("parking_lot-rwlock", &config).unwrap();
//! assert!(report.success(), "{}", report.end_line());
//! assert_eq!(report.final_generation, report.writes());
//! ```

use core::fmt;
use std::sync::{Barrier, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use ksync_barrier::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::locks::Kind;
use crate::Error;

/// The number of words in a [`Snapshot`]: four, so that a torn read is likely to be caught.
pub const WORDS: usize = 4;

/// The value readers see and writers replace.
pub type Snapshot = [u64; WORDS];

/// The snapshot of generation `g`: word `i` is `g * (i + 1)` (wrapping).
pub fn snapshot(generation: u64) -> Snapshot {
    core::array::from_fn(|i| generation.wrapping_mul(i as u64 + 1))
}

/// Whether `s` is the snapshot of some generation (not torn).
pub fn consistent(s: &Snapshot) -> bool {
    *s == snapshot(s[0])
}

/// A read-mostly primitive as the engine drives it.
pub trait ReadWrite: Send + Sync + Sized {
    /// Builds it around the snapshot of generation 0.
    fn new() -> Self;

    /// One read-side critical section: returns the words as this reader saw them.
    fn read(&self) -> Snapshot;

    /// One update: reads the current snapshot and publishes `f(current)`, excluded from other
    /// updates.
    fn update(&self, f: impl FnOnce(&Snapshot) -> Snapshot);
}

/// The snapshot's words in atomics, for lock-based adapters.
#[derive(Debug, Default)]
pub struct Words([AtomicU64; WORDS]);

impl Words {
    /// Reads the words one at a time (`Relaxed`: the lock orders them).
    #[inline(always)]
    pub fn load(&self) -> Snapshot {
        core::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }

    /// Writes the words one at a time (`Relaxed`: the lock orders them).
    #[inline(always)]
    pub fn store(&self, s: &Snapshot) {
        for (w, v) in self.0.iter().zip(s) {
            w.store(*v, Ordering::Relaxed);
        }
    }
}

/// Every `lock_api` 0.5 reader-writer lock: ksync's raw rwlocks and parking_lot's.
impl<R: lock_api::RawRwLock + Send + Sync> ReadWrite for lock_api::RwLock<R, Words> {
    #[inline]
    fn new() -> Self {
        lock_api::RwLock::new(Words::default())
    }

    #[inline(always)]
    fn read(&self) -> Snapshot {
        self.read().load()
    }

    #[inline(always)]
    fn update(&self, f: impl FnOnce(&Snapshot) -> Snapshot) {
        let guard = self.write();
        guard.store(&f(&guard.load()));
    }
}

/// `std::sync::RwLock`, the baseline.
impl ReadWrite for std::sync::RwLock<Words> {
    fn new() -> Self {
        std::sync::RwLock::new(Words::default())
    }

    #[inline(always)]
    fn read(&self) -> Snapshot {
        self.read().unwrap_or_else(PoisonError::into_inner).load()
    }

    #[inline(always)]
    fn update(&self, f: impl FnOnce(&Snapshot) -> Snapshot) {
        let guard = self.write().unwrap_or_else(PoisonError::into_inner);
        guard.store(&f(&guard.load()));
    }
}

/// `spin::RwLock`: readers and writers spin on one word.
impl ReadWrite for spin::RwLock<Words> {
    fn new() -> Self {
        spin::RwLock::new(Words::default())
    }

    #[inline(always)]
    fn read(&self) -> Snapshot {
        self.read().load()
    }

    #[inline(always)]
    fn update(&self, f: impl FnOnce(&Snapshot) -> Snapshot) {
        let guard = self.write();
        guard.store(&f(&guard.load()));
    }
}

/// A reader-writer "lock" that excludes nobody: the negative control (torture must fail).
pub struct BustedRw(Words);

impl ReadWrite for BustedRw {
    fn new() -> Self {
        BustedRw(Words::default())
    }

    fn read(&self) -> Snapshot {
        self.0.load()
    }

    fn update(&self, f: impl FnOnce(&Snapshot) -> Snapshot) {
        let s = f(&self.0.load());
        self.0.store(&s);
    }
}

/// One entry of [`RW_LOCKS`].
#[derive(Debug)]
pub struct RwInfo {
    /// The name used on the command line (`--lock`).
    pub name: &'static str,
    /// What it is.
    pub kind: Kind,
    /// One line: what it is and how readers and writers wait.
    pub description: &'static str,
}

/// Something to do with a read-mostly type: [`dispatch`] calls it with the registered type.
pub trait RwVisitor {
    /// What the visit returns.
    type Output;

    /// Runs with `S`, the type registered as `info.name`.
    fn visit<S: ReadWrite + 'static>(self, info: &'static RwInfo) -> Self::Output;
}

macro_rules! rw_registry {
    ($( $name:literal, $kind:ident, $ty:ty, $desc:literal; )*) => {
        /// Every registered read-mostly primitive, in the order the tool lists them.
        pub static RW_LOCKS: &[RwInfo] = &[
            $( RwInfo { name: $name, kind: Kind::$kind, description: $desc }, )*
        ];

        fn dispatch_registered<V: RwVisitor>(info: &'static RwInfo, visitor: V) -> V::Output {
            match info.name {
                $( $name => visitor.visit::<$ty>(info), )*
                other => unreachable!("`{other}` is in RW_LOCKS but not in the dispatch match"),
            }
        }
    };
}

rw_registry! {
    "std-rwlock", Peer, std::sync::RwLock<Words>,
        "std::sync::RwLock: futex reader count and writer bit, writers preferred; the baseline";
    "parking_lot-rwlock", Peer, lock_api::RwLock<parking_lot::RawRwLock, Words>,
        "parking_lot::RwLock: one word, adaptive spinning, parking lot, eventual fairness";
    "spin-rwlock", Peer, spin::RwLock<Words>,
        "spin::RwLock: reader count and writer bit in one word, everyone spins";
    "rw_busted", TestOnly, BustedRw,
        "a reader-writer lock that excludes nobody (torture must fail)";
}

/// Looks a read-mostly primitive up by name.
pub fn find(name: &str) -> Option<&'static RwInfo> {
    RW_LOCKS.iter().find(|info| info.name == name)
}

/// The names to offer a user: every entry but the test-only ones.
pub fn public_names() -> Vec<&'static str> {
    RW_LOCKS
        .iter()
        .filter(|info| info.kind != Kind::TestOnly)
        .map(|info| info.name)
        .collect()
}

/// Runs `visitor` with the type registered as `name`.
pub fn dispatch<V: RwVisitor>(name: &str, visitor: V) -> Result<V::Output, Error> {
    let info = find(name).ok_or_else(|| Error::UnknownLock {
        name: name.to_owned(),
        valid: public_names(),
    })?;
    Ok(dispatch_registered(info, visitor))
}

/// What one thread does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Only reads (locktorture's reader thread).
    Reader,
    /// Only updates (locktorture's writer thread).
    Writer,
    /// Reads `percent` % of the time, updates otherwise (a bench's `--read-ratio`).
    Mixed {
        /// The share of reads, 0 to 100.
        percent: u8,
    },
}

/// A reader/writer run.
#[derive(Clone, Debug)]
pub struct Config {
    /// One entry per thread.
    pub roles: Vec<Role>,
    /// How long the threads run.
    pub duration: Duration,
    /// Work units ([`work`](crate::work)) between two operations of a thread.
    pub gap: u32,
}

impl Config {
    /// 2 readers and 1 writer for 20 ms, no gap: for tests.
    pub fn quick() -> Self {
        Config {
            roles: vec![Role::Reader, Role::Reader, Role::Writer],
            duration: Duration::from_millis(20),
            gap: 0,
        }
    }

    /// `readers` reader threads, then `writers` writer threads.
    pub fn readers_writers(readers: usize, writers: usize, duration: Duration) -> Self {
        let mut roles = vec![Role::Reader; readers];
        roles.extend(std::iter::repeat_n(Role::Writer, writers));
        Config {
            roles,
            duration,
            gap: 0,
        }
    }

    /// `threads` threads that each read `percent` % of the time.
    pub fn mixed(threads: usize, percent: u8, duration: Duration) -> Self {
        Config {
            roles: vec![Role::Mixed { percent }; threads],
            duration,
            gap: 0,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.roles.is_empty() {
            return Err(Error::ZeroThreads);
        }
        if self.duration.is_zero() {
            return Err(Error::ZeroDuration);
        }
        Ok(())
    }

    /// `nreaders=R nwriters=W nmixed=M duration=D`.
    pub fn describe(&self) -> String {
        let count = |f: fn(&Role) -> bool| self.roles.iter().filter(|r| f(r)).count();
        format!(
            "nreaders_stress={} nwriters_stress={} nmixed={} duration={:?} gap={}",
            count(|r| *r == Role::Reader),
            count(|r| *r == Role::Writer),
            count(|r| matches!(r, Role::Mixed { .. })),
            self.duration,
            self.gap
        )
    }
}

/// What one thread did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadCounts {
    /// Reads completed.
    pub reads: u64,
    /// Updates completed.
    pub writes: u64,
    /// Reads that saw a torn snapshot.
    pub torn: u64,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The primitive's registered name.
    pub lock: &'static str,
    /// The run's configuration.
    pub config: Config,
    /// How long the threads ran.
    pub elapsed: Duration,
    /// Per thread, in `config.roles` order.
    pub per_thread: Vec<ThreadCounts>,
    /// The generation left in the primitive: must equal [`writes`](Report::writes).
    pub final_generation: u64,
    /// Whether the final snapshot is consistent.
    pub final_consistent: bool,
}

impl Report {
    /// All reads.
    pub fn reads(&self) -> u64 {
        self.per_thread.iter().map(|t| t.reads).sum()
    }

    /// All updates.
    pub fn writes(&self) -> u64 {
        self.per_thread.iter().map(|t| t.writes).sum()
    }

    /// Torn reads seen.
    pub fn torn(&self) -> u64 {
        self.per_thread.iter().map(|t| t.torn).sum()
    }

    /// Updates lost to overlapping writers.
    pub fn lost_writes(&self) -> u64 {
        self.writes().abs_diff(self.final_generation)
    }

    /// Threads that never completed an operation (starved).
    pub fn stalled_threads(&self) -> Vec<usize> {
        self.per_thread
            .iter()
            .enumerate()
            .filter(|(_, t)| t.reads + t.writes == 0)
            .map(|(i, _)| i)
            .collect()
    }

    /// Every check passed.
    pub fn success(&self) -> bool {
        self.torn() == 0
            && self.lost_writes() == 0
            && self.final_consistent
            && self.stalled_threads().is_empty()
    }

    /// Million operations per second, reads and writes together.
    pub fn mops(&self) -> f64 {
        (self.reads() + self.writes()) as f64 / self.elapsed.as_secs_f64() / 1e6
    }

    /// locktorture's statistics lines: `Writes: ...` and `Reads: ...`.
    pub fn stat_lines(&self) -> String {
        let line = |what: &str, n: &dyn Fn(&ThreadCounts) -> u64, fail: u64| {
            let active: Vec<u64> = self.per_thread.iter().map(n).filter(|&v| v > 0).collect();
            let max = active.iter().copied().max().unwrap_or(0);
            let min = active.iter().copied().min().unwrap_or(0);
            format!(
                "{what}:  Total: {}  Max/Min: {max}/{min} {} Fail: {fail} {}",
                active.iter().sum::<u64>(),
                if max > 2 * min.max(1) { "???" } else { "" },
                if fail > 0 { "!!!" } else { "" },
            )
        };
        format!(
            "{}\n{}",
            line("Writes", &|t| t.writes, self.lost_writes()),
            line("Reads", &|t| t.reads, self.torn())
        )
    }

    /// Why the run failed, one reason per line.
    pub fn failure_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.torn() > 0 {
            reasons.push(format!("{} reads saw a torn snapshot", self.torn()));
        }
        if self.lost_writes() > 0 {
            reasons.push(format!(
                "{} updates lost (generation {} after {} updates)",
                self.lost_writes(),
                self.final_generation,
                self.writes()
            ));
        }
        if !self.final_consistent {
            reasons.push("the final snapshot is torn".to_owned());
        }
        let stalled = self.stalled_threads();
        if !stalled.is_empty() {
            reasons.push(format!("threads {stalled:?} completed no operation"));
        }
        reasons
    }

    /// `<lock>-torture:--- End of test: SUCCESS|FAILURE`.
    pub fn end_line(&self) -> String {
        let verdict = if self.success() { "SUCCESS" } else { "FAILURE" };
        format!("{}-torture:--- End of test: {verdict}", self.lock)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.stat_lines(), self.end_line())
    }
}

/// Runs the reader/writer workload on the primitive registered as `name`.
pub fn run(name: &str, config: &Config) -> Result<Report, Error> {
    config.validate()?;
    dispatch(name, Run { config })
}

/// Runs the workload on any [`ReadWrite`] type, registered or not.
pub fn run_type<S: ReadWrite>(name: &'static str, config: &Config) -> Result<Report, Error> {
    config.validate()?;
    Ok(measure::<S>(name, config))
}

struct Run<'a> {
    config: &'a Config,
}

impl RwVisitor for Run<'_> {
    type Output = Report;

    fn visit<S: ReadWrite + 'static>(self, info: &'static RwInfo) -> Report {
        measure::<S>(info.name, self.config)
    }
}

fn measure<S: ReadWrite>(name: &'static str, config: &Config) -> Report {
    let shared = CachePadded::new(S::new());
    let stop = CachePadded::new(AtomicBool::new(false));
    let start = Barrier::new(config.roles.len() + 1);
    let (per_thread, elapsed) = std::thread::scope(|s| {
        let handles: Vec<_> = config
            .roles
            .iter()
            .enumerate()
            .map(|(i, &role)| {
                let (shared, stop, start) = (&*shared, &*stop, &start);
                s.spawn(move || {
                    start.wait();
                    worker(shared, stop, role, config.gap, i as u64 + 1)
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        // The run's length is the one place a sleep belongs: it is the duration, not a
        // synchronisation.
        std::thread::sleep(config.duration);
        // Relaxed: the flag only ends the loops; the joins order the counts.
        stop.store(true, Ordering::Relaxed);
        let counts: Vec<ThreadCounts> = handles
            .into_iter()
            .map(|h| h.join().expect("a reader/writer thread panicked"))
            .collect();
        (counts, t0.elapsed())
    });
    let last = shared.read();
    Report {
        lock: name,
        config: config.clone(),
        elapsed,
        per_thread,
        final_generation: last[0],
        final_consistent: consistent(&last),
    }
}

fn worker<S: ReadWrite>(
    shared: &S,
    stop: &AtomicBool,
    role: Role,
    gap: u32,
    seed: u64,
) -> ThreadCounts {
    let mut counts = ThreadCounts::default();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut x = seed;
    // Relaxed: see `measure`.
    while !stop.load(Ordering::Relaxed) {
        let read = match role {
            Role::Reader => true,
            Role::Writer => false,
            Role::Mixed { percent } => rng.u8(0..100) < percent,
        };
        if read {
            let s = shared.read();
            counts.reads += 1;
            if !consistent(&s) {
                counts.torn += 1;
            }
        } else {
            shared.update(|s| snapshot(s[0].wrapping_add(1)));
            counts.writes += 1;
        }
        x = std::hint::black_box(crate::work(gap, x));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_and_their_check() {
        assert!(consistent(&snapshot(0)));
        assert!(consistent(&snapshot(u64::MAX)));
        let mut torn = snapshot(7);
        torn[2] = snapshot(8)[2];
        assert!(!consistent(&torn));
    }

    #[test]
    fn every_peer_passes() {
        for name in ["std-rwlock", "parking_lot-rwlock", "spin-rwlock"] {
            let report = run(name, &Config::quick()).unwrap();
            assert!(report.success(), "{name}: {:?}", report.failure_reasons());
            assert!(report.writes() > 0 && report.reads() > 0, "{name}");
            assert_eq!(report.final_generation, report.writes());
        }
    }

    #[test]
    fn the_busted_lock_fails() {
        // Two writers and two readers on a lock that excludes nobody: with threads > cores and
        // 200 ms, lost updates or torn reads are certain in practice; each is a counted
        // failure, not undefined behaviour.
        let config = Config {
            roles: vec![Role::Writer, Role::Writer, Role::Reader, Role::Reader],
            duration: Duration::from_millis(200),
            gap: 0,
        };
        let report = run("rw_busted", &config).unwrap();
        assert!(!report.success(), "{report}");
        assert!(report.end_line().ends_with("FAILURE"));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            run("nope", &Config::quick()),
            Err(Error::UnknownLock { .. })
        ));
        let empty = Config {
            roles: vec![],
            ..Config::quick()
        };
        assert_eq!(run("std-rwlock", &empty).unwrap_err(), Error::ZeroThreads);
        let zero = Config {
            duration: Duration::ZERO,
            ..Config::quick()
        };
        assert_eq!(run("std-rwlock", &zero).unwrap_err(), Error::ZeroDuration);
    }

    #[test]
    fn mixed_roles_split_reads_and_writes() {
        let report = run(
            "parking_lot-rwlock",
            &Config::mixed(2, 90, Duration::from_millis(30)),
        )
        .unwrap();
        assert!(report.success(), "{:?}", report.failure_reasons());
        assert!(report.reads() > report.writes(), "{report}");
    }
}
