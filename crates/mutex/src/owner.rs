//! The owner word: the owner's descriptor address with three flag bits, and the operations on it.
//!
//! Mirrors the owner-word helpers of `kernel/locking/mutex.c` (`__mutex_owner`,
//! `__mutex_trylock_common`, `__mutex_trylock_fast`, `__mutex_unlock_fast`, `__mutex_handoff`,
//! `__mutex_set_flag` / `__mutex_clear_flag`) and the flag values of `include/linux/mutex.h`.
//!
//! ```text
//!  63                                                    3   2        1        0
//! +-------------------------------------------------------+--------+--------+--------+
//! |  owner: address of its ksync_percpu::Task (0 = none)  | PICKUP | HANDOFF| WAITERS|
//! +-------------------------------------------------------+--------+--------+--------+
//! ```
//!
//! A [`Task`] is 128-byte aligned, so the low bits of its address are free for flags. The word
//! is an `atomic_long_t` ([`AtomicLong`]), as in the kernel.
//!
//! | word | meaning | who moves it on |
//! |---|---|---|
//! | `0` | unlocked, nobody waits | fast lock: CAS `0 -> current` (acquire) |
//! | `T` | held by T, nobody waits | fast unlock: CAS `T -> 0` (release) |
//! | `T \| W` | held by T, waiters queued | T's slow unlock: CAS `T\|W -> W` (release), then wakes the first waiter |
//! | `W` | free, waiters queued (one was just woken) | anyone's trylock: CAS `W -> me\|W` (acquire): stealing is allowed |
//! | `T \| W \| H` | held by T; the first waiter F woke, lost, and asked for a handoff | T's slow unlock: CAS `-> F\|W\|P` (release), no release |
//! | `F \| W \| P` | handed to F, which must pick it up; nobody else may take it | F: CAS `-> F\|W` (acquire) |
//! | any, list empties | the last waiter leaves (acquired or gave up) | `andnot(W\|H\|P)` under `wait_lock` |
//!
//! Rules (pitfalls 6 and 7 of the design notes): the fast unlock is a CAS and fails whenever a
//! flag is set, so a queued waiter is never forgotten; HANDOFF is set only by the first waiter,
//! only on a held mutex, and only an unlocker clears it (by handing off, or by releasing to
//! nobody when the list emptied); PICKUP names the only thread that may take the mutex; when the
//! wait list empties, all three flags clear together.

use core::fmt;

use ksync_atomic::AtomicLong;
use ksync_percpu::Task;

use crate::trace::{trace_step, Step};

/// `MUTEX_FLAG_WAITERS`: the wait list is non-empty; unlock must wake the first waiter.
pub const MUTEX_FLAG_WAITERS: isize = 0x01;
/// `MUTEX_FLAG_HANDOFF`: the first waiter asks for the mutex to be handed to it at the next unlock.
pub const MUTEX_FLAG_HANDOFF: isize = 0x02;
/// `MUTEX_FLAG_PICKUP`: the mutex was handed to the task in the owner field, which must pick it up.
pub const MUTEX_FLAG_PICKUP: isize = 0x04;
/// `MUTEX_FLAGS`: all three flags.
pub const MUTEX_FLAGS: isize = 0x07;

// The flags live in the low bits of a descriptor's address.
static_assertions::const_assert!(core::mem::align_of::<Task>() > MUTEX_FLAGS as usize);

/// The owner-word value of a task (its address; the low bits are zero).
#[inline(always)]
pub(crate) fn task_val(task: &'static Task) -> isize {
    task as *const Task as isize
}

/// The task an owner-word value names, if any (`__mutex_owner`).
#[inline(always)]
pub(crate) fn owner_task(word: isize) -> Option<&'static Task> {
    let p = (word & !MUTEX_FLAGS) as *const Task;
    if p.is_null() {
        return None;
    }
    // Acquire fence: `word` may come from a relaxed read; this pairs with the release fence that
    // ends the owner thread's registration (`ksync_percpu::current`), so the descriptor's
    // construction happens before our reads of it. (x86-64: a compiler barrier.)
    ksync_barrier::smp_acquire__after_ctrl_dep();
    // SAFETY: a non-zero task field was written from `task_val` of a `&'static Task`, and
    // descriptors are never freed (`ksync_percpu::Task`): the address stays valid memory for
    // the life of the process even after the thread exits (the descriptor may then serve
    // another thread, which only makes the answer stale, never dangling).
    unsafe { p.as_ref() }
}

