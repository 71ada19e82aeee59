//! `ksync trace`: the lock word through a scripted contention scenario.
//!
//! `ksync trace qspinlock --contenders N` runs `ksync_spinlock::trace::scenario_native(N)`: contender
//! T0 takes the lock on the fast path, T1 arrives while it is held and takes the pending lane,
//! T2.. queue one after the other, then the lock passes down the line. Every step is printed with
//! the `(tail, pending, locked)` triple it left, next to the kernel's state diagram, and the
//! sequence is checked against the diagram. The script waits for each state before the next
//! step, so the output is the same on every run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use ksync_spinlock::qspinlock::LockState;
use ksync_spinlock::trace::{self, Event, Step};

/// The locks whose word can be traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceLock {
    /// The queued spinlock's (tail, pending, locked) word
    Qspinlock,
    /// The mutex's owner word and its flags
    Mutex,
}

/// Options of `ksync trace`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lock whose word to trace
    #[arg(value_enum)]
    pub lock: TraceLock,

    /// Threads contending for the lock in the scenario
    #[arg(long, short, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub contenders: u32,
}

/// The kernel's diagram, as printed next to the trace.
const DIAGRAM: &str = "\
  kernel/locking/qspinlock.c, (tail, pending, locked):
    fast path        (0,0,0) -> (0,0,1)
    pending lane     (0,0,1) -> (0,1,1) -> (0,1,0) -> (0,0,1)
    queue            (n,x,y) -> (n,0,0) -> (0,0,1)     last in queue clears the tail
                     (*,x,y) -> (*,0,0) -> (*,0,1)     with a successor: set_locked, next->locked = 1
    unlock           (*,*,1) -> (*,*,0)";

/// The steps the scripted qspinlock scenario must take with `n` contenders, in order.
pub fn expected_qspinlock_steps(n: usize) -> Vec<Step> {
    let mut steps = vec![Step::Fast];
    if n >= 2 {
        steps.push(Step::Pending);
        steps.extend((2..n).map(|_| Step::Queued { idx: 0 }));
        steps.extend([Step::Unlock, Step::PendingLocked, Step::Unlock]);
        for k in 2..n {
            steps.push(if k + 1 == n {
                Step::ClaimedLast
            } else {
                Step::SetLocked
            });
            steps.push(Step::Unlock);
        }
    } else {
        steps.push(Step::Unlock);
    }
    steps
}

/// Renders a triple with tails named by contender (`T2:0`) rather than by slot.
fn triple(state: LockState, names: &HashMap<usize, usize>) -> String {
    let tail = match state.tail_slot {
        None => "0".to_string(),
        Some(slot) => match names.get(&slot) {
            Some(t) => format!("T{t}:{}", state.tail_idx),
            None => format!("slot{slot}:{}", state.tail_idx),
        },
    };
    format!("({tail},{},{})", state.pending as u8, state.locked)
}

/// Runs the qspinlock scenario and renders it. Returns the text and whether the transitions
/// followed the kernel's diagram.
pub fn qspinlock(contenders: usize) -> (String, bool) {
    let events: Vec<Event> = trace::scenario_native(contenders);
    // Contenders act in order (T0 fast path, T1 pending, T2.. queue): name slots by first act.
    let mut names = HashMap::new();
    for e in &events {
        if let Some(slot) = e.slot {
            let next = names.len();
            names.entry(slot).or_insert(next);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ksync trace qspinlock: {contenders} contender(s) on a native qspinlock, every step\n"
    );
    let _ = writeln!(out, "{DIAGRAM}\n");
    let _ = writeln!(out, "  {:>4}  {:<4} {:<58} word", "step", "who", "what");
    for (i, e) in events.iter().enumerate() {
        let who = e
            .slot
            .and_then(|s| names.get(&s))
            .map(|t| format!("T{t}"))
            .unwrap_or_else(|| "?".into());
        let arrow = if trace::transitions(std::slice::from_ref(e)).next().is_some() {
            "->"
        } else {
            "  "
        };
        let _ = writeln!(
            out,
            "  {:>4}  {:<4} {:<58} {arrow} {}",
            i + 1,
            who,
            e.step.describe(),
            triple(e.state(), &names)
        );
    }
    let got: Vec<Step> = trace::transitions(&events).map(|e| e.step).collect();
    let ok = got == expected_qspinlock_steps(contenders);
    let _ = writeln!(
        out,
        "\n  {} transitions: {}",
        got.len(),
        if ok {
            "the word followed the kernel's state diagram"
        } else {
            "MISMATCH with the kernel's state diagram"
        }
    );
    (out, ok)
}

/// Runs `ksync trace`.
pub fn run(args: &Args) -> ExitCode {
    match args.lock {
        TraceLock::Qspinlock => {
            let (text, ok) = qspinlock(args.contenders as usize);
            print!("{text}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        TraceLock::Mutex => crate::trace_mutex::run(args.contenders as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_steps_count_every_transition() {
        assert_eq!(expected_qspinlock_steps(1), [Step::Fast, Step::Unlock]);
        // T0: fast + unlock; T1: pending + pending->locked + unlock; each queued contender:
        // queued + claim (set_locked or last) + unlock. 2 + 3 + 3 (n - 2) = 3n - 1.
        for n in 2..8 {
            assert_eq!(expected_qspinlock_steps(n).len(), 3 * n - 1);
        }
    }

    #[test]
    fn scenario_matches_the_diagram() {
        for n in 1..=5 {
            let (text, ok) = qspinlock(n);
            assert!(ok, "{text}");
        }
    }
}
