//! `compat::Condvar`: std's futex condition variable, with the kernel's "are there sleepers?"
//! check in front of every wake.
//!
//! # The protocol
//!
//! Two `atomic_t`s. `seq` is the futex word: every notify increments it, so a waiter that read
//! it before a notify sees a different value afterwards. `waiters` counts the threads between
//! announcing a wait and returning from the futex.
//!
//! ```text
//! wait(guard)                                  notify_one() / notify_all()
//!   waiters.inc()                                seq.inc()
//!   smp_mb__after_atomic()   <-- pairs -->       smp_mb__after_atomic()
//!   s = seq.read()                               if waiters.read() != 0:
//!   unlock the mutex                                 futex_wake(seq, 1 / all)
//!   futex_wait(seq, s)   (sleeps only while seq == s)
//!   waiters.dec()
//!   lock the mutex
//! ```
//!
//! std's futex condvar (`library/std/src/sys/sync/condvar/futex.rs`) is the left column without
//! `waiters` and the right column without the check: every notify is a `FUTEX_WAKE` system
//! call, a few hundred nanoseconds even when nobody waits. The check is the kernel's
//! `wq_has_sleeper()` idiom (`include/linux/wait.h`): the waiter publishes itself, then a full
//! barrier, then reads the condition (here `seq`); the waker publishes its change (`seq`), then
//! a full barrier, then looks for sleepers. It is the store-buffering pattern with a barrier on
//! each side, so at least one side sees the other's write:
//!
//! * the notifier sees `waiters != 0` and wakes: a waiter either already sleeps (and is woken)
//!   or has yet to reach `futex_wait`, whose value check then fails because `seq` moved; or
//! * the waiter's read of `seq` sees the increment: it then waits for a *later* notify, which is
//!   correct, because this notify came before its wait began.
//!
//! So a notify never misses a waiter that began waiting before it, whether or not the notifier
//! holds the mutex: the same guarantee as std's, where the kernel finds every sleeper. In the
//! usual pattern (the condition changes under the mutex) the mutex alone orders everything;
//! the barriers cover notifiers that do not take it. On x86-64 `smp_mb__after_atomic()` after
//! the `lock`-prefixed increment costs nothing; the portable backend (and loom) use a
//! `fence(SeqCst)`.
//!
//! A `seq` that wraps all the way around (2^32 notifies) between a waiter's read and its sleep
//! would let it sleep through them; std accepts the same.
//!
//! # Differences from the kernel's wait queues
//!
//! The kernel queues each sleeper on a list and wakes exclusive waiters one at a time; here the
//! futex's own queue in the kernel is the list. `notify_all` wakes everyone, and they then
//! contend for the mutex (no requeue onto the mutex, as in std).

use core::fmt;
use core::mem::{self, ManuallyDrop};
use std::sync::{LockResult, OnceLock, PoisonError, WaitTimeoutResult};
use std::time::{Duration, Instant};

use ksync_atomic::Atomic;
use ksync_barrier::smp_mb__after_atomic;
use ksync_futex::{self as futex, WaitResult};

use super::mutex::MutexGuard;

/// A condition variable with `std::sync::Condvar`'s API, for [`MutexGuard`]s of any raw lock.
///
/// It blocks a thread, consuming no CPU, until another thread notifies it. Like every condition
/// variable, it is used with a predicate checked under the mutex, and **wakeups can be
/// spurious**: [`wait`](Self::wait) may return although nobody notified (for instance when a
/// notify raced with the start of the wait), so check the predicate in a loop, or use
/// [`wait_while`](Self::wait_while) which does.
///
/// ```
/// use ksync::compat::{Condvar, Mutex};
/// use std::sync::Arc;
/// use std::thread;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// thread::spawn(move || {
///     let (lock, cvar) = &*pair2;
///     *lock.lock().unwrap() = true;
///     cvar.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let mut started = lock.lock().unwrap();
/// while !*started {
///     started = cvar.wait(started).unwrap();
/// }
/// ```
///
/// # How it works
///
/// std's futex design: a sequence number that every notify increments, and a waiter that
/// sleeps on it (`futex_wait`) only while it still holds the value read before the mutex was
/// released, so a notify in between is never lost. In front of the wake sits the kernel's
/// `wq_has_sleeper()` check: a count of waiters, published and read behind a full barrier on
/// both sides, so a notify with no waiter is an increment and a load, not a `FUTEX_WAKE`
/// system call. Notifying while holding the mutex or after releasing it are both fine.
///
/// # With more than one mutex
///
/// std documents that a `Condvar` used with several mutexes *may* panic (some of its platform
/// backends do; the futex one does not). This one never does: nothing in the protocol depends
/// on the mutex, so using one condvar with several mutexes, in turn or at once, works and
/// simply wakes the waiters of all of them.
///
/// # Size
///
/// 8 bytes (std's is 4): the futex word and the count of waiters that lets a notify with no
/// waiter skip its system call.
pub struct Condvar {
    /// The futex word: incremented by every notify.
    seq: Atomic,
    /// Threads from their announcement to their return from the futex (`wq_has_sleeper`).
    waiters: Atomic,
}

