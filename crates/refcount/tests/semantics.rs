//! The rest of `refcount_t`'s exact semantics, beyond the LKDTM matrix: the `*_old` forms, the
//! acquire and limited forms, `dec_if_one`, `dec_not_one`, `dec_and_lock`, `set`/`read`, and
//! the corner cases the kernel's order of evaluation produces.

use std::cell::Cell;
use std::sync::Once;

use ksync_refcount::report::{self, Event};
use ksync_refcount::{Refcount, Saturation, REFCOUNT_MAX, REFCOUNT_SATURATED};
use ksync_spinlock::SpinLock;

use Saturation::*;

const SAT: u32 = REFCOUNT_SATURATED as u32;

/// Any event outside a capture fails the test that raised it.
fn run<R>(r: &Refcount, f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        report::set_hook(report::panicking_hook);
    });
    let (out, events) = report::capture(f);
    for e in &events {
        assert!(e.is_for(r), "event for another refcount: {e}");
    }
    (out, events)
}

fn kinds(events: &[Event]) -> Vec<Saturation> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn constants_are_the_kernels() {
    assert_eq!(REFCOUNT_MAX, 0x7fff_ffff);
    assert_eq!(REFCOUNT_SATURATED, -0x4000_0000);
    assert_eq!(SAT, 0xc000_0000);
    // Saturated sits 2^30 from zero and 2^30 from the top of the legal range, going either way.
    assert_eq!(0i64 - REFCOUNT_SATURATED as i64, 1 << 30);
    assert_eq!(REFCOUNT_SATURATED as i64 - i32::MIN as i64, 1 << 30);
}

#[test]
fn set_read_and_debug() {
    let r = Refcount::new(0);
    r.set(5);
    assert_eq!(r.read(), 5);
    r.set_release(7);
    assert_eq!(r.read(), 7);
    assert_eq!(format!("{r:?}"), "Refcount(7)");
    r.set(-1);
    assert_eq!(
        r.read(),
        u32::MAX,
        "read() is unsigned, like refcount_read()"
    );
    r.set(REFCOUNT_SATURATED);
    assert_eq!(format!("{r:?}"), "Refcount(saturated)");
    assert_eq!(r.as_atomic().read(), REFCOUNT_SATURATED);
}

