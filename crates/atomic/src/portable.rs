//! The portable backend: `core::sync::atomic` (loom's under `cfg(loom)`), nothing else.
//!
//! Selected on every target but x86-64, and on x86-64 under `cfg(loom)`, `cfg(miri)` and
//! `cfg(ksync_no_asm)`. It is always compiled, so on x86-64 the differential test can run it side
//! by side with the asm backend.
//!
//! # How an LKMM ordering maps onto the Rust model
//!
//! | kernel suffix | here |
//! |---|---|
//! | none (fully ordered) | `fence(SeqCst)`; the RMW with `Relaxed`; `fence(SeqCst)` |
//! | `_acquire` | the RMW with `Acquire` |
//! | `_release` | the RMW with `Release` |
//! | `_relaxed`, and the ops without a return value | the RMW with `Relaxed` |
//!
//! The fully ordered mapping is the kernel's own generic one (`smp_mb__before_atomic()`, the
//! relaxed op, `smp_mb__after_atomic()`), and the only one that is right in the Rust model: a
//! `SeqCst` RMW is ordered against other `SeqCst` operations and synchronises like `AcqRel`, but
//! it does not order an *unrelated relaxed* store before it against an unrelated relaxed load
//! after it (the store-buffering shape), which `smp_mb()` on both sides does (pitfall 9 of the
//! design notes). The fences are also enough on their own: a `SeqCst` fence is an acquire and a
//! release fence, so the relaxed RMW between two of them synchronises with releases it reads from
//! and publishes everything before it. Conditional operations (`cmpxchg`, the `update` loops)
//! cannot skip the leading fence (the outcome is not known yet) but skip the trailing one on
//! failure, which LKMM allows: a failed conditional RMW is unordered.
//!
//! Note that the fences are `core`'s (`fence(SeqCst)`, an `mfence` on x86-64), not
//! `ksync_barrier::smp_mb()`: this module is the Rust-model definition of every operation, and
//! on x86-64 the differential test runs it next to the asm backend.
//!
//! # Sub-word operations
//!
//! Rust defines no atomic access to a part of an atomic object, so every byte and halfword
//! operation of the lock word is a compare-and-swap loop on the whole 32-bit word that replaces
//! only the bits concerned (see [`crate::subword`]). A "store" therefore becomes a read-modify-
//! write, which is stronger than the kernel's plain store: it cannot lose a concurrent update of
//! the other bytes, and it reads the word, so it is part of the word's RMW chain.

use crate::sync::atomic::{fence, Ordering};
use crate::Order;

/// The `Ordering` for a single RMW standing for `o`; `Full` is handled by [`rmw`].
#[inline(always)]
fn single(o: Order) -> Ordering {
    match o {
        // The fences around the op supply the ordering; the op itself is relaxed.
        Order::Full | Order::Relaxed => Ordering::Relaxed,
        Order::Acquire => Ordering::Acquire,
        Order::Release => Ordering::Release,
    }
}

/// Runs one unconditional RMW with the LKMM ordering `o`.
#[inline(always)]
fn rmw<R>(o: Order, op: impl FnOnce(Ordering) -> R) -> R {
    if o == Order::Full {
        // smp_mb() before: every earlier access is ordered before the RMW (and everything after).
        fence(Ordering::SeqCst);
        let r = op(Ordering::Relaxed);
        // smp_mb() after: the RMW (and everything before it) is ordered before every later access.
        fence(Ordering::SeqCst);
        r
    } else {
        op(single(o))
    }
}

