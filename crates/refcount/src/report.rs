//! Saturation events: what happens after a [`Refcount`](crate::Refcount) catches a bug.
//!
//! Mirrors `refcount_warn_saturate()` in `lib/refcount.c` and the `WARN_ONCE()` it ends with.
//! The kernel resets the counter to `REFCOUNT_SATURATED` and prints one warning (with a stack
//! trace) per kind of event for the life of the system; LKDTM's runner clears the once-flags
//! through debugfs (`clear_warn_once`) between tests.
//!
//! User space has more than one audience for such an event, so ksync splits the kernel's single
//! `WARN_ONCE` into three parts:
//!
//! * **Counters**, always: [`count`] and [`counts`] give the number of events of each kind
//!   since the process started (a relaxed atomic add per event; events are rare).
//! * **A process-wide hook** ([`set_hook`]), called for every event that is not captured. The
//!   default, [`default_hook`], is the kernel's `WARN_ONCE`: the first event of each kind is
//!   written as a warning through the [`log`] facade when a logger is listening, else to
//!   standard error (with a backtrace when `RUST_BACKTRACE` asks for one); later events of that
//!   kind are only counted. A service can route events to metrics instead; a test suite can
//!   install [`panicking_hook`] to turn any event into a test failure.
//! * **Per-thread capture** ([`capture`]): runs a closure and returns the events raised *on this
//!   thread* while it ran, instead of passing them to the hook. Tests that run in parallel in
//!   one process each see exactly their own events.
//!
//! ## The hook's contract
//!
//! * It is called on the thread whose operation tripped the check, *after* the counter was set
//!   to `REFCOUNT_SATURATED` (as in the kernel), possibly from inside a `Drop`, while that
//!   thread holds locks ksync cannot know about, and possibly on several threads at once. It
//!   must be thread-safe, return promptly, and not block on locks the tripping code might hold.
//! * It must not operate on the refcount it is told about (the address in [`Event::addr`] is
//!   for identification only: the object may be in any state, that is why the event fired).
//! * It may panic. The panic unwinds out of the refcount operation, whose counter is already
//!   saturated: no state is left half-updated. A panic from an event raised inside a `Drop`
//!   during unwinding aborts the process, as any double panic does.
//! * Installing a hook is a release and reading it an acquire, so state the hook reads that was
//!   set up before [`set_hook`] is visible to it. Reading the hook costs one atomic load, on the
//!   event path only; the refcount fast paths never touch it.

use core::fmt;
use core::panic::Location;

use ksync_barrier::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// The five kinds of saturation event: the kernel's `enum refcount_saturation_type`.
///
/// ```
/// use ksync_refcount::{Refcount, Saturation, REFCOUNT_SATURATED};
/// use ksync_refcount::report::capture;
///
/// let r = Refcount::new(0);
/// let ((), events) = capture(|| r.inc()); // an increment from 0: use-after-free
/// assert_eq!(events[0].kind, Saturation::AddUaf);
/// assert_eq!(r.read(), REFCOUNT_SATURATED as u32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Saturation {
    /// `add_not_zero`/`inc_not_zero` found a negative count or overflowed it
    /// (`REFCOUNT_ADD_NOT_ZERO_OVF`): "saturated; leaking memory".
    AddNotZeroOvf,
    /// `add`/`inc` found a negative count or overflowed it (`REFCOUNT_ADD_OVF`): "saturated;
    /// leaking memory".
    AddOvf,
    /// `add`/`inc` found 0: the object was already released (`REFCOUNT_ADD_UAF`): "addition on
    /// 0; use-after-free".
    AddUaf,
    /// `sub_and_test`/`dec_and_test` found a count that was already 0 or negative, or went
    /// below 0 (`REFCOUNT_SUB_UAF`): "underflow; use-after-free". Also raised, without
    /// saturating, by `dec_not_one` on 0.
    SubUaf,
    /// `dec` took the count to 0 or below: a plain decrement must never drop the last
    /// reference, since nobody then releases the object (`REFCOUNT_DEC_LEAK`): "decrement hit
    /// 0; leaking memory".
    DecLeak,
}

impl Saturation {
    /// Every kind, in the kernel's enum order (also the order of [`counts`]).
    pub const ALL: [Saturation; 5] = [
        Saturation::AddNotZeroOvf,
        Saturation::AddOvf,
        Saturation::AddUaf,
        Saturation::SubUaf,
        Saturation::DecLeak,
    ];

