//! The qspinlock word: its layout, its constants, and the small operations on it.
//!
//! Mirrors `include/asm-generic/qspinlock_types.h` (layout and `_Q_*` constants) and the helpers
//! of `kernel/locking/qspinlock.h` / `qspinlock.c` (`clear_pending`, `clear_pending_set_locked`,
//! `xchg_tail`, `queued_fetch_set_pending_acquire`, `set_locked`, `encode_tail`, `decode_tail`).
//!
//! ```text
//!  31                    18 17 16 15       8 7        0
//! +------------------------+-----+----------+----------+
//! |  tail cpu (slot + 1)   | idx | pending  |  locked  |
//! +------------------------+-----+----------+----------+
//!  \________ tail (half 1) _______/\__ locked_pending __/
//! ```
//!
//! The layout is the kernel's for `NR_CPUS < 16384`: a whole byte for `pending` and a whole
//! halfword for the tail, so that on x86-64 `clear_pending` is a byte store,
//! `clear_pending_set_locked` is ONE halfword store (0,1,0 -> 0,0,1 in one step: two separate
//! stores would let the word read 0 in between and admit a second owner), and `xchg_tail` is a
//! halfword `xchg`. Those sub-word accesses go through ksync-atomic's asm backend.
//!
//! The portable backend (every other target, loom, `ksync_no_asm`) keeps the same layout but uses
//! the kernel's *other* variant of each helper, the one it uses when `pending` is a single bit:
//! every transition is a whole-word atomic (`andnot`, `add`, a CAS loop), because Rust defines no
//! mixed-size atomics (pitfall 1 of the design notes).

use ksync_atomic::Atomic;
use static_assertions::const_assert_eq;

/// Offset of the `locked` byte.
pub const _Q_LOCKED_OFFSET: u32 = 0;
/// Width of the `locked` field.
pub const _Q_LOCKED_BITS: u32 = 8;
/// Mask of the `locked` byte: `0x0000_00FF`.
pub const _Q_LOCKED_MASK: u32 = ((1 << _Q_LOCKED_BITS) - 1) << _Q_LOCKED_OFFSET;
/// Offset of the `pending` byte.
pub const _Q_PENDING_OFFSET: u32 = _Q_LOCKED_OFFSET + _Q_LOCKED_BITS;
/// Width of the `pending` field (a whole byte; only bit 8 is used).
pub const _Q_PENDING_BITS: u32 = 8;
/// Mask of the `pending` byte: `0x0000_FF00`.
pub const _Q_PENDING_MASK: u32 = ((1 << _Q_PENDING_BITS) - 1) << _Q_PENDING_OFFSET;
/// Offset of the tail's node index (the nesting level: task, softirq, hardirq, NMI).
pub const _Q_TAIL_IDX_OFFSET: u32 = _Q_PENDING_OFFSET + _Q_PENDING_BITS;
/// Width of the tail's node index.
pub const _Q_TAIL_IDX_BITS: u32 = 2;
/// Mask of the tail's node index: `0x0003_0000`.
pub const _Q_TAIL_IDX_MASK: u32 = ((1 << _Q_TAIL_IDX_BITS) - 1) << _Q_TAIL_IDX_OFFSET;
/// Offset of the tail's CPU field (ksync: thread slot + 1).
pub const _Q_TAIL_CPU_OFFSET: u32 = _Q_TAIL_IDX_OFFSET + _Q_TAIL_IDX_BITS;
/// Width of the tail's CPU field.
pub const _Q_TAIL_CPU_BITS: u32 = 32 - _Q_TAIL_CPU_OFFSET;
/// Mask of the tail's CPU field: `0xFFFC_0000`.
pub const _Q_TAIL_CPU_MASK: u32 = ((1 << _Q_TAIL_CPU_BITS) - 1) << _Q_TAIL_CPU_OFFSET;
/// Offset of the whole tail.
pub const _Q_TAIL_OFFSET: u32 = _Q_TAIL_IDX_OFFSET;
/// Mask of the whole tail: `0xFFFF_0000`.
pub const _Q_TAIL_MASK: u32 = _Q_TAIL_IDX_MASK | _Q_TAIL_CPU_MASK;
/// Mask of `locked` and `pending` together: `0x0000_FFFF`.
pub const _Q_LOCKED_PENDING_MASK: u32 = _Q_LOCKED_MASK | _Q_PENDING_MASK;
/// The value of a held `locked` byte.
pub const _Q_LOCKED_VAL: u32 = 1 << _Q_LOCKED_OFFSET;
/// The value of a set `pending` byte.
pub const _Q_PENDING_VAL: u32 = 1 << _Q_PENDING_OFFSET;
/// Bounded re-reads while a pending->locked handover is in flight (x86's value; generic is 1).
pub const _Q_PENDING_LOOPS: u32 = 1 << 9;
/// MCS nodes per CPU (per thread slot): one per nesting context.
pub const _Q_MAX_NODES: usize = 4;
/// Paravirt: `locked` byte value meaning "held, and the queue head sleeps on the lock word:
/// unlock must wake it".
pub const _Q_SLOW_VAL: u32 = 3 << _Q_LOCKED_OFFSET;
/// Paravirt, ksync only: `locked` byte value meaning "held, and the owner deferred the wake of
/// its sleeping successor to its unlock". The kernel marks both cases `_Q_SLOW_VAL` and finds
/// the sleeper in its hash table; in user space the two sleepers sleep on different futex words
/// (the lock word, the node's state), and telling them apart saves the unlock a system call.
pub const _Q_KICK_VAL: u32 = 2 << _Q_LOCKED_OFFSET;

