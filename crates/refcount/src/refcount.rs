//! [`Refcount`]: the kernel's saturating `refcount_t`.
//!
//! Mirrors `include/linux/refcount.h` (the inline operations, their order of evaluation and
//! their ordering) and `lib/refcount.c` (`refcount_warn_saturate`, `refcount_dec_not_one`,
//! `refcount_dec_if_one`, `refcount_dec_and_lock`), with the ordering rules of
//! `Documentation/core-api/refcount-vs-atomic.rst`.
//!
//! ## Saturation
//!
//! A reference count that wraps turns a leak into a use-after-free: 2^32 increments (or one
//! decrement too many) bring it back to zero while references are still held. `refcount_t`
//! makes that impossible at the cost of a check that is free next to the locked instruction:
//!
//! ```text
//!   0 ............ REFCOUNT_MAX  |  i32::MIN ....... REFCOUNT_SATURATED ....... -1
//!   0x0000_0000 .. 0x7fff_ffff   |  0x8000_0000 ...... 0xc000_0000 ...... 0xffff_ffff
//!        legal counts            |           "bad": the counter is broken
//! ```
//!
//! * Every operation does its one atomic RMW **first** (`fetch_add` relaxed, `fetch_sub`
//!   release, or a `try_cmpxchg` loop for the conditional ones) and checks the value it found
//!   **afterwards**. If the old or the new value is bad, it stores `REFCOUNT_SATURATED` with a
//!   plain (relaxed) store and reports a [`Saturation`] event.
//! * The check-then-store is racy on purpose: another thread may move the counter between the
//!   RMW and the store. That costs nothing on the fast path (no CAS loop), and it cannot escape:
//!   `REFCOUNT_SATURATED` sits 2^30 away from both 0 and `i32::MAX`, so about 2^30 operations
//!   would have to slip into that window before the count could wrap back to a legal value.
//!   Do not "fix" it with a CAS loop: that changes the cost and the observable behaviour.
//! * Once saturated, the counter stays there: every operation on it finds a bad value and
//!   stores `REFCOUNT_SATURATED` again; nothing ever reaches zero, so the object is leaked
//!   rather than freed under a live reference. Leaking is the safe failure.
//! * An increment from 0 (the object was already released) and a plain [`dec`](Refcount::dec)
//!   to 0 (nobody will release it) saturate too: both are bugs in the caller.
//!
//! ## Ordering (refcount-vs-atomic)
//!
//! | operation | ordering | why |
//! |---|---|---|
//! | `set`, `read` | unordered | as `atomic_set`/`atomic_read` |
//! | `set_release` | RELEASE | publishes an initialised object before its count becomes non-zero (memory reuse, `SLAB_TYPESAFE_BY_RCU`) |
//! | `add`, `inc` | unordered | the caller already holds a reference, and whatever gave it the object (a lock, an acquire load) ordered the access |
//! | `add_not_zero`, `inc_not_zero` | unordered (a control dependency in the kernel) | the lookup that found the object provides the ordering |
//! | `add_not_zero_acquire`, `inc_not_zero_acquire` | ACQUIRE on success | the caller re-checks the object's identity with loads after taking the reference (memory reuse) |
//! | `dec` | RELEASE | every access to the object is done before the count can reach zero |
//! | `sub_and_test`, `dec_and_test` | RELEASE; ACQUIRE when it returns `true` | the releasing thread sees every other thread's accesses before it frees |
//! | `dec_if_one`, `dec_not_one` | RELEASE (+ the kernel's control dependency) | |
//! | `dec_and_lock` | RELEASE; the lock's ACQUIRE and the final ACQUIRE when it returns the guard | |
//!
//! A failed conditional operation is unordered. Rust compilers keep no control dependencies, so
//! where the kernel relies on one to order the free after the final decrement, ksync issues
//! [`smp_acquire__after_ctrl_dep`] (`fence(Acquire)`: no instruction on x86-64) once the
//! decrement is known to have reached zero. The unordered `*_not_zero` forms do **not** order
//! later stores after the increment the way the kernel's control dependency does; use the
//! `_acquire` forms when that matters.

use core::fmt;
use core::panic::Location;

use ksync_atomic::Atomic;
use ksync_barrier::smp_acquire__after_ctrl_dep;
use lock_api::{Mutex, MutexGuard, RawMutex};

