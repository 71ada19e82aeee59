//! Torture and starvation: many more threads than cores hammer one mutex.
//!
//! Exclusion is checked three ways in every critical section (locktorture's checks):
//!
//! * an atomic "inside" counter, entered with `fetch_add == 0` and left with `fetch_sub == 1`;
//! * a held flag in the protected data, clear on entry and set while inside;
//! * a non-atomic counter in the protected data, whose final value must equal the number of
//!   acquisitions exactly (a lost update means two threads were inside at once).
//!
//! Some holds sleep (waiters pile up, sleep on their futex words, get woken and handed off to),
//! others spin (spinners win the mutex from the owner). A lost wakeup shows up as a test that
//! never finishes; a lost handoff (a mutex handed to a waiter that left) too.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ksync_mutex::trace::{self, Step};

// The coverage checks below need the `trace` feature (on for this crate's tests).
static_assertions::const_assert!(trace::ENABLED);
use ksync_mutex::{Mutex, MutexGuard};
use ksync_percpu::current;

/// 8x oversubscribed on the 2-core CI machine.
const THREADS: usize = 16;

struct Data {
    held: bool,
    count: u64,
}

/// How a torture thread takes the mutex on a given iteration.
#[derive(Clone, Copy)]
enum Take {
    Lock,
    TryLock,
    /// `try_lock_for` with a timeout short enough to expire under contention.
    Timed,
}

/// Runs the torture and returns the mutex's trace events (empty without the `trace` feature,
/// which this crate's tests enable).
fn torture(threads: usize, iters: usize, sleep_every: usize, mix: bool) -> Vec<trace::Event> {
    let lock = Arc::new(Mutex::new(Data {
        held: false,
        count: 0,
    }));
    // SAFETY: only the address of the raw mutex is taken.
    let addr = unsafe { lock.raw() } as *const ksync_mutex::RawMutex as usize;
    let ((), events) = trace::record(|| run(&lock, threads, iters, sleep_every, mix));
    events.into_iter().filter(|e| e.lock == addr).collect()
}

/// Asserts that the run took each of `steps` (the paths the test is meant to exercise).
fn covers(events: &[trace::Event], steps: &[Step]) {
    for step in steps {
        assert!(
            events.iter().any(|e| e.step == *step),
            "the torture never took {step:?} ({})",
            step.describe()
        );
    }
}

