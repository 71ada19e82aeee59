//! [`Kref`]: the kernel's `struct kref`, a reference count embedded in an object, with the
//! release callback run by whoever drops the last reference.
//!
//! Mirrors `include/linux/kref.h`. A `Kref` is a [`Refcount`] that starts at 1 and whose
//! `put` runs a release function at zero; everything else (saturation, ordering, events) is the
//! `Refcount`'s.
//!
//! In Rust the owning smart pointer [`Arc`](crate::Arc) is usually what you want. `Kref` is for
//! the cases `Arc` does not cover: an object that lives in memory managed elsewhere (an arena,
//! a slab, a C structure), a count that is one of several fields, or a release step that must
//! run under a lock ([`Kref::put_lock`]).

use core::fmt;

use lock_api::{Mutex, MutexGuard, RawMutex};

use crate::Refcount;

/// The kernel's `struct kref`: an embedded reference count (4 bytes) whose last `put` runs a
/// release function.
///
/// ```
/// use ksync_refcount::Kref;
///
/// let kref = Kref::new(); // kref_init: one reference, the creator's
/// kref.get(); // a second user
/// assert!(!kref.put(|_| unreachable!("still referenced")));
/// let mut released = false;
/// assert!(kref.put(|_| released = true)); // the last put releases
/// assert!(released);
/// assert!(!kref.get_unless_zero()); // too late for lookups
/// ```
#[repr(transparent)]
pub struct Kref {
    refcount: Refcount,
}

impl Kref {
    /// A kref holding one reference, the creator's: `KREF_INIT(1)`, the kernel's `kref_init()`.
    #[cfg(not(loom))]
    #[inline]
    pub const fn new() -> Self {
        Self {
            refcount: Refcount::new(1),
        }
    }

    /// A kref holding one reference. Not `const` under loom.
    #[cfg(loom)]
    #[inline]
    pub fn new() -> Self {
        Self {
            refcount: Refcount::new(1),
        }
    }

    /// Resets the count to 1 (reinitialising an object for reuse): the kernel's `kref_init()`
    /// on an existing kref.
    ///
    /// **Ordering:** unordered.
    #[inline]
    pub fn init(&self) {
        // Relaxed: refcount_set is atomic_set, unordered.
        self.refcount.set(1)
    }

    /// The underlying counter.
    #[inline]
    pub fn refcount(&self) -> &Refcount {
        &self.refcount
    }

    /// The current count (unsigned; `0xc000_0000` when saturated). The kernel's `kref_read()`.
    ///
    /// **Ordering:** unordered.
    #[inline]
    pub fn read(&self) -> u32 {
        // Relaxed: refcount_read is atomic_read, unordered.
        self.refcount.read()
    }

    /// Takes a reference; the caller must already hold one. The kernel's `kref_get()`
    /// ([`Refcount::inc`]: from 0 it saturates and reports
    /// [`Saturation::AddUaf`](crate::Saturation::AddUaf)).
    ///
    /// **Ordering:** unordered.
    #[inline]
    #[track_caller]
    pub fn get(&self) {
        // Relaxed (refcount_inc): the caller's reference already orders its accesses.
        self.refcount.inc()
    }

    /// Drops a reference; if it was the last one, calls `release` and returns `true`. The
    /// kernel's `kref_put()`.
    ///
    /// `release` receives this kref and may free the memory that holds it: `put` does not
    /// touch `self` after calling it. A `false` return only says that *this* call did not
    /// release: another thread may release the object right after, so do not use the object
    /// after `put`, whatever it returned.
    ///
    /// **Ordering:** RELEASE; `release` runs after the final decrement's ACQUIRE, so it sees
    /// every access made through the other references.
    #[inline]
    #[track_caller]
    pub fn put(&self, release: impl FnOnce(&Kref)) -> bool {
        // Release, and acquire at zero (refcount_dec_and_test): `release` sees every access.
        if self.refcount.dec_and_test() {
            release(self);
            true
        } else {
            false
        }
    }

    /// Drops a reference; if it was the last one, takes `lock` and calls `release` with the
    /// guard, and returns `true`. The kernel's `kref_put_lock()` / `kref_put_mutex()`
    /// ([`Refcount::dec_and_lock`]).
    ///
    /// The count reaches zero only with the lock held, so a lookup under the same lock may take
    /// references with [`get`](Self::get); `release` unpublishes the object (with the lock
    /// held) and then frees it, dropping the guard when it no longer needs the lock (the
    /// kernel's release function must unlock; here dropping the guard does it).
    ///
    /// **Ordering:** RELEASE; `release` runs after the lock's ACQUIRE and the final ACQUIRE.
    ///
    /// ```
    /// use ksync_refcount::Kref;
    /// use ksync_spinlock::SpinLock;
    ///
    /// let table = SpinLock::new(vec![7]);
    /// let kref = Kref::new();
    /// assert!(kref.put_lock(&table, |_kref, mut guard| {
    ///     guard.retain(|&id| id != 7); // unpublish under the lock
    ///     drop(guard); // then free outside it
    /// }));
    /// assert!(table.lock().is_empty());
    /// ```
    #[inline]
    #[track_caller]
    pub fn put_lock<'a, R: RawMutex, T: ?Sized>(
        &self,
        lock: &'a Mutex<R, T>,
        release: impl FnOnce(&Kref, MutexGuard<'a, R, T>),
    ) -> bool {
        // Release; at zero, the lock's acquire and the final acquire (refcount_dec_and_lock).
        match self.refcount.dec_and_lock(lock) {
            Some(guard) => {
                release(self, guard);
                true
            }
            None => false,
        }
    }

    /// The kernel's `kref_put_mutex()`: the same as [`put_lock`](Self::put_lock), for a
    /// sleeping lock (any [`lock_api::Mutex`] will do for either).
    #[inline]
    #[track_caller]
    pub fn put_mutex<'a, R: RawMutex, T: ?Sized>(
        &self,
        lock: &'a Mutex<R, T>,
        release: impl FnOnce(&Kref, MutexGuard<'a, R, T>),
    ) -> bool {
        self.put_lock(lock, release)
    }

    /// Takes a reference unless the count is already 0; returns whether it did. The kernel's
    /// `kref_get_unless_zero()`, for lookup structures whose entries stay reachable while their
    /// release runs: a lookup that loses the race gets `false` and must treat the object as
    /// gone.
    ///
    /// **Ordering:** unordered ([`Refcount::inc_not_zero`]); the lookup provides the ordering.
    #[inline]
    #[track_caller]
    #[must_use]
    pub fn get_unless_zero(&self) -> bool {
        // Relaxed (refcount_inc_not_zero): the lookup provides the ordering.
        self.refcount.inc_not_zero()
    }
}

impl Default for Kref {
    /// [`Kref::new`]: one reference.
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Kref {
    /// One relaxed read of the count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Kref").field(&self.refcount).finish()
    }
}
