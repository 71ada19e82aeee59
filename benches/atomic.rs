//! Cost of each `ksync-atomic` family: the selected backend (x86-64 inline asm on x86-64) vs the
//! portable backend vs plain `core::sync::atomic` with the equivalent ordering, on one word,
//! single-threaded and with a second thread hammering the same word with the same operation.
//!
//! Target (issue: ksync-atomic): the asm backend costs no more than core atomics for any
//! operation (ratio <= 1.02). The portable backend's fully ordered operations pay for two
//! `fence(SeqCst)`s around the RMW (the price of `smp_mb()` semantics in the Rust model), and
//! its sub-word operations a CAS loop; those columns show what the asm backend saves.
//!
//! Groups are `atomic_1t/<family>` and `atomic_2t/<family>`, functions `asm`, `portable`,
//! `core`. For the sub-word families `core` is a separate `AtomicU8`/`AtomicU16` (the same
//! instruction on its own word; Rust has no mixed-size atomics).
//!
//! `cargo bench --bench atomic` (filter with e.g. `-- atomic_1t/fetch_add`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, AtomicU8, Ordering::*};
use std::thread;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ksync::atomic::__backends::portable;
use ksync::atomic::Atomic;

mod common;

/// One word per contender (each contender runs on its own word).
struct Words {
    asm: Atomic,
    portable: portable::Atomic,
    core: AtomicI32,
    core8: AtomicU8,
    core16: AtomicU16,
}

impl Words {
    /// Every contender's word starts at the same non-zero value (so `inc_not_zero` succeeds
    /// and `dec_and_test` does not reach zero for a long while).
    fn new() -> Self {
        const START: i32 = 1 << 20;
        Words {
            asm: Atomic::new(START),
            portable: portable::Atomic::new(START),
            core: AtomicI32::new(START),
            core8: AtomicU8::new(0),
            core16: AtomicU16::new(0),
        }
    }
}

type Op = fn(&Words);

/// Keeps an op's result alive, always as a whole `u64` in the benchmark closure's stack slot.
///
/// `black_box` of a `bool` or `u8` leaves a one-byte store right under the closure's
/// `push rax`/`pop rax` frame; when the op before it was a locked instruction that store is
/// still in the store buffer as the eight-byte `pop` reads over it, forwarding fails, and the
/// stall (7 ns on this machine's Zen 3) was charged to `test_and_set_bit`. A full-width value
/// forwards cleanly.
#[inline(always)]
fn sink<T: Widen>(x: T) {
    black_box(x.widen());
}

/// A result that fits in a `u64`.
trait Widen {
    fn widen(self) -> u64;
}

macro_rules! widen_as {
    ($($t:ty),*) => {$(
        impl Widen for $t {
            #[inline(always)]
            fn widen(self) -> u64 {
                self as u64
            }
        }
    )*};
}
widen_as!(bool, u8, u16, i32);

impl<T: Widen> Widen for Result<T, T> {
    #[inline(always)]
    fn widen(self) -> u64 {
        match self {
            Ok(v) => v.widen(),
            Err(v) => v.widen() | 1 << 63,
        }
    }
}

