//! Loom models of the races reference counting exists for. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p ksync-refcount --test loom`.
//!
//! The object's memory is modelled with loom `UnsafeCell`s: each thread writes its part before
//! it drops its reference, and the thread that releases the object reads all of them and then
//! "frees" it (a write). Loom reports any of those accesses that is not ordered by the
//! refcount's release/acquire as a data race, so the models fail if the release decrement or the
//! acquire after the final one is missing.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdUsize, Ordering::Relaxed as StdRelaxed};

use ksync_barrier::sync::cell::UnsafeCell;
use ksync_barrier::sync::{thread, Arc as LoomArc};
use ksync_refcount::{report, Arc, Refcount};
use loom::sync::Mutex;

/// An object with one field per thread and a refcount.
struct Obj {
    refs: Refcount,
    a: UnsafeCell<u32>,
    b: UnsafeCell<u32>,
    freed: UnsafeCell<bool>,
}

impl Obj {
    fn new(refs: i32) -> Self {
        Obj {
            refs: Refcount::new(refs),
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
            freed: UnsafeCell::new(false),
        }
    }

    /// The release: read everything, then free.
    fn release(&self) -> (u32, u32) {
        // SAFETY: the count reached zero: every other user's accesses happen before this (what
        // loom checks).
        let seen = unsafe { (self.a.with(|p| *p), self.b.with(|p| *p)) };
        // SAFETY: as above.
        self.freed.with_mut(|p| unsafe { *p = true });
        seen
    }

    fn assert_live(&self) {
        // SAFETY: the caller holds a reference; a free would race with this read.
        assert!(!self.freed.with(|p| unsafe { *p }), "used after free");
    }
}

/// Two threads race the last `dec_and_test`: exactly one gets `true`, and it sees the other's
/// write made before its decrement.
#[test]
fn last_dec_and_test_race() {
    loom::model(|| {
        let obj = LoomArc::new(Obj::new(2));
        let o = obj.clone();
        let t = thread::spawn(move || {
            // SAFETY: this thread's own field, written while it holds a reference.
            o.b.with_mut(|p| unsafe { *p = 2 });
            if o.refs.dec_and_test() {
                Some(o.release())
            } else {
                None
            }
        });
        // SAFETY: as above.
        obj.a.with_mut(|p| unsafe { *p = 1 });
        let here = if obj.refs.dec_and_test() {
            Some(obj.release())
        } else {
            None
        };
        let there = t.join().unwrap();
        match (here, there) {
            (Some(seen), None) | (None, Some(seen)) => assert_eq!(seen, (1, 2)),
            other => panic!("released {other:?}: must be exactly once"),
        }
    });
}

/// The same race through `sub_and_test` of a two-reference count.
#[test]
fn last_sub_and_test_race() {
    loom::model(|| {
        let obj = LoomArc::new(Obj::new(3));
        let o = obj.clone();
        let t = thread::spawn(move || {
            // SAFETY: this thread's own field.
            o.b.with_mut(|p| unsafe { *p = 2 });
            o.refs.sub_and_test(2).then(|| o.release())
        });
        // SAFETY: this thread's own field.
        obj.a.with_mut(|p| unsafe { *p = 1 });
        let here = obj.refs.dec_and_test().then(|| obj.release());
        let there = t.join().unwrap();
        assert!(here.is_some() != there.is_some(), "exactly one release");
        assert_eq!(here.or(there), Some((1, 2)));
    });
}

/// Two threads drop the last two clones of a `ksync_refcount::Arc`: the value is dropped once,
/// by a thread that sees both threads' writes.
#[test]
fn arc_last_drop_race() {
    struct Payload {
        a: UnsafeCell<u32>,
        b: UnsafeCell<u32>,
        drops: LoomArc<StdUsize>,
    }
    impl Drop for Payload {
        fn drop(&mut self) {
            // SAFETY: the last reference is gone: loom checks the other thread's write is
            // ordered before this.
            let seen = unsafe { (self.a.with(|p| *p), self.b.with(|p| *p)) };
            assert_eq!(seen, (1, 2));
            self.drops.fetch_add(1, StdRelaxed);
        }
    }

    loom::model(|| {
        let drops = LoomArc::new(StdUsize::new(0));
        let x = Arc::new(Payload {
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
            drops: drops.clone(),
        });
        let y = x.clone();
        let t = thread::spawn(move || {
            // SAFETY: only this thread writes `b`.
            y.b.with_mut(|p| unsafe { *p = 2 });
            drop(y);
        });
        // SAFETY: only this thread writes `a`.
        x.a.with_mut(|p| unsafe { *p = 1 });
        drop(x);
        t.join().unwrap();
        assert_eq!(drops.load(StdRelaxed), 1);
    });
}

