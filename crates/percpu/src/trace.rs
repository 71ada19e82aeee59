//! The event recorder behind every ksync lock's `trace` feature (`ksync trace`).
//!
//! Not a kernel file: the kernel's lock tracepoints (`include/trace/events/lock.h`) feed ftrace's
//! ring buffer; ksync's scripted traces need far less, one process-wide list of events per lock
//! family, filled while a recording runs. Each lock crate keeps one `static` [`Recorder`] of its
//! own event type; its hooks ask [`Recorder::recording`] (one relaxed load) before they compute
//! anything, so a build with the feature on pays one load per hook and nothing else.
//!
//! Instrumentation, not algorithm: the recorder uses plain `std` types, invisible to loom and
//! never part of a model.
//!
//! ```
//! use ksync_percpu::trace::Recorder;
//!
//! static STEPS: Recorder<&'static str> = Recorder::new();
//!
//! STEPS.push("ignored: no recording runs");
//! let (answer, events) = STEPS.record(|| {
//!     STEPS.push("fast path");
//!     42
//! });
//! assert_eq!(answer, 42);
//! assert_eq!(events, ["fast path"]);
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// A process-wide list of events of type `E`, filled while [`record`](Recorder::record) runs.
#[derive(Debug)]
pub struct Recorder<E> {
    /// The on/off switch, read by every hook.
    on: AtomicBool,
    events: Mutex<Vec<E>>,
    /// One recording at a time (tests run in parallel).
    session: Mutex<()>,
}

impl<E> Recorder<E> {
    /// An idle recorder; `const`, for a `static`.
    pub const fn new() -> Self {
        Recorder {
            on: AtomicBool::new(false),
            events: Mutex::new(Vec::new()),
            session: Mutex::new(()),
        }
    }

    /// Whether a recording runs. The switch is written only when a recording starts or ends,
    /// so the line stays shared in every cache and the check costs one load.
    #[inline(always)]
    pub fn recording(&self) -> bool {
        // Relaxed: a racy on/off switch; the events themselves go through the mutex.
        self.on.load(Ordering::Relaxed)
    }

    /// Appends `event` if a recording runs (and drops it otherwise).
    pub fn push(&self, event: E) {
        if self.recording() {
            self.events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event);
        }
    }

    /// Runs `f` with the recording on and returns what it returned and the events pushed
    /// meanwhile, in order. Recordings on one recorder are serialised.
    pub fn record<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<E>) {
        let _session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        // SeqCst on both edges: every push of `f`'s threads that happens before `f` returns
        // lands between the two stores; the mutex carries the events themselves.
        self.on.store(true, Ordering::SeqCst);
        let r = f();
        self.on.store(false, Ordering::SeqCst);
        let events =
            std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner));
        (r, events)
    }
}

impl<E> Default for Recorder<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Recorder;

    #[test]
    fn only_pushes_during_a_recording_are_kept() {
        let r = Recorder::new();
        r.push(1);
        assert!(!r.recording());
        let ((), first) = r.record(|| {
            assert!(r.recording());
            r.push(2);
            r.push(3);
        });
        assert_eq!(first, [2, 3]);
        r.push(4);
        let ((), second) = r.record(|| r.push(5));
        assert_eq!(second, [5], "a new recording starts empty");
    }
}