macro_rules! portable_width {
    ($(#[$m:meta])* $w:ident: $V:ty, $A:ident) => {
        $(#[$m])*
        pub(crate) mod $w {
            use crate::Order;
            use crate::sync::atomic::{fence, $A, Ordering};

            use super::{rmw, single};

            // Ops without a return value: unordered in LKMM, so `Relaxed`.

            #[inline(always)]
            pub(crate) fn add(a: &$A, i: $V) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_add(i, Ordering::Relaxed);
            }

            #[inline(always)]
            pub(crate) fn sub(a: &$A, i: $V) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_sub(i, Ordering::Relaxed);
            }

            #[inline(always)]
            pub(crate) fn inc(a: &$A) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_add(1, Ordering::Relaxed);
            }

            #[inline(always)]
            pub(crate) fn dec(a: &$A) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_sub(1, Ordering::Relaxed);
            }

            #[inline(always)]
            pub(crate) fn and(a: &$A, i: $V) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_and(i, Ordering::Relaxed);
            }

            #[inline(always)]
            pub(crate) fn or(a: &$A, i: $V) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_or(i, Ordering::Relaxed);
            }

            #[inline(always)]
            pub(crate) fn xor(a: &$A, i: $V) {
                // Relaxed: a non-value-returning RMW is unordered.
                a.fetch_xor(i, Ordering::Relaxed);
            }

            // Value-returning RMWs: the ordering `o` the caller asked for, through `rmw`.

            #[inline(always)]
            pub(crate) fn fetch_add(a: &$A, i: $V, o: Order) -> $V {
                // Ordering: `o`, mapped by `rmw` (fences around a relaxed RMW when full).
                rmw(o, |ord| a.fetch_add(i, ord))
            }

            #[inline(always)]
            pub(crate) fn fetch_sub(a: &$A, i: $V, o: Order) -> $V {
                // Ordering: `o`, mapped by `rmw`.
                rmw(o, |ord| a.fetch_sub(i, ord))
            }

            #[inline(always)]
            pub(crate) fn add_return(a: &$A, i: $V, o: Order) -> $V {
                fetch_add(a, i, o).wrapping_add(i)
            }

            #[inline(always)]
            pub(crate) fn sub_return(a: &$A, i: $V, o: Order) -> $V {
                fetch_sub(a, i, o).wrapping_sub(i)
            }

            #[inline(always)]
            pub(crate) fn fetch_and(a: &$A, i: $V, o: Order) -> $V {
                // Ordering: `o`, mapped by `rmw`.
                rmw(o, |ord| a.fetch_and(i, ord))
            }

            #[inline(always)]
            pub(crate) fn fetch_or(a: &$A, i: $V, o: Order) -> $V {
                // Ordering: `o`, mapped by `rmw`.
                rmw(o, |ord| a.fetch_or(i, ord))
            }

            #[inline(always)]
            pub(crate) fn fetch_xor(a: &$A, i: $V, o: Order) -> $V {
                // Ordering: `o`, mapped by `rmw`.
                rmw(o, |ord| a.fetch_xor(i, ord))
            }

            #[inline(always)]
            pub(crate) fn xchg(a: &$A, i: $V, o: Order) -> $V {
                // Ordering: `o`, mapped by `rmw`.
                rmw(o, |ord| a.swap(i, ord))
            }

            #[inline(always)]
            pub(crate) fn sub_and_test(a: &$A, i: $V) -> bool {
                fetch_sub(a, i, Order::Full) == i
            }

            #[inline(always)]
            pub(crate) fn inc_and_test(a: &$A) -> bool {
                fetch_add(a, 1, Order::Full) == -1
            }

            #[inline(always)]
            pub(crate) fn dec_and_test(a: &$A) -> bool {
                fetch_sub(a, 1, Order::Full) == 1
            }

            #[inline(always)]
            pub(crate) fn add_negative(a: &$A, i: $V, o: Order) -> bool {
                add_return(a, i, o) < 0
            }

            // Conditional RMWs: unordered on failure.

            /// `Ok(found)` if `found == old` and `new` was stored, else `Err(found)`.
            #[inline(always)]
            fn cas(a: &$A, old: $V, new: $V, o: Order) -> Result<$V, $V> {
                if o == Order::Full {
                    // smp_mb() before: the outcome is not known yet, so it is unconditional.
                    fence(Ordering::SeqCst);
                    // Relaxed/Relaxed: the fences order a success, a failure is unordered.
                    let r = a.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed);
                    if r.is_ok() {
                        // smp_mb() after, on success only: a failed cmpxchg is unordered.
                        fence(Ordering::SeqCst);
                    }
                    r
                } else {
                    // Success ordering as asked; failure Relaxed (a failed cmpxchg is unordered).
                    a.compare_exchange(old, new, single(o), Ordering::Relaxed)
                }
            }

            #[inline(always)]
            pub(crate) fn cmpxchg(a: &$A, old: $V, new: $V, o: Order) -> $V {
                match cas(a, old, new, o) {
                    Ok(v) | Err(v) => v,
                }
            }

            #[inline(always)]
            pub(crate) fn try_cmpxchg(a: &$A, old: &mut $V, new: $V, o: Order) -> bool {
                match cas(a, *old, new, o) {
                    Ok(_) => true,
                    Err(found) => {
                        *old = found;
                        false
                    }
                }
            }

            /// The kernel's `try_cmpxchg` loop: `f(current)` gives the value to store, or `None`
            /// to give up. Returns `Ok(old)` once `f(old)` was stored, `Err(current)` if `f`
            /// refused. Ordered as `o` on success, unordered on failure.
            #[inline(always)]
            pub(crate) fn update(a: &$A, o: Order, mut f: impl FnMut($V) -> Option<$V>) -> Result<$V, $V> {
                if o == Order::Full {
                    // smp_mb() before, once: it precedes whichever attempt succeeds.
                    fence(Ordering::SeqCst);
                }
                // Relaxed: the first guess; the CAS below checks it.
                let mut cur = a.load(Ordering::Relaxed);
                loop {
                    let Some(new) = f(cur) else {
                        // Refused: a failed conditional op is unordered, no trailing fence.
                        return Err(cur);
                    };
                    // Success ordering per `o` (relaxed when full: the fences order it); failure
                    // Relaxed. Weak: a spurious failure just goes round the loop again.
                    match a.compare_exchange_weak(cur, new, single(o), Ordering::Relaxed) {
                        Ok(old) => {
                            if o == Order::Full {
                                // smp_mb() after the successful RMW.
                                fence(Ordering::SeqCst);
                            }
                            return Ok(old);
                        }
                        Err(found) => cur = found,
                    }
                }
            }
        }
    };
}

