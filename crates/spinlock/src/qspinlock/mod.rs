//! The kernel's queued spinlock: 4 bytes, one CAS uncontended, a pending lane for the first
//! waiter, and an MCS queue of per-thread nodes behind it.
//!
//! Mirrors `kernel/locking/qspinlock.c`, `include/asm-generic/qspinlock.h`,
//! `include/asm-generic/qspinlock_types.h`, `kernel/locking/mcs_spinlock.h` and
//! `kernel/locking/qspinlock_paravirt.h`. `docs/spinlock.md` walks through the algorithm.
//!
//! Two locks share the word, the queue and the slow path:
//!
//! * [`RawQSpinLockNative`]: the kernel's lock as it runs on bare metal. Waiters spin. Fastest
//!   while every thread has a core; with more threads than cores it collapses, because a waiter
//!   (or the owner) preempted by the OS stalls everybody queued behind it.
//! * [`RawQSpinLock`]: the same lock with the paravirt slow path mapped onto futex: waiters spin a
//!   bounded budget, then sleep; arrivals may steal the lock while the queue head sleeps. This is
//!   the lock to use in user space ([`SpinLock<T>`](crate::SpinLock)).
//!
//! ```text
//!                 fast path CAS
//!    (0,0,0) --------------------------> (0,0,1)                  uncontended
//!    (0,0,1) --fetch_set_pending-------> (0,1,1)                  one waiter: the pending lane
//!    (0,1,1) --owner unlocks-----------> (0,1,0)
//!    (0,1,0) --clear_pending_set_locked> (0,0,1)                  the pender owns it
//!    (n,x,y) --owner and pender leave--> (n,0,0)                  queue head waits
//!    (n,0,0) --head is last: CAS-------> (0,0,1)
//!    (*,0,0) --head has a successor----> (*,0,1), next->locked = 1
//!    (*,*,1) --unlock------------------> (*,*,0)
//! ```

mod mcs;
mod paravirt;
mod slowpath;
mod word;

pub use mcs::nesting_depth;
#[cfg(loom)]
#[doc(hidden)]
pub use paravirt::LOOM_SPIN_THRESHOLD;
pub use paravirt::SPIN_THRESHOLD;
pub use word::{
    decode_tail, encode_tail, LockState, _Q_KICK_VAL, _Q_LOCKED_BITS, _Q_LOCKED_MASK,
    _Q_LOCKED_OFFSET, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL, _Q_MAX_NODES, _Q_PENDING_BITS,
    _Q_PENDING_LOOPS, _Q_PENDING_MASK, _Q_PENDING_OFFSET, _Q_PENDING_VAL, _Q_SLOW_VAL,
    _Q_TAIL_CPU_BITS, _Q_TAIL_CPU_MASK, _Q_TAIL_CPU_OFFSET, _Q_TAIL_IDX_BITS, _Q_TAIL_IDX_MASK,
    _Q_TAIL_IDX_OFFSET, _Q_TAIL_MASK, _Q_TAIL_OFFSET,
};

use crate::trace::{trace_step, Step};
use mcs::QNode;
use slowpath::{queued_spin_lock_slowpath, Native};
use word::QSpinWord;

/// The kernel's native queued spinlock: waiters spin, in FIFO order behind one pending waiter.
///
/// 4 bytes. Lock: one acquire CAS 0 -> 1, else the slow path. Unlock: a store-release of 0 into
/// the `locked` byte (x86-64: one byte `mov`). Use it only where every thread has a CPU to itself
/// (pinned workers, no oversubscription): a preempted owner or waiter stalls the whole queue.
/// For everything else, use [`RawQSpinLock`].
///
/// ```
/// use ksync_spinlock::QSpinLockNative;
/// static COUNTER: QSpinLockNative<u64> = QSpinLockNative::new(0);
/// *COUNTER.lock() += 1;
/// assert_eq!(*COUNTER.lock(), 1);
/// ```
#[repr(transparent)]
pub struct RawQSpinLockNative {
    word: QSpinWord,
}

// 4 bytes, like the kernel's `arch_spinlock_t` (loom's atomics are larger).
#[cfg(not(loom))]
static_assertions::assert_eq_size!(RawQSpinLockNative, u32);

