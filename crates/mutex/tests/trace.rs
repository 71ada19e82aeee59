//! The trace hooks: the scripted scenario walks the owner word through the kernel's states.
#![cfg(not(loom))]

use ksync_mutex::trace::{self, Step};
use ksync_mutex::Mutex;

// This crate's tests build with the `trace` feature (its self dev-dependency); without it
// every test here would pass vacuously.
static_assertions::const_assert!(trace::ENABLED);

#[test]
fn fast_paths_leave_one_event_each() {
    let m = Mutex::new(0);
    let (_, events) = trace::record(|| *m.lock() += 1);
    // Only this mutex's events (tests run in parallel).
    // SAFETY: only the address of the raw mutex is taken.
    let addr = unsafe { m.raw() } as *const ksync_mutex::RawMutex as usize;
    let events: Vec<_> = events.into_iter().filter(|e| e.lock == addr).collect();
    let steps: Vec<_> = events.iter().map(|e| e.step).collect();
    assert_eq!(steps, [Step::Fast, Step::Unlock]);
    assert_eq!(
        events[0].state().owner().map(|t| t.serial()),
        Some(ksync_percpu::current().serial())
    );
    assert_eq!(events[1].word, 0);
}

#[test]
fn scenario_walks_the_owner_word() {
    let events = trace::scenario(3);
    let steps: Vec<(Step, String)> = trace::transitions(&events)
        .map(|e| (e.step, e.state().to_string()))
        .collect();
    let shape: Vec<Step> = steps.iter().map(|(s, _)| *s).collect();
    let text = format!("{steps:?}");
    // Contender 0 steals back the mutex it just released (inside the release, before contender
    // 1 is woken), the woken contender 1 loses and asks for a handoff, and gets it.
    assert_eq!(
        shape,
        [
            Step::Fast,
            Step::Waiters,
            Step::Release,
            Step::Took,
            Step::SetHandoff,
            Step::Handoff,
            Step::Pickup,
            Step::Release,
            Step::Took,
            Step::ClearFlags,
            Step::Unlock,
        ],
        "{text}"
    );
    // Compare descriptors by address (the owner field), not by serial: the contenders have
    // exited, and a descriptor's serial changes when it is recycled.
    let task = |w: isize| w & !ksync_mutex::MUTEX_FLAGS;
    let fast = events[0].word;
    let handoff = trace::transitions(&events)
        .find(|e| e.step == Step::Handoff)
        .expect("a handoff");
    assert_ne!(task(handoff.word), task(fast), "{text}");
    assert!(
        handoff.state().pickup() && handoff.state().waiters(),
        "{text}"
    );
    // PICKUP is taken by the task the handoff named, and clears only PICKUP.
    let pickup = events
        .iter()
        .find(|e| e.step == Step::Pickup)
        .expect("a pickup");
    assert_eq!(
        pickup.word,
        handoff.word & !ksync_mutex::MUTEX_FLAG_PICKUP,
        "{text}"
    );
    // The last waiter out clears the flags once, and the mutex ends free.
    assert_eq!(
        shape.iter().filter(|s| **s == Step::ClearFlags).count(),
        1,
        "{text}"
    );
    assert_eq!(
        steps.last().map(|(s, w)| (*s, w.as_str())),
        Some((Step::Unlock, "0")),
        "{text}"
    );
}
