//! # ksync-atomic: the kernel's `atomic_t`, `atomic64_t`, `atomic_long_t` and bitops
//!
//! Mirrors `Documentation/atomic_t.txt` and `Documentation/atomic_bitops.txt` (the API and its
//! ordering rules), `include/linux/atomic/atomic-arch-fallback.h` (how the orderings and the
//! conditional operations are derived), and `arch/x86/include/asm/atomic.h`,
//! `atomic64_64.h`, `cmpxchg.h` and `bitops.h` (the x86-64 instructions).
//!
//! | type | kernel type | value |
//! |---|---|---|
//! | [`Atomic`] | `atomic_t` | `i32` |
//! | [`Atomic64`] | `atomic64_t` | `i64` |
//! | [`AtomicLong`] | `atomic_long_t` | `isize` |
//! | [`bitops`] | `set_bit()`, `test_and_set_bit()`, ... on `unsigned long *` | `&[AtomicUsize]` |
//!
//! Method names are the kernel's function names without the type prefix:
//! `atomic_fetch_add_acquire(i, v)` is `v.fetch_add_acquire(i)`, and
//! `atomic_try_cmpxchg(v, &old, new)` is `v.try_cmpxchg(&mut old, new)`. Arithmetic wraps (the
//! kernel builds with `-fno-strict-overflow`).
//!
//! ```
//! use ksync_atomic::Atomic;
//!
//! let refs = Atomic::new(1);
//! refs.inc(); // unordered
//! assert_eq!(refs.fetch_add_release(1), 2); // returns the old value
//! assert_eq!(refs.add_return_relaxed(1), 4); // returns the new value
//! assert_eq!(refs.cmpxchg(4, 10), 4); // succeeded: found what it expected
//! assert!(refs.add_unless(1, 0));
//! assert_eq!(refs.read(), 11);
//! ```
//!
//! ## Ordering (LKMM, not C11)
//!
//! | operation | ordering |
//! |---|---|
//! | `read`, `set`; RMWs without a return value (`add`, `inc`, `or`, ...) | unordered |
//! | RMWs with a return value, no suffix (`fetch_add`, `xchg`, `cmpxchg`, `dec_and_test`, ...) | **fully ordered**: as if `smp_mb()` ran right before and right after |
//! | `_relaxed` | unordered |
//! | `_acquire`, `read_acquire` | the read is an ACQUIRE |
//! | `_release`, `set_release` | the write is a RELEASE |
//! | a conditional RMW that fails (`cmpxchg`, `add_unless`, `inc_not_zero`, ...) | unordered |
//!
//! "Fully ordered" is stronger than a Rust `SeqCst` RMW: it orders *every* earlier access
//! before *every* later one, relaxed ones included, like a fence on each side. A non-value-
//! returning RMW followed by [`smp_mb__after_atomic`](ksync_barrier::smp_mb__after_atomic) is
//! fully ordered too. `docs/atomic.md` in the repository works through the rules and an example.
//!
//! ## Two backends, one behaviour
//!
//! * **x86-64 inline asm** (the default on x86-64): the kernel's instructions (`lock xadd`,
//!   `lock cmpxchg`, `xchg`, `lock add/sub/inc/dec/and/or/xor`, `lock dec` + `sete`, `lock
//!   add` + `sets`, `lock bts` + `setc`, ...). A locked instruction is a full barrier, so every
//!   ordering suffix compiles to the same instruction, as in the kernel. Plain reads and stores
//!   (`read`, `set`, and their acquire/release forms) are Rust atomic loads and stores (`mov`).
//! * **portable** (`core::sync::atomic`, loom's under `cfg(loom)`): every other target, and
//!   x86-64 under `cfg(loom)`, `cfg(miri)` or `cfg(ksync_no_asm)`. Fully ordered operations are
//!   `fence(SeqCst)`, the relaxed RMW, `fence(SeqCst)`: a `SeqCst` RMW alone does not order
//!   unrelated relaxed accesses the way `smp_mb()` does.
//!
//! [`ksync_barrier::BACKEND`] says which one a build uses. Both return the same values and leave
//! the same state for every operation and input; the crate's differential test checks it.
//!
//! ## Mixing asm and Rust atomics on one word
//!
//! On the asm backend one word is accessed both by Rust atomics (the loads and stores) and by
//! asm (the RMWs). That is sound because every asm block touches only the atomic's own storage
//! (through `as_ptr()`), with one aligned instruction, `lock`ed when it is an RMW, and carries
//! the kernel's `"memory"` clobber (no `nomem`/`readonly`), so the compiler treats it as an
//! opaque operation that may read, write and synchronise through that pointer: it cannot cache
//! the word across it or move other accesses across it. Every access to the word is then a
//! single aligned instruction in program order. The Rust memory model says nothing about what
//! the asm does; from there the meaning comes from the hardware model (x86-TSO, with locked
//! instructions as full barriers), the model the kernel's own code relies on. That is also why
//! loom and miri run the portable backend, and why the crate's differential test checks the asm
//! against it and a codegen check asserts the instructions (`docs/atomic.md` has the details).
//!
//! ## Sub-word operations
//!
//! [`Atomic`] also has the byte and halfword stores, exchanges and compare-and-exchanges and the
//! lock-word bit operations the spinlocks need; see [`subword`] for why they exist and why the
//! portable backend does each as a whole-word RMW.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[macro_use]
mod api;

