//! # ksync-futex: wait and wake on a 32-bit word
//!
//! The sleeping half of ksync's locks. The kernel's spinlocks and mutexes sleep through the
//! scheduler (`schedule()`/`wake_up_process()`) and, under a hypervisor, through the
//! paravirt hooks `pv_wait(ptr, val)` / `pv_kick(cpu)` of `kernel/locking/qspinlock_paravirt.h`.
//! User space has one primitive for both: `futex(2)`. This crate is that primitive, reduced to
//! the contract the locks need, with the same contract on every platform and under loom.
//!
//! | ksync | kernel analog | Linux | other OSes | `cfg(loom)` |
//! |---|---|---|---|---|
//! | [`wait`] / [`wait_until`] | `pv_wait(ptr, val)`; `schedule()` after a state check | `FUTEX_WAIT_BITSET \| FUTEX_PRIVATE_FLAG`, absolute `CLOCK_MONOTONIC` deadline | `parking_lot_core::park` keyed by the word's address | loom `Mutex` + `Condvar` |
//! | [`wake_one`] | `pv_kick(cpu)`, `wake_up_process()` | `FUTEX_WAKE \| FUTEX_PRIVATE_FLAG`, 1 | `parking_lot_core::unpark_one` | the same loom `Mutex` + `Condvar` |
//! | [`wake_all`] | `wake_up_all()` | `FUTEX_WAKE \| FUTEX_PRIVATE_FLAG`, `i32::MAX` | `parking_lot_core::unpark_all` | the same |
//!
//! ```
//! use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
//! use ksync_futex::{wait, wake_one, WaitResult};
//! use std::{sync::Arc, thread};
//!
//! let flag = Arc::new(AtomicU32::new(0));
//! let f = flag.clone();
//! let waiter = thread::spawn(move || {
//!     // The futex loop: re-check the condition after every return, spurious or not.
//!     while f.load(Ordering::Acquire) == 0 {
//!         let _ = wait(&*f, 0, None);
//!     }
//! });
//! flag.store(1, Ordering::Release); // publish the condition first...
//! wake_one(&*flag); // ...then wake: a waiter either sees 1 or is woken
//! waiter.join().unwrap();
//! # assert_eq!(wait(&*flag, 0, None), WaitResult::Mismatch);
//! ```
//!
//! ## The contract
//!
//! * **Value-checked sleep.** [`wait`] puts the thread to sleep only if the word still holds
//!   `expected`, and that check is atomic with the sleep *with respect to [`wake_one`] /
//!   [`wake_all`] on the same word*: a waker that changes the word and then calls `wake_*`
//!   either makes the waiter's check fail ([`WaitResult::Mismatch`]) or finds the waiter asleep
//!   and wakes it. This is the only thing that prevents lost wakeups, and the only thing a caller
//!   may rely on.
//! * **Spurious wakeups are allowed.** [`WaitResult::Woken`] means "woken by a wake, or for no
//!   reason". Every wait sits in a loop that re-checks the caller's condition.
//! * **Timeouts** are honoured: a wait with a timeout returns [`WaitResult::TimedOut`] no
//!   earlier than the deadline (monotonic clock) unless it is woken first. A value mismatch is
//!   reported as [`WaitResult::Mismatch`] even when the deadline has already passed.
//! * Words are identified by address: wakers and waiters must use the same `AtomicU32`. Only
//!   threads of this process are involved (the private futex flag on Linux).
//!
//! ## Memory ordering
//!
//! In the kernel, `futex_wait` queues the waiter on a hash bucket, issues a full barrier
//! (`smp_mb()`) and only then reads the user word; `futex_wake` issues the pairing full barrier
//! before it looks for queued waiters. That is the store-buffering handshake of the kernel's
//! pitfall list (section 8, item 10): each side publishes, fences, then reads the other's
//! state. So a wait that enters the kernel behaves, for its value check, as if it began with
//! `smp_mb()`, and a wake as if it began with `smp_mb()`.
//!
//! What ksync promises is narrower: the other backends implement the handshake with a lock
//! rather than with fences, and ksync's [`wait`] answers [`WaitResult::Mismatch`] (and a zero
//! timeout) from a relaxed load in user space, without entering the kernel at all:
//!
//! * the no-lost-wakeup guarantee above, for the word itself, whatever ordering the caller
//!   used to modify it (a `Relaxed` store before `wake_*` is enough);
//! * **nothing else**: a return from [`wait`] (any variant) orders nothing, and `wake_*` is not
//!   a release. A caller that needs to see data published by the waker re-reads the word (or
//!   a flag) with `Acquire`, as the example above does.
//!
//! ksync's own locks never lean on the syscall's barrier: every spin-then-sleep handshake
//! (`state = HALTED; smp_mb(); re-check` against `publish; smp_mb(); read state`) has its own
//! explicit `smp_mb()`, so the locks are correct on every backend and under loom.
//!
//! ## Costs
//!
//! Measured by `benches/futex.rs`; `docs/perf.md` ("Futex costs") has the table and the
//! machine. In round numbers on x86-64 Linux:
//!
//! | operation | cost | why |
//! |---|---|---|
//! | [`wake_one`] with no waiter | ~230 ns | one `FUTEX_WAKE` syscall that finds an empty bucket |
//! | [`wait`] whose word already differs | a few ns | a relaxed load in user space (no syscall) |
//! | [`wait`] whose word changes just before the kernel's check | ~230 ns | one syscall, `EAGAIN` |
//! | [`wait`] with a zero timeout (or a deadline already passed) | a few ns | answered in user space |
//! | [`wait`] with a 1 µs timeout that expires | ~60 µs | a real sleep, stretched by the timer slack |
//! | a sleep/wake round trip between two threads | ~5-10 µs | two wakeups of a sleeping thread |
//!
//! Consequences for the locks: a wake costs a syscall even when nobody sleeps, so a lock keeps
//! a "sleepers present" state (the kernel's `_Q_SLOW_VAL`, glibc's 2) and wakes only when it is
//! set; spinning for less than a round trip before sleeping is cheap insurance, much longer is
//! waste; and short timeouts are not short: the kernel rounds a timed sleep up by the thread's
//! timer slack (50 µs by default, `prctl(PR_SET_TIMERSLACK)`).
//!
//! [`wait`] checks the word in user space before the syscall (as KVM's `pv_wait` reads the
//! byte before halting): a word that already differs costs a load, not a syscall. The kernel
//! still re-checks under its bucket lock, so the check that matters stays atomic with the sleep.
//!
//! ## Where user space differs from the kernel
//!
//! * The kernel's `pv_kick(cpu)` names a vCPU; a futex wake names a *word*. ksync's qspinlock
//!   gives every thread its own word to sleep on (`ksync_percpu::current().futex()`), which
//!   makes a word an exact stand-in for a CPU.
//! * `wake_one` reports whether it woke a thread. Linux and parking_lot_core count exactly; the
//!   loom twin counts exactly too (see below). A `true` still only means a thread was made
//!   runnable, not that it has run.
//! * Timed waits use the monotonic clock: wall-clock jumps do not move deadlines. The
//!   conversion from [`Instant`] is done by measuring the remaining time, so a deadline is
//!   honoured up to the cost of two clock reads.
//!
//! ## Loom
//!
//! Under `cfg(loom)` the syscall is invisible to the model checker, so this crate swaps in a
//! loom-visible twin that *really blocks*: one loom `Mutex` + `Condvar` per model execution,
//! and a table of sleepers keyed by address. [`wait`] checks the word under the mutex, registers
//! itself and waits on the condvar until a wake picks it (no spurious wakeups in the model, so
//! a lock that needs `wake_all` but calls `wake_one` is caught); the wakes mark sleepers under
//! the same mutex and notify. A lost wakeup in a lock model therefore leaves a thread blocked
//! forever, which loom reports as a deadlock. A yield loop would hide exactly that bug.
//!
//! Loom has no time: a wait with a timeout or deadline checks the word and, if it still holds
//! `expected`, returns [`WaitResult::TimedOut`] at once. That explores the "gave up waiting"
//! path of a lock deterministically.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use std::time::{Duration, Instant};