    /// The kernel's enum value: the position in [`Saturation::ALL`].
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kernel's warning text for this kind, without the `refcount_t: ` prefix.
    pub const fn message(self) -> &'static str {
        match self {
            Saturation::AddNotZeroOvf | Saturation::AddOvf => "saturated; leaking memory",
            Saturation::AddUaf => "addition on 0; use-after-free",
            Saturation::SubUaf => "underflow; use-after-free",
            Saturation::DecLeak => "decrement hit 0; leaking memory",
        }
    }
}

impl fmt::Display for Saturation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// One saturation event, as passed to the hook and returned by [`capture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// What went wrong.
    pub kind: Saturation,
    /// The address of the [`Refcount`](crate::Refcount), to tell events apart (compare with
    /// [`Event::is_for`]). Never dereference it: the object may already be gone.
    pub addr: usize,
    /// The value the operation found (the `old` of the kernel's checks).
    pub old: i32,
    /// `true` when the counter was reset to `REFCOUNT_SATURATED`. `false` only for
    /// `dec_not_one` on a zero count, which warns and leaves the counter alone, as in the
    /// kernel.
    pub saturated: bool,
    /// The call that tripped the check (the refcount method's caller; for [`Arc`](crate::Arc)
    /// and [`Kref`](crate::Kref) operations, their caller).
    pub location: &'static Location<'static>,
}

impl Event {
    /// Whether this event was raised on `r`.
    #[inline]
    pub fn is_for(&self, r: &crate::Refcount) -> bool {
        self.addr == r as *const crate::Refcount as usize
    }
}

impl fmt::Display for Event {
    /// `refcount_t: <message>.` followed by the address, the value found and the call site.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refcount_t: {}. (refcount at {:#x}, found {}{}, at {})",
            self.kind,
            self.addr,
            self.old,
            if self.saturated {
                ", now saturated"
            } else {
                ""
            },
            self.location
        )
    }
}

/// The type of a saturation hook: see the [module docs](self) for its contract.
pub type Hook = fn(&Event);

ksync_barrier::global! {
    /// The installed hook as a type-erased `fn` pointer; null means [`default_hook`].
    fn hook_slot() -> &'static AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
}

ksync_barrier::global! {
    /// Events per kind since the process started.
    fn counters() -> &'static [AtomicU64; 5] = [
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    ];
}

ksync_barrier::global! {
    /// [`default_hook`]'s once-flags, one per kind (`WARN_ONCE`).
    fn warned() -> &'static [AtomicBool; 5] = [
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicBool::new(false),
    ];
}

/// Decodes a value of [`hook_slot`].
fn decode(p: *mut ()) -> Hook {
    if p.is_null() {
        default_hook
    } else {
        // SAFETY: every non-null value stored in `hook_slot` is a `Hook` cast to `*mut ()` by
        // `set_hook`; a `fn` pointer survives the round trip through a data pointer on every
        // platform Rust supports (they have the same size and representation there).
        unsafe { core::mem::transmute::<*mut (), Hook>(p) }
    }
}

/// Installs `hook` for every saturation event in the process that is not [captured](capture),
/// and returns the previous hook ([`default_hook`] if none was installed).
///
/// ```
/// use ksync_refcount::report::{self, Event};
///
/// fn count_only(_: &Event) {} // the counters still count; nothing is printed
/// let previous = report::set_hook(count_only);
/// // ...
/// report::set_hook(previous);
/// ```
pub fn set_hook(hook: Hook) -> Hook {
    // AcqRel: release, so whatever the caller set up for the new hook before installing it is
    // visible to the threads that call it (they load with acquire); acquire, so the caller may
    // call the previous hook it gets back.
    decode(hook_slot().swap(hook as *mut (), Ordering::AcqRel))
}

/// Reinstalls [`default_hook`] and returns the hook that was installed.
pub fn take_hook() -> Hook {
    // AcqRel: as in `set_hook`.
    decode(hook_slot().swap(core::ptr::null_mut(), Ordering::AcqRel))
}

/// The installed hook.
fn current_hook() -> Hook {
    // Acquire: pairs with the release in `set_hook` (see there).
    decode(hook_slot().load(Ordering::Acquire))
}

/// The default hook: the kernel's `WARN_ONCE`.
///
/// The first event of each [`Saturation`] kind in the process is reported as a warning: through
/// the [`log`] facade (target `ksync_refcount`) when a logger is installed and enabled for
/// warnings, otherwise on standard error, followed by a backtrace if `RUST_BACKTRACE` /
/// `RUST_LIB_BACKTRACE` enable one. Later events of the same kind are only counted
/// ([`count`]); [`reset_warn_once`] re-arms the warnings.
pub fn default_hook(event: &Event) {
    // Relaxed: the flag only deduplicates messages; it publishes no data.
    if warned()[event.kind.index()].swap(true, Ordering::Relaxed) {
        return;
    }
    if log::log_enabled!(target: "ksync_refcount", log::Level::Warn) {
        log::warn!(target: "ksync_refcount", "{event}");
    } else {
        warn_stderr(event);
    }
}

