//! The misuse checks: `CONFIG_DEBUG_MUTEXES` (`kernel/locking/mutex-debug.c`), as panics with
//! messages that name the mutex and the threads involved.
//!
//! | misuse | kernel (`CONFIG_DEBUG_MUTEXES`) | ksync |
//! |---|---|---|
//! | unlock of a mutex that is not locked | `DEBUG_LOCKS_WARN_ON(owner != current)` | panic, always (found on the unlock slow path, which the fast path's failed CAS leads to) |
//! | unlock of a mutex held by another thread | the same warning | panic, always (likewise) |
//! | unlock by another thread of the owner's acquisition (the guard was smuggled across threads) | the same warning | panic with [`DEBUG`](crate::DEBUG) (one thread-local read per unlock) |
//! | recursive lock by the owner | lockdep's "possible recursive locking" (then a deadlock) | panic, always (found on the lock slow path, where the owner word already names the caller) |
//! | a corrupted owner word (unowned with HANDOFF or PICKUP, a handoff by a non-owner) | `DEBUG_LOCKS_WARN_ON` | the message, then `abort`: a waiter's stack node may be linked, so unwinding is not safe |
//!
//! With the type system in the way (a `MutexGuard` is `!Send`, its state is not `Clone`), the
//! unlock misuses take the raw API: `RawMutex::unlock` with the state of another mutex's
//! acquisition, or a state sent to another thread behind an `unsafe impl Send`.

use ksync_percpu::{current, Task};

use crate::owner::{owner_task, MutexState};
use crate::RawMutex;

/// A lock by the thread that holds the mutex.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn recursive_lock(m: &RawMutex, me: &Task) -> ! {
    panic!(
        "ksync mutex {m:p}: recursive lock by {me}, which already holds it (this would deadlock; \
         if the thread that took it has exited, its descriptor was recycled to this one)"
    )
}

/// An unlock whose guard state names a thread other than the caller.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn foreign_unlock(m: &RawMutex, owner: &Task) -> ! {
    panic!(
        "ksync mutex {m:p}: unlock by {} of an acquisition made by {owner}: only the owner may \
         unlock",
        current()
    )
}

/// An unlock of a mutex that the guard's thread does not hold.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn bad_unlock(m: &RawMutex, guard_owner: &Task, word: isize) -> ! {
    let me = current();
    let by = if core::ptr::eq(me, guard_owner) {
        format!("{me}")
    } else {
        format!("{me} (with the guard state of {guard_owner})")
    };
    match owner_task(word) {
        None => panic!(
            "ksync mutex {m:p}: unlock by {by} of a mutex that is not locked (owner word {})",
            MutexState::from_word(word)
        ),
        Some(holder) => panic!(
            "ksync mutex {m:p}: unlock by {by} of a mutex held by {holder}: only the owner may \
             unlock (owner word {})",
            MutexState::from_word(word)
        ),
    }
}

/// The owner word breaks an invariant the algorithm relies on: say so, and stop the process.
#[cold]
#[inline(never)]
pub(crate) fn corrupt(what: &str, word: isize) -> ! {
    // Only the raw value: a corrupted owner field must not be dereferenced.
    eprintln!("ksync mutex: corrupted owner word ({what}): {word:#x}; aborting");
    std::process::abort()
}