use ksync_barrier::sync::atomic::AtomicU32;

#[cfg(all(target_os = "linux", not(loom)))]
mod linux;
#[cfg(all(target_os = "linux", not(loom)))]
use linux as imp;

#[cfg(all(not(target_os = "linux"), not(loom)))]
mod parking;
#[cfg(all(not(target_os = "linux"), not(loom)))]
use parking as imp;

#[cfg(loom)]
mod loom_twin;
#[cfg(loom)]
use loom_twin as imp;

mod sealed {
    pub trait Sealed {}
}

/// A 32-bit word a thread can sleep on: [`AtomicU32`], or ksync's kernel-style
/// [`ksync_atomic::Atomic`] (`atomic_t`, whose value is compared as its `u32` bit pattern).
///
/// The qspinlock's waiters sleep on its lock word and on their queue node's state, both
/// `atomic_t`s like the kernel's; the mutex's on a thread's `AtomicU32`. Sealed: a futex word
/// must be a naturally aligned 32-bit atomic.
pub trait FutexWord: sealed::Sealed {
    /// The current value, relaxed (the futex's own check is atomic with the sleep).
    #[doc(hidden)]
    fn futex_load(&self) -> u32;
    /// The key sleepers and wakers meet at: the word's address.
    #[doc(hidden)]
    fn futex_addr(&self) -> usize;
    /// The word itself, for the system call.
    #[cfg(not(loom))]
    #[doc(hidden)]
    fn futex_ptr(&self) -> *mut u32;
}

