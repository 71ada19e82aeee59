//! The paravirt slow path, mapped onto futex: spin a bounded budget, then sleep.
//!
//! Mirrors `kernel/locking/qspinlock_paravirt.h`. Under a hypervisor, a vCPU spinning for a lock
//! whose holder (or whose queue predecessor) was preempted burns its whole time slice; the
//! paravirt qspinlock halts instead (`pv_wait`) and is kicked awake by whoever hands it the lock
//! (`pv_kick`). A user-space thread is in exactly that position whenever threads outnumber
//! cores: the OS preempts lock holders and queued waiters at will. So ksync's recommended lock is
//! the paravirt one, with `pv_wait`/`pv_kick` mapped onto [`ksync_futex`].
//!
//! # The mapping
//!
//! | kernel | ksync |
//! |---|---|
//! | `pv_wait(ptr, val)`: halt while `*ptr == val` | `futex::wait(word, val)`: sleep while the 32-bit word equals `val` |
//! | `pv_kick(cpu)`: wake a vCPU | `futex::wake_one(word)`: wake the thread sleeping on that word |
//! | queued (non-head) waiter halts on its node's `state` | sleeps on its node's `state` word (per thread slot) |
//! | the queue head halts on `lock->locked == _Q_SLOW_VAL` | sleeps on the whole lock word (futex words are 32-bit), value with `locked == _Q_SLOW_VAL` |
//! | hash table lock -> halted head, read by the unlocker | not needed: the futex hash already maps the lock's address to its sleeper |
//! | `pv_kick_node` defers the wake: SLOW + hash entry, the unlocker kicks | `_Q_KICK_VAL` + the node carried in the lock's guard (lock_api 0.5 guard state), the unlocker wakes it |
//! | `vcpu_is_preempted(prev)` "wait early" | the predecessor's `state != RUNNING` (it sleeps itself) |
//! | `SPIN_THRESHOLD = 1 << 15` pauses | [`SPIN_THRESHOLD`], sized from the measured futex round trip |
//!
//! # The two lost-wakeup handshakes (pitfall 10)
//!
//! *Queued waiter.* The waiter stores `state = HALTED`, then a full barrier, then re-reads
//! `node.locked` and sleeps only if it is still 0 (and only while `state` still reads HALTED).
//! The new lock holder stores `node.locked = 1`, then a full barrier, then CASes `state` HALTED ->
//! HASHED. It is the store-buffering shape with a full barrier on both sides: at least one side
//! sees the other's store. Either the waiter sees `locked` and does not sleep, or the holder sees
//! HALTED and owes it a wake (deferred to its unlock, which it marks by setting `_Q_KICK_VAL`).
//!
//! *Queue head.* The head marks the lock `_Q_SLOW_VAL` with a fully ordered `xchg` of the
//! `locked` byte, then re-reads the word and sleeps only while it still shows SLOW. The owner's
//! unlock is a `cmpxchg` of the `locked` byte 1 -> 0, which fails on SLOW; the slow unlock then
//! releases with a store and wakes the lock word. If the `xchg` found the lock free (old byte
//! 0), the head has just taken it.
//!
//! # Lock stealing
//!
//! Arrivals may steal the lock (CAS of the `locked` byte 0 -> 1) while queued waiters exist, as
//! long as the queue head has not set `pending`: a sleeping head cannot use the lock anyway, and
//! stealing keeps it busy meanwhile. The head sets `pending` while it spins, which stops
//! stealing and bounds its wait. Unlike the kernel's unbounded steal loop, a ksync stealer gives
//! up after [`SPIN_THRESHOLD`] iterations and queues: a user-space owner may be preempted for a
//! whole time slice.
//!
//! # The front door (ksync's user-space addition)
//!
//! The kernel steals only from inside the slow path, after initialising the queue node. ksync
//! first tries to steal *before* touching a node: the arrival spins with exponential backoff
//! (crossbeam's `Backoff`: `pause`s, then a few `sched_yield`s) and steals when the lock reads
//! free and nobody has set `pending`, then queues as above. See `pre_queue_steal` for the
//! measurements that motivate it; the head's `pending` still stops it.

use ksync_barrier::{cpu_relax, smp_mb__before_atomic};

use super::mcs::QNode;
use super::slowpath::Pv;
use super::word::{
    QSpinWord, _Q_KICK_VAL, _Q_LOCKED_MASK, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL, _Q_PENDING_MASK,
    _Q_SLOW_VAL, _Q_TAIL_MASK,
};
use crate::trace::{trace_step, Step};

