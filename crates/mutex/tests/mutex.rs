//! The mutex's API and its observable states: the owner word, the wait list, timed waits, fair
//! unlock, `atomic_dec_and_mutex_lock`. Every wait for another thread is on an observable
//! condition (the owner word, the wait list, a thread's blocked flag), never on a sleep.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ksync_atomic::Atomic;
use ksync_mutex::{atomic_dec_and_mutex_lock, Mutex, MutexGuard, RawMutex};
use ksync_percpu::{current, Task};
use lock_api::RawMutex as _;

/// Waits (yielding) until `cond` holds.
fn wait_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

/// Waits until `task` is queued on `m` and asleep.
fn wait_asleep(m: &RawMutex, task: &'static Task) {
    wait_until(|| m.waiters().iter().any(|t| std::ptr::eq(*t, task)) && task.is_blocked());
}

/// Spawns a thread that runs `f` and publishes its descriptor first.
fn spawn_with_task<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> (thread::JoinHandle<R>, &'static Task) {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        tx.send(current()).unwrap();
        f()
    });
    (h, rx.recv().unwrap())
}

#[test]
fn size_is_three_words() {
    assert_eq!(
        std::mem::size_of::<RawMutex>(),
        3 * std::mem::size_of::<usize>()
    );
    assert_eq!(
        std::mem::size_of::<ksync_mutex::RawMutexGuard>(),
        std::mem::size_of::<usize>()
    );
}

#[test]
fn owner_word_names_the_owner() {
    let m = RawMutex::new();
    assert!(!m.is_locked());
    assert_eq!(m.state().word, 0);
    assert_eq!(m.state().to_string(), "0");
    let g = m.lock();
    assert!(m.is_locked());
    assert!(std::ptr::eq(m.owner().unwrap(), current()));
    assert!(std::ptr::eq(g.owner(), current()));
    assert_eq!(m.state().word, current() as *const Task as isize);
    assert!(!m.state().waiters() && !m.state().handoff() && !m.state().pickup());
    // SAFETY: `g` is ours.
    unsafe { m.unlock(g) };
    assert_eq!(m.state().word, 0);
}

#[test]
fn static_mutex_and_guards() {
    static M: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    M.lock().push(1);
    {
        let g = M.lock();
        let mut first = MutexGuard::map(g, |v| &mut v[0]);
        *first += 1;
    }
    assert_eq!(*M.lock(), vec![2]);
    assert!(!M.is_locked());
}

#[test]
fn try_lock_fails_while_another_thread_holds_it() {
    let m = Arc::new(Mutex::new(0));
    let g = m.lock();
    let m2 = m.clone();
    assert!(thread::spawn(move || m2.try_lock().is_none())
        .join()
        .unwrap());
    // The owner itself gets `None` too (no panic: try_lock cannot deadlock).
    assert!(m.try_lock().is_none());
    drop(g);
    let m2 = m.clone();
    assert!(thread::spawn(move || m2.try_lock().is_some())
        .join()
        .unwrap());
}

#[test]
fn waiters_queue_in_fifo_order_and_flags_follow_the_list() {
    let m = Arc::new(RawMutex::new());
    let g = m.lock();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut handles = Vec::new();
    for i in 0..3 {
        let (m2, order2) = (m.clone(), order.clone());
        let (h, task) = spawn_with_task(move || {
            let g = m2.lock();
            order2.lock().unwrap().push(i);
            // SAFETY: ours.
            unsafe { m2.unlock_fair(g) };
        });
        wait_asleep(&m, task);
        assert!(m.state().waiters(), "WAITERS set once a thread queues");
        tasks.push(task);
        handles.push(h);
    }
    let listed = m.waiters();
    assert_eq!(listed.len(), 3);
    for (a, b) in listed.iter().zip(&tasks) {
        assert!(std::ptr::eq(*a, *b), "the wait list is in arrival order");
    }
    // Fair unlocks hand the mutex down the list: FIFO.
    // SAFETY: ours.
    unsafe { m.unlock_fair(g) };
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(m.state().word, 0, "the last waiter out clears every flag");
    assert!(m.waiters().is_empty());
}

