//! The futex contract, written once and run against each backend (`tests/futex.rs`: the
//! public API, i.e. the platform's backend; `tests/parking.rs`: the parking_lot_core fallback).
#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
use ksync_futex::WaitResult;

/// A backend's entry points.
#[derive(Clone, Copy)]
pub struct Backend {
    pub wait: fn(&AtomicU32, u32, Option<Duration>) -> WaitResult,
    pub wake_one: fn(&AtomicU32) -> bool,
    pub wake_all: fn(&AtomicU32) -> usize,
}

/// Long enough that a correct wake always comes first; a wait that needs it is a lost wakeup.
const LOST_WAKEUP: Duration = Duration::from_secs(30);

pub fn mismatch_returns_at_once(b: Backend) {
    let w = AtomicU32::new(7);
    // Were the check broken, the wait would sleep for the whole timeout and report TimedOut.
    assert_eq!((b.wait)(&w, 6, Some(LOST_WAKEUP)), WaitResult::Mismatch);
    assert_eq!((b.wait)(&w, 0, Some(LOST_WAKEUP)), WaitResult::Mismatch);
    assert_eq!((b.wait)(&w, u32::MAX, None), WaitResult::Mismatch);
    // A mismatch wins over an expired timeout.
    assert_eq!((b.wait)(&w, 6, Some(Duration::ZERO)), WaitResult::Mismatch);
}

pub fn timeout_is_honoured(b: Backend) {
    let w = AtomicU32::new(1);
    for timeout in [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(20),
    ] {
        let start = Instant::now();
        // Nobody wakes us: the only way out is the timeout (or a spurious wakeup, which the
        // contract allows: retry until the deadline).
        let deadline = start + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match (b.wait)(&w, 1, Some(left)) {
                WaitResult::TimedOut => break,
                WaitResult::Woken => continue,
                WaitResult::Mismatch => panic!("the word never changed"),
            }
        }
        // Never early: the deadline is on the monotonic clock.
        assert!(
            start.elapsed() >= timeout,
            "returned before the timeout {timeout:?}"
        );
    }
    // A huge timeout must not overflow into "already expired".
    let w2 = Arc::new(AtomicU32::new(0));
    let w3 = w2.clone();
    let t = thread::spawn(move || {
        while w3.load(Ordering::Acquire) == 0 {
            assert_ne!((b.wait)(&w3, 0, Some(Duration::MAX)), WaitResult::TimedOut);
        }
    });
    w2.store(1, Ordering::Release);
    (b.wake_all)(&w2);
    t.join().unwrap();
}

pub fn wake_without_waiters(b: Backend) {
    let w = AtomicU32::new(0);
    assert!(!(b.wake_one)(&w));
    assert_eq!((b.wake_all)(&w), 0);
}

/// Two threads hand a token back and forth through one word: each publishes the next value,
/// wakes the other, and sleeps until its turn. A lost wakeup leaves both asleep, which the
/// long timeout turns into a test failure instead of a hang.
pub fn handshake_loses_no_wakeup(b: Backend, rounds: u32) {
    let w = Arc::new(AtomicU32::new(0));
    let player = |w: Arc<AtomicU32>, parity: u32| {
        move || {
            let mut sleeps = 0u64;
            for round in 0..rounds {
                let mine = 2 * round + parity;
                loop {
                    // Acquire: pairs with the other player's Release (the token carries data
                    // in real uses; here it only carries the turn).
                    let v = w.load(Ordering::Acquire);
                    if v == mine {
                        break;
                    }
                    assert!(v < mine, "the word ran ahead: {v} > {mine}");
                    match (b.wait)(&w, v, Some(LOST_WAKEUP)) {
                        WaitResult::TimedOut => panic!("lost wakeup at round {round}"),
                        WaitResult::Woken => sleeps += 1,
                        WaitResult::Mismatch => {}
                    }
                }
                w.store(mine + 1, Ordering::Release);
                (b.wake_one)(&w);
            }
            sleeps
        }
    };
    let a = thread::spawn(player(w.clone(), 0));
    let c = thread::spawn(player(w.clone(), 1));
    a.join().unwrap();
    c.join().unwrap();
    assert_eq!(w.load(Ordering::Relaxed), 2 * rounds);
}

pub fn wake_all_releases_every_waiter(b: Backend, waiters: usize) {
    let w = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = (0..waiters)
        .map(|_| {
            let w = w.clone();
            thread::spawn(move || {
                while w.load(Ordering::Acquire) == 0 {
                    assert_ne!(
                        (b.wait)(&w, 0, Some(LOST_WAKEUP)),
                        WaitResult::TimedOut,
                        "lost wakeup"
                    );
                }
            })
        })
        .collect();
    w.store(1, Ordering::Release);
    let woken = (b.wake_all)(&w);
    assert!(woken <= waiters, "woke {woken} of {waiters}");
    for h in handles {
        h.join().unwrap();
    }
}

/// `wake_one` reports a sleeper: a thread waits once; we wake until a wake reports success,
/// and then that thread must have returned `Woken`.
pub fn wake_one_reports_a_sleeper(b: Backend) {
    let w = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (w2, done2) = (w.clone(), done.clone());
    let t = thread::spawn(move || {
        let r = (b.wait)(&w2, 0, Some(LOST_WAKEUP));
        done2.store(true, std::sync::atomic::Ordering::Release);
        r
    });
    let mut reported = false;
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        if (b.wake_one)(&w) {
            reported = true;
            break;
        }
        thread::yield_now();
    }
    let r = t.join().unwrap();
    assert_eq!(
        r,
        WaitResult::Woken,
        "the waiter timed out: no wake reached it"
    );
    // The waiter sleeps until woken (or the long timeout above), so some wake found it asleep
    // and said so. (Only a spurious wakeup, allowed but not produced by either backend without
    // signals, could make this fail.)
    assert!(
        reported,
        "the waiter was woken, but no wake_one reported a sleeper"
    );
}

/// Wakes on one word do not wake sleepers on another.
pub fn wakes_are_per_word(b: Backend) {
    let words = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let ws = words.clone();
    let t = thread::spawn(move || {
        while ws[1].load(Ordering::Acquire) == 0 {
            let _ = (b.wait)(&ws[1], 0, Some(LOST_WAKEUP));
        }
    });
    // Nobody sleeps on word 0, whatever the sleeper on word 1 is doing.
    for _ in 0..100 {
        assert!(!(b.wake_one)(&words[0]));
        assert_eq!((b.wake_all)(&words[0]), 0);
    }
    words[1].store(1, Ordering::Release);
    (b.wake_one)(&words[1]);
    t.join().unwrap();
}
