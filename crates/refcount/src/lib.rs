//! # ksync-refcount: the kernel's saturating `refcount_t`, `kref`, and a saturating `Arc`
//!
//! Mirrors `include/linux/refcount.h` and `lib/refcount.c` ([`Refcount`], and [`report`] for
//! `refcount_warn_saturate`), `include/linux/kref.h` ([`Kref`]), and Rust-for-Linux's
//! `rust/kernel/sync/arc.rs` ([`Arc`]), with the ordering rules of
//! `Documentation/core-api/refcount-vs-atomic.rst`.
//!
//! | type | kernel | what it is |
//! |---|---|---|
//! | [`Refcount`] | `refcount_t` | a 4-byte counter that saturates at [`REFCOUNT_SATURATED`] instead of wrapping |
//! | [`Kref`] | `struct kref` | an embedded `Refcount` starting at 1 whose last `put` runs a release function |
//! | [`Arc<T>`] | `kernel::sync::Arc<T>` | an owning pointer, one word, no weak count; saturates and leaks on overflow instead of aborting |
//! | [`report`] | `refcount_warn_saturate`, `WARN_ONCE` | saturation events: counters, a process-wide hook, per-thread capture |
//!
//! ```
//! use ksync_refcount::{report, Refcount, Saturation, REFCOUNT_SATURATED};
//!
//! let r = Refcount::new(1);
//! r.inc();
//! assert!(!r.dec_and_test());
//! assert!(r.dec_and_test()); // the last reference: free the object
//!
//! // A use-after-free: the counter saturates instead of coming back to life, and says so.
//! let ((), events) = report::capture(|| r.inc());
//! assert_eq!(events[0].kind, Saturation::AddUaf);
//! assert_eq!(r.read(), REFCOUNT_SATURATED as u32);
//! assert!(!r.dec_and_test()); // a saturated counter never reaches zero
//! ```
//!
//! ## Why saturate
//!
//! A counter that wraps turns a reference leak (2^32 increments) or one decrement too many
//! into a use-after-free. `refcount_t` costs the same locked instruction as `atomic_t`, checks
//! the old value afterwards, and parks a broken counter at `REFCOUNT_SATURATED`, from which it
//! never reaches zero: the object leaks, which is safe, and a warning is raised. The
//! [`refcount`] module docs and `docs/refcount.md` explain the exact rules and why the check is
//! deliberately racy.
//!
//! ## Ordering
//!
//! Weaker than `atomic_t`'s value-returning operations, exactly as much as reference counting
//! allows: increments are unordered, decrements are releases, and the decrement that reaches
//! zero is also an acquire (an acquire fence after the test, because Rust compilers keep no
//! control dependencies). The table is in the [`refcount`] module docs; every method states its
//! own ordering.
//!
//! ## What user space changes
//!
//! * **No `WARN` with a stack trace.** Events go to a hook; the default writes the first one of
//!   each kind through `log` or to stderr (with a backtrace if `RUST_BACKTRACE` asks), and
//!   every event is counted. Each event carries the caller's source location
//!   (`#[track_caller]`), which is what the kernel's stack trace is mostly read for.
//! * **The saturation margin argument still holds.** The kernel reasons that escaping the
//!   saturated range needs about 2^30 operations racing between one RMW and the following
//!   store; a process has at most a few million threads (`pid_max`), far fewer.
//! * **Under loom** the counters are loom atomics (through `ksync-atomic`), constructors are not
//!   `const`, and the loom models in `tests/loom.rs` check the final-put and lookup races.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod arc;
pub mod kref;
pub mod refcount;
pub mod report;

pub use arc::Arc;
pub use kref::Kref;
pub use refcount::{Refcount, REFCOUNT_MAX, REFCOUNT_SATURATED};
pub use report::{Event, Saturation};

// Layout: the kernel's sizes (loom's atomics are bigger).
#[cfg(not(loom))]
mod layout {
    use static_assertions::{assert_eq_align, assert_eq_size, assert_impl_all};

    use super::{Arc, Event, Kref, Refcount};

    assert_eq_size!(Refcount, i32);
    assert_eq_align!(Refcount, i32);
    assert_eq_size!(Refcount, ksync_atomic::Atomic);
    assert_eq_size!(Kref, i32);
    assert_eq_size!(Arc<u64>, usize);
    assert_eq_size!(Option<Arc<u64>>, usize);
    assert_impl_all!(Refcount: Send, Sync, core::fmt::Debug);
    assert_impl_all!(Kref: Send, Sync, Default, core::fmt::Debug);
    assert_impl_all!(Event: Send, Sync, Copy);
    assert_impl_all!(Arc<u64>: Send, Sync, Clone, core::panic::UnwindSafe, Unpin);
    static_assertions::assert_not_impl_any!(Arc<core::cell::Cell<u8>>: Send, Sync);
    static_assertions::assert_not_impl_any!(Arc<std::sync::MutexGuard<'static, u8>>: Send);
}
