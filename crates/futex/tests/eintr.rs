//! Signals interrupt a futex wait with `EINTR`; ksync retries with the same absolute deadline,
//! so a signal is neither a wakeup nor an extension of the timeout. Its own test binary: it
//! installs a process-wide SIGUSR1 handler.
#![cfg(all(target_os = "linux", not(loom)))]

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ksync_barrier::sync::atomic::AtomicU32;
use ksync_futex::{wait, WaitResult};

extern "C" fn on_signal(_: libc::c_int) {}

#[test]
fn eintr_is_retried_with_the_same_deadline() {
    // SAFETY: a zeroed sigaction is a valid starting point; the handler is an `extern "C"`
    // function that does nothing (async-signal-safe). No SA_RESTART: the wait sees EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    const TIMEOUT: Duration = Duration::from_millis(200);
    let word = Arc::new(AtomicU32::new(0));
    let (tx, rx) = mpsc::channel();
    let w = word.clone();
    let waiter = thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        let start = Instant::now();
        let mut results = Vec::new();
        // Nobody wakes this word: every return before the deadline would be a spurious one.
        loop {
            let r = wait(&*w, 0, Some(TIMEOUT.saturating_sub(start.elapsed())));
            results.push(r);
            if r == WaitResult::TimedOut {
                break;
            }
        }
        (results, start.elapsed())
    });
    let tid = rx.recv().unwrap();
    let mut signals = 0u32;
    while !waiter.is_finished() {
        // SAFETY: `tid` is a live or finished-but-unjoined thread (we join below), so its
        // handle is valid; SIGUSR1 has a handler.
        let r = unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        assert!(r == 0 || r == libc::ESRCH);
        signals += 1;
        thread::yield_now();
    }
    let (results, elapsed) = waiter.join().unwrap();
    assert!(signals > 0);
    // Every signal interrupted the syscall, and none of them became a `Woken`.
    assert_eq!(
        results,
        [WaitResult::TimedOut],
        "signals leaked out as returns"
    );
    assert!(elapsed >= TIMEOUT);
}
