//! Loom models of ksync-atomic's orderings and conditional operations (portable backend: loom
//! cannot see asm). Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p ksync-atomic --test loom`.
//!
//! Data handed from thread to thread lives in loom `UnsafeCell`s, so a missing ordering shows up
//! as a loom data-race panic, not just as a wrong value. The `#[should_panic]` models are the
//! controls: the same shape with a weaker ordering, which loom must catch.
//!
//! Not modelled here: a plain `set` racing an RMW on the same word (the kernel's "`set(v, 0)`
//! against `add_unless(v, 1, 0)` never leaves 2"). loom 0.7 lets a store land between the read
//! and the write of a concurrent RMW (tokio-rs/loom#254), so it reports executions C11 forbids;
//! that property is tested on real threads in `concurrency.rs` instead.
#![cfg(loom)]

use ksync_atomic::{Atomic, Atomic64, AtomicLong};
use ksync_barrier::sync::cell::UnsafeCell;
use ksync_barrier::sync::{thread, Arc};
use ksync_barrier::{smp_mb__after_atomic, smp_rmb};

/// A refcounted object: a holder takes a reference with `inc_not_zero` only while the count is
/// live, reads the object, and drops with `dec_and_test`; whoever drops the last reference
/// frees (writes) the object. The full ordering of both ops makes every read happen before the
/// free, and `inc_not_zero` never revives a freed object.
#[test]
fn inc_not_zero_and_dec_and_test_refcount() {
    loom::model(|| {
        let obj = Arc::new((AtomicLong::new(1), UnsafeCell::new(7u32)));
        let o2 = obj.clone();
        let t = thread::spawn(move || {
            if o2.0.inc_not_zero() {
                // SAFETY: we hold a reference: the object is live; shared reads only.
                let v = o2.1.with(|p| unsafe { *p });
                assert_eq!(v, 7, "read a freed object");
                if o2.0.dec_and_test() {
                    // SAFETY: last reference: nobody else reads.
                    o2.1.with_mut(|p| unsafe { *p = 0 });
                }
            }
        });
        if obj.0.dec_and_test() {
            // SAFETY: last reference: nobody else reads.
            obj.1.with_mut(|p| unsafe { *p = 0 });
        }
        t.join().unwrap();
        assert_eq!(obj.0.read(), 0);
    });
}

/// `dec_if_positive` as a semaphore down: the token posted with a release is taken by exactly
/// one taker, which then sees the poster's data (fully ordered on success).
#[test]
fn dec_if_positive_takes_one_token() {
    loom::model(|| {
        let s = Arc::new((Atomic::new(0), UnsafeCell::new(0u32), Atomic::new(0)));
        let s2 = s.clone();
        let poster = thread::spawn(move || {
            // SAFETY: nobody reads the cell before the token is posted.
            s2.1.with_mut(|p| unsafe { *p = 42 });
            s2.0.inc_return_release();
        });
        let s3 = s.clone();
        let taker = thread::spawn(move || {
            if s3.0.dec_if_positive() >= 0 {
                s3.2.inc();
                // SAFETY: the token orders us after the poster's write.
                assert_eq!(s3.1.with(|p| unsafe { *p }), 42);
            }
        });
        let mine = s.0.dec_if_positive() >= 0;
        if mine {
            s.2.inc();
            // SAFETY: as above.
            assert_eq!(s.1.with(|p| unsafe { *p }), 42);
        }
        poster.join().unwrap();
        taker.join().unwrap();
        // One token, at most one winner; the count never went negative.
        assert!(s.2.read() <= 1);
        assert_eq!(s.0.read() + s.2.read(), 1);
    });
}

/// Message passing with a release RMW and an acquire read.
#[test]
fn fetch_add_release_pairs_with_read_acquire() {
    loom::model(|| {
        let s = Arc::new((Atomic64::new(0), UnsafeCell::new(0u64)));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            // SAFETY: the reader only reads after seeing the flag.
            s2.1.with_mut(|p| unsafe { *p = 5 });
            s2.0.fetch_add_release(1);
        });
        if s.0.read_acquire() == 1 {
            // SAFETY: the acquire read of the release write orders this read.
            assert_eq!(s.1.with(|p| unsafe { *p }), 5);
        }
        t.join().unwrap();
    });
}