impl RawQSpinLockNative {
    /// An unlocked lock (`__ARCH_SPIN_LOCK_UNLOCKED`, all zero).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawQSpinLockNative {
            word: QSpinWord::new(),
        }
    }

    /// An unlocked lock (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawQSpinLockNative {
            word: QSpinWord::new(),
        }
    }

    /// `queued_spin_lock`: one acquire CAS, else the slow path.
    #[inline]
    pub fn lock(&self) {
        // Acquire on success: the critical section starts here.
        match self.word.fast_lock() {
            Ok(()) => trace_step!(&self.word, Step::Fast, _Q_LOCKED_VAL),
            Err(val) => {
                queued_spin_lock_slowpath::<Native>(&self.word, val);
            }
        }
    }

    /// `queued_spin_trylock`: succeeds only if the word is all zero.
    #[inline]
    pub fn try_lock(&self) -> bool {
        // Acquire on success: the critical section starts here.
        self.word.trylock()
    }

    /// `queued_spin_unlock`: store-release 0 into the `locked` byte.
    ///
    /// # Safety
    ///
    /// The lock must be held by the caller's context (there is no owner check: like the kernel's
    /// native unlock, an unlock of a lock that is not held is not detected).
    #[inline]
    pub unsafe fn unlock(&self) {
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(&self.word, Step::Unlock, self.word.read() & !_Q_LOCKED_MASK);
        // Release: the critical section is ordered before the lock becomes free.
        self.word.unlock_native();
    }

    /// `queued_spin_is_locked`: any non-zero word (a pending waiter or a queue also counts, as
    /// in current kernels: the slow path can own the lock before its `locked` store is visible).
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Unordered: a racy snapshot (`atomic_read`); it may be stale at once.
        self.word.read() != 0
    }

    /// `queued_spin_is_contended`: a pending waiter or a queue exists.
    #[inline]
    pub fn is_contended(&self) -> bool {
        // Unordered: a racy snapshot (`atomic_read`); it may be stale at once.
        self.word.read() & !_Q_LOCKED_MASK != 0
    }

    /// The lock word, decoded (a racy snapshot, for tests and tracing).
    pub fn state(&self) -> LockState {
        // Unordered: a racy snapshot (`atomic_read`); it may be stale at once.
        LockState::from_word(self.word.read())
    }
}

#[cfg(not(loom))]
impl Default for RawQSpinLockNative {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
// SAFETY: the lock provides mutual exclusion (the qspinlock algorithm), acquire on every
// successful lock path (fast CAS, pending acquire load, head acquire load, trylock CAS) and
// release on unlock (store-release of the locked byte).
unsafe impl lock_api::RawMutex for RawQSpinLockNative {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();
    type Guard = lock_api::GuardSend;