impl sealed::Sealed for AtomicU32 {}
impl FutexWord for AtomicU32 {
    #[inline(always)]
    fn futex_load(&self) -> u32 {
        // Relaxed: see the trait.
        self.load(ksync_barrier::sync::atomic::Ordering::Relaxed)
    }
    #[inline(always)]
    fn futex_addr(&self) -> usize {
        self as *const AtomicU32 as usize
    }
    #[cfg(not(loom))]
    #[inline(always)]
    fn futex_ptr(&self) -> *mut u32 {
        self.as_ptr()
    }
}

impl sealed::Sealed for ksync_atomic::Atomic {}
impl FutexWord for ksync_atomic::Atomic {
    #[inline(always)]
    fn futex_load(&self) -> u32 {
        // `atomic_read`: unordered, as above; the bit pattern as u32.
        self.read() as u32
    }
    #[inline(always)]
    fn futex_addr(&self) -> usize {
        self as *const ksync_atomic::Atomic as usize
    }
    #[cfg(not(loom))]
    #[inline(always)]
    fn futex_ptr(&self) -> *mut u32 {
        // `Atomic` is a transparent `AtomicI32`: a naturally aligned 32-bit word.
        self.as_ptr().cast()
    }
}

impl<W: FutexWord + ?Sized> sealed::Sealed for ksync_barrier::sync::Arc<W> {}
/// An `Arc` of a futex word is that word (the key is the word's address, not the `Arc`'s), so
/// `wait(&arc, ..)` works as `wait(&*arc, ..)` does.
impl<W: FutexWord + ?Sized> FutexWord for ksync_barrier::sync::Arc<W> {
    #[inline(always)]
    fn futex_load(&self) -> u32 {
        (**self).futex_load()
    }
    #[inline(always)]
    fn futex_addr(&self) -> usize {
        (**self).futex_addr()
    }
    #[cfg(not(loom))]
    #[inline(always)]
    fn futex_ptr(&self) -> *mut u32 {
        (**self).futex_ptr()
    }
}

/// How a [`wait`] ended.
#[must_use = "a futex wait can return spuriously: re-check the condition"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitResult {
    /// Woken by a [`wake_one`] / [`wake_all`], or spuriously. Re-check the condition.
    Woken,
    /// The word did not hold `expected` when checked: the thread did not sleep.
    Mismatch,
    /// The timeout expired (the word still held `expected` when the thread went to sleep).
    TimedOut,
}