/// `inc_not_zero` (a lookup) races the final put of the owner: either the lookup gets in first
/// (and the object lives until the lookup's own put), or it fails; the object is released
/// exactly once, and a successful lookup never sees it freed.
#[test]
fn inc_not_zero_races_the_final_put() {
    loom::model(|| {
        let obj = LoomArc::new(Obj::new(1));
        let o = obj.clone();
        let lookup = thread::spawn(move || {
            if o.refs.inc_not_zero() {
                o.assert_live();
                // SAFETY: this thread's own field, written under its reference.
                o.b.with_mut(|p| unsafe { *p = 2 });
                (true, o.refs.dec_and_test().then(|| o.release()))
            } else {
                (false, None)
            }
        });
        // SAFETY: the owner's field.
        obj.a.with_mut(|p| unsafe { *p = 1 });
        let here = obj.refs.dec_and_test().then(|| obj.release());
        let (found, there) = lookup.join().unwrap();
        assert!(here.is_some() != there.is_some(), "exactly one release");
        let seen = here.or(there).unwrap();
        assert_eq!(seen, (1, if found { 2 } else { 0 }));
        assert_eq!(obj.refs.read(), 0);
    });
}

/// Memory reuse (`SLAB_TYPESAFE_BY_RCU`): a slot at count 0 is initialised for a new object
/// and made live with `set_release`; a lookup whose `inc_not_zero_acquire` succeeds sees the
/// initialisation.
#[test]
fn set_release_pairs_with_inc_not_zero_acquire() {
    loom::model(|| {
        let slot = LoomArc::new(Obj::new(0));
        let s = slot.clone();
        let init = thread::spawn(move || {
            // SAFETY: the slot is dead (count 0): nobody may touch the object yet.
            s.a.with_mut(|p| unsafe { *p = 7 });
            s.refs.set_release(1);
        });
        if slot.refs.inc_not_zero_acquire() {
            // SAFETY: the acquire ordered the initialisation before this read.
            assert_eq!(slot.a.with(|p| unsafe { *p }), 7);
        }
        init.join().unwrap();
    });
}

/// `dec_and_lock`: the 1 -> 0 step happens only under the table lock, so a lookup under the
/// same lock can take a reference with a plain `inc` (never from 0), and the releaser
/// unpublishes the object before anybody can find it dead.
#[test]
fn dec_and_lock_excludes_lookups_under_the_lock() {
    loom::model(|| {
        let obj = LoomArc::new(Obj::new(1));
        // The table: whether the object is published.
        let table = LoomArc::new(Mutex::new(true));

        let (o, tab) = (obj.clone(), table.clone());
        let lookup = thread::spawn(move || {
            let found = {
                let published = tab.lock().unwrap();
                if *published {
                    let ((), events) = report::capture(|| o.refs.inc());
                    assert!(events.is_empty(), "inc from 0 under the lock: {events:?}");
                }
                *published
            };
            if !found {
                return None;
            }
            o.assert_live();
            // SAFETY: this thread's own field, under its reference.
            o.b.with_mut(|p| unsafe { *p = 2 });
            o.refs
                .dec_and_lock_with(|| tab.lock().unwrap())
                .map(|mut published| {
                    *published = false;
                    drop(published);
                    o.release()
                })
        });

        // SAFETY: the owner's field.
        obj.a.with_mut(|p| unsafe { *p = 1 });
        let here = obj
            .refs
            .dec_and_lock_with(|| table.lock().unwrap())
            .map(|mut published| {
                *published = false;
                drop(published);
                obj.release()
            });
        let there = lookup.join().unwrap();
        assert!(here.is_some() != there.is_some(), "exactly one release");
        assert!(!*table.lock().unwrap(), "unpublished");
        assert_eq!(obj.refs.read(), 0);
    });
}