portable_width!(w32: i32, AtomicI32);
portable_width!(w64: i64, AtomicI64);
portable_width!(wsize: isize, AtomicIsize);

/// Sub-word and lock-word bit operations on the 32-bit word, all whole-word RMWs.
pub(crate) mod sub32 {
    use crate::subword::{byte_shift, half_shift};
    use crate::sync::atomic::{AtomicI32, Ordering};
    use crate::Order;

    use super::rmw;
    use super::w32::update;

    /// Replaces the bits under `mask` (already shifted) by `bits`, returns the old word.
    #[inline(always)]
    fn replace(a: &AtomicI32, mask: u32, bits: u32, o: Order) -> u32 {
        let r = update(a, o, |w| Some(((w as u32 & !mask) | bits) as i32));
        match r {
            Ok(old) | Err(old) => old as u32,
        }
    }

    /// Replaces the bits under `mask` by `new` if they equal `old` (both shifted); returns the
    /// old word. Fails without writing as soon as the field differs from `old`.
    #[inline(always)]
    fn cmpxchg_field(a: &AtomicI32, mask: u32, old: u32, new: u32, o: Order) -> u32 {
        let r = update(a, o, |w| {
            let w = w as u32;
            ((w & mask) == old).then_some(((w & !mask) | new) as i32)
        });
        match r {
            Ok(w) | Err(w) => w as u32,
        }
    }

    #[inline(always)]
    pub(crate) fn store_byte(a: &AtomicI32, n: u32, v: u8, o: Order) {
        let s = byte_shift(n);
        replace(a, 0xff << s, u32::from(v) << s, o);
    }

    #[inline(always)]
    pub(crate) fn store_half(a: &AtomicI32, n: u32, v: u16, o: Order) {
        let s = half_shift(n);
        replace(a, 0xffff << s, u32::from(v) << s, o);
    }

    #[inline(always)]
    pub(crate) fn xchg_byte(a: &AtomicI32, n: u32, v: u8, o: Order) -> u8 {
        let s = byte_shift(n);
        (replace(a, 0xff << s, u32::from(v) << s, o) >> s) as u8
    }

    #[inline(always)]
    pub(crate) fn xchg_half(a: &AtomicI32, n: u32, v: u16, o: Order) -> u16 {
        let s = half_shift(n);
        (replace(a, 0xffff << s, u32::from(v) << s, o) >> s) as u16
    }

