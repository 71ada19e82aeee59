//! Loom models of the mutex. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p ksync-mutex --test loom`.
//!
//! Each model lets threads take the mutex and bump a counter in a loom `UnsafeCell` (two owners
//! at once is a reported data race, not just a wrong count), then checks the total and that the
//! idle mutex is back to an all-zero owner word with an empty wait list (no flag left behind, no
//! waiter stranded, no handoff dropped). Waiters sleep on the futex loom twin, which really
//! blocks: a lost wakeup is a loom deadlock. Timed waits time out at once in the twin (loom has
//! no time), which explores the give-up path deterministically.
//!
//! The spin budget is 2 under loom, so that the models reach the queue and the sleep.
#![cfg(loom)]

use std::time::Duration;

use ksync_barrier::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use ksync_barrier::sync::cell::UnsafeCell;
use ksync_barrier::sync::{thread, Arc};
use ksync_mutex::trace::{self, Step};

// The coverage checks below need the `trace` feature (on for this crate's tests).
static_assertions::const_assert!(trace::ENABLED);
use ksync_mutex::RawMutex;

struct Shared {
    m: RawMutex,
    count: UnsafeCell<u32>,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            m: RawMutex::new(),
            count: UnsafeCell::new(0),
        })
    }

    /// The critical section: a non-atomic increment that loom checks for races.
    fn inside(&self) {
        // SAFETY: the mutex is held; loom reports any concurrent access as a race.
        self.count.with_mut(|c| unsafe { *c += 1 });
    }

    fn bump(&self) {
        let g = self.m.lock();
        self.inside();
        // SAFETY: `g` is this thread's acquisition.
        unsafe { self.m.unlock(g) };
    }

    /// At the end of a model: the count, and the mutex idle and clean.
    fn check(&self, expected: u32) {
        let s = self.m.state();
        assert_eq!(s.word, 0, "idle mutex with owner word {s}");
        assert!(self.m.waiters().is_empty());
        let g = self.m.try_lock().expect("the mutex is free at the end");
        // SAFETY: held.
        let n = self.count.with(|c| unsafe { *c });
        assert_eq!(n, expected);
        // SAFETY: ours.
        unsafe { self.m.unlock(g) };
    }
}

/// Runs the model, and checks (with the `trace` hooks, on in this crate's tests) that the
/// explored executions took every step in `steps` at least once: the model reaches the code it
/// is meant to check.
fn model_covering(steps: &[Step], f: impl Fn() + Sync + Send + 'static) {
    let ((), events) = trace::record(|| loom::model(f));
    for step in steps {
        assert!(
            events.iter().any(|e| e.step == *step),
            "no execution took {step:?} ({})",
            step.describe()
        );
    }
}

/// Yields until `cond` holds (a spin-wait the model checker can schedule around).
fn wait_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

/// A thread that takes the mutex once, with `try_lock_for` if `timed`; returns whether it got
/// it. Sets `done` when it returns.
fn contender(s: &Arc<Shared>, timed: bool, done: &Arc<AtomicBool>) -> thread::JoinHandle<u32> {
    let (s, done) = (s.clone(), done.clone());
    thread::spawn(move || {
        let g = if timed {
            s.m.try_lock_for(Duration::from_secs(1))
        } else {
            Some(s.m.lock())
        };
        let got = match g {
            Some(g) => {
                s.inside();
                // SAFETY: ours.
                unsafe { s.m.unlock(g) };
                1
            }
            None => 0,
        };
        done.store(true, Ordering::Release);
        got
    })
}

/// One thread arrives while main holds the mutex and releases it at once: the arrival's fast
/// path, trylock and spin race main's fast or slow unlock.
#[test]
fn fast_path_vs_slow_path() {
    loom::model(|| {
        let s = Shared::new();
        let g = s.m.lock();
        let t = contender(&s, false, &Arc::new(AtomicBool::new(false)));
        s.inside();
        // SAFETY: taken above.
        unsafe { s.m.unlock(g) };
        t.join().unwrap();
        s.check(2);
    });
}

/// Two threads contend with no one holding the mutex at the start.
#[test]
fn two_threads_contend() {
    loom::model(|| {
        let s = Shared::new();
        let s1 = s.clone();
        let t = thread::spawn(move || s1.bump());
        s.bump();
        t.join().unwrap();
        s.check(2);
    });
}

/// The waiter has queued (WAITERS is set) when main unlocks: main's release, pick and wake race
/// the waiter's "arm, trylock, drop wait_lock, sleep". A lost wakeup is a deadlock.
#[test]
fn unlock_races_the_waiter_going_to_sleep() {
    model_covering(&[Step::Sleep, Step::Release, Step::Wake], || {
        let s = Shared::new();
        let g = s.m.lock();
        let t = contender(&s, false, &Arc::new(AtomicBool::new(false)));
        wait_until(|| s.m.state().waiters());
        // SAFETY: taken above.
        unsafe { s.m.unlock(g) };
        t.join().unwrap();
        s.check(1);
    });
}

/// As above with `unlock_fair`: the handoff (owner = waiter | PICKUP) races the waiter's arm,
/// trylock and sleep; the waiter picks the mutex up wherever the handoff lands.
#[test]
fn handoff_races_the_waiter_going_to_sleep() {
    model_covering(
        &[Step::Sleep, Step::Handoff, Step::Pickup, Step::Wake],
        || {
            let s = Shared::new();
            let g = s.m.lock();
            let t = contender(&s, false, &Arc::new(AtomicBool::new(false)));
            wait_until(|| s.m.state().waiters());
            // SAFETY: taken above.
            unsafe { s.m.unlock_fair(g) };
            // Handed off, not released: the owner field names the waiter until it is done.
            assert!(
                s.m.is_locked() || s.m.state().word == 0,
                "released: {}",
                s.m.state()
            );
            t.join().unwrap();
            s.check(1);
        },
    );
}

