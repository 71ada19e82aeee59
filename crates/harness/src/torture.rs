//! The locktorture engine: writer threads hammer one lock while three independent checks watch
//! for two holders at once.
//!
//! Mirrors `kernel/locking/locktorture.c` (the writer side; ksync's locks are exclusive). Each
//! of `threads` writers loops: lock; check; hold for a short random time (and, now and then,
//! a long one); check; unlock. Exclusion is checked three ways, each able to catch what the
//! others miss:
//!
//! 1. **the held flag** (locktorture's `lock_is_write_held`): a flag set on entry and cleared
//!    before unlock; finding it already set on entry is a failure;
//! 2. **the inside counter**: entered with `fetch_add(1) == 0`, left with `fetch_sub(1) == 1`;
//!    anything else is a failure (it catches overlaps the flag misses, e.g. a third holder);
//! 3. **the non-atomic counter** in the protected [`Payload`]: read on entry, written back plus
//!    one just before unlock (a separate load and store, not an RMW). Its final value must
//!    equal the sum of the per-thread acquisitions; a second holder loses increments.
//!
//! Under a correct lock every check is silent: the lock's release/acquire chain orders each
//! holder's accesses after the previous holder's, so all of them can be `Relaxed`. A thread
//! that never acquired the lock is a failure too (starvation, or a lost wake-up).
//!
//! # The workload knobs, locktorture's and ours
//!
//! | locktorture | here | what it does |
//! |---|---|---|
//! | `nwriters_stress` (2 × CPUs) | [`Config::threads`] | writer threads |
//! | spin delay: `udelay(2)` at random | [`Config::hold`] | each critical section does a uniformly random 0..=`hold` [`work`] units |
//! | `long_hold` (100 ms) | [`Config::long_hold`] | about every 10 × `long_hold` (the first at 5 ×), one holder sleeps `long_hold` inside the critical section, so waiters spin out their budget, get preempted, and sleeping locks use their futex path |
//! | `stutter` (5 s) | [`Config::stutter`] | the test alternately runs and pauses (all writers park outside the lock) for `stutter` each, so the lock goes idle and then takes a thundering herd |
//! | `shuffle_interval` (3 s) | [`Config::shuffle`] | every interval one CPU (in turn) is taken away from all writers with `sched_setaffinity` (Linux) |
//! | `stat_interval` (60 s) | [`Config::stat_interval`] | a [`Stats`] line every interval, and one at the end |
//! | one-jiffy sleep every 2^20 loops | the same, 1 ms | a writer sleeps outside the lock once every 2^20 acquisitions |
//!
//! Output is locktorture's (see [`Stats`], [`start_line`] and [`Report::end_line`]):
//!
//! ```text
//! std-torture:--- Start of test: nwriters_stress=4 duration=5s hold=100 long_hold=100ms stutter=0s shuffle_interval=0s stat_interval=1s
//! std-torture: Writes:  Total: 6283311  Max/Min: 1702244/1398125   Fail: 0
//! std-torture:--- End of test: SUCCESS: nwriters_stress=4 duration=5s hold=100 long_hold=100ms stutter=0s shuffle_interval=0s stat_interval=1s
//! ```

use core::fmt;
use std::sync::{Barrier, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::affinity::{self, Shuffler, Tid};
use super::locks::{self, Lock, LockInfo, LockVisitor, Payload};
use super::{work, Error};
use ksync_barrier::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

/// A writer checks whether a long hold is due once every this many acquisitions.
const LONG_HOLD_CHECK_EVERY: u64 = 1024;
/// locktorture's periodic short sleep outside the lock: once every 2^20 acquisitions.
const NAP_EVERY: u64 = 1 << 20;
const NAP: Duration = Duration::from_millis(1);

/// A torture run's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Writer threads (locktorture's `nwriters_stress`); at least 1.
    pub threads: usize,
    /// How long the test runs; more than zero.
    pub duration: Duration,
    /// Most work units in one critical section (each takes a random 0..=`hold`).
    pub hold: u32,
    /// Length of the occasional long hold (locktorture's `long_hold`); zero turns it off.
    pub long_hold: Duration,
    /// Run/pause period (locktorture's `stutter`); zero turns it off.
    pub stutter: Duration,
    /// CPU re-shuffling period (locktorture's `shuffle_interval`); zero turns it off.
    pub shuffle: Duration,
    /// Period of the statistics lines (locktorture's `stat_interval`); zero prints only the
    /// final one.
    pub stat_interval: Duration,
}

