//! # ksync-barrier: the kernel's barrier vocabulary
//!
//! Mirrors `include/asm-generic/barrier.h` and `arch/x86/include/asm/barrier.h`: the compiler
//! barrier, the SMP and mandatory fences, `READ_ONCE`/`WRITE_ONCE`, `smp_load_acquire` /
//! `smp_store_release`, `smp_store_mb`, and the `smp_cond_load_*` spin-waits, spelled the way
//! kernel call sites spell them, with the code the kernel emits on x86-64.
//!
//! ```
//! use core::sync::atomic::{AtomicBool, AtomicU32};
//! use ksync_barrier::{read_once, smp_load_acquire, smp_store_release, write_once};
//!
//! let data = AtomicU32::new(0);
//! let ready = AtomicBool::new(false);
//! // Producer: publish the payload, then the flag with release.
//! write_once(&data, 42);
//! smp_store_release(&ready, true);
//! // Consumer: the acquire load of the flag orders the read of the payload after it.
//! if smp_load_acquire(&ready) {
//!     assert_eq!(read_once(&data), 42);
//! }
//! ```
//!
//! ## Two backends
//!
//! | backend | selected when | `smp_mb()` | `mb()/rmb()/wmb()` | `smp_store_mb()` |
//! |---|---|---|---|---|
//! | x86-64 asm | `target_arch = "x86_64"` and none of `cfg(loom)`, `cfg(miri)`, `cfg(ksync_no_asm)` | `lock add $0` on a stack slot | `mfence`/`lfence`/`sfence` | `xchg` |
//! | portable | everything else | `fence(SeqCst)` | `fence(SeqCst/Acquire/Release)` | store + `fence(SeqCst)` |
//!
//! Everything else (`smp_rmb`, `smp_wmb`, acquire, release, `READ_ONCE`) is expressed with Rust
//! atomics and fences in both backends: on x86-64 those lower to plain `mov`s and compiler
//! barriers, which is exactly what the kernel emits there, and they stay meaningful in the Rust
//! memory model. [`BACKEND`] says which backend this build uses.
//!
//! ## LKMM versus the Rust (C11) model
//!
//! The kernel's model (LKMM) and Rust's are close but not equal; every function documents both
//! what it guarantees in LKMM terms and what it is in Rust's model. Two differences matter:
//!
//! * A Rust `SeqCst` read-modify-write does not order *unrelated* relaxed accesses the way
//!   `smp_mb()` does. Where the kernel relies on a full barrier, use [`smp_mb`] (a real fence).
//! * Rust compilers keep no control or address dependencies. Where kernel code leans on one,
//!   ksync uses [`smp_acquire__after_ctrl_dep`] (an acquire fence) or an acquire load.
//!
//! ## The std/loom switch
//!
//! [`sync`] is ksync's one switch between the real primitives and loom's model-checked twins
//! (`RUSTFLAGS="--cfg loom"`); every ksync crate takes its atomics from there. Under loom,
//! [`cpu_relax`] yields to the model's scheduler, so every spin loop in ksync is loom-friendly.
//!
//! ## Litmus tests
//!
//! The LKMM litmus harness that runs these barriers on real threads is the crate above this one,
//! `ksync-litmus` (`ksync::litmus`); this crate stays the barriers, the accesses and the switch.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// Kernel names are kept verbatim (`smp_mb__before_atomic`), double underscores included.
#![allow(non_snake_case)]

#[cfg(any(loom, feature = "std"))]
extern crate std;

mod access;
mod fence;
pub mod sync;

pub use access::{
    read_once, smp_cond_load_acquire, smp_cond_load_relaxed, smp_load_acquire, smp_store_mb,
    smp_store_release, write_once, AtomicAccess,
};
pub use fence::{
    barrier, cpu_relax, mb, rmb, smp_acquire__after_ctrl_dep, smp_mb, smp_mb__after_atomic,
    smp_mb__before_atomic, smp_rmb, smp_wmb, wmb,
};

/// Which implementation of the barriers (and of ksync's other asm) this build uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// x86-64 inline asm, the kernel's instruction choices.
    X86Asm,
    /// `core::sync::atomic` (or loom's twins under `cfg(loom)`).
    Portable,
}

/// The backend selected for this build: see the crate docs for the rule.
///
/// ```
/// let b = ksync_barrier::BACKEND;
/// assert!(matches!(b, ksync_barrier::Backend::X86Asm | ksync_barrier::Backend::Portable));
/// ```
pub const BACKEND: Backend = if cfg!(all(
    target_arch = "x86_64",
    not(loom),
    not(miri),
    not(ksync_no_asm)
)) {
    Backend::X86Asm
} else {
    Backend::Portable
};

/// Keeps the items inside only when the x86-64 inline-asm backend is selected
/// (`target_arch = "x86_64"` and none of `loom`, `miri`, `ksync_no_asm`).
///
/// Every ksync crate uses this one rule, so `RUSTFLAGS="--cfg ksync_no_asm"` switches the whole
/// stack to the portable backend at once.
#[macro_export]
macro_rules! cfg_asm {
    ($($item:item)*) => {
        $(
            #[cfg(all(target_arch = "x86_64", not(loom), not(miri), not(ksync_no_asm)))]
            $item
        )*
    };
}

/// Keeps the items inside only when the portable backend is selected: the complement of
/// [`cfg_asm!`].
#[macro_export]
macro_rules! cfg_portable {
    ($($item:item)*) => {
        $(
            #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri), not(ksync_no_asm))))]
            $item
        )*
    };
}

/// Evaluates the `asm` block on the x86-64 inline-asm backend and the `portable` block
/// otherwise (the same rule as [`cfg_asm!`]); usable where statements or a value are needed.
///
/// ```
/// let name = ksync_barrier::select_backend! {
///     asm => { "x86-64 asm" },
///     portable => { "portable" },
/// };
/// assert!(!name.is_empty());
/// ```
#[macro_export]
macro_rules! select_backend {
    (asm => $asm:block, portable => $portable:block $(,)?) => {{
        #[cfg(all(target_arch = "x86_64", not(loom), not(miri), not(ksync_no_asm)))]
        let __ksync_backend_value = $asm;
        #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri), not(ksync_no_asm))))]
        let __ksync_backend_value = $portable;
        __ksync_backend_value
    }};
}
