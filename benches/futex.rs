//! Futex costs: what a lock pays when it decides to sleep or to wake (issue 5, `ksync-futex`).
//!
//! * `wake_no_waiter`: a wake when nobody sleeps. `ksync::futex::wake_one` is a `FUTEX_WAKE`
//!   syscall that finds an empty hash bucket; peers: `parking_lot_core::unpark_one` (a
//!   user-space bucket lookup, no syscall) and `std`'s `Thread::unpark` of a running thread
//!   (one atomic swap). This is the cost a lock saves by tracking "there are sleepers".
//! * `wait_without_wake`: waits nobody wakes. `ksync_futex_wait_mismatch`: the word already
//!   differs, so ksync's user-space pre-check returns without a syscall; peer:
//!   `parking_lot_core::park` whose `validate` returns false. `ksync_futex_wait_zero_timeout`:
//!   the word matches and the timeout is zero, so the thread enters the kernel
//!   (`FUTEX_WAIT_BITSET`, value check, timer already expired) and comes straight back: the
//!   cost of a wait that reaches the kernel but does not sleep (a `EAGAIN` from a word that
//!   changed after the pre-check costs about the same).
//! * `round_trip`: two threads hand a token back and forth; one iteration is a full round trip
//!   (A wakes B, B wakes A), each side sleeping whenever the token is not there yet. ksync:
//!   futex wait/wake on one word; peer: `std::thread::park`/`unpark` (itself a futex on Linux).
//!   On an idle machine with free cores this is two wakeups of a sleeping thread; on a loaded
//!   one it includes scheduling delays, so read it as an order of magnitude.
//!
//! These numbers set the spin budgets in the locks: spinning for less than a round trip before
//! sleeping is cheap insurance.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ksync::barrier::sync::atomic::AtomicU32;
use ksync::futex::{wait, wake_one};

mod common;

