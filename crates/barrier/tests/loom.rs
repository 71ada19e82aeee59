//! Loom models of the barrier pairings. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p ksync-barrier --test loom`.
#![cfg(loom)]

use std::sync::atomic::{AtomicBool as StdBool, Ordering::Relaxed as StdRelaxed};

use ksync_barrier::sync::atomic::{AtomicPtr, AtomicU32};
use ksync_barrier::sync::cell::UnsafeCell;
use ksync_barrier::sync::{thread, Arc};
use ksync_barrier::{
    read_once, smp_cond_load_acquire, smp_load_acquire, smp_mb, smp_rmb, smp_store_mb,
    smp_store_release, smp_wmb, write_once,
};

/// MP with release/acquire: a reader that sees the flag sees the payload.
#[test]
fn mp_release_acquire() {
    loom::model(|| {
        let v = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let w = v.clone();
        let t = thread::spawn(move || {
            write_once(&w.0, 42);
            smp_store_release(&w.1, 1);
        });
        if smp_load_acquire(&v.1) == 1 {
            assert_eq!(read_once(&v.0), 42);
        }
        t.join().unwrap();
    });
}

/// MP with smp_wmb/smp_rmb between plain accesses.
#[test]
fn mp_wmb_rmb() {
    loom::model(|| {
        let v = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let w = v.clone();
        let t = thread::spawn(move || {
            write_once(&w.0, 42);
            smp_wmb();
            write_once(&w.1, 1);
        });
        if read_once(&v.1) == 1 {
            smp_rmb();
            assert_eq!(read_once(&v.0), 42);
        }
        t.join().unwrap();
    });
}

/// smp_cond_load_acquire waits for a release and then sees what came before it.
#[test]
fn cond_load_acquire_pairs_with_release() {
    loom::model(|| {
        let v = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let w = v.clone();
        let t = thread::spawn(move || {
            write_once(&w.0, 7);
            smp_store_release(&w.1, 1);
        });
        let seen = smp_cond_load_acquire(&v.1, |x| x != 0);
        assert_eq!(seen, 1);
        assert_eq!(read_once(&v.0), 7);
        t.join().unwrap();
    });
}

/// A pointer published with release is safe to dereference after an acquire load. The payload
/// is a loom `UnsafeCell`, written before the publication and read after it without any other
/// synchronisation (no join in between), so loom checks the release/acquire edge itself.
fn publish_pointer(publish: fn(&AtomicPtr<UnsafeCell<u32>>, *mut UnsafeCell<u32>)) {
    loom::model(move || {
        let slot = Arc::new(AtomicPtr::<UnsafeCell<u32>>::new(std::ptr::null_mut()));
        let s2 = slot.clone();
        let t = thread::spawn(move || {
            let b = Box::into_raw(Box::new(UnsafeCell::new(0u32)));
            // SAFETY: not yet published: this thread is the only one that can reach it.
            unsafe { (*b).with_mut(|v| *v = 5) };
            publish(&s2, b);
        });
        let p = smp_load_acquire(&*slot);
        if !p.is_null() {
            // SAFETY: published, live until the writer's Box is freed below, after the join;
            // loom reports the read if the publication does not order the write before it.
            assert_eq!(unsafe { (*p).with(|v| *v) }, 5);
        }
        t.join().unwrap();
        let p = smp_load_acquire(&*slot);
        // SAFETY: the writer published a live Box and nobody else frees it.
        unsafe { drop(Box::from_raw(p)) };
    });
}

#[test]
fn pointer_publication() {
    publish_pointer(|s, p| smp_store_release(s, p));
}

/// Control: the same publication with `WRITE_ONCE` (relaxed) lets the reader see the pointer
/// before the payload; loom must report it, or the model above proves nothing.
#[test]
#[should_panic]
fn pointer_publication_without_release_is_caught() {
    publish_pointer(|s, p| write_once(s, p));
}

/// SB with smp_mb on both sides: at least one thread sees the other's store.
#[test]
fn sb_smp_mb_forbids_both_zero() {
    loom::model(|| {
        let v = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let w = v.clone();
        let t = thread::spawn(move || {
            write_once(&w.0, 1);
            smp_mb();
            read_once(&w.1)
        });
        write_once(&v.1, 1);
        smp_mb();
        let r0 = read_once(&v.0);
        let r1 = t.join().unwrap();
        assert!(
            r0 == 1 || r1 == 1,
            "SB+mb: both loads missed the other store"
        );
    });
}

/// smp_store_mb is the waiter half of a sleep handshake: store, full barrier, re-check.
#[test]
fn sb_smp_store_mb_forbids_both_zero() {
    loom::model(|| {
        let v = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let w = v.clone();
        let t = thread::spawn(move || {
            smp_store_mb(&w.0, 1);
            read_once(&w.1)
        });
        smp_store_mb(&v.1, 1);
        let r0 = read_once(&v.0);
        let r1 = t.join().unwrap();
        assert!(
            r0 == 1 || r1 == 1,
            "SB+store_mb: both loads missed the other store"
        );
    });
}

/// The model is sensitive: without smp_mb, loom finds the store-buffering outcome.
#[test]
fn sb_without_barrier_is_found_by_the_model() {
    static SEEN: StdBool = StdBool::new(false);
    loom::model(|| {
        let v = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let w = v.clone();
        let t = thread::spawn(move || {
            write_once(&w.0, 1);
            read_once(&w.1)
        });
        write_once(&v.1, 1);
        let r0 = read_once(&v.0);
        let r1 = t.join().unwrap();
        if r0 == 0 && r1 == 0 {
            SEEN.store(true, StdRelaxed);
        }
    });
    assert!(
        SEEN.load(StdRelaxed),
        "loom never produced r0 == r1 == 0 for plain SB"
    );
}
