//! The test-and-test-and-set lock: the textbook spinlock, and the kernel's fallback.
//!
//! Mirrors the kernel's bit-spinlock (`include/linux/bit_spinlock.h`: `test_and_set_bit_lock`
//! to take bit 0, a read-only spin while it is set, `clear_bit_unlock`-style release) and the
//! test-and-set loop `virt_spin_lock` of `arch/x86/include/asm/qspinlock.h`, which replaces the
//! whole qspinlock slow path under a hypervisor without paravirt spinlocks: an unfair lock
//! suffers far less than a fair one when lock holders get preempted.
//!
//! ```text
//!   bit 0 clear --test_and_set_bit_lock (lock bts)--> bit 0 set      lock
//!   bit 0 set   --read-only spin with cpu_relax-----> bit 0 clear?   wait, then retry the bts
//!   bit 0 set   --store-release 0-------------------> bit 0 clear    unlock
//! ```
//!
//! Waiters spin reading (the cache line stays shared) and only retry the atomic when the bit
//! reads clear. No fairness at all: whoever's `bts` lands first wins.

use ksync_atomic::Atomic;
use ksync_barrier::cpu_relax;

/// The lock bit.
const TAS_LOCKED_BIT: u32 = 0;

/// Test-and-test-and-set spinlock on bit 0 of a 32-bit word.
///
/// 4 bytes. Lock: `test_and_set_bit_lock(0)` (x86-64: `lock bts`), acquire on success; between
/// attempts, spin on plain reads with `cpu_relax`. Unlock: `__clear_bit_unlock(0)`, a
/// store-release on x86-64 (one `mov`), the atomic `clear_bit_unlock` elsewhere, as in the
/// kernel's generic bitops.
///
/// ```
/// use ksync_spinlock::TasLock;
/// let lock = TasLock::new(vec![1, 2]);
/// lock.lock().push(3);
/// assert_eq!(lock.lock().len(), 3);
/// ```
#[repr(transparent)]
pub struct RawTasLock {
    word: Atomic,
}

// 4 bytes, like the kernel's `arch_spinlock_t` (loom's atomics are larger).
#[cfg(not(loom))]
static_assertions::assert_eq_size!(RawTasLock, u32);

impl RawTasLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawTasLock {
            word: Atomic::new(0),
        }
    }

    /// An unlocked lock (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawTasLock {
            word: Atomic::new(0),
        }
    }

    /// Spins until the lock is taken.
    #[inline]
    pub fn lock(&self) {
        // Acquire on success (the bit was clear): the critical section starts here.
        while self.word.test_and_set_bit_lock(TAS_LOCKED_BIT) {
            // Test before test-and-set: spin on plain reads until the bit looks clear.
            // Unordered: only a hint; the next bts decides.
            while self.word.test_bit(TAS_LOCKED_BIT) {
                cpu_relax();
            }
        }
    }

    /// Tries once.
    #[inline]
    pub fn try_lock(&self) -> bool {
        // A plain read first: do not take the line exclusive just to fail.
        !self.word.test_bit(TAS_LOCKED_BIT) && !self.word.test_and_set_bit_lock(TAS_LOCKED_BIT)
    }

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The lock must be held by the caller (no owner check).
    #[inline]
    pub unsafe fn unlock(&self) {
        ksync_barrier::select_backend! {
            // x86-64's `__clear_bit_unlock`: a plain store-release (nothing but the lock bit
            // lives in the word, and only the owner clears it).
            asm => { self.word.set_release(0) },
            // The kernel's generic `__clear_bit_unlock` is the atomic `clear_bit_unlock`: a
            // plain store racing a concurrent test-and-set RMW is the set-vs-RMW visibility
            // case of atomic_t.txt. (Under loom it also keeps clear of loom#254, which lets a
            // store land inside a concurrent RMW.) Release either way.
            portable => { self.word.clear_bit_unlock(TAS_LOCKED_BIT) },
        }
    }

    /// Whether the bit is set (a racy snapshot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.word.test_bit(TAS_LOCKED_BIT)
    }
}

#[cfg(not(loom))]
impl Default for RawTasLock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
// SAFETY: one bit, set only by a successful test-and-set (acquire), cleared only by the holder
// (release): mutual exclusion with the required orderings.
unsafe impl lock_api::RawMutex for RawTasLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();
    type Guard = lock_api::GuardSend;

    #[inline]
    fn lock(&self) -> Self::Guard {
        RawTasLock::lock(self);
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock(&self) -> Option<Self::Guard> {
        RawTasLock::try_lock(self).then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock(&self, _guard: Self::Guard) {
        // SAFETY: the caller passes the guard of its acquisition: the lock is held.
        unsafe { RawTasLock::unlock(self) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawTasLock::is_locked(self)
    }
}
