//! State-trace tests: in scripted 1-, 2-, 3- and 4-contender scenarios, the qspinlock word moves
//! exactly along the kernel's state diagram.
#![cfg(not(loom))]

use ksync_spinlock::trace::{self, Event, Step};

/// (tail present, pending, locked), the diagram's triple with the tail reduced to n/0.
fn triple(e: &Event) -> Triple {
    let s = e.state();
    (
        if s.tail_slot.is_some() { 'n' } else { '0' },
        s.pending as u8,
        s.locked,
    )
}

/// The diagram's triple, with the tail reduced to `n`/`0`.
type Triple = (char, u8, u8);

// The tests build ksync-spinlock with the trace feature (its dev-dependency on itself).
static_assertions::const_assert!(trace::ENABLED);

fn transitions(contenders: usize) -> (Vec<Step>, Vec<Triple>, Vec<Event>) {
    let events = trace::scenario_native(contenders);
    let t: Vec<&Event> = trace::transitions(&events).collect();
    (
        t.iter().map(|e| e.step).collect(),
        t.iter().map(|e| triple(e)).collect(),
        events,
    )
}

#[test]
fn one_contender_takes_the_fast_path() {
    let (steps, triples, _) = transitions(1);
    assert_eq!(steps, [Step::Fast, Step::Unlock]);
    // (0,0,0) -> (0,0,1) -> (0,0,0)
    assert_eq!(triples, [('0', 0, 1), ('0', 0, 0)]);
}

#[test]
fn two_contenders_use_the_pending_lane() {
    let (steps, triples, _) = transitions(2);
    assert_eq!(
        steps,
        [
            Step::Fast,
            Step::Pending,
            Step::Unlock,
            Step::PendingLocked,
            Step::Unlock
        ]
    );
    // (0,0,1) -> (0,1,1) -> (0,1,0) -> (0,0,1) -> (0,0,0)
    assert_eq!(
        triples,
        [
            ('0', 0, 1),
            ('0', 1, 1),
            ('0', 1, 0),
            ('0', 0, 1),
            ('0', 0, 0)
        ]
    );
}

#[test]
fn three_contenders_queue_and_the_last_clears_the_tail() {
    let (steps, triples, events) = transitions(3);
    assert_eq!(
        steps,
        [
            Step::Fast,
            Step::Pending,
            Step::Queued { idx: 0 },
            Step::Unlock,
            Step::PendingLocked,
            Step::Unlock,
            Step::ClaimedLast,
            Step::Unlock,
        ]
    );
    // Queue path: (n,1,1) -> (n,1,0) -> (n,0,1) -> (n,0,0) -> (0,0,1) -> (0,0,0)
    assert_eq!(
        triples,
        [
            ('0', 0, 1),
            ('0', 1, 1),
            ('n', 1, 1),
            ('n', 1, 0),
            ('n', 0, 1),
            ('n', 0, 0),
            ('0', 0, 1),
            ('0', 0, 0),
        ]
    );
    // The queued contender became head with no predecessor, and the tail it published is its own.
    let queued = events
        .iter()
        .find(|e| matches!(e.step, Step::Queued { .. }))
        .unwrap();
    assert_eq!(queued.state().tail_slot, queued.slot);
    assert!(events
        .iter()
        .any(|e| e.step == Step::Head && e.slot == queued.slot));
}

#[test]
fn four_contenders_hand_the_queue_head_on() {
    let (steps, triples, events) = transitions(4);
    assert_eq!(
        steps,
        [
            Step::Fast,
            Step::Pending,
            Step::Queued { idx: 0 },
            Step::Queued { idx: 0 },
            Step::Unlock,
            Step::PendingLocked,
            Step::Unlock,
            Step::SetLocked,
            Step::Unlock,
            Step::ClaimedLast,
            Step::Unlock,
        ]
    );
    // The first queued owns the lock with a successor behind it: set_locked keeps the tail,
    // (n,0,0) -> (n,0,1); then the successor clears it.
    assert_eq!(
        triples,
        [
            ('0', 0, 1),
            ('0', 1, 1),
            ('n', 1, 1),
            ('n', 1, 1),
            ('n', 1, 0),
            ('n', 0, 1),
            ('n', 0, 0),
            ('n', 0, 1),
            ('n', 0, 0),
            ('0', 0, 1),
            ('0', 0, 0),
        ]
    );
    // The first queued handed the head on, and only then did the second become head.
    let handoff = events
        .iter()
        .position(|e| e.step == Step::HandedOff)
        .expect("a handoff");
    let giver = events[handoff].slot;
    let heads: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.step == Step::Head)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        heads.len(),
        2,
        "two queued contenders, two heads: {events:?}"
    );
    assert_eq!(
        events[heads[0]].slot, giver,
        "the first head is the one that hands off"
    );
    assert!(heads[0] < handoff && handoff < heads[1], "{events:?}");
    assert_ne!(events[heads[1]].slot, giver);
}
