//! Bitmap operations: the kernel's atomic bitops over `&[AtomicUsize]` and their non-atomic
//! `__` forms over `&mut [usize]`.
//!
//! Mirrors `Documentation/atomic_bitops.txt`, `include/asm-generic/bitops/atomic.h`,
//! `include/asm-generic/bitops/lock.h`, `include/asm-generic/bitops/non-atomic.h` and
//! `arch/x86/include/asm/bitops.h`. A bitmap is a slice of words (the kernel's `unsigned long
//! *addr`); bit `nr` is bit `nr % BITS_PER_LONG` of word `nr / BITS_PER_LONG`.
//!
//! | operation | ordering | x86-64 | portable |
//! |---|---|---|---|
//! | [`test_bit`] | unordered | `mov` | `load(Relaxed)` |
//! | [`test_bit_acquire`] | ACQUIRE | `mov` | `load(Acquire)` |
//! | [`set_bit`], [`clear_bit`], [`change_bit`] | unordered | `lock bts/btr/btc` | `fetch_or/and/xor(Relaxed)` |
//! | [`test_and_set_bit`], [`test_and_clear_bit`], [`test_and_change_bit`] | fully ordered | `lock bts/btr/btc` + `setc` | fences around the relaxed RMW |
//! | [`test_and_set_bit_lock`] | ACQUIRE on success | `lock bts` + `setc` | `fetch_or(Acquire)` |
//! | [`clear_bit_unlock`] | RELEASE | `lock btr` | `fetch_and(Release)` |
//! | [`__clear_bit_unlock`] | RELEASE | `mov` | `load` + `store(Release)` |
//! | `__set_bit` & co. | none (exclusive access) | plain code | plain code |
//!
//! **Bad input:** an `nr` outside the bitmap panics with the bit number and the bitmap's size;
//! nothing is ever written outside the slice. (The kernel trusts `nr`; Rust slices carry their
//! length, so ksync checks it.)
//!
//! ```
//! use ksync_atomic::bitops::{self, BITS_PER_LONG};
//! use core::sync::atomic::AtomicUsize;
//!
//! let map: [AtomicUsize; 2] = Default::default();
//! assert!(!bitops::test_and_set_bit(BITS_PER_LONG + 3, &map));
//! assert!(bitops::test_bit(BITS_PER_LONG + 3, &map));
//! assert!(!bitops::test_and_set_bit_lock(0, &map)); // bit lock taken
//! bitops::clear_bit_unlock(0, &map);
//!
//! let mut plain = [0usize; 1];
//! bitops::__set_bit(5, &mut plain);
//! assert_eq!(plain[0], 1 << 5);
//! ```

use crate::sync::atomic::{AtomicUsize, Ordering};

#[doc(inline)]
pub use crate::selected::bitops::{
    change_bit, clear_bit, clear_bit_unlock, set_bit, test_and_change_bit, test_and_clear_bit,
    test_and_set_bit, test_and_set_bit_lock,
};

/// Bits in a bitmap word (the kernel's `BITS_PER_LONG`).
pub const BITS_PER_LONG: usize = usize::BITS as usize;

/// Number of words a bitmap of `nbits` bits needs (the kernel's `BITS_TO_LONGS`).
///
/// ```
/// assert_eq!(ksync_atomic::bitops::bits_to_longs(1), 1);
/// assert_eq!(ksync_atomic::bitops::bits_to_longs(ksync_atomic::bitops::BITS_PER_LONG + 1), 2);
/// ```
#[inline]
pub const fn bits_to_longs(nbits: usize) -> usize {
    nbits.div_ceil(BITS_PER_LONG)
}

#[cold]
#[inline(never)]
#[track_caller]
fn out_of_range(nr: usize, words: usize) -> ! {
    panic!(
        "ksync-atomic: bit {nr} is outside the bitmap ({words} words, bits 0..{})",
        words.saturating_mul(BITS_PER_LONG)
    )
}

/// The word holding bit `nr`, and the bit's number inside it. Panics outside the bitmap.
#[doc(hidden)]
#[inline(always)]
#[track_caller]
pub fn locate<T>(nr: usize, addr: &[T]) -> (&T, u32) {
    match addr.get(nr / BITS_PER_LONG) {
        Some(w) => (w, (nr % BITS_PER_LONG) as u32),
        None => out_of_range(nr, addr.len()),
    }
}

