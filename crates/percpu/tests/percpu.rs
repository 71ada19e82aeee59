//! Slots, descriptors, `PerCpu` and the counters on real threads.
#![cfg(not(loom))]

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use ksync_barrier::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use ksync_percpu::{
    current, this_slot, LocalCounter, PerCpu, PerCpuCounter, SlotAllocator, Task, MAX_SLOTS,
};
use static_assertions::{assert_impl_all, assert_not_impl_any};

assert_impl_all!(PerCpu<AtomicU64>: Send, Sync);
assert_not_impl_any!(PerCpu<std::cell::Cell<u64>>: Sync);
assert_not_impl_any!(PerCpu<std::rc::Rc<u64>>: Send, Sync);
assert_impl_all!(Task: Send, Sync);
assert_impl_all!(PerCpuCounter: Send, Sync);
assert_impl_all!(LocalCounter: Send, Sync);

#[test]
fn max_slots_matches_the_qspinlock_tail() {
    // 14 bits of tail CPU field, slot + 1 stored, 0 = no tail.
    assert_eq!(MAX_SLOTS, 16383);
    assert_eq!(MAX_SLOTS + 1, 1 << 14);
}

#[test]
fn slot_and_descriptor_are_stable_and_consistent() {
    let s = this_slot().expect("a slot");
    let t = current();
    for _ in 0..100 {
        assert_eq!(this_slot(), Some(s));
        assert!(std::ptr::eq(current(), t));
    }
    assert_eq!(t.slot(), Some(s));
    assert!(t.is_current());
    assert_eq!(t as *const Task as usize % 128, 0, "descriptor alignment");
    assert_ne!(t.serial(), 0);
}

#[test]
fn live_threads_have_distinct_slots_descriptors_and_serials() {
    const N: usize = 16;
    let barrier = Arc::new(Barrier::new(N));
    let seen = Arc::new(Mutex::new(Vec::new()));
    thread::scope(|s| {
        for _ in 0..N {
            let (barrier, seen) = (barrier.clone(), seen.clone());
            s.spawn(move || {
                let t = current();
                let slot = this_slot().unwrap();
                let blocked = t.is_blocked();
                seen.lock()
                    .unwrap()
                    .push((slot, t as *const Task as usize, t.serial()));
                // Everybody is alive at once here. (Assert after the barrier, so that a failure
                // cannot leave the other threads waiting forever.)
                barrier.wait();
                assert!(!blocked);
            });
        }
    });
    let seen = seen.lock().unwrap();
    let slots: HashSet<_> = seen.iter().map(|e| e.0).collect();
    let tasks: HashSet<_> = seen.iter().map(|e| e.1).collect();
    let serials: HashSet<_> = seen.iter().map(|e| e.2).collect();
    assert_eq!(slots.len(), N);
    assert_eq!(tasks.len(), N);
    assert_eq!(serials.len(), N);
}

#[test]
fn blocked_flag_and_names() {
    let h = thread::Builder::new()
        .name("ksync-worker".into())
        .spawn(|| {
            let t = current();
            t.set_blocked(true);
            assert!(t.is_blocked());
            t.set_blocked(false);
            assert!(!t.is_blocked());
            assert_eq!(t.name().as_deref(), Some("ksync-worker"));
            let shown = t.to_string();
            assert_eq!(shown, format!("thread 'ksync-worker' (#{})", t.serial()));
            let dbg = format!("{t:?}");
            assert!(
                dbg.contains("ksync-worker") && dbg.contains("slot"),
                "{dbg}"
            );
        })
        .unwrap();
    h.join().unwrap();
}

#[test]
fn exited_thread_descriptor_has_no_name() {
    let addr = thread::Builder::new()
        .name("short-lived".into())
        .spawn(|| current() as *const Task as usize)
        .unwrap()
        .join()
        .unwrap();
    // SAFETY: descriptors are never freed.
    let stale = unsafe { &*(addr as *const Task) };
    // Either still unbound (None) or rebound to another test thread (never "short-lived").
    assert_ne!(stale.name().as_deref(), Some("short-lived"));
}

// ---------------------------------------------------------------------------------------------
// SlotAllocator

#[test]
fn small_allocator_exhausts_and_recycles_lowest_first() {
    let a = SlotAllocator::with_capacity(4);
    assert_eq!(a.capacity(), 4);
    let got: Vec<_> = (0..4).map(|_| a.alloc()).collect();
    assert_eq!(got, [Some(0), Some(1), Some(2), Some(3)]);
    assert_eq!(a.alloc(), None, "exhaustion is reported, not wrapped");
    assert_eq!(a.in_use(), 4);
    a.free(2);
    a.free(1);
    assert!(!a.is_allocated(1) && a.is_allocated(3));
    assert_eq!(a.alloc(), Some(1));
    assert_eq!(a.alloc(), Some(2));
    assert_eq!(a.alloc(), None);
    assert_eq!(a.high_water(), 4);
    assert!(!a.is_allocated(4) && !a.is_allocated(usize::MAX));
}