/// `(family, [(contender, op); 3])`; each op does one operation on its contender's word.
fn families() -> Vec<(&'static str, [(&'static str, Op); 3])> {
    // Orderings: each `core` op uses the one equivalent to its family's kernel op (module docs).
    vec![
        (
            "add",
            [
                ("asm", |w| w.asm.add(black_box(1))),
                ("portable", |w| w.portable.add(black_box(1))),
                ("core", |w| {
                    w.core.fetch_add(black_box(1), Relaxed);
                }),
            ],
        ),
        (
            "inc",
            [
                ("asm", |w| w.asm.inc()),
                ("portable", |w| w.portable.inc()),
                ("core", |w| {
                    w.core.fetch_add(1, Relaxed);
                }),
            ],
        ),
        (
            "fetch_add",
            [
                ("asm", |w| {
                    sink(w.asm.fetch_add(black_box(1)));
                }),
                ("portable", |w| {
                    sink(w.portable.fetch_add(black_box(1)));
                }),
                ("core", |w| {
                    sink(w.core.fetch_add(black_box(1), SeqCst));
                }),
            ],
        ),
        (
            "fetch_add_relaxed",
            [
                ("asm", |w| {
                    sink(w.asm.fetch_add_relaxed(black_box(1)));
                }),
                ("portable", |w| {
                    sink(w.portable.fetch_add_relaxed(black_box(1)));
                }),
                ("core", |w| {
                    sink(w.core.fetch_add(black_box(1), Relaxed));
                }),
            ],
        ),
        (
            "add_return",
            [
                ("asm", |w| {
                    sink(w.asm.add_return(black_box(1)));
                }),
                ("portable", |w| {
                    sink(w.portable.add_return(black_box(1)));
                }),
                ("core", |w| {
                    let i = black_box(1);
                    sink(w.core.fetch_add(i, SeqCst).wrapping_add(i));
                }),
            ],
        ),
        (
            "fetch_or",
            [
                ("asm", |w| {
                    sink(w.asm.fetch_or(black_box(4)));
                }),
                ("portable", |w| {
                    sink(w.portable.fetch_or(black_box(4)));
                }),
                ("core", |w| {
                    sink(w.core.fetch_or(black_box(4), SeqCst));
                }),
            ],
        ),
        (
            "xchg",
            [
                ("asm", |w| {
                    sink(w.asm.xchg(black_box(3)));
                }),
                ("portable", |w| {
                    sink(w.portable.xchg(black_box(3)));
                }),
                ("core", |w| {
                    sink(w.core.swap(black_box(3), SeqCst));
                }),
            ],
        ),
        (
            "cmpxchg",
            [
                ("asm", |w| {
                    let v = w.asm.read();
                    sink(w.asm.cmpxchg(v, v.wrapping_add(1)));
                }),
                ("portable", |w| {
                    let v = w.portable.read();
                    sink(w.portable.cmpxchg(v, v.wrapping_add(1)));
                }),
                ("core", |w| {
                    let v = w.core.load(Relaxed);
                    sink(
                        w.core
                            .compare_exchange(v, v.wrapping_add(1), SeqCst, Relaxed),
                    );
                }),
            ],
        ),
        (
            "try_cmpxchg_loop",
            [
                ("asm", |w| {
                    let mut old = w.asm.read();
                    loop {
                        let new = old.wrapping_add(1);
                        if w.asm.try_cmpxchg(&mut old, new) {
                            break;
                        }
                    }
                }),
                ("portable", |w| {
                    let mut old = w.portable.read();
                    loop {
                        let new = old.wrapping_add(1);
                        if w.portable.try_cmpxchg(&mut old, new) {
                            break;
                        }
                    }
                }),
                ("core", |w| {
                    let mut old = w.core.load(Relaxed);
                    while let Err(found) =
                        w.core
                            .compare_exchange(old, old.wrapping_add(1), SeqCst, Relaxed)
                    {
                        old = found;
                    }
                }),
            ],
        ),
        (
            "dec_and_test",
            [
                ("asm", |w| {
                    sink(w.asm.dec_and_test());
                }),
                ("portable", |w| {
                    sink(w.portable.dec_and_test());
                }),
                ("core", |w| {
                    sink(w.core.fetch_sub(1, SeqCst) == 1);
                }),
            ],
        ),
        (
            "add_negative",
            [
                ("asm", |w| {
                    sink(w.asm.add_negative(black_box(1)));
                }),
                ("portable", |w| {
                    sink(w.portable.add_negative(black_box(1)));
                }),
                ("core", |w| {
                    let i = black_box(1);
                    sink(w.core.fetch_add(i, SeqCst).wrapping_add(i) < 0);
                }),
            ],
        ),
        (
            "inc_not_zero",
            [
                ("asm", |w| {
                    sink(w.asm.inc_not_zero());
                }),
                ("portable", |w| {
                    sink(w.portable.inc_not_zero());
                }),
                ("core", |w| {
                    let r = w
                        .core
                        .fetch_update(SeqCst, Relaxed, |v| (v != 0).then(|| v.wrapping_add(1)));
                    sink(r.is_ok());
                }),
            ],
        ),
        (
            "test_and_set_bit",
            [
                ("asm", |w| {
                    sink(w.asm.test_and_set_bit(black_box(5)));
                }),
                ("portable", |w| {
                    sink(w.portable.test_and_set_bit(black_box(5)));
                }),
                ("core", |w| {
                    let m = 1 << black_box(5);
                    sink(w.core.fetch_or(m, SeqCst) & m != 0);
                }),
            ],
        ),
        (
            "store_byte_release",
            [
                ("asm", |w| w.asm.store_byte_release(0, black_box(0))),
                ("portable", |w| {
                    w.portable.store_byte_release(0, black_box(0))
                }),
                ("core", |w| w.core8.store(black_box(0), Release)),
            ],
        ),
        (
            "xchg_half",
            [
                ("asm", |w| {
                    sink(w.asm.xchg_half_relaxed(1, black_box(7)));
                }),
                ("portable", |w| {
                    sink(w.portable.xchg_half_relaxed(1, black_box(7)));
                }),
                ("core", |w| {
                    sink(w.core16.swap(black_box(7), Relaxed));
                }),
            ],
        ),
        (
            "cmpxchg_byte",
            [
                ("asm", |w| {
                    sink(w.asm.cmpxchg_byte_acquire(0, black_box(0), black_box(0)));
                }),
                ("portable", |w| {
                    sink(
                        w.portable
                            .cmpxchg_byte_acquire(0, black_box(0), black_box(0)),
                    );
                }),
                ("core", |w| {
                    sink(
                        w.core8
                            .compare_exchange(black_box(0), black_box(0), Acquire, Relaxed),
                    );
                }),
            ],
        ),
    ]
}

fn bench(c: &mut Criterion) {
    eprintln!(
        "ksync-atomic bench: selected backend {:?}",
        ksync::barrier::BACKEND
    );
    for (family, contenders) in families() {
        // Single thread.
        let mut g = c.benchmark_group(format!("atomic_1t/{family}"));
        for (name, op) in common::round_order(contenders.to_vec()) {
            let w = Words::new();
            g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(|| op(&w)));
        }
        g.finish();

        // Two threads on one word: a second thread runs the same operation on the same word
        // for the whole measurement.
        let mut g = c.benchmark_group(format!("atomic_2t/{family}"));
        for (name, op) in common::round_order(contenders.to_vec()) {
            let w = Words::new();
            let stop = AtomicBool::new(false);
            thread::scope(|s| {
                s.spawn(|| {
                    // Relaxed: a stop flag; a stale `false` only costs a few more iterations.
                    while !stop.load(Relaxed) {
                        for _ in 0..64 {
                            op(&w);
                        }
                    }
                });
                g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(|| op(&w)));
                // Relaxed: only tells the helper to stop; the scope joins it.
                stop.store(true, Relaxed);
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
