//! The mutex next to its peers, `std::sync::Mutex` and `parking_lot::Mutex` (issue 7,
//! `ksync-mutex`).
//!
//! * `uncontended_lock_unlock`: one thread, lock + increment + unlock. Target: ksync's mutex
//!   <= 1.0x std and <= 1.0x parking_lot. ksync's fast path is a thread-local read (the
//!   caller's descriptor) and a `lock cmpxchg` to lock, a `lock cmpxchg` to unlock; std's is a
//!   `lock cmpxchg` and an `xchg`, parking_lot's two `lock cmpxchg` on a byte.
//! * `contended_<n>_threads`: the throughput harness (`ksync::harness::throughput`, the engine of
//!   `ksync bench`), `n` threads on one mutex with 1 work unit inside and 10 outside the critical
//!   section; criterion reports the time per acquisition (all threads together). Targets:
//!   throughput >= parking_lot at 2, 8 and 16 threads. Fairness (min/max acquisitions per
//!   thread, target >= 0.5 at 8 and 16 threads on 2 cores) and the longest wait come from the
//!   same engine through `ksync bench --lock mutex,parking_lot,std --threads 1,2,8,16`, which
//!   prints them; `docs/perf.md` has the tables.
//!
//! Reproduce: `KSYNC_BENCH_ROUND=0 cargo bench --bench mutex`, then `KSYNC_BENCH_ROUND=1`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ksync::harness::throughput;

mod common;

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended_lock_unlock");
    let ksync_mutex = ksync::mutex::Mutex::new(0u64);
    let pl = parking_lot::Mutex::new(0u64);
    let std_mutex = std::sync::Mutex::new(0u64);
    for name in common::round_order(vec!["ksync_mutex", "parking_lot", "std"]) {
        match name {
            "ksync_mutex" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&ksync_mutex).lock() += 1))
            }
            "parking_lot" => g.bench_function(name, |b| b.iter(|| *black_box(&pl).lock() += 1)),
            "std" => g.bench_function(name, |b| {
                b.iter(|| *black_box(&std_mutex).lock().unwrap() += 1)
            }),
            _ => unreachable!(),
        };
    }
    g.finish();
}

fn contended(c: &mut Criterion) {
    for threads in [2usize, 8, 16] {
        let mut g = c.benchmark_group(format!("contended_{threads}_threads"));
        // Each sample is one harness run of a fixed duration: few, long samples.
        g.sample_size(10);
        for lock in common::round_order(vec!["mutex", "parking_lot", "std"]) {
            g.bench_function(lock, |b| {
                b.iter_custom(|iters| {
                    let p = throughput::run(lock, threads, 1, 10, Duration::from_millis(100))
                        .expect("a registered lock");
                    assert!(p.excluded(), "{lock}: lost updates");
                    p.time_for(iters)
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