/// `Arc::get_unless_zero` from a lookup table whose entries unpublish themselves under the
/// table lock in `Drop`: the lookup (under the lock) either upgrades a live object or fails;
/// the value is dropped exactly once and the memory is never touched after the free.
#[test]
fn arc_get_unless_zero_lookup_table() {
    struct Entry {
        table: LoomArc<Mutex<usize>>,
        data: UnsafeCell<u32>,
        drops: LoomArc<StdUsize>,
    }
    impl Drop for Entry {
        fn drop(&mut self) {
            let mut slot = self.table.lock().unwrap();
            assert_eq!(*slot, self as *const Entry as usize, "still published");
            *slot = 0;
            drop(slot);
            self.drops.fetch_add(1, StdRelaxed);
        }
    }

    loom::model(|| {
        let table = LoomArc::new(Mutex::new(0usize));
        let drops = LoomArc::new(StdUsize::new(0));
        let owner = Arc::new(Entry {
            table: table.clone(),
            data: UnsafeCell::new(5),
            drops: drops.clone(),
        });
        *table.lock().unwrap() = Arc::as_ptr(&owner) as usize;

        let tab = table.clone();
        let lookup = thread::spawn(move || {
            let hit = {
                let slot = tab.lock().unwrap();
                if *slot == 0 {
                    None
                } else {
                    // SAFETY: the address came from `as_ptr`; the entry unpublishes itself
                    // under this lock before its memory is freed, and the lock is held.
                    unsafe { Arc::get_unless_zero(*slot as *const Entry) }
                }
            };
            // Dropped outside the lock: it may be the last reference.
            hit.map(|e| {
                // SAFETY: a live reference; nobody writes `data`.
                e.data.with(|p| unsafe { *p })
            })
        });
        drop(owner);
        let seen = lookup.join().unwrap();
        assert!(matches!(seen, None | Some(5)));
        assert_eq!(drops.load(StdRelaxed), 1);
        assert_eq!(*table.lock().unwrap(), 0);
    });
}

/// `Arc::try_unwrap` and `Arc::get_mut` succeed only on the last reference, and then see every
/// write made through the references dropped before (a release decrement, then the acquire).
#[test]
fn arc_try_unwrap_and_get_mut_see_earlier_drops() {
    struct Payload {
        a: UnsafeCell<u32>,
    }

    loom::model(|| {
        let mut x = Arc::new(Payload {
            a: UnsafeCell::new(0),
        });
        let y = x.clone();
        let t = thread::spawn(move || {
            // SAFETY: the only writer while two references exist.
            y.a.with_mut(|p| unsafe { *p = 1 });
            drop(y);
        });
        if let Some(p) = Arc::get_mut(&mut x) {
            // SAFETY: `get_mut` says this is the only reference: the write above happened
            // before (loom checks).
            assert_eq!(p.a.with(|v| unsafe { *v }), 1);
        }
        match Arc::try_unwrap(x) {
            // SAFETY: as above.
            Ok(p) => assert_eq!(p.a.with(|v| unsafe { *v }), 1),
            Err(x) => drop(x),
        }
        t.join().unwrap();
    });
}

/// Three references dropped by three threads: exactly one `dec_and_test` is `true`, and that
/// thread sees all three threads' writes (the release sequence through the middle decrement
/// carries the first thread's write too).
#[test]
fn three_way_last_put() {
    struct Three {
        refs: Refcount,
        cells: [UnsafeCell<u32>; 3],
    }

    loom::model(|| {
        let obj = LoomArc::new(Three {
            refs: Refcount::new(3),
            cells: [UnsafeCell::new(0), UnsafeCell::new(0), UnsafeCell::new(0)],
        });
        let put = |o: &Three, me: usize| -> bool {
            // SAFETY: each thread writes only its own cell, under its reference.
            o.cells[me].with_mut(|p| unsafe { *p = me as u32 + 1 });
            if o.refs.dec_and_test() {
                for (i, c) in o.cells.iter().enumerate() {
                    // SAFETY: the last reference: every other write happened before (loom
                    // checks).
                    assert_eq!(c.with(|p| unsafe { *p }), i as u32 + 1);
                }
                true
            } else {
                false
            }
        };
        let handles: Vec<_> = (1..3)
            .map(|me| {
                let o = obj.clone();
                thread::spawn(move || put(&o, me))
            })
            .collect();
        let mut released = usize::from(put(&obj, 0));
        for h in handles {
            released += usize::from(h.join().unwrap());
        }
        assert_eq!(released, 1);
    });
}
