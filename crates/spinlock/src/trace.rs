//! Trace hooks: every step a qspinlock takes, with the lock word it left behind.
//!
//! With the `trace` feature, each step of the fast path, the pending lane, the queue and the
//! paravirt sleep path reports an [`Event`] while a recording is running ([`record`]); the
//! state-trace tests and `ksync trace qspinlock` use them to show the `(tail, pending, locked)`
//! triple moving along the kernel's diagram. Without the feature the hooks expand to nothing:
//! their arguments are type-checked but never evaluated.
//!
//! The word reported is the value right after the step as the acting thread knows it: exact for
//! read-modify-writes (computed from the old value), a fresh read for plain stores (exact when
//! nothing else moves at the same time, as in a scripted scenario).

use crate::qspinlock::LockState;

/// One step of the lock algorithms, named after the kernel's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Fast path: CAS (0,0,0) -> (0,0,1).
    Fast,
    /// `fetch_set_pending`: we are the pending waiter, (0,0,*) -> (0,1,*).
    Pending,
    /// Contention seen after setting pending: undo our pending bit and queue.
    PendingUndo,
    /// `clear_pending_set_locked`: (*,1,0) -> (*,0,1).
    PendingLocked,
    /// The trylock after initialising the node succeeded (paravirt: this includes stealing).
    TrylockAfterNode,
    /// `xchg_tail` published our node as the tail, at this nesting index.
    Queued {
        /// The nesting level (0 = thread, 1+ = signal handlers).
        idx: u8,
    },
    /// Our predecessor passed us the queue head.
    Head,
    /// Last in the queue: CAS (n,0,0) -> (0,0,1) cleared the tail.
    ClaimedLast,
    /// `set_locked`: (*,*,0) -> (*,0,1) with a successor queued behind.
    SetLocked,
    /// `next->locked = 1`: the queue head passes to the successor.
    HandedOff,
    /// No node available (nesting > 4 or no thread slot): spinning on trylock.
    Fallback,
    /// Unlock: (*,*,1) -> (*,*,0).
    Unlock,
    /// Paravirt: the lock was stolen while waiters are queued.
    Stole,
    /// Paravirt: a queued waiter goes to sleep on its node.
    Halted,
    /// Paravirt: the queue head took the lock.
    HeadLocked,
    /// Paravirt: the queue head marked the lock SLOW and sleeps on the lock word.
    HeadSleeps,
    /// Paravirt: the successor sleeps; its wake is deferred to our unlock (lock marked KICK).
    KickDeferred,
    /// Paravirt: the slow unlock released a SLOW lock and woke the sleeper.
    UnlockSlow,
}

impl Step {
    /// A one-line description, in the kernel's terms.
    pub fn describe(&self) -> &'static str {
        match self {
            Step::Fast => "fast path: cmpxchg 0 -> locked",
            Step::Pending => "pending lane: set pending, spin on the locked byte",
            Step::PendingUndo => "contention after setting pending: undo it, go queue",
            Step::PendingLocked => "clear_pending_set_locked: the pender owns the lock",
            Step::TrylockAfterNode => "trylock after node init succeeded",
            Step::Queued { .. } => "xchg_tail: queued",
            Step::Head => "queue head: waits for locked and pending to clear",
            Step::ClaimedLast => "last in queue: cmpxchg clears the tail, owns the lock",
            Step::SetLocked => "set_locked: owns the lock, successor queued",
            Step::HandedOff => "next->locked = 1: handed the queue head on",
            Step::Fallback => "no node free: spinning on trylock",
            Step::Unlock => "unlock: locked byte -> 0",
            Step::Stole => "paravirt: stole the lock from the queue",
            Step::Halted => "paravirt: queued waiter halts (futex wait on its node)",
            Step::HeadLocked => "paravirt: queue head took the lock",
            Step::HeadSleeps => "paravirt: head marks SLOW, futex wait on the lock word",
            Step::KickDeferred => "paravirt: successor asleep, its wake deferred to unlock",
            Step::UnlockSlow => "paravirt: slow unlock, release and futex wake",
        }
    }
}

