//! # ksync-mutex: the kernel's owner-word mutex, on futex
//!
//! Mirrors `kernel/locking/mutex.c` (the owner word, the fast paths, `__mutex_lock_common`,
//! `__mutex_unlock_slowpath`, `__mutex_handoff`, optimistic spinning), `include/linux/mutex.h`
//! (the flags), `kernel/locking/mutex-debug.c` (the misuse checks) and, for its role only,
//! `kernel/locking/osq_lock.c`. `docs/mutex.md` in the repository walks through the design and
//! the measurements.
//!
//! The sleeping lock: use it when critical sections can be long, or threads outnumber cores.
//! [`Mutex<T>`] is a [`lock_api::Mutex`] over [`RawMutex`], with `const fn new`, guards,
//! `try_lock`, `try_lock_for` / `try_lock_until`, `unlock_fair`, mapping, and so on.
//!
//! ```
//! # #[cfg(not(loom))] {
//! use ksync_mutex::Mutex;
//! use std::time::Duration;
//!
//! static CONFIG: Mutex<Vec<String>> = Mutex::new(Vec::new());
//! CONFIG.lock().push("threads=8".into());
//! let guard = CONFIG.try_lock_for(Duration::from_millis(10)).expect("nobody else holds it");
//! assert_eq!(guard.len(), 1);
//! ksync_mutex::MutexGuard::unlock_fair(guard); // hand off to a waiter, if any
//! # }
//! ```
//!
//! ## The owner word
//!
//! One `atomic_long_t` holds the owner's descriptor address ([`ksync_percpu::current`], the
//! kernel's `current`) with three flags in its low bits (descriptors are 128-byte aligned):
//!
//! | flag | value | set by | meaning |
//! |---|---|---|---|
//! | [`MUTEX_FLAG_WAITERS`] | 1 | the first thread to queue, under `wait_lock` | unlock must wake the first waiter |
//! | [`MUTEX_FLAG_HANDOFF`] | 2 | the first waiter, after it woke and lost the race once | the next unlock hands the mutex over instead of releasing it |
//! | [`MUTEX_FLAG_PICKUP`] | 4 | the unlocker that hands off | the owner field names the first waiter, which alone may take it |
//!
//! Lock is a CAS `0 -> current`, unlock a CAS `current -> 0`; the unlock CAS fails when any flag
//! is set, and the slow path then does what the flags ask. [`owner`] has the
//! complete table of states and transitions.
//!
//! ## Handoff: why a waiter cannot starve
//!
//! An unlock normally *releases* the mutex and then wakes the first waiter, which must compete
//! for it: a running thread (a new arrival, a spinner) usually gets there first, which is good
//! for throughput and, repeated, would starve the waiter. So the first waiter, when it wakes and
//! finds the mutex taken, sets HANDOFF. The owner's unlock then does not release: it writes
//! `first_waiter | PICKUP` (keeping WAITERS), wakes it, and nobody else can take the mutex until
//! the waiter picks it up by clearing PICKUP. Once a thread is first in line and has lost once,
//! it is the very next owner. A timed waiter that gives up checks for such a handoff (a last
//! trylock under `wait_lock`) before it leaves, so a handoff is never dropped.
//!
//! ## What user space changes
//!
//! * `current` is a thread-local read of the thread's [`Task`](ksync_percpu::Task) (never freed,
//!   so a stale owner pointer always reads valid memory).
//! * `schedule()` / `wake_up_process()` become a futex wait / wake on the thread's own word, with
//!   a token that makes the kernel's "set state, then trylock, then sleep" order safe and lets
//!   wakers skip the system call when the waiter is already awake ([`waiter`]).
//! * `owner_on_cpu()` and `need_resched()` are not observable. A contended lock spins briefly
//!   ([`SPIN_PAUSES`] `pause`s), then yields its CPU between looks ([`YIELD_STEPS`]), then
//!   sleeps; it stops at once if the owner is asleep in a ksync lock.
//!   There is no OSQ: [`spin`] explains why, with the measurements.
//! * A wake of a running task is nearly free in the kernel, not in user space: a
//!   wake-in-flight mark ([`woken`]) lets unlocks skip the wake path while a woken
//!   waiter has yet to look at the mutex.
//! * Timed waits ([`RawMutex::try_lock_for`]) stand in for `mutex_lock_killable`: there are no
//!   fatal signals to wait for in user space, deadlines are the way a waiter gives up.
//! * Not async-signal-safe, like the kernel's mutex in interrupt context: do not lock a ksync
//!   mutex in a signal handler (use [`ksync_spinlock::SpinLockIrq`]-style blocking instead).
//!
//! ## Misuse and debug checks
//!
//! | misuse | reaction |
//! |---|---|
//! | `lock` by the thread that holds the mutex | panic (always: found on the slow path for free) |
//! | raw `unlock` of a mutex the guard's thread does not hold (not locked, or held by another thread) | panic (always: found on the slow path the failing unlock CAS leads to) |
//! | raw `unlock` by a thread other than the one that locked (guard state smuggled across threads) | panic with [`DEBUG`] (debug builds, or the `debug` feature) |
//!
//! The messages name the mutex (its address) and both threads. [`debug`] has the
//! details.
//!
//! ## Size
//!
//! [`RawMutex`] is 24 bytes on 64-bit targets: the owner word (8), `wait_lock` (a 4-byte
//! qspinlock), the wake-in-flight mark (4, where the kernel keeps its OSQ tail) and the pointer
//! to the first waiter (8). The kernel's `struct mutex` is 32 (owner, wait_lock, osq, a
//! two-pointer list head); newest mainline's single `first_waiter` pointer is what ksync uses.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod debug;
pub mod owner;
mod raw;
pub mod spin;
pub mod trace;
pub mod waiter;
pub mod woken;