impl Default for Config {
    /// locktorture's defaults where they make sense in user space: 2 × CPUs writers, a 100 ms
    /// long hold, statistics every second; a 5 s run, no stutter, no shuffling.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            threads: 2 * cpus,
            duration: Duration::from_secs(5),
            hold: 100,
            long_hold: Duration::from_millis(100),
            stutter: Duration::ZERO,
            shuffle: Duration::ZERO,
            stat_interval: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// A short run with `threads` writers for `duration`, short holds only and no periodic
    /// statistics (for tests and smoke runs).
    pub fn quick(threads: usize, duration: Duration) -> Self {
        Config {
            threads,
            duration,
            hold: 10,
            long_hold: Duration::ZERO,
            stutter: Duration::ZERO,
            shuffle: Duration::ZERO,
            stat_interval: Duration::ZERO,
        }
    }

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

    /// The parameters as locktorture prints them on its Start/End lines.
    pub fn describe(&self) -> String {
        let d = |d: Duration| humanize(d);
        format!(
            "nwriters_stress={} duration={} hold={} long_hold={} stutter={} shuffle_interval={} stat_interval={}",
            self.threads,
            d(self.duration),
            self.hold,
            d(self.long_hold),
            d(self.stutter),
            d(self.shuffle),
            d(self.stat_interval)
        )
    }
}

/// `1.5s`, `100ms`, `0s`: a compact duration for the Start/End lines.
fn humanize(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_owned()
    } else if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else if d.as_nanos().is_multiple_of(1_000) {
        format!("{}us", d.as_micros())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// A statistics line: locktorture's `Writes:` line.
///
/// Displays as `Writes:  Total: <sum>  Max/Min: <max>/<min> [???]  Fail: <n> [!!!]`: `???`
/// flags unfairness (the busiest writer got more than twice the acquisitions of the idlest),
/// `!!!` flags failures. `Fail` counts the exclusion failures seen so far (locktorture prints
/// 0 or 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Time since the writers were released.
    pub elapsed: Duration,
    /// Acquisitions by all writers.
    pub total: u64,
    /// Acquisitions by the busiest writer.
    pub max: u64,
    /// Acquisitions by the idlest writer.
    pub min: u64,
    /// Failed checks so far.
    pub failures: u64,
}

impl Stats {
    fn from_counts(elapsed: Duration, counts: &[u64], failures: u64) -> Self {
        Stats {
            elapsed,
            total: counts.iter().sum(),
            max: counts.iter().copied().max().unwrap_or(0),
            min: counts.iter().copied().min().unwrap_or(0),
            failures,
        }
    }

    /// Whether the busiest writer got more than twice the idlest's acquisitions
    /// (locktorture's `???`).
    pub fn unfair(&self) -> bool {
        self.max / 2 > self.min
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Writes:  Total: {}  Max/Min: {}/{} {}  Fail: {}{}",
            self.total,
            self.max,
            self.min,
            if self.unfair() { "???" } else { "" },
            self.failures,
            if self.failures > 0 { " !!!" } else { "" }
        )
    }
}

/// locktorture's first line: `<lock>-torture:--- Start of test: <parameters>`.
pub fn start_line(lock: &str, config: &Config) -> String {
    format!("{lock}-torture:--- Start of test: {}", config.describe())
}

