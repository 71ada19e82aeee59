//! Cost of one barrier: `smp_mb()` (locked add on the stack) vs `fence(SeqCst)` vs `mb()`
//! (`mfence`) vs `barrier()` (compiler only), each called back to back.
//!
//! Target (issue: ksync-barrier): `smp_mb()` costs no more than `fence(SeqCst)` and about half
//! of `mfence`.

use std::hint::black_box;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

type Contender = (&'static str, fn(&AtomicU64));

fn bench(c: &mut Criterion) {
    let contenders: Vec<Contender> = vec![
        ("smp_mb", |x| {
            x.store(1, Ordering::Relaxed);
            ksync::barrier::smp_mb();
        }),
        ("fence_seqcst", |x| {
            x.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
        }),
        ("mb_mfence", |x| {
            x.store(1, Ordering::Relaxed);
            ksync::barrier::mb();
        }),
        ("barrier", |x| {
            x.store(1, Ordering::Relaxed);
            ksync::barrier::barrier();
        }),
    ];
    let mut g = c.benchmark_group("barrier");
    // A store before each barrier, as in real use: a full barrier has to drain it.
    let x = AtomicU64::new(0);
    for (name, f) in common::round_order(contenders) {
        g.bench_function(name, |b| b.iter(|| f(black_box(&x))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