/// Control: the same shape with a relaxed RMW must be caught as a data race on the cell.
#[test]
#[should_panic(expected = "Causality violation")]
fn control_fetch_add_relaxed_does_not_publish() {
    loom::model(|| {
        let s = Arc::new((Atomic64::new(0), UnsafeCell::new(0u64)));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            // SAFETY: (deliberately wrong: nothing orders the reader after this write)
            s2.1.with_mut(|p| unsafe { *p = 5 });
            s2.0.fetch_add_relaxed(1);
        });
        if s.0.read_acquire() == 1 {
            // SAFETY: (deliberately wrong, see above)
            assert_eq!(s.1.with(|p| unsafe { *p }), 5);
        }
        t.join().unwrap();
    });
}

/// A lock made of `xchg_acquire` / `set_release`, and one of `cmpxchg_acquire` /
/// `xchg_release`: two threads increment a plain counter under it.
#[test]
fn xchg_and_cmpxchg_acquire_release_locks() {
    loom::model(|| {
        let s = Arc::new((Atomic::new(0), UnsafeCell::new(0u32)));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            while s2.0.xchg_acquire(1) != 0 {
                thread::yield_now();
            }
            // SAFETY: the lock is held.
            s2.1.with_mut(|p| unsafe { *p += 1 });
            s2.0.set_release(0);
        });
        while s.0.cmpxchg_acquire(0, 1) != 0 {
            thread::yield_now();
        }
        // SAFETY: the lock is held.
        s.1.with_mut(|p| unsafe { *p += 1 });
        s.0.xchg_release(0);
        t.join().unwrap();
        // SAFETY: both threads are done.
        assert_eq!(s.1.with(|p| unsafe { *p }), 2);
    });
}

/// The kernel's bit lock on the lock word: `test_and_set_bit_lock` (acquire on success) and
/// `clear_bit_unlock` (release), with another bit of the word flipped concurrently.
#[test]
fn bit_lock_on_lock_word() {
    loom::model(|| {
        let s = Arc::new((Atomic::new(0), UnsafeCell::new(0u32)));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            while s2.0.test_and_set_bit_lock(0) {
                thread::yield_now();
            }
            // SAFETY: the bit lock is held.
            s2.1.with_mut(|p| unsafe { *p += 1 });
            s2.0.clear_bit_unlock(0);
        });
        s.0.change_bit(9);
        while s.0.test_and_set_bit_lock(0) {
            thread::yield_now();
        }
        // SAFETY: the bit lock is held.
        s.1.with_mut(|p| unsafe { *p += 1 });
        s.0.clear_bit_unlock(0);
        t.join().unwrap();
        // SAFETY: both threads are done.
        assert_eq!(s.1.with(|p| unsafe { *p }), 2);
        assert_eq!(s.0.read(), 1 << 9);
    });
}

/// The qspinlock's unlock and spin: `store_byte_release(0, 0)` on the locked byte, and
/// `cond_read_acquire` waiting for it, while another thread publishes a tail with `xchg_half`.
#[test]
fn store_byte_release_pairs_with_cond_read_acquire() {
    loom::model(|| {
        let s = Arc::new((Atomic::new(1), UnsafeCell::new(0u32)));
        let s2 = s.clone();
        let owner = thread::spawn(move || {
            // SAFETY: we own the lock (locked byte = 1).
            s2.1.with_mut(|p| unsafe { *p = 9 });
            s2.0.store_byte_release(0, 0);
        });
        let s3 = s.clone();
        let queuer = thread::spawn(move || {
            let prev = s3.0.xchg_half_relaxed(1, 0x0002);
            assert_eq!(prev, 0);
        });
        let v = s.0.cond_read_acquire(|v| v & 0xff == 0);
        assert_eq!(v & 0xff, 0);
        // SAFETY: the acquire read of the released byte orders this after the owner's write.
        assert_eq!(s.1.with(|p| unsafe { *p }), 9);
        owner.join().unwrap();
        queuer.join().unwrap();
        assert_eq!(s.0.read(), 0x0002_0000);
    });
}