pub mod bitops;
mod portable;
pub mod subword;

ksync_barrier::cfg_asm! {
    mod x86;
}

/// ksync's std/loom switch, used by every module here.
pub(crate) use ksync_barrier::sync;

/// An LKMM ordering suffix: none (fully ordered), `_relaxed`, `_acquire`, `_release`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// No suffix: fully ordered (`smp_mb()` before and after).
    Full,
    /// `_relaxed`: unordered.
    Relaxed,
    /// `_acquire`: the read half is an acquire.
    Acquire,
    /// `_release`: the write half is a release.
    Release,
}

/// Both backends' complete APIs, for the differential test and the benchmarks. Not a stable
/// interface: use the crate-root types, which are the selected backend's.
#[doc(hidden)]
pub mod __backends {
    /// The portable backend (`core::sync::atomic`, or loom's), compiled on every target.
    pub mod portable {
        backend_api!(portable);
    }

    ksync_barrier::cfg_asm! {
        /// The x86-64 inline-asm backend.
        pub mod x86 {
            backend_api!(x86);
        }
    }
}

ksync_barrier::cfg_asm! {
    use __backends::x86 as selected;
}
ksync_barrier::cfg_portable! {
    use __backends::portable as selected;
}

#[doc(inline)]
pub use selected::{Atomic, Atomic64, AtomicLong};

#[cfg(feature = "codegen")]
#[doc(hidden)]
pub mod __codegen;

// Layout: the same size and alignment as the kernel's types (loom's atomics are bigger).
#[cfg(not(loom))]
mod layout {
    use static_assertions::{assert_eq_align, assert_eq_size, assert_impl_all};

    use super::{Atomic, Atomic64, AtomicLong};

    assert_eq_size!(Atomic, i32);
    assert_eq_align!(Atomic, i32);
    assert_eq_size!(Atomic64, i64);
    assert_eq_size!(Atomic64, [u8; 8]);
    // atomic64_t is 8-byte aligned on every architecture, even where i64 is not.
    const _: () = assert!(core::mem::align_of::<Atomic64>() == 8);
    assert_eq_size!(AtomicLong, isize);
    assert_eq_align!(AtomicLong, isize);
    assert_impl_all!(Atomic: Send, Sync, Default, core::fmt::Debug, From<i32>);
    assert_impl_all!(Atomic64: Send, Sync, Default, core::fmt::Debug, From<i64>);
    assert_impl_all!(AtomicLong: Send, Sync, Default, core::fmt::Debug, From<isize>);
    assert_eq_size!(super::__backends::portable::Atomic, i32);
}