/// `vcpu_running`: spinning (or not waiting).
pub(crate) const VCPU_RUNNING: i32 = 0;
/// `vcpu_halted`: a queued waiter sleeps (or is about to) on its node's `state`.
pub(crate) const VCPU_HALTED: i32 = 1;
/// `vcpu_hashed`: a halted waiter whose wake its predecessor deferred to its unlock; or the
/// queue head sleeping on the lock word.
pub(crate) const VCPU_HASHED: i32 = 2;

/// Spin iterations (each one `cpu_relax`) before a waiter sleeps.
///
/// The kernel spins `1 << 15` pauses before halting a vCPU. A futex sleep/wake round trip costs a
/// few microseconds (`docs/perf.md`, "Futex costs"); spinning much longer than that before
/// sleeping wastes a core another thread could use, spinning much shorter turns every short
/// wait into two system calls. `1 << 9` iterations of `pause` is about one round trip on the
/// machine ksync was tuned on.
#[cfg(not(loom))]
pub const SPIN_THRESHOLD: u32 = 1 << 9;

/// Spin iterations before a waiter sleeps (loom build: the default of [`LOOM_SPIN_THRESHOLD`]).
#[cfg(loom)]
pub const SPIN_THRESHOLD: u32 = 2;

/// Loom build only: the spin threshold the models run with. At 0, waiters go straight to their
/// futex sleep, which is how a model reaches the halt/kick and SLOW handshakes (a spinning
/// waiter's yields hand the CPU straight back to the owner, which then releases, so it never
/// runs out of budget). A plain std atomic, not a loom one: a test setting, not modelled state.
#[cfg(loom)]
#[doc(hidden)]
pub static LOOM_SPIN_THRESHOLD: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(SPIN_THRESHOLD);