#[inline(always)]
#[track_caller]
fn locate_mut(nr: usize, addr: &mut [usize]) -> (&mut usize, usize) {
    let len = addr.len();
    match addr.get_mut(nr / BITS_PER_LONG) {
        Some(w) => (w, 1 << (nr % BITS_PER_LONG)),
        None => out_of_range(nr, len),
    }
}

/// Returns bit `nr` of the bitmap. The kernel's `test_bit()`.
///
/// **Ordering:** unordered (a relaxed read). Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn test_bit(nr: usize, addr: &[AtomicUsize]) -> bool {
    let (w, b) = locate(nr, addr);
    // Relaxed: test_bit is READ_ONCE of the word.
    w.load(Ordering::Relaxed) & (1 << b) != 0
}

/// Returns bit `nr` of the bitmap with ACQUIRE ordering. The kernel's `test_bit_acquire()`.
///
/// Pairs with [`clear_bit_unlock`] (wait for a bit lock to be dropped, then read what its
/// holder wrote). Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn test_bit_acquire(nr: usize, addr: &[AtomicUsize]) -> bool {
    let (w, b) = locate(nr, addr);
    // Acquire: orders the later accesses after the read that saw the bit.
    w.load(Ordering::Acquire) & (1 << b) != 0
}

/// Clears bit `nr` with RELEASE ordering, **non-atomically**: the kernel's
/// `__clear_bit_unlock()`.
///
/// It reads the word and stores it back with the bit cleared, so a concurrent change to *another*
/// bit of the same word between the two is lost. Use it only where the caller, holding the bit
/// lock, knows nobody else modifies that word; otherwise use [`clear_bit_unlock`]. (It is a
/// defined, if lossy, operation: two atomics, never a data race.) Panics if `nr` is outside the
/// bitmap.
///
/// * **x86-64:** a `mov` load and a `mov` store.
#[inline(always)]
#[track_caller]
pub fn __clear_bit_unlock(nr: usize, addr: &[AtomicUsize]) {
    let (w, b) = locate(nr, addr);
    // Relaxed: the lock holder's own bit; the caller vouches nobody else writes the word.
    let old = w.load(Ordering::Relaxed);
    // Release: the unlock publishes the critical section.
    w.store(old & !(1 << b), Ordering::Release);
}

/// Sets bit `nr`, non-atomically (`&mut` proves nobody else looks). The kernel's `__set_bit()`.
///
/// Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn __set_bit(nr: usize, addr: &mut [usize]) {
    let (w, m) = locate_mut(nr, addr);
    *w |= m;
}

/// Clears bit `nr`, non-atomically. The kernel's `__clear_bit()`.
///
/// Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn __clear_bit(nr: usize, addr: &mut [usize]) {
    let (w, m) = locate_mut(nr, addr);
    *w &= !m;
}

/// Flips bit `nr`, non-atomically. The kernel's `__change_bit()`.
///
/// Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn __change_bit(nr: usize, addr: &mut [usize]) {
    let (w, m) = locate_mut(nr, addr);
    *w ^= m;
}

/// Sets bit `nr` and returns its old value, non-atomically. The kernel's
/// `__test_and_set_bit()`.
///
/// Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn __test_and_set_bit(nr: usize, addr: &mut [usize]) -> bool {
    let (w, m) = locate_mut(nr, addr);
    let old = *w & m != 0;
    *w |= m;
    old
}

/// Clears bit `nr` and returns its old value, non-atomically. The kernel's
/// `__test_and_clear_bit()`.
///
/// Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn __test_and_clear_bit(nr: usize, addr: &mut [usize]) -> bool {
    let (w, m) = locate_mut(nr, addr);
    let old = *w & m != 0;
    *w &= !m;
    old
}

/// Flips bit `nr` and returns its old value, non-atomically. The kernel's
/// `__test_and_change_bit()`.
///
/// Panics if `nr` is outside the bitmap.
#[inline(always)]
#[track_caller]
pub fn __test_and_change_bit(nr: usize, addr: &mut [usize]) -> bool {
    let (w, m) = locate_mut(nr, addr);
    let old = *w & m != 0;
    *w ^= m;
    old
}
