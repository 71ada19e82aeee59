//! The wake-in-flight mark: the mutex's second word, which lets unlocks skip a wake that is
//! already under way.
//!
//! Not in the kernel: this is what user space adds around its unlock path. The kernel's unlock
//! wakes the first waiter on *every* release while WAITERS is set, and WAITERS stays set as long
//! as anyone is queued. In the kernel a wake of a task that is already running costs a few loads.
//! In user space it costs the unlocker `wait_lock` (two RMWs) and a CAS on the waiter's futex
//! word, a cache line another core owns, on every unlock until the woken thread runs, which
//! under oversubscription is many unlocks (the woken thread waits for a CPU).
//!
//! | value | set by | cleared by | meaning |
//! |---|---|---|---|
//! | [`WOKEN`] | an unlocker that picked the first waiter to wake, under `wait_lock` | a waiter in each of its `wait_lock` sections, before its trylock; a waiter leaving the list | a woken waiter has yet to re-check the mutex: the next unlocks need not wake anyone |
//! | 0 | | | wake the first waiter after a release, as the kernel does |
//!
//! Skipping is safe by a store-buffering handshake (pitfall 10), with a full barrier on each side:
//!
//! | unlocker | waiter (holding `wait_lock`) |
//! |---|---|
//! | release the owner word (CAS) | clear the mark (RMW) |
//! | `smp_mb__after_atomic()` | `smp_mb__after_atomic()` |
//! | read the mark: set? skip the wake | trylock (reads the owner word) |
//!
//! At least one side sees the other's write. If the unlocker saw the mark still set, the waiter
//! that clears it sees the release in its trylock, and takes the mutex or finds a later owner,
//! whose own unlock runs this handshake again. If the unlocker saw it clear, it wakes the first
//! waiter, as the kernel does. A woken waiter always reaches such a section: its loop goes
//! through `wait_lock` before it can sleep again, and through it to leave the list. Clearing is
//! always safe (at worst an extra wake); only "set" is a promise, and whoever clears a set mark
//! keeps it.

use ksync_atomic::Atomic;
use ksync_barrier::smp_mb__after_atomic;

/// The mark's value: a waiter was woken and has not re-checked the mutex under `wait_lock` yet.
pub const WOKEN: i32 = 1;

/// The wake-in-flight mark of one mutex.
pub(crate) struct WakeMark {
    word: Atomic,
}

impl WakeMark {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        WakeMark {
            word: Atomic::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        WakeMark {
            word: Atomic::new(0),
        }
    }

    /// A racy snapshot.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        // Relaxed: a snapshot for diagnostics.
        self.word.read() == WOKEN
    }

    /// The unlocker picked the first waiter to wake. Call with `wait_lock` held.
    #[inline]
    pub(crate) fn set(&self) {
        // Unordered: the waiter that clears it does so under `wait_lock`, after this section; a
        // skipping unlocker reads it after a full barrier (see the module docs).
        self.word.set(WOKEN);
    }

    /// A waiter is about to re-check the mutex under `wait_lock` (or leaves the list): clear the
    /// mark, then a full barrier before the caller's trylock reads the owner word (the waiter's
    /// half of the handshake).
    #[inline]
    pub(crate) fn clear(&self) {
        // Read first: no write to the shared line when there is nothing to clear (nothing is
        // owed then: a skipping unlocker relies on whoever clears the mark it saw).
        if self.word.read() == WOKEN {
            // An RMW (x86-64: `xchg`, itself a full barrier), then the full barrier.
            self.word.xchg_relaxed(0);
            smp_mb__after_atomic();
        }
    }

    /// After a release that saw WAITERS: is a woken waiter still to re-check the mutex? (The
    /// unlocker's half of the handshake; the caller's release CAS precedes this.)
    #[inline]
    pub(crate) fn pending(&self) -> bool {
        // Full barrier between the release CAS (a locked RMW on x86-64) and this read.
        smp_mb__after_atomic();
        // Relaxed: ordered by the barrier; see the module docs.
        self.word.read() == WOKEN
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use ksync_barrier::sync::{thread, Arc};

    /// The handshake of the module docs as a store-buffering model, alone: an unlocker that
    /// skips its wake (it saw the mark still set) must be matched by a waiter that, clearing
    /// the mark, sees the release in its trylock. (The mutex models reach this code too, but
    /// not with the two sides racing on their own; without either barrier this one fails.)
    #[test]
    fn a_skipped_wake_is_seen_by_the_clearing_waiter() {
        loom::model(|| {
            // (owner word: held, the mark).
            let s = Arc::new((Atomic::new(1), WakeMark::new()));
            s.1.set();
            let s2 = s.clone();
            let unlocker = thread::spawn(move || {
                let mut held = 1;
                // The mutex's release CAS of the owner word.
                assert!(s2.0.try_cmpxchg_release(&mut held, 0));
                s2.1.pending()
            });
            s.1.clear();
            // The waiter's trylock reading the owner word. Relaxed: `clear`'s barrier orders it.
            let still_held = s.0.read() != 0;
            let skipped = unlocker.join().unwrap();
            assert!(
                !(skipped && still_held),
                "the unlocker skipped its wake and the waiter missed the release"
            );
        });
    }
}
