//! The kernel's LKDTM refcount tests (`drivers/misc/lkdtm/refcount.c`), one test per row of the
//! matrix, plus a timing-free `REFCOUNT_TIMING`. Each asserts the final value, the returned
//! bool, and the saturation events reported (kind, value found, saturated or not).
//!
//! Events are captured per thread ([`report::capture`]), so the tests run in parallel; the
//! process-wide hook is the panicking one, so an event that escapes a capture fails the test.

use std::sync::Once;

use ksync_refcount::report::{self, Event};
use ksync_refcount::{Refcount, Saturation, REFCOUNT_MAX, REFCOUNT_SATURATED};

use Saturation::*;

/// `REFCOUNT_SATURATED` as `read()` returns it.
const SAT: u32 = REFCOUNT_SATURATED as u32;
const MAX: u32 = REFCOUNT_MAX as u32;

/// Any event outside a capture fails the test that raised it.
fn strict() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        report::set_hook(report::panicking_hook);
    });
}

/// Runs `f`, returning its result and the events it raised; checks they are all for `r`.
fn run<R>(r: &Refcount, f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    strict();
    let (out, events) = report::capture(f);
    for e in &events {
        assert!(e.is_for(r), "event for another refcount: {e}");
    }
    (out, events)
}

/// The kinds of `events`, in order.
fn kinds(events: &[Event]) -> Vec<Saturation> {
    events.iter().map(|e| e.kind).collect()
}

/// Asserts one saturating event of `kind`, raised on finding `old`.
fn assert_saturated_once(events: &[Event], kind: Saturation, old: i32) {
    assert_eq!(kinds(events), [kind], "{events:?}");
    assert_eq!(events[0].old, old);
    assert!(events[0].saturated);
}