/// `default_hook`'s fallback: standard error, with a backtrace when the environment asks.
#[cfg(not(loom))]
fn warn_stderr(event: &Event) {
    use std::backtrace::{Backtrace, BacktraceStatus};
    let bt = Backtrace::capture();
    if bt.status() == BacktraceStatus::Captured {
        std::eprintln!("WARNING: {event}\n{bt}");
    } else {
        std::eprintln!("WARNING: {event}");
    }
}

/// `default_hook`'s fallback under loom: no backtraces inside the model.
#[cfg(loom)]
fn warn_stderr(event: &Event) {
    std::eprintln!("WARNING: {event}");
}

/// Re-arms [`default_hook`]'s once-per-kind warnings: the kernel's `clear_warn_once` (debugfs).
pub fn reset_warn_once() {
    for flag in warned() {
        // Relaxed: as in `default_hook`.
        flag.store(false, Ordering::Relaxed);
    }
}

/// A hook that panics with the event's message: install it in a test suite to make any
/// saturation event a test failure.
///
/// ```should_panic
/// use ksync_refcount::{report, Refcount};
///
/// report::set_hook(report::panicking_hook);
/// let r = Refcount::new(1);
/// r.dec(); // took the last reference with a plain decrement: DecLeak, and a panic
/// ```
pub fn panicking_hook(event: &Event) {
    panic!("{event}");
}

/// The number of events of `kind` in this process so far, captured ones included.
///
/// A relaxed read of a statistic: exact once the threads that raised the events have been
/// joined (or otherwise synchronized with), approximate while they run.
pub fn count(kind: Saturation) -> u64 {
    // Relaxed: a statistic; it orders nothing.
    counters()[kind.index()].load(Ordering::Relaxed)
}

/// [`count`] for every kind, in [`Saturation::ALL`] order.
pub fn counts() -> [u64; 5] {
    Saturation::ALL.map(count)
}

ksync_barrier::thread_local! {
    /// The innermost active `capture` of this thread, if any.
    static CAPTURE: core::cell::RefCell<Option<std::vec::Vec<Event>>> =
        core::cell::RefCell::new(None);
}

/// Runs `f` and returns its result together with every saturation event raised on **this
/// thread** while it ran. Captured events are counted ([`count`]) but not passed to the hook.
///
/// Captures nest (the innermost one gets the events) and are restored if `f` panics. Events
/// raised on other threads, including threads that `f` spawns, are not captured: they go to
/// the hook as usual.
///
/// ```
/// use ksync_refcount::{report, Refcount, Saturation};
///
/// let r = Refcount::new(1);
/// let (last, events) = report::capture(|| r.dec_and_test());
/// assert!(last);
/// assert!(events.is_empty());
/// let (last, events) = report::capture(|| r.dec_and_test()); // already 0
/// assert!(!last);
/// assert_eq!(events.len(), 1);
/// assert_eq!(events[0].kind, Saturation::SubUaf);
/// assert!(events[0].is_for(&r));
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, std::vec::Vec<Event>) {
    /// Restores the enclosing capture, also on unwind.
    struct Restore(Option<std::vec::Vec<Event>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            let _ = CAPTURE.try_with(|c| *c.borrow_mut() = outer);
        }
    }

    let outer = CAPTURE.with(|c| c.borrow_mut().replace(std::vec::Vec::new()));
    let restore = Restore(outer);
    let r = f();
    let events = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (r, events)
}

/// Hands `event` to this thread's capture; gives it back if there is none.
fn try_capture(event: Event) -> Option<Event> {
    CAPTURE
        .try_with(|c| match c.try_borrow_mut() {
            Ok(mut slot) => match slot.as_mut() {
                Some(events) => {
                    events.push(event);
                    None
                }
                None => Some(event),
            },
            // Raised from inside a capture's own bookkeeping (cannot happen today): report.
            Err(_) => Some(event),
        })
        // The thread is tearing down its thread-locals (an `Arc` dropped by another
        // thread-local's destructor, for instance): report through the hook.
        .unwrap_or(Some(event))
}

/// Reports one event: count it, then capture it or call the hook. The refcount's caller has
/// already stored `REFCOUNT_SATURATED` when `event.saturated`.
#[cold]
#[inline(never)]
pub(crate) fn report(event: Event) {
    // Relaxed: a statistic; it orders nothing.
    counters()[event.kind.index()].fetch_add(1, Ordering::Relaxed);
    if let Some(event) = try_capture(event) {
        current_hook()(&event);
    }
}
