//! Signals as IRQs: a handler that takes a qspinlock while its thread is queued on another uses
//! the next nesting level (tail index 1), and `SpinLockIrq` keeps a handler from deadlocking on a
//! lock its own thread holds.
#![cfg(all(unix, not(loom)))]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use ksync_spinlock::{RawQSpinLock, SpinLock, SpinLockIrq};

fn install(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed `sigaction` is valid; we set the handler and an empty mask. The handlers
    // below only use atomics and ksync locks (no allocation, no std locks).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    // Spin-waits on observable state; never a sleep.
    while !cond() {
        std::thread::yield_now();
    }
}

// --- Nesting ------------------------------------------------------------------------------

static A: RawQSpinLock = RawQSpinLock::new();
static B: RawQSpinLock = RawQSpinLock::new();
static HANDLER_HELD_B: AtomicBool = AtomicBool::new(false);
static HANDLER_DEPTH_WHILE_HOLDING: AtomicUsize = AtomicUsize::new(usize::MAX);
static T_SLOT: AtomicUsize = AtomicUsize::new(usize::MAX);
static T_DONE: AtomicBool = AtomicBool::new(false);

extern "C" fn take_b(_: libc::c_int) {
    // The interrupted thread is queued on A (nesting level 0); this acquisition queues on B at
    // level 1.
    let g = B.lock();
    // Still inside A's slow path (level 0 in use), B's finished: depth 1.
    HANDLER_DEPTH_WHILE_HOLDING.store(ksync_spinlock::qspinlock::nesting_depth(), SeqCst);
    HANDLER_HELD_B.store(true, SeqCst);
    // SAFETY: taken just above by this handler.
    unsafe { B.unlock(g) };
}

#[test]
fn handler_queues_on_a_second_lock_at_nesting_level_one() {
    install(libc::SIGUSR1, take_b);
    let ga = A.lock();
    let gb = B.lock();

    let t = std::thread::spawn(|| {
        // Set up this thread's slot and descriptor before any signal can arrive.
        T_SLOT.store(ksync_percpu::this_slot().unwrap(), SeqCst);
        let _ = ksync_percpu::current();
        let g = A.lock();
        // SAFETY: taken just above.
        unsafe { A.unlock(g) };
        T_DONE.store(true, SeqCst);
    });
    // SAFETY: `pthread_t` of a live thread (joined below).
    let pt = {
        use std::os::unix::thread::JoinHandleExt;
        t.as_pthread_t()
    };

    // T is queued on A: A's tail names T's slot at level 0.
    wait_until(|| T_SLOT.load(SeqCst) != usize::MAX);
    let slot = T_SLOT.load(SeqCst);
    wait_until(|| A.state().tail_slot == Some(slot));
    assert_eq!(A.state().tail_idx, 0);

    // Interrupt T: its handler queues on B, which we hold, with T's next node.
    // SAFETY: `pt` is T's live pthread handle.
    assert_eq!(unsafe { libc::pthread_kill(pt, libc::SIGUSR1) }, 0);
    wait_until(|| B.state().tail_slot == Some(slot));
    assert_eq!(
        B.state().tail_idx,
        1,
        "the handler must use nesting level 1"
    );
    assert!(!HANDLER_HELD_B.load(SeqCst));

    // Let the handler through, then T.
    // SAFETY: held by this thread since the start of the test.
    unsafe { B.unlock(gb) };
    wait_until(|| HANDLER_HELD_B.load(SeqCst));
    assert_eq!(HANDLER_DEPTH_WHILE_HOLDING.load(SeqCst), 1);
    assert!(!T_DONE.load(SeqCst), "T is still waiting for A");
    // SAFETY: held by this thread.
    unsafe { A.unlock(ga) };
    t.join().unwrap();
    assert!(T_DONE.load(SeqCst));
    assert!(!A.is_locked() && !B.is_locked());
}

// --- irqsave --------------------------------------------------------------------------------

static IRQ_LOCK: SpinLockIrq<u64> = SpinLockIrq::new(0);
static IRQ_HANDLER_RAN: AtomicBool = AtomicBool::new(false);

extern "C" fn take_irq_lock(_: libc::c_int) {
    // With the lock held by the interrupted code this would spin forever; SpinLockIrq makes
    // sure this handler only runs once the lock is free.
    *IRQ_LOCK.lock() += 1;
    IRQ_HANDLER_RAN.store(true, SeqCst);
}

#[test]
fn spin_lock_irqsave_defers_the_handler_until_unlock() {
    install(libc::SIGUSR2, take_irq_lock);
    let mut g = IRQ_LOCK.lock();
    *g += 10;
    // Raise the signal at this thread while holding the lock: it stays pending.
    // SAFETY: signalling the calling thread.
    let rc = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
    assert_eq!(rc, 0);
    assert!(
        !IRQ_HANDLER_RAN.load(SeqCst),
        "the handler ran while the irqsave lock was held"
    );
    // Unlock restores the mask; the pending signal is delivered before that call returns.
    drop(g);
    assert!(
        IRQ_HANDLER_RAN.load(SeqCst),
        "the deferred signal was not delivered"
    );
    assert_eq!(*IRQ_LOCK.lock(), 11);
}

// --- what irqsave prevents ----------------------------------------------------------------

static PLAIN_LOCK: SpinLock<u64> = SpinLock::new(0);
/// 0: not run; 1: try_lock failed (the lock was held by the interrupted code); 2: succeeded.
static PLAIN_HANDLER: AtomicU64 = AtomicU64::new(0);

extern "C" fn try_plain_lock(_: libc::c_int) {
    let r = if PLAIN_LOCK.try_lock().is_some() {
        2
    } else {
        1
    };
    PLAIN_HANDLER.store(r, SeqCst);
}

#[test]
fn without_irqsave_the_handler_finds_its_own_lock_held() {
    let sig = libc::SIGRTMIN() + 1;
    install(sig, try_plain_lock);
    let g = PLAIN_LOCK.lock();
    // SAFETY: signalling the calling thread; the handler runs before pthread_kill returns.
    assert_eq!(unsafe { libc::pthread_kill(libc::pthread_self(), sig) }, 0);
    // The handler ran at once, inside our critical section: `lock()` there would have spun
    // forever on a lock this very thread holds. (It used try_lock, so the test can tell.)
    assert_eq!(PLAIN_HANDLER.load(SeqCst), 1);
    drop(g);
}
