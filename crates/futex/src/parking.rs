//! Other OSes: `parking_lot_core`'s global parking lot, keyed by the word's address.
//!
//! `park` locks the hash bucket of the key, runs `validate` (the value check) under that lock,
//! queues the thread and only then unlocks and sleeps; `unpark_*` takes the same bucket lock to
//! find sleepers. A waker that changed the word before taking the bucket lock is therefore seen
//! by any later `validate`, and a waiter that validated earlier is already queued when the
//! waker looks: the futex contract, with the bucket lock in the role of the kernel's
//! hash-bucket lock.
//!
//! This file is also compiled into `tests/parking.rs` on Linux (through `#[path]`), so the
//! fallback is tested where CI runs; it names the crate root as `super`.

use std::time::{Duration, Instant};

use parking_lot_core::{ParkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

use super::{FutexWord, WaitResult};

#[allow(dead_code)] // read through `BACKEND` in the library, not by the test that includes us
pub(crate) const NAME: &str = "parking_lot_core";

fn key<W: FutexWord + ?Sized>(word: &W) -> usize {
    word.futex_addr()
}

pub(crate) fn wait<W: FutexWord + ?Sized>(
    word: &W,
    expected: u32,
    timeout: Option<Duration>,
) -> WaitResult {
    // A timeout too large for `Instant` waits forever, as on Linux.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // Relaxed: the value check needs no ordering of its own; the bucket lock that `park` holds
    // around it orders it against a waker's change (see the module docs).
    let validate = || word.futex_load() == expected;
    // SAFETY: the key is the address of a word the caller lends us for the call: no other
    // primitive parks on it unless the caller makes it do so. `validate` and `timed_out` do not
    // unwind and do not call into parking_lot; `before_sleep` does nothing.
    let r = unsafe {
        parking_lot_core::park(
            key(word),
            validate,
            || {},
            |_, _| {},
            DEFAULT_PARK_TOKEN,
            deadline,
        )
    };
    match r {
        ParkResult::Unparked(_) => WaitResult::Woken,
        ParkResult::Invalid => WaitResult::Mismatch,
        ParkResult::TimedOut => WaitResult::TimedOut,
    }
}

pub(crate) fn wake<W: FutexWord + ?Sized>(word: &W, count: usize) -> usize {
    if count == 1 {
        // SAFETY: as in `wait`; the callback neither unwinds nor calls into parking_lot.
        let r = unsafe { parking_lot_core::unpark_one(key(word), |_| DEFAULT_UNPARK_TOKEN) };
        r.unparked_threads
    } else {
        // SAFETY: as in `wait`.
        unsafe { parking_lot_core::unpark_all(key(word), DEFAULT_UNPARK_TOKEN) }
    }
}
