//! What `this_slot()` and `current()` do during a thread's teardown, when other thread-local
//! destructors run after ksync's own. Its own test binary (one test), for exact statistics.
#![cfg(not(loom))]

use std::sync::Mutex;
use std::thread;

use ksync_percpu::{current, stats, this_slot, Task};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    slot: Option<usize>,
    task: usize,
    task_slot: Option<usize>,
    serial: u64,
}

fn seen_now() -> Seen {
    let t = current();
    Seen {
        slot: this_slot(),
        task: t as *const Task as usize,
        task_slot: t.slot(),
        serial: t.serial(),
    }
}

static LOG: Mutex<Vec<(&'static str, Seen)>> = Mutex::new(Vec::new());

/// A thread-local whose destructor uses ksync (as a cache that flushes into a locked global
/// would). Thread-local destructors run in reverse order of registration, so one touched
/// *before* the thread's first ksync call is destroyed *after* ksync's own guard.
struct UsesKsyncOnExit(&'static str);

impl Drop for UsesKsyncOnExit {
    fn drop(&mut self) {
        // Twice: the descriptor must be stable within one destructor.
        let a = seen_now();
        let b = seen_now();
        assert_eq!(a, b);
        LOG.lock().unwrap().push((self.0, a));
    }
}

thread_local! {
    static FIRST: UsesKsyncOnExit = const { UsesKsyncOnExit("first") };
    static SECOND: UsesKsyncOnExit = const { UsesKsyncOnExit("second") };
}

fn run_thread(touch: &[&'static std::thread::LocalKey<UsesKsyncOnExit>]) -> Seen {
    let touch: Vec<_> = touch.to_vec();
    thread::spawn(move || {
        for key in touch {
            key.with(|_| {});
        }
        seen_now()
    })
    .join()
    .unwrap()
}

#[test]
fn teardown_gives_slot_back_and_never_shares_a_descriptor() {
    let _ = this_slot();
    let base = stats();

    // 1. One late destructor: it gets no slot and a descriptor of its own (an overflow one,
    //    armed with the second guard), never the one the thread had, which is already recycled.
    let life = run_thread(&[&FIRST]);
    let log = std::mem::take(&mut *LOG.lock().unwrap());
    assert_eq!(log.len(), 1);
    let (_, late) = log[0];
    assert!(life.slot.is_some());
    assert_eq!(late.slot, None, "this_slot() after teardown began");
    assert_eq!(late.task_slot, None);
    assert_ne!(
        late.task, life.task,
        "the recycled descriptor was reused by its old thread"
    );
    assert_ne!(late.serial, life.serial);
    let s1 = stats();
    assert_eq!(s1.slots_in_use, base.slots_in_use, "slot leaked");
    assert_eq!(s1.overflow_descriptors, base.overflow_descriptors + 1);
    assert_eq!(s1.retired_descriptors, 0);

    // 2. Again: the overflow descriptor was given back by the second guard and is reused.
    let _ = run_thread(&[&FIRST]);
    let log = std::mem::take(&mut *LOG.lock().unwrap());
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].1.task, late.task, "overflow descriptor not recycled");
    let s2 = stats();
    assert_eq!(s2.overflow_descriptors, s1.overflow_descriptors);
    assert_eq!(s2.slots_in_use, base.slots_in_use);

    // 3. Two late destructors: the second guard is spent after the first of them, so the last
    //    one gets a descriptor that is retired (never given back). Still no slot leak.
    let life = run_thread(&[&FIRST, &SECOND]);
    let log = std::mem::take(&mut *LOG.lock().unwrap());
    assert_eq!(log.len(), 2);
    // Reverse order of registration: SECOND was touched last, so it is destroyed first.
    assert_eq!(log[0].0, "second");
    assert_eq!(log[1].0, "first");
    let (a, b) = (log[0].1, log[1].1);
    for late in [a, b] {
        assert_eq!(late.slot, None);
        assert_ne!(late.task, life.task);
    }
    // The two destructors ran one after the other, and the first one's descriptor was given
    // back in between, so the second may get the same one: what must differ is the binding.
    assert_ne!(a.serial, b.serial);
    let s3 = stats();
    assert_eq!(s3.slots_in_use, base.slots_in_use);
    assert_eq!(s3.retired_descriptors, 1);

    // 4. A thread whose *first* ksync use is in a destructor: it registers normally (the
    //    guard can still be armed during teardown), so it gets a slot.
    thread::spawn(|| FIRST.with(|_| {})).join().unwrap();
    let log = std::mem::take(&mut *LOG.lock().unwrap());
    assert_eq!(log.len(), 1);
    assert!(
        log[0].1.slot.is_some(),
        "first use during teardown should get a slot"
    );
    assert_eq!(stats().slots_in_use, base.slots_in_use);
}
