//! The x86-64 inline-asm backend: the kernel's instruction for every operation.
//!
//! Mirrors `arch/x86/include/asm/atomic.h`, `atomic64_64.h`, `cmpxchg.h` and `bitops.h`.
//! Compiled only where [`ksync_barrier::cfg_asm!`] says so (x86-64, not loom, not miri, not
//! `ksync_no_asm`).
//!
//! # Shape of every asm block here
//!
//! * It receives the address of the atomic's storage (`AtomicI32::as_ptr` and friends) and
//!   accesses exactly that naturally aligned word (or one aligned byte or halfword of it) with one
//!   instruction. Every read-modify-write is `lock`-prefixed (or is `xchg` with memory, which is
//!   locked implicitly), so it is atomic with respect to every other access to that memory, by any
//!   CPU, of any size.
//! * It has no `nomem`/`readonly` option, so the compiler treats it as reading and writing any
//!   memory reachable from the pointer and as a compiler barrier (the kernel's `"memory"`
//!   clobber). It cannot cache a value of the word across it, and it cannot move any other memory
//!   access across it.
//! * A locked instruction is a full barrier on x86-64 (it drains the store buffer and is not
//!   reordered with any load or store), so with the compiler barrier it *is* `smp_mb(); op;
//!   smp_mb()`: every ordering suffix compiles to the same instruction.
//!
//! # Why asm RMWs and Rust atomics may share a word
//!
//! The word is a Rust `AtomicI32`/`AtomicI64`/`AtomicIsize`, and ksync also reads and stores it
//! through Rust atomics (`read`, `set`, `read_acquire`, `set_release`, `cond_read_*`), which
//! compile to single aligned `mov`s. The Rust memory model does not describe the asm: an asm block
//! is opaque, and the compiler must assume it performs any access or synchronisation the
//! surrounding Rust code could perform through the pointer it was given, including atomic RMWs
//! with fences on that very word. That is the only thing ksync relies on from the compiler: it
//! emits every Rust-side access as the one instruction it promises and keeps program order
//! around the asm. What the accesses then *mean* is said by the hardware model (x86-TSO, with
//! locked instructions as full fences), which is the model the kernel's own code is written
//! against. Where the Rust model stops speaking, the test suite speaks instead: the differential
//! test checks every operation against the portable backend, and the codegen check that the
//! expected instruction is emitted. Loom and miri cannot see asm; they run the portable backend.
//!
//! The sub-word operations go one step further: a byte or halfword access to part of a word
//! that Rust also accesses as a whole is a *mixed-size* access, which the Rust model leaves
//! undefined even between atomics. They are therefore asm only, never Rust atomics (see
//! [`crate::subword`]).

// Every asm block: the pointer comes from the atomic's `as_ptr()` (valid, aligned, live for
// the borrow), and the asm accesses exactly the bytes of that atomic, atomically.

