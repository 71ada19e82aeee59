//! Loom models of `ksync::compat`'s condvar protocol, on the real `compat::Mutex` and
//! `compat::Condvar`. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p ksync --test loom_compat`.
//!
//! Under loom the futex is ksync-futex's twin, which really blocks and never wakes spuriously,
//! so a lost wakeup (a notify that misses a waiter) leaves a thread asleep forever and loom
//! reports a deadlock. The protected data lives in the mutex's loom `UnsafeCell`, so a guard
//! that reached the data without the lock would be a reported race.
//!
//! The raw lock is a minimal futex lock (std's three-state design without its spinning: a
//! spinning lock whose holder sleeps in the condvar would only make loom explore spin
//! iterations). Loom objects cannot be built in a `const`, so it has no usable `INIT`, and the
//! models build the mutexes with `from_raw` inside `loom::model`.
#![cfg(loom)]

use std::time::Duration;

use ksync::barrier::sync::atomic::{AtomicU32, Ordering};
use ksync::barrier::sync::{thread, Arc};
use ksync::compat::{nonpoison, Condvar, Mutex};
use ksync::futex;

/// 0: unlocked; 1: locked; 2: locked, and a thread may sleep on the word.
struct LoomLock(AtomicU32);

impl LoomLock {
    fn new() -> Self {
        LoomLock(AtomicU32::new(0))
    }
}

// SAFETY: a thread owns the lock from the RMW that moved the word off 0 (acquire) to the swap
// back to 0 (release); only that thread unlocks.
unsafe impl lock_api::RawMutex for LoomLock {
    // Loom's atomics are not `const`: the models build the lock with `LoomLock::new`. Naming
    // `INIT` (e.g. through `Mutex::from`) fails to compile.
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = panic!("LoomLock has no const INIT: use from_raw(LoomLock::new(), ..)");
    type Guard = ();

    fn lock(&self) {
        // Acquire: the critical section starts when the word leaves 0.
        if self
            .0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        // Acquire, as above; 2 tells the unlocker that someone may sleep.
        while self.0.swap(2, Ordering::Acquire) != 0 {
            let _ = futex::wait(&self.0, 2, None);
        }
    }

    fn try_lock(&self) -> Option<()> {
        // Acquire on success; a failure orders nothing.
        self.0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| ())
    }

    unsafe fn unlock(&self, _: ()) {
        // Release: the critical section ends here.
        if self.0.swap(0, Ordering::Release) == 2 {
            futex::wake_one(&self.0);
        }
    }

    fn is_locked(&self) -> bool {
        // Relaxed: a snapshot.
        self.0.load(Ordering::Relaxed) != 0
    }
}

type Pair = (Mutex<bool, LoomLock>, Condvar);

fn pair() -> Arc<Pair> {
    Arc::new((Mutex::from_raw(LoomLock::new(), false), Condvar::new()))
}

/// Sets the flag and notifies, either while still holding the lock or after releasing it.
fn notifier(pair: Arc<Pair>, notify_under_lock: bool) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (lock, cvar) = &*pair;
        let mut ready = lock.lock().unwrap();
        *ready = true;
        if notify_under_lock {
            cvar.notify_one();
            drop(ready);
        } else {
            drop(ready);
            cvar.notify_one();
        }
    })
}

/// The waiter of every model: the predicate loop, which must end.
fn wait_for_flag(pair: &Pair) {
    let (lock, cvar) = pair;
    let ready = cvar
        .wait_while(lock.lock().unwrap(), |ready| !*ready)
        .unwrap();
    assert!(*ready);
}

#[test]
fn notify_under_the_lock_wakes_the_waiter() {
    loom::model(|| {
        let pair = pair();
        let t = notifier(Arc::clone(&pair), true);
        wait_for_flag(&pair);
        t.join().unwrap();
    });
}

#[test]
fn notify_after_unlock_wakes_the_waiter() {
    loom::model(|| {
        let pair = pair();
        let t = notifier(Arc::clone(&pair), false);
        wait_for_flag(&pair);
        t.join().unwrap();
    });
}

#[test]
fn notify_all_wakes_both_waiters() {
    loom::model(|| {
        let pair = pair();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let pair = Arc::clone(&pair);
                thread::spawn(move || wait_for_flag(&pair))
            })
            .collect();
        let (lock, cvar) = &*pair;
        *lock.lock().unwrap() = true;
        cvar.notify_all();
        for w in waiters {
            w.join().unwrap();
        }
    });
}

#[test]
fn a_timed_wait_reports_a_timeout_only_without_a_notify() {
    // The futex twin has no clock: a timed sleep that would block returns "timed out" at once.
    // So every interleaving either sees the notify (the word moved) or times out, and the
    // result must agree with the flag the notifier set before notifying.
    loom::model(|| {
        let pair = pair();
        let t = notifier(Arc::clone(&pair), true);
        let (lock, cvar) = &*pair;
        let ready = lock.lock().unwrap();
        if !*ready {
            let (ready, result) = cvar.wait_timeout(ready, Duration::from_secs(1)).unwrap();
            if !result.timed_out() {
                assert!(*ready, "woken without a notify");
            }
        }
        t.join().unwrap();
    });
}

#[test]
fn nonpoison_handshake() {
    loom::model(|| {
        let pair = Arc::new((
            nonpoison::Mutex::from_raw(LoomLock::new(), false),
            nonpoison::Condvar::new(),
        ));
        let pair2 = Arc::clone(&pair);
        let t = thread::spawn(move || {
            let (lock, cvar) = &*pair2;
            *lock.lock() = true;
            cvar.notify_one();
        });
        let (lock, cvar) = &*pair;
        let mut ready = lock.lock();
        cvar.wait_while(&mut ready, |ready| !*ready);
        assert!(*ready);
        drop(ready);
        t.join().unwrap();
    });
}