impl Condvar {
    /// A condition variable with no waiters. `const`, like std's.
    #[cfg(not(loom))]
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            seq: Atomic::new(0),
            waiters: Atomic::new(0),
        }
    }

    /// A condition variable with no waiters (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Condvar {
        Condvar {
            seq: Atomic::new(0),
            waiters: Atomic::new(0),
        }
    }

    /// Releases the lock `state` holds on `raw`, sleeps until notified (or spuriously woken, or
    /// past `deadline`), and re-acquires the lock into `state`. Returns whether the sleep timed
    /// out. Shared by the poisoning and the non-poisoning guards.
    ///
    /// If anything between the release and the re-acquisition unwinds (a raw lock whose `lock`
    /// panics), the process aborts: the caller's guard would otherwise unlock a lock it no
    /// longer holds.
    pub(super) fn wait_raw<R: lock_api::RawMutex>(
        &self,
        raw: &R,
        state: &mut ManuallyDrop<R::Guard>,
        deadline: Option<Instant>,
    ) -> bool {
        // Announce the waiter (`prepare_to_wait`). Unordered RMW; the barrier below orders it.
        self.waiters.inc();
        // The waiter's half of the store-buffering pair: the announcement is visible before
        // `seq` is read, so a notifier that misses it has already moved `seq` (module docs).
        smp_mb__after_atomic();
        // Unordered: the barrier above orders it; a stale value only makes the futex return.
        let seq = self.seq.read();
        let relock = AbortOnUnwind("compat::Condvar: the wait unwound with its mutex released");
        // SAFETY: `state` is the caller's live acquisition of `raw`; it is replaced below by
        // the re-acquisition before anyone can use it again (and `relock` aborts otherwise).
        unsafe { raw.unlock(ManuallyDrop::take(state)) };
        // The futex compares the bit pattern: `seq` as u32.
        let result = futex::wait_until(&self.seq, seq as u32, deadline);
        // Unordered: leaving needs no ordering; a notifier that still counts this thread only
        // makes a wake that finds nobody.
        self.waiters.dec();
        *state = ManuallyDrop::new(raw.lock());
        mem::forget(relock);
        result == WaitResult::TimedOut
    }

    /// Blocks until notified, releasing the guard's mutex while it sleeps and re-acquiring it
    /// before it returns. Notifies that happen after the mutex is released are candidates to
    /// wake this thread. **Spurious wakeups happen**: check the predicate each time.
    ///
    /// Works with the guard of any raw lock (std's takes `MutexGuard<'a, T>` with the default
    /// one; a call written for std compiles unchanged).
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when the lock is re-acquired, the guard comes back inside a
    /// [`PoisonError`], as std.
    pub fn wait<'a, T: ?Sized, R: lock_api::RawMutex>(
        &self,
        mut guard: MutexGuard<'a, T, R>,
    ) -> LockResult<MutexGuard<'a, T, R>> {
        let (raw, state) = guard.raw_parts();
        self.wait_raw(raw, state, None);
        if guard.mutex_poisoned() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    /// Blocks while `condition` returns `true`: checks it first, then [`wait`](Self::wait)s
    /// and checks again, until it returns `false`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait): the first poisoned re-acquisition returns the guard in a
    /// [`PoisonError`].
    pub fn wait_while<'a, T: ?Sized, R: lock_api::RawMutex, F>(
        &self,
        mut guard: MutexGuard<'a, T, R>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T, R>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Self::wait), but gives up after about `dur` (monotonic clock). The
    /// [`WaitTimeoutResult`] says whether the timeout is known to have elapsed; spurious
    /// wakeups happen, so check the predicate, or use
    /// [`wait_timeout_while`](Self::wait_timeout_while). A `dur` too large to add to
    /// [`Instant::now`] waits without a limit.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait); the error carries the guard and the [`WaitTimeoutResult`].
    pub fn wait_timeout<'a, T: ?Sized, R: lock_api::RawMutex>(
        &self,
        guard: MutexGuard<'a, T, R>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T, R>, WaitTimeoutResult)> {
        self.wait_deadline(guard, Instant::now().checked_add(dur))
    }

    /// Like [`wait_while`](Self::wait_while), but gives up after about `dur` from the call
    /// (one deadline for all the waits). The [`WaitTimeoutResult`] says whether the time ran
    /// out with the condition still `true`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait); the error carries the guard and the result of the last wait.
    pub fn wait_timeout_while<'a, T: ?Sized, R: lock_api::RawMutex, F>(
        &self,
        mut guard: MutexGuard<'a, T, R>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T, R>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(dur);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, wait_timeout_result(false)));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((guard, wait_timeout_result(true)));
            }
            guard = self.wait_deadline(guard, deadline)?.0;
        }
    }

    /// std's deprecated millisecond form of [`wait_timeout`](Self::wait_timeout); the `bool` is
    /// `false` only if the timeout is known to have elapsed.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    #[deprecated(note = "replaced by `Condvar::wait_timeout`, as in std")]
    pub fn wait_timeout_ms<'a, T: ?Sized, R: lock_api::RawMutex>(
        &self,
        guard: MutexGuard<'a, T, R>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T, R>, bool)> {
        match self.wait_timeout(guard, Duration::from_millis(u64::from(ms))) {
            Ok((g, r)) => Ok((g, !r.timed_out())),
            Err(e) => {
                let (g, r) = e.into_inner();
                Err(PoisonError::new((g, !r.timed_out())))
            }
        }
    }

    /// One wait with an absolute deadline (`None`: no limit), poisoning as std.
    fn wait_deadline<'a, T: ?Sized, R: lock_api::RawMutex>(
        &self,
        mut guard: MutexGuard<'a, T, R>,
        deadline: Option<Instant>,
    ) -> LockResult<(MutexGuard<'a, T, R>, WaitTimeoutResult)> {
        let (raw, state) = guard.raw_parts();
        let result = wait_timeout_result(self.wait_raw(raw, state, deadline));
        if guard.mutex_poisoned() {
            Err(PoisonError::new((guard, result)))
        } else {
            Ok((guard, result))
        }
    }

    /// Wakes one thread blocked in a wait on this condvar, if there is one. Notifies are not
    /// remembered: with no waiter, this does nothing (and, unlike std's, costs no system call).
    #[inline]
    pub fn notify_one(&self) {
        if self.notify() {
            futex::wake_one(&self.seq);
        }
    }

    /// Wakes every thread blocked in a wait on this condvar. Notifies are not remembered.
    #[inline]
    pub fn notify_all(&self) {
        if self.notify() {
            futex::wake_all(&self.seq);
        }
    }

    /// Moves `seq` and says whether anyone may be waiting (`wq_has_sleeper`).
    #[inline]
    fn notify(&self) -> bool {
        // Unordered RMW; the barrier below orders it.
        self.seq.inc();
        // The notifier's half of the store-buffering pair (module docs): `seq` moved before
        // `waiters` is read.
        smp_mb__after_atomic();
        // Unordered: the barrier above orders it.
        self.waiters.read() != 0
    }
}

