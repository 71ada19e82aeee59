//! [`RawMutex`]: the owner word, `wait_lock`, the wait list and the wake-in-flight mark, and the
//! lock and unlock paths of `kernel/locking/mutex.c`.
//!
//! ```text
//! lock:    CAS 0 -> current ──ok──> held
//!             │ failed
//!             v
//!          trylock ── spin (pause, then yield) ── wait_lock: trylock, queue (WAITERS)
//!             ┌───────────────────────────────────────────────────────┘
//!             v
//!          loop { arm futex word; trylock (picks up a handoff); [timed: give up];
//!                 drop wait_lock; sleep; trylock-or-HANDOFF if first; first: spin;
//!                 take wait_lock }
//!          dequeue (last one out clears the flags); drop wait_lock
//!
//! unlock:  CAS current -> 0 ──ok──> free
//!             │ failed: a flag is set
//!             v
//!          HANDOFF (or fair, with waiters)? ──no──> release (flags kept); WAITERS, and no wake
//!             │ yes                                    in flight? wake the first (below)
//!             v
//!          wait_lock; owner = first | PICKUP | WAITERS; drop wait_lock; wake it
//! ```

use core::fmt;
use core::marker::PhantomData;
use std::time::{Duration, Instant};

use ksync_percpu::{current, Task};
use ksync_spinlock::RawQSpinLock;

use crate::owner::{
    owner_task, task_val, MutexState, OwnerWord, MUTEX_FLAGS, MUTEX_FLAG_HANDOFF,
    MUTEX_FLAG_PICKUP, MUTEX_FLAG_WAITERS,
};
use crate::spin::optimistic_spin;
use crate::trace::{trace_step, Step};
use crate::waiter::{self, WaitList, Waiter};
use crate::woken::WakeMark;
use crate::{debug, DEBUG};

/// The kernel's mutex (`struct mutex`, `kernel/locking/mutex.c`): an owner word with three flag
/// bits, a spinlock-protected FIFO of sleeping waiters, handoff against starvation, and
/// optimistic spinning on a running owner. A `lock_api` raw mutex: use it as [`Mutex<T>`](crate::Mutex).
///
/// * **Fast paths:** lock is one thread-local read (the caller's [`Task`]) and one acquire CAS
///   `0 -> current`; unlock is one release CAS `current -> 0` (the owner travels in the guard
///   state, so unlock needs no thread-local read). The unlock CAS fails whenever a flag is set,
///   which sends it to the slow path that wakes a waiter or hands off.
/// * **Slow path:** a short bounded spin while the owner is not asleep (a few `pause`s, then a
///   few yields: [`spin`](crate::spin)), then the FIFO wait list, sleeping on the thread's own
///   futex word. A woken waiter that loses the race for the mutex once sets HANDOFF, and the
///   next unlock hands the mutex to it directly.
/// * **Size:** 24 bytes on 64-bit targets (the kernel's is 32): the owner word (8), `wait_lock`, a
///   [`RawQSpinLock`] (4), the wake-in-flight mark (4, where the kernel keeps its OSQ) and the
///   pointer to the first waiter (8).
///
/// Misuse: see [`debug`](crate#misuse-and-debug-checks) in the crate docs.
///
/// ```
/// # #[cfg(not(loom))] {
/// use ksync_mutex::Mutex;
/// use std::sync::Arc;
///
/// let m = Arc::new(Mutex::new(0u64));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let m = m.clone();
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 *m.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// assert_eq!(*m.lock(), 4000);
/// # }
/// ```
#[repr(C)]
pub struct RawMutex {
    /// `atomic_long_t owner`: the owner's descriptor address | WAITERS | HANDOFF | PICKUP.
    owner: OwnerWord,
    /// `raw_spinlock_t wait_lock`: guards the wait list (and orders the sleep/wake handshake).
    wait_lock: RawQSpinLock,
    /// The wake-in-flight mark ([`woken`](crate::woken)): user space's addition, where the
    /// kernel keeps its OSQ tail.
    woken: WakeMark,
    /// `first_waiter`: the head of the circular FIFO of waiters (on their stacks).
    list: WaitList,
}