#[test]
fn zero_capacity_allocator_is_always_exhausted() {
    let a = SlotAllocator::with_capacity(0);
    assert_eq!(a.alloc(), None);
    assert_eq!(a.high_water(), 0);
}

#[test]
fn full_size_allocator_hands_out_every_slot_once() {
    let a = SlotAllocator::new();
    for expect in 0..MAX_SLOTS {
        assert_eq!(a.alloc(), Some(expect));
    }
    assert_eq!(a.alloc(), None, "slot 16383 must never be handed out");
    a.free(12345);
    a.free(64);
    assert_eq!(a.alloc(), Some(64));
    assert_eq!(a.alloc(), Some(12345));
    assert_eq!(a.alloc(), None);
    assert_eq!(a.in_use(), MAX_SLOTS);
    assert_eq!(a.high_water(), MAX_SLOTS);
}

#[test]
#[should_panic(expected = "double free")]
fn double_free_panics() {
    let a = SlotAllocator::with_capacity(4);
    let s = a.alloc().unwrap();
    a.free(s);
    a.free(s);
}

#[test]
#[should_panic(expected = "out of range")]
fn free_out_of_range_panics() {
    SlotAllocator::with_capacity(4).free(4);
}

#[test]
#[should_panic(expected = "exceeds MAX_SLOTS")]
fn oversized_allocator_panics() {
    let _ = SlotAllocator::with_capacity(MAX_SLOTS + 1);
}

#[test]
fn concurrent_alloc_free_never_shares_a_slot() {
    const CAP: usize = 8;
    const THREADS: usize = 4;
    let a = SlotAllocator::with_capacity(CAP);
    let held: Vec<AtomicBool> = (0..CAP).map(|_| AtomicBool::new(false)).collect();
    let exhausted = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..20_000 {
                    // Each thread holds up to 3 slots at once: 12 > 8 wanted, so exhaustion
                    // happens too.
                    let mine: Vec<_> = (0..3).filter_map(|_| a.alloc()).collect();
                    if mine.len() < 3 {
                        exhausted.fetch_add(1, Ordering::Relaxed);
                    }
                    for &slot in &mine {
                        assert!(
                            !held[slot].swap(true, Ordering::Relaxed),
                            "slot {slot} handed to two holders"
                        );
                    }
                    for &slot in &mine {
                        held[slot].store(false, Ordering::Relaxed);
                        a.free(slot);
                    }
                }
            });
        }
    });
    assert_eq!(a.in_use(), 0);
    assert!(a.high_water() <= CAP);
}

// ---------------------------------------------------------------------------------------------
// PerCpu

#[test]
fn percpu_elements_start_from_init_and_are_per_slot() {
    let p: PerCpu<usize> = PerCpu::with_init(|slot| slot * 10);
    assert!(p.try_get(5).is_none(), "nothing allocated before first use");
    assert_eq!(*p.get(5), 50);
    assert_eq!(p.try_get(5), Some(&50));
    assert_eq!(*p.get(0), 0);
    assert_eq!(*p.get(MAX_SLOTS - 1), (MAX_SLOTS - 1) * 10);
    assert!(p.try_get(MAX_SLOTS).is_none());
    // Chunks 0 (slot 0), 2 (slots 3..7) and 13 (slots 8191..16383) are allocated.
    let slots: Vec<usize> = p.iter().map(|(s, _)| s).collect();
    let expect: Vec<usize> = [0..1, 3..7, 8191..MAX_SLOTS]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(slots, expect);
    assert!(p.iter().all(|(s, v)| *v == s * 10));
}

#[test]
#[should_panic(expected = "out of range")]
fn percpu_get_out_of_range_panics() {
    let p: PerCpu<u8> = PerCpu::new();
    let _ = p.get(MAX_SLOTS);
}

#[test]
fn percpu_this_cpu_is_the_slot_element() {
    static P: PerCpu<AtomicU64> = PerCpu::new();
    let slot = this_slot().unwrap();
    P.this_cpu().unwrap().store(7, Ordering::Relaxed);
    assert_eq!(P.get(slot).load(Ordering::Relaxed), 7);
    assert!(std::ptr::eq(P.this_cpu().unwrap(), P.get(slot)));
}

#[test]
fn percpu_elements_are_cache_padded() {
    let p: PerCpu<u8> = PerCpu::new();
    let a = p.get(3) as *const u8 as usize;
    let b = p.get(4) as *const u8 as usize;
    assert!(b - a >= 64, "neighbouring slots share a cache line");
    assert_eq!(a % 64, 0);
}