pub use owner::{
    MutexState, MUTEX_FLAGS, MUTEX_FLAG_HANDOFF, MUTEX_FLAG_PICKUP, MUTEX_FLAG_WAITERS,
};
pub use raw::{RawMutex, RawMutexGuard};
pub use spin::{SPIN_PAUSES, YIELD_STEPS};

/// Whether the debug checks that cost something on the fast path are on (`CONFIG_DEBUG_MUTEXES`):
/// in debug builds (`debug_assertions`) and with the `debug` feature.
pub const DEBUG: bool = cfg!(any(debug_assertions, feature = "debug"));

/// A mutual-exclusion lock around a `T`: the kernel's mutex ([`RawMutex`]) under `lock_api`.
#[cfg(not(loom))]
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
/// The guard of a [`Mutex`] (`!Send`: only the owner may unlock).
#[cfg(not(loom))]
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
/// A [`MutexGuard`] mapped to a part of the protected data.
#[cfg(not(loom))]
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

/// `atomic_dec_and_mutex_lock(cnt, lock)`: decrements `cnt`, and if that takes it to zero,
/// returns with the mutex held.
///
/// The decrement is done without the mutex while the count stays above zero (a lock-free
/// `add_unless(-1, 1)`); only the final decrement takes the mutex, so that whoever drops the last
/// reference can remove the object from a structure the mutex protects before anyone can look it
/// up again. Generic over any `lock_api` 0.5 mutex.
///
/// ```
/// # #[cfg(not(loom))] {
/// use ksync_atomic::Atomic;
/// use ksync_mutex::{atomic_dec_and_mutex_lock, Mutex};
///
/// let refs = Atomic::new(2);
/// let table = Mutex::new(vec!["entry"]);
/// assert!(atomic_dec_and_mutex_lock(&refs, &table).is_none()); // 2 -> 1: no lock taken
/// let mut t = atomic_dec_and_mutex_lock(&refs, &table).expect("1 -> 0 returns the lock held");
/// t.clear(); // unpublish the object while no one can find it
/// assert_eq!(refs.read(), 0);
/// # }
/// ```
pub fn atomic_dec_and_mutex_lock<'a, R: lock_api::RawMutex, T: ?Sized>(
    cnt: &ksync_atomic::Atomic,
    lock: &'a lock_api::Mutex<R, T>,
) -> Option<lock_api::MutexGuard<'a, R, T>> {
    // Fully ordered when it succeeds (the count stays above zero); fails only at 1.
    if cnt.add_unless(-1, 1) {
        return None;
    }
    let guard = lock.lock();
    // Fully ordered: the final decrement is ordered after everything the other holders did
    // before their decrements (their fully ordered `add_unless`).
    if !cnt.dec_and_test() {
        return None;
    }
    Some(guard)
}