/// One recorded step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Address of the lock (or, for a node's own step, of the node).
    pub lock: usize,
    /// The acting thread's slot (its "CPU"), if it has one.
    pub slot: Option<usize>,
    /// What happened.
    pub step: Step,
    /// The lock word right after the step, as the acting thread knows it.
    pub word: u32,
}

impl Event {
    /// The `(tail, pending, locked)` triple of [`Event::word`].
    pub fn state(&self) -> LockState {
        LockState::from_word(self.word)
    }
}

/// Whether this build records events (the `trace` feature).
pub const ENABLED: bool = cfg!(feature = "trace");

#[cfg(feature = "trace")]
mod imp {
    use super::{Event, Step};
    use ksync_percpu::trace::Recorder;

    static EVENTS: Recorder<Event> = Recorder::new();

    #[inline(always)]
    pub(crate) fn recording() -> bool {
        EVENTS.recording()
    }

    pub(crate) fn record(lock: usize, step: Step, word: u32) {
        if recording() {
            let slot = ksync_percpu::this_slot();
            EVENTS.push(Event {
                lock,
                slot,
                step,
                word,
            });
        }
    }

    pub(crate) fn record_while<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
        EVENTS.record(f)
    }
}

/// Runs `f` while recording every step of every ksync spinlock, and returns the events in the
/// order they were recorded. Recordings are serialised process-wide. Without the `trace`
/// feature, no event is ever recorded.
///
/// ```
/// use ksync_spinlock::{trace, QSpinLockNative};
/// let lock = QSpinLockNative::new(());
/// let (_, events) = trace::record(|| drop(lock.lock()));
/// if trace::ENABLED {
///     assert_eq!(events[0].step, trace::Step::Fast);
///     assert_eq!(events[0].state().to_string(), "(0,0,1)");
/// }
/// ```
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    #[cfg(feature = "trace")]
    {
        imp::record_while(f)
    }
    #[cfg(not(feature = "trace"))]
    {
        (f(), Vec::new())
    }
}

#[cfg(feature = "trace")]
#[doc(hidden)]
#[inline]
pub fn __record(lock: usize, step: Step, word: u32) {
    imp::record(lock, step, word);
}

#[cfg(feature = "trace")]
#[doc(hidden)]
#[inline(always)]
pub fn __recording() -> bool {
    imp::recording()
}

/// Reports a step; expands to nothing without the `trace` feature, and to one load of the
/// recording switch with it.
macro_rules! trace_step {
    ($lock:expr, $step:expr, $word:expr) => {{
        // The word (often a fresh read of the lock) is evaluated only while a recording runs:
        // an unconditional read after an unlock's byte store would cost a store-to-load
        // forwarding stall on every unlock of a build that merely has the feature on.
        #[cfg(feature = "trace")]
        if $crate::trace::__recording() {
            $crate::trace::__record($lock as *const _ as usize, $step, $word);
        }
        // Type-checked, never run: the compiler removes it.
        #[cfg(not(feature = "trace"))]
        if false {
            let _ = ($lock as *const _ as usize, $step, $word);
        }
    }};
}
pub(crate) use trace_step;

