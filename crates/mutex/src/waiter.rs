//! The wait list and the sleep/wake handshake: `struct mutex_waiter`, the FIFO list,
//! `set_current_state` + `schedule()`, and `wake_q`.
//!
//! Mirrors the waiter handling of `kernel/locking/mutex.c` (`__mutex_add_waiter`,
//! `__mutex_remove_waiter`, `__mutex_waiter_is_first`) and, for the list shape, newest mainline's
//! `first_waiter` pointer to a circular list.
//!
//! # The list
//!
//! Waiters live on their threads' stacks (`Waiter`), linked into a circular doubly-linked list
//! whose head the mutex points to (`first`). Every link is read and written only with
//! `wait_lock` held, FIFO: add at the tail, remove anywhere. `first` is an atomic pointer so
//! that a waiter can ask "am I first?" without the lock (it compares addresses and never
//! dereferences): once a waiter is first it stays first until it removes itself, so a stale
//! answer can only be "not yet", which costs one round of the wait loop, never correctness.
//!
//! # Sleeping: the task's futex word and a token
//!
//! A waiter sleeps on its thread's own word, [`Task::futex`], not on a word in its stack node:
//! the waker picks the first waiter under `wait_lock` but wakes it after dropping the lock (the
//! kernel's `wake_q`), by which time the waiter may have woken for another reason, taken the
//! mutex and returned, so its node is gone. The descriptor is never freed.
//!
//! The word holds a *token*: bit 0 = ARMED ("about to sleep or sleeping"), bits 1.. a sequence
//! number the waiter bumps each time it arms. The kernel's "set state, then trylock, then sleep"
//! becomes:
//!
//! | waiter (holding `wait_lock`) | waker (unlocker) |
//! |---|---|
//! | `t = next token`; `futex = t`; `node.token = t` (`set_current_state`) | release the owner word (or hand off) |
//! | trylock; if it fails: drop `wait_lock` | take `wait_lock`; read the first node's task and `token`; drop `wait_lock` |
//! | `futex_wait(futex, t)` (`schedule()`) | CAS `futex: t -> t & !ARMED`; if it succeeded, `futex_wake` (`wake_up_q`) |
//! | woken or not: `futex = t & !ARMED` (disarm) | |
//!
//! Why no wakeup is lost, with `wait_lock` as the only ordering (all the accesses to the futex
//! word are relaxed): the waiter arms and tries the mutex in one `wait_lock` section S_w, the
//! waker reads the token in a section S_x after its release R.
//!
//! * S_x before S_w: R happens before S_w's trylock, which sees the mutex free (or a later
//!   owner, whose own unlock will wake again).
//! * S_x after S_w: the armed store happens before the waker's CAS. If the CAS finds `t`, the
//!   waiter either sees the changed word in its `futex_wait` (no sleep) or is asleep and gets
//!   the wake: the futex contract. If it finds anything else, the waiter has already disarmed
//!   `t` (it woke) and will arm again, in a section after S_x (otherwise S_x would have read the
//!   newer token), so that section's trylock sees R.
//!
//! No store-buffering barrier is needed because both sides' critical steps sit in `wait_lock`
//! sections (pitfall 10 is about handshakes that have no common lock).
//!
//! The token's sequence number and the CAS keep a *stale* wake (a waker that read the token of
//! an earlier sleep, then was delayed) from touching a later sleep: its CAS fails, so it does not
//! even make the system call. Disarming after every wake-up makes wakers skip the system call
//! (~230 ns) whenever the waiter is already awake, which is the common case under contention:
//! the first waiter is woken once, and every unlock until it runs finds it awake. A stale wake can
//! at worst wake a later sleep spuriously (only if 2^31 arms happened in between), which every
//! sleep loop tolerates.

use core::ptr;

use ksync_barrier::sync::atomic::{AtomicPtr, Ordering};
use ksync_barrier::sync::cell::UnsafeCell;
use ksync_percpu::Task;

