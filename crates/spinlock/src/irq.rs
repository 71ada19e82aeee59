//! The irqsave analog: a spinlock that blocks asynchronous signals while it is held.
//!
//! Mirrors `spin_lock_irqsave` / `spin_unlock_irqrestore` (`include/linux/spinlock.h`) and
//! `local_irq_save` / `local_irq_restore` (`include/linux/irqflags.h`).
//!
//! In the kernel, an interrupt handler that takes a spinlock already held by the code it
//! interrupted deadlocks its own CPU; `spin_lock_irqsave` prevents that by disabling interrupts
//! on the CPU before taking the lock and restoring them after unlocking. The user-space analog of
//! an interrupt is an asynchronous signal, which interrupts a *thread*:
//!
//! | kernel | ksync |
//! |---|---|
//! | IRQ | asynchronous signal delivered to the thread |
//! | `local_irq_save(flags)` | `pthread_sigmask(SIG_BLOCK, async signals, &saved)` ([`local_irq_save`]) |
//! | `local_irq_restore(flags)` | `pthread_sigmask(SIG_SETMASK, &saved)` ([`local_irq_restore`]) |
//! | `spin_lock_irqsave(l, flags)` | `SpinLockIrq::lock()`; the saved mask lives in the guard |
//!
//! A signal arriving while the lock is held stays pending and is delivered right after the
//! unlock restores the mask. Synchronous signals (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`,
//! `SIGTRAP`, `SIGSYS`) are never blocked: they are caused by the thread itself, and blocking them
//! would turn a fault into undefined behaviour. The guard is `!Send`: the mask belongs to the
//! thread that saved it.
//!
//! **Nesting: release in reverse order**, as the kernel's `spin_unlock_irqrestore` calls must be.
//! Each guard restores the mask it saved; dropping an outer guard before an inner one restores
//! the unblocked mask while the inner lock is still held, and a signal handler taking that inner
//! lock then deadlocks, as the kernel would. Rust's scoping gives the right order unless guards
//! are dropped explicitly or moved.
//!
//! Cost: two `rt_sigprocmask` system calls per lock/unlock pair (a few hundred nanoseconds),
//! where the kernel's `cli`/`popf` cost a few cycles. Use it only for data that signal handlers
//! share with the interrupted code.

use lock_api::{GuardNoSend, RawMutex};

use crate::qspinlock::RawQSpinLock;

/// The signal mask saved by [`local_irq_save`] (the kernel's `flags`).
pub struct IrqFlags {
    saved: libc::sigset_t,
}

/// Blocks asynchronous signals on the calling thread and returns the previous mask
/// (`local_irq_save`).
///
/// ```
/// let flags = ksync_spinlock::local_irq_save();
/// // ... no asynchronous signal handler runs on this thread here ...
/// ksync_spinlock::local_irq_restore(flags);
/// ```
pub fn local_irq_save() -> IrqFlags {
    // SAFETY: `sigset_t` is plain data and every set is initialised by `sigfillset` /
    // `sigemptyset` before use; `pthread_sigmask` only reads `block` and writes `saved`.
    unsafe {
        let mut block: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut block);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGSYS,
        ] {
            libc::sigdelset(&mut block, sig);
        }
        let mut saved: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut saved);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut saved);
        assert_eq!(rc, 0, "pthread_sigmask(SIG_BLOCK) failed: {rc}");
        IrqFlags { saved }
    }
}

/// Restores the signal mask saved by [`local_irq_save`] (`local_irq_restore`). Signals that
/// arrived meanwhile are delivered now.
pub fn local_irq_restore(flags: IrqFlags) {
    // SAFETY: `flags.saved` was filled by `pthread_sigmask`; the call only reads it.
    let rc =
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &flags.saved, core::ptr::null_mut()) };
    assert_eq!(rc, 0, "pthread_sigmask(SIG_SETMASK) failed: {rc}");
}

/// A raw spinlock taken with asynchronous signals blocked (`spin_lock_irqsave`).
///
/// Wraps any raw lock; [`SpinLockIrq<T>`](crate::SpinLockIrq) uses the paravirt qspinlock.
///
/// ```
/// use ksync_spinlock::SpinLockIrq;
/// static SHARED_WITH_HANDLER: SpinLockIrq<u32> = SpinLockIrq::new(0);
/// *SHARED_WITH_HANDLER.lock() += 1; // signals blocked until the guard drops
/// assert_eq!(*SHARED_WITH_HANDLER.lock(), 1);
/// ```
pub struct RawSpinLockIrq<R: RawMutex = RawQSpinLock> {
    inner: R,
}

/// The guard state of [`RawSpinLockIrq`]: the inner lock's state and the saved signal mask.
/// `!Send`: the mask must be restored on the thread that saved it.
pub struct IrqGuard<G> {
    inner: G,
    flags: IrqFlags,
    _not_send: GuardNoSend,
}

// SAFETY: `lock` blocks signals and then takes the inner lock, `unlock` releases the inner lock
// and then restores the mask: exclusion and ordering are the inner lock's.
unsafe impl<R: RawMutex> RawMutex for RawSpinLockIrq<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawSpinLockIrq { inner: R::INIT };
    type Guard = IrqGuard<R::Guard>;

    #[inline]
    fn lock(&self) -> Self::Guard {
        let flags = local_irq_save();
        let inner = self.inner.lock();
        IrqGuard {
            inner,
            flags,
            _not_send: GuardNoSend::new(),
        }
    }

    #[inline]
    fn try_lock(&self) -> Option<Self::Guard> {
        let flags = local_irq_save();
        match self.inner.try_lock() {
            Some(inner) => Some(IrqGuard {
                inner,
                flags,
                _not_send: GuardNoSend::new(),
            }),
            None => {
                local_irq_restore(flags);
                None
            }
        }
    }

    #[inline]
    unsafe fn unlock(&self, guard: Self::Guard) {
        // SAFETY: `guard.inner` is the inner lock's state for this acquisition.
        unsafe { self.inner.unlock(guard.inner) };
        local_irq_restore(guard.flags);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}
