//! `ksync trace mutex`: the mutex owner word through a scripted scenario.
//!
//! Runs `ksync_mutex::trace::scenario(n)`: a holder, waiters that queue and sleep (WAITERS), a
//! woken waiter that loses the race and sets HANDOFF, the unlock that hands the mutex over
//! (task|PICKUP), the pickup, and the last waiter clearing the flags. Each step is printed with
//! the owner word it left (`owner|W|H|P`, owner named by thread).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use ksync_mutex::trace::{self, Step};

/// The flags, as the kernel defines them.
const DIAGRAM: &str = "\
  kernel/locking/mutex.c, owner word = task | flags:
    WAITERS = 1   the wait list is not empty: unlock takes the slow path and wakes
    HANDOFF = 2   the first waiter lost a race after waking: the next unlock hands over
    PICKUP  = 4   handed over: only the named task may take it (clears PICKUP)
    fast lock: cmpxchg 0 -> current     fast unlock: cmpxchg current -> 0 (fails on any flag)";

/// Runs the scenario and renders it; returns the text and whether it looks like the kernel's
/// protocol (starts with the fast path; with two or more contenders sets WAITERS, then HANDOFF,
/// hands over with PICKUP and is picked up; ends unlocked with no flags).
pub fn render(contenders: usize) -> (String, bool) {
    let events = trace::scenario(contenders);
    let mut names = HashMap::new();
    for e in &events {
        let next = names.len();
        names.entry(e.serial).or_insert(next);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ksync trace mutex: {contenders} contender(s) on a ksync mutex, every owner-word step\n"
    );
    let _ = writeln!(out, "{DIAGRAM}\n");
    let _ = writeln!(
        out,
        "  {:>4}  {:<4} {:<12} {:<66} owner|flags",
        "step", "who", "event", "what"
    );
    let steps: Vec<&trace::Event> = trace::transitions(&events).collect();
    for (i, e) in steps.iter().enumerate() {
        // Name the owner by thread (T0, T1, ...) rather than by descriptor serial. Only the
        // owner's own `#serial` is renamed: a text replace over every serial would also hit
        // `#1` inside `#12`.
        let state = e.state();
        let mut word = state.to_string();
        if let Some(task) = state.owner() {
            if let Some(t) = names.get(&task.serial()) {
                word = word.replacen(&format!("#{}", task.serial()), &format!("T{t}"), 1);
            }
        }
        let _ = writeln!(
            out,
            "  {:>4}  T{:<3} {:<12} {:<66} {}",
            i + 1,
            names[&e.serial],
            format!("{:?}", e.step),
            e.step.describe(),
            word
        );
    }
    let ok = steps.first().map(|e| e.step) == Some(Step::Fast)
        && [Step::Waiters, Step::SetHandoff, Step::Handoff, Step::Pickup]
            .iter()
            .all(|want| contenders == 1 || steps.iter().any(|e| e.step == *want))
        && steps.last().is_some_and(|e| e.word == 0);
    let _ = writeln!(
        out,
        "\n  {} steps: {}",
        steps.len(),
        if ok && contenders > 1 {
            "WAITERS, HANDOFF, PICKUP as in the kernel; ended unlocked with no flag left set"
        } else if ok {
            "ended unlocked with no flag left set"
        } else {
            "UNEXPECTED: see the steps above"
        }
    );
    (out, ok)
}

/// Runs `ksync trace mutex`.
pub fn run(contenders: usize) -> ExitCode {
    let (text, ok) = render(contenders);
    print!("{text}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
