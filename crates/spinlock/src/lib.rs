//! # ksync-spinlock: the kernel's spinlocks, as `lock_api` raw mutexes
//!
//! | lock | kernel counterpart | lock / unlock (x86-64) | waiters | use it when |
//! |---|---|---|---|---|
//! | [`RawQSpinLock`] ([`SpinLock<T>`]) | `qspinlock.c` + `qspinlock_paravirt.h` on futex | `lock cmpxchg` / `lock cmpxchg` | queue; spin, then sleep | **the default**: any number of threads |
//! | [`RawQSpinLockNative`] ([`QSpinLockNative<T>`]) | `qspinlock.c` on bare metal | `lock cmpxchg` / byte `mov` | pending lane + MCS queue, spinning | one thread per core, never preempted |
//! | [`RawTicketLock`] ([`TicketLock<T>`]) | `asm-generic/ticket_spinlock.h` | `lock xadd` / 16-bit `mov` | FIFO, all spin on one line | study; strict FIFO on dedicated cores |
//! | [`RawTasLock`] ([`TasLock<T>`]) | bit spinlock, `virt_spin_lock` | `lock bts` / `mov` | unfair, spin on reads | study; tiny critical sections |
//!
//! Every raw lock is 4 bytes and implements [`lock_api::RawMutex`] (lock_api 0.5), so the type
//! aliases below are [`lock_api::Mutex`]es with `const fn new` (usable in `static`s), guards,
//! `try_lock`, `is_locked`, mapping, and so on.
//!
//! ```
//! use ksync_spinlock::SpinLock;
//! static COUNTER: SpinLock<u64> = SpinLock::new(0);
//! *COUNTER.lock() += 1;
//! assert_eq!(*COUNTER.lock(), 1);
//! ```
//!
//! The queued spinlock is the heart of this crate; the [`qspinlock`] module docs and
//! `docs/spinlock.md` walk through it. [`SpinLockIrq<T>`] is the `spin_lock_irqsave` analog
//! (asynchronous signals blocked while held), and the `trace` feature exposes every transition of
//! the lock word ([`trace`]).
//!
//! ## What user space changes
//!
//! * **Per-CPU nodes become per-thread-slot nodes** ([`ksync_percpu::this_slot`]): a thread can be
//!   migrated at any instruction, so "this CPU" means nothing to it. Nesting (the 2-bit tail index)
//!   comes from signal handlers instead of softirq/hardirq/NMI.
//! * **Waiters get preempted.** The kernel's native spinlock runs with preemption disabled; in user
//!   space any waiter, and the owner, can lose its CPU for a whole time slice. A FIFO queue then
//!   waits for the slowest member: this is why [`RawQSpinLock`] (paravirt: spin, then sleep on a
//!   futex; lock stealing while the head sleeps) is the default.
//! * **No IRQs.** Signals are the analog ([`irq`]).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// Kernel names (`_Q_LOCKED_VAL`, `smp_mb__before_atomic`) are kept verbatim.
#![allow(non_upper_case_globals)]

pub mod qspinlock;
pub mod tas;
pub mod ticket;
pub mod trace;

#[cfg(all(unix, not(loom)))]
pub mod irq;

pub use qspinlock::{QSpinGuard, RawQSpinLock, RawQSpinLockNative};
pub use tas::RawTasLock;
pub use ticket::RawTicketLock;

#[cfg(all(unix, not(loom)))]
pub use irq::{local_irq_restore, local_irq_save, IrqFlags, IrqGuard, RawSpinLockIrq};

/// The spinlock to use: the paravirt qspinlock (spin, then sleep).
#[cfg(not(loom))]
pub type SpinLock<T> = lock_api::Mutex<RawQSpinLock, T>;
/// Guard of a [`SpinLock`].
#[cfg(not(loom))]
pub type SpinLockGuard<'a, T> = lock_api::MutexGuard<'a, RawQSpinLock, T>;
/// The native (bare-metal) qspinlock: waiters only spin.
#[cfg(not(loom))]
pub type QSpinLockNative<T> = lock_api::Mutex<RawQSpinLockNative, T>;
/// Guard of a [`QSpinLockNative`].
#[cfg(not(loom))]
pub type QSpinLockNativeGuard<'a, T> = lock_api::MutexGuard<'a, RawQSpinLockNative, T>;
/// The ticket lock.
#[cfg(not(loom))]
pub type TicketLock<T> = lock_api::Mutex<RawTicketLock, T>;
/// Guard of a [`TicketLock`].
#[cfg(not(loom))]
pub type TicketLockGuard<'a, T> = lock_api::MutexGuard<'a, RawTicketLock, T>;
/// The test-and-test-and-set lock.
#[cfg(not(loom))]
pub type TasLock<T> = lock_api::Mutex<RawTasLock, T>;
/// Guard of a [`TasLock`].
#[cfg(not(loom))]
pub type TasLockGuard<'a, T> = lock_api::MutexGuard<'a, RawTasLock, T>;
/// The qspinlock taken with asynchronous signals blocked (`spin_lock_irqsave`).
#[cfg(all(unix, not(loom)))]
pub type SpinLockIrq<T> = lock_api::Mutex<RawSpinLockIrq<RawQSpinLock>, T>;
/// Guard of a [`SpinLockIrq`] (`!Send`).
#[cfg(all(unix, not(loom)))]
pub type SpinLockIrqGuard<'a, T> = lock_api::MutexGuard<'a, RawSpinLockIrq<RawQSpinLock>, T>;
