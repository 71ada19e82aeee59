//! The futex contract against this platform's backend (the public API).
#![cfg(not(loom))]

mod common;

use common::Backend;

const B: Backend = Backend {
    wait: ksync_futex::wait,
    wake_one: ksync_futex::wake_one,
    wake_all: ksync_futex::wake_all,
};

#[test]
fn backend_is_the_platform_one() {
    if cfg!(target_os = "linux") {
        assert_eq!(ksync_futex::BACKEND, "linux-futex");
    } else {
        assert_eq!(ksync_futex::BACKEND, "parking_lot_core");
    }
}

#[test]
fn mismatch_returns_at_once() {
    common::mismatch_returns_at_once(B);
}

#[test]
fn timeout_is_honoured() {
    common::timeout_is_honoured(B);
}

#[test]
fn wait_until_deadlines() {
    use ksync_barrier::sync::atomic::AtomicU32;
    use ksync_futex::{wait_until, WaitResult};
    use std::time::{Duration, Instant};

    let w = AtomicU32::new(3);
    // A deadline in the past still checks the value first.
    let past = Instant::now();
    assert_eq!(wait_until(&w, 2, Some(past)), WaitResult::Mismatch);
    assert_eq!(wait_until(&w, 3, Some(past)), WaitResult::TimedOut);
    let deadline = Instant::now() + Duration::from_millis(10);
    loop {
        match wait_until(&w, 3, Some(deadline)) {
            WaitResult::TimedOut => break,
            WaitResult::Woken => continue, // spurious: allowed
            WaitResult::Mismatch => panic!("the word never changed"),
        }
    }
    assert!(Instant::now() >= deadline);
    assert_eq!(wait_until(&w, 4, None), WaitResult::Mismatch);
}

#[test]
fn wake_without_waiters() {
    common::wake_without_waiters(B);
}

#[test]
fn handshake_loses_no_wakeup() {
    for _ in 0..5 {
        common::handshake_loses_no_wakeup(B, 5_000);
    }
}

#[test]
fn wake_all_releases_every_waiter() {
    common::wake_all_releases_every_waiter(B, 8);
}

#[test]
fn wake_one_reports_a_sleeper() {
    common::wake_one_reports_a_sleeper(B);
}

#[test]
fn wakes_are_per_word() {
    common::wakes_are_per_word(B);
}

#[test]
fn wait_result_helpers() {
    use ksync_futex::WaitResult::*;
    assert!(Woken.is_woken() && !Woken.is_mismatch() && !Woken.is_timed_out());
    assert!(Mismatch.is_mismatch() && !Mismatch.is_woken());
    assert!(TimedOut.is_timed_out() && !TimedOut.is_woken());
}