macro_rules! x86_width {
    ($(#[$m:meta])* $w:ident: $V:ty, $A:ident, $sz:literal, $r:literal, $acc:tt) => {
        $(#[$m])*
        pub(crate) mod $w {
            use core::arch::asm;

            use crate::Order;
            use crate::sync::atomic::{$A, Ordering};

            // Non-value-returning RMWs: `lock <op>` with the operand in a register.

            #[inline(always)]
            pub(crate) fn add(a: &$A, i: $V) {
                // SAFETY: a locked add on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock add ", $sz, " ptr [{p}], {i", $r, "}"),
                        p = in(reg) a.as_ptr(), i = in(reg) i, options(nostack));
                }
            }

            #[inline(always)]
            pub(crate) fn sub(a: &$A, i: $V) {
                // SAFETY: a locked sub on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock sub ", $sz, " ptr [{p}], {i", $r, "}"),
                        p = in(reg) a.as_ptr(), i = in(reg) i, options(nostack));
                }
            }

            #[inline(always)]
            pub(crate) fn inc(a: &$A) {
                // SAFETY: a locked inc on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock inc ", $sz, " ptr [{p}]"),
                        p = in(reg) a.as_ptr(), options(nostack));
                }
            }

            #[inline(always)]
            pub(crate) fn dec(a: &$A) {
                // SAFETY: a locked dec on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock dec ", $sz, " ptr [{p}]"),
                        p = in(reg) a.as_ptr(), options(nostack));
                }
            }

            #[inline(always)]
            pub(crate) fn and(a: &$A, i: $V) {
                // SAFETY: a locked and on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock and ", $sz, " ptr [{p}], {i", $r, "}"),
                        p = in(reg) a.as_ptr(), i = in(reg) i, options(nostack));
                }
            }

            #[inline(always)]
            pub(crate) fn or(a: &$A, i: $V) {
                // SAFETY: a locked or on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock or ", $sz, " ptr [{p}], {i", $r, "}"),
                        p = in(reg) a.as_ptr(), i = in(reg) i, options(nostack));
                }
            }

            #[inline(always)]
            pub(crate) fn xor(a: &$A, i: $V) {
                // SAFETY: a locked xor on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock xor ", $sz, " ptr [{p}], {i", $r, "}"),
                        p = in(reg) a.as_ptr(), i = in(reg) i, options(nostack));
                }
            }

            // Value-returning RMWs. `_o` is ignored: the locked instruction is fully ordered.

            #[inline(always)]
            pub(crate) fn fetch_add(a: &$A, i: $V, _o: Order) -> $V {
                let old: $V;
                // SAFETY: `lock xadd` on the atomic's own aligned storage; clobbers flags.
                unsafe {
                    asm!(concat!("lock xadd ", $sz, " ptr [{p}], {v", $r, "}"),
                        p = in(reg) a.as_ptr(), v = inout(reg) i => old, options(nostack));
                }
                old
            }

            #[inline(always)]
            pub(crate) fn fetch_sub(a: &$A, i: $V, o: Order) -> $V {
                // The kernel's `xadd(-i)`.
                fetch_add(a, i.wrapping_neg(), o)
            }

            #[inline(always)]
            pub(crate) fn add_return(a: &$A, i: $V, o: Order) -> $V {
                fetch_add(a, i, o).wrapping_add(i)
            }

            #[inline(always)]
            pub(crate) fn sub_return(a: &$A, i: $V, o: Order) -> $V {
                fetch_add(a, i.wrapping_neg(), o).wrapping_sub(i)
            }

            /// The kernel's x86 `fetch_{and,or,xor}`: a `try_cmpxchg` loop (x86 has no
            /// fetch-and-op for the bitwise operations).
            #[inline(always)]
            fn fetch_op(a: &$A, f: impl Fn($V) -> $V) -> $V {
                match update(a, Order::Full, |c| Some(f(c))) {
                    Ok(v) | Err(v) => v,
                }
            }

            #[inline(always)]
            pub(crate) fn fetch_and(a: &$A, i: $V, _o: Order) -> $V {
                fetch_op(a, |c| c & i)
            }

            #[inline(always)]
            pub(crate) fn fetch_or(a: &$A, i: $V, _o: Order) -> $V {
                fetch_op(a, |c| c | i)
            }

            #[inline(always)]
            pub(crate) fn fetch_xor(a: &$A, i: $V, _o: Order) -> $V {
                fetch_op(a, |c| c ^ i)
            }

            #[inline(always)]
            pub(crate) fn xchg(a: &$A, i: $V, _o: Order) -> $V {
                let old: $V;
                // SAFETY: `xchg` with memory on the atomic's own aligned storage (implicitly
                // locked, no prefix needed); leaves the flags alone.
                unsafe {
                    asm!(concat!("xchg ", $sz, " ptr [{p}], {v", $r, "}"),
                        p = in(reg) a.as_ptr(), v = inout(reg) i => old,
                        options(nostack, preserves_flags));
                }
                old
            }

            #[inline(always)]
            pub(crate) fn cmpxchg(a: &$A, old: $V, new: $V, _o: Order) -> $V {
                let found: $V;
                // SAFETY: `lock cmpxchg` on the atomic's own aligned storage; the expected value
                // goes in and the found value comes out in the accumulator; clobbers flags.
                unsafe {
                    asm!(concat!("lock cmpxchg ", $sz, " ptr [{p}], {n", $r, "}"),
                        p = in(reg) a.as_ptr(), n = in(reg) new, inout($acc) old => found,
                        options(nostack));
                }
                found
            }

            /// `lock cmpxchg`; success is `found == *old`, the very test the instruction makes
            /// to set ZF. (The kernel branches on ZF through a flag output; Rust's asm has no
            /// flag outputs, and a `cmp` in Rust lets the compiler branch on it directly, where
            /// a `sete` would need a second test.)
            #[inline(always)]
            pub(crate) fn try_cmpxchg(a: &$A, old: &mut $V, new: $V, o: Order) -> bool {
                let expected = *old;
                let found = cmpxchg(a, expected, new, o);
                *old = found;
                found == expected
            }

            #[inline(always)]
            pub(crate) fn sub_and_test(a: &$A, i: $V) -> bool {
                let z: u8;
                // SAFETY: a locked sub on the atomic's own storage, then `sete` of its ZF.
                unsafe {
                    asm!(concat!("lock sub ", $sz, " ptr [{p}], {i", $r, "}"), "sete {z}",
                        p = in(reg) a.as_ptr(), i = in(reg) i, z = out(reg_byte) z,
                        options(nostack));
                }
                z != 0
            }

            #[inline(always)]
            pub(crate) fn inc_and_test(a: &$A) -> bool {
                let z: u8;
                // SAFETY: a locked inc on the atomic's own storage, then `sete` of its ZF.
                unsafe {
                    asm!(concat!("lock inc ", $sz, " ptr [{p}]"), "sete {z}",
                        p = in(reg) a.as_ptr(), z = out(reg_byte) z, options(nostack));
                }
                z != 0
            }

            #[inline(always)]
            pub(crate) fn dec_and_test(a: &$A) -> bool {
                let z: u8;
                // SAFETY: a locked dec on the atomic's own storage, then `sete` of its ZF.
                unsafe {
                    asm!(concat!("lock dec ", $sz, " ptr [{p}]"), "sete {z}",
                        p = in(reg) a.as_ptr(), z = out(reg_byte) z, options(nostack));
                }
                z != 0
            }

            #[inline(always)]
            pub(crate) fn add_negative(a: &$A, i: $V, _o: Order) -> bool {
                let s: u8;
                // SAFETY: a locked add on the atomic's own storage, then `sets` of its SF.
                unsafe {
                    asm!(concat!("lock add ", $sz, " ptr [{p}], {i", $r, "}"), "sets {s}",
                        p = in(reg) a.as_ptr(), i = in(reg) i, s = out(reg_byte) s,
                        options(nostack));
                }
                s != 0
            }

            /// The kernel's `try_cmpxchg` loop; see the portable twin. Ordered (fully, as every
            /// `lock cmpxchg`) on success; a refusal by `f` touches nothing.
            #[inline(always)]
            pub(crate) fn update(
                a: &$A,
                _o: Order,
                mut f: impl FnMut($V) -> Option<$V>,
            ) -> Result<$V, $V> {
                // Relaxed (a plain `mov`): the first guess, checked by the cmpxchg.
                let mut cur = a.load(Ordering::Relaxed);
                loop {
                    let Some(new) = f(cur) else { return Err(cur) };
                    let old = cur;
                    if try_cmpxchg(a, &mut cur, new, Order::Full) {
                        return Ok(old);
                    }
                }
            }
        }
    };
}