// The layout, checked against the kernel's numbers.
const_assert_eq!(_Q_LOCKED_MASK, 0x0000_00FF);
const_assert_eq!(_Q_PENDING_MASK, 0x0000_FF00);
const_assert_eq!(_Q_TAIL_IDX_MASK, 0x0003_0000);
const_assert_eq!(_Q_TAIL_CPU_MASK, 0xFFFC_0000);
const_assert_eq!(_Q_TAIL_MASK, 0xFFFF_0000);
const_assert_eq!(_Q_LOCKED_PENDING_MASK, 0x0000_FFFF);
const_assert_eq!(_Q_PENDING_VAL, 0x100);
const_assert_eq!(_Q_TAIL_CPU_BITS, 14);
// Every thread slot fits the tail's CPU field with the +1 encoding.
static_assertions::const_assert!(ksync_percpu::MAX_SLOTS < (1 << _Q_TAIL_CPU_BITS));
static_assertions::const_assert!(_Q_MAX_NODES <= 1 << _Q_TAIL_IDX_BITS);

/// Encodes (slot, nesting index) as a tail: `slot + 1` so that 0 means "no queue".
#[inline(always)]
pub const fn encode_tail(slot: usize, idx: usize) -> u32 {
    ((slot as u32 + 1) << _Q_TAIL_CPU_OFFSET) | ((idx as u32) << _Q_TAIL_IDX_OFFSET)
}

/// Decodes a non-zero tail into (slot, nesting index).
#[inline(always)]
pub const fn decode_tail(tail: u32) -> (usize, usize) {
    let slot = (tail >> _Q_TAIL_CPU_OFFSET) as usize - 1;
    let idx = ((tail & _Q_TAIL_IDX_MASK) >> _Q_TAIL_IDX_OFFSET) as usize;
    (slot, idx)
}

/// A decoded lock word: the kernel's `(tail, pending, locked)` triple.
///
/// ```
/// use ksync_spinlock::qspinlock::LockState;
/// let s = LockState::from_word(0x0004_0101);
/// assert_eq!((s.tail_slot, s.tail_idx, s.pending, s.locked), (Some(0), 0, true, 1));
/// assert_eq!(s.to_string(), "(0:0,1,1)");
/// assert_eq!(LockState::from_word(0).to_string(), "(0,0,0)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockState {
    /// The slot of the last queued thread, if the queue is not empty.
    pub tail_slot: Option<usize>,
    /// The nesting index of the last queued node.
    pub tail_idx: usize,
    /// Whether a pending waiter (the one-waiter fast lane) is spinning.
    pub pending: bool,
    /// The `locked` byte: 0 free, 1 held, 3 (`_Q_SLOW_VAL`) held with a sleeper to wake.
    pub locked: u8,
}

impl LockState {
    /// Decodes a lock word.
    pub const fn from_word(word: u32) -> Self {
        let tail = word & _Q_TAIL_MASK;
        let (tail_slot, tail_idx) = if tail == 0 {
            (None, 0)
        } else {
            let (slot, idx) = decode_tail(tail);
            (Some(slot), idx)
        };
        LockState {
            tail_slot,
            tail_idx,
            pending: word & _Q_PENDING_MASK != 0,
            locked: (word & _Q_LOCKED_MASK) as u8,
        }
    }
}

