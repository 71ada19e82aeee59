//! Fences: `barrier()`, the SMP fences, the mandatory fences, and `cpu_relax()`.
//!
//! Mirrors `include/asm-generic/barrier.h` and `arch/x86/include/asm/barrier.h`. On x86-64 the
//! asm backend emits the kernel's instructions; the portable backend maps each fence onto the
//! weakest `core::sync::atomic::fence` that gives at least the kernel's guarantee.

use crate::sync::atomic::{fence, Ordering};

crate::cfg_asm! {
    /// The kernel's x86-64 instructions.
    mod arch {
        use core::arch::asm;
        use core::mem::MaybeUninit;

        #[inline(always)]
        pub(super) fn smp_mb() {
            let mut slot = MaybeUninit::<u32>::uninit();
            // SAFETY: the asm adds zero to a 4-byte stack slot this function owns (`slot`) and
            // touches no other memory. The implicit memory clobber makes it a compiler barrier;
            // `lock` makes it a full hardware barrier. It clobbers the flags.
            unsafe {
                asm!("lock add dword ptr [{slot}], 0", slot = in(reg) slot.as_mut_ptr(), options(nostack));
            }
        }

        #[inline(always)]
        pub(super) fn mb() {
            // SAFETY: `mfence` reads and writes no memory or registers; the implicit memory
            // clobber makes it a compiler barrier too.
            unsafe { asm!("mfence", options(nostack, preserves_flags)) };
        }

        #[inline(always)]
        pub(super) fn rmb() {
            // SAFETY: as for `mfence`.
            unsafe { asm!("lfence", options(nostack, preserves_flags)) };
        }

        #[inline(always)]
        pub(super) fn wmb() {
            // SAFETY: as for `mfence`.
            unsafe { asm!("sfence", options(nostack, preserves_flags)) };
        }

        /// Locked instructions are full barriers; only the compiler needs telling.
        #[inline(always)]
        pub(super) fn smp_mb__before_atomic() {
            super::barrier();
        }
    }
}

crate::cfg_portable! {
    /// `core::sync::atomic::fence` (loom's under `cfg(loom)`).
    mod arch {
        use crate::sync::atomic::{fence, Ordering};

        #[inline(always)]
        pub(super) fn smp_mb() {
            fence(Ordering::SeqCst);
        }

        #[inline(always)]
        pub(super) fn mb() {
            fence(Ordering::SeqCst);
        }

        #[inline(always)]
        pub(super) fn rmb() {
            fence(Ordering::Acquire);
        }

        #[inline(always)]
        pub(super) fn wmb() {
            fence(Ordering::Release);
        }

        /// Relaxed Rust RMWs order nothing: a real fence is needed.
        #[inline(always)]
        pub(super) fn smp_mb__before_atomic() {
            fence(Ordering::SeqCst);
        }
    }
}