    #[inline]
    fn lock(&self) -> Self::Guard {
        RawQSpinLockNative::lock(self);
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock(&self) -> Option<Self::Guard> {
        RawQSpinLockNative::try_lock(self).then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock(&self, _guard: Self::Guard) {
        // SAFETY: the caller passes the guard of its acquisition: the lock is held.
        unsafe { RawQSpinLockNative::unlock(self) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawQSpinLockNative::is_locked(self)
    }
}

/// The queued spinlock with the paravirt slow path on futex: spin briefly, then sleep. The lock
/// to use in user space.
///
/// 4 bytes, same word and queue as [`RawQSpinLockNative`]. Lock: one acquire CAS, else the queue
/// (no pending lane in paravirt); a queued waiter spins [`SPIN_THRESHOLD`] iterations on its own
/// node, then sleeps on it; the queue head spins with `pending` set, then marks the lock
/// `_Q_SLOW_VAL` and sleeps on the lock word; arrivals steal the lock while the head sleeps.
/// Unlock: a release `cmpxchg` of the `locked` byte 1 -> 0 (x86-64: `lock cmpxchg`, the kernel's
/// paravirt unlock), or, when a sleeper marked it SLOW, a release store and a futex wake.
///
/// Why the unlock is an RMW and not the native plain store: a lock whose waiters sleep must learn
/// atomically, at release, whether anyone sleeps. With a plain store, a waiter could mark SLOW
/// and go to sleep between the unlocker's check and its store, and never be woken. std's and
/// parking_lot's mutexes pay the same single RMW on unlock.
///
/// Misuse: unlocking a lock that is not held through the raw API panics with the lock word.
///
/// ```
/// use ksync_spinlock::SpinLock;
/// use std::sync::Arc;
///
/// let lock = Arc::new(SpinLock::new(0u64));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let lock = lock.clone();
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 *lock.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*lock.lock(), 4000);
/// ```
#[repr(transparent)]
pub struct RawQSpinLock {
    word: QSpinWord,
}

// 4 bytes, like the kernel's `arch_spinlock_t` (loom's atomics are larger).
#[cfg(not(loom))]
static_assertions::assert_eq_size!(RawQSpinLock, u32);

/// What a paravirt acquisition owes its unlock: the queue node whose wake it deferred, if any
/// (the kernel keeps it in its paravirt hash table; ksync keeps it in the guard).
#[derive(Default)]
#[must_use = "dropping the guard state without unlocking keeps the lock held"]
pub struct QSpinGuard {
    kick: Option<&'static QNode>,
}

impl core::fmt::Debug for QSpinGuard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QSpinGuard")
            .field("deferred_wake", &self.kick.map(|n| n as *const QNode))
            .finish()
    }
}

impl RawQSpinLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawQSpinLock {
            word: QSpinWord::new(),
        }
    }

    /// An unlocked lock (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawQSpinLock {
            word: QSpinWord::new(),
        }
    }

    /// Acquires the lock: one acquire CAS, else the paravirt slow path (which may sleep).
    /// Returns the state the unlock needs.
    #[inline]
    pub fn lock(&self) -> QSpinGuard {
        // Acquire on success: the critical section starts here.
        match self.word.fast_lock() {
            Ok(()) => {
                trace_step!(&self.word, Step::Fast, _Q_LOCKED_VAL);
                QSpinGuard::default()
            }
            Err(val) => QSpinGuard {
                kick: queued_spin_lock_slowpath::<paravirt::Paravirt>(&self.word, val),
            },
        }
    }

    /// Tries once: succeeds only if the word is all zero.
    #[inline]
    pub fn try_lock(&self) -> Option<QSpinGuard> {
        // Acquire on success: the critical section starts here.
        self.word.trylock().then(QSpinGuard::default)
    }

    /// Releases the lock: a release `cmpxchg` of the `locked` byte, and the futex wake a sleeper
    /// is owed if the byte was `_Q_SLOW_VAL`.
    ///
    /// # Safety
    ///
    /// `guard` must be the state returned by this lock's acquisition that the caller holds.
    #[inline]
    pub unsafe fn unlock(&self, guard: QSpinGuard) {
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(&self.word, Step::Unlock, self.word.read() & !_Q_LOCKED_MASK);
        let kick = guard.kick;
        // Release on success; it fails on a SLOW mark, and the slow unlock releases instead.
        if kick.is_none() && self.word.try_unlock_pv() {
            return;
        }
        paravirt::unlock_slowpath(&self.word, kick);
    }

    /// Any non-zero word: held, or a pending bit or a queue exists.
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Unordered: a racy snapshot (`atomic_read`); it may be stale at once.
        self.word.read() != 0
    }

    /// A queue exists (or the head announced itself with `pending`).
    #[inline]
    pub fn is_contended(&self) -> bool {
        // Unordered: a racy snapshot (`atomic_read`); it may be stale at once.
        self.word.read() & !_Q_LOCKED_MASK != 0
    }

    /// The lock word, decoded (a racy snapshot, for tests and tracing).
    pub fn state(&self) -> LockState {
        // Unordered: a racy snapshot (`atomic_read`); it may be stale at once.
        LockState::from_word(self.word.read())
    }
}

#[cfg(not(loom))]
impl Default for RawQSpinLock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
// SAFETY: mutual exclusion by the qspinlock algorithm; acquire on every successful lock path
// (fast CAS, steal CAS, head trylock CAS or fully ordered xchg, trylock CAS) and release on every
// unlock path (release cmpxchg, or release store in the slow unlock).
unsafe impl lock_api::RawMutex for RawQSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();
    type Guard = QSpinGuard;

    #[inline]
    fn lock(&self) -> QSpinGuard {
        RawQSpinLock::lock(self)
    }

    #[inline]
    fn try_lock(&self) -> Option<QSpinGuard> {
        RawQSpinLock::try_lock(self)
    }

    #[inline]
    unsafe fn unlock(&self, guard: QSpinGuard) {
        // SAFETY: forwarded contract: `guard` is the caller's acquisition of this lock.
        unsafe { RawQSpinLock::unlock(self, guard) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawQSpinLock::is_locked(self)
    }
}
