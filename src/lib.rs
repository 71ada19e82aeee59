//! # ksync: kernel-style synchronization primitives for Rust
//!
//! The facade over ksync's crates: each is re-exported as a module, so one dependency on
//! `ksync` gives all of them.
//!
//! | module | crate | kernel counterpart |
//! |---|---|---|
//! | [`barrier`] | `ksync-barrier` | `asm-generic/barrier.h`, `arch/x86/include/asm/barrier.h` |
//! | [`atomic`] | `ksync-atomic` | `atomic_t.txt`, `arch/x86/include/asm/atomic.h` |
//! | [`percpu`] | `ksync-percpu` | `percpu.h`, `local.h` |
//! | [`futex`] | `ksync-futex` | `futex(2)`, `pv_wait/pv_kick` |
//! | [`refcount`] | `ksync-refcount` | `refcount.h`, `kref.h` |
//! | [`spinlock`] | `ksync-spinlock` | `qspinlock.c`, `mcs_spinlock.h`, `qspinlock_paravirt.h` |
//! | [`mutex`] | `ksync-mutex` | `mutex.c`, `osq_lock.c` |
//! | [`compat`] | `ksync-compat` | std's `Mutex`/`Condvar` API over the locks above; `wait.h` (`wq_has_sleeper`) |
//! | [`litmus`] | `ksync-litmus` | `tools/memory-model/litmus-tests/`, litmus7 |
//! | `harness` (feature `harness`) | `ksync-harness` | `locktorture.c`: the lock registry, torture and throughput engines |
//!
//! This package is re-exports only (plus the cross-crate tests and the criterion benches of the
//! repository); `docs/architecture.md` shows which crate may use which.
//!
//! ```
//! use ksync::barrier::{smp_load_acquire, smp_store_release};
//! use std::sync::atomic::AtomicU32;
//! let flag = AtomicU32::new(0);
//! smp_store_release(&flag, 1);
//! assert_eq!(smp_load_acquire(&flag), 1);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub use ksync_atomic as atomic;
pub use ksync_barrier as barrier;
pub use ksync_futex as futex;
pub use ksync_mutex as mutex;
pub use ksync_percpu as percpu;
pub use ksync_refcount as refcount;
pub use ksync_spinlock as spinlock;

pub use ksync_compat as compat;
pub use ksync_litmus as litmus;

#[cfg(all(feature = "harness", not(loom)))]
pub use ksync_harness as harness;