/// The outcome of a torture run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The lock's registry name.
    pub lock: &'static str,
    /// The parameters it ran with.
    pub config: Config,
    /// Time from the writers' release to the stop.
    pub elapsed: Duration,
    /// Acquisitions by each writer.
    pub per_thread: Vec<u64>,
    /// Entries that found the held flag already set (check 1).
    pub held_flag_failures: u64,
    /// Entries with `fetch_add != 0` plus exits with `fetch_sub != 1` (check 2).
    pub inside_failures: u64,
    /// The non-atomic counter's final value (check 3: must equal [`total`](Report::total)).
    pub payload_count: u64,
    /// Long holds taken.
    pub long_holds: u64,
    /// Pauses of the whole test (stutter).
    pub stutter_pauses: u64,
    /// CPU shuffles done.
    pub shuffles: u64,
    /// Whether shuffling was asked for but is impossible here (one CPU, or not Linux).
    pub shuffle_unavailable: bool,
}

impl Report {
    /// All acquisitions.
    pub fn total(&self) -> u64 {
        self.per_thread.iter().sum()
    }

    /// How far the non-atomic counter is from the acquisitions (increments lost to
    /// overlapping holders); 0 under a correct lock.
    pub fn count_mismatch(&self) -> u64 {
        self.total().abs_diff(self.payload_count)
    }

    /// The writers (by index) that never acquired the lock.
    pub fn stalled_threads(&self) -> Vec<usize> {
        (0..self.per_thread.len())
            .filter(|&i| self.per_thread[i] == 0)
            .collect()
    }

    /// Failed checks: the flag and counter failures, plus one if the non-atomic count is off.
    pub fn failures(&self) -> u64 {
        self.held_flag_failures + self.inside_failures + u64::from(self.count_mismatch() != 0)
    }

    /// No failed check and every writer made progress.
    pub fn success(&self) -> bool {
        self.failures() == 0 && self.stalled_threads().is_empty()
    }

    /// The final statistics line.
    pub fn stats(&self) -> Stats {
        Stats::from_counts(self.elapsed, &self.per_thread, self.failures())
    }

    /// Why the run failed, one reason per line (empty on success).
    pub fn failure_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.held_flag_failures > 0 {
            reasons.push(format!(
                "held flag: {} entries found the lock already held",
                self.held_flag_failures
            ));
        }
        if self.inside_failures > 0 {
            reasons.push(format!(
                "inside counter: {} entries or exits found another holder inside",
                self.inside_failures
            ));
        }
        if self.count_mismatch() != 0 {
            reasons.push(format!(
                "non-atomic counter: {} after {} acquisitions ({} increments lost)",
                self.payload_count,
                self.total(),
                self.count_mismatch()
            ));
        }
        let stalled = self.stalled_threads();
        if !stalled.is_empty() {
            reasons.push(format!(
                "no progress: writer(s) {stalled:?} never acquired the lock"
            ));
        }
        reasons
    }

    /// locktorture's last line: `<lock>-torture:--- End of test: SUCCESS|FAILURE: <parameters>`.
    pub fn end_line(&self) -> String {
        format!(
            "{}-torture:--- End of test: {}: {}",
            self.lock,
            if self.success() { "SUCCESS" } else { "FAILURE" },
            self.config.describe()
        )
    }
}

/// Tortures the lock registered as `lock`, calling `on_stats` every
/// [`stat_interval`](Config::stat_interval) (not at the end: the [`Report`] has the final
/// numbers). Blocks for the run.
///
/// Errors: an unknown lock name (the error lists the valid ones), zero threads, zero duration.
/// A lock that fails the test is not an error: see [`Report::success`].
pub fn run(lock: &str, config: &Config, on_stats: impl FnMut(&Stats)) -> Result<Report, Error> {
    config.validate()?;
    locks::dispatch(lock, Torture { config, on_stats })
}

