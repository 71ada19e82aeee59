//! Sub-word operations on the 32-bit lock word: why they exist and how each backend does them.
//!
//! The operations themselves are methods of [`Atomic`](crate::Atomic) (the 32-bit type only):
//! `store_byte_*`, `store_half_*`, `xchg_byte*`, `xchg_half*`, `cmpxchg_byte*`,
//! `cmpxchg_half*`, and the lock-word bit operations `test_bit`, `set_bit`, `clear_bit`,
//! `change_bit`, `test_and_{set,clear,change}_bit*`, `test_and_set_bit_lock`,
//! `clear_bit_unlock`.
//!
//! # Why
//!
//! The kernel's queued spinlock packs its whole state into one 32-bit word (`locked` in byte 0,
//! `pending` in byte 1, `tail` in half 1) and mixes whole-word RMWs with accesses to the parts:
//!
//! * unlock is a byte store-release of 0 to `locked`;
//! * `clear_pending` is a byte store to `pending`;
//! * `clear_pending_set_locked` is **one** 16-bit store of `locked = 1, pending = 0` to half 0. It
//!   must be one store: done as "clear pending, then set locked", the word can read all zero in
//!   between and a fast-path `cmpxchg(0, LOCKED)` would make a second owner;
//! * `xchg_tail` is one 16-bit `xchg` on half 1, which publishes the new tail and returns the
//!   previous one without disturbing `locked`/`pending`;
//! * the paravirt variant uses byte `cmpxchg` on `locked`.
//!
//! The ticket lock and the test-and-set lock use the halfword and bit forms the same way.
//!
//! # Numbering
//!
//! Byte `n` is bits `8n..8n+8` of the 32-bit *value* and half `n` is bits `16n..16n+16`:
//! numeric significance, independent of byte order. The asm backend turns that into an address
//! offset for the target's byte order (x86-64 is little-endian, so byte `n` is at offset `n` and
//! half `n` at offset `2n`). An `n` out of range (`n >= 4` for bytes, `n >= 2` for halves, `nr >=
//! 32` for bits) panics; with a constant `n` the check folds away.
//!
//! # The two backends (pitfall 1 of the design notes)
//!
//! Rust, like C11, gives no meaning to atomic accesses of different sizes that overlap: a byte
//! store racing with a 32-bit `fetch_or` on the same word is outside the model. So:
//!
//! * **x86-64 asm:** the kernel's instructions (`mov` of a byte or word, `xchg` of a byte or
//!   word, `lock cmpxchg` of a byte or word, `lock bts/btr/btc` + `setc`) in inline asm, whose
//!   effect the hardware defines (x86 guarantees atomicity of every aligned access of each size,
//!   and locked instructions are atomic against accesses of any size). Rust never performs a
//!   sub-word atomic access itself.
//! * **portable:** every one of them is a whole-word atomic RMW: a compare-and-swap loop on the
//!   32-bit word that replaces only the bits concerned (and, for `cmpxchg_*`, gives up without
//!   writing as soon as the field differs from the expected value), or a `fetch_or`/`fetch_and`/
//!   `fetch_xor` for bits. There is no mixed-size access at all. A sub-word *store* becomes an
//!   RMW, which is stronger than a store (it is part of the word's RMW chain, and it cannot be
//!   overwritten by a stale whole-word value), and costs a CAS instead of a `mov`.
//!
//! Both backends give the same results and leave the same word; the differential test checks it.
//!
//! # Orderings
//!
//! As the kernel's suffixes: none = fully ordered; `_relaxed`; `_acquire` = the read half is an
//! acquire; `_release` = the write half is a release. On x86-64 the stores are plain `mov`s
//! (release for free under TSO, after the compiler barrier of the asm) and every RMW is a locked
//! instruction, fully ordered whatever the suffix.

/// Shift of byte `n` (numeric significance) in the 32-bit value. Panics if `n >= 4`.
#[inline(always)]
#[track_caller]
pub(crate) fn byte_shift(n: u32) -> u32 {
    if n >= 4 {
        out_of_range("byte index", n, "bytes 0..4");
    }
    8 * n
}

/// Shift of half `n` (numeric significance) in the 32-bit value. Panics if `n >= 2`.
#[inline(always)]
#[track_caller]
pub(crate) fn half_shift(n: u32) -> u32 {
    if n >= 2 {
        out_of_range("halfword index", n, "halves 0..2");
    }
    16 * n
}

/// Address offset of byte `n` in the word's storage, for this target's byte order.
#[inline(always)]
#[track_caller]
#[allow(dead_code)] // only the asm backend addresses bytes
pub(crate) fn byte_offset(n: u32) -> usize {
    let s = byte_shift(n) as usize / 8;
    if cfg!(target_endian = "little") {
        s
    } else {
        3 - s
    }
}

/// Address offset of half `n` in the word's storage, for this target's byte order.
#[inline(always)]
#[track_caller]
#[allow(dead_code)] // only the asm backend addresses halves
pub(crate) fn half_offset(n: u32) -> usize {
    let s = half_shift(n) as usize / 16;
    if cfg!(target_endian = "little") {
        2 * s
    } else {
        2 - 2 * s
    }
}

/// Panics unless `nr` names a bit of the 32-bit word.
#[inline(always)]
#[track_caller]
pub(crate) fn check_bit32(nr: u32) {
    if nr >= 32 {
        out_of_range("bit number", nr, "bits 0..32");
    }
}

/// The panic for a bad index, out of line so the checks cost one compare and branch.
#[cold]
#[inline(never)]
#[track_caller]
fn out_of_range(what: &str, n: u32, valid: &str) -> ! {
    panic!("ksync-atomic: {what} {n} out of range: a 32-bit word has {valid}")
}