impl core::fmt::Display for LockState {
    /// `(tail,pending,locked)` as in the kernel's diagram; a tail prints as `slot:idx`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.tail_slot {
            None => write!(f, "(0,{},{})", self.pending as u8, self.locked),
            Some(slot) => write!(
                f,
                "({}:{},{},{})",
                slot, self.tail_idx, self.pending as u8, self.locked
            ),
        }
    }
}

/// The lock word, with the kernel's helpers as methods.
#[repr(transparent)]
pub(crate) struct QSpinWord {
    pub(crate) val: Atomic,
}

impl QSpinWord {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        QSpinWord {
            val: Atomic::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        QSpinWord {
            val: Atomic::new(0),
        }
    }

    /// `atomic_read(&lock->val)`: unordered.
    #[inline(always)]
    pub(crate) fn read(&self) -> u32 {
        self.val.read() as u32
    }

    /// The uncontended fast path: one acquire CAS 0 -> `_Q_LOCKED_VAL`.
    /// `Err` carries the value seen, which the slow path starts from.
    #[inline(always)]
    pub(crate) fn fast_lock(&self) -> Result<(), u32> {
        let mut val = 0i32;
        // Acquire on success: the critical section starts here. Unordered on failure.
        if self.val.try_cmpxchg_acquire(&mut val, _Q_LOCKED_VAL as i32) {
            Ok(())
        } else {
            Err(val as u32)
        }
    }

    /// `queued_spin_trylock`: succeeds only from an all-zero word (never jumps a queue or a
    /// pending waiter).
    #[inline(always)]
    pub(crate) fn trylock(&self) -> bool {
        // Unordered read first, a hint (the acquire CAS decides): it keeps a contended line
        // shared instead of bouncing it with a CAS.
        self.read() == 0 && self.fast_lock().is_ok()
    }

    /// `queued_spin_unlock` (native): store-release 0 into the `locked` byte only; `pending` and
    /// the tail are left alone. x86-64: a byte `mov`. Portable: an atomic `andnot` with release.
    #[inline(always)]
    pub(crate) fn unlock_native(&self) {
        ksync_barrier::select_backend! {
            // Release: the critical section is ordered before the lock becomes free.
            asm => { self.val.store_byte_release(0, 0) },
            // Release, as above; a whole-word RMW because pending/tail may change concurrently.
            portable => { self.val.fetch_andnot_release(_Q_LOCKED_MASK as i32); },
        }
    }

    /// `clear_pending`: (*,1,*) -> (*,0,*). Unordered: only undoes our own transient bit, or
    /// (paravirt head) stops announcing itself.
    #[inline(always)]
    pub(crate) fn clear_pending(&self) {
        ksync_barrier::select_backend! {
            asm => { self.val.store_byte_relaxed(1, 0) },
            portable => { self.val.andnot(_Q_PENDING_MASK as i32) },
        }
    }

    /// `set_pending` (paravirt head): (*,0,*) -> (*,1,*); stops lock stealing. Unordered.
    #[inline(always)]
    pub(crate) fn set_pending(&self) {
        ksync_barrier::select_backend! {
            asm => { self.val.store_byte_relaxed(1, 1) },
            portable => { self.val.or(_Q_PENDING_VAL as i32) },
        }
    }

    /// `clear_pending_set_locked`: (*,1,0) -> (*,0,1) in ONE store.
    ///
    /// Unordered: the pending waiter already acquired the lock with the acquire load that saw
    /// `locked == 0`; nobody else may write these two bytes now.
    #[inline(always)]
    pub(crate) fn clear_pending_set_locked(&self) {
        ksync_barrier::select_backend! {
            // One 16-bit store of 0x0001 over locked_pending.
            asm => { self.val.store_half_relaxed(0, _Q_LOCKED_VAL as u16) },
            // The 1-bit-pending kernel variant: one atomic add of -PENDING + LOCKED.
            portable => {
                self.val
                    .add(_Q_LOCKED_VAL.wrapping_sub(_Q_PENDING_VAL) as i32)
            },
        }
    }

