//! The lock-free counter increment, written the kernel's two ways: a `cmpxchg` loop (compare
//! the returned value with the expected one) and a `try_cmpxchg` loop (the failed attempt hands
//! back the value it found, so the loop needs no extra read; the kernel's preferred form).
//!
//! Several threads increment one counter both ways at once; the total is exact, and the number
//! of retries shows the contention.
//!
//! `cargo run -p ksync-atomic --example cmpxchg_loop`

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::thread;

use ksync_atomic::Atomic;

const THREADS: usize = 4;
const ITERS: usize = 100_000;

/// `do { old = atomic_read(v); } while (atomic_cmpxchg(v, old, old + 1) != old);`
fn inc_with_cmpxchg(v: &Atomic) -> u64 {
    let mut retries = 0;
    let mut old = v.read();
    loop {
        // Fully ordered on success; a failure is unordered and just retries.
        let found = v.cmpxchg(old, old.wrapping_add(1));
        if found == old {
            return retries;
        }
        // The value found is the new guess: no second read needed.
        old = found;
        retries += 1;
    }
}

/// `old = atomic_read(v); do { } while (!atomic_try_cmpxchg(v, &old, old + 1));`
fn inc_with_try_cmpxchg(v: &Atomic) -> u64 {
    let mut retries = 0;
    let mut old = v.read();
    loop {
        let new = old.wrapping_add(1);
        // On failure `old` now holds the value found.
        if v.try_cmpxchg(&mut old, new) {
            return retries;
        }
        retries += 1;
    }
}

fn main() {
    let counter = Atomic::new(0);
    let retries = AtomicU64::new(0);
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (counter, retries, start) = (&counter, &retries, &start);
            s.spawn(move || {
                start.wait();
                let mut mine = 0;
                for i in 0..ITERS {
                    mine += if (t + i) % 2 == 0 {
                        inc_with_cmpxchg(counter)
                    } else {
                        inc_with_try_cmpxchg(counter)
                    };
                }
                retries.fetch_add(mine, Relaxed);
            });
        }
    });
    let total = counter.read();
    println!(
        "cmpxchg_loop: {THREADS} threads x {ITERS} increments = {total} ({} retries, backend {:?})",
        retries.load(Relaxed),
        ksync_barrier::BACKEND
    );
    assert_eq!(total as usize, THREADS * ITERS, "an increment was lost");
}
