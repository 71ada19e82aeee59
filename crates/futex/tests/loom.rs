//! Loom models of the futex twin. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p ksync-futex --test loom`.
//!
//! The twin really blocks, so a lost wakeup is a loom deadlock: the sensitivity checks below
//! show that loom does report one when a wake is missing.
//!
//! A loom deadlock cannot be caught with `#[should_panic]`: after the "deadlock" panic, loom's
//! objects panic again while unwinding and the process aborts. So each broken model runs in a
//! child process (this test binary, re-run on one test with an environment variable set) and
//! the parent checks that the child died reporting a deadlock.
#![cfg(loom)]

use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
use ksync_barrier::sync::{thread, Arc};
use ksync_futex::{wait, wake_all, wake_one, WaitResult};
use std::process::Command;
use std::time::Duration;

const CHILD_ENV: &str = "KSYNC_FUTEX_LOOM_DEADLOCK_CHILD";

/// Runs the model `name` (a `deadlock_child_*` test) in a child process and asserts that loom
/// reported a deadlock.
fn expect_deadlock(name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "--nocapture", "--test-threads=1", name])
        .env(CHILD_ENV, name)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("deadlock; threads"),
        "expected loom to report a deadlock in {name}; status {:?}, stderr:\n{stderr}",
        out.status
    );
}

/// Whether this process is the child asked to run the broken model `name`. In a normal run the
/// `deadlock_child_*` entries return at once: they are the children's entry points, not tests.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// The canonical handshake: the waker publishes, then wakes; the waiter re-checks in a loop.
/// Every interleaving terminates (no lost wakeup) and the waiter sees the flag.
#[test]
fn handshake_no_lost_wakeup() {
    loom::model(|| {
        let flag = Arc::new(AtomicU32::new(0));
        let f = flag.clone();
        let waiter = thread::spawn(move || {
            while f.load(Ordering::Acquire) == 0 {
                let _ = wait(&f, 0, None);
            }
        });
        flag.store(1, Ordering::Release);
        wake_one(&flag);
        waiter.join().unwrap();
    });
}

/// The waker stores with Relaxed: the futex's own check still prevents a lost wakeup (the
/// contract's one guarantee needs no ordering from the caller).
#[test]
fn relaxed_publish_still_no_lost_wakeup() {
    loom::model(|| {
        let flag = Arc::new(AtomicU32::new(0));
        let f = flag.clone();
        let waiter = thread::spawn(move || {
            while f.load(Ordering::Relaxed) == 0 {
                let _ = wait(&f, 0, None);
            }
        });
        flag.store(1, Ordering::Relaxed);
        wake_one(&flag);
        waiter.join().unwrap();
    });
}

/// Sensitivity: the same handshake with the wake left out must be reported as a deadlock
/// (some interleaving puts the waiter to sleep before the store, and nobody wakes it).
#[test]
fn handshake_without_wake_deadlocks() {
    expect_deadlock("deadlock_child_handshake_without_wake");
}

#[test]
fn deadlock_child_handshake_without_wake() {
    if !is_child("deadlock_child_handshake_without_wake") {
        return;
    }
    loom::model(|| {
        let flag = Arc::new(AtomicU32::new(0));
        let f = flag.clone();
        let waiter = thread::spawn(move || {
            while f.load(Ordering::Acquire) == 0 {
                let _ = wait(&f, 0, None);
            }
        });
        flag.store(1, Ordering::Release);
        // wake_one(&flag) deliberately omitted.
        waiter.join().unwrap();
    });
}

/// Sensitivity: waking *before* publishing is the classic lost-wakeup bug, and loom finds it.
#[test]
fn wake_before_publish_deadlocks() {
    expect_deadlock("deadlock_child_wake_before_publish");
}

#[test]
fn deadlock_child_wake_before_publish() {
    if !is_child("deadlock_child_wake_before_publish") {
        return;
    }
    loom::model(|| {
        let flag = Arc::new(AtomicU32::new(0));
        let f = flag.clone();
        let waiter = thread::spawn(move || {
            while f.load(Ordering::Acquire) == 0 {
                let _ = wait(&f, 0, None);
            }
        });
        wake_one(&flag);
        flag.store(1, Ordering::Release);
        waiter.join().unwrap();
    });
}

/// Two sleepers and one `wake_one`: the twin wakes exactly one (no spurious wakeups), so a
/// broadcast that should have been `wake_all` shows up as a deadlock...
#[test]
fn wake_one_for_two_waiters_deadlocks() {
    expect_deadlock("deadlock_child_wake_one_for_two_waiters");
}

#[test]
fn deadlock_child_wake_one_for_two_waiters() {
    if !is_child("deadlock_child_wake_one_for_two_waiters") {
        return;
    }
    loom::model(|| {
        let flag = Arc::new(AtomicU32::new(0));
        let spawn_waiter = |f: Arc<AtomicU32>| {
            thread::spawn(move || {
                while f.load(Ordering::Acquire) == 0 {
                    let _ = wait(&f, 0, None);
                }
            })
        };
        let a = spawn_waiter(flag.clone());
        let b = spawn_waiter(flag.clone());
        flag.store(1, Ordering::Release);
        wake_one(&flag);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// ...and `wake_all` releases both, with an exact count.
#[test]
fn wake_all_for_two_waiters() {
    loom::model(|| {
        let flag = Arc::new(AtomicU32::new(0));
        let spawn_waiter = |f: Arc<AtomicU32>| {
            thread::spawn(move || {
                while f.load(Ordering::Acquire) == 0 {
                    let _ = wait(&f, 0, None);
                }
            })
        };
        let a = spawn_waiter(flag.clone());
        let b = spawn_waiter(flag.clone());
        flag.store(1, Ordering::Release);
        assert!(wake_all(&flag) <= 2);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A timed wait under loom takes the "gave up" path at once when the word still matches, and
/// reports a mismatch otherwise; `wake_one` finds nobody asleep in either case.
#[test]
fn timed_wait_gives_up_at_once() {
    loom::model(|| {
        let w = AtomicU32::new(5);
        assert_eq!(
            wait(&w, 5, Some(Duration::from_secs(1))),
            WaitResult::TimedOut
        );
        assert_eq!(
            wait(&w, 4, Some(Duration::from_secs(1))),
            WaitResult::Mismatch
        );
        assert_eq!(wait(&w, 4, None), WaitResult::Mismatch);
        assert!(!wake_one(&w));
    });
}

/// `wake_one` reports whether it woke somebody, exactly: when it says no, the waiter was not
/// asleep yet, so it must find the word changed.
#[test]
fn wake_one_count_is_exact() {
    loom::model(|| {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let waiter = thread::spawn(move || wait(&w2, 0, None));
        w.store(1, Ordering::Relaxed);
        let woke = wake_one(&w);
        let r = waiter.join().unwrap();
        if woke {
            assert_eq!(r, WaitResult::Woken);
        } else {
            assert_eq!(r, WaitResult::Mismatch);
        }
    });
}