#[test]
fn unlock_fair_hands_off_with_pickup() {
    let m = Arc::new(RawMutex::new());
    let g = m.lock();
    let m2 = m.clone();
    let got = Arc::new(AtomicBool::new(false));
    let got2 = got.clone();
    let (h, task) = spawn_with_task(move || {
        let g = m2.lock();
        got2.store(true, SeqCst);
        let serial = g.owner().serial();
        // SAFETY: ours.
        unsafe { m2.unlock(g) };
        serial
    });
    wait_asleep(&m, task);
    let addr = &*m as *const RawMutex as usize;
    // SAFETY: ours.
    let ((), events) = ksync_mutex::trace::record(|| unsafe { m.unlock_fair(g) });
    // Handed off: the release itself wrote the waiter into the owner field with PICKUP, so
    // nobody else could take the mutex in between, however fast. (Reading the owner word
    // afterwards could not tell a handoff from a waiter that woke and took a released mutex.)
    let handoff = events
        .iter()
        .find(|e| e.lock == addr && e.step == ksync_mutex::trace::Step::Handoff)
        .unwrap_or_else(|| panic!("unlock_fair made no handoff: {events:?}"));
    let s = handoff.state();
    assert!(s.pickup() && s.waiters(), "handoff word: {s}");
    assert!(std::ptr::eq(s.owner().unwrap(), task), "handoff word: {s}");
    assert_eq!(h.join().unwrap(), task.serial());
    assert!(got.load(SeqCst));
    assert_eq!(m.state().word, 0, "picked up and released: no flag left");
}

#[test]
fn bump_yields_to_a_waiter_and_takes_the_mutex_back() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let mut g = m.lock();
    // Nobody waits: bump is a no-op.
    MutexGuard::bump(&mut g);
    g.push("owner");
    let m2 = m.clone();
    let (h, task) = spawn_with_task(move || m2.lock().push("waiter"));
    // SAFETY: the raw mutex is only inspected.
    wait_asleep(unsafe { m.raw() }, task);
    MutexGuard::bump(&mut g);
    // The waiter ran in between.
    assert_eq!(*g, vec!["owner", "waiter"]);
    drop(g);
    h.join().unwrap();
}

#[test]
fn try_lock_for_times_out_and_leaves_no_flags() {
    let m = Arc::new(RawMutex::new());
    let g = m.lock();
    let m2 = m.clone();
    let t = thread::spawn(move || {
        let start = Instant::now();
        let r = m2.try_lock_for(Duration::from_millis(20));
        (r.is_none(), start.elapsed())
    });
    let (timed_out, waited) = t.join().unwrap();
    assert!(timed_out);
    assert!(
        waited >= Duration::from_millis(20),
        "gave up early: {waited:?}"
    );
    // The waiter left the list and, as the last one, cleared WAITERS: the fast unlock works.
    assert_eq!(m.state().word, current() as *const Task as isize);
    assert!(m.waiters().is_empty());
    // SAFETY: ours.
    unsafe { m.unlock(g) };
    assert_eq!(m.state().word, 0);
}

#[test]
fn try_lock_until_gets_the_mutex_when_it_is_released_in_time() {
    let m = Arc::new(RawMutex::new());
    let g = m.lock();
    let m2 = m.clone();
    let (h, task) = spawn_with_task(move || {
        // An hour: only a lost wakeup would make this time out.
        let g = m2.try_lock_until(Instant::now() + Duration::from_secs(3600));
        let ok = g.is_some();
        if let Some(g) = g {
            // SAFETY: ours.
            unsafe { m2.unlock(g) };
        }
        ok
    });
    wait_asleep(&m, task);
    // SAFETY: ours.
    unsafe { m.unlock(g) };
    assert!(h.join().unwrap());
    assert_eq!(m.state().word, 0);
}

