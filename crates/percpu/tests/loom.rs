//! Loom models of slots, descriptors, `PerCpu` and the counters. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p ksync-percpu --test loom`.
//!
//! Under loom the registry and the thread-locals are per model execution, so every model
//! starts with an empty slot space.
#![cfg(loom)]

use ksync_barrier::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use ksync_barrier::sync::cell::UnsafeCell;
use ksync_barrier::sync::{thread, Arc};
use ksync_percpu::{current, stats, this_slot, PerCpu, PerCpuCounter, SlotAllocator, Task};

fn addr(t: &Task) -> usize {
    t as *const Task as usize
}

/// Two live threads get distinct dense slots and distinct descriptors, each stable.
#[test]
fn live_threads_get_distinct_slots() {
    loom::model(|| {
        // Register first, so that both threads hold their slots at the same time.
        let s = this_slot().unwrap();
        let me = current();
        let t = thread::spawn(|| {
            let s = this_slot().unwrap();
            let me = current();
            assert_eq!(me.slot(), Some(s));
            assert!(std::ptr::eq(me, current()));
            (s, addr(me), me.serial())
        });
        let (s2, a2, serial2) = t.join().unwrap();
        assert_ne!(s, s2);
        assert_ne!(addr(me), a2);
        assert_ne!(me.serial(), serial2);
        // Dense: two threads, slots 0 and 1.
        assert!(s < 2 && s2 < 2);
    });
}

/// Loom runs thread-local destructors when a model thread ends: the slot comes back, and the
/// next thread reuses it (lowest free first), with a new serial on the same descriptor.
///
/// Unlike std's, loom's `join` returns as soon as the thread's closure has returned, *before*
/// its thread-locals are destroyed; so the model waits for the slot to come back (if the
/// destructor never ran, the wait would spin until loom gives up on the model).
#[test]
fn slot_is_recycled_at_thread_exit() {
    let probe = || (this_slot().unwrap(), addr(current()), current().serial());
    loom::model(move || {
        assert_eq!(this_slot(), Some(0));
        let first = thread::spawn(probe).join().unwrap();
        assert_eq!(first.0, 1);
        while stats().slots_in_use != 1 {
            thread::yield_now();
        }
        let second = thread::spawn(probe).join().unwrap();
        assert_eq!(second.0, 1, "lowest free slot first");
        assert_eq!(first.1, second.1, "slot 1's descriptor");
        assert_ne!(first.2, second.2, "a recycled descriptor gets a new serial");
    });
}

