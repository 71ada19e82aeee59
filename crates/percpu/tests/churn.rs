//! Slot recycling under thread churn: thousands of short threads, spawned and joined in
//! batches. Its own test binary (one test), so that no other test's threads hold slots.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ksync_percpu::{current, stats, this_slot, MAX_SLOTS};

#[test]
fn slots_stay_dense_and_unshared_under_churn() {
    const BATCHES: usize = 120;
    const MAX_BATCH: usize = 40;

    // This thread's own slot, and whatever the harness holds: the baseline.
    let _ = this_slot();
    let base = stats();
    let held: Arc<Vec<AtomicBool>> =
        Arc::new((0..MAX_SLOTS).map(|_| AtomicBool::new(false)).collect());
    let mut threads = 0;

    for batch in 0..BATCHES {
        // Batch sizes vary, so slots are freed and reused in changing patterns.
        let n = 1 + (batch * 7) % MAX_BATCH;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (barrier, held) = (barrier.clone(), held.clone());
                thread::spawn(move || {
                    let slot = this_slot().expect("slots are plentiful");
                    let task = current();
                    // Claim the slot in the shadow table: two live threads with one slot would
                    // find it already claimed.
                    let shared = held[slot].swap(true, Ordering::Relaxed);
                    // Everybody in the batch is alive at once past this point.
                    barrier.wait();
                    held[slot].store(false, Ordering::Relaxed);
                    (slot, task.slot(), shared)
                })
            })
            .collect();
        let mut max_slot = 0;
        for h in handles {
            let (slot, task_slot, shared) = h.join().unwrap();
            assert!(!shared, "slot {slot} held by two live threads");
            assert_eq!(task_slot, Some(slot), "descriptor and slot disagree");
            max_slot = max_slot.max(slot);
        }
        threads += n;
        // Dense: with n threads alive besides the baseline holders, the lowest-first allocator
        // never needs a slot at or above baseline + n. (Slack for the harness's own threads,
        // which may come and go.)
        let slack = 4;
        assert!(
            max_slot < base.slots_in_use + n + slack,
            "batch {batch}: slot {max_slot} for {n} threads over a baseline of {}",
            base.slots_in_use
        );
        // join() returns after the thread's thread-local destructors ran: the slots are back.
        let now = stats();
        assert!(
            now.slots_in_use <= base.slots_in_use + slack,
            "batch {batch}: {} slots still held after join (baseline {})",
            now.slots_in_use,
            base.slots_in_use
        );
    }
    assert!(threads >= 2000, "ran {threads} threads");
    let end = stats();
    assert!(end.slot_high_water <= base.slots_in_use + MAX_BATCH + 4);
    assert_eq!(
        end.overflow_descriptors, 0,
        "no thread should have needed an overflow descriptor"
    );
    assert_eq!(end.retired_descriptors, 0);
}
