//! Concurrency tests: several threads hammer one word with each RMW family, on every backend
//! built here; totals are exact, and every value an RMW returns is checked against what only
//! that thread can know (its own bits, its own byte, the uniqueness of fetched values).
#![cfg(not(loom))]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Barrier;
use std::thread;

use ksync_atomic::bitops::BITS_PER_LONG;

const THREADS: usize = 4;
const ITERS: usize = 20_000;
const TOTAL: usize = THREADS * ITERS;

#[macro_use]
mod common;

/// Runs `f(thread, iteration)` on `THREADS` threads, `ITERS` times each; returns each thread's
/// result.
/// The threads start together (a `Barrier`), so their iterations overlap.
fn hammer<R: Send>(f: impl Fn(usize, usize, &mut Vec<R>) + Sync) -> Vec<Vec<R>> {
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (f, start) = (&f, &start);
                s.spawn(move || {
                    let mut out = Vec::new();
                    start.wait();
                    for i in 0..ITERS {
                        f(t, i, &mut out);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Asserts the values are pairwise distinct: no two RMWs read the same old value.
fn all_distinct<T: Ord + Copy + std::fmt::Debug>(what: &str, per_thread: Vec<Vec<T>>) {
    let mut all: Vec<T> = per_thread.into_iter().flatten().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "{what}: two RMWs returned the same old value");
}

macro_rules! arithmetic_tests {
    ($mod:ident, $Ty:ident, $V:ty) => {
        mod $mod {
            use super::*;

            /// Every increment family, every ordering: the total is exact and the old values
            /// seen are all distinct.
            #[test]
            fn increments_are_exact() {
                on_backends!(|b, backend| {
                    let a = b::$Ty::new(0);
                    let olds = hammer(|_, i, out: &mut Vec<$V>| {
                        let old = match i % 20 {
                            0 => {
                                a.add(1);
                                return;
                            }
                            1 => {
                                a.inc();
                                return;
                            }
                            2 => {
                                a.sub(-1);
                                return;
                            }
                            3 => a.add_return(1) - 1,
                            4 => a.add_return_relaxed(1) - 1,
                            5 => a.add_return_acquire(1) - 1,
                            6 => a.add_return_release(1) - 1,
                            7 => a.inc_return() - 1,
                            8 => a.inc_return_relaxed() - 1,
                            9 => a.inc_return_acquire() - 1,
                            10 => a.inc_return_release() - 1,
                            11 => a.fetch_add(1),
                            12 => a.fetch_add_relaxed(1),
                            13 => a.fetch_add_acquire(1),
                            14 => a.fetch_add_release(1),
                            15 => a.fetch_inc(),
                            16 => a.fetch_inc_relaxed(),
                            17 => a.fetch_inc_acquire(),
                            18 => a.fetch_inc_release(),
                            _ => a.sub_return(-1) - 1,
                        };
                        out.push(old);
                    });
                    assert_eq!(a.read(), TOTAL as $V, "{backend}");
                    all_distinct(backend, olds);
                });
            }

            /// Every decrement family from `TOTAL` to zero: exact, distinct old values, the
            /// `*_and_test` ops report zero at most once, `add_negative` never fires.
            #[test]
            fn decrements_are_exact() {
                on_backends!(|b, backend| {
                    let a = b::$Ty::new(TOTAL as $V);
                    let zeros = AtomicUsize::new(0);
                    let olds = hammer(|_, i, out: &mut Vec<$V>| {
                        let old = match i % 20 {
                            0 => {
                                a.sub(1);
                                return;
                            }
                            1 => {
                                a.dec();
                                return;
                            }
                            2 => {
                                a.add(-1);
                                return;
                            }
                            3 => a.sub_return(1) + 1,
                            4 => a.sub_return_relaxed(1) + 1,
                            5 => a.sub_return_acquire(1) + 1,
                            6 => a.sub_return_release(1) + 1,
                            7 => a.dec_return() + 1,
                            8 => a.dec_return_relaxed() + 1,
                            9 => a.fetch_sub(1),
                            10 => a.fetch_sub_relaxed(1),
                            11 => a.fetch_sub_acquire(1),
                            12 => a.fetch_sub_release(1),
                            13 => a.fetch_dec(),
                            14 => a.fetch_dec_acquire(),
                            15 => a.fetch_dec_release(),
                            16 | 17 => {
                                let z = if i % 20 == 16 {
                                    a.dec_and_test()
                                } else {
                                    a.sub_and_test(1)
                                };
                                zeros.fetch_add(usize::from(z), Relaxed);
                                return;
                            }
                            18 => {
                                assert!(!a.add_negative(-1), "{backend}: went negative");
                                return;
                            }
                            _ => {
                                assert!(!a.add_negative_release(-1), "{backend}: went negative");
                                return;
                            }
                        };
                        out.push(old);
                    });
                    assert_eq!(a.read(), 0, "{backend}");
                    assert!(zeros.load(Relaxed) <= 1, "{backend}: zero reported twice");
                    all_distinct(backend, olds);
                });
            }

            /// `xchg` conserves values: what was swapped out, plus what is left, is what was
            /// swapped in, plus the initial value.
            #[test]
            fn xchg_conserves_values() {
                on_backends!(|b, backend| {
                    let a = b::$Ty::new(0);
                    let outs = hammer(|t, i, out: &mut Vec<$V>| {
                        let v = (t * ITERS + i + 1) as $V;
                        out.push(match i % 4 {
                            0 => a.xchg(v),
                            1 => a.xchg_relaxed(v),
                            2 => a.xchg_acquire(v),
                            _ => a.xchg_release(v),
                        });
                    });
                    let mut seen: Vec<$V> = outs.into_iter().flatten().collect();
                    seen.push(a.read());
                    seen.sort_unstable();
                    let want: Vec<$V> = (0..=TOTAL as $V).collect();
                    assert_eq!(seen, want, "{backend}: a value was lost or duplicated");
                });
            }

            /// Increments by `cmpxchg` and `try_cmpxchg` retry loops, all orderings: exact.
            #[test]
            fn cmpxchg_loops_are_exact() {
                on_backends!(|b, backend| {
                    let a = b::$Ty::new(0);
                    hammer(|_, i, _: &mut Vec<()>| match i % 8 {
                        0..=3 => {
                            let mut old = a.read();
                            loop {
                                let found = match i % 4 {
                                    0 => a.cmpxchg(old, old + 1),
                                    1 => a.cmpxchg_relaxed(old, old + 1),
                                    2 => a.cmpxchg_acquire(old, old + 1),
                                    _ => a.cmpxchg_release(old, old + 1),
                                };
                                if found == old {
                                    break;
                                }
                                old = found;
                            }
                        }
                        _ => {
                            let mut old = a.read();
                            loop {
                                let new = old + 1;
                                let ok = match i % 4 {
                                    0 => a.try_cmpxchg(&mut old, new),
                                    1 => a.try_cmpxchg_relaxed(&mut old, new),
                                    2 => a.try_cmpxchg_acquire(&mut old, new),
                                    _ => a.try_cmpxchg_release(&mut old, new),
                                };
                                if ok {
                                    break;
                                }
                            }
                        }
                    });
                    assert_eq!(a.read(), TOTAL as $V, "{backend}");
                });
            }

            /// Each thread owns one bit and flips it with every bitwise family; every old value
            /// shows the thread's own bit as it left it, and the final word is the union.
            #[test]
            fn bitwise_ops_keep_other_bits() {
                on_backends!(|b, backend| {
                    let a = b::$Ty::new(0);
                    let finals = hammer(|t, i, out: &mut Vec<bool>| {
                        let m: $V = 1 << (3 * t + 1);
                        let mine = out.last().copied().unwrap_or(false);
                        let (old, now) = match i % 12 {
                            0 => (a.fetch_or(m), true),
                            1 => (a.fetch_andnot(m), false),
                            2 => (a.fetch_xor_relaxed(m), !mine),
                            3 => (a.fetch_and_acquire(!m), false),
                            4 => (a.fetch_or_release(m), true),
                            5 => (a.fetch_and(!m), false),
                            6 => (a.fetch_xor(m), !mine),
                            7 => (a.fetch_andnot_release(m), false),
                            8 => {
                                a.or(m);
                                (if mine { m } else { 0 }, true)
                            }
                            9 => {
                                a.xor(m);
                                (if mine { m } else { 0 }, !mine)
                            }
                            10 => {
                                a.andnot(m);
                                (if mine { m } else { 0 }, false)
                            }
                            _ => {
                                a.and(!m);
                                (if mine { m } else { 0 }, false)
                            }
                        };
                        assert_eq!(old & m != 0, mine, "{backend}: thread {t} lost its bit");
                        out.push(now);
                    });
                    let want = finals.iter().enumerate().fold(0, |w, (t, f)| {
                        if *f.last().unwrap() {
                            w | (1 << (3 * t + 1))
                        } else {
                            w
                        }
                    });
                    assert_eq!(a.read(), want, "{backend}");
                });
            }

            /// The conditional ops never overshoot their bounds, under contention.
            #[test]
            fn conditional_ops_are_exact() {
                on_backends!(|b, backend| {
                    // add_unless / fetch_add_unless stop exactly at the limit.
                    let limit = (TOTAL / 2) as $V;
                    let a = b::$Ty::new(0);
                    let wins = hammer(|_, i, out: &mut Vec<()>| {
                        let ok = if i % 2 == 0 {
                            a.add_unless(1, limit)
                        } else {
                            a.fetch_add_unless(1, limit) != limit
                        };
                        if ok {
                            out.push(());
                        }
                    });
                    assert_eq!(a.read(), limit, "{backend}: add_unless");
                    assert_eq!(
                        wins.iter().map(Vec::len).sum::<usize>(),
                        limit as usize,
                        "{backend}"
                    );

                    // dec_if_positive hands out exactly the initial count.
                    let a = b::$Ty::new(limit);
                    let wins = hammer(|_, _, out: &mut Vec<()>| {
                        if a.dec_if_positive() >= 0 {
                            out.push(());
                        }
                    });
                    assert_eq!(a.read(), 0, "{backend}: dec_if_positive");
                    assert_eq!(
                        wins.iter().map(Vec::len).sum::<usize>(),
                        limit as usize,
                        "{backend}"
                    );

                    // inc_not_zero always succeeds on a live count; then exactly one of the
                    // TOTAL + 1 dec_and_tests sees zero.
                    let a = b::$Ty::new(1);
                    hammer(|_, _, _: &mut Vec<()>| assert!(a.inc_not_zero(), "{backend}"));
                    assert_eq!(a.read(), TOTAL as $V + 1, "{backend}");
                    let zeros = hammer(|_, _, out: &mut Vec<()>| {
                        if a.dec_and_test() {
                            out.push(());
                        }
                    });
                    let last = a.dec_and_test();
                    let zeros = zeros.iter().map(Vec::len).sum::<usize>() + usize::from(last);
                    assert_eq!(zeros, 1, "{backend}: dec_and_test");
                    assert!(!a.inc_not_zero(), "{backend}: revived a dead count");
                    assert_eq!(a.read(), 0, "{backend}");

                    // inc_unless_negative vs dec_unless_positive around zero: the final value is
                    // exactly the successful increments minus the successful decrements.
                    let a = b::$Ty::new(0);
                    let res = hammer(|t, _, out: &mut Vec<$V>| {
                        if t % 2 == 0 {
                            if a.inc_unless_negative() {
                                out.push(1)
                            }
                        } else if a.dec_unless_positive() {
                            out.push(-1)
                        }
                    });
                    let net: $V = res.into_iter().flatten().sum();
                    assert_eq!(
                        a.read(),
                        net,
                        "{backend}: inc_unless_negative/dec_unless_positive"
                    );
                });
            }
        }
    };
}

arithmetic_tests!(atomic_t, Atomic, i32);
arithmetic_tests!(atomic64_t, Atomic64, i64);
arithmetic_tests!(atomic_long_t, AtomicLong, isize);

/// Sub-word RMWs on three bytes and a whole-word add on the fourth, at once: every byte ends
/// exact, and each byte's owner always finds the value it left (nobody else wrote its byte).
#[test]
fn subword_bytes_and_whole_word_rmws_mix() {
    on_backends!(|b, backend| {
        let a = b::Atomic::new(0);
        hammer(|t, i, _: &mut Vec<()>| {
            let mine = (i % 256) as u8;
            let next = mine.wrapping_add(1);
            match (t, i % 3) {
                (3, _) => {
                    // Whole-word RMW on byte 3; the carry falls off the top.
                    a.fetch_add((1u32 << 24) as i32);
                }
                (_, 0) => {
                    let n = t as u32;
                    assert_eq!(
                        a.cmpxchg_byte_acquire(n, mine, next),
                        mine,
                        "{backend}: byte {n}"
                    );
                }
                (_, 1) => {
                    let n = t as u32;
                    assert_eq!(a.xchg_byte_release(n, next), mine, "{backend}: byte {n}");
                }
                _ => {
                    let n = t as u32;
                    // A failing cmpxchg (wrong expectation) must not write.
                    assert_eq!(a.cmpxchg_byte(n, next, 0), mine, "{backend}: byte {n}");
                    a.store_byte_release(n, next);
                }
            }
        });
        let want = (ITERS % 256) as u32;
        assert_eq!(a.read() as u32, want * 0x0101_0101, "{backend}");
    });
}

/// The qspinlock's mix: `xchg_half` on the tail, byte stores on `locked`, bit flips in
/// `pending`'s byte, all on one word at once.
#[test]
fn subword_halves_bytes_and_bits_mix() {
    on_backends!(|b, backend| {
        let a = b::Atomic::new(0);
        let outs = hammer(|t, i, out: &mut Vec<bool>| match t {
            0 => {
                // Tail: sole writer of half 1, so xchg returns its own previous value.
                let prev = a.xchg_half(1, (i + 1) as u16);
                assert_eq!(prev, i as u16, "{backend}: tail");
                if i % 2 == 0 {
                    assert_eq!(
                        a.cmpxchg_half_release(1, (i + 1) as u16, (i + 1) as u16),
                        (i + 1) as u16
                    );
                }
            }
            1 => {
                // Locked byte: sole writer of byte 0.
                if i % 2 == 0 {
                    a.store_byte_relaxed(0, i as u8);
                } else {
                    a.store_byte_release(0, i as u8);
                }
                assert_eq!(a.read() as u8, i as u8, "{backend}: locked byte");
            }
            _ => {
                // Pending byte: bits 8 + t, flipped by their owners.
                let nr = 8 + t as u32;
                let mine = out.last().copied().unwrap_or(false);
                let old = match i % 4 {
                    0 => a.test_and_change_bit(nr),
                    1 => a.test_and_set_bit_acquire(nr),
                    2 => a.test_and_clear_bit_release(nr),
                    _ => a.test_and_set_bit_relaxed(nr),
                };
                assert_eq!(old, mine, "{backend}: bit {nr}");
                out.push(match i % 4 {
                    0 => !mine,
                    2 => false,
                    _ => true,
                });
            }
        });
        let mut want = (ITERS as u32) << 16 | ((ITERS - 1) as u32 & 0xff);
        for (t, o) in outs.iter().enumerate().skip(2) {
            if *o.last().unwrap() {
                want |= 1 << (8 + t);
            }
        }
        assert_eq!(a.read() as u32, want, "{backend}");
    });
}

/// A plain counter guarded by a bit lock (`test_and_set_bit_lock` / `clear_bit_unlock`) ends
/// exact: the lock excludes, and release/acquire publish the counter.
#[test]
fn bit_locks_exclude() {
    struct Shared(UnsafeCell<usize>);
    // SAFETY: the tests only touch the cell while holding the bit lock.
    unsafe impl Sync for Shared {}
    impl Shared {
        fn get(&self) -> *mut usize {
            self.0.get()
        }
    }

    on_backends!(|b, backend| {
        // On the 32-bit lock word.
        let word = b::Atomic::new(0x0f0f_0000);
        let count = Shared(UnsafeCell::new(0));
        hammer(|_, _, _: &mut Vec<()>| {
            while word.test_and_set_bit_lock(3) {
                std::hint::spin_loop();
            }
            // SAFETY: bit 3 is held: nobody else accesses the cell.
            unsafe { *count.get() += 1 };
            word.clear_bit_unlock(3);
        });
        assert_eq!(count.0.into_inner(), TOTAL, "{backend}: Atomic bit lock");
        assert_eq!(word.read(), 0x0f0f_0000, "{backend}: other bits untouched");

        // In a bitmap, with owned bits flipped around the lock in the same words.
        let map: [AtomicUsize; 2] = Default::default();
        let lock_bit = BITS_PER_LONG + 5;
        let count = Shared(UnsafeCell::new(0));
        hammer(|t, i, _: &mut Vec<()>| {
            let own = 10 + t * (BITS_PER_LONG / 8);
            b::bitops::change_bit(own, &map);
            while b::bitops::test_and_set_bit_lock(lock_bit, &map) {
                std::hint::spin_loop();
            }
            // SAFETY: the bit lock is held.
            unsafe { *count.get() += 1 };
            b::bitops::clear_bit_unlock(lock_bit, &map);
            if i % 2 == 0 {
                assert!(
                    b::bitops::test_and_set_bit(own + 1, &map) == (i > 0),
                    "{backend}"
                );
                assert!(b::bitops::test_and_clear_bit(own + 1, &map), "{backend}");
                b::bitops::set_bit(own + 1, &map);
            } else {
                b::bitops::clear_bit(own + 1, &map);
                b::bitops::set_bit(own + 1, &map);
            }
            b::bitops::change_bit(own, &map);
        });
        assert_eq!(count.0.into_inner(), TOTAL, "{backend}: bitmap bit lock");
        let mut want = [0usize; 2];
        for t in 0..THREADS {
            let nr = 10 + t * (BITS_PER_LONG / 8) + 1;
            want[nr / BITS_PER_LONG] |= 1 << (nr % BITS_PER_LONG);
        }
        assert_eq!(map.map(|w| w.load(Relaxed)), want, "{backend}: bitmap");
    });
}

/// The kernel's `atomic_t.txt` example: `set(v, 0)` racing `add_unless(v, 1, 0)` from 1 never
/// leaves 2 (the set is coherent with the RMW). On real threads, many times over; loom 0.7
/// cannot check this shape (tokio-rs/loom#254).
#[test]
fn set_racing_add_unless_never_leaves_two() {
    on_backends!(|b, backend| {
        for _ in 0..200 {
            let v = b::Atomic::new(1);
            let start = Barrier::new(2);
            thread::scope(|s| {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..50 {
                        v.add_unless(1, 0);
                    }
                });
                start.wait();
                v.set(0);
            });
            assert_eq!(v.read(), 0, "{backend}: the add overtook the set");
        }
    });
}