/// Slot handoff orders the old holder's accesses before the new holder's: a thread writes its
/// slot's element non-atomically and exits; a concurrent thread that reuses the slot writes the
/// same element. Loom's `UnsafeCell` flags a data race unless the allocator's Release (free)
/// and Acquire (alloc) order them.
#[test]
fn slot_handoff_orders_per_slot_data() {
    struct Cell(UnsafeCell<usize>);
    // SAFETY: only the thread holding slot `s` touches element `s` (what the model checks).
    unsafe impl Sync for Cell {}
    impl Default for Cell {
        fn default() -> Self {
            Cell(UnsafeCell::new(0))
        }
    }

    loom::model(|| {
        let data: Arc<PerCpu<Cell>> = Arc::new(PerCpu::new());
        let spawn = |data: Arc<PerCpu<Cell>>, v: usize| {
            thread::spawn(move || {
                let cell = data.this_cpu().unwrap();
                // SAFETY: this thread holds the slot: no other live thread uses this element.
                cell.0.with_mut(|p| unsafe { *p = v });
            })
        };
        let a = spawn(data.clone(), 1);
        let b = spawn(data.clone(), 2);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// Two threads race to allocate the same chunk: both end up with the one published chunk,
/// fully initialized.
#[test]
fn percpu_grow_race() {
    loom::model(|| {
        let p: Arc<PerCpu<AtomicUsize>> = Arc::new(PerCpu::with_init(AtomicUsize::new));
        let p2 = p.clone();
        let t = thread::spawn(move || p2.get(4) as *const AtomicUsize as usize);
        let mine = p.get(5);
        assert_eq!(mine.load(Ordering::Relaxed), 5);
        let theirs = t.join().unwrap();
        assert_eq!(theirs, p.get(4) as *const AtomicUsize as usize);
        assert_eq!(p.get(4).load(Ordering::Relaxed), 4);
        assert_eq!(p.iter().count(), 4, "one chunk of 4 elements, slots 3..7");
    });
}

/// A pointer published through a per-slot element by its owner is seen, fully built, by a
/// reader on another thread (the `get(slot)` path the qspinlock uses to reach a predecessor).
/// The reader finds the element only through `try_get`, with no other synchronisation, and the
/// payload is a loom `UnsafeCell`: loom reports the read if the element's release/acquire is
/// missing (checked: a Relaxed store fails this model).
#[test]
fn percpu_cross_thread_publication() {
    loom::model(|| {
        let p: Arc<PerCpu<AtomicPtr<UnsafeCell<u32>>>> = Arc::new(PerCpu::new());
        // The chunk exists before the writer runs (the reader's case in the qspinlock: the
        // predecessor's node is long allocated), so the element's own release/acquire is the
        // edge under test, not the chunk's publication.
        for s in 0..4 {
            p.get(s);
        }
        let p2 = p.clone();
        let t = thread::spawn(move || {
            // Our element first: finding it may synchronise (slot registration), and that must
            // not order the payload for the reader.
            let mine = p2.this_cpu().unwrap();
            let b = Box::into_raw(Box::new(UnsafeCell::new(0u32)));
            // SAFETY: not yet published: only this thread reaches it.
            unsafe { (*b).with_mut(|v| *v = 7) };
            // Release: the payload is written before the pointer is seen.
            mine.store(b, Ordering::Release);
        });
        let found = |p: &PerCpu<AtomicPtr<UnsafeCell<u32>>>| {
            // Acquire: pairs with the owner's Release store; the payload is then visible.
            (0..4).find_map(|s| {
                p.try_get(s)
                    .map(|e| e.load(Ordering::Acquire))
                    .filter(|b| !b.is_null())
            })
        };
        // Wait for the publication (yielding: loom schedules the writer meanwhile), so that
        // every execution reads the payload before the join could order it.
        let b = loop {
            if let Some(b) = found(&p) {
                break b;
            }
            thread::yield_now();
        };
        // SAFETY: published after it was built; freed below, after the join.
        assert_eq!(unsafe { (*b).with(|v| *v) }, 7);
        t.join().unwrap();
        // SAFETY: the box was leaked by the thread; we free it once.
        drop(unsafe { Box::from_raw(b) });
    });
}

/// Concurrent sharded adds are exact once joined; a concurrent sum sees a value in range.
#[test]
fn percpu_counter_exact() {
    loom::model(|| {
        let c = Arc::new(PerCpuCounter::new());
        let c2 = c.clone();
        let t = thread::spawn(move || {
            c2.this_cpu_add(2);
            c2.this_cpu_add(3);
        });
        c.this_cpu_add(10);
        let mid = c.sum();
        assert!([10, 12, 15].contains(&mid), "sum {mid}");
        t.join().unwrap();
        assert_eq!(c.sum(), 15);
    });
}

/// A private allocator with one slot: two threads race, exactly one wins until it frees.
#[test]
fn small_allocator_race() {
    loom::model(|| {
        let a = Arc::new(SlotAllocator::with_capacity(1));
        let a2 = a.clone();
        let t = thread::spawn(move || {
            let got = a2.alloc();
            if let Some(s) = got {
                a2.free(s);
            }
            got
        });
        let mine = a.alloc();
        if let Some(s) = mine {
            a.free(s);
        }
        let theirs = t.join().unwrap();
        // At least one of the two got slot 0 (the other may have found it held).
        assert!(mine == Some(0) || theirs == Some(0));
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.alloc(), Some(0));
    });
}
