//! Linux: the raw `futex(2)` syscall, as std's own futex mutex calls it.
//!
//! * Wait: `FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG` with `FUTEX_BITSET_MATCH_ANY` and an
//!   *absolute* `CLOCK_MONOTONIC` deadline. Absolute, so that retrying after `EINTR` (a signal
//!   handler ran) does not stretch the timeout. Plain `FUTEX_WAIT` takes a relative timeout.
//! * Wake: `FUTEX_WAKE | FUTEX_PRIVATE_FLAG` with a count; the syscall returns how many it woke.
//!
//! The private flag tells the kernel the word is not shared with another process, so it keys
//! the wait queue by (mm, address) and skips the page-table walk a shared futex needs.

use std::time::Duration;

use crate::{FutexWord, WaitResult};

pub(crate) const NAME: &str = "linux-futex";

/// Now on CLOCK_MONOTONIC (the clock `FUTEX_WAIT_BITSET` uses without `FUTEX_CLOCK_REALTIME`).
fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(r, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    ts
}

/// `now + timeout` as an absolute timespec, or `None` if it does not fit (wait forever).
fn deadline_after(timeout: Duration) -> Option<libc::timespec> {
    let now = monotonic_now();
    let secs = libc::time_t::try_from(timeout.as_secs()).ok()?;
    let mut tv_sec = now.tv_sec.checked_add(secs)?;
    // Both nanosecond parts are below 1e9 (so the cast is lossless and the sum fits in a
    // c_long), and the sum needs at most one carry.
    let mut tv_nsec = now.tv_nsec + timeout.subsec_nanos() as libc::c_long;
    if tv_nsec >= 1_000_000_000 {
        tv_nsec -= 1_000_000_000;
        tv_sec = tv_sec.checked_add(1)?;
    }
    Some(libc::timespec { tv_sec, tv_nsec })
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub(crate) fn wait<W: FutexWord + ?Sized>(
    word: &W,
    expected: u32,
    timeout: Option<Duration>,
) -> WaitResult {
    // The cheap check first, as KVM's `pv_wait` (`kvm_wait`) reads the byte before it halts:
    // a word that already differs needs no syscall (~1 ns instead of ~230 ns). Relaxed: the
    // contract promises no ordering; the kernel re-checks under its bucket lock if we go on.
    if word.futex_load() != expected {
        return WaitResult::Mismatch;
    }
    let deadline = timeout.and_then(deadline_after);
    let deadline_ptr = deadline
        .as_ref()
        .map_or(core::ptr::null(), |d| d as *const libc::timespec);
    loop {
        // SAFETY: `word.futex_ptr()` is a valid, aligned u32 for the duration of the call (we hold
        // a reference to it); `deadline_ptr` is null or points to `deadline`, which outlives the
        // call; the last two arguments (uaddr2, unused; val3 = the bitset) are what
        // FUTEX_WAIT_BITSET expects. The kernel only reads the word.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.futex_ptr(),
                libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG,
                expected,
                deadline_ptr,
                core::ptr::null::<u32>(),
                libc::FUTEX_BITSET_MATCH_ANY,
            )
        };
        if r == 0 {
            return WaitResult::Woken;
        }
        match errno() {
            // A signal handler ran: sleep again (the deadline is absolute, so it still holds).
            libc::EINTR => continue,
            // EAGAIN == EWOULDBLOCK on Linux: the word did not hold `expected`.
            libc::EAGAIN => return WaitResult::Mismatch,
            libc::ETIMEDOUT => return WaitResult::TimedOut,
            // EFAULT/EINVAL cannot happen with a live, aligned word and a normalised timespec;
            // ENOSYS/EPERM would mean a sandbox forbids futex. Report a spurious wakeup (the
            // contract allows one, and the caller re-checks) rather than sleep wrongly.
            e => {
                debug_assert!(false, "futex(FUTEX_WAIT_BITSET) failed: errno {e}");
                return WaitResult::Woken;
            }
        }
    }
}

pub(crate) fn wake<W: FutexWord + ?Sized>(word: &W, count: usize) -> usize {
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    // SAFETY: `word.futex_ptr()` is a valid, aligned u32 for the duration of the call. FUTEX_WAKE
    // does not read or write the word at all: the address only names the wait queue.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.futex_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            count,
        )
    };
    // -1 (EFAULT/EINVAL) is impossible here; report "nobody woken" if it ever happens.
    usize::try_from(r).unwrap_or(0)
}
