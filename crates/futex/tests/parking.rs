//! The futex contract against the parking_lot_core backend, which the library uses on
//! non-Linux targets. Its source is compiled in here, so Linux CI tests it too.
#![cfg(not(loom))]

use ksync_futex::{FutexWord, WaitResult};

#[path = "../src/parking.rs"]
mod parking;

mod common;

use common::Backend;
use ksync_barrier::sync::atomic::AtomicU32;

const B: Backend = Backend {
    wait: parking::wait::<AtomicU32>,
    wake_one: |w: &AtomicU32| parking::wake(w, 1) != 0,
    wake_all: |w: &AtomicU32| parking::wake(w, i32::MAX as usize),
};

// `WaitResult` and `FutexWord` are what `parking.rs` names through `super::`.
const _: Option<WaitResult> = None;
const _: Option<&dyn FutexWord> = None;

#[test]
fn mismatch_returns_at_once() {
    common::mismatch_returns_at_once(B);
}

#[test]
fn timeout_is_honoured() {
    common::timeout_is_honoured(B);
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