#[cfg(all(not(loom), target_pointer_width = "64"))]
static_assertions::assert_eq_size!(RawMutex, [u64; 3]);

/// What an acquisition hands to its unlock: the owner's descriptor, so that the unlock CAS needs
/// no thread-local read (lock_api 0.5 guards carry state).
///
/// `!Send` (the mutex records its owner: only the owner may unlock) but `Sync` (a guard may be
/// shared by reference), like lock_api's `GuardNoSend`. Not `Clone`: one acquisition, one unlock.
#[must_use = "dropping the guard state without unlocking keeps the mutex locked"]
pub struct RawMutexGuard {
    owner: &'static Task,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: the guard state holds a `&'static Task` (itself `Sync`) and nothing thread-bound; it is
// `!Send` only so that an acquisition cannot migrate to another thread.
unsafe impl Sync for RawMutexGuard {}

impl RawMutexGuard {
    #[inline(always)]
    fn new(owner: &'static Task) -> Self {
        RawMutexGuard {
            owner,
            _not_send: PhantomData,
        }
    }

    /// The thread that made this acquisition.
    pub fn owner(&self) -> &'static Task {
        self.owner
    }
}

impl fmt::Debug for RawMutexGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMutexGuard")
            .field("owner", &format_args!("{}", self.owner))
            .finish()
    }
}

impl RawMutex {
    /// An unlocked mutex (`DEFINE_MUTEX` / `mutex_init`: all zero).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawMutex {
            owner: OwnerWord::new(),
            wait_lock: RawQSpinLock::new(),
            woken: WakeMark::new(),
            list: WaitList::new(),
        }
    }

    /// An unlocked mutex (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawMutex {
            owner: OwnerWord::new(),
            wait_lock: RawQSpinLock::new(),
            woken: WakeMark::new(),
            list: WaitList::new(),
        }
    }

    /// `mutex_lock`: one acquire CAS `0 -> current`, else the slow path (spin, then sleep).
    ///
    /// # Panics
    ///
    /// If the calling thread already holds the mutex (it would deadlock).
    #[inline]
    pub fn lock(&self) -> RawMutexGuard {
        let me = current();
        if let Err(seen) = self.owner.trylock_fast(task_val(me)) {
            self.lock_slowpath(me, seen, None);
        }
        RawMutexGuard::new(me)
    }

    /// `mutex_trylock`: takes the mutex if no one holds it (even with waiters queued: like the
    /// kernel's, a trylock may take a free mutex from a woken waiter). Never sleeps or spins.
    #[inline]
    pub fn try_lock(&self) -> Option<RawMutexGuard> {
        let me = current();
        let v = task_val(me);
        match self.owner.trylock_fast(v) {
            Ok(()) => Some(RawMutexGuard::new(me)),
            Err(seen) => self
                .owner
                .trylock_common(v, false, seen)
                .ok()
                .map(|()| RawMutexGuard::new(me)),
        }
    }

    /// Like [`lock`](Self::lock), giving up after `timeout` (the user-space analog of
    /// `mutex_lock_killable`). A timeout too large to represent waits forever.
    ///
    /// A waiter that gives up leaves the wait list after one last trylock under `wait_lock`, so
    /// a handoff already made to it is taken, never dropped.
    ///
    /// # Panics
    ///
    /// If the calling thread already holds the mutex.
    #[inline]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<RawMutexGuard> {
        self.try_lock_deadline(Instant::now().checked_add(timeout))
    }

    /// Like [`lock`](Self::lock), giving up at `deadline`.
    ///
    /// # Panics
    ///
    /// If the calling thread already holds the mutex.
    #[inline]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<RawMutexGuard> {
        self.try_lock_deadline(Some(deadline))
    }

    #[inline]
    fn try_lock_deadline(&self, deadline: Option<Instant>) -> Option<RawMutexGuard> {
        let me = current();
        match self.owner.trylock_fast(task_val(me)) {
            Ok(()) => Some(RawMutexGuard::new(me)),
            Err(seen) => self
                .lock_slowpath(me, seen, deadline)
                .then(|| RawMutexGuard::new(me)),
        }
    }

    /// `mutex_unlock`: one release CAS `current -> 0`, else the slow path (wake the first waiter,
    /// or hand the mutex to it).
    ///
    /// # Safety
    ///
    /// `guard` is the state of this mutex's acquisition that the caller holds.
    ///
    /// # Panics
    ///
    /// If the mutex is not held by the thread named in `guard` (an unlock of an unlocked mutex, or
    /// with another mutex's guard state), and, with [`DEBUG`](crate::DEBUG), if the caller is
    /// not that thread. The mutex is left as it was.
    #[inline]
    #[track_caller]
    pub unsafe fn unlock(&self, guard: RawMutexGuard) {
        let me = guard.owner;
        if DEBUG && !me.is_current() {
            debug::foreign_unlock(self, me);
        }
        if !self.owner.unlock_fast(task_val(me)) {
            self.unlock_slowpath(me, false);
        }
    }

    /// Unlocks and, if a thread waits, hands the mutex to the first waiter instead of releasing
    /// it (nobody can take it in between). Slower than [`unlock`](Self::unlock), fair.
    ///
    /// # Safety
    ///
    /// As for [`unlock`](Self::unlock).
    ///
    /// # Panics
    ///
    /// As for [`unlock`](Self::unlock).
    #[inline]
    #[track_caller]
    pub unsafe fn unlock_fair(&self, guard: RawMutexGuard) {
        let me = guard.owner;
        if DEBUG && !me.is_current() {
            debug::foreign_unlock(self, me);
        }
        if !self.owner.unlock_fast(task_val(me)) {
            self.unlock_slowpath(me, true);
        }
    }

    /// Hands the mutex to the first waiter and takes it back after it (`unlock_fair` + `lock`),
    /// only if a thread waits.
    ///
    /// # Safety
    ///
    /// As for [`unlock`](Self::unlock).
    #[inline]
    #[track_caller]
    pub unsafe fn bump(&self, guard: &mut RawMutexGuard) {
        // Unordered: a hint; `unlock_fair` decides with its own CAS.
        if self.owner.read() & MUTEX_FLAG_WAITERS != 0 {
            let state = RawMutexGuard::new(guard.owner);
            // SAFETY: `guard` is the caller's acquisition (forwarded contract); `state` stands
            // for it, and `guard` is refreshed with the new acquisition right after.
            unsafe { self.unlock_fair(state) };
            *guard = self.lock();
        }
    }

    /// `mutex_is_locked`: the owner field is non-zero (held, or handed to a waiter that has not
    /// picked it up yet). A racy snapshot.
    #[inline]
    pub fn is_locked(&self) -> bool {
        // Unordered: a racy snapshot, as documented.
        self.owner.read() & !MUTEX_FLAGS != 0
    }

    /// The owner word, decoded (a racy snapshot, for tests, diagnostics and tracing).
    pub fn state(&self) -> MutexState {
        // Unordered: a racy snapshot, as documented.
        MutexState::from_word(self.owner.read())
    }

    /// The owner's descriptor (`__mutex_owner`), if held. A racy snapshot.
    pub fn owner(&self) -> Option<&'static Task> {
        // Unordered: a racy snapshot; `owner_task` fences before dereferencing it.
        owner_task(self.owner.read())
    }

    /// The waiting threads, first to last: a snapshot taken under `wait_lock`, for tests and
    /// diagnostics (it allocates).
    pub fn waiters(&self) -> Vec<&'static Task> {
        let g = self.wait_lock.lock();
        let tasks = self.list.tasks();
        // SAFETY: `g` is our acquisition of `wait_lock`.
        unsafe { self.wait_lock.unlock(g) };
        tasks
    }

    /// Whether a woken waiter has yet to re-check the mutex (the wake-in-flight mark; a racy
    /// snapshot).
    pub fn wake_in_flight(&self) -> bool {
        self.woken.is_set()
    }

    /// `__mutex_lock_common`. `seen` is the word the fast path found; `deadline` is `None` for
    /// an untimed lock (or a timed one whose deadline is not representable). Returns `true` with
    /// the mutex held, `false` if the deadline passed first.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_slowpath(&self, me: &'static Task, seen: isize, deadline: Option<Instant>) -> bool {
        let v = task_val(me);
        // Recursion: the owner word already names us. (Free to check here: we read the word.)
        if seen & !MUTEX_FLAGS == v {
            debug::recursive_lock(self, me);
        }
        let trylock = |handoff: bool, w: isize| self.owner.trylock_common(v, handoff, w);

        // 1. Trylock, then spin while the owner is not asleep (`spin`).
        let held = match trylock(false, seen) {
            Ok(()) => return true,
            Err(w) => w,
        };
        if optimistic_spin(&self.owner, false, held, deadline, |w| trylock(false, w)) {
            return true;
        }

        // 2. Queue up under `wait_lock`, after one more trylock.
        let mut g = self.wait_lock.lock();
        // Unordered: a CAS seed; a stale "held" only queues us, and the loop below re-checks.
        if trylock(false, self.owner.read()).is_ok() {
            // SAFETY: `g` is our acquisition of `wait_lock`.
            unsafe { self.wait_lock.unlock(g) };
            return true;
        }
        // Nothing from here to the removal below can unwind (the invariant checks abort), so the
        // node is never left linked after this frame is gone.
        let waiter = Waiter::new(me);
        // SAFETY: `wait_lock` is held; `waiter` is new and stays in this frame until removed.
        if unsafe { self.list.add_tail(&waiter) } {
            self.owner.set_waiters();
        }
        let mut timed_out = false;
        let acquired = loop {
            // 3. "Set state, then trylock" (under `wait_lock`): arm the futex word first, so an
            //    unlock that lands after this trylock finds the token and wakes us.
            let token = waiter.arm();
            // A woken waiter re-checks here: clear the wake-in-flight mark, full barrier, then
            // the trylock (the waiter's half of the handshake in `woken`).
            self.woken.clear();
            // Unordered: a CAS seed, ordered by `wait_lock` and the barrier in `clear` (`woken`).
            if trylock(false, self.owner.read()).is_ok() {
                waiter.disarm(token);
                break true;
            }
            // A timed waiter gives up only after that trylock, under `wait_lock`: a handoff
            // made to it (PICKUP) was just taken by the trylock (pitfall 7).
            if timed_out {
                waiter.disarm(token);
                // Unordered: trace only; evaluated only while a recording runs.
                trace_step!(&self.owner, Step::GaveUp, self.owner.read());
                break false;
            }
            // SAFETY: `g` is our acquisition of `wait_lock`.
            unsafe { self.wait_lock.unlock(g) };

            // 4. Sleep (`schedule()`); whatever woke us, disarm so wakers skip the syscall.
            // Unordered: trace only; evaluated only while a recording runs.
            trace_step!(&self.owner, Step::Sleep, self.owner.read());
            timed_out = waiter::sleep(me, token, deadline);
            waiter.disarm(token);

            // 5. Woken: try again; the first waiter asks for a handoff if it loses (sets
            //    HANDOFF), then spins like a new arrival, until the owner hands the mutex over.
            let first = self.list.is_first(&waiter);
            // Unordered: a CAS seed; a stale value costs one more round of the loop.
            match trylock(first, self.owner.read()) {
                Ok(()) => {
                    g = self.wait_lock.lock();
                    break true;
                }
                Err(w)
                    if first
                        && optimistic_spin(&self.owner, true, w, deadline, |w| {
                            trylock(true, w)
                        }) =>
                {
                    g = self.wait_lock.lock();
                    break true;
                }
                Err(_) => {}
            }
            g = self.wait_lock.lock();
        };
        // 6. Dequeue; the last waiter out clears all the flags (`__mutex_remove_waiter`). A
        //    wake meant for us is used up: clear the mark, or our own unlock would skip the
        //    wake the next waiter needs.
        // SAFETY: `wait_lock` is held and `waiter` is linked.
        if unsafe { self.list.remove(&waiter) } {
            self.owner.clear_flags();
        }
        self.woken.clear();
        // SAFETY: `g` is our acquisition of `wait_lock`.
        unsafe { self.wait_lock.unlock(g) };
        acquired
    }

    /// `__mutex_unlock_slowpath`: a flag is set. Release (keeping the flags) and wake the first
    /// waiter, or, when it asked for a handoff (or `fair`), pass ownership straight to it.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn unlock_slowpath(&self, me: &'static Task, fair: bool) {
        let v = task_val(me);
        // Unordered: a CAS seed; the release CAS below decides and refreshes it on failure.
        let mut owner = self.owner.read();
        let handoff = loop {
            if owner & !MUTEX_FLAGS != v {
                debug::bad_unlock(self, me, owner);
            }
            if owner & MUTEX_FLAG_PICKUP != 0 {
                debug::corrupt("PICKUP set on a mutex its owner unlocks", owner);
            }
            if owner & MUTEX_FLAG_HANDOFF != 0 || (fair && owner & MUTEX_FLAG_WAITERS != 0) {
                break true;
            }
            let released = owner & MUTEX_FLAGS;
            // Release: our critical section happens before the next owner's acquire. Failure
            // (a waiter set WAITERS or HANDOFF meanwhile) is unordered and refreshes `owner`.
            if self.owner.val.try_cmpxchg_release(&mut owner, released) {
                trace_step!(&self.owner, Step::Release, released);
                #[cfg(all(feature = "trace", not(loom)))]
                crate::trace::after_release(self);
                // No waiters, or a woken waiter has yet to re-check (it will see this release:
                // the handshake in `woken`): nobody to wake.
                if owner & MUTEX_FLAG_WAITERS == 0 || self.woken.pending() {
                    return;
                }
                break false;
            }
        };

        // `wake_q`: pick the first waiter under `wait_lock`, wake it after dropping the lock. Like
        // the kernel's `mutex_unlock` (`Documentation/locking/mutex-design.rst`), this touches
        // the mutex after releasing it; the caller's `&self` keeps it alive for the call (a
        // `MutexGuard` borrows the mutex), so freeing it under a concurrent unlock is already
        // excluded by the borrow rules. The wake itself touches only the waiter's descriptor.
        let g = self.wait_lock.lock();
        let next = self.list.first().map(|w| (w.task, w.token()));
        if handoff {
            self.owner.handoff(v, next.map(|(task, _)| task));
        } else if next.is_some() {
            self.woken.set();
        }
        // SAFETY: `g` is our acquisition of `wait_lock`.
        unsafe { self.wait_lock.unlock(g) };
        if let Some((task, token)) = next {
            if waiter::wake(task, token) {
                trace_step!(&self.owner, Step::Wake, task_val(task));
            }
        }
    }
}

#[cfg(not(loom))]
impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMutex")
            .field("owner", &self.state())
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
// SAFETY: mutual exclusion by the owner word: only a CAS from an unowned word (or the PICKUP
// named task's CAS) installs an owner, and only the owner clears or passes it. Every successful
// lock path is an ACQUIRE CAS (fast path, trylock, pickup) and every unlock path a RELEASE CAS
// (fast unlock, slow release, handoff). A lock that unwinds (the recursion panic) holds nothing;
// an unlock that unwinds (the misuse panics) changed nothing.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::new();
    type Guard = RawMutexGuard;

    #[inline]
    fn lock(&self) -> RawMutexGuard {
        RawMutex::lock(self)
    }

    #[inline]
    fn try_lock(&self) -> Option<RawMutexGuard> {
        RawMutex::try_lock(self)
    }

    #[inline]
    unsafe fn unlock(&self, guard: RawMutexGuard) {
        // SAFETY: forwarded contract.
        unsafe { RawMutex::unlock(self, guard) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        RawMutex::is_locked(self)
    }
}

#[cfg(not(loom))]
// SAFETY: `unlock_fair` is `unlock` with the handoff forced when waiters exist; same guarantees.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self, guard: RawMutexGuard) {
        // SAFETY: forwarded contract.
        unsafe { RawMutex::unlock_fair(self, guard) }
    }

    #[inline]
    unsafe fn bump(&self, guard: &mut RawMutexGuard) {
        // SAFETY: forwarded contract.
        unsafe { RawMutex::bump(self, guard) }
    }
}

#[cfg(not(loom))]
// SAFETY: the timed paths are the lock path with a deadline; they return `None` only after the
// futex wait reported the deadline passed, holding nothing.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Option<RawMutexGuard> {
        RawMutex::try_lock_for(self, timeout)
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> Option<RawMutexGuard> {
        RawMutex::try_lock_until(self, deadline)
    }
}