/// Runs the scripted `contenders`-thread scenario on a fresh
/// [`RawQSpinLockNative`](crate::RawQSpinLockNative) and returns
/// its recorded events: the kernel's state diagram, step by step, deterministically.
///
/// Contender 0 takes the lock on the fast path; contender 1 arrives while it is held and takes
/// the pending lane; contenders 2, 3, ... arrive one after the other and queue (each waits until
/// the previous one is the tail); then every holder releases in turn and the lock passes down the
/// line: pending waiter, queue head (handing the head on with `set_locked` + `next->locked = 1`
/// when someone is queued behind it), and finally the last queued, which clears the tail. The
/// script only advances once the lock word shows the previous step, so the sequence of
/// transitions is the same on every run.
///
/// ```
/// # if !ksync_spinlock::trace::ENABLED { return; }
/// let events = ksync_spinlock::trace::scenario_native(3);
/// let triples: Vec<String> = ksync_spinlock::trace::transitions(&events)
///     .map(|e| e.state().to_string())
///     .collect();
/// assert_eq!(triples.len(), 8);
/// assert_eq!(triples[0], "(0,0,1)"); // contender 0: fast path
/// assert_eq!(triples[1], "(0,1,1)"); // contender 1: pending
/// ```
///
/// # Panics
///
/// If `contenders` is 0 or more than 64.
#[cfg(all(feature = "trace", not(loom)))]
pub fn scenario_native(contenders: usize) -> Vec<Event> {
    use crate::qspinlock::{encode_tail, RawQSpinLockNative};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    assert!(
        (1..=64).contains(&contenders),
        "a scripted scenario takes 1 to 64 contenders, not {contenders}"
    );

    struct Script {
        lock: RawQSpinLockNative,
        /// Contender k may release once `release[k]` is set.
        release: Vec<AtomicBool>,
        /// Contenders that hold (or held) the lock so far.
        acquired: AtomicUsize,
        /// The slot of each contender, published before it locks.
        slots: Vec<AtomicUsize>,
    }
    fn wait_until(mut cond: impl FnMut() -> bool) {
        // Spin-waits on an observable condition (not a sleep): the script never guesses.
        while !cond() {
            std::thread::yield_now();
        }
    }

    let script = Arc::new(Script {
        lock: RawQSpinLockNative::new(),
        release: (0..contenders).map(|_| AtomicBool::new(false)).collect(),
        acquired: AtomicUsize::new(0),
        slots: (0..contenders)
            .map(|_| AtomicUsize::new(usize::MAX))
            .collect(),
    });
    let addr = &script.lock as *const RawQSpinLockNative as usize;

    let ((), events) = record(|| {
        let handles: Vec<_> = (0..contenders)
            .map(|k| {
                // Arrive only once the previous contender is where the script wants it.
                match k {
                    0 => {}
                    1 => wait_until(|| script.lock.state().locked == 1),
                    2 => wait_until(|| script.lock.state().pending),
                    _ => {
                        let prev = script.slots[k - 1].load(SeqCst);
                        wait_until(|| {
                            prev != usize::MAX
                                && script.lock.state().tail_slot == Some(prev)
                                && script.lock.state().tail_idx == 0
                        })
                    }
                }
                let s = script.clone();
                let h = std::thread::spawn(move || {
                    let slot = ksync_percpu::this_slot().expect("a thread slot");
                    s.slots[k].store(slot, SeqCst);
                    s.lock.lock();
                    s.acquired.fetch_add(1, SeqCst);
                    wait_until(|| s.release[k].load(SeqCst));
                    // SAFETY: this thread took the lock just above.
                    unsafe { s.lock.unlock() };
                });
                if k == 0 {
                    wait_until(|| script.acquired.load(SeqCst) == 1);
                } else if k >= 2 {
                    let slot = {
                        wait_until(|| script.slots[k].load(SeqCst) != usize::MAX);
                        script.slots[k].load(SeqCst)
                    };
                    let tail = encode_tail(slot, 0);
                    wait_until(|| {
                        script.lock.state().tail_slot.map(|s| encode_tail(s, 0)) == Some(tail)
                    });
                }
                h
            })
            .collect();
        if contenders >= 2 {
            wait_until(|| script.lock.state().pending);
        }
        // Release down the line: each holder lets go once the next has what the script expects.
        for k in 0..contenders {
            wait_until(|| script.acquired.load(SeqCst) == k + 1);
            script.release[k].store(true, SeqCst);
        }
        for h in handles {
            h.join().expect("scenario thread panicked");
        }
    });
    events.into_iter().filter(|e| e.lock == addr).collect()
}

/// The events of `events` that change the lock word (the diagram's arrows), leaving out the
/// informational ones (`Head`, `HandedOff`, ...).
pub fn transitions(events: &[Event]) -> impl Iterator<Item = &Event> {
    events.iter().filter(|e| {
        matches!(
            e.step,
            Step::Fast
                | Step::Pending
                | Step::PendingUndo
                | Step::PendingLocked
                | Step::Queued { .. }
                | Step::ClaimedLast
                | Step::SetLocked
                | Step::Unlock
                | Step::Stole
                | Step::HeadLocked
                | Step::KickDeferred
                | Step::UnlockSlow
        )
    })
}