fn run(lock: &Arc<Mutex<Data>>, threads: usize, iters: usize, sleep_every: usize, mix: bool) {
    let inside = Arc::new(AtomicUsize::new(0));
    let acquired = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (lock, inside, acquired, start) = (
                lock.clone(),
                inside.clone(),
                acquired.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                for i in 0..iters {
                    let take = match (mix, (i + t) % 7) {
                        (true, 3) => Take::TryLock,
                        (true, 5) => Take::Timed,
                        _ => Take::Lock,
                    };
                    let g = match take {
                        Take::Lock => Some(lock.lock()),
                        Take::TryLock => lock.try_lock(),
                        Take::Timed => lock.try_lock_for(Duration::from_micros(20)),
                    };
                    let Some(mut g) = g else { continue };
                    acquired.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two threads inside"
                    );
                    assert!(!g.held, "held flag already set on entry");
                    g.held = true;
                    g.count += 1;
                    if sleep_every != 0 && (i + t) % sleep_every == 0 {
                        // A hold that sleeps: waiters pile up and go to sleep on their futexes.
                        std::thread::sleep(Duration::from_micros(50));
                    } else {
                        // A hold that spins: the spinner and the first waiter spin on us.
                        for _ in 0..(i % 64) {
                            std::hint::spin_loop();
                        }
                    }
                    g.held = false;
                    assert_eq!(
                        inside.fetch_sub(1, Ordering::SeqCst),
                        1,
                        "two threads inside"
                    );
                    if mix && i % 11 == 0 {
                        MutexGuard::unlock_fair(g);
                    } else {
                        drop(g);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("torture thread panicked");
    }
    let g = lock.lock();
    assert_eq!(g.count, acquired.load(Ordering::Relaxed), "lost updates");
    assert!(!g.held);
    drop(g);
    // SAFETY: only inspected.
    let raw = unsafe { lock.raw() };
    assert_eq!(
        raw.state().word,
        0,
        "flags left on an idle mutex: {}",
        raw.state()
    );
    assert!(raw.waiters().is_empty());
}

#[test]
fn sixteen_threads_sleeping_and_spinning_holds() {
    let events = torture(THREADS, 3_000, 53, false);
    // Holds that sleep 50 µs outlast every spin: waiters queue, sleep and are woken.
    covers(
        &events,
        &[
            Step::Waiters,
            Step::Sleep,
            Step::Release,
            Step::Wake,
            Step::ClearFlags,
        ],
    );
}

/// Short holds only: spinning, stealing and handoff dominate.
#[test]
fn sixteen_threads_short_holds() {
    // No recording needed: only the exclusion checks.
    let lock = Arc::new(Mutex::new(Data {
        held: false,
        count: 0,
    }));
    run(&lock, THREADS, 30_000, 0, false);
}

/// lock, try_lock, timed waits that give up (sometimes while being handed the mutex), fair
/// unlocks.
#[test]
fn sixteen_threads_mixed_operations() {
    let events = torture(THREADS, 10_000, 97, true);
    // 20 µs timeouts expire during 50 µs holds; fair unlocks hand off to sleeping waiters.
    covers(
        &events,
        &[Step::Sleep, Step::GaveUp, Step::Handoff, Step::Pickup],
    );
}

/// What the greedy threads of the starvation test share, under the mutex.
struct Ledger {
    /// Set by a holder that saw HANDOFF before unlocking: the serial of the first waiter, which
    /// must be the very next owner.
    promised: Option<u64>,
    /// Promises made (and kept) so far.
    handoffs: u64,
}

/// One round of the starvation check; returns the number of handoffs observed.
fn starvation_round(threads: usize, iters: usize) -> u64 {
    let m = Arc::new(Mutex::new(Ledger {
        promised: None,
        handoffs: 0,
    }));
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (m, start) = (m.clone(), start.clone());
            std::thread::spawn(move || {
                let me = current().serial();
                start.wait();
                for i in 0..iters {
                    let mut g = m.lock();
                    if let Some(promised) = g.promised.take() {
                        assert_eq!(
                            promised, me,
                            "the first waiter set HANDOFF, yet thread #{me} took the mutex \
                             before it (#{promised})"
                        );
                        g.handoffs += 1;
                    }
                    // Now and then a hold yields its CPU: the others give up spinning and
                    // queue, so there are waiters to wake.
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    // Greedy: no work outside the critical section, so a running thread
                    // re-takes a released mutex before a woken waiter can run; only HANDOFF
                    // gets the waiter in.
                    // SAFETY: only inspected.
                    let raw = unsafe { MutexGuard::mutex(&g).raw() };
                    if raw.state().handoff() {
                        // HANDOFF stays set until our unlock hands off to the first waiter,
                        // which cannot leave the list (untimed) before it has the mutex.
                        let first = raw.waiters()[0];
                        g.promised = Some(first.serial());
                    }
                    drop(g);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("starvation thread panicked");
    }
    let g = m.lock();
    assert!(
        g.promised.is_none(),
        "a promised handoff was never delivered"
    );
    g.handoffs
}

/// Once the first waiter has woken and lost (it sets HANDOFF), no other thread takes the
/// mutex before it: the bound is zero acquisitions. Checked in every critical section, without
/// timing: the holder that sees HANDOFF names the first waiter, and the next holder must be it.
/// Rounds repeat until handoffs have been seen (they need a woken waiter to lose a race, which
/// greedy threads on two cores make happen within a round or two).
#[test]
fn handoff_bounds_starvation() {
    let mut handoffs = 0;
    let mut rounds = 0;
    while handoffs < 200 {
        handoffs += starvation_round(8, 5_000);
        rounds += 1;
        assert!(rounds < 1_000, "no handoff in {rounds} rounds");
    }
}
