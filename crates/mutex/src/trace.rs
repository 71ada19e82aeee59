//! Trace hooks: every step a mutex takes, with the owner word it left behind.
//!
//! With the `trace` feature, each transition of the owner word (fast paths, stealing, queueing,
//! HANDOFF, PICKUP, the slow unlock) and each sleep and wake reports an [`Event`] while a
//! recording is running ([`record`]); `ksync trace mutex` and the tests use them to show the
//! owner word moving through the table in [`crate::owner`]. Without the feature the hooks
//! expand to nothing: their arguments are type-checked but never evaluated.
//!
//! The word reported is the value the step wrote, as the acting thread knows it: exact for the
//! compare-and-swaps (computed from the value replaced), a fresh read for the steps that do not
//! write the word ([`Step::Sleep`], [`Step::GaveUp`]) and for the unordered `or`/`andnot`
//! ([`Step::Waiters`], [`Step::ClearFlags`]). [`Step::Wake`] does not touch the owner word: its
//! word is the woken task as an owner value (no flags).

use crate::owner::MutexState;

/// One step of the mutex, named after the kernel's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// `__mutex_trylock_fast`: CAS `0 -> current`.
    Fast,
    /// `__mutex_trylock` on the slow path took a free mutex (keeping WAITERS: a steal when
    /// waiters are queued).
    Took,
    /// `__mutex_add_waiter` + `__mutex_set_flag(WAITERS)`: the first waiter queued.
    Waiters,
    /// A waiter armed its futex word and goes to sleep (`schedule()`).
    Sleep,
    /// The first waiter woke, lost, and set HANDOFF on the owner's word.
    SetHandoff,
    /// The handoff target cleared PICKUP: it owns the mutex.
    Pickup,
    /// A timed waiter gave up (after a last trylock under `wait_lock`).
    GaveUp,
    /// The wait list emptied: all flags cleared.
    ClearFlags,
    /// `__mutex_unlock_fast`: CAS `current -> 0`.
    Unlock,
    /// `__mutex_unlock_slowpath` released the mutex, keeping the flags (waiters to wake).
    Release,
    /// `__mutex_handoff`: ownership passed to the first waiter (`task | PICKUP`), or released to
    /// nobody when the list emptied meanwhile.
    Handoff,
    /// `wake_up_q`: the first waiter was asleep (or about to sleep) and got a futex wake.
    Wake,
}

impl Step {
    /// A one-line description, in the kernel's terms.
    pub fn describe(&self) -> &'static str {
        match self {
            Step::Fast => "fast path: cmpxchg 0 -> current",
            Step::Took => "trylock took a free mutex (steals from the woken waiter if any)",
            Step::Waiters => "first waiter queued: WAITERS set",
            Step::Sleep => "armed the futex word, sleeps (schedule)",
            Step::SetHandoff => "first waiter woke and lost: HANDOFF set",
            Step::Pickup => "picked up the handoff: PICKUP cleared, owns the mutex",
            Step::GaveUp => "timed waiter gave up after a last trylock",
            Step::ClearFlags => "wait list empty: all flags cleared",
            Step::Unlock => "fast unlock: cmpxchg current -> 0",
            Step::Release => "slow unlock: owner cleared, flags kept",
            Step::Handoff => "slow unlock: handed to the first waiter (task|PICKUP)",
            Step::Wake => "futex wake of the first waiter",
        }
    }
}

/// One recorded step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Address of the mutex.
    pub lock: usize,
    /// The acting thread's descriptor serial ([`ksync_percpu::Task::serial`]).
    pub serial: u64,
    /// What happened.
    pub step: Step,
    /// The owner word right after the step, as the acting thread knows it.
    pub word: isize,
}

impl Event {
    /// The decoded owner word of [`Event::word`].
    pub fn state(&self) -> MutexState {
        MutexState::from_word(self.word)
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

    pub(crate) fn record(lock: usize, step: Step, word: isize) {
        if recording() {
            let serial = ksync_percpu::current().serial();
            EVENTS.push(Event {
                lock,
                serial,
                step,
                word,
            });
        }
    }

    pub(crate) fn record_while<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
        EVENTS.record(f)
    }
}