impl WaitResult {
    /// `true` for [`WaitResult::TimedOut`].
    #[inline]
    pub fn is_timed_out(self) -> bool {
        self == WaitResult::TimedOut
    }

    /// `true` for [`WaitResult::Woken`].
    #[inline]
    pub fn is_woken(self) -> bool {
        self == WaitResult::Woken
    }

    /// `true` for [`WaitResult::Mismatch`].
    #[inline]
    pub fn is_mismatch(self) -> bool {
        self == WaitResult::Mismatch
    }
}

/// Sleeps while `word` holds `expected`, for at most `timeout` (`None`: no limit).
///
/// Returns [`WaitResult::Mismatch`] at once if `word != expected` when checked (the check is
/// atomic with the sleep with respect to [`wake_one`]/[`wake_all`]), [`WaitResult::TimedOut`]
/// when the timeout expired, and [`WaitResult::Woken`] otherwise, which includes spurious
/// wakeups. A timeout too large to represent waits forever. See the crate docs for the memory
/// ordering (none beyond the no-lost-wakeup guarantee).
///
/// ```
/// use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
/// use ksync_futex::{wait, WaitResult};
/// use std::time::Duration;
///
/// let w = AtomicU32::new(1);
/// assert_eq!(wait(&w, 0, None), WaitResult::Mismatch);
/// assert_eq!(wait(&w, 1, Some(Duration::from_millis(1))), WaitResult::TimedOut);
/// ```
#[inline]
pub fn wait<W: FutexWord + ?Sized>(
    word: &W,
    expected: u32,
    timeout: Option<Duration>,
) -> WaitResult {
    if timeout == Some(Duration::ZERO) {
        // Nothing to sleep for: answer from the word alone. (Handing the kernel an expired
        // deadline would cost a trip through its timer code, tens of microseconds with the
        // default timer slack.) Relaxed: the contract promises no ordering.
        return if word.futex_load() == expected {
            WaitResult::TimedOut
        } else {
            WaitResult::Mismatch
        };
    }
    imp::wait(word, expected, timeout)
}

/// Like [`wait`], with an absolute deadline (`None`: no limit). A deadline in the past still
/// checks the word: [`WaitResult::Mismatch`] if it differs, else [`WaitResult::TimedOut`].
///
/// ```
/// use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
/// use ksync_futex::{wait_until, WaitResult};
/// use std::time::Instant;
///
/// let w = AtomicU32::new(0);
/// assert_eq!(wait_until(&w, 0, Some(Instant::now())), WaitResult::TimedOut);
/// ```
#[inline]
pub fn wait_until<W: FutexWord + ?Sized>(
    word: &W,
    expected: u32,
    deadline: Option<Instant>,
) -> WaitResult {
    // `Instant` is CLOCK_MONOTONIC on Linux, but std gives no way to turn one into a timespec:
    // measure what is left instead (a deadline already passed becomes a zero timeout).
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    wait(word, expected, timeout)
}

/// Wakes one thread sleeping in [`wait`] on `word`. Returns whether a thread was woken.
///
/// Exact on every backend (Linux reports the count, parking_lot_core too, and the loom twin
/// keeps its own table). `false` means no thread was sleeping on `word` at that moment.
///
/// ```
/// use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
/// let w = AtomicU32::new(0);
/// assert!(!ksync_futex::wake_one(&w)); // nobody is waiting
/// ```
#[inline]
pub fn wake_one<W: FutexWord + ?Sized>(word: &W) -> bool {
    imp::wake(word, 1) != 0
}

/// Wakes every thread sleeping in [`wait`] on `word`. Returns how many were woken.
///
/// ```
/// use ksync_barrier::sync::atomic::{AtomicU32, Ordering};
/// let w = AtomicU32::new(0);
/// assert_eq!(ksync_futex::wake_all(&w), 0);
/// ```
#[inline]
pub fn wake_all<W: FutexWord + ?Sized>(word: &W) -> usize {
    imp::wake(word, i32::MAX as usize)
}

/// Which implementation this build uses: `"linux-futex"`, `"parking_lot_core"` or `"loom"`.
pub const BACKEND: &str = imp::NAME;
