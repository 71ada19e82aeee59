//! `ksync::compat` against `std::sync` (issue 8).
//!
//! * `compat/uncontended`: lock + increment + unlock on one thread. `compat` is
//!   `ksync::compat::Mutex` (qspinlock + poison byte), `compat_nonpoison` the same without
//!   poisoning, `ksync_spinlock` the qspinlock under plain `lock_api` (no poisoning at all), and
//!   `std` is `std::sync::Mutex`. `compat` minus `ksync_spinlock` is the price of std's
//!   poisoning (two `thread::panicking()` checks and a flag load), which std pays too.
//! * `compat/throughput_{1,2,8}t`: the throughput harness (`ksync::harness::throughput`, the
//!   registry's `compat`, `qspinlock` and `std` entries), 1 work unit inside the lock and 10
//!   outside; the time reported is per acquisition, all threads together. `compat` against
//!   `qspinlock` (the same raw lock under plain lock_api) isolates the compat layer; against
//!   `std` it compares the locks.
//! * `compat/condvar_ping_pong`: two threads hand a turn back and forth through a
//!   `Mutex<u32>` and a `Condvar`, each waiting for its turn with `wait_while`; one iteration
//!   is a full round trip (two handovers). ksync's condvar against std's.
//! * `compat/notify_no_waiter`: `notify_one` when nobody waits. std's condvar makes a
//!   `FUTEX_WAKE` system call every time; ksync's checks its waiter count first.
//!
//! Reproduce: `KSYNC_BENCH_ROUND=0 cargo bench --bench compat`, then with
//! `KSYNC_BENCH_ROUND=1` (the order of contenders alternates between rounds).

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ksync::harness::throughput;

mod common;

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("compat/uncontended");
    let compat = ksync::compat::Mutex::new(0u64);
    let nonpoison = ksync::compat::nonpoison::Mutex::new(0u64);
    let spin = ksync::spinlock::SpinLock::new(0u64);
    let std_mutex = std::sync::Mutex::new(0u64);
    for name in common::round_order(vec!["compat", "compat_nonpoison", "ksync_spinlock", "std"]) {
        match name {
            "compat" => g.bench_function(name, |b| {
                b.iter(|| *black_box(&compat).lock().unwrap() += 1)
            }),
            "compat_nonpoison" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&nonpoison).lock() += 1))
            }
            "ksync_spinlock" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&spin).lock() += 1))
            }
            "std" => g.bench_function(name, |b| {
                b.iter(|| *black_box(&std_mutex).lock().unwrap() += 1)
            }),
            _ => unreachable!(),
        };
    }
    g.finish();
}

fn contended(c: &mut Criterion) {
    for threads in [1usize, 2, 8] {
        let mut g = c.benchmark_group(format!("compat/throughput_{threads}t"));
        // Each sample is a fixed-time run of the harness: few samples, short runs.
        g.sample_size(10);
        for lock in common::round_order(vec!["compat", "qspinlock", "std"]) {
            g.bench_function(lock, |b| {
                b.iter_custom(|iters| {
                    let p = throughput::run(lock, threads, 1, 10, Duration::from_millis(20))
                        .expect("a registered lock");
                    assert!(p.excluded(), "{lock} lost updates");
                    p.time_for(iters)
                })
            });
        }
        g.finish();
    }
}

/// `iters` round trips of a turn between this thread and a partner, through `lock`/`cvar`
/// of the given types (both flavours share this shape).
macro_rules! ping_pong {
    ($mutex:expr, $cvar:expr, $iters:expr) => {{
        let iters: u64 = $iters;
        let pair = Arc::new(($mutex, $cvar));
        let partner = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let (lock, cvar) = &*pair;
                for _ in 0..iters {
                    // Odd turns are the partner's.
                    let mut turn = cvar
                        .wait_while(lock.lock().unwrap(), |t| *t % 2 == 0)
                        .unwrap();
                    *turn += 1;
                    drop(turn);
                    cvar.notify_one();
                }
            })
        };
        let (lock, cvar) = &*pair;
        let start = Instant::now();
        for _ in 0..iters {
            let mut turn = cvar
                .wait_while(lock.lock().unwrap(), |t| *t % 2 == 1)
                .unwrap();
            *turn += 1;
            drop(turn);
            cvar.notify_one();
        }
        // Wait for the partner's last turn so the round trip is complete.
        drop(
            cvar.wait_while(lock.lock().unwrap(), |t| *t != 2 * iters)
                .unwrap(),
        );
        let elapsed = start.elapsed();
        partner.join().unwrap();
        elapsed
    }};
}

fn condvar_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("compat/condvar_ping_pong");
    g.sample_size(20);
    for name in common::round_order(vec!["compat", "std"]) {
        match name {
            "compat" => g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    ping_pong!(
                        ksync::compat::Mutex::new(0u64),
                        ksync::compat::Condvar::new(),
                        iters
                    )
                })
            }),
            "std" => g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    ping_pong!(
                        std::sync::Mutex::new(0u64),
                        std::sync::Condvar::new(),
                        iters
                    )
                })
            }),
            _ => unreachable!(),
        };
    }
    g.finish();
}

fn notify_no_waiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("compat/notify_no_waiter");
    let ours = ksync::compat::Condvar::new();
    let std_cv = std::sync::Condvar::new();
    for name in common::round_order(vec!["compat", "std"]) {
        match name {
            "compat" => g.bench_function(name, |b| b.iter(|| black_box(&ours).notify_one())),
            "std" => g.bench_function(name, |b| b.iter(|| black_box(&std_cv).notify_one())),
            _ => unreachable!(),
        };
    }
    g.finish();
}

criterion_group!(
    benches,
    uncontended,
    contended,
    condvar_ping_pong,
    notify_no_waiter
);
criterion_main!(benches);
