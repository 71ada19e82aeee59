//! `ksync::compat` against std's documented behaviour (`std::sync::Mutex`, `MutexGuard`,
//! `Condvar`, poisoning), ported from what std's own tests check, for three raw locks: the
//! qspinlock (the default), the kernel mutex and `parking_lot::RawMutex`.
//!
//! Every behavioural test is a generic function over the raw lock `R`; `suite!` instantiates
//! each one in a module per lock (`qspinlock::smoke`, `kernel_mutex::smoke`, `parking_lot_mutex::smoke`,
//! ...). No test sleeps to synchronise: threads hand over with channels, barriers and the
//! condvar itself, and the only clock reads check that a timeout is never reported early.

use std::cell::Cell;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier, LockResult, PoisonError, TryLockError, WaitTimeoutResult};
use std::thread;
use std::time::{Duration, Instant};

use ksync::compat::{Condvar, KMutex, MappedMutexGuard, Mutex, MutexGuard};
use static_assertions::{assert_impl_all, assert_not_impl_any};

/// The raw locks under test.
trait Raw: lock_api::RawMutex + Send + Sync + 'static {}
impl<R: lock_api::RawMutex + Send + Sync + 'static> Raw for R {}

/// A mutex over `R` (std code would say `Mutex::new`, which exists for the default lock only).
fn new<T, R: Raw>(t: T) -> Mutex<T, R> {
    Mutex::from(t)
}

/// A mutex poisoned by a panic in a critical section of this thread.
fn poisoned<T, R: Raw>(t: T) -> Mutex<T, R> {
    let m = new::<T, R>(t);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = m.lock().unwrap();
        panic!("test panic to poison the mutex");
    }));
    assert!(r.is_err());
    assert!(m.is_poisoned());
    m
}

#[derive(Debug, PartialEq, Eq, Clone)]
struct NonCopy(i32);