/// Runs `f` while recording every step of every ksync mutex, and returns the events in the
/// order they were recorded. Recordings are serialised process-wide. Without the `trace`
/// feature, no event is ever recorded.
///
/// ```
/// # #[cfg(not(loom))] {
/// use ksync_mutex::{trace, Mutex};
/// let m = Mutex::new(0);
/// let (_, events) = trace::record(|| *m.lock() += 1);
/// if trace::ENABLED {
///     assert_eq!(events[0].step, trace::Step::Fast);
///     assert_eq!(events[1].step, trace::Step::Unlock);
///     assert_eq!(events[1].state().to_string(), "0");
/// }
/// # }
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
pub fn __record(lock: usize, step: Step, word: isize) {
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

#[cfg(all(feature = "trace", not(loom)))]
std::thread_local! {
    /// A one-shot hook the scenario sets on its own thread: run by a slow unlock right after it
    /// released the owner word and before it wakes the first waiter (see [`after_release`]).
    static AFTER_RELEASE: core::cell::Cell<Option<fn(&crate::RawMutex)>> =
        const { core::cell::Cell::new(None) };
}

/// Called by the slow unlock between releasing the owner word and waking the first waiter: the
/// one window in which another task can take the mutex before the woken waiter runs. The
/// scripted scenario uses it to make its steal deterministic; nothing else sets the hook.
/// Outside a recording it costs what a trace hook costs: one load of the recording switch.
#[cfg(all(feature = "trace", not(loom)))]
#[inline(always)]
pub(crate) fn after_release(m: &crate::RawMutex) {
    if imp::recording() {
        if let Some(hook) = AFTER_RELEASE.with(|h| h.take()) {
            hook(m);
        }
    }
}

/// Runs a scripted `contenders`-thread scenario on a fresh [`RawMutex`](crate::RawMutex) and
/// returns its recorded events: the owner word through the fast path, queueing, a steal, HANDOFF,
/// PICKUP, the wake path and the last waiter clearing the flags.
///
/// Contender 0 (the calling thread) takes the mutex on the fast path; contenders 1, 2, ... arrive
/// one after the other, spin, queue (the first sets WAITERS) and sleep; the script starts each
/// only once the previous one sleeps. Contender 0 then releases (waking contender 1) and at once
/// takes the mutex back, a steal; contender 1 wakes, loses, and sets HANDOFF; contender 0's next
/// unlock hands the mutex to it (PICKUP). From there each holder releases with a plain unlock,
/// which wakes the next waiter, and the last one out clears the flags. Every step waits for the
/// owner word (or the wait list) to show the previous one, and the steal happens inside the
/// release, between clearing the owner and waking contender 1 (a trace-only hook in the slow
/// unlock), so the sequence is the same on every run. Without the hook, a woken waiter that
/// was still spinning on its wake-up would usually win the race against the steal.
///
/// ```
/// # #[cfg(not(loom))] {
/// let events = ksync_mutex::trace::scenario(3);
/// let steps: Vec<_> = ksync_mutex::trace::transitions(&events).map(|e| e.step).collect();
/// assert_eq!(steps[0], ksync_mutex::trace::Step::Fast);
/// assert_eq!(steps[1], ksync_mutex::trace::Step::Waiters);
/// assert_eq!(steps.last(), Some(&ksync_mutex::trace::Step::Unlock));
/// # }
/// ```
///
/// # Panics
///
/// If `contenders` is 0 or more than 64.
#[cfg(all(feature = "trace", not(loom)))]
pub fn scenario(contenders: usize) -> Vec<Event> {
    use crate::RawMutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    assert!(
        (1..=64).contains(&contenders),
        "a scripted scenario takes 1 to 64 contenders, not {contenders}"
    );

    struct Script {
        m: RawMutex,
        /// Contender k may release once `release[k]` is set.
        release: Vec<AtomicBool>,
        /// Contenders that hold (or held) the mutex so far.
        acquired: AtomicUsize,
    }
    fn wait_until(mut cond: impl FnMut() -> bool) {
        // Spin-waits on an observable condition (not a sleep): the script never guesses.
        while !cond() {
            std::thread::yield_now();
        }
    }

    let script = Arc::new(Script {
        m: RawMutex::new(),
        release: (0..contenders).map(|_| AtomicBool::new(false)).collect(),
        acquired: AtomicUsize::new(0),
    });
    let addr = &script.m as *const RawMutex as usize;

    let ((), events) = record(|| {
        let g0 = script.m.lock();
        script.acquired.fetch_add(1, SeqCst);
        let mut handles = Vec::new();
        for k in 1..contenders {
            let s = script.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            handles.push(std::thread::spawn(move || {
                tx.send(ksync_percpu::current()).expect("script alive");
                let g = s.m.lock();
                s.acquired.fetch_add(1, SeqCst);
                wait_until(|| s.release[k].load(SeqCst));
                // SAFETY: this thread took the mutex just above.
                unsafe { s.m.unlock(g) };
            }));
            let task = rx.recv().expect("contender started");
            // Queued and asleep before the next one comes.
            wait_until(|| {
                task.is_blocked() && script.m.waiters().iter().any(|t| core::ptr::eq(*t, task))
            });
        }
        // Steal it back inside the release, before contender 1 is woken: it then loses, asks
        // for a handoff, and our next unlock hands over.
        std::thread_local! {
            static STOLEN: core::cell::Cell<Option<crate::RawMutexGuard>> =
                const { core::cell::Cell::new(None) };
        }
        fn steal(m: &RawMutex) {
            STOLEN.with(|s| s.set(m.try_lock()));
        }
        if contenders > 1 {
            AFTER_RELEASE.with(|h| h.set(Some(steal)));
        }
        // SAFETY: taken above by this thread.
        unsafe { script.m.unlock(g0) };
        AFTER_RELEASE.with(|h| h.set(None));
        if let Some(g) = STOLEN.with(|s| s.take()) {
            wait_until(|| script.m.state().handoff());
            // SAFETY: taken by `steal`, on this thread, during the unlock above.
            unsafe { script.m.unlock(g) };
        }
        for k in 1..contenders {
            wait_until(|| script.acquired.load(SeqCst) > k);
            script.release[k].store(true, SeqCst);
        }
        for h in handles {
            h.join().expect("scenario thread panicked");
        }
    });
    events.into_iter().filter(|e| e.lock == addr).collect()
}

/// The events of `events` that change the owner word, leaving out the informational ones
/// ([`Step::Sleep`], [`Step::Wake`], [`Step::GaveUp`]).
pub fn transitions(events: &[Event]) -> impl Iterator<Item = &Event> {
    events
        .iter()
        .filter(|e| !matches!(e.step, Step::Sleep | Step::Wake | Step::GaveUp))
}