    /// `set_locked`: (*,*,0) -> (*,0,1). Safe as a plain store: while a tail exists nobody else
    /// can set `locked` (trylock needs an all-zero word, the pending path needs no tail).
    /// Unordered: the queue head acquired with the load that saw `locked_pending == 0`.
    #[inline(always)]
    pub(crate) fn set_locked(&self) {
        ksync_barrier::select_backend! {
            asm => { self.val.store_byte_relaxed(0, _Q_LOCKED_VAL as u8) },
            portable => { self.val.or(_Q_LOCKED_VAL as i32) },
        }
    }

    /// `queued_fetch_set_pending_acquire`: set `pending`, return the old word.
    ///
    /// x86-64 (the kernel's): `lock bts` of bit 8, whose carry gives the old pending bit, OR-ed
    /// with a separate relaxed read of the rest of the word. The read is not atomic with the
    /// `bts`; that is fine, it is only used to detect contention. Portable: `fetch_or` with
    /// acquire. Acquire either way: on the uncontended path this is where the pending waiter's
    /// claim starts.
    #[inline(always)]
    pub(crate) fn fetch_set_pending_acquire(&self) -> u32 {
        ksync_barrier::select_backend! {
            asm => {
                let was_pending = self.val.test_and_set_bit_acquire(_Q_PENDING_OFFSET);
                // Unordered, as in the kernel: only used to detect contention.
                let rest = self.read() & !_Q_PENDING_MASK;
                rest | if was_pending { _Q_PENDING_VAL } else { 0 }
            },
            portable => { self.val.fetch_or_acquire(_Q_PENDING_VAL as i32) as u32 },
        }
    }

    /// `xchg_tail`: publish `tail`, return the old word (only its tail bits are meaningful).
    ///
    /// Relaxed, as in the kernel: the node initialisation is ordered before it by the
    /// `smp_wmb()` of the caller; the caller's acquire fence orders the dereference of the old
    /// tail's node after it.
    #[inline(always)]
    pub(crate) fn xchg_tail(&self, tail: u32) -> u32 {
        ksync_barrier::select_backend! {
            // One 16-bit xchg of the tail halfword.
            asm => {
                (self.val.xchg_half_relaxed(1, (tail >> _Q_TAIL_OFFSET) as u16) as u32)
                    << _Q_TAIL_OFFSET
            },
            // The 1-bit-pending kernel variant: a CAS loop keeping locked_pending.
            portable => {
                // Unordered: a CAS seed; the relaxed CAS below refreshes it on failure.
                let mut old = self.val.read();
                loop {
                    let new = (old as u32 & _Q_LOCKED_PENDING_MASK) | tail;
                    if self.val.try_cmpxchg_relaxed(&mut old, new as i32) {
                        break old as u32;
                    }
                }
            },
        }
    }

    /// Last in the queue: try (tail,0,*) -> (0,0,1), clearing the tail. Relaxed: the head
    /// already holds the lock's acquire (or owns it outright, in paravirt).
    #[inline(always)]
    pub(crate) fn try_clear_tail_set_locked(&self, val: u32) -> bool {
        let mut old = val as i32;
        self.val.try_cmpxchg_relaxed(&mut old, _Q_LOCKED_VAL as i32)
    }

    /// Spin until `cond` holds for the whole word; the last load is an acquire.
    #[inline(always)]
    pub(crate) fn cond_read_acquire(&self, mut cond: impl FnMut(u32) -> bool) -> u32 {
        self.val.cond_read_acquire(|v| cond(v as u32)) as u32
    }

    /// Spin until `cond` holds for the whole word; unordered.
    #[inline(always)]
    pub(crate) fn cond_read_relaxed(&self, mut cond: impl FnMut(u32) -> bool) -> u32 {
        self.val.cond_read_relaxed(|v| cond(v as u32)) as u32
    }

    // --- Paravirt helpers (qspinlock_paravirt.h) -----------------------------------------

    /// `trylock_clear_pending` (paravirt head): if `locked == 0`, (*,1,0) -> (*,0,1) with
    /// acquire. x86-64: a 16-bit `lock cmpxchg` of `locked_pending` 0x0100 -> 0x0001.
    #[inline(always)]
    pub(crate) fn trylock_clear_pending(&self) -> bool {
        ksync_barrier::select_backend! {
            asm => {
                // Unordered: a hint; the acquire CAS below decides.
                self.read() & _Q_LOCKED_MASK == 0
                    // Acquire on success: we own the lock from here. Unordered on failure.
                    && self.val.cmpxchg_half_acquire(0, _Q_PENDING_VAL as u16, _Q_LOCKED_VAL as u16)
                        == _Q_PENDING_VAL as u16
            },
            portable => {
                // Unordered: a CAS seed; the acquire CAS below decides (and refreshes it).
                let mut old = self.val.read();
                loop {
                    if old as u32 & _Q_LOCKED_MASK != 0 {
                        break false;
                    }
                    let new = (old as u32 & !_Q_LOCKED_PENDING_MASK) | _Q_LOCKED_VAL;
                    // Acquire on success, as above.
                    if self.val.try_cmpxchg_acquire(&mut old, new as i32) {
                        break true;
                    }
                }
            },
        }
    }