/// Counts its drops.
#[derive(Debug)]
struct Dropper(Arc<AtomicUsize>);
impl Drop for Dropper {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Mutex

fn smoke<R: Raw>() {
    let m = new::<(), R>(());
    drop(m.lock().unwrap());
    drop(m.lock().unwrap());
    *m.try_lock().unwrap() = ();
    assert!(!m.is_poisoned());
}

fn lots_and_lots<R: Raw>() {
    const J: u32 = 1000;
    const K: u32 = 4;
    let m = Arc::new(new::<u32, R>(0));
    let handles: Vec<_> = (0..K)
        .map(|_| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                for _ in 0..J {
                    *m.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*m.lock().unwrap(), J * K);
}

fn try_lock_while_held_by_another_thread<R: Raw>() {
    let m = Arc::new(new::<u32, R>(5));
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let holder = {
        let m = Arc::clone(&m);
        thread::spawn(move || {
            let mut g = m.lock().unwrap();
            *g += 1;
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    };
    held_rx.recv().unwrap();
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(m.is_locked());
    // The Debug impl must not block on a held lock.
    assert_eq!(
        format!("{m:?}"),
        r#"Mutex { data: "<locked>", poisoned: false, .. }"#
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(*m.try_lock().unwrap(), 6);
}

fn into_inner<R: Raw>() {
    let m = new::<NonCopy, R>(NonCopy(10));
    assert_eq!(m.into_inner().unwrap(), NonCopy(10));
}

fn into_inner_drops_once<R: Raw>() {
    let drops = Arc::new(AtomicUsize::new(0));
    let m = new::<Dropper, R>(Dropper(Arc::clone(&drops)));
    {
        let _inner = m.into_inner().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Poisoned: the data comes back in the error, and is still dropped once.
    let m = poisoned::<Dropper, R>(Dropper(Arc::clone(&drops)));
    let inner = m.into_inner().unwrap_err().into_inner();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(inner);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    // A mutex dropped with its data drops the data once.
    drop(new::<Dropper, R>(Dropper(Arc::clone(&drops))));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

fn into_inner_poisoned<R: Raw>() {
    let m = poisoned::<NonCopy, R>(NonCopy(10));
    match m.into_inner() {
        Err(e) => assert_eq!(e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("into_inner of a poisoned Mutex is Ok: {x:?}"),
    }
}

fn get_mut<R: Raw>() {
    let mut m = new::<NonCopy, R>(NonCopy(10));
    *m.get_mut().unwrap() = NonCopy(20);
    assert_eq!(m.into_inner().unwrap(), NonCopy(20));
    let mut m = poisoned::<NonCopy, R>(NonCopy(10));
    match m.get_mut() {
        Err(e) => *e.into_inner() = NonCopy(30),
        Ok(x) => panic!("get_mut of a poisoned Mutex is Ok: {x:?}"),
    }
    assert_eq!(m.into_inner().unwrap_err().into_inner(), NonCopy(30));
}

fn poison_from_a_panicking_thread<R: Raw>() {
    let m = Arc::new(new::<i32, R>(1));
    assert!(!m.is_poisoned());
    let m2 = Arc::clone(&m);
    let r = thread::spawn(move || {
        let mut g = m2.lock().unwrap();
        *g = 2;
        panic!("deliberate panic with the lock held");
    })
    .join();
    assert!(r.is_err());
    assert!(m.is_poisoned());
    // lock still acquires, and hands over the guard inside the error.
    let err = m.lock().unwrap_err();
    assert_eq!(**err.get_ref(), 2);
    let mut g = err.into_inner();
    *g += 1;
    drop(g);
    // Sticky: the next lock and try_lock report it too, with the update visible.
    match m.try_lock() {
        Err(TryLockError::Poisoned(e)) => assert_eq!(*e.into_inner(), 3),
        Err(TryLockError::WouldBlock) => panic!("the poisoned mutex was left locked"),
        Ok(_) => panic!("try_lock of a poisoned Mutex is Ok"),
    }
    assert!(m.lock().is_err());
}

fn panics_in_a_row<R: Raw>() {
    let m = new::<i32, R>(42);
    for _ in 0..3 {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            let _g = m.lock().unwrap_or_else(PoisonError::into_inner);
            panic!("test panic with the mutex held");
        }));
        assert!(r.is_err());
        assert!(m.is_poisoned());
    }
    assert_eq!(*m.lock().unwrap_err().into_inner(), 42);
}

fn clear_poison<R: Raw>() {
    let m = poisoned::<i32, R>(0);
    let g = m.lock().unwrap_or_else(|mut e| {
        **e.get_mut() = 1;
        m.clear_poison();
        e.into_inner()
    });
    assert!(!m.is_poisoned());
    assert_eq!(*g, 1);
    drop(g);
    assert_eq!(*m.lock().unwrap(), 1);
}

fn panic_without_the_lock_does_not_poison<R: Raw>() {
    let m = new::<i32, R>(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        *m.lock().unwrap() += 1;
        panic!("the guard is already gone");
    }));
    assert!(r.is_err());
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 1);
}

fn drop_that_locks_during_unwinding<R: Raw>() {
    let m = Arc::new(new::<i32, R>(1));
    let m2 = Arc::clone(&m);
    let r = thread::spawn(move || {
        struct Unwinder<R: Raw>(Arc<Mutex<i32, R>>);
        impl<R: Raw> Drop for Unwinder<R> {
            fn drop(&mut self) {
                // Locked and released while this thread is already panicking: the critical
                // section was not interrupted, so the mutex must not be poisoned.
                *self.0.lock().unwrap() += 1;
            }
        }
        let _u = Unwinder(m2);
        panic!("unwind through a Drop that locks");
    })
    .join();
    assert!(r.is_err());
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 2);
}

fn nested_mutexes<R: Raw>() {
    let inner = Arc::new(new::<i32, R>(1));
    let outer = Arc::new(new::<Arc<Mutex<i32, R>>, R>(inner));
    let (tx, rx) = channel();
    let t = thread::spawn(move || {
        let lock = outer.lock().unwrap();
        let lock2 = lock.lock().unwrap();
        assert_eq!(*lock2, 1);
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
    t.join().unwrap();
}

fn unsized_data<R: Raw>() {
    let mutex: &Mutex<[i32], R> = &new::<[i32; 3], R>([1, 2, 3]);
    {
        let b = &mut *mutex.lock().unwrap();
        b[0] = 4;
        b[2] = 5;
    }
    let comp: &[i32] = &[4, 2, 5];
    assert_eq!(&*mutex.lock().unwrap(), comp);
    // Through Arc and Box, as std code writes it.
    let shared: Arc<Mutex<[u8], R>> = Arc::new(new::<[u8; 2], R>([7, 8]));
    assert_eq!(shared.lock().unwrap().len(), 2);
    let mut calls = 0;
    let f: Box<Mutex<dyn FnMut() -> u32 + Send, R>> = Box::new(new::<_, R>(move || {
        calls += 1;
        calls
    }));
    (f.lock().unwrap())();
    assert_eq!((f.lock().unwrap())(), 2);
}

fn mapped_guards<R: Raw>() {
    let lock = new::<[i32; 4], R>([0; 4]);
    let guard = lock.lock().unwrap();
    let guard = MutexGuard::map(guard, |arr| &mut arr[..2]);
    let mut guard = MappedMutexGuard::map(guard, |slice| &mut slice[1..]);
    assert_eq!(guard.len(), 1);
    guard[0] = 42;
    drop(guard);
    assert_eq!(*lock.lock().unwrap(), [0, 42, 0, 0]);
    assert!(!lock.is_poisoned());

    // filter_map / try_map: `None` gives the original guard back, still locked.
    let guard = lock.lock().unwrap();
    let guard = match MutexGuard::filter_map(guard, |arr| arr.get_mut(9)) {
        Ok(_) => panic!("filter_map to an element out of range succeeded"),
        Err(orig) => orig,
    };
    assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    let mapped = MutexGuard::try_map(guard, |arr| arr.get_mut(3)).unwrap();
    let mut mapped = MappedMutexGuard::filter_map(mapped, |x| Some(x)).unwrap();
    *mapped = 7;
    let mapped = match MappedMutexGuard::try_map(mapped, |_| None::<&mut i32>) {
        Ok(_) => panic!("try_map returned Ok for None"),
        Err(orig) => orig,
    };
    assert_eq!(format!("{mapped:?} {mapped}"), "7 7");
    drop(mapped);
    assert_eq!(*lock.lock().unwrap(), [0, 42, 0, 7]);
}

fn panic_while_mapping_unlocks_and_poisons<R: Raw>() {
    fn expect_unlocked_and_poisoned<R: Raw>(lock: &Mutex<(), R>, what: &str) {
        match lock.try_lock() {
            Ok(_) => panic!("a panic in {what} should poison the mutex"),
            Err(TryLockError::WouldBlock) => panic!("a panic in {what} should unlock the mutex"),
            Err(TryLockError::Poisoned(_)) => {}
        }
        lock.clear_poison();
    }
    let lock = new::<(), R>(());
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = MutexGuard::map::<(), _>(lock.lock().unwrap(), |_| panic!());
    }));
    expect_unlocked_and_poisoned(&lock, "MutexGuard::map");
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = MutexGuard::filter_map::<(), _>(lock.lock().unwrap(), |_| panic!());
    }));
    expect_unlocked_and_poisoned(&lock, "MutexGuard::filter_map");
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let g = MutexGuard::map::<(), _>(lock.lock().unwrap(), |v| v);
        let _g = MappedMutexGuard::map::<(), _>(g, |_| panic!());
    }));
    expect_unlocked_and_poisoned(&lock, "MappedMutexGuard::map");
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let g = MutexGuard::map::<(), _>(lock.lock().unwrap(), |v| v);
        let _g = MappedMutexGuard::filter_map::<(), _>(g, |_| panic!());
    }));
    expect_unlocked_and_poisoned(&lock, "MappedMutexGuard::filter_map");
}

