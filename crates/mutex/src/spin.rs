//! Optimistic spinning: `mutex_optimistic_spin` and `mutex_spin_on_owner`, for user space.
//!
//! Mirrors the spinning of `kernel/locking/mutex.c` (`CONFIG_MUTEX_SPIN_ON_OWNER`) and, by
//! contrast, the role of `kernel/locking/osq_lock.c`.
//!
//! # What the kernel does
//!
//! A task that finds the mutex held spins on the owner word instead of sleeping, as long as the
//! owner runs on a CPU (`owner_on_cpu`) and no other task needs this CPU (`need_resched()`): a
//! running owner releases soon, and a sleep/wake round trip costs far more than a short critical
//! section. Only the head of the OSQ (an MCS queue of would-be spinners) spins on the owner word,
//! so a release is not met by a stampede. The first waiter, once woken, spins too, without the
//! OSQ.
//!
//! # What user space can see
//!
//! * **Whether the owner runs: no.** The OS preempts threads at any instruction. What is
//!   observable is whether the owner sleeps in a ksync lock ([`Task::is_blocked`], set around
//!   every futex sleep of ksync's locks): the spin stops at once then, as the kernel's does when
//!   `owner->on_cpu` drops.
//! * **`need_resched()`: no.** A spinner cannot tell whether a preempted thread, perhaps the owner,
//!   waits for its CPU. Spinning through that case is the expensive mistake, so the spin gives its
//!   CPU away early instead (`std::thread::yield_now`, `sched_yield`), which
//!   costs a system call (~0.6 µs) when nobody else wants the CPU.
//!
//! # What ksync does
//!
//! The spin is a bounded sequence of *steps*; before each step it re-reads the owner word, takes
//! the mutex if it is free (or, for the first waiter, handed to it), and stops if the owner is
//! blocked:
//!
//! | step | wait before the next look | cost | purpose |
//! |---|---|---|---|
//! | 1 | [`SPIN_PAUSES`] `pause`s | ~50 ns | catch an owner that is releasing right now |
//! | 2 .. 1 + [`YIELD_STEPS`] | one `sched_yield` each | ~0.6 µs each on an idle CPU; under oversubscription, other threads' time | let a preempted owner (or other work) run; look again sparsely |
//! | then | queue and sleep | futex round trip, 5-10 µs | the owner is slow or asleep |
//!
//! A timed lock also stops spinning at its deadline. Looking rarely keeps the owner's cache line
//! with the owner, which re-takes the mutex without a cache miss while the spinner is away:
//! under contention the mutex passes in batches rather than one acquisition at a time, at the
//! throughput of a running thread rather than of a cache-line ping-pong. A yielding spinner
//! gives its CPU away, so the 32 yields cost an idle machine about 20 µs of system-call time per
//! acquisition that ends up sleeping anyway, and cost an oversubscribed one almost nothing.
//!
//! `docs/mutex.md` ("Spinning") has the measurements behind these numbers: one round of two
//! `pause`s before yielding beat three exponential rounds (2, 4, 8 `pause`s, parking_lot's
//! `SpinWait`) by 15 to 30% in throughput on the 2-core machine, with a shorter 99th-percentile
//! wait; 32 yield steps instead of 7 kept waiters awake (and fairness above 0.7) when critical
//! sections are long enough that 7 looks miss them.
//!
//! # One spinner at a time: measured, and not adopted
//!
//! The OSQ bounds the number of tasks *pause-spinning* on the owner's cache line. ksync bounds the
//! *length* of pause-spinning instead (two `pause`s per attempt; after that a spinner gives its
//! CPU away between looks). A one-spinner slot (a CAS-claimed flag in the mutex, the OSQ's effect
//! without its queue) was built and measured on the 2-core machine (`docs/mutex.md`,
//! "Spinning"): claiming and freeing it is two RMWs on the mutex's own cache line per contended
//! acquisition, which cost about 10% of throughput with two threads, and arrivals that found it
//! taken had to sleep, which under oversubscription made sleepers wait milliseconds and halved
//! fairness.

use std::time::Instant;

use ksync_barrier::cpu_relax;
use ksync_barrier::sync::thread;
use ksync_percpu::Task;

use crate::owner::{owner_task, OwnerWord, MUTEX_FLAGS, MUTEX_FLAG_PICKUP};

/// `pause`s in the first step of a spin, before it starts yielding.
pub const SPIN_PAUSES: u32 = 2;

/// Steps that yield the CPU (`sched_yield`) between looks at the owner word, after the first
/// step, before the thread queues and sleeps.
#[cfg(not(loom))]
pub const YIELD_STEPS: u32 = 32;
/// Steps that yield (loom build: 1, so that models reach the queue).
#[cfg(loom)]
pub const YIELD_STEPS: u32 = 1;

/// Whether a timed lock's deadline has passed. (Never under loom, which has no time: its futex
/// twin reports a timeout instead.)
#[inline]
fn past(deadline: Option<Instant>) -> bool {
    !cfg!(loom) && deadline.is_some_and(|d| Instant::now() >= d)
}

/// Waits before the next look: `pause`s first, then yields.
#[inline]
fn step(n: u32) {
    if n == 1 {
        for _ in 0..SPIN_PAUSES {
            cpu_relax();
        }
    } else {
        thread::yield_now();
    }
}

/// `mutex_optimistic_spin`: spins while the mutex is held by a thread that is not asleep, taking
/// it when it is free (or, with `waiter`, handed to us). Returns `true` with the mutex held.
///
/// `word` is the owner word last seen (held). `waiter` = the caller is the first waiter, whose
/// `trylock` is `__mutex_trylock_or_handoff`; for a new arrival it is `__mutex_trylock`:
/// `Ok` = taken, `Err(word)` = not taken, with the word found. A timed lock passes its
/// `deadline`, past which the spin stops.
#[inline(never)]
pub(crate) fn optimistic_spin(
    owner_word: &OwnerWord,
    waiter: bool,
    mut word: isize,
    deadline: Option<Instant>,
    mut trylock: impl FnMut(isize) -> Result<(), isize>,
) -> bool {
    let mut n = 1;
    loop {
        let free = word & !MUTEX_FLAGS == 0;
        // Handed to us (PICKUP with our task): only the first waiter can see that.
        let ours = waiter && word & MUTEX_FLAG_PICKUP != 0;
        if free || ours {
            match trylock(word) {
                Ok(()) => return true,
                // Taken by someone else meanwhile (or a flag moved): wait a step and look again.
                Err(w) => word = w,
            }
        }
        // `owner_on_cpu()`, as far as user space can tell: stop if the owner sleeps in a ksync
        // lock. (Its descriptor is never freed: a stale owner costs a wrong guess, not a fault.)
        if owner_task(word).is_some_and(Task::is_blocked) || n > 1 + YIELD_STEPS || past(deadline) {
            return false;
        }
        step(n);
        n += 1;
        // Relaxed: a hint; the CAS that takes the mutex is the acquire.
        word = owner_word.read();
    }
}