x86_width!(w32: i32, AtomicI32, "dword", ":e", "eax");
x86_width!(w64: i64, AtomicI64, "qword", ":r", "rax");
x86_width!(wsize: isize, AtomicIsize, "qword", ":r", "rax");

/// `lock bts/btr/btc` (+ `setc` for the `test_and_*` forms) with the bit number in a register.
/// The callers guarantee `nr` is below the word's width, so the bit-string addressing of `bt*`
/// with a register offset never leaves the word.
macro_rules! bit_ops {
    ($A:ident, $N:ty, $sz:literal, $r:literal) => {
        #[inline(always)]
        pub(crate) fn set_bit(a: &$A, nr: u32) {
            // SAFETY: `lock bts` of bit `nr` (< width) of the atomic's own word; clobbers flags.
            unsafe {
                asm!(concat!("lock bts ", $sz, " ptr [{p}], {b", $r, "}"),
                    p = in(reg) a.as_ptr(), b = in(reg) <$N>::from(nr), options(nostack));
            }
        }

        #[inline(always)]
        pub(crate) fn clear_bit(a: &$A, nr: u32) {
            // SAFETY: `lock btr` of bit `nr` (< width) of the atomic's own word; clobbers flags.
            unsafe {
                asm!(concat!("lock btr ", $sz, " ptr [{p}], {b", $r, "}"),
                    p = in(reg) a.as_ptr(), b = in(reg) <$N>::from(nr), options(nostack));
            }
        }

        #[inline(always)]
        pub(crate) fn change_bit(a: &$A, nr: u32) {
            // SAFETY: `lock btc` of bit `nr` (< width) of the atomic's own word; clobbers flags.
            unsafe {
                asm!(concat!("lock btc ", $sz, " ptr [{p}], {b", $r, "}"),
                    p = in(reg) a.as_ptr(), b = in(reg) <$N>::from(nr), options(nostack));
            }
        }

        /// The kernel's x86 `clear_bit_unlock`: a compiler barrier and a locked `btr` (the
        /// asm's memory clobber is the barrier).
        #[inline(always)]
        pub(crate) fn clear_bit_unlock(a: &$A, nr: u32) {
            clear_bit(a, nr);
        }

        #[inline(always)]
        pub(crate) fn test_and_set_bit(a: &$A, nr: u32, _o: Order) -> bool {
            let c: u8;
            // SAFETY: `lock bts` of bit `nr` (< width), then `setc` of the old bit (CF).
            unsafe {
                asm!(concat!("lock bts ", $sz, " ptr [{p}], {b", $r, "}"), "setc {c}",
                    p = in(reg) a.as_ptr(), b = in(reg) <$N>::from(nr), c = out(reg_byte) c,
                    options(nostack));
            }
            c != 0
        }

        #[inline(always)]
        pub(crate) fn test_and_clear_bit(a: &$A, nr: u32, _o: Order) -> bool {
            let c: u8;
            // SAFETY: `lock btr` of bit `nr` (< width), then `setc` of the old bit (CF).
            unsafe {
                asm!(concat!("lock btr ", $sz, " ptr [{p}], {b", $r, "}"), "setc {c}",
                    p = in(reg) a.as_ptr(), b = in(reg) <$N>::from(nr), c = out(reg_byte) c,
                    options(nostack));
            }
            c != 0
        }

        #[inline(always)]
        pub(crate) fn test_and_change_bit(a: &$A, nr: u32, _o: Order) -> bool {
            let c: u8;
            // SAFETY: `lock btc` of bit `nr` (< width), then `setc` of the old bit (CF).
            unsafe {
                asm!(concat!("lock btc ", $sz, " ptr [{p}], {b", $r, "}"), "setc {c}",
                    p = in(reg) a.as_ptr(), b = in(reg) <$N>::from(nr), c = out(reg_byte) c,
                    options(nostack));
            }
            c != 0
        }
    };
}
/// Sub-word and lock-word bit operations on the 32-bit word: byte and halfword instructions at
/// the field's address, `lock bts/btr/btc` for bits.
pub(crate) mod sub32 {
    use core::arch::asm;