struct Torture<'a, F> {
    config: &'a Config,
    on_stats: F,
}

impl<F: FnMut(&Stats)> LockVisitor for Torture<'_, F> {
    type Output = Report;

    fn visit<L: Lock<Payload> + 'static>(self, info: &'static LockInfo) -> Report {
        torture::<L>(info.name, self.config, self.on_stats)
    }
}

/// One writer's counters, on a cache line of its own; written only by that writer.
#[derive(Default)]
struct Slot {
    acquisitions: AtomicU64,
    held_flag_failures: AtomicU64,
    inside_failures: AtomicU64,
    tid: AtomicI32,
}

/// The stutter gate: writers park on it while the test is paused.
struct Gate {
    /// Fast-path copy of the state, read by writers after every unlock.
    paused: AtomicBool,
    state: Mutex<bool>,
    resumed: Condvar,
}

impl Gate {
    fn set(&self, paused: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = paused;
        // Relaxed: the flag only tells writers to look at `state`; the mutex orders the rest.
        self.paused.store(paused, Ordering::Relaxed);
        drop(state);
        if !paused {
            self.resumed.notify_all();
        }
    }

    /// Blocks while the test is paused.
    fn wait(&self) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let _unpaused = self
            .resumed
            .wait_while(state, |paused| *paused)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// What the writers share. Every field another thread writes often sits on its own line.
struct Shared<L> {
    lock: CachePadded<L>,
    /// Check 1: set inside the critical section.
    held: CachePadded<AtomicBool>,
    /// Check 2: holders currently inside.
    inside: CachePadded<AtomicU32>,
    stop: CachePadded<AtomicBool>,
    /// Nanoseconds since `origin` at which the next long hold is due (`u64::MAX`: never).
    next_long_hold_ns: CachePadded<AtomicU64>,
    long_holds: AtomicU64,
    gate: Gate,
    slots: Vec<CachePadded<Slot>>,
    start: Barrier,
    origin: Instant,
}

fn torture<L: Lock<Payload>>(
    name: &'static str,
    config: &Config,
    mut on_stats: impl FnMut(&Stats),
) -> Report {
    let long_hold_interval = config.long_hold.saturating_mul(10);
    let shared = Shared {
        lock: CachePadded::new(L::new(Payload::new())),
        held: CachePadded::new(AtomicBool::new(false)),
        inside: CachePadded::new(AtomicU32::new(0)),
        stop: CachePadded::new(AtomicBool::new(false)),
        next_long_hold_ns: CachePadded::new(AtomicU64::new(if config.long_hold.is_zero() {
            u64::MAX
        } else {
            nanos(long_hold_interval / 2)
        })),
        long_holds: AtomicU64::new(0),
        gate: Gate {
            paused: AtomicBool::new(false),
            state: Mutex::new(false),
            resumed: Condvar::new(),
        },
        slots: (0..config.threads)
            .map(|_| CachePadded::default())
            .collect(),
        start: Barrier::new(config.threads + 1),
        origin: Instant::now(),
    };
    let mut shuffler = if config.shuffle.is_zero() {
        None
    } else {
        Shuffler::new()
    };
    let shuffle_unavailable = !config.shuffle.is_zero() && shuffler.is_none();
    let (mut stutter_pauses, mut shuffles) = (0u64, 0u64);

    let elapsed = std::thread::scope(|s| {
        for me in 0..config.threads {
            let shared = &shared;
            s.spawn(move || writer(shared, config, me, long_hold_interval));
        }
        shared.start.wait();
        let start = Instant::now();
        let end = start + config.duration;
        let every = |period: Duration| (!period.is_zero()).then(|| start + period);
        let mut next_stats = every(config.stat_interval);
        let mut next_stutter = every(config.stutter);
        let mut next_shuffle = shuffler.as_ref().and(every(config.shuffle));
        let mut paused = false;
        // The controller: sleeps until the next event (statistics, stutter, shuffle, end).
        // These sleeps time the workload; the writers are stopped by the flag and joined.
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let next = [next_stats, next_stutter, next_shuffle]
                .into_iter()
                .flatten()
                .fold(end, Instant::min);
            if next > now {
                std::thread::sleep(next - now);
                continue;
            }
            if let Some(t) = next_stats.filter(|&t| t <= now) {
                on_stats(&snapshot(&shared, start.elapsed()));
                next_stats = Some(advance(t, config.stat_interval, now));
            }
            if let Some(t) = next_stutter.filter(|&t| t <= now) {
                paused = !paused;
                stutter_pauses += u64::from(paused);
                shared.gate.set(paused);
                next_stutter = Some(advance(t, config.stutter, now));
            }
            if let Some(t) = next_shuffle.filter(|&t| t <= now) {
                if let Some(sh) = shuffler.as_mut() {
                    let tids: Vec<Tid> = shared
                        .slots
                        .iter()
                        // Relaxed: each writer stored its id before the start barrier.
                        .map(|slot| slot.tid.load(Ordering::Relaxed))
                        .collect();
                    sh.shuffle(&tids);
                    shuffles += 1;
                }
                next_shuffle = Some(advance(t, config.shuffle, now));
            }
        }
        // Relaxed: writers only need to see the flag eventually; the scope's joins order
        // their counters before the report reads them.
        shared.stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed();
        shared.gate.set(false);
        elapsed
    });

