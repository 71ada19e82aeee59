//! Descriptor recycling, in a test binary of its own: no other test thread may take the slot
//! between the two threads below, so the second one is certain to get the first one's
//! descriptor, and the reset on rebinding is really exercised.
#![cfg(not(loom))]

use std::sync::atomic::Ordering;
use std::thread;

use ksync_percpu::{current, Task};

#[test]
fn recycled_descriptor_is_reset_and_gets_a_new_serial() {
    let (addr, serial) = thread::spawn(|| {
        let t = current();
        // Relaxed: the join below orders it before the next thread's reads.
        t.futex().store(42, Ordering::Relaxed);
        t.set_blocked(true);
        (t as *const Task as usize, t.serial())
    })
    .join()
    .unwrap();
    // The slot (lowest free first) and with it the descriptor go to the next thread.
    let (addr2, serial2, futex, blocked) = thread::spawn(|| {
        let t = current();
        (
            t as *const Task as usize,
            t.serial(),
            // Relaxed: this thread's own descriptor, reset before it was bound.
            t.futex().load(Ordering::Relaxed),
            t.is_blocked(),
        )
    })
    .join()
    .unwrap();
    assert_eq!(addr, addr2, "the descriptor is recycled");
    assert_ne!(serial, serial2, "a recycled descriptor gets a new serial");
    assert_eq!(futex, 0, "the futex word is reset");
    assert!(!blocked, "the blocked flag is reset");
}