/// `REFCOUNT_INC_OVERFLOW`: from MAX-1, a dec and an inc are fine; two more incs overflow.
#[test]
fn refcount_inc_overflow() {
    let r = Refcount::new(REFCOUNT_MAX - 1);
    let ((), events) = run(&r, || {
        r.dec();
        r.inc();
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), MAX - 1);

    let ((), events) = run(&r, || r.inc());
    assert!(events.is_empty(), "MAX itself is legal: {events:?}");
    assert_eq!(r.read(), MAX);

    let ((), events) = run(&r, || r.inc());
    assert_saturated_once(&events, AddOvf, REFCOUNT_MAX);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_ADD_OVERFLOW`: from MAX-1, four decs and an add of 4 are fine; another add of 4
/// overflows.
#[test]
fn refcount_add_overflow() {
    let r = Refcount::new(REFCOUNT_MAX - 1);
    let ((), events) = run(&r, || {
        for _ in 0..4 {
            r.dec();
        }
        r.add(4);
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), MAX - 1);

    let ((), events) = run(&r, || r.add(4));
    assert_saturated_once(&events, AddOvf, REFCOUNT_MAX - 1);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_INC_NOT_ZERO_OVERFLOW`: `inc_not_zero` at MAX succeeds and saturates.
#[test]
fn refcount_inc_not_zero_overflow() {
    let r = Refcount::new(REFCOUNT_MAX);
    let (ok, events) = run(&r, || r.inc_not_zero());
    assert!(ok);
    assert_saturated_once(&events, AddNotZeroOvf, REFCOUNT_MAX);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_ADD_NOT_ZERO_OVERFLOW`: `add_not_zero(6)` at MAX succeeds and saturates.
#[test]
fn refcount_add_not_zero_overflow() {
    let r = Refcount::new(REFCOUNT_MAX);
    let (ok, events) = run(&r, || r.add_not_zero(6));
    assert!(ok);
    assert_saturated_once(&events, AddNotZeroOvf, REFCOUNT_MAX);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_DEC_ZERO`: from 2, one dec is fine; the dec that reaches 0 is a leak and
/// saturates (staying at 0 would only earn a warning in LKDTM; the current kernel saturates).
#[test]
fn refcount_dec_zero() {
    let r = Refcount::new(2);
    let ((), events) = run(&r, || r.dec());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), 1);

    let ((), events) = run(&r, || r.dec());
    assert_saturated_once(&events, DecLeak, 1);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_DEC_NEGATIVE`: a dec on 0 saturates.
#[test]
fn refcount_dec_negative() {
    let r = Refcount::new(0);
    let ((), events) = run(&r, || r.dec());
    assert_saturated_once(&events, DecLeak, 0);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_DEC_AND_TEST_NEGATIVE`: `dec_and_test` on 0 returns false and saturates.
#[test]
fn refcount_dec_and_test_negative() {
    let r = Refcount::new(0);
    let (last, events) = run(&r, || r.dec_and_test());
    assert!(!last);
    assert_saturated_once(&events, SubUaf, 0);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_SUB_AND_TEST_NEGATIVE`: `sub_and_test(5)` on 3 returns false and saturates.
#[test]
fn refcount_sub_and_test_negative() {
    let r = Refcount::new(3);
    let (last, events) = run(&r, || r.sub_and_test(5));
    assert!(!last);
    assert_saturated_once(&events, SubUaf, 3);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_INC_ZERO`: `inc_not_zero` on 0 fails and leaves 0; then `inc` on 0 saturates.
#[test]
fn refcount_inc_zero() {
    let r = Refcount::new(0);
    let (ok, events) = run(&r, || r.inc_not_zero());
    assert!(!ok);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), 0);

    let ((), events) = run(&r, || r.inc());
    assert_saturated_once(&events, AddUaf, 0);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_ADD_ZERO`: `add_not_zero(3)` on 0 fails and leaves 0; then `add(3)` saturates.
#[test]
fn refcount_add_zero() {
    let r = Refcount::new(0);
    let (ok, events) = run(&r, || r.add_not_zero(3));
    assert!(!ok);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), 0);

    let ((), events) = run(&r, || r.add(3));
    assert_saturated_once(&events, AddUaf, 0);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_INC_SATURATED`.
#[test]
fn refcount_inc_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let ((), events) = run(&r, || r.inc());
    assert_saturated_once(&events, AddOvf, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_DEC_SATURATED`.
#[test]
fn refcount_dec_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let ((), events) = run(&r, || r.dec());
    assert_saturated_once(&events, DecLeak, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_ADD_SATURATED`.
#[test]
fn refcount_add_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let ((), events) = run(&r, || r.add(8));
    assert_saturated_once(&events, AddOvf, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_INC_NOT_ZERO_SATURATED`: true, still saturated.
#[test]
fn refcount_inc_not_zero_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let (ok, events) = run(&r, || r.inc_not_zero());
    assert!(ok);
    assert_saturated_once(&events, AddNotZeroOvf, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_ADD_NOT_ZERO_SATURATED`: true, still saturated.
#[test]
fn refcount_add_not_zero_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let (ok, events) = run(&r, || r.add_not_zero(7));
    assert!(ok);
    assert_saturated_once(&events, AddNotZeroOvf, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_DEC_AND_TEST_SATURATED`: false, still saturated.
#[test]
fn refcount_dec_and_test_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let (last, events) = run(&r, || r.dec_and_test());
    assert!(!last);
    assert_saturated_once(&events, SubUaf, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_SUB_AND_TEST_SATURATED`: false, still saturated.
#[test]
fn refcount_sub_and_test_saturated() {
    let r = Refcount::new(REFCOUNT_SATURATED);
    let (last, events) = run(&r, || r.sub_and_test(8));
    assert!(!last);
    assert_saturated_once(&events, SubUaf, REFCOUNT_SATURATED);
    assert_eq!(r.read(), SAT);
}

/// `REFCOUNT_TIMING`, without the timing: from 1, N increments then N `dec_and_test`s; only
/// the last one reaches zero. (The kernel uses N = INT_MAX - 1 under `perf stat`; the cost
/// comparison lives in `benches/refcount.rs`.)
#[test]
fn refcount_timing_reaches_zero_exactly_at_the_last_step() {
    const N: u32 = 1 << 20;
    let r = Refcount::new(1);
    let ((), events) = run(&r, || {
        for _ in 0..N {
            r.inc();
        }
        assert_eq!(r.read(), N + 1);
        for i in 0..N {
            assert!(!r.dec_and_test(), "reached zero early, at step {i}");
        }
        assert!(r.dec_and_test(), "the last step must reach zero");
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(r.read(), 0);
}

/// `ATOMIC_TIMING`'s counterpart on the plain `atomic_t`, for comparison: same result.
#[test]
fn atomic_timing_reaches_zero_exactly_at_the_last_step() {
    const N: i32 = 1 << 20;
    let a = ksync_atomic::Atomic::new(1);
    for _ in 0..N {
        a.inc();
    }
    for i in 0..N {
        assert!(!a.dec_and_test(), "reached zero early, at step {i}");
    }
    assert!(a.dec_and_test());
}