impl Default for Condvar {
    /// [`Condvar::new`].
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    /// `Condvar { .. }`, as std.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

/// Aborts the process if dropped, i.e. if the code it guards unwinds.
struct AbortOnUnwind(&'static str);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!("{}", self.0);
        std::process::abort();
    }
}

/// std's own [`WaitTimeoutResult`] for `timed_out`.
///
/// std gives the type a private field, so it cannot be built outside std; but std's condvar
/// returns both values from documented, non-blocking calls: `wait_timeout_while` with a
/// condition that is already `false` returns "not timed out" at once, and with a zero timeout
/// and a condition that stays `true` returns "timed out" at once. Both are made once and
/// copied, so ksync returns the very type std users name (a one-time cost, then one load).
pub(super) fn wait_timeout_result(timed_out: bool) -> WaitTimeoutResult {
    // std's OnceLock: a cache of two std values, not part of the algorithm (and not a model
    // object under loom on purpose).
    static RESULTS: OnceLock<[WaitTimeoutResult; 2]> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let mutex = std::sync::Mutex::new(());
        let cv = std::sync::Condvar::new();
        // Neither call blocks, and no other thread can see `mutex`, so nothing here panics
        // (a poisoned lock is impossible, but taken as is).
        let guard = mutex.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, not_timed_out) = cv
            .wait_timeout_while(guard, Duration::ZERO, |_| false)
            .unwrap_or_else(PoisonError::into_inner);
        let (_guard, timed_out) = cv
            .wait_timeout_while(guard, Duration::ZERO, |_| true)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !not_timed_out.timed_out() && timed_out.timed_out(),
            "std's Condvar::wait_timeout_while no longer behaves as documented"
        );
        [not_timed_out, timed_out]
    })[usize::from(timed_out)]
}