fn mapped_guard_poisons<R: Raw>() {
    let m = Arc::new(new::<i32, R>(1));
    let m2 = Arc::clone(&m);
    let r = thread::spawn(move || {
        let g = MutexGuard::map(m2.lock().unwrap(), |v| v);
        assert_eq!(*g, 2, "deliberate assertion failure to poison the mutex");
    })
    .join();
    assert!(r.is_err());
    assert!(m.is_poisoned());
    assert!(m.lock().is_err());
}

fn debug_and_display_match_std<R: Raw>() {
    let ours = new::<i32, R>(5);
    let std = std::sync::Mutex::new(5);
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));
    {
        let (g, sg) = (ours.lock().unwrap(), std.lock().unwrap());
        assert_eq!(format!("{ours:?}"), format!("{std:?}")); // <locked>
        assert_eq!(format!("{g:?} {g} {g:>3}"), format!("{sg:?} {sg} {sg:>3}"));
    }
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = ours.lock().unwrap();
        let _s = std.lock().unwrap();
        panic!("poison both");
    }));
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));
    assert!(format!("{ours:?}").contains("poisoned: true"));
}

fn value_accessors<R: Raw>() {
    let m = new::<NonCopy, R>(NonCopy(10));
    assert_eq!(m.get_cloned().unwrap(), NonCopy(10));
    m.set(NonCopy(20)).unwrap();
    assert_eq!(m.replace(NonCopy(30)).unwrap(), NonCopy(20));
    assert_eq!(m.into_inner().unwrap(), NonCopy(30));
    // `set` drops the old value once.
    let drops = Arc::new(AtomicUsize::new(0));
    let m = new::<Dropper, R>(Dropper(Arc::clone(&drops)));
    m.set(Dropper(Arc::new(AtomicUsize::new(0)))).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Poisoned: the value comes back, the data is untouched.
    let m = poisoned::<NonCopy, R>(NonCopy(1));
    assert_eq!(m.get_cloned().unwrap_err().into_inner(), ());
    assert_eq!(m.set(NonCopy(2)).unwrap_err().into_inner(), NonCopy(2));
    assert_eq!(m.replace(NonCopy(3)).unwrap_err().into_inner(), NonCopy(3));
    assert_eq!(m.into_inner().unwrap_err().into_inner(), NonCopy(1));
}