    /// Paravirt lock stealing: `locked` 0 -> 1 with acquire, leaving pending and tail alone.
    #[inline(always)]
    pub(crate) fn try_steal(&self) -> bool {
        // Acquire on success: the critical section starts here. Unordered on failure.
        self.val.cmpxchg_byte_acquire(0, 0, _Q_LOCKED_VAL as u8) == 0
    }

    /// Paravirt unlock fast path: `locked` 1 -> 0 with release. Fails when a sleeper marked the
    /// byte `_Q_SLOW_VAL`.
    ///
    /// The kernel's is one byte `lock cmpxchg`. When nobody waits (the word is exactly (0,0,1))
    /// ksync uses a whole-word `lock cmpxchg` instead: same atomicity and ordering, but on x86-64
    /// a byte RMW followed by the next acquisition's 32-bit CAS on the same word stalls on a
    /// store-forwarding failure (measured: 10-11 ns for the pair instead of about 5, see
    /// `docs/perf.md`). With waiters queued, the byte form leaves `pending` and the tail alone.
    #[inline(always)]
    pub(crate) fn try_unlock_pv(&self) -> bool {
        // Unordered read: a hint for which CAS to use; the CAS decides.
        if self.read() == _Q_LOCKED_VAL {
            let mut old = _Q_LOCKED_VAL as i32;
            // Release on success: the critical section is ordered before the lock becomes free.
            if self.val.try_cmpxchg_release(&mut old, 0) {
                return true;
            }
        }
        // Release on success, as above. Unordered on failure (the slow unlock re-reads).
        self.val.cmpxchg_byte_release(0, _Q_LOCKED_VAL as u8, 0) == _Q_LOCKED_VAL as u8
    }

    /// Paravirt unlock slow path: `locked` -> 0 with an RMW, returning the byte it replaced
    /// (`_Q_SLOW_VAL` or `_Q_KICK_VAL`).
    ///
    /// The kernel's is a store-release: nothing changes `locked` while it reads SLOW. ksync's
    /// KICK is not that stable: the queue head may turn it into SLOW (its `xchg`) at any moment
    /// while we hold the lock, so the decision to wake the lock word must come from the byte
    /// the release actually replaced, not from an earlier read.
    #[inline(always)]
    pub(crate) fn xchg_locked_release(&self) -> u32 {
        // Release: the critical section is ordered before the lock becomes free.
        self.val.xchg_byte_release(0, 0) as u32
    }

    /// The owner defers a kick (paravirt): `locked` LOCKED -> KICK. A CAS, not a store: the
    /// queue head may have turned LOCKED into SLOW meanwhile, and SLOW must survive (the
    /// unlock then wakes the lock word as well as the node). Returns whether KICK was set.
    /// Unordered: the full barrier before the caller's state CAS orders what needs it.
    #[inline(always)]
    pub(crate) fn try_mark_kick(&self) -> bool {
        self.val
            .cmpxchg_byte_relaxed(0, _Q_LOCKED_VAL as u8, _Q_KICK_VAL as u8)
            == _Q_LOCKED_VAL as u8
    }

    /// `xchg(&lock->locked, _Q_SLOW_VAL)` (paravirt head, before sleeping): fully ordered, so
    /// the sleeper's announcement is ordered against the re-check of the word that follows.
    /// Returns the old `locked` byte.
    #[inline(always)]
    pub(crate) fn xchg_locked_slow(&self) -> u32 {
        self.val.xchg_byte(0, _Q_SLOW_VAL as u8) as u32
    }