use crate::report::{report, Event, Saturation};

/// The largest legal count: `INT_MAX`, the kernel's `REFCOUNT_MAX`.
pub const REFCOUNT_MAX: i32 = i32::MAX;

/// The value a broken counter is parked at: `INT_MIN / 2` (`0xc000_0000` as read by
/// [`Refcount::read`]), the kernel's `REFCOUNT_SATURATED`. It is 2^30 away from both legal
/// ends, so racing operations cannot move a saturated counter back into the legal range.
pub const REFCOUNT_SATURATED: i32 = i32::MIN / 2;

const _: () = assert!(REFCOUNT_SATURATED as u32 == 0xc000_0000);

/// The kernel's `refcount_t`: a reference count that saturates instead of wrapping.
///
/// Four bytes, `#[repr(transparent)]` over [`ksync_atomic::Atomic`] (`atomic_t`). Method names
/// are the kernel's without the `refcount_` prefix; the kernel's `__refcount_*` forms that also
/// report the old value are the `*_old` methods. Every method documents its ordering; the
/// [module docs](crate::refcount) explain saturation and the ordering table.
///
/// Misuse never wraps the counter: it saturates at [`REFCOUNT_SATURATED`] (leaking the object
/// for good) and reports a [`Saturation`] event (see [`report`](crate::report)).
///
/// ```
/// use ksync_refcount::Refcount;
///
/// let users = Refcount::new(1);
/// users.inc(); // a second user
/// assert!(!users.dec_and_test()); // one left
/// assert!(users.dec_and_test()); // the last one: release the object now
/// assert_eq!(users.read(), 0);
/// assert!(!users.inc_not_zero()); // too late to take a reference
/// ```
#[repr(transparent)]
pub struct Refcount {
    refs: Atomic,
}

impl Refcount {
    /// A counter holding `n`: the kernel's `REFCOUNT_INIT(n)`.
    ///
    /// Any value is accepted, as in the kernel; a negative one is a broken counter that the
    /// first operation saturates (`Refcount::new(REFCOUNT_SATURATED)` builds a saturated one).
    #[cfg(not(loom))]
    #[inline(always)]
    pub const fn new(n: i32) -> Self {
        Self {
            refs: Atomic::new(n),
        }
    }

    /// A counter holding `n`: the kernel's `REFCOUNT_INIT(n)`. Not `const` under loom.
    #[cfg(loom)]
    #[inline(always)]
    pub fn new(n: i32) -> Self {
        Self {
            refs: Atomic::new(n),
        }
    }

    /// The underlying `atomic_t`. Operations on it bypass saturation: prefer the methods here.
    #[inline(always)]
    pub fn as_atomic(&self) -> &Atomic {
        &self.refs
    }

    /// Sets the count to `n`. The kernel's `refcount_set()`.
    ///
    /// **Ordering:** unordered (`atomic_set`).
    #[inline(always)]
    pub fn set(&self, n: i32) {
        // Relaxed: refcount_set is atomic_set, unordered.
        self.refs.set(n)
    }

    /// Sets the count to `n` with RELEASE ordering. The kernel's `refcount_set_release()`.
    ///
    /// For objects whose memory is reused while lookups may still find it (the kernel's
    /// `SLAB_TYPESAFE_BY_RCU`): initialise the new object, then make its count non-zero with
    /// this, so that a lookup whose [`inc_not_zero_acquire`](Self::inc_not_zero_acquire)
    /// succeeds sees the initialised object.
    ///
    /// **Ordering:** RELEASE.
    #[inline(always)]
    pub fn set_release(&self, n: i32) {
        // Release: pairs with the acquire of a successful `*_not_zero_acquire`.
        self.refs.set_release(n)
    }

    /// Reads the count, as unsigned: a saturated counter reads `0xc000_0000`. The kernel's
    /// `refcount_read()`.
    ///
    /// **Ordering:** unordered (`atomic_read`). The value may be stale by the time it is used.
    #[inline(always)]
    pub fn read(&self) -> u32 {
        // Relaxed: refcount_read is atomic_read, unordered.
        self.refs.read() as u32
    }

