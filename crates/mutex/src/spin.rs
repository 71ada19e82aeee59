//! Optimistic spinning: `mutex_optimistic_spin`, `mutex_spin_on_owner`, and the spinner slot that
//! stands in for the OSQ.
//!
//! Mirrors `kernel/locking/mutex.c` (`CONFIG_MUTEX_SPIN_ON_OWNER`) and the role of
//! `kernel/locking/osq_lock.c`.
//!
//! # What the kernel does
//!
//! A task that finds the mutex held spins on the owner word instead of sleeping, as long as the
//! owner is running on a CPU (`owner_on_cpu`) and it itself need not reschedule: a running owner
//! will release soon, and a sleep/wake round trip costs far more than a short critical section.
//! Only one task spins on the owner word at a time, the head of the OSQ (an MCS queue of
//! would-be spinners whose members may give up), so that a release is not met by a stampede of
//! CAS attempts. The first waiter, once woken, may spin as well, without the OSQ.
//!
//! # What user space can see, and what ksync does
//!
//! * **Is the owner on a CPU?** Not observable: the OS can preempt a thread at any instruction.
//!   What is observable is whether the owner is itself asleep in a ksync lock
//!   ([`Task::is_blocked`], set around every futex sleep of ksync's locks): spinning on such an
//!   owner is pointless, so the spinner stops at once, as the kernel's does when
//!   `owner->on_cpu` drops. For a preempted owner there is no signal, so every spin is bounded by
//!   a budget ([`SPIN_LIMIT`]), sized to a futex sleep/wake round trip: a spin that outlasts the
//!   round trip would have been cheaper as a sleep.
//! * **The owner changed.** As in the kernel, the spinner re-tries the mutex whenever the owner
//!   field changes (released, or taken by someone else); the budget is not reset on a change, so
//!   a spinner that keeps losing races goes to sleep after one budget in all.
//! * **One spinner: a slot, not a queue.** The OSQ exists so that up to one task per CPU can wait
//!   to spin without touching the owner word. In user space the would-be spinners behind the
//!   head would spin on their queue nodes while the head spins on the owner, burning cores that
//!   threads outnumbering them could use, and the OSQ's unqueue protocol (needed because a
//!   queued spinner must be able to give up) is the most intricate part of the kernel's design.
//!   ksync keeps the OSQ's effect (one spinner on the owner word) with a one-word slot: a new
//!   arrival claims it with a CAS, spins, and frees it; an arrival that finds it taken goes
//!   straight to the wait list, as an OSQ member would once its predecessor or `need_resched()`
//!   told it to stop. With the first waiter also allowed to spin, at most two threads spin on a
//!   mutex, whatever the number of cores.

use ksync_atomic::Atomic;
use ksync_barrier::cpu_relax;
use ksync_percpu::Task;

use crate::owner::{owner_task, OwnerWord, MUTEX_FLAGS};

/// Spin iterations (each one [`cpu_relax`], `pause` on x86-64) a spinner may spend on a mutex
/// before it sleeps, across all owners it sees.
///
/// A futex sleep/wake round trip costs a few microseconds (`docs/perf.md`, "Futex costs"); a
/// `pause` costs tens of cycles on current x86-64 parts. `docs/mutex.md` ("Spinning") has the
/// measurements this value comes from.
#[cfg(not(loom))]
pub const SPIN_LIMIT: u32 = 1 << 10;

/// Spin iterations before sleeping (loom build: 2, so that models reach the sleep paths without
/// exploring hundreds of identical spins).
#[cfg(loom)]
pub const SPIN_LIMIT: u32 = 2;

/// The spinner slot (the OSQ's role): 0 = free, 1 = a new arrival spins on the owner word.
pub(crate) struct SpinnerSlot {
    slot: Atomic,
}

impl SpinnerSlot {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        SpinnerSlot {
            slot: Atomic::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        SpinnerSlot {
            slot: Atomic::new(0),
        }
    }

    /// `osq_lock`, reduced to a slot: `true` if we are now the spinner.
    #[inline]
    fn try_claim(&self) -> bool {
        // Relaxed (read, then CAS): the slot protects no data, it only bounds the number of
        // spinners; the mutex's own CASes order everything the spinner does with it. The read
        // first keeps a busy slot's cache line shared.
        self.slot.read() == 0 && self.slot.cmpxchg_relaxed(0, 1) == 0
    }

    /// `osq_unlock`.
    #[inline]
    fn release(&self) {
        // Relaxed: as in `try_claim`.
        self.slot.set(0);
    }

    /// Whether a new arrival is spinning (a racy snapshot).
    pub(crate) fn busy(&self) -> bool {
        self.slot.read() != 0
    }
}

/// Whether spinning on the owner in `word` can pay off: `mutex_can_spin_on_owner`.
#[inline]
fn can_spin_on_owner(word: isize) -> bool {
    // An owner that sleeps in a ksync lock will not release soon; no owner: try at once.
    owner_task(word).is_none_or(|t| !t.is_blocked())
}

/// `mutex_spin_on_owner`: spins while `owner` still owns the mutex. `true` if the owner changed
/// (try again), `false` if the spin should end (the owner sleeps, or the budget ran out).
#[inline]
fn spin_on_owner(word: &OwnerWord, owner: &'static Task, budget: &mut u32) -> bool {
    let owner_val = owner as *const Task as isize;
    loop {
        // Relaxed: a hint; the CAS that takes the mutex is the acquire.
        if word.read() & !MUTEX_FLAGS != owner_val {
            return true;
        }
        // `owner_on_cpu()`: reads the owner's descriptor, which is never freed (a stale owner
        // pointer reads another thread's flag at worst: a wrong guess, not a fault).
        if owner.is_blocked() || *budget == 0 {
            return false;
        }
        *budget -= 1;
        cpu_relax();
    }
}

/// `mutex_optimistic_spin`: spins on the owner word and tries to take the mutex whenever the owner
/// changes. `waiter` = the caller is the first waiter (no slot, as in the kernel). Returns `true`
/// with the mutex held.
///
/// `trylock(start)` is `__mutex_trylock_or_owner` (or, for the first waiter,
/// `__mutex_trylock_or_handoff`): `Ok` = taken, `Err(word)` = held.
#[inline(never)]
pub(crate) fn optimistic_spin(
    word: &OwnerWord,
    slot: &SpinnerSlot,
    waiter: bool,
    mut trylock: impl FnMut(isize) -> Result<(), isize>,
) -> bool {
    let mut current = word.read();
    if !waiter {
        if !can_spin_on_owner(current) || !slot.try_claim() {
            return false;
        }
        crate::trace::trace_step!(word, crate::trace::Step::SpinStart, word.read());
    }
    let mut budget = SPIN_LIMIT;
    let acquired = loop {
        current = match trylock(current) {
            Ok(()) => break true,
            Err(w) => w,
        };
        // Held (or handed to someone else): spin while that owner keeps it. A handoff target
        // that has not picked up yet counts as the owner: it is about to run.
        let Some(owner) = owner_task(current) else {
            // Unowned and the trylock still failed: the word moved under us; try again.
            if budget == 0 {
                break false;
            }
            budget -= 1;
            cpu_relax();
            current = word.read();
            continue;
        };
        if !spin_on_owner(word, owner, &mut budget) {
            break false;
        }
        current = word.read();
    };
    if !waiter {
        slot.release();
    }
    acquired
}
