//! `Kref`: init, get, put with a release callback, put under a lock, get_unless_zero.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use ksync_refcount::report;
use ksync_refcount::{Kref, Saturation, REFCOUNT_SATURATED};
use ksync_spinlock::SpinLock;

#[test]
fn init_get_put() {
    let k = Kref::new();
    assert_eq!(k.read(), 1);
    k.get();
    k.get();
    assert_eq!(k.read(), 3);
    let released = AtomicUsize::new(0);
    let release = |kref: &Kref| {
        assert_eq!(kref.read(), 0, "release runs at zero");
        released.fetch_add(1, Relaxed);
    };
    assert!(!k.put(release));
    assert!(!k.put(release));
    assert_eq!(released.load(Relaxed), 0);
    assert!(k.put(release));
    assert_eq!(released.load(Relaxed), 1);
    assert!(
        !k.get_unless_zero(),
        "no lookup may revive a released object"
    );
    assert_eq!(k.read(), 0);

    // Reinitialise for reuse.
    k.init();
    assert_eq!(k.read(), 1);
    assert!(k.get_unless_zero());
    assert_eq!(k.read(), 2);
    assert_eq!(format!("{k:?}"), "Kref(Refcount(2))");
    assert_eq!(Kref::default().read(), 1);
}

#[test]
fn get_on_a_released_kref_saturates() {
    let k = Kref::new();
    assert!(k.put(|_| {}));
    let ((), events) = report::capture(|| k.get());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, Saturation::AddUaf);
    assert_eq!(k.read(), REFCOUNT_SATURATED as u32);
    // A saturated kref is never released.
    let (released, events) = report::capture(|| k.put(|_| panic!("released a saturated kref")));
    assert!(!released);
    assert_eq!(events[0].kind, Saturation::SubUaf);
}

/// `kref_put_lock` / `kref_put_mutex`: the release runs with the lock held, and only for the
/// last reference.
#[test]
fn put_lock_and_put_mutex() {
    let table = SpinLock::new(vec![1, 2]);
    let k = Kref::new();
    k.get();
    assert!(!k.put_lock(&table, |_, _| panic!("not the last reference")));
    assert!(!table.is_locked());
    assert!(k.put_lock(&table, |kref, mut guard| {
        assert_eq!(kref.read(), 0);
        assert!(table.is_locked(), "release runs with the lock held");
        guard.retain(|&x| x != 1);
        drop(guard);
        assert!(!table.is_locked());
    }));
    assert_eq!(*table.lock(), [2]);

    let registry = parking_lot::Mutex::new(0u32);
    let k = Kref::new();
    assert!(k.put_mutex(&registry, |_, mut guard| *guard += 1));
    assert_eq!(*registry.lock(), 1);
    assert!(!registry.is_locked());
}

/// The kref pattern with its object in memory managed by hand: the release frees the object
/// that contains the kref.
#[test]
fn release_may_free_the_containing_object() {
    struct Obj {
        kref: Kref,
        payload: String,
    }
    static FREED: AtomicUsize = AtomicUsize::new(0);

    let obj: *mut Obj = Box::into_raw(Box::new(Obj {
        kref: Kref::new(),
        payload: "data".to_owned(),
    }));
    // SAFETY: `obj` is live until the release below frees it; the release is the last use.
    let kref = unsafe { &(*obj).kref };
    kref.get();
    let release = |_: &Kref| {
        // SAFETY: the count reached zero: nobody else uses `obj`; it came from `Box::into_raw`.
        let b = unsafe { Box::from_raw(obj) };
        assert_eq!(b.payload, "data");
        FREED.fetch_add(1, Relaxed);
    };
    assert!(!kref.put(release));
    assert!(kref.put(release));
    assert_eq!(FREED.load(Relaxed), 1);
}

#[test]
fn concurrent_gets_and_puts_release_exactly_once() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 10_000;
    let k = Kref::new();
    let released = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            k.get(); // each thread's own reference
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    k.get();
                    assert!(!k.put(|_| panic!("released while referenced")));
                }
                k.put(|_| {
                    released.fetch_add(1, Relaxed);
                });
            });
        }
        k.put(|_| {
            released.fetch_add(1, Relaxed);
        });
    });
    assert_eq!(released.load(Relaxed), 1);
    assert_eq!(k.read(), 0);
}
