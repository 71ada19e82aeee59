//! The std/loom switch: ksync's only place that chooses between real primitives and loom's.
//!
//! Every ksync crate imports its atomics, fences, spin hint, `UnsafeCell`, threads, statics and
//! thread-locals from here, never from `core`/`std`/`loom` directly, so one flag
//! (`RUSTFLAGS="--cfg loom"`) moves the whole stack under the model checker.
//!
//! | item | normal build | `cfg(loom)` |
//! |---|---|---|
//! | [`atomic`] | `core::sync::atomic` | `loom::sync::atomic` (+ `core`'s `Ordering`) |
//! | [`hint::spin_loop`] | `core::hint::spin_loop` (`pause`) | `loom::hint::spin_loop` (yields) |
//! | [`cell::UnsafeCell`] | a `core` cell with loom's `with`/`with_mut` API | `loom::cell::UnsafeCell` |
//! | `thread`, `Arc` (feature `std`) | `std::thread`, `std::sync::Arc` | `loom::thread`, `loom::sync::Arc` |
//! | [`global!`](crate::global) | a `static` with a `const` initializer | `loom::lazy_static!` |
//! | [`thread_local!`](crate::thread_local) | `std::thread_local!` | `loom::thread_local!` |
//!
//! Limits of the loom build worth knowing: loom's atomics have no `const fn new` (so lock types
//! drop their `const` constructors under loom and tests build them inside `loom::model`), loom
//! has no `compiler_fence` (ksync's [`barrier`](crate::barrier) is a no-op there, since a
//! compiler barrier orders nothing between threads), and loom cannot see inline asm, syscalls or
//! `std` thread-locals; those sit behind this module or behind [`cfg_asm!`](crate::cfg_asm).

/// Atomic types, `Ordering` and `fence`.
pub mod atomic {
    #[cfg(not(loom))]
    pub use core::sync::atomic::{
        compiler_fence, fence, AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize,
        AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    #[cfg(loom)]
    pub use loom::sync::atomic::{
        fence, AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicPtr,
        AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
}

/// The spin-wait hint.
pub mod hint {
    /// `pause` on x86-64 (the kernel's `rep; nop`); under loom, a yield to the model scheduler.
    #[cfg(not(loom))]
    pub use core::hint::spin_loop;
    #[cfg(loom)]
    pub use loom::hint::spin_loop;
}

/// `UnsafeCell` with loom's closure API, so the same code checks data races under loom.
pub mod cell {
    #[cfg(loom)]
    pub use loom::cell::UnsafeCell;

    /// `core::cell::UnsafeCell` with loom's `with`/`with_mut` API.
    ///
    /// Under `cfg(loom)` this is `loom::cell::UnsafeCell`, which checks every access for a data
    /// race; in a normal build the closures compile down to a raw pointer.
    ///
    /// ```
    /// use ksync_barrier::sync::cell::UnsafeCell;
    /// let c = UnsafeCell::new(1);
    /// // SAFETY: no other reference to the cell's contents exists.
    /// c.with_mut(|p| unsafe { *p += 1 });
    /// assert_eq!(c.into_inner(), 2);
    /// ```
    #[cfg(not(loom))]
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        #[inline(always)]
        pub const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        /// Unwraps the value.
        #[inline(always)]
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    #[cfg(not(loom))]
    impl<T: ?Sized> UnsafeCell<T> {
        /// Calls `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a mutable raw pointer to the contents.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Threads: `std::thread`, or `loom::thread` under loom.
#[cfg(all(feature = "std", not(loom)))]
pub use std::thread;

/// Threads: `std::thread`, or `loom::thread` under loom.
#[cfg(loom)]
pub use loom::thread;

/// `Arc`: std's, or loom's (which checks for leaks) under loom.
#[cfg(all(feature = "std", not(loom)))]
pub use std::sync::Arc;

/// `Arc`: std's, or loom's (which checks for leaks) under loom.
#[cfg(loom)]
pub use loom::sync::Arc;

#[cfg(loom)]
#[doc(hidden)]
pub use loom as __loom;

#[cfg(all(feature = "std", not(loom)))]
#[doc(hidden)]
pub use std::thread_local as __std_thread_local;

/// Defines a function returning a `&'static` to a global, built by a `const` expression.
///
/// In a normal build this is a plain `static` (so the initializer must be `const`); under loom it
/// is a `loom::lazy_static!`, rebuilt for every model execution, because loom's atomics can
/// neither be `const`-constructed nor outlive one execution.
///
/// ```
/// use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
/// ksync_barrier::global! {
///     /// A process-wide counter.
///     fn counter() -> &'static AtomicU32 = AtomicU32::new(0);
/// }
/// counter().fetch_add(1, Ordering::Relaxed);
/// assert_eq!(counter().load(Ordering::Relaxed), 1);
/// ```
#[macro_export]
macro_rules! global {
    ($(#[$m:meta])* $vis:vis fn $name:ident() -> &'static $ty:ty = $init:expr;) => {
        $(#[$m])*
        #[inline(always)]
        $vis fn $name() -> &'static $ty {
            #[cfg(not(loom))]
            {
                static GLOBAL: $ty = $init;
                &GLOBAL
            }
            #[cfg(loom)]
            {
                $crate::sync::__loom::lazy_static! {
                    static ref GLOBAL: $ty = $init;
                }
                &*GLOBAL
            }
        }
    };
}

/// `std::thread_local!`, or `loom::thread_local!` under loom (loom runs every model thread on
/// one OS thread, so std's thread-locals would be shared between them).
///
/// Needs the `std` feature outside loom.
#[macro_export]
macro_rules! thread_local {
    ($($t:tt)*) => {
        #[cfg(not(loom))]
        $crate::sync::__std_thread_local! { $($t)* }
        #[cfg(loom)]
        $crate::sync::__loom::thread_local! { $($t)* }
    };
}