/// A timed waiter gives up (the twin times out at once) while main hands the mutex to it with
/// `unlock_fair`: either it takes the handoff (its last trylock under `wait_lock`), or it left
/// before the handoff and main released to nobody. A dropped handoff leaves the mutex owned by
/// a thread that is gone: `check` finds the owner word non-zero.
#[test]
fn timed_waiter_gives_up_while_handed_the_lock() {
    model_covering(&[Step::GaveUp, Step::Handoff, Step::Pickup], || {
        let s = Shared::new();
        let g = s.m.lock();
        let done = Arc::new(AtomicBool::new(false));
        let t = contender(&s, true, &done);
        // The waiter has timed out once (the twin times out at once), lost, and asked for a
        // handoff: main's handoff now races its last steps before giving up.
        wait_until(|| s.m.state().handoff() || done.load(Ordering::Acquire));
        // SAFETY: taken above.
        unsafe { s.m.unlock_fair(g) };
        let got = t.join().unwrap();
        s.check(got);
    });
}

/// The first waiter is woken and loses to main, which takes the mutex again right after
/// releasing it; the waiter then sets HANDOFF, racing main's second unlock, which must hand
/// off (or, if it read the word before the flag landed, see its CAS fail and re-read).
#[test]
fn unlock_races_the_first_waiter_setting_handoff() {
    model_covering(&[Step::SetHandoff, Step::Handoff, Step::Pickup], || {
        let s = Shared::new();
        let g = s.m.lock();
        let t = contender(&s, false, &Arc::new(AtomicBool::new(false)));
        wait_until(|| s.m.state().waiters());
        // SAFETY: taken above.
        unsafe { s.m.unlock(g) };
        s.bump();
        t.join().unwrap();
        s.check(2);
    });
}

/// Main holds the mutex while two waiters queue and fall asleep, one after the other, then lets
/// go; every holder releases with `unlock_fair` if `fair`, else with a plain unlock. (Three
/// threads: each waiter is queued and asleep before the next step, or the model takes many
/// minutes; the arrival races are the two-thread models'.)
fn two_sleeping_waiters(fair: bool) {
    let s = Shared::new();
    let g = s.m.lock();
    let mut handles = Vec::new();
    for _ in 0..2 {
        let task = Arc::new(AtomicUsize::new(0));
        let (s2, task2) = (s.clone(), task.clone());
        handles.push(thread::spawn(move || {
            task2.store(
                ksync_percpu::current() as *const _ as usize,
                Ordering::Release,
            );
            let g = s2.m.lock();
            s2.inside();
            // SAFETY: ours.
            unsafe {
                if fair {
                    s2.m.unlock_fair(g)
                } else {
                    s2.m.unlock(g)
                }
            };
        }));
        // Queued, and asleep on its futex word (blocked while in the list: it has left
        // `wait_lock`, whose own sleeps also set the flag).
        wait_until(|| {
            let t = task.load(Ordering::Acquire) as *const ksync_percpu::Task;
            // SAFETY: a descriptor address published by its thread (never freed).
            let t = unsafe { t.as_ref() };
            t.is_some_and(|t| t.is_blocked() && s.m.waiters().iter().any(|w| std::ptr::eq(*w, t)))
        });
    }
    // SAFETY: taken above.
    unsafe {
        if fair {
            s.m.unlock_fair(g)
        } else {
            s.m.unlock(g)
        }
    };
    for h in handles {
        h.join().unwrap();
    }
    s.check(2);
}

/// Fair unlocks hand the mutex down a list of two (HANDOFF by `unlock_fair`, PICKUP by each
/// waiter); the second waiter becomes first when the first leaves, and WAITERS stays set until
/// the list empties.
#[test]
fn two_waiters_handoff_and_pickup() {
    model_covering(&[Step::Handoff, Step::Pickup], || {
        two_sleeping_waiters(true)
    });
}

/// Plain unlocks release and wake down a list of two, with the wake-in-flight mark: each wake
/// is used up by the waiter it was meant for (a mark left behind would make the next unlock
/// skip the wake the second waiter needs: a deadlock).
#[test]
fn two_waiters_released_and_woken() {
    model_covering(&[Step::Release, Step::Wake, Step::Took], || {
        two_sleeping_waiters(false)
    });
}

/// A timed waiter queues behind a sleeping waiter and gives up (the twin times out at once),
/// leaving from the tail of the list while main hands the mutex to the first waiter: the list
/// stays intact, WAITERS stays set while the first waiter is queued, and the last one out
/// clears the flags.
#[test]
fn timed_waiter_leaves_from_behind_a_sleeper() {
    model_covering(&[Step::GaveUp, Step::Handoff, Step::Pickup], || {
        let s = Shared::new();
        let g = s.m.lock();
        let task = Arc::new(AtomicUsize::new(0));
        let (s1, task1) = (s.clone(), task.clone());
        let first = thread::spawn(move || {
            task1.store(
                ksync_percpu::current() as *const _ as usize,
                Ordering::Release,
            );
            s1.bump();
        });
        wait_until(|| {
            let t = task.load(Ordering::Acquire) as *const ksync_percpu::Task;
            // SAFETY: a descriptor address published by its thread (never freed).
            let t = unsafe { t.as_ref() };
            t.is_some_and(|t| t.is_blocked() && s.m.waiters().iter().any(|w| std::ptr::eq(*w, t)))
        });
        let timed = contender(&s, true, &Arc::new(AtomicBool::new(false)));
        // SAFETY: taken above.
        unsafe { s.m.unlock_fair(g) };
        first.join().unwrap();
        let got = timed.join().unwrap();
        s.check(1 + got);
    });
}