/// Compiler barrier: the compiler may not move memory accesses across it. Emits nothing.
///
/// The kernel's `barrier()`, `asm volatile("" ::: "memory")`.
///
/// * **x86-64:** no instruction.
/// * **Rust model:** `compiler_fence(SeqCst)`. It orders accesses only against code on the *same*
///   thread (a signal handler), never against other threads. Under loom it is a no-op: loom
///   has no compiler fence, and a cross-thread effect would only hide bugs.
#[inline(always)]
pub fn barrier() {
    #[cfg(not(loom))]
    crate::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// Full SMP memory barrier: every load and store before it is ordered before every load and
/// store after it, for all CPUs.
///
/// The kernel's `smp_mb()`.
///
/// * **x86-64:** `lock add dword ptr [rsp-4], 0`, a locked add of zero to a stack slot, like the
///   kernel (which chose it over `mfence` in 2017: it is a full barrier for normal memory and
///   costs about half as much). The slot is a `MaybeUninit` local, so the compiler, not the asm,
///   owns it; it lands at `-4(%rsp)`, the kernel's offset.
/// * **Rust model:** `fence(SeqCst)` (the portable backend emits exactly that). It is the only
///   ksync primitive that orders a store before a later load of another location (the
///   store-buffering pattern); acquire and release never do.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
/// let (x, y) = (AtomicU32::new(0), AtomicU32::new(0));
/// x.store(1, Relaxed);
/// ksync_barrier::smp_mb(); // the store to x is visible before y is read
/// let _r = y.load(Relaxed);
/// ```
#[inline(always)]
pub fn smp_mb() {
    arch::smp_mb();
}

/// SMP read barrier: loads before it are ordered before loads after it.
///
/// The kernel's `smp_rmb()`.
///
/// * **x86-64:** no instruction (TSO never reorders loads with loads), only a compiler barrier,
///   as in the kernel.
/// * **Rust model:** `fence(Acquire)`, which also lowers to nothing on x86-64. It is stronger
///   than load-load: an acquire fence also orders the earlier loads before *later stores*.
#[inline(always)]
pub fn smp_rmb() {
    fence(Ordering::Acquire);
}

/// SMP write barrier: stores before it are ordered before stores after it.
///
/// The kernel's `smp_wmb()`.
///
/// * **x86-64:** no instruction (TSO never reorders stores with stores), only a compiler barrier,
///   as in the kernel.
/// * **Rust model:** `fence(Release)`, which also lowers to nothing on x86-64. This is
///   *stronger* than the kernel's store-store ordering: a release fence also orders the earlier
///   *loads* before later stores. Code written against ksync can therefore rely on less than
///   LKMM's `smp_wmb()` forbids, never more: do not rely on the extra load-store ordering if
///   the code is meant to read like the kernel's.
#[inline(always)]
pub fn smp_wmb() {
    fence(Ordering::Release);
}

/// Mandatory full barrier, for device memory and DMA as well as SMP.
///
/// The kernel's `mb()`.
///
/// * **x86-64:** `mfence` (also orders non-temporal stores and write-combining memory, which a
///   locked instruction does not).
/// * **Rust model:** `fence(SeqCst)`; the model has no device memory.
#[inline(always)]
pub fn mb() {
    arch::mb();
}

/// Mandatory read barrier.
///
/// The kernel's `rmb()`.
///
/// * **x86-64:** `lfence`.
/// * **Rust model:** `fence(Acquire)`.
#[inline(always)]
pub fn rmb() {
    arch::rmb();
}

/// Mandatory write barrier.
///
/// The kernel's `wmb()`.
///
/// * **x86-64:** `sfence` (orders non-temporal and write-combining stores).
/// * **Rust model:** `fence(Release)`.
#[inline(always)]
pub fn wmb() {
    arch::wmb();
}

/// Full barrier before a non-value-returning atomic RMW (`atomic_inc` and friends).
///
/// The kernel's `smp_mb__before_atomic()`.
///
/// * **x86-64 (asm backend):** no instruction, as in the kernel: every RMW of `ksync-atomic` is
///   a `lock`-prefixed asm instruction, itself a full barrier and a compiler barrier. Only
///   a compiler barrier is emitted here. With the asm backend this is exact for ksync-atomic's
///   operations. For a `core` atomic RMW it holds on the hardware, but the Rust model promises
///   it for none, `SeqCst` included: a `SeqCst` RMW does not order the relaxed accesses around
///   it (pitfall 9). Pair it with ksync-atomic's RMWs, or use [`smp_mb`].
/// * **portable:** `fence(SeqCst)`, because ksync-atomic's relaxed RMWs are then Rust relaxed
///   atomics, which a bare RMW does not order.
#[inline(always)]
pub fn smp_mb__before_atomic() {
    arch::smp_mb__before_atomic();
}

/// Full barrier after a non-value-returning atomic RMW.
///
/// The kernel's `smp_mb__after_atomic()`. Same code and caveat as [`smp_mb__before_atomic`].
#[inline(always)]
pub fn smp_mb__after_atomic() {
    smp_mb__before_atomic();
}

/// Upgrades a control dependency to an acquire: loads before the branch are ordered before all
/// loads and stores after it.
///
/// The kernel's `smp_acquire__after_ctrl_dep()` (= `smp_rmb()`), used after a spin-wait or a
/// conditional RMW whose result decided a branch.
///
/// * **x86-64:** no instruction.
/// * **Rust model:** `fence(Acquire)`. Rust compilers keep no control dependencies, so unlike the
///   kernel ksync does not rely on one for the load-to-store half: the acquire fence provides
///   both halves.
#[inline(always)]
pub fn smp_acquire__after_ctrl_dep() {
    fence(Ordering::Acquire);
}

/// Spin-wait hint for busy loops.
///
/// The kernel's `cpu_relax()`.
///
/// * **x86-64:** `pause` (the kernel's `rep; nop`): saves power, frees the sibling hyperthread,
///   and avoids a memory-order mis-speculation flush when the awaited line changes. Its latency
///   is about 10 cycles before Skylake and about 140 after; spin budgets must be measured.
/// * **loom:** a yield to the model scheduler, so spin loops terminate in the model.
#[inline(always)]
pub fn cpu_relax() {
    crate::sync::hint::spin_loop();
}