#[test]
fn old_forms_report_the_value_found() {
    let r = Refcount::new(3);
    let (olds, events) = run(&r, || {
        [
            r.add_old(2),                    // 3 -> 5
            r.inc_old(),                     // 5 -> 6
            r.dec_old(),                     // 6 -> 5
            r.add_not_zero_old(3).1,         // 5 -> 8
            r.inc_not_zero_old().1,          // 8 -> 9
            r.add_not_zero_acquire_old(1).1, // 9 -> 10
            r.inc_not_zero_acquire_old().1,  // 10 -> 11
            r.sub_and_test_old(4).1,         // 11 -> 7
            r.dec_and_test_old().1,          // 7 -> 6
        ]
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(olds, [3, 5, 6, 5, 8, 9, 10, 11, 7]);
    assert_eq!(r.read(), 6);
    assert_eq!(r.sub_and_test_old(6), (true, 6));
    assert_eq!(r.read(), 0);
    assert_eq!(r.inc_not_zero_old(), (false, 0));
    assert_eq!(r.add_not_zero_acquire_old(1), (false, 0));
}

#[test]
fn sub_and_test_is_true_only_for_old_equal_to_i_and_positive() {
    let r = Refcount::new(5);
    assert!(!r.sub_and_test(2));
    assert_eq!(r.read(), 3);
    assert!(r.sub_and_test(3));
    assert_eq!(r.read(), 0);

    // old == i == 0: not positive, so not "the last reference"; 0 was already dead: SubUaf.
    let (last, events) = run(&r, || r.sub_and_test(0));
    assert!(!last);
    assert_eq!(kinds(&events), [SubUaf]);
    assert_eq!(r.read(), SAT);
}

#[test]
fn dec_and_test_from_one_and_from_more() {
    let r = Refcount::new(2);
    let (lasts, events) = run(&r, || [r.dec_and_test(), r.dec_and_test()]);
    assert_eq!(lasts, [false, true]);
    assert!(events.is_empty());
    assert_eq!(r.read(), 0);
}

#[test]
fn add_overflow_from_a_legal_count_reports_the_old_value() {
    let r = Refcount::new(REFCOUNT_MAX - 2);
    let ((), events) = run(&r, || r.add(3));
    assert_eq!(kinds(&events), [AddOvf]);
    assert_eq!(events[0].old, REFCOUNT_MAX - 2);
    assert_eq!(r.read(), SAT);
}

#[test]
fn negative_but_not_saturated_counts_are_bad_too() {
    for start in [-1, i32::MIN, REFCOUNT_SATURATED + 5] {
        let r = Refcount::new(start);
        let ((), events) = run(&r, || r.inc());
        assert_eq!(kinds(&events), [AddOvf], "inc from {start}");
        assert_eq!(r.read(), SAT);

        let r = Refcount::new(start);
        let (last, events) = run(&r, || r.dec_and_test());
        assert!(!last);
        assert_eq!(kinds(&events), [SubUaf], "dec_and_test from {start}");
        assert_eq!(r.read(), SAT);
    }
}

/// The acquire forms are the kernel's limited form with `limit = REFCOUNT_MAX`: the limit test
/// (`i > limit - old`, wrapping) makes them refuse at MAX and on every negative count, without
/// an event, where the relaxed forms add and saturate.
#[test]
fn acquire_forms_refuse_instead_of_saturating() {
    let r = Refcount::new(REFCOUNT_MAX);
    let (got, events) = run(&r, || (r.inc_not_zero_acquire(), r.add_not_zero_acquire(2)));
    assert_eq!(got, (false, false));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), REFCOUNT_MAX as u32);

    let r = Refcount::new(REFCOUNT_MAX - 3);
    assert_eq!(
        r.add_not_zero_acquire_old(4),
        (false, REFCOUNT_MAX - 3),
        "would exceed MAX"
    );
    assert_eq!(r.add_not_zero_acquire_old(3), (true, REFCOUNT_MAX - 3));
    assert_eq!(r.read(), REFCOUNT_MAX as u32);

    for start in [REFCOUNT_SATURATED, -1, i32::MIN] {
        let r = Refcount::new(start);
        let (got, events) = run(&r, || r.inc_not_zero_acquire_old());
        assert_eq!(got, (false, start));
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(r.read(), start as u32, "unchanged");
    }

    // The relaxed form on the same inputs adds and saturates.
    let r = Refcount::new(REFCOUNT_MAX);
    let (ok, events) = run(&r, || r.inc_not_zero());
    assert!(ok);
    assert_eq!(kinds(&events), [AddNotZeroOvf]);
}

#[test]
fn limited_acquire_respects_the_limit() {
    let r = Refcount::new(9);
    assert_eq!(r.inc_not_zero_limited_acquire_old(10), (true, 9));
    assert_eq!(r.inc_not_zero_limited_acquire_old(10), (false, 10));
    assert_eq!(r.read(), 10);
    assert_eq!(r.add_not_zero_limited_acquire_old(5, 14), (false, 10));
    assert_eq!(r.add_not_zero_limited_acquire_old(4, 14), (true, 10));
    assert_eq!(r.read(), 14);
    r.set(0);
    assert_eq!(r.inc_not_zero_limited_acquire_old(10), (false, 0));
    assert_eq!(r.read(), 0);
}

#[test]
fn dec_if_one_only_takes_one_to_zero() {
    for (start, expect) in [
        (1, true),
        (2, false),
        (0, false),
        (REFCOUNT_SATURATED, false),
    ] {
        let r = Refcount::new(start);
        let (ok, events) = run(&r, || r.dec_if_one());
        assert_eq!(ok, expect, "from {start}");
        assert!(events.is_empty(), "dec_if_one never warns: {events:?}");
        assert_eq!(r.read(), if ok { 0 } else { start as u32 });
    }
}

