//! The misuse checks (`CONFIG_DEBUG_MUTEXES`): each panics with a message naming the mutex and
//! the threads, and leaves the mutex as it was.
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use ksync_mutex::{Mutex, RawMutex, RawMutexGuard};
use ksync_percpu::current;

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
#[should_panic(expected = "recursive lock")]
fn recursive_lock_panics_instead_of_deadlocking() {
    let m = Mutex::new(());
    let _g = m.lock();
    let _again = m.lock();
}

#[test]
fn recursive_lock_names_the_mutex_and_thread_and_keeps_the_lock() {
    let m = RawMutex::new();
    let t = thread::Builder::new()
        .name("recurser".into())
        .spawn(move || {
            let g = m.lock();
            let msg = panic_message(|| {
                let _ = m.lock();
            });
            // Still held by us, and the waiter machinery was never entered.
            assert!(std::ptr::eq(m.owner().unwrap(), current()));
            assert!(!m.state().waiters());
            // SAFETY: `g` is ours.
            unsafe { m.unlock(g) };
            assert!(!m.is_locked());
            (msg, format!("{:p}", &m))
        })
        .unwrap();
    let (msg, addr) = t.join().unwrap();
    assert!(msg.contains(&addr), "{msg}");
    assert!(msg.contains("'recurser'"), "{msg}");
}

#[test]
fn timed_recursive_lock_panics_too() {
    let m = RawMutex::new();
    let g = m.lock();
    let msg = panic_message(|| {
        let _ = m.try_lock_for(std::time::Duration::from_secs(1));
    });
    assert!(msg.contains("recursive lock"), "{msg}");
    // SAFETY: ours.
    unsafe { m.unlock(g) };
}

#[test]
#[should_panic(expected = "not locked")]
fn unlock_of_an_unlocked_mutex_panics() {
    let a = RawMutex::new();
    let b = RawMutex::new();
    let g = a.lock();
    // SAFETY: deliberately violated (the guard is `a`'s): this is the misuse under test.
    unsafe { b.unlock(g) };
}

#[test]
fn unlock_of_a_mutex_held_by_another_thread_panics_and_changes_nothing() {
    let held = Arc::new(RawMutex::new());
    let h2 = held.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = thread::Builder::new()
        .name("holder".into())
        .spawn(move || {
            let g = h2.lock();
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
            // SAFETY: ours.
            unsafe { h2.unlock(g) };
        })
        .unwrap();
    rx.recv().unwrap();
    let before = held.state();
    let other = RawMutex::new();
    let msg = thread::Builder::new()
        .name("intruder".into())
        .spawn({
            let held = held.clone();
            move || {
                let g = other.lock();
                // SAFETY: deliberately violated: the misuse under test.
                panic_message(|| unsafe { held.unlock(g) })
            }
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        msg.contains("'intruder'") && msg.contains("'holder'"),
        "{msg}"
    );
    assert!(msg.contains("only the owner may unlock"), "{msg}");
    assert_eq!(held.state(), before, "the owner word is untouched");
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(!held.is_locked());
}

/// A guard state smuggled to another thread (the type system forbids it: `RawMutexGuard` is
/// `!Send`).
struct Smuggled(RawMutexGuard);
// SAFETY: deliberately wrong: the misuse under test.
unsafe impl Send for Smuggled {}

#[test]
#[cfg(any(debug_assertions, feature = "debug"))]
fn unlock_by_a_thread_that_is_not_the_owner_panics() {
    let m = Arc::new(RawMutex::new());
    let m2 = m.clone();
    // The locker stays alive until the end: an exited thread's descriptor would be recycled,
    // possibly to the unlocker, which would then *be* the owner as far as anyone can tell.
    let (guard_tx, guard_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let locker = thread::Builder::new()
        .name("locker".into())
        .spawn(move || {
            guard_tx.send(Smuggled(m2.lock())).unwrap();
            done_rx.recv().unwrap();
        })
        .unwrap();
    let g = guard_rx.recv().unwrap();
    let m3 = m.clone();
    let msg = thread::Builder::new()
        .name("unlocker".into())
        .spawn(move || {
            let s = g;
            // SAFETY: deliberately violated: the misuse under test.
            panic_message(move || unsafe { m3.unlock(s.0) })
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        msg.contains("'unlocker'") && msg.contains("'locker'"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{:p}", &*m)), "{msg}");
    assert!(
        m.is_locked(),
        "still held: the check runs before the unlock"
    );
    done_tx.send(()).unwrap();
    locker.join().unwrap();
}
