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

/// `(family, [(contender, op); 3])`; each op does one operation on its contender's word.
fn families() -> Vec<(&'static str, [(&'static str, Op); 3])> {
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
                    black_box(w.asm.fetch_add(black_box(1)));
                }),
                ("portable", |w| {
                    black_box(w.portable.fetch_add(black_box(1)));
                }),
                ("core", |w| {
                    black_box(w.core.fetch_add(black_box(1), SeqCst));
                }),
            ],
        ),
        (
            "fetch_add_relaxed",
            [
                ("asm", |w| {
                    black_box(w.asm.fetch_add_relaxed(black_box(1)));
                }),
                ("portable", |w| {
                    black_box(w.portable.fetch_add_relaxed(black_box(1)));
                }),
                ("core", |w| {
                    black_box(w.core.fetch_add(black_box(1), Relaxed));
                }),
            ],
        ),
        (
            "add_return",
            [
                ("asm", |w| {
                    black_box(w.asm.add_return(black_box(1)));
                }),
                ("portable", |w| {
                    black_box(w.portable.add_return(black_box(1)));
                }),
                ("core", |w| {
                    let i = black_box(1);
                    black_box(w.core.fetch_add(i, SeqCst).wrapping_add(i));
                }),
            ],
        ),
        (
            "fetch_or",
            [
                ("asm", |w| {
                    black_box(w.asm.fetch_or(black_box(4)));
                }),
                ("portable", |w| {
                    black_box(w.portable.fetch_or(black_box(4)));
                }),
                ("core", |w| {
                    black_box(w.core.fetch_or(black_box(4), SeqCst));
                }),
            ],
        ),
        (
            "xchg",
            [
                ("asm", |w| {
                    black_box(w.asm.xchg(black_box(3)));
                }),
                ("portable", |w| {
                    black_box(w.portable.xchg(black_box(3)));
                }),
                ("core", |w| {
                    black_box(w.core.swap(black_box(3), SeqCst));
                }),
            ],
        ),
        (
            "cmpxchg",
            [
                ("asm", |w| {
                    let v = w.asm.read();
                    black_box(w.asm.cmpxchg(v, v.wrapping_add(1)));
                }),
                ("portable", |w| {
                    let v = w.portable.read();
                    black_box(w.portable.cmpxchg(v, v.wrapping_add(1)));
                }),
                ("core", |w| {
                    let v = w.core.load(Relaxed);
                    let _ =
                        black_box(
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
                    black_box(w.asm.dec_and_test());
                }),
                ("portable", |w| {
                    black_box(w.portable.dec_and_test());
                }),
                ("core", |w| {
                    black_box(w.core.fetch_sub(1, SeqCst) == 1);
                }),
            ],
        ),
        (
            "add_negative",
            [
                ("asm", |w| {
                    black_box(w.asm.add_negative(black_box(1)));
                }),
                ("portable", |w| {
                    black_box(w.portable.add_negative(black_box(1)));
                }),
                ("core", |w| {
                    let i = black_box(1);
                    black_box(w.core.fetch_add(i, SeqCst).wrapping_add(i) < 0);
                }),
            ],
        ),
        (
            "inc_not_zero",
            [
                ("asm", |w| {
                    black_box(w.asm.inc_not_zero());
                }),
                ("portable", |w| {
                    black_box(w.portable.inc_not_zero());
                }),
                ("core", |w| {
                    let r = w
                        .core
                        .fetch_update(SeqCst, Relaxed, |v| (v != 0).then(|| v.wrapping_add(1)));
                    black_box(r.is_ok());
                }),
            ],
        ),
        (
            "test_and_set_bit",
            [
                ("asm", |w| {
                    black_box(w.asm.test_and_set_bit(black_box(5)));
                }),
                ("portable", |w| {
                    black_box(w.portable.test_and_set_bit(black_box(5)));
                }),
                ("core", |w| {
                    let m = 1 << black_box(5);
                    black_box(w.core.fetch_or(m, SeqCst) & m != 0);
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
                    black_box(w.asm.xchg_half_relaxed(1, black_box(7)));
                }),
                ("portable", |w| {
                    black_box(w.portable.xchg_half_relaxed(1, black_box(7)));
                }),
                ("core", |w| {
                    black_box(w.core16.swap(black_box(7), Relaxed));
                }),
            ],
        ),
        (
            "cmpxchg_byte",
            [
                ("asm", |w| {
                    black_box(w.asm.cmpxchg_byte_acquire(0, black_box(0), black_box(0)));
                }),
                ("portable", |w| {
                    black_box(
                        w.portable
                            .cmpxchg_byte_acquire(0, black_box(0), black_box(0)),
                    );
                }),
                ("core", |w| {
                    let _ = black_box(w.core8.compare_exchange(
                        black_box(0),
                        black_box(0),
                        Acquire,
                        Relaxed,
                    ));
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
                    while !stop.load(Relaxed) {
                        for _ in 0..64 {
                            op(&w);
                        }
                    }
                });
                g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(|| op(&w)));
                stop.store(true, Relaxed);
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