    /// The count read with ACQUIRE ordering (crate-internal: `Arc::get_mut` needs it).
    #[inline(always)]
    pub(crate) fn read_acquire(&self) -> i32 {
        // Acquire: synchronizes with the release decrements of the references dropped before.
        self.refs.read_acquire()
    }

    /// Resets the counter to `REFCOUNT_SATURATED` and reports: `refcount_warn_saturate()`.
    #[cold]
    #[inline(never)]
    fn warn_saturate(&self, kind: Saturation, old: i32, location: &'static Location<'static>) {
        // Relaxed, a plain store after the RMW, as in the kernel: the check is racy on purpose
        // (see the module docs); the store only needs to be atomic.
        self.refs.set(REFCOUNT_SATURATED);
        report(Event {
            kind,
            addr: self as *const Self as usize,
            old,
            saturated: true,
            location,
        });
    }

    // ---- Increments. ----

    /// Adds `i` and returns the old value. The kernel's `__refcount_add()`.
    ///
    /// Found 0 (the object was released): saturates, [`Saturation::AddUaf`]. Found a negative
    /// value, or the sum overflows: saturates, [`Saturation::AddOvf`]. `i` is meant to be
    /// positive; the kernel does not check it and neither does ksync (a negative `i` moves the
    /// count down without release ordering; only the sign of the result is checked).
    ///
    /// **Ordering:** unordered.
    ///
    /// * **x86-64:** `lock xadd`, then the checks on the old value.
    /// * **portable:** `fetch_add(Relaxed)`, then the checks.
    #[inline(always)]
    #[track_caller]
    pub fn add_old(&self, i: i32) -> i32 {
        // Relaxed: increments need no ordering; the caller's existing reference, and whatever
        // gave it the object, already order its accesses.
        let old = self.refs.fetch_add_relaxed(i);
        if old == 0 {
            self.warn_saturate(Saturation::AddUaf, old, Location::caller());
        } else if old < 0 || old.wrapping_add(i) < 0 {
            self.warn_saturate(Saturation::AddOvf, old, Location::caller());
        }
        old
    }

    /// Adds `i`. The kernel's `refcount_add()`; see [`add_old`](Self::add_old) for the checks.
    ///
    /// **Ordering:** unordered.
    #[inline(always)]
    #[track_caller]
    pub fn add(&self, i: i32) {
        self.add_old(i);
    }

    /// Adds one and returns the old value. The kernel's `__refcount_inc()`.
    ///
    /// From 0: saturates, [`Saturation::AddUaf`]; from [`REFCOUNT_MAX`] or a negative value:
    /// saturates, [`Saturation::AddOvf`].
    ///
    /// **Ordering:** unordered.
    ///
    /// * **x86-64:** `lock xadd` of 1 and the checks.
    #[inline(always)]
    #[track_caller]
    pub fn inc_old(&self) -> i32 {
        self.add_old(1)
    }

    /// Adds one. The kernel's `refcount_inc()`; see [`inc_old`](Self::inc_old).
    ///
    /// **Ordering:** unordered.
    #[inline(always)]
    #[track_caller]
    pub fn inc(&self) {
        self.add_old(1);
    }