    /// `WRITE_ONCE(lock->locked, _Q_LOCKED_VAL)` by a head that took a free lock with its SLOW
    /// `xchg`. Unordered: no successor has been kicked yet, and the head itself is the only
    /// other writer of `locked`, so nothing else writes the byte until we release it.
    #[inline(always)]
    pub(crate) fn set_locked_slow_to_locked(&self) {
        self.val.store_byte_relaxed(0, _Q_LOCKED_VAL as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Unordered accesses throughout these tests: one thread, nothing to order against.
    #[test]
    fn tail_round_trips() {
        for slot in [0usize, 1, 2, 100, ksync_percpu::MAX_SLOTS - 1] {
            for idx in 0.._Q_MAX_NODES {
                let t = encode_tail(slot, idx);
                assert_ne!(t, 0, "a tail is never 0");
                assert_eq!(t & !_Q_TAIL_MASK, 0, "a tail has no locked/pending bits");
                assert_eq!(decode_tail(t), (slot, idx));
            }
        }
        assert_eq!(encode_tail(0, 0), 1 << _Q_TAIL_CPU_OFFSET);
        assert_eq!(
            encode_tail(ksync_percpu::MAX_SLOTS - 1, 3),
            _Q_TAIL_MASK,
            "the largest slot and index fill the tail exactly"
        );
    }

    #[test]
    fn helpers_move_the_word_as_the_kernel_diagram_says() {
        let w = QSpinWord::new();
        assert!(w.fast_lock().is_ok());
        assert_eq!(w.read(), 0x001); // (0,0,1)
        assert_eq!(w.fast_lock(), Err(0x001));
        assert_eq!(w.fetch_set_pending_acquire(), 0x001);
        assert_eq!(w.read(), 0x101); // (0,1,1)
        w.unlock_native();
        assert_eq!(w.read(), 0x100); // (0,1,0)
        w.clear_pending_set_locked();
        assert_eq!(w.read(), 0x001); // (0,0,1)
        let t = encode_tail(5, 1);
        assert_eq!(w.xchg_tail(t) & _Q_TAIL_MASK, 0, "no tail before");
        assert_eq!(w.read(), t | 0x001); // (n,0,1)
        w.unlock_native();
        assert_eq!(w.read(), t); // (n,0,0)
        assert!(!w.try_clear_tail_set_locked(t | 1));
        assert!(w.try_clear_tail_set_locked(t));
        assert_eq!(w.read(), 0x001); // (0,0,1)
        w.set_pending();
        assert_eq!(w.read(), 0x101);
        assert!(!w.trylock_clear_pending(), "locked is held");
        w.unlock_native();
        assert!(w.trylock_clear_pending());
        assert_eq!(w.read(), 0x001);
        assert!(w.try_unlock_pv(), "(0,0,1) unlocks on the fast path");
        assert_eq!(w.read(), 0);
        assert!(w.try_steal());
        assert_eq!(w.xchg_locked_slow(), 1);
        assert_eq!(w.read(), _Q_SLOW_VAL);
        assert!(!w.try_unlock_pv(), "SLOW forces the slow unlock");
        assert!(!w.try_mark_kick(), "a SLOW mark survives a deferred kick");
        assert_eq!(w.xchg_locked_release(), _Q_SLOW_VAL);
        assert_eq!(w.read(), 0);
        w.set_locked();
        assert_eq!(w.read(), 1);
        assert!(w.try_mark_kick());
        assert_eq!(w.read(), _Q_KICK_VAL);
        // The head's SLOW replaces a KICK, and the release reports it.
        assert_eq!(w.xchg_locked_slow(), _Q_KICK_VAL);
        assert_eq!(w.xchg_locked_release(), _Q_SLOW_VAL);
        assert_eq!(w.read(), 0);
        w.set_locked();
        w.set_pending();
        assert_eq!(w.read(), 0x101);
        w.clear_pending();
        assert_eq!(w.read(), 0x001);
    }

    #[test]
    fn unlocks_clear_only_the_locked_byte() {
        // (The Unlock events of the trace report a word computed before the store; this checks
        // the store itself.)
        let t = encode_tail(3, 1);
        let w = QSpinWord::new();
        w.val.set((t | _Q_PENDING_VAL | _Q_LOCKED_VAL) as i32);
        w.unlock_native();
        assert_eq!(w.read(), t | _Q_PENDING_VAL);
        w.val.set((t | _Q_LOCKED_VAL) as i32);
        assert!(w.try_unlock_pv(), "a queued lock unlocks with the byte CAS");
        assert_eq!(w.read(), t);
        w.val.set((t | _Q_SLOW_VAL) as i32);
        assert_eq!(w.xchg_locked_release(), _Q_SLOW_VAL);
        assert_eq!(w.read(), t);
    }
}