#[test]
fn dec_not_one() {
    // Decrements anything but 1 and SATURATED.
    let r = Refcount::new(5);
    assert!(r.dec_not_one());
    assert_eq!(r.read(), 4);

    let r = Refcount::new(1);
    let (ok, events) = run(&r, || r.dec_not_one());
    assert!(!ok, "1 is left for the caller to take to 0 under its lock");
    assert!(events.is_empty());
    assert_eq!(r.read(), 1);

    // Saturated: true, unchanged, silent.
    let r = Refcount::new(REFCOUNT_SATURATED);
    let (ok, events) = run(&r, || r.dec_not_one());
    assert!(ok);
    assert!(events.is_empty());
    assert_eq!(r.read(), SAT);

    // Zero: true, unchanged, and an underflow warning that does not saturate.
    let r = Refcount::new(0);
    let (ok, events) = run(&r, || r.dec_not_one());
    assert!(ok);
    assert_eq!(kinds(&events), [SubUaf]);
    assert!(!events[0].saturated);
    assert_eq!(events[0].old, 0);
    assert_eq!(r.read(), 0);

    // Other negative values are decremented (compared as unsigned, as in the kernel).
    let r = Refcount::new(-5);
    assert!(r.dec_not_one());
    assert_eq!(r.read(), (-6i32) as u32);
}

#[test]
fn dec_and_lock_takes_the_lock_only_for_the_last_reference() {
    let table = SpinLock::new(vec!["a"]);
    let r = Refcount::new(3);
    let locked = Cell::new(0);
    let take = || {
        locked.set(locked.get() + 1);
        table.lock()
    };
    assert!(r.dec_and_lock_with(take).is_none());
    assert!(r.dec_and_lock_with(take).is_none());
    assert_eq!(locked.get(), 0, "above one, the lock is never touched");
    assert_eq!(r.read(), 1);

    let guard = r.dec_and_lock_with(take).expect("the last reference");
    assert_eq!(locked.get(), 1);
    assert!(table.is_locked());
    assert_eq!(r.read(), 0);
    drop(guard);
    assert!(!table.is_locked());

    // The lock_api form.
    let r = Refcount::new(1);
    let mut guard = r.dec_and_lock(&table).expect("the last reference");
    guard.clear();
    drop(guard);
    assert!(table.lock().is_empty());
}

/// `refcount_dec_and_lock_irqsave`: the same over the signal-blocking spinlock.
#[cfg(unix)]
#[test]
fn dec_and_lock_irqsave() {
    let lock = ksync_spinlock::SpinLockIrq::new(0u32);
    let r = Refcount::new(2);
    assert!(r.dec_and_lock(&lock).is_none());
    let mut guard = r.dec_and_lock(&lock).expect("the last reference");
    *guard += 1;
    drop(guard);
    assert_eq!(*lock.lock(), 1);
    assert_eq!(r.read(), 0);
}

/// Between `dec_not_one` seeing 1 and the lock being taken, a lookup under the lock took a
/// reference: the final `dec_and_test` then does not reach zero, and the lock is released.
#[test]
fn dec_and_lock_backs_off_when_a_lookup_got_in_first() {
    let table = parking_lot::Mutex::new(());
    let r = Refcount::new(1);
    let out = r.dec_and_lock_with(|| {
        let g = table.lock();
        r.inc(); // the lookup, which held the lock just before us
        g
    });
    assert!(out.is_none());
    assert!(!table.is_locked(), "the guard was dropped");
    assert_eq!(r.read(), 1, "the lookup's reference remains");
}

#[test]
fn events_carry_the_callers_location() {
    let r = Refcount::new(0);
    let line = line!() + 1;
    let ((), events) = run(&r, || r.inc());
    assert_eq!(events[0].location.file(), file!());
    assert_eq!(events[0].location.line(), line);
    let text = events[0].to_string();
    assert!(
        text.starts_with("refcount_t: addition on 0; use-after-free."),
        "{text}"
    );
}

#[test]
fn concurrent_incs_and_decs_balance() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let r = Refcount::new(1);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    r.inc();
                    r.add(2);
                    assert!(!r.sub_and_test(2));
                    r.dec();
                }
            });
        }
    });
    assert_eq!(r.read(), 1);
    assert!(r.dec_and_test());
}
