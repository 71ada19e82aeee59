//! Loom models of every spinlock. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p ksync-spinlock --test loom`.
//!
//! Each model lets threads take a lock and bump a counter in a loom `UnsafeCell` (so two threads
//! inside at once is a reported data race, not just a wrong count), and checks the total. The
//! qspinlock models start with the lock held so that the arrivals take the slow path: the pending
//! lane, the queue, the last-in-queue tail CAS racing a new arrival, the handoff, and (paravirt)
//! the halt/wake handshakes on the futex twin and lock stealing. A lost wakeup is a loom deadlock.
//!
//! Bound: CI runs with `LOOM_MAX_PREEMPTIONS=2`; the three-thread models are the expensive ones.
#![cfg(loom)]

use ksync_barrier::sync::cell::UnsafeCell;
use ksync_barrier::sync::{thread, Arc};
use ksync_spinlock::{QSpinGuard, RawQSpinLock, RawQSpinLockNative, RawTasLock, RawTicketLock};

/// The inherent APIs of the raw locks, behind one face.
trait Raw: Send + Sync + 'static {
    type G;
    fn new() -> Self;
    fn lock(&self) -> Self::G;
    fn try_lock(&self) -> Option<Self::G>;
    /// # Safety
    /// `g` is the caller's acquisition.
    unsafe fn unlock(&self, g: Self::G);
}

macro_rules! plain_raw {
    ($t:ty) => {
        impl Raw for $t {
            type G = ();
            fn new() -> Self {
                <$t>::new()
            }
            fn lock(&self) {
                <$t>::lock(self)
            }
            fn try_lock(&self) -> Option<()> {
                <$t>::try_lock(self).then_some(())
            }
            unsafe fn unlock(&self, _: ()) {
                // SAFETY: forwarded.
                unsafe { <$t>::unlock(self) }
            }
        }
    };
}
plain_raw!(RawTasLock);
plain_raw!(RawTicketLock);
plain_raw!(RawQSpinLockNative);

impl Raw for RawQSpinLock {
    type G = QSpinGuard;
    fn new() -> Self {
        RawQSpinLock::new()
    }
    fn lock(&self) -> QSpinGuard {
        RawQSpinLock::lock(self)
    }
    fn try_lock(&self) -> Option<QSpinGuard> {
        RawQSpinLock::try_lock(self)
    }
    unsafe fn unlock(&self, g: QSpinGuard) {
        // SAFETY: forwarded.
        unsafe { RawQSpinLock::unlock(self, g) }
    }
}

struct Shared<R> {
    lock: R,
    count: UnsafeCell<u32>,
}

fn bump<R: Raw>(s: &Shared<R>) {
    let g = s.lock.lock();
    // SAFETY: the lock is held; loom reports any concurrent access as a race.
    s.count.with_mut(|c| unsafe { *c += 1 });
    // SAFETY: `g` is this thread's acquisition.
    unsafe { s.lock.unlock(g) };
}

/// `spawned` threads each take the lock once; if `main_holds`, the main thread holds it while
/// they arrive and releases it concurrently, then takes it once more.
fn model<R: Raw>(spawned: usize, main_holds: bool) {
    loom::model(move || {
        let s = Arc::new(Shared {
            lock: R::new(),
            count: UnsafeCell::new(0),
        });
        let held = main_holds.then(|| s.lock.lock());
        let handles: Vec<_> = (0..spawned)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || bump(&*s))
            })
            .collect();
        if let Some(g) = held {
            // SAFETY: taken above by this thread.
            unsafe { s.lock.unlock(g) };
        }
        bump(&*s);
        for h in handles {
            h.join().unwrap();
        }
        let g = s.lock.try_lock().expect("lock free at the end");
        // SAFETY: held.
        let n = s.count.with(|c| unsafe { *c });
        assert_eq!(n as usize, spawned + 1);
        // SAFETY: `g` is ours.
        unsafe { s.lock.unlock(g) };
    });
}

#[test]
fn tas_two_threads() {
    model::<RawTasLock>(1, false);
}

#[test]
fn tas_three_threads_held() {
    model::<RawTasLock>(2, true);
}

#[test]
fn ticket_two_threads() {
    model::<RawTicketLock>(1, false);
}

#[test]
fn ticket_three_threads_held() {
    model::<RawTicketLock>(2, true);
}

/// Two threads: the fast path and the pending lane (the second arrival while the first holds).
#[test]
fn qspinlock_native_pending_lane() {
    model::<RawQSpinLockNative>(1, true);
}

/// Three threads with the lock held: one pends, one queues (or both queue), the queue head races
/// the last-in-queue tail CAS against the third arrival, and hands off when it loses.
#[test]
fn qspinlock_native_queue_and_handoff() {
    model::<RawQSpinLockNative>(2, true);
}

/// Three threads, lock initially free: all paths, including fast-path winners and trylock after
/// node init.
#[test]
fn qspinlock_native_three_free() {
    model::<RawQSpinLockNative>(2, false);
}

/// Paravirt, two threads, lock held: the arrival queues, spins its (tiny, under loom) budget,
/// marks SLOW and sleeps on the lock word; the unlock must wake it.
#[test]
fn qspinlock_paravirt_head_sleeps_and_is_woken() {
    model::<RawQSpinLock>(1, true);
}

/// Paravirt, three threads, lock held: a queued non-head waiter halts on its node; the handoff
/// either finds it running or defers its wake to the unlock (SLOW + guard); arrivals may steal.
#[test]
fn qspinlock_paravirt_halt_kick_and_steal() {
    model::<RawQSpinLock>(2, true);
}