/// The owner word of one mutex.
#[repr(transparent)]
pub(crate) struct OwnerWord {
    pub(crate) val: AtomicLong,
}

impl OwnerWord {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        OwnerWord {
            val: AtomicLong::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        OwnerWord {
            val: AtomicLong::new(0),
        }
    }

    /// One unordered read (`atomic_long_read`).
    #[inline(always)]
    pub(crate) fn read(&self) -> isize {
        // Unordered: callers use it as a CAS seed, a hint or a snapshot.
        self.val.read()
    }

    /// `__mutex_trylock_fast`: CAS `0 -> me`, ACQUIRE on success. Fails on any other value,
    /// flags included, and returns what it found.
    #[inline(always)]
    pub(crate) fn trylock_fast(&self, me: isize) -> Result<(), isize> {
        let mut old = 0;
        // Acquire: taking the mutex; pairs with the RELEASE of the previous owner's unlock (or
        // handoff), so its critical section happens before ours. Failure is unordered.
        if self.val.try_cmpxchg_acquire(&mut old, me) {
            trace_step!(self, Step::Fast, me);
            Ok(())
        } else {
            Err(old)
        }
    }

    /// `__mutex_unlock_fast`: CAS `me -> 0`, RELEASE. Fails if any flag is set (a waiter must be
    /// woken, or a handoff is due) or if `me` is not the owner.
    #[inline(always)]
    pub(crate) fn unlock_fast(&self, me: isize) -> bool {
        let mut old = me;
        // Release: publishes our critical section to the next owner's acquire. Failure is
        // unordered (the slow path re-reads).
        let done = self.val.try_cmpxchg_release(&mut old, 0);
        if done {
            trace_step!(self, Step::Unlock, 0);
        }
        done
    }

    /// `__mutex_trylock_common(lock, handoff)`: one attempt to take the mutex for `me`, or, for
    /// the first waiter (`handoff`), to ask for a handoff. `Ok` = we own it now; `Err(word)` =
    /// it is held (by the task in `word`), or handed to someone else.
    ///
    /// * owned and PICKUP set: succeeds only for the named task, which clears PICKUP;
    /// * owned, no PICKUP: fails; with `handoff`, first sets HANDOFF (if not yet set);
    /// * unowned: takes it, keeping WAITERS (stealing from the woken waiter is allowed: that is
    ///   what HANDOFF bounds).
    #[inline]
    pub(crate) fn trylock_common(
        &self,
        me: isize,
        handoff: bool,
        start: isize,
    ) -> Result<(), isize> {
        let mut owner = start;
        loop {
            let mut flags = owner & MUTEX_FLAGS;
            let mut task = owner & !MUTEX_FLAGS;
            if task != 0 {
                if flags & MUTEX_FLAG_PICKUP != 0 {
                    if task != me {
                        return Err(owner);
                    }
                    // Our handoff: pick it up.
                    flags &= !MUTEX_FLAG_PICKUP;
                } else if handoff {
                    if flags & MUTEX_FLAG_HANDOFF != 0 {
                        return Err(owner);
                    }
                    flags |= MUTEX_FLAG_HANDOFF;
                } else {
                    return Err(owner);
                }
            } else {
                // HANDOFF and PICKUP never stay set on an unowned mutex (the unlocker that sees
                // HANDOFF hands off instead of releasing; PICKUP always names a task).
                // (Checked in every build: a flag test on the slow path.)
                if flags & (MUTEX_FLAG_HANDOFF | MUTEX_FLAG_PICKUP) != 0 {
                    crate::debug::corrupt("an unowned mutex with HANDOFF or PICKUP set", owner);
                }
                task = me;
            }
            let new = task | flags;
            // Acquire: when this takes the mutex (from unowned, or by picking up a handoff) it
            // pairs with the RELEASE of the unlock or of `handoff`. When it only sets HANDOFF
            // it orders nothing that matters. Failure (someone moved the word) is unordered and
            // refreshes `owner`.
            let old = owner;
            if self.val.try_cmpxchg_acquire(&mut owner, new) {
                if task != me {
                    trace_step!(self, Step::SetHandoff, new);
                    return Err(new);
                }
                let step = if old & MUTEX_FLAG_PICKUP != 0 {
                    Step::Pickup
                } else {
                    Step::Took
                };
                trace_step!(self, step, new);
                return Ok(());
            }
        }
    }

