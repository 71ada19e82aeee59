//! The ticket lock: FIFO by construction, one word, two counters.
//!
//! Mirrors `include/asm-generic/ticket_spinlock.h` (and the x86 ticket lock of v2.6.25 to v4.1,
//! which the qspinlock replaced).
//!
//! ```text
//!  31            16 15             0
//! +----------------+----------------+
//! |  next ticket   |  now serving   |       unlocked  <=>  next == owner
//! +----------------+----------------+
//!
//!   lock:    my = fetch_add(1 << 16) >> 16; spin until owner == my      (take a ticket)
//!   unlock:  owner = owner + 1, a 16-bit store-release of the low half    (serve the next)
//! ```
//!
//! "Next" sits in the *high* half so that the carry of the whole-word `fetch_add` falls off the
//! top of the word instead of corrupting "owner" (pitfall 5). Both counters wrap at 2^16; every
//! comparison is modulo 2^16 (`is_contended` uses a signed 16-bit distance), so the lock is
//! correct across wrap-around as long as fewer than 65536 threads wait at once.
//!
//! Only the owner writes the owner half, so unlock is a plain 16-bit store of a value computed
//! from a read: no second locked instruction (x86-64: one `mov`; spin's `TicketMutex` pays a
//! locked `fetch_add` there). The portable backend has no sub-word store and does it as a CAS
//! loop on the whole word. The acquire spin is followed by `smp_mb()`, as in the kernel's generic
//! ticket lock, so that lock acquisition is fully ordered (RCsc) like the `fetch_add` fast path.
//!
//! The ticket lock is perfectly fair, and that is its weakness in user space: the next ticket
//! holder may be preempted, and then everyone behind it waits for the OS to run it again. See
//! `docs/spinlock.md` for the collapse this causes when threads outnumber cores.

use ksync_atomic::Atomic;
use ksync_barrier::smp_mb;

/// One ticket: the increment of the "next" half.
const TICKET_NEXT: i32 = 1 << 16;

/// The ticket spinlock.
///
/// 4 bytes. Lock: one fully ordered `fetch_add` (x86-64: `lock xadd`), then (contended) spin
/// until served. Unlock: a 16-bit store-release of `owner + 1`.
///
/// ```
/// use ksync_spinlock::TicketLock;
/// let lock = TicketLock::new(0u32);
/// *lock.lock() += 1;
/// assert_eq!(*lock.lock(), 1);
/// ```
#[repr(transparent)]
pub struct RawTicketLock {
    word: Atomic,
}

// 4 bytes, like the kernel's `arch_spinlock_t` (loom's atomics are larger).
#[cfg(not(loom))]
static_assertions::assert_eq_size!(RawTicketLock, u32);

#[inline(always)]
fn owner(v: i32) -> u16 {
    v as u32 as u16
}

#[inline(always)]
fn next(v: i32) -> u16 {
    (v as u32 >> 16) as u16
}

impl RawTicketLock {
    /// An unlocked lock (both counters 0).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawTicketLock {
            word: Atomic::new(0),
        }
    }

    /// An unlocked lock (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawTicketLock {
            word: Atomic::new(0),
        }
    }

    /// Takes a ticket and waits to be served.
    #[inline]
    pub fn lock(&self) {
        // Fully ordered: an uncontended acquisition is RCsc.
        let val = self.word.fetch_add(TICKET_NEXT);
        let ticket = next(val);
        if ticket == owner(val) {
            return;
        }
        self.wait_for(ticket);
    }

    #[cold]
    #[inline(never)]
    fn wait_for(&self, ticket: u16) {
        // Acquire: the previous holder's critical section happens before ours.
        self.word.cond_read_acquire(|v| owner(v) == ticket);
        // Full barrier (the kernel's generic ticket lock): the contended acquisition is RCsc too.
        smp_mb();
    }

    /// Takes a ticket only if it would be served at once.
    #[inline]
    pub fn try_lock(&self) -> bool {
        // Unordered: a CAS seed; the fully ordered CAS below decides.
        let mut old = self.word.read();
        if next(old) != owner(old) {
            return false;
        }
        let new = old.wrapping_add(TICKET_NEXT);
        // Fully ordered on success, like the kernel's; unordered on failure.
        self.word.try_cmpxchg(&mut old, new)
    }

    /// Serves the next ticket.
    ///
    /// # Safety
    ///
    /// The lock must be held by the caller (no owner check).
    #[inline]
    pub unsafe fn unlock(&self) {
        // Unordered read: only we, the owner, change the owner half; concurrent fetch_adds only
        // change the next half, which the store below does not touch.
        let served = owner(self.word.read()).wrapping_add(1);
        // Release: the critical section is ordered before the next ticket is served.
        self.word.store_half_release(0, served);
    }

    /// Whether a ticket is being served (`next != owner`).
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Unordered: a racy snapshot; it may be stale at once.
        let v = self.word.read();
        next(v) != owner(v)
    }

    /// Whether a ticket waits behind the owner: signed 16-bit distance > 1.
    #[inline]
    pub fn is_contended(&self) -> bool {
        // Unordered: a racy snapshot; it may be stale at once.
        let v = self.word.read();
        (next(v).wrapping_sub(owner(v)) as i16) > 1
    }
}

#[cfg(not(loom))]
impl Default for RawTicketLock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
// SAFETY: each ticket is served to exactly one thread at a time (the owner half advances only on
// unlock, by the holder); acquire on serving (fully ordered fetch_add, or acquire spin + smp_mb),
// release on unlock.
unsafe impl lock_api::RawMutex for RawTicketLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();
    type Guard = lock_api::GuardSend;

    #[inline]
    fn lock(&self) -> Self::Guard {
        RawTicketLock::lock(self);
        lock_api::GuardSend::new()
    }

    #[inline]
    fn try_lock(&self) -> Option<Self::Guard> {
        RawTicketLock::try_lock(self).then(lock_api::GuardSend::new)
    }

    #[inline]
    unsafe fn unlock(&self, _guard: Self::Guard) {
        // SAFETY: the caller passes the guard of its acquisition: the lock is held.
        unsafe { RawTicketLock::unlock(self) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawTicketLock::is_locked(self)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    // Unordered accesses throughout these tests: one thread, nothing to order against.
    #[test]
    fn counters_wrap_around() {
        let l = RawTicketLock::new();
        // Start both counters just below the wrap.
        l.word.set(((0xFFFFu32 << 16) | 0xFFFF) as i32);
        assert!(!l.is_locked());
        l.lock();
        assert!(l.is_locked());
        assert_eq!(
            l.word.read() as u32,
            0x0000_FFFF,
            "next wrapped to 0, carry dropped"
        );
        assert!(!l.try_lock());
        // SAFETY: held by this thread.
        unsafe { l.unlock() };
        assert_eq!(
            l.word.read() as u32,
            0,
            "owner wrapped to 0 without touching next"
        );
        assert!(!l.is_locked());
        assert!(l.try_lock());
        assert!(!l.is_contended());
        // SAFETY: held by this thread.
        unsafe { l.unlock() };
    }

    #[test]
    fn contended_is_a_signed_distance() {
        let l = RawTicketLock::new();
        // owner 0xFFFE, next 0x0001: three tickets out across the wrap.
        l.word.set(((0x0001u32 << 16) | 0xFFFE) as i32);
        assert!(l.is_locked());
        assert!(l.is_contended());
        l.word.set(((0xFFFFu32 << 16) | 0xFFFE) as i32);
        assert!(l.is_locked());
        assert!(!l.is_contended(), "one ticket out: held, not contended");
    }
}