/// Addresses handed out never move while the storage grows, and readers on other threads keep
/// reading valid, initialized elements throughout.
#[test]
fn percpu_addresses_are_stable_across_growth() {
    let p: PerCpu<AtomicUsize> = PerCpu::with_init(AtomicUsize::new);
    let stop = AtomicBool::new(false);
    let early: Vec<*const AtomicUsize> = (0..4).map(|s| p.get(s) as *const _).collect();
    thread::scope(|s| {
        for r in 0..2 {
            let (p, stop) = (&p, &stop);
            s.spawn(move || {
                // Hold references taken before the growth and keep checking them, and fetch
                // (possibly fresh) elements concurrently with the grower.
                let held: Vec<&AtomicUsize> = (0..4).map(|s| p.get(s)).collect();
                let mut slot = r;
                let mut rounds = 0u64;
                while !stop.load(Ordering::Acquire) || rounds < 1000 {
                    for (s, e) in held.iter().enumerate() {
                        assert_eq!(e.load(Ordering::Relaxed), s);
                    }
                    slot = (slot * 7 + 13) % MAX_SLOTS;
                    assert_eq!(p.get(slot).load(Ordering::Relaxed), slot);
                    rounds += 1;
                }
            });
        }
        // The grower: touch every chunk (chunk b starts at slot 2^b - 1), then more slots.
        let firsts = (0..14).map(|b| (1usize << b) - 1);
        for slot in firsts.chain((0..MAX_SLOTS).step_by(97)) {
            assert_eq!(p.get(slot).load(Ordering::Relaxed), slot);
        }
        stop.store(true, Ordering::Release);
    });
    for (s, &e) in early.iter().enumerate() {
        assert!(std::ptr::eq(p.get(s), e), "slot {s} moved");
    }
    assert_eq!(p.iter().count(), MAX_SLOTS);
}

#[test]
fn percpu_drops_every_element_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct D;
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let p: PerCpu<D> = PerCpu::with_init(|_| D);
    let _ = p.get(0);
    let _ = p.get(5); // chunk 2: slots 3..7
    let allocated = p.iter().count();
    assert_eq!(allocated, 5);
    drop(p);
    assert_eq!(DROPS.load(Ordering::Relaxed), allocated);
}

// ---------------------------------------------------------------------------------------------
// Counters

#[test]
fn percpu_counter_sums_exactly_after_concurrent_increments() {
    static C: PerCpuCounter = PerCpuCounter::new();
    const THREADS: i64 = 8;
    const PER: i64 = 25_000;
    thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for i in 0..PER {
                    if i % 2 == 0 {
                        C.this_cpu_add(3);
                    } else {
                        C.this_cpu_sub(1);
                    }
                }
                C.this_cpu_inc();
                C.this_cpu_dec();
                C.this_cpu_add(t);
            });
        }
    });
    let expect = THREADS * (PER / 2 * 3 - PER / 2) + (0..THREADS).sum::<i64>();
    assert_eq!(C.sum(), expect);
    assert_eq!(C.sum_positive(), expect);
}

#[test]
fn percpu_counter_keeps_totals_across_slot_reuse() {
    let c = PerCpuCounter::new();
    for _ in 0..10 {
        // Short threads: the next one often reuses the previous one's slot and shard.
        thread::scope(|s| {
            s.spawn(|| c.this_cpu_add(5));
        });
    }
    assert_eq!(c.sum(), 50);
    c.this_cpu_sub(80);
    assert_eq!(c.sum(), -30);
    assert_eq!(c.sum_positive(), 0);
}

#[test]
fn local_counter_operations() {
    let c = LocalCounter::new(0);
    c.inc();
    c.inc();
    c.dec();
    c.add(41);
    assert_eq!(c.read(), 42);
    assert_eq!(c.add_return(8), 50);
    assert_eq!(c.sub_return(60), -10);
    c.sub(5);
    assert_eq!(c.read(), -15);
    c.set(i64::MAX);
    c.inc(); // wraps, like the kernel's
    assert_eq!(c.read(), i64::MIN);
    assert_eq!(format!("{c:?}"), format!("LocalCounter({})", i64::MIN));
}

/// One writer, concurrent readers: readers see only values the writer wrote (monotonic here),
/// and the final value is exact.
#[test]
fn local_counter_one_writer_many_readers() {
    let c = LocalCounter::default();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut last = 0;
                while !done.load(Ordering::Acquire) {
                    let v = c.read();
                    assert!(
                        v >= last && v <= 100_000,
                        "torn or backwards read: {v} after {last}"
                    );
                    last = v;
                }
            });
        }
        for _ in 0..100_000 {
            c.inc();
        }
        done.store(true, Ordering::Release);
    });
    assert_eq!(c.read(), 100_000);
}