/// Bit 0 of a token: the waiter is about to sleep, or sleeps.
const ARMED: u32 = 1;

/// `struct mutex_waiter`: one sleeping (or about to sleep) thread, on its own stack.
pub(crate) struct Waiter {
    pub(crate) task: &'static Task,
    /// The token the waiter armed last (written by the waiter, read by wakers; under `wait_lock`).
    token: UnsafeCell<u32>,
    next: UnsafeCell<*const Waiter>,
    prev: UnsafeCell<*const Waiter>,
}

impl Waiter {
    pub(crate) fn new(task: &'static Task) -> Self {
        Waiter {
            task,
            token: UnsafeCell::new(0),
            next: UnsafeCell::new(ptr::null()),
            prev: UnsafeCell::new(ptr::null()),
        }
    }

    /// `set_current_state(TASK_UNINTERRUPTIBLE)`: arm a fresh token in the task's futex word and
    /// in the node. Call with `wait_lock` held, before the trylock that precedes sleeping.
    pub(crate) fn arm(&self) -> u32 {
        let word = self.task.futex();
        // Relaxed: only this thread writes new tokens (wakers only clear ARMED), so this reads
        // our own last store, or a waker's clearing of it.
        let t = (word.load(Ordering::Relaxed) | ARMED).wrapping_add(2);
        // Relaxed: ordered before any waker's CAS by `wait_lock` (see the module docs).
        word.store(t, Ordering::Relaxed);
        // SAFETY: the caller holds `wait_lock`, which guards the node's fields.
        self.token.with_mut(|p| unsafe { *p = t });
        t
    }

    /// After a sleep (woken, timed out, or never slept): mark the thread awake, so that wakers
    /// skip the system call. Only clears ARMED of our own token, which is all a waker would
    /// write too.
    pub(crate) fn disarm(&self, token: u32) {
        // Relaxed: a hint for wakers (see the module docs); correctness rests on `wait_lock`.
        self.task.futex().store(token & !ARMED, Ordering::Relaxed);
    }

    /// The armed token, for a waker. Call with `wait_lock` held.
    pub(crate) fn token(&self) -> u32 {
        // SAFETY: the caller holds `wait_lock`.
        self.token.with(|p| unsafe { *p })
    }

    fn next(&self) -> *const Waiter {
        // SAFETY: links are accessed only with `wait_lock` held (callers' contract).
        self.next.with(|p| unsafe { *p })
    }

    fn prev(&self) -> *const Waiter {
        // SAFETY: as above.
        self.prev.with(|p| unsafe { *p })
    }

    fn set_next(&self, w: *const Waiter) {
        // SAFETY: as above.
        self.next.with_mut(|p| unsafe { *p = w });
    }

    fn set_prev(&self, w: *const Waiter) {
        // SAFETY: as above.
        self.prev.with_mut(|p| unsafe { *p = w });
    }
}

/// Sleeps on the task's futex word while it holds `token` (one futex wait; spurious returns
/// allowed), marked blocked meanwhile (the `owner_on_cpu` analog spinners read).
/// Returns `true` if the deadline passed.
#[cold]
pub(crate) fn sleep(task: &'static Task, token: u32, deadline: Option<std::time::Instant>) -> bool {
    // Restore, not clear: a signal handler's wait must not mark its interrupted thread running.
    // Relaxed (inside `Task`): `blocked` is a hint for spinners, never needed for correctness.
    let was_blocked = task.is_blocked();
    task.set_blocked(true);
    let r = ksync_futex::wait_until(task.futex(), token, deadline);
    task.set_blocked(was_blocked);
    r.is_timed_out()
}