    // Every writer has been joined: Relaxed loads see their final values.
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Report {
        lock: name,
        config: config.clone(),
        elapsed,
        per_thread: shared.slots.iter().map(|s| load(&s.acquisitions)).collect(),
        held_flag_failures: shared
            .slots
            .iter()
            .map(|s| load(&s.held_flag_failures))
            .sum(),
        inside_failures: shared.slots.iter().map(|s| load(&s.inside_failures)).sum(),
        payload_count: shared.lock.with(|p| p.count.load(Ordering::Relaxed)),
        long_holds: load(&shared.long_holds),
        stutter_pauses,
        shuffles,
        shuffle_unavailable,
    }
}

/// The next tick of a periodic event that was due at `due`: one `period` later, or, if the
/// controller fell behind by more than that, one `period` from `now` (missed ticks are
/// skipped, not replayed).
fn advance(due: Instant, period: Duration, now: Instant) -> Instant {
    let next = due + period;
    if next > now {
        next
    } else {
        now + period
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The statistics so far, read while the writers run.
fn snapshot<L>(shared: &Shared<L>, elapsed: Duration) -> Stats {
    // Relaxed: statistics lines are approximate while the test runs, as in locktorture.
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let counts: Vec<u64> = shared.slots.iter().map(|s| load(&s.acquisitions)).collect();
    let failures = shared
        .slots
        .iter()
        .map(|s| load(&s.held_flag_failures) + load(&s.inside_failures))
        .sum();
    Stats::from_counts(elapsed, &counts, failures)
}

/// Whether this holder takes the long hold that is due (at most one holder claims each).
fn claim_long_hold<L>(shared: &Shared<L>, interval: Duration) -> bool {
    let now = nanos(shared.origin.elapsed());
    // Relaxed: the deadline is a rate limiter; the CAS makes exactly one claimant per deadline.
    let due = shared.next_long_hold_ns.load(Ordering::Relaxed);
    now >= due
        && shared
            .next_long_hold_ns
            .compare_exchange(
                due,
                now.saturating_add(nanos(interval)),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
}

/// One writer: locktorture's `lock_torture_writer`.
fn writer<L: Lock<Payload>>(
    shared: &Shared<L>,
    config: &Config,
    me: usize,
    long_hold_interval: Duration,
) {
    let slot = &shared.slots[me];
    // Relaxed: the start barrier publishes the id to the controller.
    slot.tid.store(affinity::current_tid(), Ordering::Relaxed);
    let mut rng = fastrand::Rng::with_seed(0x6b73_796e_6300 ^ me as u64);
    let long_holds_on = !config.long_hold.is_zero();
    let mut acquisitions = 0u64;
    shared.start.wait();
    // Relaxed: a stale `false` only costs one more acquisition.
    while !shared.stop.load(Ordering::Relaxed) {
        // Relaxed: a hint to look at the gate's mutex, which orders the pause itself.
        if shared.gate.paused.load(Ordering::Relaxed) {
            shared.gate.wait();
            continue;
        }
        let units = rng.u32(0..=config.hold);
        let maybe_long = long_holds_on && acquisitions.is_multiple_of(LONG_HOLD_CHECK_EVERY);
        let (mut held_fail, mut inside_fail) = (0u64, 0u64);
        shared.lock.with(|p| {
            // Check 1, entry. Relaxed: under a correct lock the previous holder's clearing
            // store happens-before this load (its unlock released, our lock acquired).
            if shared.held.load(Ordering::Relaxed) {
                held_fail += 1;
            }
            // Relaxed: ordered by the lock, as the load above.
            shared.held.store(true, Ordering::Relaxed);
            // Check 2, entry. Relaxed: an RMW reads the latest value, and under a correct lock
            // the previous holder's decrement happens-before it.
            if shared.inside.fetch_add(1, Ordering::Relaxed) != 0 {
                inside_fail += 1;
            }
            // Check 3: read the counter now, write it back at the end; a second holder in
            // between loses increments. Relaxed: ordered by the lock, as above (and for `chain`).
            let count = p.count.load(Ordering::Relaxed);
            let chain = work(units, p.chain.load(Ordering::Relaxed));
            p.chain.store(chain, Ordering::Relaxed);
            if maybe_long && claim_long_hold(shared, long_hold_interval) {
                // The long hold: a sleep inside the critical section (workload, not
                // synchronisation).
                std::thread::sleep(config.long_hold);
                // Relaxed: a statistic, read after the joins.
                shared.long_holds.fetch_add(1, Ordering::Relaxed);
            }
            // Relaxed: the unlock's release publishes it to the next holder.
            p.count.store(count + 1, Ordering::Relaxed);
            // Check 2, exit. Relaxed: the unlock's release orders it before the next holder's RMW.
            if shared.inside.fetch_sub(1, Ordering::Relaxed) != 1 {
                inside_fail += 1;
            }
            // Check 1, exit. Relaxed: cleared before the unlock releases it to the next holder.
            shared.held.store(false, Ordering::Relaxed);
        });
        acquisitions += 1;
        // Relaxed: only this writer writes its slot; readers want a recent value, and the
        // joins order the final one.
        slot.acquisitions.store(acquisitions, Ordering::Relaxed);
        if held_fail + inside_fail > 0 {
            // Relaxed: statistics, as `acquisitions` above.
            slot.held_flag_failures
                .fetch_add(held_fail, Ordering::Relaxed);
            slot.inside_failures
                .fetch_add(inside_fail, Ordering::Relaxed);
        }
        if acquisitions.is_multiple_of(NAP_EVERY) {
            // locktorture's occasional one-jiffy sleep outside the lock (workload).
            std::thread::sleep(NAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(threads: usize) -> Config {
        Config::quick(threads, Duration::from_millis(150))
    }

    #[test]
    fn correct_locks_pass() {
        for lock in ["std", "parking_lot", "spin", "spin-ticket"] {
            let report = run(lock, &quick(3), |_| {}).unwrap();
            assert!(report.success(), "{lock}: {:?}", report.failure_reasons());
            assert_eq!(report.per_thread.len(), 3);
            assert_eq!(report.payload_count, report.total());
            assert!(report.end_line().contains("End of test: SUCCESS"));
            assert_eq!(report.stats().failures, 0);
        }
    }

    #[test]
    fn lock_busted_fails() {
        // A lock that does not lock: with 4 writers and critical sections of up to 200
        // units, holders overlap (on two CPUs, or by preemption on one) many times in 200 ms.
        let config = Config {
            hold: 200,
            ..Config::quick(4, Duration::from_millis(200))
        };
        let report = run("lock_busted", &config, |_| {}).unwrap();
        assert!(!report.success());
        assert!(report.failures() > 0);
        assert!(report.count_mismatch() > 0, "no increment lost");
        assert!(report.end_line().contains("End of test: FAILURE"));
        assert!(!report.failure_reasons().is_empty());
        assert!(report.stats().to_string().contains("!!!"));
    }

    #[test]
    fn every_knob_runs_and_statistics_arrive() {
        let config = Config {
            threads: 3,
            duration: Duration::from_millis(300),
            hold: 20,
            long_hold: Duration::from_millis(5),
            stutter: Duration::from_millis(40),
            shuffle: Duration::from_millis(30),
            stat_interval: Duration::from_millis(50),
        };
        let mut lines = 0;
        let report = run("parking_lot", &config, |stats| {
            lines += 1;
            assert_eq!(stats.failures, 0);
        })
        .unwrap();
        assert!(report.success(), "{:?}", report.failure_reasons());
        assert!(lines >= 1, "no statistics line");
        assert!(report.stutter_pauses >= 1);
        assert!(report.long_holds >= 1);
        assert!(report.shuffles >= 1 || report.shuffle_unavailable);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let d = Duration::from_millis(1);
        assert_eq!(
            run("std", &Config::quick(0, d), |_| {}).unwrap_err(),
            Error::ZeroThreads
        );
        assert_eq!(
            run("std", &Config::quick(1, Duration::ZERO), |_| {}).unwrap_err(),
            Error::ZeroDuration
        );
        let err = run("nope", &Config::quick(1, d), |_| {})
            .unwrap_err()
            .to_string();
        // The message names the bad lock and lists every public lock.
        assert!(err.contains("nope"), "{err}");
        for name in ["qspinlock", "mutex", "std", "parking_lot"] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn lines_in_locktorture_format() {
        let stats = Stats {
            elapsed: Duration::from_secs(1),
            total: 10,
            max: 6,
            min: 4,
            failures: 0,
        };
        assert_eq!(
            stats.to_string(),
            "Writes:  Total: 10  Max/Min: 6/4   Fail: 0"
        );
        let bad = Stats {
            max: 9,
            min: 1,
            failures: 2,
            ..stats
        };
        assert_eq!(
            bad.to_string(),
            "Writes:  Total: 10  Max/Min: 9/1 ???  Fail: 2 !!!"
        );
        let config = Config {
            threads: 4,
            duration: Duration::from_millis(1500),
            hold: 7,
            long_hold: Duration::from_millis(100),
            stutter: Duration::ZERO,
            shuffle: Duration::from_secs(3),
            stat_interval: Duration::from_micros(5),
        };
        assert_eq!(
            start_line("std", &config),
            "std-torture:--- Start of test: nwriters_stress=4 duration=1500ms hold=7 \
             long_hold=100ms stutter=0s shuffle_interval=3s stat_interval=5us"
        );
    }

    #[test]
    fn a_stalled_writer_is_a_failure() {
        let report = Report {
            lock: "x",
            config: quick(2),
            elapsed: Duration::from_secs(1),
            per_thread: vec![5, 0],
            held_flag_failures: 0,
            inside_failures: 0,
            payload_count: 5,
            long_holds: 0,
            stutter_pauses: 0,
            shuffles: 0,
            shuffle_unavailable: false,
        };
        assert_eq!(report.failures(), 0);
        assert_eq!(report.stalled_threads(), [1]);
        assert!(!report.success());
        assert!(report.failure_reasons()[0].contains("no progress"));
    }
}