    use crate::subword::{byte_offset, half_offset};
    use crate::sync::atomic::AtomicI32;
    use crate::Order;

    /// Address of byte `n` (numeric significance) of the word.
    #[inline(always)]
    fn byte_ptr(a: &AtomicI32, n: u32) -> *mut u8 {
        // In bounds: `byte_offset` asserts `n < 4`, and the word is 4 bytes.
        a.as_ptr().cast::<u8>().wrapping_add(byte_offset(n))
    }

    /// Address of halfword `n` (numeric significance) of the word; 2-byte aligned.
    #[inline(always)]
    fn half_ptr(a: &AtomicI32, n: u32) -> *mut u16 {
        // In bounds and aligned: `half_offset` asserts `n < 2` and returns 0 or 2.
        a.as_ptr().cast::<u8>().wrapping_add(half_offset(n)).cast::<u16>()
    }

    #[inline(always)]
    pub(crate) fn store_byte(a: &AtomicI32, n: u32, v: u8, _o: Order) {
        // SAFETY: one byte `mov` into byte `n` of the word (in bounds, see `byte_ptr`). The
        // memory clobber is the compiler barrier a release needs; TSO does the rest.
        unsafe {
            asm!("mov byte ptr [{p}], {v}", p = in(reg) byte_ptr(a, n), v = in(reg_byte) v,
                options(nostack, preserves_flags));
        }
    }