    #[inline(always)]
    pub(crate) fn cmpxchg_byte(a: &AtomicI32, n: u32, old: u8, new: u8, o: Order) -> u8 {
        let s = byte_shift(n);
        let w = cmpxchg_field(a, 0xff << s, u32::from(old) << s, u32::from(new) << s, o);
        (w >> s) as u8
    }

    #[inline(always)]
    pub(crate) fn cmpxchg_half(a: &AtomicI32, n: u32, old: u16, new: u16, o: Order) -> u16 {
        let s = half_shift(n);
        let w = cmpxchg_field(a, 0xffff << s, u32::from(old) << s, u32::from(new) << s, o);
        (w >> s) as u16
    }

    #[inline(always)]
    pub(crate) fn set_bit(a: &AtomicI32, nr: u32) {
        // Relaxed: set_bit is unordered.
        a.fetch_or((1u32 << nr) as i32, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn clear_bit(a: &AtomicI32, nr: u32) {
        // Relaxed: clear_bit is unordered.
        a.fetch_and(!(1u32 << nr) as i32, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn change_bit(a: &AtomicI32, nr: u32) {
        // Relaxed: change_bit is unordered.
        a.fetch_xor((1u32 << nr) as i32, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn clear_bit_unlock(a: &AtomicI32, nr: u32) {
        // Release: the unlock publishes the critical section to the next test_and_set_bit_lock.
        a.fetch_and(!(1u32 << nr) as i32, Ordering::Release);
    }

    #[inline(always)]
    pub(crate) fn test_and_set_bit(a: &AtomicI32, nr: u32, o: Order) -> bool {
        let m = 1u32 << nr;
        // Ordering: `o`, mapped by `rmw`.
        rmw(o, |ord| a.fetch_or(m as i32, ord)) as u32 & m != 0
    }

    #[inline(always)]
    pub(crate) fn test_and_clear_bit(a: &AtomicI32, nr: u32, o: Order) -> bool {
        let m = 1u32 << nr;
        // Ordering: `o`, mapped by `rmw`.
        rmw(o, |ord| a.fetch_and(!m as i32, ord)) as u32 & m != 0
    }

    #[inline(always)]
    pub(crate) fn test_and_change_bit(a: &AtomicI32, nr: u32, o: Order) -> bool {
        let m = 1u32 << nr;
        // Ordering: `o`, mapped by `rmw`.
        rmw(o, |ord| a.fetch_xor(m as i32, ord)) as u32 & m != 0
    }
}

/// Bit operations on one word of a bitmap (`unsigned long`), `bit < usize::BITS`.
pub(crate) mod bits {
    use crate::sync::atomic::{AtomicUsize, Ordering};
    use crate::Order;

    use super::rmw;

    #[inline(always)]
    pub(crate) fn set_bit(w: &AtomicUsize, bit: u32) {
        // Relaxed: set_bit is unordered.
        w.fetch_or(1 << bit, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn clear_bit(w: &AtomicUsize, bit: u32) {
        // Relaxed: clear_bit is unordered.
        w.fetch_and(!(1 << bit), Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn change_bit(w: &AtomicUsize, bit: u32) {
        // Relaxed: change_bit is unordered.
        w.fetch_xor(1 << bit, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn clear_bit_unlock(w: &AtomicUsize, bit: u32) {
        // Release: publishes the critical section to the next test_and_set_bit_lock.
        w.fetch_and(!(1 << bit), Ordering::Release);
    }

    #[inline(always)]
    pub(crate) fn test_and_set_bit(w: &AtomicUsize, bit: u32, o: Order) -> bool {
        // Ordering: `o`, mapped by `rmw`.
        rmw(o, |ord| w.fetch_or(1 << bit, ord)) & (1 << bit) != 0
    }

    #[inline(always)]
    pub(crate) fn test_and_clear_bit(w: &AtomicUsize, bit: u32, o: Order) -> bool {
        // Ordering: `o`, mapped by `rmw`.
        rmw(o, |ord| w.fetch_and(!(1 << bit), ord)) & (1 << bit) != 0
    }

    #[inline(always)]
    pub(crate) fn test_and_change_bit(w: &AtomicUsize, bit: u32, o: Order) -> bool {
        // Ordering: `o`, mapped by `rmw`.
        rmw(o, |ord| w.fetch_xor(1 << bit, ord)) & (1 << bit) != 0
    }
}