fn default_and_from<R: Raw>() {
    let m: Mutex<Vec<u8>, R> = Mutex::default();
    assert!(m.lock().unwrap().is_empty());
    let m: Mutex<u8, R> = 3.into();
    assert_eq!(m.into_inner().unwrap(), 3);
}

// ---------------------------------------------------------------------------------------------
// Condvar

fn condvar_smoke<R: Raw>() {
    let c = Condvar::new();
    c.notify_one();
    c.notify_all();
    let _: Condvar = Condvar::default();
    assert_eq!(format!("{c:?}"), format!("{:?}", std::sync::Condvar::new()));
}

fn notify_one<R: Raw>() {
    let m = Arc::new(new::<(), R>(()));
    let c = Arc::new(Condvar::new());
    let g = m.lock().unwrap();
    let t = {
        let (m, c) = (Arc::clone(&m), Arc::clone(&c));
        // It can lock only once the main thread is inside `wait`, so its notify is a candidate
        // to wake it; a lost wakeup hangs the test.
        thread::spawn(move || {
            let _g = m.lock().unwrap();
            c.notify_one();
        })
    };
    let g = c.wait(g).unwrap();
    drop(g);
    t.join().unwrap();
}

fn handshake_with_a_predicate<R: Raw>() {
    let pair = Arc::new((new::<bool, R>(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (tx, rx) = channel();
    let t = thread::spawn(move || {
        rx.recv().unwrap(); // until the parent holds the lock
        let (lock, cvar) = &*pair2;
        *lock.lock().unwrap() = true;
        cvar.notify_one();
    });
    let (lock, cvar) = &*pair;
    let mut guard = lock.lock().unwrap();
    tx.send(()).unwrap();
    assert!(!*guard);
    while !*guard {
        guard = cvar.wait(guard).unwrap();
    }
    drop(guard);
    t.join().unwrap();
}

fn notify_after_unlock<R: Raw>() {
    // Many rounds of a producer that notifies *after* releasing the mutex.
    const ROUNDS: u32 = 200;
    let pair = Arc::new((new::<u32, R>(0), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let t = thread::spawn(move || {
        let (lock, cvar) = &*pair2;
        for i in 1..=ROUNDS {
            let mut g = cvar
                .wait_while(lock.lock().unwrap(), |v| *v % 2 == 1)
                .unwrap();
            *g = 2 * i - 1; // odd: the consumer's turn
            drop(g);
            cvar.notify_one();
        }
    });
    let (lock, cvar) = &*pair;
    for i in 1..=ROUNDS {
        let mut g = cvar
            .wait_while(lock.lock().unwrap(), |v| *v % 2 == 0)
            .unwrap();
        assert_eq!(*g, 2 * i - 1);
        *g += 1; // even: the producer's turn
        drop(g);
        cvar.notify_one();
    }
    t.join().unwrap();
}

fn notify_all_wakes_every_waiter<R: Raw>() {
    const N: usize = 5;
    let data = Arc::new((new::<usize, R>(0), Condvar::new()));
    let (tx, rx) = channel();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let data = Arc::clone(&data);
            let tx = tx.clone();
            thread::spawn(move || {
                let (lock, cond) = &*data;
                let mut cnt = lock.lock().unwrap();
                *cnt += 1;
                if *cnt == N {
                    tx.send(()).unwrap();
                }
                while *cnt != 0 {
                    cnt = cond.wait(cnt).unwrap();
                }
                tx.send(()).unwrap();
            })
        })
        .collect();
    drop(tx);
    let (lock, cond) = &*data;
    rx.recv().unwrap(); // all N have counted themselves in, under the lock
    let mut cnt = lock.lock().unwrap();
    *cnt = 0;
    cond.notify_all();
    drop(cnt);
    for _ in 0..N {
        rx.recv().unwrap();
    }
    for h in handles {
        h.join().unwrap();
    }
}

fn wait_while<R: Raw>() {
    let pair = Arc::new((new::<bool, R>(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let t = thread::spawn(move || {
        let (lock, cvar) = &*pair2;
        *lock.lock().unwrap() = true;
        cvar.notify_one();
    });
    let (lock, cvar) = &*pair;
    let guard = cvar.wait_while(lock.lock().unwrap(), |started| !*started);
    assert!(*guard.unwrap());
    t.join().unwrap();
}

fn wait_timeout_times_out<R: Raw>() {
    let m = new::<(), R>(());
    let c = Condvar::new();
    let dur = Duration::from_millis(1);
    loop {
        let start = Instant::now();
        let (_g, r) = c.wait_timeout(m.lock().unwrap(), dur).unwrap();
        let _: WaitTimeoutResult = r; // std's own type
                                      // Spurious wakeups are allowed; a timeout reported early is not.
        if r.timed_out() {
            assert!(start.elapsed() >= dur);
            break;
        }
    }
    // A zero timeout returns at once, timed out (nobody notifies).
    let (_g, r) = c.wait_timeout(m.lock().unwrap(), Duration::ZERO).unwrap();
    assert!(r.timed_out());
}

fn wait_timeout_while_times_out<R: Raw>() {
    let m = new::<(), R>(());
    let c = Condvar::new();
    let dur = Duration::from_millis(1);
    let start = Instant::now();
    let (_g, r) = c
        .wait_timeout_while(m.lock().unwrap(), dur, |_| true)
        .unwrap();
    // The predicate never becomes false, so only the timeout ends the wait.
    assert!(r.timed_out());
    assert!(start.elapsed() >= dur);
}

fn wait_timeout_while_instant_satisfy<R: Raw>() {
    let m = new::<(), R>(());
    let c = Condvar::new();
    let (_g, r) = c
        .wait_timeout_while(m.lock().unwrap(), Duration::ZERO, |_| false)
        .unwrap();
    assert!(!r.timed_out());
}

fn wait_timeout_while_woken<R: Raw>() {
    let pair = Arc::new((new::<bool, R>(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (lock, cvar) = &*pair;
    let g = lock.lock().unwrap();
    let t = thread::spawn(move || {
        let (lock, cvar) = &*pair2;
        *lock.lock().unwrap() = true;
        cvar.notify_one();
    });
    // A duration too large for an Instant: waits without a limit.
    let (g2, r) = cvar
        .wait_timeout_while(g, Duration::from_millis(u64::MAX), |notified| !*notified)
        .unwrap();
    assert!(!r.timed_out());
    assert!(*g2);
    drop(g2);
    t.join().unwrap();
}

fn wait_timeout_woken<R: Raw>() {
    let m = Arc::new(new::<bool, R>(false));
    let c = Arc::new(Condvar::new());
    let mut g = m.lock().unwrap();
    let t = {
        let (m, c) = (Arc::clone(&m), Arc::clone(&c));
        thread::spawn(move || {
            *m.lock().unwrap() = true;
            c.notify_one();
        })
    };
    while !*g {
        let (g2, r) = c.wait_timeout(g, Duration::MAX).unwrap();
        assert!(!r.timed_out());
        g = g2;
    }
    drop(g);
    t.join().unwrap();
}

#[allow(deprecated)]
fn wait_timeout_ms<R: Raw>() {
    let m = new::<(), R>(());
    let c = Condvar::new();
    loop {
        let (_g, no_timeout) = c.wait_timeout_ms(m.lock().unwrap(), 1).unwrap();
        if !no_timeout {
            break;
        }
    }
}

fn a_panicking_notifier_poisons_the_wait<R: Raw>() {
    let pair = Arc::new((new::<bool, R>(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (lock, cvar) = &*pair;
    let guard = lock.lock().unwrap();
    // The notifier can lock only once this thread waits; it notifies and panics with the lock
    // held, so the wait re-acquires a poisoned mutex.
    let t = thread::spawn(move || {
        let (lock, cvar) = &*pair2;
        let mut g = lock.lock().unwrap();
        *g = true;
        cvar.notify_one();
        panic!("notifier panics with the lock held");
    });
    let err = cvar.wait_while(guard, |ready| !*ready).unwrap_err();
    assert!(*err.into_inner(), "the notifier's update is visible");
    assert!(t.join().is_err());
    // Through wait_timeout too, with the timeout result in the error.
    let err = cvar
        .wait_timeout(lock.lock().unwrap_err().into_inner(), Duration::ZERO)
        .unwrap_err();
    let (g, r) = err.into_inner();
    assert!(*g && r.timed_out());
    drop(g);
    // And wait_timeout_while whose condition is already false: poisoned only by a wait.
    let r = cvar.wait_timeout_while(
        lock.lock().unwrap_err().into_inner(),
        Duration::ZERO,
        |_| false,
    );
    assert!(
        r.is_ok(),
        "no wait happened, so no poison check either (as std)"
    );
}

fn a_panic_in_the_predicate_poisons<R: Raw>() {
    let m = new::<u32, R>(0);
    let c = Condvar::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _ = c.wait_while(m.lock().unwrap(), |_| panic!("predicate panics"));
    }));
    assert!(r.is_err());
    assert!(m.is_poisoned());
}

fn one_condvar_two_mutexes<R: Raw>() {
    // std says this may panic; ksync's condvar does not depend on the mutex, so it just works.
    let c = Arc::new(Condvar::new());
    let m1 = Arc::new(new::<bool, R>(false));
    let m2 = Arc::new(new::<bool, R>(false));
    let b = Arc::new(Barrier::new(3));
    let waiter = |m: Arc<Mutex<bool, R>>| {
        let (c, b) = (Arc::clone(&c), Arc::clone(&b));
        thread::spawn(move || {
            let g = m.lock().unwrap();
            b.wait();
            let g = c.wait_while(g, |set| !*set).unwrap();
            assert!(*g);
        })
    };
    let (t1, t2) = (waiter(Arc::clone(&m1)), waiter(Arc::clone(&m2)));
    b.wait();
    // Both waiters hold their mutex at the barrier and release it only inside the wait.
    *m1.lock().unwrap() = true;
    *m2.lock().unwrap() = true;
    c.notify_all();
    t1.join().unwrap();
    t2.join().unwrap();
}

fn condvar_with_mapped_data<R: Raw>() {
    // The waiter waits on a guard of a struct and maps after the wait.
    struct State {
        ready: bool,
        value: u32,
    }
    let pair = Arc::new((
        new::<State, R>(State {
            ready: false,
            value: 0,
        }),
        Condvar::new(),
    ));
    let pair2 = Arc::clone(&pair);
    let t = thread::spawn(move || {
        let (lock, cvar) = &*pair2;
        let mut s = lock.lock().unwrap();
        s.value = 9;
        s.ready = true;
        cvar.notify_all();
    });
    let (lock, cvar) = &*pair;
    let s = cvar.wait_while(lock.lock().unwrap(), |s| !s.ready).unwrap();
    let v = MutexGuard::map(s, |s| &mut s.value);
    assert_eq!(*v, 9);
    drop(v);
    t.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The non-poisoning flavour

fn nonpoison_basics<R: Raw>() {
    use ksync::compat::nonpoison::{Mutex, MutexGuard, WouldBlock};
    let m = Arc::new(Mutex::<i32, R>::from(1));
    let m2 = Arc::clone(&m);
    let r = thread::spawn(move || {
        let mut g = m2.lock();
        *g += 1;
        panic!("no poisoning");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(*m.lock(), 2);
    assert_eq!(format!("{m:?}"), "Mutex { data: 2, .. }");
    let g = m.lock();
    let err = m.try_lock().unwrap_err();
    assert_eq!(err, WouldBlock);
    assert_eq!(
        err.to_string(),
        TryLockError::<()>::WouldBlock.to_string(),
        "std's message"
    );
    assert_eq!(format!("{m:?}"), r#"Mutex { data: "<locked>", .. }"#);
    drop(g);
    assert_eq!(m.with_mut(|v| std::mem::replace(v, 5)), 2);
    assert_eq!(m.replace(6), 5);
    m.set(7);
    assert_eq!(m.get_cloned(), 7);
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = MutexGuard::map::<i32, _>(m.lock(), |_| panic!());
    }));
    assert!(m.try_lock().is_ok(), "a panic while mapping unlocks");
    let mut mapped = MutexGuard::map(m.lock(), |v| v);
    *mapped += 1;
    drop(mapped);
    let mut m = Arc::try_unwrap(m).unwrap();
    *m.get_mut() += 1;
    assert_eq!(m.into_inner(), 9);
}

fn nonpoison_condvar<R: Raw>() {
    use ksync::compat::nonpoison::{Condvar, Mutex};
    let pair = Arc::new((Mutex::<bool, R>::from(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let t = thread::spawn(move || {
        let (lock, cvar) = &*pair2;
        *lock.lock() = true;
        cvar.notify_one();
    });
    let (lock, cvar) = &*pair;
    let mut started = lock.lock();
    while !*started {
        cvar.wait(&mut started);
    }
    drop(started);
    t.join().unwrap();
    // Timeouts, with std's WaitTimeoutResult.
    let mut g = lock.lock();
    let r: WaitTimeoutResult = cvar.wait_timeout_while(&mut g, Duration::from_millis(1), |_| true);
    assert!(r.timed_out());
    assert!(!cvar
        .wait_timeout_while(&mut g, Duration::ZERO, |_| false)
        .timed_out());
    assert!(cvar.wait_timeout(&mut g, Duration::ZERO).timed_out());
    cvar.wait_while(&mut g, |started| !*started);
    assert_eq!(format!("{cvar:?}"), "Condvar { .. }");
}

macro_rules! tests_for {
    ($raw:ty; ($($test:ident),* $(,)?)) => {
        $(
            #[test]
            fn $test() {
                super::$test::<$raw>();
            }
        )*
    };
}

/// One module per raw lock, each with every generic test.
macro_rules! suite {
    ($($lock:ident => $raw:ty),* $(,)?; $tests:tt) => {
        $(
            mod $lock {
                tests_for!($raw; $tests);
            }
        )*
    };
}

suite! {
    qspinlock => ksync::spinlock::RawQSpinLock,
    kernel_mutex => ksync::mutex::RawMutex,
    parking_lot_mutex => parking_lot::RawMutex;
    (
        smoke,
        lots_and_lots,
        try_lock_while_held_by_another_thread,
        into_inner,
        into_inner_drops_once,
        into_inner_poisoned,
        get_mut,
        poison_from_a_panicking_thread,
        panics_in_a_row,
        clear_poison,
        panic_without_the_lock_does_not_poison,
        drop_that_locks_during_unwinding,
        nested_mutexes,
        unsized_data,
        mapped_guards,
        panic_while_mapping_unlocks_and_poisons,
        mapped_guard_poisons,
        debug_and_display_match_std,
        value_accessors,
        default_and_from,
        condvar_smoke,
        notify_one,
        handshake_with_a_predicate,
        notify_after_unlock,
        notify_all_wakes_every_waiter,
        wait_while,
        wait_timeout_times_out,
        wait_timeout_while_times_out,
        wait_timeout_while_instant_satisfy,
        wait_timeout_while_woken,
        wait_timeout_woken,
        wait_timeout_ms,
        a_panicking_notifier_poisons_the_wait,
        a_panic_in_the_predicate_poisons,
        one_condvar_two_mutexes,
        condvar_with_mapped_data,
        nonpoison_basics,
        nonpoison_condvar,
    )
}

// ---------------------------------------------------------------------------------------------
// The default lock, statics, one condvar for several raw locks, and the type-level promises.

static COUNTER: Mutex<u64> = Mutex::new(0);
static READY: Condvar = Condvar::new();
static NP: ksync::compat::nonpoison::Mutex<u8> = ksync::compat::nonpoison::Mutex::new(0);
static NP_CV: ksync::compat::nonpoison::Condvar = ksync::compat::nonpoison::Condvar::new();

#[test]
fn const_constructors_initialise_statics() {
    let t = thread::spawn(|| {
        *COUNTER.lock().unwrap() += 1;
        READY.notify_all();
    });
    let g = READY
        .wait_while(COUNTER.lock().unwrap(), |n| *n == 0)
        .unwrap();
    assert_eq!(*g, 1);
    drop(g);
    t.join().unwrap();
    *NP.lock() += 1;
    NP_CV.notify_one();
    assert_eq!(*NP.lock(), 1);
}

#[test]
fn new_needs_no_annotation() {
    // As with std: the default raw lock is chosen by `new`.
    let m = Mutex::new(0);
    *m.lock().unwrap() += 1;
    let r: LockResult<MutexGuard<'_, i32>> = m.lock();
    assert_eq!(*r.unwrap(), 1);
}

mod glob_import {
    // `use std::sync::*` swapped for `use ksync::compat::*`: ksync's four items win, the rest is
    // std's.
    use ksync::compat::*;

    #[test]
    fn the_rest_of_std_sync_comes_along() {
        let m: Arc<Mutex<u8>> = Arc::new(Mutex::new(1));
        let _: &ksync::compat::Mutex<u8> = &m;
        let rw = RwLock::new(2);
        let once = OnceLock::new();
        let (tx, rx) = mpsc::channel();
        tx.send(*m.lock().unwrap() + *rw.read().unwrap()).unwrap();
        assert_eq!(*once.get_or_init(|| rx.recv().unwrap()), 3);
        let cv = Condvar::new();
        let _: &ksync::compat::Condvar = &cv;
        let r: LockResult<MutexGuard<'_, u8>> = m.lock();
        drop(r);
        let _ = atomic::AtomicBool::new(false);
    }
}

#[test]
fn one_condvar_serves_guards_of_different_raw_locks() {
    let c = Condvar::new();
    let q = Mutex::new(());
    let k: KMutex<()> = KMutex::from(());
    let p: Mutex<(), parking_lot::RawMutex> = Mutex::from(());
    let (_g, r) = c.wait_timeout(q.lock().unwrap(), Duration::ZERO).unwrap();
    assert!(r.timed_out());
    let (_g, r) = c.wait_timeout(k.lock().unwrap(), Duration::ZERO).unwrap();
    assert!(r.timed_out());
    let (_g, r) = c.wait_timeout(p.lock().unwrap(), Duration::ZERO).unwrap();
    assert!(r.timed_out());
}

#[test]
fn locktorture_and_the_throughput_harness_accept_it() {
    // The registry's `compat` entry: std_shaped(ksync::compat::Mutex).
    use ksync::harness::{throughput, torture};
    let config = torture::Config::quick(4, Duration::from_millis(100));
    let report = torture::run("compat", &config, |_| {}).unwrap();
    assert!(report.success(), "{:?}", report.failure_reasons());
    let point = throughput::run("compat", 3, 2, 5, Duration::from_millis(30)).unwrap();
    assert!(point.total > 0);
    assert!(point.excluded(), "lost updates");
}

#[test]
fn sizes_match_std() {
    use std::mem::size_of;
    // One byte of poison flag next to a 4-byte lock word, exactly std's layout.
    assert_eq!(size_of::<Mutex<()>>(), size_of::<std::sync::Mutex<()>>());
    assert_eq!(size_of::<Mutex<u8>>(), size_of::<std::sync::Mutex<u8>>());
    assert_eq!(size_of::<Mutex<u32>>(), size_of::<std::sync::Mutex<u32>>());
    assert_eq!(size_of::<Mutex<u64>>(), size_of::<std::sync::Mutex<u64>>());
    assert_eq!(
        size_of::<Mutex<[u8; 3]>>(),
        size_of::<std::sync::Mutex<[u8; 3]>>()
    );
    // Over any raw lock: at most the flag byte on top of lock_api's layout.
    assert_eq!(size_of::<Mutex<u8, parking_lot::RawMutex>>(), 3);
    assert_eq!(
        size_of::<Mutex<u64, parking_lot::RawMutex>>(),
        size_of::<lock_api::Mutex<parking_lot::RawMutex, u64>>()
    );
    assert!(size_of::<KMutex<u64>>() <= size_of::<ksync::mutex::Mutex<u64>>() + 8);
    // The non-poisoning one is exactly lock_api's.
    assert_eq!(
        size_of::<ksync::compat::nonpoison::Mutex<u64>>(),
        size_of::<ksync::spinlock::SpinLock<u64>>()
    );
}

// Send and Sync exactly as std's (for the default lock, and the guards for every lock).
assert_impl_all!(Mutex<u32>: Send, Sync, UnwindSafe, RefUnwindSafe, Default, Debug);
assert_impl_all!(Mutex<Cell<u32>>: Send, Sync, UnwindSafe, RefUnwindSafe);
assert_not_impl_any!(Mutex<Rc<u32>>: Send, Sync);
assert_impl_all!(&Mutex<Cell<u32>>: UnwindSafe);
assert_impl_all!(MutexGuard<'static, u32>: Sync);
assert_not_impl_any!(MutexGuard<'static, u32>: Send);
assert_not_impl_any!(MutexGuard<'static, Cell<u32>>: Send, Sync);
assert_impl_all!(MappedMutexGuard<'static, u32>: Sync);
assert_not_impl_any!(MappedMutexGuard<'static, u32>: Send);
assert_not_impl_any!(MappedMutexGuard<'static, Cell<u32>>: Send, Sync);
assert_impl_all!(KMutex<u32>: Send, Sync, UnwindSafe, RefUnwindSafe);
assert_not_impl_any!(MutexGuard<'static, u32, ksync::mutex::RawMutex>: Send);
assert_impl_all!(MutexGuard<'static, u32, ksync::mutex::RawMutex>: Sync);
assert_not_impl_any!(MutexGuard<'static, u32, parking_lot::RawMutex>: Send);
assert_impl_all!(Condvar: Send, Sync, UnwindSafe, RefUnwindSafe, Default, Debug);
assert_impl_all!(Mutex<[u8]>: Send, Sync);
assert_impl_all!(ksync::compat::nonpoison::Mutex<u32>: Send, Sync, Default);
assert_not_impl_any!(ksync::compat::nonpoison::MutexGuard<'static, u32>: Send);
assert_impl_all!(ksync::compat::nonpoison::MutexGuard<'static, u32>: Sync);
assert_impl_all!(ksync::compat::nonpoison::Condvar: Send, Sync);
