//! The poison flag: std's design (`library/std/src/sync/poison.rs`), one byte next to the lock.
//!
//! A guard remembers whether its thread was already panicking when it took the lock. When the
//! guard is dropped, the flag is set if the thread is panicking *now* but was not then: the
//! critical section was cut short by a panic, so the data may be half-updated. A guard taken
//! during unwinding (a `Drop` impl that locks) never poisons: that panic did not interrupt it.
//! With `panic = "abort"` no guard can observe a panic, and the checks compile away.

use ksync_barrier::sync::atomic::{AtomicBool, Ordering};

/// Set when a critical section ended in a panic; cleared only by `clear_poison`.
///
/// Every access is `Relaxed`, as in std: the flag is written by the holder before the unlock's
/// release and read by the next holder after the lock's acquire, so the lock itself orders it.
/// The reads outside the lock (`is_poisoned`, `Debug`) are snapshots and documented as such.
pub(super) struct Flag {
    failed: AtomicBool,
}

impl Flag {
    /// An unpoisoned flag.
    #[cfg(not(loom))]
    #[inline]
    pub(super) const fn new() -> Self {
        Flag {
            failed: AtomicBool::new(false),
        }
    }

    /// An unpoisoned flag (loom build: not `const`).
    #[cfg(loom)]
    pub(super) fn new() -> Self {
        Flag {
            failed: AtomicBool::new(false),
        }
    }

    /// Whether a critical section has ended in a panic.
    #[inline]
    pub(super) fn get(&self) -> bool {
        // Relaxed: see the type docs (ordered by the lock, or a documented snapshot).
        self.failed.load(Ordering::Relaxed)
    }

    /// Forgets earlier panics.
    #[inline]
    pub(super) fn clear(&self) {
        // Relaxed: as std; a caller that needs the clear ordered against a holder takes the lock.
        self.failed.store(false, Ordering::Relaxed)
    }

    /// A guard's release: poisons if the thread began panicking while it held the lock. Called
    /// with the lock still held.
    #[inline]
    pub(super) fn done(&self, at_acquire: Panicking) {
        if !at_acquire.0 && thread_panicking() {
            // Relaxed: the unlock that follows is the release that publishes it.
            self.failed.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether the thread was already panicking when it took the lock (std's `poison::Guard`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Panicking(bool);

impl Panicking {
    /// The state of the current thread, recorded at acquisition.
    #[inline]
    pub(super) fn now() -> Self {
        Panicking(thread_panicking())
    }
}

/// `std::thread::panicking()`, or a constant `false` when panics abort. This is std's own
/// function under loom too: unwinding is a property of the OS thread, which loom does not model.
#[inline]
fn thread_panicking() -> bool {
    cfg!(panic = "unwind") && std::thread::panicking()
}