#[inline(always)]
fn spin_threshold() -> u32 {
    #[cfg(not(loom))]
    {
        SPIN_THRESHOLD
    }
    #[cfg(loom)]
    {
        // Relaxed: a test setting, stored before the model runs (not modelled state).
        LOOM_SPIN_THRESHOLD.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A queued waiter checks its predecessor's state once every 256 iterations.
const PV_PREV_CHECK_MASK: u32 = 0xff;

/// The paravirt hooks.
pub(crate) struct Paravirt;

impl Pv for Paravirt {
    const PARAVIRT: bool = true;

    #[inline(always)]
    fn steal_before_queueing(lock: &QSpinWord, val: u32) -> bool {
        pre_queue_steal(lock, val)
    }

    #[inline(always)]
    fn init_node(node: &QNode) {
        // Unordered: published with the rest of the node by smp_wmb() + xchg_tail.
        node.state.set(VCPU_RUNNING);
    }

    #[inline(always)]
    fn queue_trylock(lock: &QSpinWord) -> bool {
        hybrid_queued_unfair_trylock(lock)
    }

    fn wait_node(node: &QNode, prev: &QNode) {
        loop {
            for i in 0..spin_threshold() {
                // Unordered: the caller's acquire spin on `locked` follows.
                if node.locked.read() != 0 {
                    return;
                }
                // Wait early when the predecessor sleeps itself: we will not be head soon.
                // Unordered: a hint only; `locked` decides when we are head.
                if i & PV_PREV_CHECK_MASK == 0 && prev.state.read() != VCPU_RUNNING {
                    break;
                }
                cpu_relax();
            }

            // Announce the sleep, then a full barrier, then re-check (pairs with the full
            // barrier in `kick_node`).
            smp_store_mb_atomic(&node.state, VCPU_HALTED);
            // Unordered: the full barrier of the store above orders it (see `kick_node`).
            if node.locked.read() == 0 {
                // Unordered: trace only; evaluated only while a recording runs.
                trace_step!(node, Step::Halted, node.state.read() as u32);
                sleep_while(&node.state, VCPU_HALTED as u32);
            }
            // Back to running, unless the new holder already marked us HASHED: then keep it,
            // its unlock will wake our state word (harmlessly, if we are awake by then).
            // Relaxed: only our own spin reads our state for ordering purposes.
            node.state.cmpxchg_relaxed(VCPU_HALTED, VCPU_RUNNING);
            // Unordered: the caller's acquire spin on `locked` follows.
            if node.locked.read() != 0 {
                return;
            }
            // A spurious wakeup: spin again.
        }
    }

    fn wait_head_or_lock(lock: &QSpinWord, node: &QNode) -> Option<u32> {
        loop {
            // Unordered: read only by our successor's wait-early check.
            node.state.set(VCPU_RUNNING);
            // Announce that the head is spinning: stealing stops (bounded wait for the head).
            // Unordered: a hint to stealers; their CAS on `locked` decides.
            lock.set_pending();
            for _ in 0..spin_threshold() {
                // Acquire on success: we own the lock from here.
                if lock.trylock_clear_pending() {
                    // Unordered: we own the lock; a tail snapshot that queue()'s CAS re-checks.
                    let val = lock.read() | _Q_LOCKED_VAL;
                    trace_step!(lock, Step::HeadLocked, val);
                    return Some(val);
                }
                cpu_relax();
            }
            // Unordered: we stop announcing ourselves; the xchg below is fully ordered.
            lock.clear_pending();

            // About to sleep on the lock word: mark it SLOW, fully ordered, so that the owner's
            // unlock takes its slow path and wakes us. If the lock was free, the xchg took it.
            if lock.xchg_locked_slow() == 0 {
                // Unordered: only we write `locked` while we own it; turn SLOW back into LOCKED.
                lock.set_locked_slow_to_locked();
                // Unordered: as above.
                let val = lock.read() | _Q_LOCKED_VAL;
                trace_step!(lock, Step::HeadLocked, val);
                return Some(val);
            }
            // Unordered, as above.
            node.state.set(VCPU_HASHED);
            // Unordered: the futex wait below re-checks the value atomically against the wake.
            let val = lock.read();
            if val & _Q_LOCKED_MASK == _Q_SLOW_VAL {
                trace_step!(lock, Step::HeadSleeps, val);
                sleep_while(&lock.val, val);
            }
            // Woken, or the word changed: the lock may be free, or stolen. Spin again.
        }
    }

    fn kick_node(lock: &QSpinWord, next: &'static QNode) -> Option<&'static QNode> {
        // Our `next.locked = 1` must be ordered before our read of `next.state`, as the waiter's
        // `state = HALTED` is before its read of `locked`: full barrier on both sides. On x86-64
        // the locked cmpxchg below is the barrier and this is only a compiler barrier.
        smp_mb__before_atomic();
        // Relaxed: the full barrier above orders it after our `next.locked = 1`.
        if next.state.cmpxchg_relaxed(VCPU_HALTED, VCPU_HASHED) != VCPU_HALTED {
            // It is running and will see `locked` by itself.
            return None;
        }
        // It sleeps. Waking it now would let it find the lock still held by us and sleep again:
        // mark the lock instead, so that our unlock wakes it (`_Q_KICK_VAL`: the sleeper is on
        // its node). A CAS, not a store: the successor may already have woken (a spurious
        // wakeup, or its futex wait found HASHED), become head and marked the lock SLOW before
        // sleeping on the lock word; a store would erase that and our unlock would wake only
        // the node. Either way our unlock wakes the node; it wakes the lock word too if SLOW.
        // Unordered: read back only by RMWs of the same byte (our unlock, the head's xchg).
        if lock.try_mark_kick() {
            // Unordered: trace only; evaluated only while a recording runs.
            trace_step!(lock, Step::KickDeferred, lock.read());
        }
        Some(next)
    }
}

/// The front door (ksync's user-space addition): before touching a queue node, an arrival
/// spins with exponential backoff (crossbeam's `Backoff::snooze`: `pause`s, then a few
/// `sched_yield`s) and steals the lock when it reads free, as long as nobody has set `pending`;
/// then it queues.
///
/// Why: the kernel's paravirt lock steals only from inside the slow path, after initialising its
/// queue node, and only while a queue exists, because a per-CPU node costs it a single
/// instruction. In user space the node costs a thread-local read and a cache line, and with more
/// threads than cores the queue is rarely empty, so every acquisition would pay the failed fast
/// path, the node and the steal, with every running thread hammering the lock word. Measured on
/// 2 cores with an empty critical section: 13 (2 threads) and 19 (8 threads) Mops/s without the
/// front door, 111-145 with it (`docs/perf.md`). The yields are the user-space stand-in for
/// `vcpu_is_preempted()`: spinning is pointless while the owner has no CPU. The head's `pending`
/// still stops stealing, which bounds its wait as in the kernel.
fn pre_queue_steal(lock: &QSpinWord, mut val: u32) -> bool {
    #[cfg(not(loom))]
    let backoff = crossbeam_utils::Backoff::new();
    #[cfg(loom)]
    let mut spins = 0u32;
    loop {
        if val & _Q_LOCKED_PENDING_MASK == 0 {
            // Acquire on success: the critical section starts here.
            if lock.try_steal() {
                // Unordered: trace only; evaluated only while a recording runs.
                trace_step!(lock, Step::Stole, lock.read());
                return true;
            }
        } else if val & _Q_PENDING_MASK != 0 {
            // The queue head spins with `pending` set: queue behind it (it must not starve).
            return false;
        }
        #[cfg(not(loom))]
        {
            if backoff.is_completed() {
                return false;
            }
            backoff.snooze();
        }
        #[cfg(loom)]
        {
            // Under loom: the spin threshold bounds it, and each spin yields to the model.
            spins += 1;
            if spins > spin_threshold() {
                return false;
            }
            cpu_relax();
        }
        // Unordered: a hint; the steal CAS decides.
        val = lock.read();
    }
}

/// `pv_hybrid_queued_unfair_trylock`: steal the lock while the queue head is not spinning.
fn hybrid_queued_unfair_trylock(lock: &QSpinWord) -> bool {
    let mut spins = 0u32;
    loop {
        // Unordered: a hint; the steal CAS decides.
        let val = lock.read();
        // Acquire on success (the steal CAS), as in `pre_queue_steal`.
        if val & _Q_LOCKED_PENDING_MASK == 0 && lock.try_steal() {
            // Unordered: trace only; evaluated only while a recording runs.
            trace_step!(lock, Step::Stole, lock.read());
            return true;
        }
        // Stop when there is no queue to jump (queue up as its head), or when the head spins
        // with `pending` set (it must not starve).
        if val & _Q_TAIL_MASK == 0 || val & _Q_PENDING_MASK != 0 {
            return false;
        }
        spins += 1;
        if spins >= spin_threshold() {
            return false;
        }
        cpu_relax();
    }
}

/// `smp_store_mb` on a kernel atomic: store, then a full barrier.
#[inline(always)]
fn smp_store_mb_atomic(a: &ksync_atomic::Atomic, v: i32) {
    // Fully ordered (the kernel's `smp_store_mb`): one `xchg` on x86-64; on the portable
    // backend a swap between two full fences.
    a.xchg(v);
}

/// Sleeps on `word` while it holds `expected` (one futex wait; spurious returns allowed), and
/// marks the thread blocked meanwhile, for the mutex's `owner_on_cpu` analog.
#[cold]
fn sleep_while(word: &ksync_atomic::Atomic, expected: u32) {
    let me = ksync_percpu::current();
    // Restore, not clear: a signal handler may sleep here while its thread sleeps too.
    // Relaxed (inside `Task`): `blocked` is a hint for spinners, never needed for correctness.
    let was_blocked = me.is_blocked();
    me.set_blocked(true);
    let _ = ksync_futex::wait(word, expected, None);
    me.set_blocked(was_blocked);
}

/// The paravirt unlock's slow path: the `locked` byte says a sleeper is owed a wake
/// (`_Q_KICK_VAL`: the successor on its node, named by `kick`; `_Q_SLOW_VAL`: the queue head
/// on the lock word, plus `kick`'s node if we deferred one). Release first, then wake: after the
/// release the lock may already be freed by its next owner, so only the node (static) and the
/// lock's *address* (a futex key, never dereferenced by the wake) are used.
#[cold]
#[inline(never)]
pub(crate) fn unlock_slowpath(lock: &QSpinWord, kick: Option<&'static QNode>) {
    // Unordered: misuse detection only; the release below decides whom to wake.
    let val = lock.read();
    if val & _Q_LOCKED_MASK == 0 {
        // The kernel WARNs "corrupted" here. Only a raw unlock of a lock that is not held gets
        // here; say so instead of releasing someone's lock.
        panic!(
            "ksync qspinlock: unlock of a lock that is not held (lock word {:#010x}: {})",
            val,
            super::word::LockState::from_word(val)
        );
    }
    // While we hold the lock the queue head may turn KICK into SLOW at any moment: decide from
    // the byte the releasing RMW replaced, never from the read above.
    // Release: the critical section is ordered before the lock becomes free.
    let locked = lock.xchg_locked_release();
    let wake_word = match (locked, kick) {
        (_Q_SLOW_VAL, _) => true,
        (_Q_KICK_VAL, Some(_)) => false,
        // LOCKED without a deferred kick is the fast path's; anything else is corruption
        // (already released: the lock is free now, and the panic says what was found).
        _ => panic!(
            "ksync qspinlock: corrupted lock word at unlock ({:#010x}: {}), deferred kick: {}",
            val,
            super::word::LockState::from_word(val),
            kick.is_some()
        ),
    };
    // The address only (not dereferenced).
    trace_step!(lock, Step::UnlockSlow, val & !_Q_LOCKED_MASK);
    if let Some(node) = kick {
        ksync_futex::wake_one(&node.state);
    }
    if wake_word {
        // A head sleeping on the lock word. `wake` takes the address as a key and does not read
        // the (possibly freed) memory.
        ksync_futex::wake_one(&lock.val);
    }
}
