//! `LocalCounter`: the kernel's `local_t` (`include/asm-generic/local.h`,
//! `arch/x86/include/asm/local.h`).
//!
//! The contract, the instructions and the caveats are documented on [`LocalCounter`].

use ksync_barrier::sync::atomic::{AtomicI64, Ordering};

ksync_barrier::cfg_asm! {
    /// The kernel's x86-64 instructions: no `lock` prefix.
    mod arch {
        use core::arch::asm;
        use ksync_barrier::sync::atomic::AtomicI64;

        #[inline(always)]
        pub(super) fn add(v: &AtomicI64, i: i64) {
            // SAFETY: `v.as_ptr()` is a valid, 8-byte aligned i64 inside an `AtomicI64` we
            // borrow. The unlocked `add` reads and writes that quadword only (each access
            // indivisible), i.e. it acts as a relaxed atomic load plus store, which is what the
            // portable backend does. It clobbers the flags; the implicit memory clobber keeps
            // the compiler from caching the value across it.
            unsafe {
                asm!("add qword ptr [{p}], {i}", p = in(reg) v.as_ptr(), i = in(reg) i, options(nostack));
            }
        }

        #[inline(always)]
        pub(super) fn add_return(v: &AtomicI64, i: i64) -> i64 {
            let mut old = i;
            // SAFETY: as in `add`; `xadd` without `lock` writes the old value into the
            // register and the sum into memory, one instruction.
            unsafe {
                asm!("xadd qword ptr [{p}], {old}", p = in(reg) v.as_ptr(), old = inout(reg) old, options(nostack));
            }
            old.wrapping_add(i)
        }
    }
}

ksync_barrier::cfg_portable! {
    /// A relaxed load and a relaxed store: one-writer safe, not signal-safe.
    mod arch {
        use ksync_barrier::sync::atomic::{AtomicI64, Ordering};

        #[inline(always)]
        pub(super) fn add(v: &AtomicI64, i: i64) {
            add_return(v, i);
        }

        #[inline(always)]
        pub(super) fn add_return(v: &AtomicI64, i: i64) -> i64 {
            // Relaxed: `local_t` orders nothing; only the owner writes, so load+store is
            // exact for it.
            let new = v.load(Ordering::Relaxed).wrapping_add(i);
            v.store(new, Ordering::Relaxed);
            new
        }
    }
}

/// A one-writer counter: the kernel's `local_t` (64-bit, like `local64_t` on x86-64).
///
/// A `local_t` is a counter with **one writer**, the CPU that owns it, and any number of
/// readers. Because no other CPU writes it, an update needs no `lock` prefix: on x86 the kernel
/// emits a plain `add`/`inc`/`xadd` on memory. A single instruction cannot be split by an
/// interrupt on the same CPU, so the update is atomic with respect to the owner's own interrupt
/// handlers, but not with respect to other CPUs (they may only read). That is exactly its
/// contract, and why it is cheaper than `atomic_long_t` (no locked RMW, no full barrier).
///
/// ## ksync's version
///
/// * **x86-64 asm backend:** `add qword ptr [mem], reg` and `xadd qword ptr [mem], reg` without
///   `lock`, like the kernel. Atomic with respect to a signal handler on the owning thread
///   (user space's interrupt), not SMP-atomic.
/// * **portable backend:** a relaxed atomic load and a relaxed atomic store. Neither
///   signal-safe (a handler that runs between the two loses its update) nor SMP-atomic; still
///   correct for the one-writer contract without signal handlers.
///
/// Readers on other threads use [`LocalCounter::read`], a relaxed load: they see some recent
/// value, never a torn one.
///
/// ## If the contract is broken
///
/// Two threads updating one `LocalCounter` at once lose updates (both backends): each update
/// is a read and a write that another writer can slip between. That is a wrong count, never
/// undefined behaviour: the memory is an `AtomicI64` and every access is an atomic one (the asm
/// `add` reads and writes an aligned quadword, each access indivisible, so it behaves as a
/// relaxed load followed by a relaxed store). Use `ksync_atomic` when several threads write.
///
/// Updates wrap on overflow (two's complement), as in the kernel.
///
/// ```
/// use ksync_percpu::LocalCounter;
/// let c = LocalCounter::new(5);
/// c.inc();
/// c.add(10);
/// assert_eq!(c.sub_return(6), 10);
/// assert_eq!(c.read(), 10);
/// ```
#[repr(transparent)]
#[derive(Default)]
pub struct LocalCounter {
    v: AtomicI64,
}

impl LocalCounter {
    /// A counter holding `v` (`LOCAL_INIT(v)`).
    #[cfg(not(loom))]
    pub const fn new(v: i64) -> Self {
        LocalCounter {
            v: AtomicI64::new(v),
        }
    }

    /// A counter holding `v` (`LOCAL_INIT(v)`).
    #[cfg(loom)]
    pub fn new(v: i64) -> Self {
        LocalCounter {
            v: AtomicI64::new(v),
        }
    }

    /// `local_read`: the current value; any thread may call it.
    #[inline]
    pub fn read(&self) -> i64 {
        // Relaxed: READ_ONCE; a reader on another thread sees some recent, untorn value.
        self.v.load(Ordering::Relaxed)
    }

    /// `local_set`: stores `v` (owner only).
    #[inline]
    pub fn set(&self, v: i64) {
        // Relaxed: WRITE_ONCE.
        self.v.store(v, Ordering::Relaxed);
    }

    /// `local_add`: adds `i` (owner only).
    #[inline]
    pub fn add(&self, i: i64) {
        arch::add(&self.v, i);
    }

    /// `local_sub`: subtracts `i` (owner only).
    #[inline]
    pub fn sub(&self, i: i64) {
        arch::add(&self.v, i.wrapping_neg());
    }

    /// `local_inc` (owner only).
    #[inline]
    pub fn inc(&self) {
        arch::add(&self.v, 1);
    }

    /// `local_dec` (owner only).
    #[inline]
    pub fn dec(&self) {
        arch::add(&self.v, -1);
    }

    /// `local_add_return`: adds `i` and returns the new value (owner only).
    #[inline]
    pub fn add_return(&self, i: i64) -> i64 {
        arch::add_return(&self.v, i)
    }

    /// `local_sub_return`: subtracts `i` and returns the new value (owner only).
    #[inline]
    pub fn sub_return(&self, i: i64) -> i64 {
        arch::add_return(&self.v, i.wrapping_neg())
    }
}

impl core::fmt::Debug for LocalCounter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("LocalCounter").field(&self.read()).finish()
    }
}