/// `cmpxchg_half_acquire` and `cmpxchg_byte` fail without writing when the field differs.
#[test]
fn subword_cmpxchg_fail_without_writing() {
    loom::model(|| {
        let v = Arc::new(Atomic::new(0x0001_0000));
        let w = v.clone();
        let t = thread::spawn(move || {
            w.store_half_relaxed(0, 0x0101);
        });
        let found = v.cmpxchg_byte(1, 0, 0xff);
        let found_half = v.cmpxchg_half_acquire(1, 0x0002, 0x0003);
        assert_eq!(found_half, 0x0001); // never matches: half 1 stays 1
        t.join().unwrap();
        let w = v.read() as u32;
        assert_eq!(w >> 16, 0x0001);
        if found == 0 {
            // The byte CAS won before the store; the store then overwrote both bytes.
            assert_eq!(w & 0xffff, 0x0101);
        } else {
            assert_eq!(found, 0x01);
            assert_eq!(w & 0xffff, 0x0101);
        }
    });
}

/// Fully ordered RMWs are `smp_mb()` on both sides: the store-buffering outcome (both reads see
/// 0) is forbidden even though the stores and loads around them are relaxed. A Rust `SeqCst`
/// RMW alone would allow it.
#[test]
fn fully_ordered_rmw_forbids_store_buffering() {
    loom::model(|| {
        let s = Arc::new((
            Atomic::new(0),
            Atomic::new(0),
            Atomic::new(0),
            Atomic::new(0),
        ));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.0.set(1);
            s2.2.fetch_add(1);
            s2.1.read()
        });
        s.1.set(1);
        s.3.xchg(1);
        let r0 = s.0.read();
        let r1 = t.join().unwrap();
        assert!(
            r0 == 1 || r1 == 1,
            "store buffering through a fully ordered RMW"
        );
    });
}

/// Control: with `_relaxed` RMWs the store-buffering outcome is allowed, and loom finds it.
#[test]
#[should_panic(expected = "store buffering")]
fn control_relaxed_rmw_allows_store_buffering() {
    loom::model(|| {
        let s = Arc::new((
            Atomic::new(0),
            Atomic::new(0),
            Atomic::new(0),
            Atomic::new(0),
        ));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.0.set(1);
            s2.2.fetch_add_relaxed(1);
            s2.1.read()
        });
        s.1.set(1);
        s.3.xchg_relaxed(1);
        let r0 = s.0.read();
        let r1 = t.join().unwrap();
        assert!(r0 == 1 || r1 == 1, "store buffering through a relaxed RMW");
    });
}

/// The example of `atomic_t.txt` (kernel-design.md 5.2): `atomic_inc(y);
/// smp_mb__after_atomic(); x = 1` against `r0 = x; smp_rmb(); r1 = y`. `r0 == 1 && r1 == 0` is
/// forbidden.
#[test]
fn inc_then_mb_after_atomic_orders_the_increment() {
    loom::model(|| {
        let s = Arc::new((Atomic::new(0), Atomic::new(0)));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.1.inc();
            smp_mb__after_atomic();
            s2.0.set(1);
        });
        let r0 = s.0.read();
        smp_rmb();
        let r1 = s.1.read();
        assert!(
            !(r0 == 1 && r1 == 0),
            "inc + smp_mb__after_atomic did not order"
        );
        t.join().unwrap();
    });
}

/// Control: an acquire increment orders only its read half before `x = 1`, so the outcome is
/// allowed (as `atomic_t.txt` says), and loom finds it.
#[test]
#[should_panic(expected = "acquire increment")]
fn control_inc_return_acquire_does_not_order_its_write() {
    loom::model(|| {
        let s = Arc::new((Atomic::new(0), Atomic::new(0)));
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.1.inc_return_acquire();
            s2.0.set(1);
        });
        let r0 = s.0.read();
        smp_rmb();
        let r1 = s.1.read();
        assert!(
            !(r0 == 1 && r1 == 0),
            "acquire increment did not order its write"
        );
        t.join().unwrap();
    });
}
