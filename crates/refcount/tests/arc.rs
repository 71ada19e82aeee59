//! `ksync_refcount::Arc`: the std-like API, and concurrency: many threads cloning and dropping
//! one value free it exactly once, and never while a clone is alive; the lookup-table upgrade.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Mutex;
use std::thread;

use ksync_refcount::Arc;

/// Counts drops into a shared counter.
struct Counted<'a> {
    drops: &'a AtomicUsize,
    value: u64,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
    }
}

#[test]
fn new_clone_drop() {
    let drops = AtomicUsize::new(0);
    let a = Arc::new(Counted {
        drops: &drops,
        value: 7,
    });
    assert_eq!(Arc::strong_count(&a), 1);
    let b = a.clone();
    let c = Arc::clone(&b);
    assert_eq!(Arc::strong_count(&a), 3);
    assert!(Arc::ptr_eq(&a, &c));
    assert_eq!(c.value, 7);
    drop(a);
    drop(b);
    assert_eq!(drops.load(Relaxed), 0);
    assert_eq!(Arc::strong_count(&c), 1);
    drop(c);
    assert_eq!(drops.load(Relaxed), 1);
}

#[test]
fn one_word() {
    assert_eq!(size_of::<Arc<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Option<Arc<u64>>>(), size_of::<usize>());
}

#[test]
fn raw_round_trip() {
    let a = Arc::new(String::from("x"));
    let p = Arc::as_ptr(&a);
    // SAFETY: `a` keeps the value alive.
    assert_eq!(unsafe { &*p }, "x");
    let raw = Arc::into_raw(a.clone());
    assert_eq!(raw, p);
    assert_eq!(Arc::strong_count(&a), 2);
    // SAFETY: `raw` came from `into_raw` and keeps a reference.
    unsafe { Arc::increment_strong_count(raw) };
    assert_eq!(Arc::strong_count(&a), 3);
    // SAFETY: matches the increment above.
    unsafe { Arc::decrement_strong_count(raw) };
    // SAFETY: matches the `into_raw` above.
    let b = unsafe { Arc::from_raw(raw) };
    assert!(Arc::ptr_eq(&a, &b));
    drop(b);
    assert_eq!(Arc::strong_count(&a), 1);
}

#[test]
fn raw_round_trip_with_an_aligned_value() {
    #[repr(align(64))]
    struct Big(u8);
    let a = Arc::new(Big(9));
    let raw = Arc::into_raw(a);
    assert_eq!(raw as usize % 64, 0);
    // SAFETY: from `into_raw`.
    let a = unsafe { Arc::from_raw(raw) };
    assert_eq!(a.0, 9);
}

#[test]
fn get_mut_make_mut_try_unwrap_into_inner() {
    let mut a = Arc::new(5);
    *Arc::get_mut(&mut a).unwrap() += 1;
    let b = a.clone();
    assert!(Arc::get_mut(&mut a).is_none());
    *Arc::make_mut(&mut a) += 10; // clones: b keeps 6
    assert_eq!((*a, *b), (16, 6));
    assert!(!Arc::ptr_eq(&a, &b));
    *Arc::make_mut(&mut a) += 1; // unique now: in place
    assert_eq!(*a, 17);

    let c = b.clone();
    let b = Arc::try_unwrap(b).unwrap_err();
    drop(c);
    assert_eq!(Arc::try_unwrap(b), Ok(6));

    let x = Arc::new(String::from("last"));
    let y = x.clone();
    assert_eq!(Arc::into_inner(x), None);
    assert_eq!(Arc::into_inner(y).as_deref(), Some("last"));

    let p = Arc::new(vec![1]);
    let q = p.clone();
    assert_eq!(Arc::unwrap_or_clone(p), [1]);
    assert_eq!(Arc::unwrap_or_clone(q), [1]);
}

#[test]
fn traits_like_std() {
    let a = Arc::new(3);
    let b = Arc::new(3);
    assert_eq!(a, b);
    assert!(!Arc::ptr_eq(&a, &b));
    assert!(Arc::new(2) < a);
    assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal);
    let hash = |v: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        v(&mut h);
        h.finish()
    };
    assert_eq!(hash(&|h| a.hash(h)), hash(&|h| 3.hash(h)));
    assert_eq!(format!("{a:?} {a}"), "3 3");
    assert_eq!(format!("{a:p}"), format!("{:p}", Arc::as_ptr(&a)));
    assert_eq!(*Arc::<u32>::default(), 0);
    assert_eq!(*Arc::from(4), 4);
    let r: &i32 = a.as_ref();
    assert_eq!(*r, 3);
    let pinned = Arc::pin(String::from("p"));
    assert_eq!(pinned.as_str(), "p");
}

