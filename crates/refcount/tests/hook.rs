//! The process-wide side of saturation reporting: the default `WARN_ONCE` hook (through the
//! `log` facade), the counters, custom hooks, the panicking hook, and capture's precedence.
//!
//! The hook, the counters and the logger are process-wide, so this binary has exactly one test.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::thread;

use ksync_refcount::report::{self, Event};
use ksync_refcount::{Refcount, Saturation, REFCOUNT_MAX, REFCOUNT_SATURATED};

/// A logger that keeps the warnings it receives.
struct Recorder(Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {} {}", r.level(), r.target(), r.args()));
        }
    }
    fn flush(&self) {}
}

static LOGGER: Recorder = Recorder(Mutex::new(Vec::new()));

/// Raises one event of each kind, outside any capture.
fn raise_each_kind() {
    let r = Refcount::new(REFCOUNT_MAX);
    assert!(r.inc_not_zero()); // AddNotZeroOvf
    r.set(REFCOUNT_MAX);
    r.inc(); // AddOvf
    r.set(0);
    r.inc(); // AddUaf
    r.set(0);
    assert!(!r.dec_and_test()); // SubUaf
    r.set(1);
    r.dec(); // DecLeak
    assert_eq!(r.read(), REFCOUNT_SATURATED as u32);
}

static HOOKED: Mutex<Vec<(Event, thread::ThreadId)>> = Mutex::new(Vec::new());

fn recording_hook(e: &Event) {
    HOOKED.lock().unwrap().push((*e, thread::current().id()));
}

static OTHER_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

fn other_hook(_: &Event) {
    OTHER_HOOK_CALLS.fetch_add(1, Relaxed);
}

#[test]
fn reporting_end_to_end() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    assert_eq!(
        report::counts(),
        [0; 5],
        "nothing raised yet in this process"
    );

    // 1. The default hook warns once per kind, through `log`; the counters count everything.
    raise_each_kind();
    raise_each_kind();
    let logged = LOGGER.0.lock().unwrap().clone();
    assert_eq!(logged.len(), 5, "once per kind: {logged:#?}");
    for (line, kind) in logged.iter().zip(Saturation::ALL) {
        let want = format!("WARN ksync_refcount refcount_t: {}.", kind.message());
        assert!(
            line.starts_with(&want),
            "{line:?} should start with {want:?}"
        );
        assert!(line.contains("tests/hook.rs"), "the call site: {line}");
    }
    assert_eq!(report::counts(), [2; 5]);

    // 2. `reset_warn_once` re-arms the warnings (the kernel's `clear_warn_once`).
    report::reset_warn_once();
    raise_each_kind();
    assert_eq!(LOGGER.0.lock().unwrap().len(), 10);
    assert_eq!(report::counts(), [3; 5]);

    // 3. A custom hook sees every event, on the thread that raised it; the default is
    //    returned as the previous hook.
    let previous = report::set_hook(recording_hook);
    let r = Refcount::new(0);
    r.inc();
    r.inc();
    let here = thread::current().id();
    let there = thread::spawn(|| {
        let r = Refcount::new(1);
        r.dec();
        thread::current().id()
    })
    .join()
    .unwrap();
    {
        let hooked = HOOKED.lock().unwrap();
        let seen: Vec<_> = hooked.iter().map(|(e, t)| (e.kind, e.old, *t)).collect();
        assert_eq!(
            seen,
            [
                (Saturation::AddUaf, 0, here),
                (Saturation::AddOvf, REFCOUNT_SATURATED, here),
                (Saturation::DecLeak, 1, there),
            ]
        );
        assert!(hooked[0].0.is_for(&r));
    }
    assert_eq!(
        LOGGER.0.lock().unwrap().len(),
        10,
        "the default hook is out"
    );

    // 4. Capture takes precedence over the hook, on its own thread only.
    let ((), captured) = report::capture(|| {
        r.dec();
        thread::spawn(|| Refcount::new(0).inc()).join().unwrap();
    });
    assert_eq!(captured.len(), 1);
    assert_eq!(captured[0].kind, Saturation::DecLeak);
    assert_eq!(
        HOOKED.lock().unwrap().len(),
        4,
        "the other thread's event went to the hook"
    );
    assert_eq!(
        report::counts()[Saturation::DecLeak.index()],
        5,
        "captured events are counted"
    );

    // 5. Restoring the previous hook brings the default back (it warns: re-armed earlier, and
    //    AddUaf has not been raised since).
    assert_eq!(
        report::set_hook(previous) as usize,
        recording_hook as report::Hook as usize
    );
    Refcount::new(0).inc();
    assert_eq!(
        LOGGER.0.lock().unwrap().len(),
        10,
        "AddUaf already warned since re-arming"
    );
    report::reset_warn_once();
    Refcount::new(0).inc();
    assert_eq!(LOGGER.0.lock().unwrap().len(), 11);

    // 6. The panicking hook turns an event into a panic; the counter is saturated first.
    report::set_hook(report::panicking_hook);
    let r = Refcount::new(1);
    let err = panic::catch_unwind(|| r.dec()).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("refcount_t: decrement hit 0; leaking memory."),
        "{msg}"
    );
    assert_eq!(r.read(), REFCOUNT_SATURATED as u32);

    // 7. `take_hook` reinstalls the default and returns what was there.
    report::set_hook(other_hook);
    assert_eq!(
        report::take_hook() as usize,
        other_hook as report::Hook as usize
    );
    Refcount::new(1).dec();
    assert_eq!(OTHER_HOOK_CALLS.load(Relaxed), 0);
}