#[test]
fn an_unrepresentable_timeout_waits_forever() {
    let m = Arc::new(RawMutex::new());
    let g = m.lock();
    let m2 = m.clone();
    let (h, task) = spawn_with_task(move || {
        let g = m2.try_lock_for(Duration::MAX);
        let ok = g.is_some();
        if let Some(g) = g {
            // SAFETY: ours.
            unsafe { m2.unlock(g) };
        }
        ok
    });
    wait_asleep(&m, task);
    // SAFETY: ours.
    unsafe { m.unlock(g) };
    assert!(h.join().unwrap());
}

#[test]
fn a_timed_waiter_behind_others_leaves_the_list_intact() {
    let m = Arc::new(RawMutex::new());
    let g = m.lock();
    // A patient waiter first, then an impatient one behind it.
    let m2 = m.clone();
    let (patient, ptask) = spawn_with_task(move || {
        let g = m2.lock();
        // SAFETY: ours.
        unsafe { m2.unlock(g) };
    });
    wait_asleep(&m, ptask);
    let m3 = m.clone();
    let impatient = thread::spawn(move || m3.try_lock_for(Duration::from_millis(5)).is_none());
    assert!(impatient.join().unwrap());
    let left = m.waiters();
    assert_eq!(left.len(), 1);
    assert!(std::ptr::eq(left[0], ptask));
    assert!(m.state().waiters(), "a waiter remains: WAITERS stays");
    // SAFETY: ours.
    unsafe { m.unlock(g) };
    patient.join().unwrap();
    assert_eq!(m.state().word, 0);
}

#[test]
fn atomic_dec_and_mutex_lock_locks_only_for_the_last_reference() {
    const THREADS: usize = 8;
    let refs = Arc::new(Atomic::new(THREADS as i32));
    let table = Arc::new(Mutex::new(vec![7u32]));
    let last = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (refs, table, last) = (refs.clone(), table.clone(), last.clone());
            thread::spawn(move || {
                if let Some(mut t) = atomic_dec_and_mutex_lock(&refs, &table) {
                    assert_eq!(refs.read(), 0);
                    t.clear();
                    last.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        last.load(SeqCst),
        1,
        "exactly one thread drops the last reference"
    );
    assert!(table.lock().is_empty());
    assert!(!table.is_locked());
}

#[test]
fn lock_api_traits_are_implemented() {
    fn fair<R: lock_api::RawMutexFair>() {}
    fn timed<R: lock_api::RawMutexTimed<Duration = Duration, Instant = Instant>>() {}
    fair::<RawMutex>();
    timed::<RawMutex>();
    let m = RawMutex::INIT;
    assert!(!lock_api::RawMutex::is_locked(&m));
    static_assertions::assert_not_impl_any!(ksync_mutex::RawMutexGuard: Send);
    static_assertions::assert_impl_all!(ksync_mutex::RawMutexGuard: Sync);
    static_assertions::assert_impl_all!(RawMutex: Send, Sync);
    static_assertions::assert_not_impl_any!(MutexGuard<'static, u32>: Send);
}

/// The refcount crate's `dec_and_lock` (`refcount_dec_and_mutex_lock`) is generic over lock_api:
/// with this mutex, exactly the last of many concurrent droppers gets it, at zero.
#[test]
fn refcount_dec_and_mutex_lock_works_with_the_mutex() {
    const THREADS: usize = 8;
    let refs = Arc::new(ksync_refcount::Refcount::new(THREADS as i32));
    let table = Arc::new(Mutex::new(vec!["object"]));
    let last = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (refs, table, last) = (refs.clone(), table.clone(), last.clone());
            thread::spawn(move || {
                if let Some(mut t) = refs.dec_and_lock(&*table) {
                    assert_eq!(refs.read(), 0);
                    t.clear();
                    last.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(last.load(SeqCst), 1);
    assert!(table.lock().is_empty());
}