    #[inline(always)]
    pub(crate) fn store_half(a: &AtomicI32, n: u32, v: u16, _o: Order) {
        // SAFETY: one aligned 16-bit `mov` into half `n` of the word (see `half_ptr`); the
        // memory clobber is the compiler barrier a release needs.
        unsafe {
            asm!("mov word ptr [{p}], {v:x}", p = in(reg) half_ptr(a, n), v = in(reg) v,
                options(nostack, preserves_flags));
        }
    }

    #[inline(always)]
    pub(crate) fn xchg_byte(a: &AtomicI32, n: u32, v: u8, _o: Order) -> u8 {
        let old: u8;
        // SAFETY: a byte `xchg` (implicitly locked) on byte `n` of the word.
        unsafe {
            asm!("xchg byte ptr [{p}], {v}", p = in(reg) byte_ptr(a, n),
                v = inout(reg_byte) v => old, options(nostack, preserves_flags));
        }
        old
    }

    #[inline(always)]
    pub(crate) fn xchg_half(a: &AtomicI32, n: u32, v: u16, _o: Order) -> u16 {
        let old: u16;
        // SAFETY: an aligned 16-bit `xchg` (implicitly locked) on half `n` of the word.
        unsafe {
            asm!("xchg word ptr [{p}], {v:x}", p = in(reg) half_ptr(a, n),
                v = inout(reg) v => old, options(nostack, preserves_flags));
        }
        old
    }

    #[inline(always)]
    pub(crate) fn cmpxchg_byte(a: &AtomicI32, n: u32, old: u8, new: u8, _o: Order) -> u8 {
        let found: u8;
        // SAFETY: a byte `lock cmpxchg` on byte `n` of the word; expected/found in `al`.
        unsafe {
            asm!("lock cmpxchg byte ptr [{p}], {n}", p = in(reg) byte_ptr(a, n),
                n = in(reg_byte) new, inout("al") old => found, options(nostack));
        }
        found
    }

    #[inline(always)]
    pub(crate) fn cmpxchg_half(a: &AtomicI32, n: u32, old: u16, new: u16, _o: Order) -> u16 {
        let found: u16;
        // SAFETY: an aligned 16-bit `lock cmpxchg` on half `n`; expected/found in `ax`.
        unsafe {
            asm!("lock cmpxchg word ptr [{p}], {n:x}", p = in(reg) half_ptr(a, n),
                n = in(reg) new, inout("ax") old => found, options(nostack));
        }
        found
    }

    bit_ops!(AtomicI32, u32, "dword", ":e");
}

/// Bit operations on one word of a bitmap (`unsigned long`), `bit < 64`.
pub(crate) mod bits {
    use core::arch::asm;

    use crate::sync::atomic::AtomicUsize;
    use crate::Order;

    bit_ops!(AtomicUsize, u64, "qword", ":r");
}