/// Many threads clone and drop one value; the main thread drops its reference early, so the
/// last reference is a worker's. Each worker checks, while it holds a clone, that the value has
/// not been dropped (an early free would show up as `drops == 1` with a clone still alive).
#[test]
fn many_threads_clone_and_drop_free_exactly_once_never_early() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let drops = AtomicUsize::new(0);
    let go = AtomicBool::new(false);
    let a = Arc::new(Counted {
        drops: &drops,
        value: 42,
    });
    thread::scope(|s| {
        for t in 0..THREADS {
            let mine = a.clone();
            let (drops, go) = (&drops, &go);
            s.spawn(move || {
                while !go.load(Acquire) {
                    std::hint::spin_loop();
                }
                let mut held = Vec::with_capacity(8);
                for i in 0..ROUNDS {
                    held.push(mine.clone());
                    if held.len() == 1 + (i + t) % 8 {
                        held.clear();
                    }
                    assert_eq!(mine.value, 42);
                    assert_eq!(drops.load(Relaxed), 0, "freed while referenced");
                }
                drop(held);
                drop(mine);
            });
        }
        drop(a);
        go.store(true, Release);
    });
    assert_eq!(drops.load(Relaxed), 1, "freed exactly once");
}

/// Arcs passed between threads through a channel: drops happen on other threads than clones.
#[test]
fn clones_sent_across_threads() {
    const N: usize = 10_000;
    let drops = AtomicUsize::new(0);
    let a = Arc::new(Counted {
        drops: &drops,
        value: 1,
    });
    let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Counted<'_>>>(64);
    thread::scope(|s| {
        s.spawn(move || {
            for c in rx {
                assert_eq!(c.value, 1);
            }
        });
        for _ in 0..N {
            tx.send(a.clone()).unwrap();
        }
        drop(tx);
    });
    assert_eq!(drops.load(Relaxed), 0);
    assert_eq!(Arc::strong_count(&a), 1);
    drop(a);
    assert_eq!(drops.load(Relaxed), 1);
}

/// The lookup-table pattern: the table holds addresses, not references; an object removes
/// itself under the table lock in its `Drop`, and lookups upgrade under the same lock with
/// `get_unless_zero`. Lookups race with the final drops and must never revive a dying object.
#[test]
fn lookup_table_upgrade_races_the_final_drop() {
    struct Entry {
        id: usize,
        table: &'static Mutex<Vec<(usize, usize)>>,
        dropped: &'static AtomicUsize,
    }
    impl Drop for Entry {
        fn drop(&mut self) {
            let me = self as *const Entry as usize;
            let mut t = self.table.lock().unwrap();
            let before = t.len();
            t.retain(|&(_, p)| p != me);
            assert_eq!(t.len() + 1, before, "each entry unpublishes itself once");
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    const OBJECTS: usize = 200;
    let table: &'static Mutex<Vec<(usize, usize)>> = Box::leak(Box::new(Mutex::new(Vec::new())));
    let dropped: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let found = AtomicUsize::new(0);
    let done = AtomicBool::new(false);

    let owners: Vec<Arc<Entry>> = (0..OBJECTS)
        .map(|id| {
            let e = Arc::new(Entry { id, table, dropped });
            table.lock().unwrap().push((id, Arc::as_ptr(&e) as usize));
            e
        })
        .collect();

    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !done.load(Acquire) {
                    for id in 0..OBJECTS {
                        let hit = {
                            let t = table.lock().unwrap();
                            t.iter().find(|&&(i, _)| i == id).and_then(|&(_, p)| {
                                // SAFETY: `p` came from `as_ptr`; entries are removed under
                                // this lock before their memory is freed, and it is held.
                                unsafe { Arc::get_unless_zero(p as *const Entry) }
                            })
                        };
                        if let Some(e) = hit {
                            assert_eq!(e.id, id);
                            found.fetch_add(1, Relaxed);
                        } // dropped outside the lock: may be the last reference
                    }
                }
            });
        }
        for e in owners {
            drop(e);
        }
        done.store(true, Release);
    });
    assert_eq!(dropped.load(Relaxed), OBJECTS);
    assert!(table.lock().unwrap().is_empty());
}