    /// `__mutex_handoff(lock, task)`: the owner passes the mutex to `next` (the first waiter)
    /// without releasing it: `(word & WAITERS) | next | PICKUP`; with no `next`, it releases to
    /// nobody (`word & WAITERS`). Clears HANDOFF either way. Only the owner calls this, with
    /// `wait_lock` held.
    pub(crate) fn handoff(&self, me: isize, next: Option<&'static Task>) -> isize {
        // Unordered: a CAS seed; the release CAS below decides and refreshes it on failure.
        let mut owner = self.read();
        loop {
            if owner & !MUTEX_FLAGS != me || owner & MUTEX_FLAG_PICKUP != 0 {
                crate::debug::corrupt("a handoff by a task that does not own the mutex", owner);
            }
            let new = match next {
                Some(t) => (owner & MUTEX_FLAG_WAITERS) | task_val(t) | MUTEX_FLAG_PICKUP,
                None => owner & MUTEX_FLAG_WAITERS,
            };
            // Release: our critical section happens before the next owner's, which picks up
            // with an ACQUIRE CAS (or, with no `next`, takes the mutex with one). Failure is
            // unordered: the first waiter set HANDOFF, or a leaving waiter cleared the flags.
            if self.val.try_cmpxchg_release(&mut owner, new) {
                trace_step!(self, Step::Handoff, new);
                return new;
            }
        }
    }

    /// `__mutex_set_flag(lock, MUTEX_FLAG_WAITERS)`: unordered OR, under `wait_lock`.
    #[inline]
    pub(crate) fn set_waiters(&self) {
        // Unordered (`atomic_long_or`): every later decision about this bit is an RMW on the
        // same word (unlock CAS, trylock CAS), so coherence alone orders them: an unlock that
        // comes after the OR sees it, one that comes before released the mutex before our
        // next trylock, which then sees it free.
        self.val.or(MUTEX_FLAG_WAITERS);
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(self, Step::Waiters, self.read());
    }

    /// `__mutex_clear_flag(lock, MUTEX_FLAGS)`: the wait list just emptied (under `wait_lock`).
    #[inline]
    pub(crate) fn clear_flags(&self) {
        // Unordered (`atomic_long_andnot`), for the same reason as `set_waiters`: the owner's
        // unlock CAS reads the word after or before this RMW and acts on what it sees.
        self.val.andnot(MUTEX_FLAGS);
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(self, Step::ClearFlags, self.read());
    }
}

/// A decoded owner word: a racy snapshot, for tests, diagnostics and tracing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MutexState {
    /// The raw word.
    pub word: isize,
}

impl MutexState {
    /// Decodes `word`.
    pub fn from_word(word: isize) -> Self {
        MutexState { word }
    }

    /// The owner's descriptor (`__mutex_owner`), if the mutex is held (or handed to a waiter).
    pub fn owner(&self) -> Option<&'static Task> {
        owner_task(self.word)
    }

    /// `mutex_is_locked`: the owner field is non-zero.
    pub fn is_locked(&self) -> bool {
        self.word & !MUTEX_FLAGS != 0
    }

    /// `MUTEX_FLAG_WAITERS`.
    pub fn waiters(&self) -> bool {
        self.word & MUTEX_FLAG_WAITERS != 0
    }

    /// `MUTEX_FLAG_HANDOFF`.
    pub fn handoff(&self) -> bool {
        self.word & MUTEX_FLAG_HANDOFF != 0
    }

    /// `MUTEX_FLAG_PICKUP`.
    pub fn pickup(&self) -> bool {
        self.word & MUTEX_FLAG_PICKUP != 0
    }
}

/// `owner=<serial>|W|H|P` with the flags that are set, e.g. `#3|W|H`, or `0` / `-|W` unowned.
impl fmt::Display for MutexState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.owner() {
            Some(t) => write!(f, "#{}", t.serial())?,
            None if self.word & MUTEX_FLAGS == 0 => return write!(f, "0"),
            None => write!(f, "-")?,
        }
        for (bit, name) in [
            (MUTEX_FLAG_WAITERS, "W"),
            (MUTEX_FLAG_HANDOFF, "H"),
            (MUTEX_FLAG_PICKUP, "P"),
        ] {
            if self.word & bit != 0 {
                write!(f, "|{name}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for MutexState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MutexState({self} = {:#x})", self.word)
    }
}