type Contender = (&'static str, Box<dyn Fn(&mut criterion::Bencher<'_>)>);
type RoundTrips = (&'static str, fn(u64) -> Duration);

fn wake_no_waiter(c: &mut Criterion) {
    let contenders: Vec<Contender> = vec![
        (
            "ksync_futex_wake_one",
            Box::new(|b| {
                let w = AtomicU32::new(0);
                b.iter(|| wake_one(black_box(&w)))
            }),
        ),
        (
            "parking_lot_core_unpark_one",
            Box::new(|b| {
                let w = AtomicU32::new(0);
                let key = &w as *const AtomicU32 as usize;
                b.iter(|| {
                    // SAFETY: the key is the address of a word this bench owns; the callback
                    // neither unwinds nor calls into parking_lot.
                    unsafe {
                        parking_lot_core::unpark_one(black_box(key), |_| {
                            parking_lot_core::DEFAULT_UNPARK_TOKEN
                        })
                    }
                })
            }),
        ),
        (
            "std_thread_unpark",
            Box::new(|b| {
                let me = thread::current();
                b.iter(|| black_box(&me).unpark());
                // Consume the token we left, so later benches do not see it.
                thread::park_timeout(Duration::ZERO);
            }),
        ),
    ];
    let mut g = c.benchmark_group("futex/wake_no_waiter");
    for (name, f) in common::round_order(contenders) {
        g.bench_function(name, |b| f(b));
    }
    g.finish();
}

fn wait_without_wake(c: &mut Criterion) {
    let contenders: Vec<Contender> = vec![
        (
            "ksync_futex_wait_mismatch",
            Box::new(|b| {
                let w = AtomicU32::new(1);
                b.iter(|| wait(black_box(&w), 0, None))
            }),
        ),
        (
            "ksync_futex_wait_timeout_1us",
            Box::new(|b| {
                let w = AtomicU32::new(1);
                b.iter(|| wait(black_box(&w), 1, Some(Duration::from_micros(1))))
            }),
        ),
        (
            "parking_lot_core_park_invalid",
            Box::new(|b| {
                let w = AtomicU32::new(1);
                let key = &w as *const AtomicU32 as usize;
                b.iter(|| {
                    // SAFETY: as above; `validate` does not unwind.
                    unsafe {
                        parking_lot_core::park(
                            black_box(key),
                            // Relaxed: the word never changes (the park is meant to be refused).
                            || w.load(ksync::barrier::sync::atomic::Ordering::Relaxed) == 0,
                            || {},
                            |_, _| {},
                            parking_lot_core::DEFAULT_PARK_TOKEN,
                            None,
                        )
                    }
                })
            }),
        ),
    ];
    let mut g = c.benchmark_group("futex/wait_without_wake");
    for (name, f) in common::round_order(contenders) {
        g.bench_function(name, |b| f(b));
    }
    g.finish();
}

/// `iters` futex round trips between this thread and a helper.
fn futex_round_trips(iters: u64) -> Duration {
    use ksync::barrier::sync::atomic::Ordering::{Acquire, Release};
    // Even: the main thread's turn to send; odd: the helper's turn to answer.
    let word = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (w, s) = (word.clone(), stop.clone());
    let helper = thread::spawn(move || loop {
        // Acquire: pairs with the main thread's Release ping (or final fetch_add).
        let v = w.load(Acquire);
        // Acquire (Relaxed would do): once the load of `w` above sees the final fetch_add, it
        // already makes `stop` visible.
        if s.load(Ordering::Acquire) {
            break;
        }
        if v % 2 == 1 {
            // Release: the pong; pairs with the main thread's Acquire loads.
            w.store(v.wrapping_add(1), Release);
            wake_one(&*w);
        } else {
            let _ = wait(&*w, v, None);
        }
    });
    let start = Instant::now();
    for _ in 0..iters {
        // Acquire: the helper's last pong, as in the wait loop below.
        let sent = word.load(Acquire).wrapping_add(1);
        // Release: the ping; pairs with the helper's Acquire load.
        word.store(sent, Release);
        wake_one(&*word);
        // Acquire: pairs with the helper's Release pong.
        while word.load(Acquire) == sent {
            let _ = wait(&*word, sent, None);
        }
    }
    let elapsed = start.elapsed();
    // Release (Relaxed would do): the Release fetch_add below is what publishes it.
    stop.store(true, Ordering::Release);
    // Make the helper's value check fail, whatever it is waiting for. Release: pairs with
    // its Acquire load of the word, so that a helper that sees the change also sees `stop`.
    word.fetch_add(2, Release);
    wake_one(&*word);
    helper.join().unwrap();
    elapsed
}

/// `iters` park/unpark round trips between this thread and a helper.
fn park_round_trips(iters: u64) -> Duration {
    // 0: idle, 1: ping sent, 2: pong sent, 3: stop.
    let state = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let main = thread::current();
    let st = state.clone();
    let helper = thread::spawn(move || loop {
        // Acquire: pairs with the main thread's Release stores (ping, stop).
        match st.load(Ordering::Acquire) {
            1 => {
                // Release: the pong; pairs with the main thread's Acquire load.
                st.store(2, Ordering::Release);
                main.unpark();
            }
            3 => break,
            _ => thread::park(),
        }
    });
    let start = Instant::now();
    for _ in 0..iters {
        // Release: the ping; pairs with the helper's Acquire load.
        state.store(1, Ordering::Release);
        helper.thread().unpark();
        // Acquire: pairs with the helper's Release pong.
        while state.load(Ordering::Acquire) != 2 {
            thread::park();
        }
    }
    let elapsed = start.elapsed();
    // Release: the stop value; pairs with the helper's Acquire load.
    state.store(3, Ordering::Release);
    helper.thread().unpark();
    helper.join().unwrap();
    elapsed
}

fn round_trip(c: &mut Criterion) {
    let contenders: Vec<RoundTrips> = vec![
        ("ksync_futex", futex_round_trips),
        ("std_park_unpark", park_round_trips),
    ];
    let mut g = c.benchmark_group("futex/round_trip");
    g.sample_size(20);
    for (name, f) in common::round_order(contenders) {
        g.bench_function(name, |b| b.iter_custom(f));
    }
    g.finish();
}

criterion_group!(benches, wake_no_waiter, wait_without_wake, round_trip);
criterion_main!(benches);