    /// Adds `i` unless the count is 0; returns whether it did, and the old value. The kernel's
    /// `__refcount_add_not_zero()`.
    ///
    /// From 0: returns `(false, 0)` and changes nothing. Otherwise it adds with a
    /// compare-and-exchange loop, then checks: if the old value was negative or the sum
    /// overflowed, it saturates ([`Saturation::AddNotZeroOvf`]) and still returns `true` (so on
    /// a saturated counter it returns `true` and the count stays saturated).
    ///
    /// **Ordering:** unordered, success or not. (The kernel counts on the control dependency
    /// to order later stores after a successful increment; Rust compilers keep none: use
    /// [`add_not_zero_acquire_old`](Self::add_not_zero_acquire_old) if that matters.)
    ///
    /// * **x86-64:** a `lock cmpxchg` loop. **portable:** a `compare_exchange` loop, `Relaxed`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn add_not_zero_old(&self, i: i32) -> (bool, i32) {
        // Relaxed: a CAS seed, as in the kernel; the CAS below decides and refreshes it.
        let mut old = self.read() as i32;
        loop {
            if old == 0 {
                break;
            }
            // Relaxed: the lookup that produced this object ordered the access to it; a
            // failed attempt reloads `old` and retries.
            let new = old.wrapping_add(i);
            if self.refs.try_cmpxchg_relaxed(&mut old, new) {
                break;
            }
        }
        if old < 0 || old.wrapping_add(i) < 0 {
            self.warn_saturate(Saturation::AddNotZeroOvf, old, Location::caller());
        }
        (old != 0, old)
    }

    /// Adds `i` unless the count is 0; returns whether it did. The kernel's
    /// `refcount_add_not_zero()`; see [`add_not_zero_old`](Self::add_not_zero_old).
    ///
    /// **Ordering:** unordered.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn add_not_zero(&self, i: i32) -> bool {
        self.add_not_zero_old(i).0
    }

    /// Adds one unless the count is 0; returns whether it did, and the old value. The kernel's
    /// `__refcount_inc_not_zero()`; see [`add_not_zero_old`](Self::add_not_zero_old).
    ///
    /// **Ordering:** unordered.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn inc_not_zero_old(&self) -> (bool, i32) {
        self.add_not_zero_old(1)
    }

    /// Takes a reference unless the count is 0 (the object is being released); returns whether
    /// it did. The kernel's `refcount_inc_not_zero()`: the lookup-table pattern.
    ///
    /// From 0: `false`, unchanged. From [`REFCOUNT_MAX`]: `true`, and the count saturates
    /// ([`Saturation::AddNotZeroOvf`]). Saturated: `true`, still saturated.
    ///
    /// **Ordering:** unordered; see [`add_not_zero_old`](Self::add_not_zero_old).
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn inc_not_zero(&self) -> bool {
        self.add_not_zero_old(1).0
    }

    /// Adds `i` unless the count is 0 or the sum would exceed `limit`; returns whether it did,
    /// and the old value. The kernel's `__refcount_add_not_zero_limited_acquire()`.
    ///
    /// The limit test is the kernel's `i > limit - old` in wrapping arithmetic (the kernel
    /// builds with `-fno-strict-overflow`), and it runs before every attempt:
    ///
    /// * from 0: `(false, 0)`, unchanged;
    /// * if `old + i` would exceed `limit`: `(false, old)`, unchanged, no event;
    /// * with `limit = REFCOUNT_MAX`, `limit - old` wraps for **every negative `old`**, so on a
    ///   saturated counter the acquire forms return `false`, unchanged, with no event (unlike
    ///   [`inc_not_zero`](Self::inc_not_zero), which returns `true`): the kernel's behaviour;
    /// * otherwise it adds with a compare-and-exchange loop; the saturation check afterwards
    ///   ([`Saturation::AddNotZeroOvf`]) can then only trip for a negative `i`.
    ///
    /// **Ordering:** ACQUIRE on success; unordered on failure.
    ///
    /// * **x86-64:** a `lock cmpxchg` loop. **portable:** `compare_exchange(Acquire, Relaxed)`
    ///   in a loop.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn add_not_zero_limited_acquire_old(&self, i: i32, limit: i32) -> (bool, i32) {
        // Relaxed: a CAS seed, as in the kernel; the acquire CAS below decides and refreshes it.
        let mut old = self.read() as i32;
        loop {
            if old == 0 {
                break;
            }
            if i > limit.wrapping_sub(old) {
                return (false, old);
            }
            // Acquire on success: the caller's later loads (the identity re-check of a reused
            // object) must see the object that the count now protects; pairs with the
            // `set_release` that made it live. Relaxed on failure: nothing was taken.
            let new = old.wrapping_add(i);
            if self.refs.try_cmpxchg_acquire(&mut old, new) {
                break;
            }
        }
        if old < 0 || old.wrapping_add(i) < 0 {
            self.warn_saturate(Saturation::AddNotZeroOvf, old, Location::caller());
        }
        (old != 0, old)
    }

    /// [`add_not_zero_limited_acquire_old`](Self::add_not_zero_limited_acquire_old) with
    /// `i = 1`. The kernel's `__refcount_inc_not_zero_limited_acquire()`.
    ///
    /// **Ordering:** ACQUIRE on success; unordered on failure.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn inc_not_zero_limited_acquire_old(&self, limit: i32) -> (bool, i32) {
        self.add_not_zero_limited_acquire_old(1, limit)
    }

    /// Adds `i` unless the count is 0; ACQUIRE on success. Returns whether it added, and the
    /// old value. The kernel's `__refcount_add_not_zero_acquire()` (the limited form with
    /// `limit = REFCOUNT_MAX`).
    ///
    /// Unlike [`add_not_zero_old`](Self::add_not_zero_old) it never overflows: when `old + i`
    /// would exceed [`REFCOUNT_MAX`], and on a negative (saturated) count, it fails without
    /// changing anything and without an event; see
    /// [`add_not_zero_limited_acquire_old`](Self::add_not_zero_limited_acquire_old).
    ///
    /// **Ordering:** ACQUIRE on success; unordered on failure.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn add_not_zero_acquire_old(&self, i: i32) -> (bool, i32) {
        self.add_not_zero_limited_acquire_old(i, REFCOUNT_MAX)
    }

    /// Adds `i` unless the count is 0; returns whether it did. The kernel's
    /// `refcount_add_not_zero_acquire()`; see
    /// [`add_not_zero_acquire_old`](Self::add_not_zero_acquire_old).
    ///
    /// **Ordering:** ACQUIRE on success; unordered on failure.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn add_not_zero_acquire(&self, i: i32) -> bool {
        self.add_not_zero_limited_acquire_old(i, REFCOUNT_MAX).0
    }

    /// Takes a reference unless the count is 0; returns whether it did, and the old value. The
    /// kernel's `__refcount_inc_not_zero_acquire()`; see
    /// [`add_not_zero_acquire_old`](Self::add_not_zero_acquire_old).
    ///
    /// **Ordering:** ACQUIRE on success; unordered on failure.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn inc_not_zero_acquire_old(&self) -> (bool, i32) {
        self.add_not_zero_limited_acquire_old(1, REFCOUNT_MAX)
    }

    /// Takes a reference unless the count is 0; returns whether it did. The kernel's
    /// `refcount_inc_not_zero_acquire()`, for lookups of objects whose memory may be reused
    /// for another object: after it succeeds, re-check the object's identity (the acquire
    /// orders those loads after the increment), and drop the reference if it is the wrong one.
    ///
    /// At [`REFCOUNT_MAX`] and on a saturated count it returns `false` without changing
    /// anything; see [`add_not_zero_acquire_old`](Self::add_not_zero_acquire_old).
    ///
    /// **Ordering:** ACQUIRE on success; unordered on failure.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn inc_not_zero_acquire(&self) -> bool {
        self.add_not_zero_limited_acquire_old(1, REFCOUNT_MAX).0
    }

    // ---- Decrements. ----

    /// Subtracts `i`; returns `true` if that dropped the last reference, and the old value. The
    /// kernel's `__refcount_sub_and_test()`.
    ///
    /// `true` only when the old value was exactly `i` and positive. If the old value was 0 or
    /// negative, or the result is negative: saturates, [`Saturation::SubUaf`], and returns
    /// `false` (a saturated counter never reaches zero).
    ///
    /// **Ordering:** RELEASE; and ACQUIRE when it returns `true`, so the caller, which now
    /// frees the object, is ordered after every access other threads made before their own
    /// decrements.
    ///
    /// * **x86-64:** `lock xadd` of `-i`, the checks (the acquire fence emits nothing).
    /// * **portable:** `fetch_sub(Release)`, the checks, and `fence(Acquire)` on `true`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn sub_and_test_old(&self, i: i32) -> (bool, i32) {
        // Release: every access this thread made to the object is ordered before the
        // decrement, so the thread that takes the count to zero sees them (with its acquire).
        let old = self.refs.fetch_sub_release(i);
        if old == i && old > 0 {
            // Acquire (smp_acquire__after_ctrl_dep): the kernel's control dependency, made
            // explicit: everything after this (the free) is ordered after the decrements of
            // all other references, which were releases.
            smp_acquire__after_ctrl_dep();
            return (true, old);
        }
        if old <= 0 || old.wrapping_sub(i) < 0 {
            self.warn_saturate(Saturation::SubUaf, old, Location::caller());
        }
        (false, old)
    }

    /// Subtracts `i`; returns `true` if that dropped the last reference. The kernel's
    /// `refcount_sub_and_test()`; see [`sub_and_test_old`](Self::sub_and_test_old).
    ///
    /// **Ordering:** RELEASE; ACQUIRE when it returns `true`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn sub_and_test(&self, i: i32) -> bool {
        self.sub_and_test_old(i).0
    }

    /// Drops a reference; returns `true` if it was the last one, and the old value. The
    /// kernel's `__refcount_dec_and_test()`; see [`sub_and_test_old`](Self::sub_and_test_old).
    ///
    /// **Ordering:** RELEASE; ACQUIRE when it returns `true`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn dec_and_test_old(&self) -> (bool, i32) {
        self.sub_and_test_old(1)
    }

    /// Drops a reference; returns `true` if it was the last one: the caller then releases the
    /// object. The kernel's `refcount_dec_and_test()`.
    ///
    /// On 0 or a negative count: `false`, saturates, [`Saturation::SubUaf`]. Saturated:
    /// `false`, still saturated.
    ///
    /// **Ordering:** RELEASE; ACQUIRE when it returns `true`.
    ///
    /// * **x86-64:** `lock xadd` of -1 and a compare (the acquire emits nothing).
    /// * **portable:** `fetch_sub(1, Release)`, and `fence(Acquire)` on `true`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn dec_and_test(&self) -> bool {
        self.sub_and_test_old(1).0
    }

    /// Drops a reference that is known not to be the last one; returns the old value. The
    /// kernel's `__refcount_dec()`.
    ///
    /// If the old value was 1 or less (the count reached 0, or was already broken): saturates,
    /// [`Saturation::DecLeak`]: a plain decrement must never drop the last reference, since
    /// then nobody releases the object.
    ///
    /// **Ordering:** RELEASE.
    ///
    /// * **x86-64:** `lock xadd` of -1 and a compare. **portable:** `fetch_sub(1, Release)`.
    #[inline(always)]
    #[track_caller]
    pub fn dec_old(&self) -> i32 {
        // Release: this thread's accesses to the object are ordered before the decrement (the
        // last reference's owner acquires them when it takes the count to zero).
        let old = self.refs.fetch_sub_release(1);
        if old <= 1 {
            self.warn_saturate(Saturation::DecLeak, old, Location::caller());
        }
        old
    }

    /// Drops a reference that is known not to be the last one. The kernel's `refcount_dec()`;
    /// see [`dec_old`](Self::dec_old).
    ///
    /// **Ordering:** RELEASE.
    #[inline(always)]
    #[track_caller]
    pub fn dec(&self) {
        self.dec_old();
    }

    /// Takes the count from 1 to 0, and only from 1; returns whether it did. The kernel's
    /// `refcount_dec_if_one()`: "am I the only user? then tear down", never touching a count
    /// that others share. No event: any other value simply fails.
    ///
    /// **Ordering:** RELEASE on success (no acquire: call
    /// [`smp_acquire__after_ctrl_dep`] before freeing if other threads used the object);
    /// unordered on failure.
    ///
    /// * **x86-64:** `lock cmpxchg`. **portable:** `compare_exchange(1, 0, Release, Relaxed)`.
    #[inline(always)]
    #[must_use]
    pub fn dec_if_one(&self) -> bool {
        let mut one = 1;
        // Release on success: this thread's accesses come before the count reads zero.
        // Relaxed on failure: nothing changed.
        self.refs.try_cmpxchg_release(&mut one, 0)
    }

    /// Drops a reference unless it is the last one; returns `false` (and changes nothing) when
    /// the count is 1. The kernel's `refcount_dec_not_one()`.
    ///
    /// * Saturated: `true`, unchanged.
    /// * 1: `false`, unchanged.
    /// * 0: `true`, unchanged, and a [`Saturation::SubUaf`] event that does **not** saturate
    ///   ([`Event::saturated`] is `false`): the kernel's own warning here, not
    ///   `refcount_warn_saturate()`.
    /// * Anything else (other negative values included): decremented, `true`.
    ///
    /// **Ordering:** RELEASE when it decrements; unordered otherwise.
    ///
    /// * **x86-64:** a `lock cmpxchg` loop. **portable:** `compare_exchange(Release, Relaxed)`
    ///   in a loop.
    #[inline]
    #[track_caller]
    #[must_use]
    pub fn dec_not_one(&self) -> bool {
        // Relaxed: a CAS seed; the release CAS below decides. The early returns are unordered.
        let mut val = self.read() as i32;
        loop {
            if val == REFCOUNT_SATURATED {
                return true;
            }
            if val == 1 {
                return false;
            }
            if val == 0 {
                // The kernel compares unsigned: `val - 1 > val` only for 0.
                report(Event {
                    kind: Saturation::SubUaf,
                    addr: self as *const Self as usize,
                    old: 0,
                    saturated: false,
                    location: Location::caller(),
                });
                return true;
            }
            // Release on success: as `dec`. Relaxed on failure: `val` is reloaded and retried.
            let new = val.wrapping_sub(1);
            if self.refs.try_cmpxchg_release(&mut val, new) {
                return true;
            }
        }
    }

    /// Drops a reference; if it was the last one, returns with `lock` held: the kernel's
    /// `refcount_dec_and_lock()` / `refcount_dec_and_mutex_lock()`, over any
    /// [`lock_api::Mutex`] (ksync's spinlocks and mutex, `parking_lot`, ...). With
    /// `ksync_spinlock::SpinLockIrq` it is `refcount_dec_and_lock_irqsave()` (signals blocked
    /// while the guard lives).
    ///
    /// The count goes from 1 to 0 only with the lock held, so code that finds the object under
    /// the same lock (a lookup table) can take references with a plain [`inc`](Self::inc), and
    /// the releaser removes the object from the table before anyone else can find it at zero.
    /// When the count is above one it is decremented without touching the lock.
    ///
    /// Returns `Some(guard)` when the count reached zero (the caller now removes and frees the
    /// object, then drops the guard), `None` otherwise.
    ///
    /// **Ordering:** RELEASE; when it returns the guard, the lock's ACQUIRE and the final
    /// decrement's ACQUIRE.
    ///
    /// ```
    /// use ksync_refcount::Refcount;
    /// use ksync_spinlock::SpinLock;
    ///
    /// let table = SpinLock::new(vec!["object"]);
    /// let r = Refcount::new(2);
    /// assert!(r.dec_and_lock(&table).is_none()); // 2 -> 1, lock untouched
    /// let mut guard = r.dec_and_lock(&table).expect("1 -> 0 under the lock");
    /// guard.clear(); // unpublish, then free, with the lock held
    /// ```
    #[inline]
    #[track_caller]
    #[must_use = "the lock is released when the guard is dropped"]
    pub fn dec_and_lock<'a, R: RawMutex, T: ?Sized>(
        &self,
        lock: &'a Mutex<R, T>,
    ) -> Option<MutexGuard<'a, R, T>> {
        self.dec_and_lock_with(|| lock.lock())
    }

    /// [`dec_and_lock`](Self::dec_and_lock) for any lock: `lock` is called to take it (and its
    /// result dropped to release it) only when the count may reach zero.
    ///
    /// For locks outside `lock_api` (`std::sync::Mutex`, loom's `Mutex` in models):
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use ksync_refcount::Refcount;
    ///
    /// let table = Mutex::new(vec![1, 2, 3]);
    /// let r = Refcount::new(1);
    /// let guard = r.dec_and_lock_with(|| table.lock().unwrap());
    /// assert_eq!(guard.map(|g| g.len()), Some(3));
    /// ```
    ///
    /// **Ordering:** as [`dec_and_lock`](Self::dec_and_lock).
    #[inline]
    #[track_caller]
    #[must_use = "the lock is released when the guard is dropped"]
    pub fn dec_and_lock_with<G>(&self, lock: impl FnOnce() -> G) -> Option<G> {
        // Not the last reference: done, without the lock (RELEASE, see dec_not_one).
        if self.dec_not_one() {
            return None;
        }
        let guard = lock();
        // The count was 1 a moment ago; with the lock held, take it to 0 (RELEASE, and ACQUIRE
        // when it gets there). Someone may have taken a reference meanwhile: then unlock.
        if self.dec_and_test() {
            Some(guard)
        } else {
            drop(guard);
            None
        }
    }
}

impl fmt::Debug for Refcount {
    /// One relaxed read: `Refcount(3)`, or `Refcount(saturated)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a racy snapshot for display.
        let v = self.read();
        if v == REFCOUNT_SATURATED as u32 {
            f.write_str("Refcount(saturated)")
        } else {
            f.debug_tuple("Refcount").field(&v).finish()
        }
    }
}
