//! What a per-CPU counter buys: `PerCpuCounter::this_cpu_inc` (an unlocked add to this thread's
//! shard, found through its slot) next to one shared `AtomicI64` (`fetch_add`, a `lock xadd`)
//! and a bare `LocalCounter::inc` (the shard's own `local_inc`, without the slot lookup); then
//! the lookups themselves, `current()` and `this_slot()`, and the reader's cost, `sum()`.
//!
//! Groups:
//! * `percpu_inc_1t`: one thread increments.
//! * `percpu_inc_2t`: a second thread increments the same counter object throughout (its own
//!   shard for `PerCpuCounter`, the same word for the shared atomic): the per-CPU counter's
//!   point is that this costs it nothing.
//! * `percpu_lookup`: `current()`, `this_slot()`, `PerCpu::this_cpu()`.
//! * `percpu_sum`: `PerCpuCounter::sum()` with the slots this process has handed out.
//!
//! Reproduce: `python3 scripts/perf.py percpu` (or `KSYNC_BENCH_ROUND=0/1 cargo bench --bench
//! percpu`; the order of contenders alternates between rounds).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::CachePadded;
use ksync::percpu::{self, LocalCounter, PerCpu, PerCpuCounter};

mod common;

/// The counters under test, each in cache lines of its own.
struct Counters {
    percpu: CachePadded<PerCpuCounter>,
    shared: CachePadded<AtomicI64>,
    local: CachePadded<LocalCounter>,
}

impl Counters {
    fn new() -> Self {
        Counters {
            percpu: CachePadded::new(PerCpuCounter::new()),
            shared: CachePadded::new(AtomicI64::new(0)),
            local: CachePadded::new(LocalCounter::new(0)),
        }
    }
}

type Op = fn(&Counters);

fn contenders() -> Vec<(&'static str, Op)> {
    vec![
        ("percpu_counter", |c| c.percpu.this_cpu_inc()),
        ("shared_atomic", |c| {
            // Relaxed: a plain counter, like the per-CPU one it is compared with.
            c.shared.fetch_add(1, Relaxed);
        }),
        ("local_counter", |c| c.local.inc()),
    ]
}

fn inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("percpu_inc_1t");
    for (name, op) in common::round_order(contenders()) {
        let counters = Counters::new();
        g.bench_function(name, |b| b.iter(|| op(black_box(&counters))));
    }
    g.finish();

    // A `LocalCounter` has one writer by contract, so the second thread leaves it alone.
    let mut g = c.benchmark_group("percpu_inc_2t");
    for (name, op) in common::round_order(contenders()) {
        if name == "local_counter" {
            continue;
        }
        let counters = Counters::new();
        let stop = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                // Relaxed: a stop flag; a stale `false` only costs a few more iterations.
                while !stop.load(Relaxed) {
                    for _ in 0..64 {
                        op(&counters);
                    }
                }
            });
            g.bench_function(name, |b| b.iter(|| op(black_box(&counters))));
            // Relaxed: only tells the helper to stop; the scope joins it.
            stop.store(true, Relaxed);
        });
    }
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("percpu_lookup");
    let storage: PerCpu<u64> = PerCpu::new();
    for name in common::round_order(vec!["current", "this_slot", "percpu_this_cpu"]) {
        match name {
            "current" => g.bench_function(name, |b| b.iter(|| black_box(percpu::current()))),
            // As a plain `usize`: a 16-byte `Option` through `black_box` measured the stores of
            // the two halves and their reload (6.6 ns), not the lookup.
            "this_slot" => g.bench_function(name, |b| {
                b.iter(|| black_box(percpu::this_slot().unwrap_or(usize::MAX)))
            }),
            "percpu_this_cpu" => g.bench_function(name, |b| {
                b.iter(|| black_box(black_box(&storage).this_cpu()))
            }),
            _ => unreachable!(),
        };
    }
    g.finish();
}

fn sum(c: &mut Criterion) {
    let counter = PerCpuCounter::new();
    // Give the counter a shard for this thread and for a second one.
    counter.this_cpu_inc();
    thread::scope(|s| {
        s.spawn(|| counter.this_cpu_inc());
    });
    let mut g = c.benchmark_group("percpu_sum");
    g.bench_function("sum", |b| b.iter(|| black_box(black_box(&counter).sum())));
    g.finish();
    assert_eq!(counter.sum(), 2, "the two increments are counted");
}

criterion_group!(benches, inc, lookup, sum);
criterion_main!(benches);
