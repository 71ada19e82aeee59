//! Monomorphic, never-inlined wrappers with stable symbol names, for `.ci/codegen.sh`: it
//! compiles this crate with `--features codegen --emit asm` and checks that each wrapper
//! contains the instruction the kernel uses, so a refactor cannot silently fall back to a
//! slower sequence. Each symbol is `ksync_codegen_<what>`.
#![allow(missing_docs, clippy::missing_safety_doc)]

use crate::sync::atomic::AtomicUsize;
use crate::{bitops, Atomic, Atomic64, AtomicLong};

macro_rules! wrappers {
    ($($name:ident($($arg:ident: $t:ty),*) -> $ret:ty = $body:expr;)*) => {$(
        #[no_mangle]
        #[inline(never)]
        pub extern "C" fn $name($($arg: $t),*) -> $ret {
            $body
        }
    )*};
}

wrappers! {
    ksync_codegen_read(v: &Atomic) -> i32 = v.read();
    ksync_codegen_set_release(v: &Atomic, i: i32) -> () = v.set_release(i);
    ksync_codegen_read_acquire(v: &Atomic) -> i32 = v.read_acquire();
    ksync_codegen_add(v: &Atomic, i: i32) -> () = v.add(i);
    ksync_codegen_inc(v: &Atomic) -> () = v.inc();
    ksync_codegen_dec(v: &Atomic) -> () = v.dec();
    ksync_codegen_or(v: &Atomic, i: i32) -> () = v.or(i);
    ksync_codegen_fetch_add(v: &Atomic, i: i32) -> i32 = v.fetch_add(i);
    ksync_codegen_fetch_add_relaxed(v: &Atomic, i: i32) -> i32 = v.fetch_add_relaxed(i);
    ksync_codegen_add_return(v: &Atomic, i: i32) -> i32 = v.add_return(i);
    ksync_codegen_fetch_or(v: &Atomic, i: i32) -> i32 = v.fetch_or(i);
    ksync_codegen_xchg(v: &Atomic, i: i32) -> i32 = v.xchg(i);
    ksync_codegen_cmpxchg(v: &Atomic, o: i32, n: i32) -> i32 = v.cmpxchg(o, n);
    ksync_codegen_try_cmpxchg(v: &Atomic, o: &mut i32, n: i32) -> bool = v.try_cmpxchg(o, n);
    ksync_codegen_dec_and_test(v: &Atomic) -> bool = v.dec_and_test();
    ksync_codegen_inc_and_test(v: &Atomic) -> bool = v.inc_and_test();
    ksync_codegen_sub_and_test(v: &Atomic, i: i32) -> bool = v.sub_and_test(i);
    ksync_codegen_add_negative(v: &Atomic, i: i32) -> bool = v.add_negative(i);
    ksync_codegen_inc_not_zero(v: &Atomic) -> bool = v.inc_not_zero();
    ksync_codegen_fetch_add64(v: &Atomic64, i: i64) -> i64 = v.fetch_add(i);
    ksync_codegen_cmpxchg64(v: &Atomic64, o: i64, n: i64) -> i64 = v.cmpxchg(o, n);
    ksync_codegen_xchg_long(v: &AtomicLong, i: isize) -> isize = v.xchg(i);
    ksync_codegen_test_and_set_bit(v: &Atomic, nr: u32) -> bool = v.test_and_set_bit(nr);
    ksync_codegen_test_and_clear_bit(v: &Atomic, nr: u32) -> bool = v.test_and_clear_bit(nr);
    ksync_codegen_set_bit(v: &Atomic, nr: u32) -> () = v.set_bit(nr);
    ksync_codegen_clear_bit_unlock(v: &Atomic, nr: u32) -> () = v.clear_bit_unlock(nr);
    ksync_codegen_store_byte_release(v: &Atomic, b: u8) -> () = v.store_byte_release(0, b);
    ksync_codegen_store_half_relaxed(v: &Atomic, h: u16) -> () = v.store_half_relaxed(0, h);
    ksync_codegen_xchg_half(v: &Atomic, h: u16) -> u16 = v.xchg_half_relaxed(1, h);
    ksync_codegen_cmpxchg_byte(v: &Atomic, o: u8, n: u8) -> u8 = v.cmpxchg_byte_acquire(0, o, n);
    ksync_codegen_bitmap_test_and_set_bit(nr: usize, m: &[AtomicUsize; 4]) -> bool =
        bitops::test_and_set_bit(nr, m);
    ksync_codegen_bitmap_set_bit(nr: usize, m: &[AtomicUsize; 4]) -> () = bitops::set_bit(nr, m);
}
