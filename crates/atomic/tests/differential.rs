//! Differential test: every operation of every type, on both backends (the x86-64 asm backend
//! where it is built, and the portable backend always), over edge and random inputs, against a
//! plain-integer model of the kernel's semantics. Both backends must return what the model
//! returns and leave the word the model leaves, so they agree with each other.
//!
//! Seeded: set `KSYNC_SEED` to replay a failure (the seed is in every assertion message).
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use ksync_atomic::bitops::{self, BITS_PER_LONG};

/// Random inputs per operation and backend.
const ROUNDS: usize = 600;

#[macro_use]
mod common;

struct Gen {
    rng: fastrand::Rng,
    seed: u64,
}

impl Gen {
    fn new() -> Self {
        let seed = std::env::var("KSYNC_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x6b73_796e_635f_6174); // "ksync_at"
        Gen {
            rng: fastrand::Rng::with_seed(seed),
            seed,
        }
    }
}

/// Edge values first (0, 1, -1, MIN, MAX, MIN/2, ...), then random ones, for one width.
macro_rules! value_gen {
    ($fn:ident, $V:ty) => {
        impl Gen {
            fn $fn(&mut self) -> $V {
                const EDGES: [$V; 10] = [
                    0,
                    1,
                    -1,
                    <$V>::MIN,
                    <$V>::MAX,
                    <$V>::MIN / 2,
                    <$V>::MAX / 2,
                    2,
                    -2,
                    <$V>::MIN + 1,
                ];
                if self.rng.bool() {
                    EDGES[self.rng.usize(..EDGES.len())]
                } else if self.rng.bool() {
                    // Small values, where the conditional ops change their minds.
                    self.rng.i64(-3..=3) as $V
                } else {
                    // Any bit pattern.
                    self.rng.u64(..) as $V
                }
            }
        }
    };
}
value_gen!(v32, i32);
value_gen!(v64, i64);
value_gen!(vsize, isize);

/// Families of operations with one model each: every listed method (usually the four ordering
/// variants) must behave as the model, which computes the return value and updates the state.
macro_rules! diff_ops {
    ($g:ident, $Ty:ident, $V:ty, $val:ident, $s0:ident;
     $( [$($op:ident),+] $args:tt => |$st:ident| $model:block )*) => {$($(
        diff_one!($g, $Ty, $V, $val, $s0, $op, $args, |$st| $model);
    )+)*};
}

/// One method against the model, `ROUNDS` times, on every backend.
macro_rules! diff_one {
    ($g:ident, $Ty:ident, $V:ty, $val:ident, $s0:ident, $op:ident, ($($arg:ident = $gen:expr),*),
     |$st:ident| $model:block) => {
        for _ in 0..ROUNDS {
            let $s0: $V = $g.$val();
            $(let $arg = $gen;)*
            #[allow(unused_mut, unused_assignments)]
            let mut $st = $s0;
            #[allow(clippy::let_unit_value)]
            let want = $model;
            let want_state = $st;
            on_backends!(|b, backend| {
                let a = b::$Ty::new($s0);
                #[allow(clippy::let_unit_value)]
                let got = a.$op($($arg),*);
                let args = format!(concat!("" $(, stringify!($arg), "={:?} ")*) $(, $arg)*);
                assert_eq!(got, want, "{backend} {}::{}({args}) on {} returned wrong value (seed {})",
                    stringify!($Ty), stringify!($op), $s0, $g.seed);
                assert_eq!(a.read(), want_state, "{backend} {}::{}({args}) on {} left wrong state (seed {})",
                    stringify!($Ty), stringify!($op), $s0, $g.seed);
            });
        }
    };
}

/// The whole `atomic_t` API of one type, against the model.
macro_rules! diff_width {
    ($test:ident, $Ty:ident, $V:ty, $val:ident) => {
        #[test]
        fn $test() {
            let mut g = Gen::new();
            diff_ops! { g, $Ty, $V, $val, s0;
                [read, read_acquire] () => |s| { s }
                [set, set_release] (i = g.$val()) => |s| { s = i; }
                [add] (i = g.$val()) => |s| { s = s.wrapping_add(i); }
                [sub] (i = g.$val()) => |s| { s = s.wrapping_sub(i); }
                [inc] () => |s| { s = s.wrapping_add(1); }
                [dec] () => |s| { s = s.wrapping_sub(1); }
                [and] (i = g.$val()) => |s| { s &= i; }
                [or] (i = g.$val()) => |s| { s |= i; }
                [xor] (i = g.$val()) => |s| { s ^= i; }
                [andnot] (i = g.$val()) => |s| { s &= !i; }
                [add_return, add_return_relaxed, add_return_acquire, add_return_release]
                    (i = g.$val()) => |s| { s = s.wrapping_add(i); s }
                [sub_return, sub_return_relaxed, sub_return_acquire, sub_return_release]
                    (i = g.$val()) => |s| { s = s.wrapping_sub(i); s }
                [inc_return, inc_return_relaxed, inc_return_acquire, inc_return_release]
                    () => |s| { s = s.wrapping_add(1); s }
                [dec_return, dec_return_relaxed, dec_return_acquire, dec_return_release]
                    () => |s| { s = s.wrapping_sub(1); s }
                [fetch_add, fetch_add_relaxed, fetch_add_acquire, fetch_add_release]
                    (i = g.$val()) => |s| { let o = s; s = s.wrapping_add(i); o }
                [fetch_sub, fetch_sub_relaxed, fetch_sub_acquire, fetch_sub_release]
                    (i = g.$val()) => |s| { let o = s; s = s.wrapping_sub(i); o }
                [fetch_inc, fetch_inc_relaxed, fetch_inc_acquire, fetch_inc_release]
                    () => |s| { let o = s; s = s.wrapping_add(1); o }
                [fetch_dec, fetch_dec_relaxed, fetch_dec_acquire, fetch_dec_release]
                    () => |s| { let o = s; s = s.wrapping_sub(1); o }
                [fetch_and, fetch_and_relaxed, fetch_and_acquire, fetch_and_release]
                    (i = g.$val()) => |s| { let o = s; s &= i; o }
                [fetch_or, fetch_or_relaxed, fetch_or_acquire, fetch_or_release]
                    (i = g.$val()) => |s| { let o = s; s |= i; o }
                [fetch_xor, fetch_xor_relaxed, fetch_xor_acquire, fetch_xor_release]
                    (i = g.$val()) => |s| { let o = s; s ^= i; o }
                [fetch_andnot, fetch_andnot_relaxed, fetch_andnot_acquire, fetch_andnot_release]
                    (i = g.$val()) => |s| { let o = s; s &= !i; o }
                [xchg, xchg_relaxed, xchg_acquire, xchg_release]
                    (i = g.$val()) => |s| { let o = s; s = i; o }
                [cmpxchg, cmpxchg_relaxed, cmpxchg_acquire, cmpxchg_release]
                    (old = if g.rng.bool() { s0 } else { g.$val() }, new = g.$val())
                    => |s| { let o = s; if s == old { s = new; } o }
                [add_negative, add_negative_relaxed, add_negative_acquire, add_negative_release]
                    (i = g.$val()) => |s| { s = s.wrapping_add(i); s < 0 }
                [sub_and_test] (i = if g.rng.bool() { s0 } else { g.$val() })
                    => |s| { s = s.wrapping_sub(i); s == 0 }
                [dec_and_test] () => |s| { s = s.wrapping_sub(1); s == 0 }
                [inc_and_test] () => |s| { s = s.wrapping_add(1); s == 0 }
                [fetch_add_unless] (a = g.$val(), u = if g.rng.bool() { s0 } else { g.$val() })
                    => |s| { let o = s; if s != u { s = s.wrapping_add(a); } o }
                [add_unless] (a = g.$val(), u = if g.rng.bool() { s0 } else { g.$val() })
                    => |s| { let ok = s != u; if ok { s = s.wrapping_add(a); } ok }
                [inc_not_zero] () => |s| { let ok = s != 0; if ok { s = s.wrapping_add(1); } ok }
                [inc_unless_negative] ()
                    => |s| { let ok = s >= 0; if ok { s = s.wrapping_add(1); } ok }
                [dec_unless_positive] ()
                    => |s| { let ok = s <= 0; if ok { s = s.wrapping_sub(1); } ok }
                [dec_if_positive] ()
                    => |s| { let d = s.wrapping_sub(1); if d >= 0 { s = d; } d }
            }

            // try_cmpxchg: the `&mut old` write-back on failure.
            for _ in 0..ROUNDS {
                let s0 = g.$val();
                let old0 = if g.rng.bool() { s0 } else { g.$val() };
                let new = g.$val();
                let (want_ok, want_old, want_state) = if s0 == old0 {
                    (true, old0, new)
                } else {
                    (false, s0, s0)
                };
                on_backends!(|b, backend| {
                    let a = b::$Ty::new(s0);
                    let variants: [(&str, fn(&b::$Ty, &mut $V, $V) -> bool); 4] = [
                        ("try_cmpxchg", b::$Ty::try_cmpxchg),
                        ("try_cmpxchg_relaxed", b::$Ty::try_cmpxchg_relaxed),
                        ("try_cmpxchg_acquire", b::$Ty::try_cmpxchg_acquire),
                        ("try_cmpxchg_release", b::$Ty::try_cmpxchg_release),
                    ];
                    for (name, f) in variants {
                        a.set(s0);
                        let mut old = old0;
                        let ok = f(&a, &mut old, new);
                        let ctx = format!(
                            "{backend} {name}(old={old0}, new={new}) on {s0} (seed {})",
                            g.seed
                        );
                        assert_eq!(ok, want_ok, "{ctx}: success");
                        assert_eq!(old, want_old, "{ctx}: *old afterwards");
                        assert_eq!(a.read(), want_state, "{ctx}: state");
                    }
                });
            }

            // cond_read_*: returns the first value that satisfies the condition (here at once).
            on_backends!(|b, backend| {
                let a = b::$Ty::new(<$V>::MIN);
                assert_eq!(a.cond_read_relaxed(|v| v < 0), <$V>::MIN, "{backend}");
                assert_eq!(
                    a.cond_read_acquire(|v| v == <$V>::MIN),
                    <$V>::MIN,
                    "{backend}"
                );
            });

            // Construction and the std traits.
            on_backends!(|b, backend| {
                assert_eq!(b::$Ty::default().read(), 0, "{backend}");
                assert_eq!(b::$Ty::from(<$V>::MAX).into_inner(), <$V>::MAX, "{backend}");
                assert_eq!(
                    format!("{:?}", b::$Ty::new(-5)),
                    concat!(stringify!($Ty), "(-5)")
                );
                let a = b::$Ty::new(7);
                // SAFETY: `as_ptr` points at the live counter; nothing else accesses it.
                assert_eq!(unsafe { a.as_ptr().read() }, 7, "{backend}");
            });
        }
    };
}

diff_width!(atomic_i32, Atomic, i32, v32);
diff_width!(atomic64_i64, Atomic64, i64, v64);
diff_width!(atomic_long_isize, AtomicLong, isize, vsize);

fn byte(w: u32, n: u32) -> u32 {
    (w >> (8 * n)) & 0xff
}
fn half(w: u32, n: u32) -> u32 {
    (w >> (16 * n)) & 0xffff
}
fn put_byte(w: u32, n: u32, v: u32) -> u32 {
    (w & !(0xff << (8 * n))) | (v << (8 * n))
}
fn put_half(w: u32, n: u32, v: u32) -> u32 {
    (w & !(0xffff << (16 * n))) | (v << (16 * n))
}

/// The sub-word and lock-word bit operations of `Atomic`, on both backends, against the model.
#[test]
fn atomic_subword_and_bits() {
    let mut g = Gen::new();
    diff_ops! { g, Atomic, i32, v32, s0;
        [store_byte_relaxed, store_byte_release] (n = g.rng.u32(0..4), v = g.rng.u8(..))
            => |s| { s = put_byte(s as u32, n, v.into()) as i32; }
        [store_half_relaxed, store_half_release] (n = g.rng.u32(0..2), v = g.rng.u16(..))
            => |s| { s = put_half(s as u32, n, v.into()) as i32; }
        [xchg_byte, xchg_byte_relaxed, xchg_byte_acquire, xchg_byte_release]
            (n = g.rng.u32(0..4), v = g.rng.u8(..))
            => |s| { let o = byte(s as u32, n) as u8; s = put_byte(s as u32, n, v.into()) as i32; o }
        [xchg_half, xchg_half_relaxed, xchg_half_acquire, xchg_half_release]
            (n = g.rng.u32(0..2), v = g.rng.u16(..))
            => |s| { let o = half(s as u32, n) as u16; s = put_half(s as u32, n, v.into()) as i32; o }
        [cmpxchg_byte, cmpxchg_byte_relaxed, cmpxchg_byte_acquire, cmpxchg_byte_release]
            (n = g.rng.u32(0..4),
             old = if g.rng.bool() { byte(s0 as u32, n) as u8 } else { g.rng.u8(..) },
             new = g.rng.u8(..))
            => |s| {
                let cur = byte(s as u32, n) as u8;
                if cur == old { s = put_byte(s as u32, n, new.into()) as i32; }
                cur
            }
        [cmpxchg_half, cmpxchg_half_relaxed, cmpxchg_half_acquire, cmpxchg_half_release]
            (n = g.rng.u32(0..2),
             old = if g.rng.bool() { half(s0 as u32, n) as u16 } else { g.rng.u16(..) },
             new = g.rng.u16(..))
            => |s| {
                let cur = half(s as u32, n) as u16;
                if cur == old { s = put_half(s as u32, n, new.into()) as i32; }
                cur
            }
        [test_bit] (nr = g.rng.u32(0..32)) => |s| { s as u32 & (1 << nr) != 0 }
        [set_bit] (nr = g.rng.u32(0..32)) => |s| { s |= (1u32 << nr) as i32; }
        [clear_bit, clear_bit_unlock] (nr = g.rng.u32(0..32)) => |s| { s &= !((1u32 << nr) as i32); }
        [change_bit] (nr = g.rng.u32(0..32)) => |s| { s ^= (1u32 << nr) as i32; }
        [test_and_set_bit, test_and_set_bit_relaxed, test_and_set_bit_acquire,
            test_and_set_bit_release, test_and_set_bit_lock] (nr = g.rng.u32(0..32))
            => |s| { let o = s as u32 & (1 << nr) != 0; s |= (1u32 << nr) as i32; o }
        [test_and_clear_bit, test_and_clear_bit_relaxed, test_and_clear_bit_acquire,
            test_and_clear_bit_release] (nr = g.rng.u32(0..32))
            => |s| { let o = s as u32 & (1 << nr) != 0; s &= !((1u32 << nr) as i32); o }
        [test_and_change_bit, test_and_change_bit_relaxed, test_and_change_bit_acquire,
            test_and_change_bit_release] (nr = g.rng.u32(0..32))
            => |s| { let o = s as u32 & (1 << nr) != 0; s ^= (1u32 << nr) as i32; o }
    }
}

/// Byte and half numbering is by numeric significance, whatever the byte order.
#[test]
fn subword_numbering() {
    on_backends!(|b, backend| {
        let a = b::Atomic::new(0x4433_2211);
        assert_eq!(a.xchg_byte(0, 0xaa), 0x11, "{backend}");
        assert_eq!(a.xchg_byte(3, 0xbb), 0x44, "{backend}");
        assert_eq!(a.read() as u32, 0xbb33_22aa, "{backend}");
        assert_eq!(a.xchg_half(1, 0x1234), 0xbb33, "{backend}");
        a.store_half_release(0, 0x0001); // clear_pending_set_locked
        assert_eq!(a.read() as u32, 0x1234_0001, "{backend}");
        a.store_byte_release(0, 0); // queued_spin_unlock
        assert_eq!(a.read() as u32, 0x1234_0000, "{backend}");
        // A failed cmpxchg_byte writes nothing.
        assert_eq!(a.cmpxchg_byte(1, 0x99, 0x77), 0x00, "{backend}");
        assert_eq!(a.read() as u32, 0x1234_0000, "{backend}");
        assert!(!a.test_and_set_bit_acquire(8), "{backend}"); // fetch_set_pending_acquire
        assert_eq!(a.read() as u32, 0x1234_0100, "{backend}");
    });
}

#[derive(Debug, Clone, Copy)]
enum BitOp {
    Set,
    Clear,
    Change,
    TestAndSet,
    TestAndClear,
    TestAndChange,
    TestAndSetLock,
    ClearUnlock,
    ClearUnlockNonAtomic,
    TestBit,
    TestBitAcquire,
}

/// The bitmap functions on both backends, and the non-atomic `__` forms, against the model.
#[test]
fn bitmap_ops() {
    const WORDS: usize = 3;
    let ops = [
        BitOp::Set,
        BitOp::Clear,
        BitOp::Change,
        BitOp::TestAndSet,
        BitOp::TestAndClear,
        BitOp::TestAndChange,
        BitOp::TestAndSetLock,
        BitOp::ClearUnlock,
        BitOp::ClearUnlockNonAtomic,
        BitOp::TestBit,
        BitOp::TestBitAcquire,
    ];
    let mut g = Gen::new();
    for _ in 0..ROUNDS * 4 {
        let init: [usize; WORDS] = std::array::from_fn(|_| g.rng.usize(..));
        let op = ops[g.rng.usize(..ops.len())];
        let nr = g.rng.usize(..WORDS * BITS_PER_LONG);
        let (w, m) = (nr / BITS_PER_LONG, 1usize << (nr % BITS_PER_LONG));
        let mut want = init;
        let old = init[w] & m != 0;
        let want_ret = match op {
            BitOp::Set => {
                want[w] |= m;
                None
            }
            BitOp::Clear | BitOp::ClearUnlock | BitOp::ClearUnlockNonAtomic => {
                want[w] &= !m;
                None
            }
            BitOp::Change => {
                want[w] ^= m;
                None
            }
            BitOp::TestAndSet | BitOp::TestAndSetLock => {
                want[w] |= m;
                Some(old)
            }
            BitOp::TestAndClear => {
                want[w] &= !m;
                Some(old)
            }
            BitOp::TestAndChange => {
                want[w] ^= m;
                Some(old)
            }
            BitOp::TestBit | BitOp::TestBitAcquire => Some(old),
        };
        let ctx = format!("{op:?}({nr}) on {init:x?} (seed {})", g.seed);

        on_backends!(|b, backend| {
            let map: [AtomicUsize; WORDS] = init.map(AtomicUsize::new);
            let got = match op {
                BitOp::Set => {
                    b::bitops::set_bit(nr, &map);
                    None
                }
                BitOp::Clear => {
                    b::bitops::clear_bit(nr, &map);
                    None
                }
                BitOp::Change => {
                    b::bitops::change_bit(nr, &map);
                    None
                }
                BitOp::TestAndSet => Some(b::bitops::test_and_set_bit(nr, &map)),
                BitOp::TestAndClear => Some(b::bitops::test_and_clear_bit(nr, &map)),
                BitOp::TestAndChange => Some(b::bitops::test_and_change_bit(nr, &map)),
                BitOp::TestAndSetLock => Some(b::bitops::test_and_set_bit_lock(nr, &map)),
                BitOp::ClearUnlock => {
                    b::bitops::clear_bit_unlock(nr, &map);
                    None
                }
                BitOp::ClearUnlockNonAtomic => {
                    bitops::__clear_bit_unlock(nr, &map);
                    None
                }
                BitOp::TestBit => Some(bitops::test_bit(nr, &map)),
                BitOp::TestBitAcquire => Some(bitops::test_bit_acquire(nr, &map)),
            };
            assert_eq!(got, want_ret, "{backend} {ctx}: return value");
            assert_eq!(
                map.map(|a| a.load(Relaxed)),
                want,
                "{backend} {ctx}: bitmap"
            );
        });

        // The non-atomic forms over `&mut [usize]`.
        let mut plain = init;
        let got = match op {
            BitOp::Set => {
                bitops::__set_bit(nr, &mut plain);
                None
            }
            BitOp::Clear | BitOp::ClearUnlock | BitOp::ClearUnlockNonAtomic => {
                bitops::__clear_bit(nr, &mut plain);
                None
            }
            BitOp::Change => {
                bitops::__change_bit(nr, &mut plain);
                None
            }
            BitOp::TestAndSet | BitOp::TestAndSetLock => {
                Some(bitops::__test_and_set_bit(nr, &mut plain))
            }
            BitOp::TestAndClear => Some(bitops::__test_and_clear_bit(nr, &mut plain)),
            BitOp::TestAndChange => Some(bitops::__test_and_change_bit(nr, &mut plain)),
            BitOp::TestBit | BitOp::TestBitAcquire => Some(old),
        };
        assert_eq!(got, want_ret, "non-atomic {ctx}: return value");
        assert_eq!(plain, want, "non-atomic {ctx}: bitmap");
    }
}

/// Out-of-range indices panic with a clear message and write nothing.
#[test]
fn out_of_range_panics_and_writes_nothing() {
    fn panic_message(f: impl FnOnce()) -> String {
        let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }
    on_backends!(|b, backend| {
        let a = b::Atomic::new(0x1234_5678);
        let m = panic_message(|| a.store_byte_release(4, 0));
        assert!(m.contains("byte index 4 out of range"), "{backend}: {m}");
        let m = panic_message(|| {
            let _ = a.cmpxchg_byte(7, 0, 1);
        });
        assert!(m.contains("byte index 7 out of range"), "{backend}: {m}");
        let m = panic_message(|| {
            let _ = a.xchg_half_relaxed(2, 0);
        });
        assert!(
            m.contains("halfword index 2 out of range"),
            "{backend}: {m}"
        );
        let m = panic_message(|| {
            let _ = a.test_and_set_bit_lock(32);
        });
        assert!(m.contains("bit number 32 out of range"), "{backend}: {m}");
        let m = panic_message(|| a.set_bit(u32::MAX));
        assert!(m.contains("out of range"), "{backend}: {m}");
        assert_eq!(a.read(), 0x1234_5678, "{backend}: nothing written");

        let map: [AtomicUsize; 2] = Default::default();
        let nr = 2 * BITS_PER_LONG;
        let m = panic_message(|| {
            let _ = b::bitops::test_and_set_bit(nr, &map);
        });
        assert!(
            m.contains(&format!("bit {nr} is outside the bitmap")),
            "{backend}: {m}"
        );
        let m = panic_message(|| b::bitops::set_bit(usize::MAX, &map));
        assert!(m.contains("outside the bitmap"), "{backend}: {m}");
        assert!(
            map.iter().all(|w| w.load(Relaxed) == 0),
            "{backend}: nothing written"
        );
    });
    let mut plain = [0usize; 1];
    let m = panic_message(|| bitops::__set_bit(BITS_PER_LONG, &mut plain));
    assert!(m.contains("outside the bitmap (1 words"), "{m}");
    assert_eq!(plain, [0]);
    let m = panic_message(|| {
        let _ = bitops::test_bit(0, &[]);
    });
    assert!(m.contains("outside the bitmap (0 words"), "{m}");
}

/// Long random sequences of mixed operations leave both backends in the same state.
#[test]
fn random_sequences_agree() {
    let mut g = Gen::new();
    for _ in 0..50 {
        let init = g.v32();
        let steps: Vec<(u32, i32, i32)> = (0..200)
            .map(|_| (g.rng.u32(0..12), g.v32(), g.v32()))
            .collect();
        let mut results: Vec<(&str, Vec<i64>, i32)> = Vec::new();
        on_backends!(|b, backend| {
            let a = b::Atomic::new(init);
            let mut out = Vec::new();
            for &(op, x, y) in &steps {
                let r: i64 = match op {
                    0 => a.fetch_add(x).into(),
                    1 => a.sub_return_acquire(x).into(),
                    2 => a.cmpxchg_release(a.read(), x).into(),
                    3 => a.fetch_andnot_relaxed(x).into(),
                    4 => a.dec_if_positive().into(),
                    5 => a.add_unless(x, y).into(),
                    6 => a.xchg_half_acquire(x as u32 & 1, y as u16).into(),
                    7 => a.cmpxchg_byte(x as u32 & 3, a.read() as u8, y as u8).into(),
                    8 => a.test_and_change_bit(x as u32 & 31).into(),
                    9 => a.add_negative_release(x).into(),
                    10 => a.fetch_xor(y).into(),
                    _ => {
                        a.store_byte_relaxed(y as u32 & 3, x as u8);
                        0
                    }
                };
                out.push(r);
            }
            results.push((backend, out, a.read()));
        });
        for w in results.windows(2) {
            assert_eq!(
                w[0].1, w[1].1,
                "{} vs {}: results (seed {})",
                w[0].0, w[1].0, g.seed
            );
            assert_eq!(
                w[0].2, w[1].2,
                "{} vs {}: final state (seed {})",
                w[0].0, w[1].0, g.seed
            );
        }
    }
}
