//! Torture: more threads than cores hammer each lock; exclusion is checked three ways.
//!
//! * an atomic "inside" counter, entered with `fetch_add == 0` and left with `fetch_sub == 1`;
//! * a held flag in the protected data, clear on entry and set while inside;
//! * a non-atomic counter in the protected data, whose final value must equal the number of
//!   acquisitions exactly (a lost update means two threads were inside at once).
//!
//! Some holds sleep, so waiters get preempted, queue up and (paravirt) go to sleep and get woken:
//! a lost wakeup shows up as a test that never finishes.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ksync_spinlock::{RawQSpinLock, RawQSpinLockNative, RawTasLock, RawTicketLock};
use lock_api::{Mutex, RawMutex};

/// 4x oversubscribed on the 2-core CI machine.
const THREADS: usize = 8;

struct Data {
    held: bool,
    count: u64,
}

fn torture<R: RawMutex + Send + Sync + 'static>(threads: usize, iters: usize, sleep_every: usize) {
    let lock = Arc::new(Mutex::<R, Data>::new(Data {
        held: false,
        count: 0,
    }));
    let inside = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (lock, inside, start) = (lock.clone(), inside.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..iters {
                    let mut g = lock.lock();
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two threads inside"
                    );
                    assert!(!g.held, "held flag already set on entry");
                    g.held = true;
                    g.count += 1;
                    if sleep_every != 0 && (i + t) % sleep_every == 0 {
                        // A hold that sleeps: waiters pile up and (paravirt) go to sleep.
                        std::thread::sleep(Duration::from_micros(50));
                    } else {
                        std::hint::spin_loop();
                    }
                    g.held = false;
                    assert_eq!(
                        inside.fetch_sub(1, Ordering::SeqCst),
                        1,
                        "two threads inside"
                    );
                    drop(g);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("torture thread panicked");
    }
    let g = lock.lock();
    assert_eq!(g.count, (threads * iters) as u64, "lost updates");
    assert!(!g.held);
    drop(g);
    assert!(!lock.is_locked());
}

#[test]
fn qspinlock_paravirt_survives_oversubscription() {
    torture::<RawQSpinLock>(THREADS, 4000, 97);
}

/// Many short critical sections, no sleeping: stealing and the queue dominate.
#[test]
fn qspinlock_paravirt_short_holds() {
    torture::<RawQSpinLock>(THREADS, 20_000, 0);
}

#[test]
fn spinlock_irq_survives_oversubscription() {
    torture::<ksync_spinlock::RawSpinLockIrq<RawQSpinLock>>(THREADS, 500, 97);
}

#[test]
fn tas_survives_oversubscription() {
    torture::<RawTasLock>(THREADS, 2000, 97);
}

// The spinning-only locks collapse when threads outnumber cores: every FIFO handoff may wait
// for a preempted waiter's next time slice (see docs/spinlock.md). They are still tortured
// oversubscribed, with few acquisitions, and at full speed with as many threads as cores.

#[test]
fn qspinlock_native_survives_oversubscription() {
    torture::<RawQSpinLockNative>(THREADS, 150, 0);
}

#[test]
fn qspinlock_native_three_contenders() {
    torture::<RawQSpinLockNative>(3, 300, 0);
}

#[test]
fn qspinlock_native_one_thread_per_core() {
    torture::<RawQSpinLockNative>(2, 20_000, 0);
}

#[test]
fn ticket_survives_oversubscription() {
    torture::<RawTicketLock>(THREADS, 150, 0);
}

#[test]
fn ticket_three_contenders() {
    torture::<RawTicketLock>(3, 300, 0);
}

#[test]
fn ticket_one_thread_per_core() {
    torture::<RawTicketLock>(2, 20_000, 0);
}