/// `wake_up_q` for one task: wake it if it still sleeps with `token` armed. Called after
/// `wait_lock` was dropped; touches only the (never freed) descriptor, never the mutex or the
/// node.
/// Returns whether it made the system call.
#[inline]
pub(crate) fn wake(task: &'static Task, token: u32) -> bool {
    let word = task.futex();
    // Relaxed: the futex contract needs only that the word changes before the wake; the mutex's
    // ordering comes from `wait_lock` and the owner word. A failed CAS means the waiter already
    // disarmed this token (it is awake and will re-check under `wait_lock`), or re-armed after
    // such a wake-up: no system call needed.
    let armed = word
        .compare_exchange(token, token & !ARMED, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok();
    if armed {
        ksync_futex::wake_one(word);
    }
    armed
}

/// The FIFO wait list: a pointer to the first of a circular list of stack nodes.
pub(crate) struct WaitList {
    first: AtomicPtr<Waiter>,
}

impl WaitList {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        WaitList {
            first: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        WaitList {
            first: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The first waiter. Call with `wait_lock` held (the returned node stays linked, and so
    /// valid, only while it is held).
    pub(crate) fn first(&self) -> Option<&Waiter> {
        // Relaxed: written under `wait_lock`, which the caller holds.
        let p = self.first.load(Ordering::Relaxed);
        // SAFETY: a linked node is valid until its owner unlinks it, which needs `wait_lock`.
        unsafe { p.as_ref() }
    }

    /// `__mutex_waiter_is_first`, without the lock: compares addresses only.
    pub(crate) fn is_first(&self, w: &Waiter) -> bool {
        // Relaxed: an address comparison, never dereferenced. Once first, a waiter stays first
        // until it removes itself, so a stale value can only say "not yet".
        ptr::eq(self.first.load(Ordering::Relaxed), w)
    }

    /// `__mutex_add_waiter`: appends `w` (FIFO). Returns `true` if it is now first (the list was
    /// empty: the caller sets WAITERS).
    ///
    /// # Safety
    ///
    /// `wait_lock` is held, `w` is not linked, and `w` stays at its address until it is removed.
    pub(crate) unsafe fn add_tail(&self, w: &Waiter) -> bool {
        let wp: *const Waiter = w;
        match self.first() {
            None => {
                w.set_next(wp);
                w.set_prev(wp);
                // Relaxed: readers that dereference hold `wait_lock`.
                self.first.store(wp as *mut Waiter, Ordering::Relaxed);
                true
            }
            Some(head) => {
                let tail = head.prev();
                w.set_prev(tail);
                w.set_next(head);
                // SAFETY: `tail` is linked (the list is circular), hence valid under the lock.
                unsafe { (*tail).set_next(wp) };
                head.set_prev(wp);
                false
            }
        }
    }

    /// `__mutex_remove_waiter`: unlinks `w`. Returns `true` if the list is now empty (the caller
    /// clears the flags).
    ///
    /// # Safety
    ///
    /// `wait_lock` is held and `w` is linked in this list.
    pub(crate) unsafe fn remove(&self, w: &Waiter) -> bool {
        let wp: *const Waiter = w;
        let next = w.next();
        if ptr::eq(next, wp) {
            // Relaxed: as in `add_tail`.
            self.first.store(ptr::null_mut(), Ordering::Relaxed);
            return true;
        }
        let prev = w.prev();
        // SAFETY: `prev` and `next` are linked, hence valid under the lock.
        unsafe {
            (*prev).set_next(next);
            (*next).set_prev(prev);
        }
        // Relaxed, as in `first`: written only under `wait_lock`, which we hold.
        if ptr::eq(self.first.load(Ordering::Relaxed), wp) {
            // Relaxed: as in `add_tail`.
            self.first.store(next as *mut Waiter, Ordering::Relaxed);
        }
        false
    }

    /// The waiters' tasks, first to last. Call with `wait_lock` held.
    pub(crate) fn tasks(&self) -> Vec<&'static Task> {
        let mut out = Vec::new();
        if let Some(head) = self.first() {
            let mut w: *const Waiter = head;
            loop {
                // SAFETY: linked nodes are valid under the lock.
                let node = unsafe { &*w };
                out.push(node.task);
                w = node.next();
                if ptr::eq(w, head) {
                    break;
                }
            }
        }
        out
    }
}
