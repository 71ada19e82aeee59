//! Loom models of every spinlock. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p ksync-spinlock --test loom`.
//!
//! Each model lets threads take a lock and bump a counter in a loom `UnsafeCell` (so two threads
//! inside at once is a reported data race, not just a wrong count), and checks the total. The
//! qspinlock models start with the lock held so that the arrivals take the slow path: the pending
//! lane, the queue, the last-in-queue tail CAS racing a new arrival, the handoff, and (paravirt)
//! the halt/wake handshakes on the futex twin and lock stealing. A lost wakeup is a loom deadlock.
//!
//! Bound: every model runs with a preemption bound of 1, whatever `LOOM_MAX_PREEMPTIONS` says.
//! With two or more, loom 0.7's DPOR explores schedules in which two spinning waiters yield to
//! each other forever while the owner, preempted in the middle of its unlock, is never run again
//! (a yield to another yielded thread is not counted as a preemption), and reports them as
//! "Model exceeded maximum number of branches". A bound of 1 still preempts each thread at every
//! atomic access in turn. The models were checked to fail on the mutants listed in
//! `docs/spinlock.md` ("Model checking").
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

/// The preemption bound of every model (see the module docs).
const BOUND: usize = 1;

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(BOUND);
    b
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
    builder().check(move || model_body::<R>(spawned, main_holds));
}

/// One execution of [`model`].
fn model_body<R: Raw>(spawned: usize, main_holds: bool) {
    {
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
    }
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

/// Paravirt, two threads, lock held, spin threshold 2: the arrival tries to steal, queues,
/// spins its budget as the head, marks SLOW and sleeps on the lock word, or takes the lock.
#[test]
fn qspinlock_paravirt_head_spins_then_sleeps() {
    paravirt_with_threshold(2, || model_body::<RawQSpinLock>(1, true));
}

/// Paravirt, three threads, lock held, spin threshold 2: a queued non-head waiter halts on its
/// node; the handoff either finds it running or defers its wake to the unlock (`_Q_KICK_VAL` +
/// guard); arrivals may steal.
#[test]
fn qspinlock_paravirt_halt_kick_and_steal() {
    paravirt_with_threshold(2, || model_body::<RawQSpinLock>(2, true));
}

// --- Directed models ------------------------------------------------------------------------
//
// The main thread stages the arrivals with explicit yields (voluntary switches, which the
// preemption bound does not count), so that the deep states of the qspinlock are reached with a
// single preemption left for loom to place anywhere.

/// Spawns a thread that takes the lock once.
fn arrive<R: Raw>(s: &Arc<Shared<R>>) -> thread::JoinHandle<()> {
    let s = s.clone();
    thread::spawn(move || bump(&*s))
}

fn finish<R: Raw>(s: &Shared<R>, handles: Vec<thread::JoinHandle<()>>, expected: u32) {
    for h in handles {
        h.join().unwrap();
    }
    let g = Raw::try_lock(&s.lock).expect("lock free at the end");
    // SAFETY: held.
    assert_eq!(s.count.with(|c| unsafe { *c }), expected);
    // SAFETY: `g` is ours.
    unsafe { Raw::unlock(&s.lock, g) };
}

fn shared<R: Raw>() -> Arc<Shared<R>> {
    Arc::new(Shared {
        lock: R::new(),
        count: UnsafeCell::new(0),
    })
}

/// The pending waiter turns (0,1,0) into (0,0,1) while a new arrival tries the fast path: the
/// handover must be one atomic step, or the word reads 0 in between and both own the lock.
#[test]
fn qspinlock_native_pending_handover_vs_fast_path() {
    builder().check(|| {
        let s = shared::<RawQSpinLockNative>();
        let g = Raw::lock(&s.lock);
        let a = arrive(&s); // takes the pending lane
        thread::yield_now();
        // SAFETY: taken above.
        unsafe { Raw::unlock(&s.lock, g) };
        let b = arrive(&s); // arrives during (or after) the handover
        finish(&s, vec![a, b], 2);
    });
}

/// Runs a paravirt model with the given spin threshold. The threshold is process-wide and loom
/// needs a deterministic model, so paravirt models run one at a time.
fn paravirt_with_threshold(threshold: u32, f: impl Fn() + Send + Sync + 'static) {
    paravirt_with(threshold, builder(), f);
}

fn paravirt_with(threshold: u32, b: loom::model::Builder, f: impl Fn() + Send + Sync + 'static) {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Mutex;
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ksync_spinlock::qspinlock::LOOM_SPIN_THRESHOLD.store(threshold, SeqCst);
    b.check(f);
}

/// Runs a paravirt model with waiters that sleep at once (spin threshold 0), so that every
/// halt, kick and SLOW handshake is reached; sleeping waiters block instead of spinning, which
/// also lets loom explore four threads.
fn paravirt_sleepy(f: impl Fn() + Send + Sync + 'static) {
    paravirt_with_threshold(0, f);
}

/// The queue head marks the lock SLOW and sleeps on the lock word; the owner's unlock must see
/// SLOW and wake it.
#[test]
fn qspinlock_paravirt_sleeping_head() {
    paravirt_sleepy(|| {
        let s = shared::<RawQSpinLock>();
        let g = Raw::lock(&s.lock);
        let a = arrive(&s);
        thread::yield_now();
        // SAFETY: taken above.
        unsafe { Raw::unlock(&s.lock, g) };
        finish(&s, vec![a], 1);
    });
}

/// A sleeping head, a waiter halted behind it, and a late arrival that may steal: the head's
/// handoff to the halted waiter (store-release of `locked`, full barrier, CAS of its state) and
/// the deferred kick (`_Q_KICK_VAL`, woken by the unlock), down a queue of two.
#[test]
fn qspinlock_paravirt_halted_queue_handoff_and_kick() {
    paravirt_sleepy(|| {
        let s = shared::<RawQSpinLock>();
        let g = Raw::lock(&s.lock);
        let a = arrive(&s); // head: sleeps on the lock word
        thread::yield_now();
        let b = arrive(&s); // queued behind: halts on its node
        thread::yield_now();
        // SAFETY: taken above.
        unsafe { Raw::unlock(&s.lock, g) };
        let c = arrive(&s); // may steal, or queue
        finish(&s, vec![a, b, c], 3);
    });
}

/// The deferred kick against a successor that wakes early. The new owner (`a`, the head that
/// took the lock) hands the head on to `b` and CASes `b`'s state HALTED -> HASHED; `b`, between
/// its re-check and its futex wait, finds HASHED, returns, becomes head and marks the lock SLOW
/// before sleeping on the lock word. `a`'s KICK must not erase that SLOW (a CAS, not a store),
/// and `a`'s unlock must decide whom to wake from the byte its release replaced (the head may
/// turn KICK into SLOW at any moment): otherwise `b` sleeps with nobody to wake it, a loom
/// deadlock. It takes two preemptions (`b` before its futex wait, `a` inside the kick), so this
/// model alone runs at bound 2; sleeping waiters keep it small.
#[test]
fn qspinlock_paravirt_kick_vs_early_head() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    paravirt_with(0, b, || {
        let s = shared::<RawQSpinLock>();
        let g = Raw::lock(&s.lock);
        let a = arrive(&s); // head: sleeps on the lock word
        thread::yield_now();
        let b = arrive(&s); // queued behind: halts on its node
        thread::yield_now();
        // SAFETY: taken above.
        unsafe { Raw::unlock(&s.lock, g) };
        finish(&s, vec![a, b], 2);
    });
}
