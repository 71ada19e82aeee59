//! `queued_spin_lock_slowpath`: the pending lane and the MCS queue.
//!
//! Mirrors `kernel/locking/qspinlock.c`. As in the kernel, one body serves both the native lock
//! and the paravirt one: the paravirt hooks ([`Pv`]) are empty for [`Native`] and the compiler
//! removes them, the way the kernel builds `qspinlock.c` a second time with the `pv_*` hooks
//! defined.
//!
//! Steps (numbers as in `docs/spinlock.md`), with the `(tail, pending, locked)` transitions:
//!
//! ```text
//!  fast path           (0,0,0) -> (0,0,1)                       one acquire CAS, in the lock
//!  2 handover wait     (0,1,0) -> (0,0,1)   wait, bounded       someone is turning pending into locked
//!  3 contention?       tail or pending set  -> queue
//!  4 pending lane      (0,0,1) -> (0,1,1)   fetch_set_pending
//!                      (0,1,1) -> (0,1,0)   owner unlocks; we spin on the locked byte
//!                      (0,1,0) -> (0,0,1)   clear_pending_set_locked: one store
//!    ...contended:     (n,x,y) seen        undo pending if we set it, then QUEUE (never retry)
//!  6 node              count++, init node (locked = 0, next = NULL)
//!  7 trylock           one more try (paravirt: the hybrid unfair trylock)
//!  8-9 publish         smp_wmb(); old = xchg_tail(tail)
//!  10 link             prev->next = node; spin until node->locked (we are the head)
//!  11 head             wait until (*,0,0)  [paravirt: wait, sleep, and take the lock itself]
//!  12 claim            tail == ours: CAS (n,0,0) -> (0,0,1), done
//!                      else set_locked (*,*,0) -> (*,0,1); wait for next; next->locked = 1
//!  13 release          count--
//! ```

use ksync_barrier::sync::atomic::Ordering;
use ksync_barrier::{cpu_relax, smp_acquire__after_ctrl_dep, smp_wmb};

use super::mcs::{mcs_pass_head, mcs_wait_for_head, node_of, qnodes, Nesting, QNode};
use super::word::{
    decode_tail, encode_tail, QSpinWord, _Q_LOCKED_MASK, _Q_LOCKED_PENDING_MASK, _Q_LOCKED_VAL,
    _Q_PENDING_LOOPS, _Q_PENDING_MASK, _Q_PENDING_VAL, _Q_TAIL_MASK,
};
use crate::trace::{trace_step, Step};

/// `_Q_PENDING_LOOPS`; 2 under loom, where every re-read is an explored branch (the bound only
/// limits a wait, correctness does not depend on it).
const PENDING_LOOPS: u32 = if cfg!(loom) { 2 } else { _Q_PENDING_LOOPS };

/// The paravirt hooks of the slow path (`pv_init_node`, `pv_wait_node`, `pv_kick_node`,
/// `pv_wait_head_or_lock`, and the trylock used inside the slow path).
pub(crate) trait Pv {
    /// Whether this is the paravirt lock: it never uses the pending lane.
    const PARAVIRT: bool;

    /// Paravirt only, before any queue node is touched: try to take the lock as an arrival
    /// (spin-then-steal while nobody announces itself with `pending`). `val` is the word the
    /// fast path saw.
    fn steal_before_queueing(lock: &QSpinWord, val: u32) -> bool;

    /// `pv_init_node`.
    fn init_node(node: &QNode);

    /// Step 7's trylock: `queued_spin_trylock` natively, the hybrid unfair trylock in paravirt.
    fn queue_trylock(lock: &QSpinWord) -> bool;

    /// `pv_wait_node`: wait (spin, then sleep) until `node.locked` is set. The caller's acquire
    /// spin on `node.locked` follows and provides the ordering.
    fn wait_node(node: &QNode, prev: &QNode);

    /// `pv_wait_head_or_lock`: as queue head, wait for the lock *and take it*; return the word
    /// with `locked` set. `None`: not implemented (native), the caller waits for `(*,0,0)`.
    fn wait_head_or_lock(lock: &QSpinWord, node: &QNode) -> Option<u32>;

    /// `pv_kick_node`, after `next.locked = 1`: returns the node the unlock must wake when the
    /// wake was deferred to the unlock (the lock word is then marked `_Q_SLOW_VAL`).
    fn kick_node(lock: &QSpinWord, next: &'static QNode) -> Option<&'static QNode>;
}

/// The native (bare-metal) hooks: all empty.
pub(crate) struct Native;

impl Pv for Native {
    const PARAVIRT: bool = false;

    #[inline(always)]
    fn steal_before_queueing(_: &QSpinWord, _: u32) -> bool {
        false
    }

    #[inline(always)]
    fn init_node(_: &QNode) {}

    #[inline(always)]
    fn queue_trylock(lock: &QSpinWord) -> bool {
        lock.trylock()
    }

    #[inline(always)]
    fn wait_node(_: &QNode, _: &QNode) {}

    #[inline(always)]
    fn wait_head_or_lock(_: &QSpinWord, _: &QNode) -> Option<u32> {
        None
    }

    #[inline(always)]
    fn kick_node(_: &QSpinWord, _: &'static QNode) -> Option<&'static QNode> {
        None
    }
}

/// The slow path: entered after the fast-path CAS saw `val != 0`. Returns with the lock held,
/// and (paravirt) the node whose wake the unlock owes.
#[cold]
#[inline(never)]
pub(crate) fn queued_spin_lock_slowpath<P: Pv>(
    lock: &QSpinWord,
    mut val: u32,
) -> Option<&'static QNode> {
    if !P::PARAVIRT {
        // Step 2. A pending waiter is turning (0,1,0) into (0,0,1): wait a bounded number of
        // re-reads for it rather than queue behind a lock that is about to be held.
        if val == _Q_PENDING_VAL {
            let mut cnt = PENDING_LOOPS;
            // Unordered: only picks the path; the pending or queue steps below acquire.
            val = lock.cond_read_relaxed(|v| {
                v != _Q_PENDING_VAL || {
                    let done = cnt == 0;
                    cnt = cnt.wrapping_sub(1);
                    done
                }
            });
        }

        // Step 3. Any other waiter (pending or queued): go to the queue.
        if val & !_Q_LOCKED_MASK == 0 {
            // Step 4. Trylock or pending: the one-waiter fast lane.
            // Acquire: on the uncontended path our claim of the lock starts here.
            val = lock.fetch_set_pending_acquire();
            if val & !_Q_LOCKED_MASK != 0 {
                // Someone got here first. If the pending bit was not set before, we set it:
                // undo it. Then queue, and never retry the pending lane: our transient bit may
                // have failed a queue head's "last in queue" CAS, and that head now waits for a
                // successor to link behind it, which must be us (pitfall 2).
                if val & _Q_PENDING_MASK == 0 {
                    // Unordered: undoes only our own transient bit.
                    lock.clear_pending();
                    // Unordered: trace only; evaluated only while a recording runs.
                    trace_step!(lock, Step::PendingUndo, lock.read());
                }
            } else {
                trace_step!(lock, Step::Pending, val | _Q_PENDING_VAL);
                // (0,1,1) -> (0,1,0): wait for the owner to go. Acquire: the owner's critical
                // section happens before ours.
                if val & _Q_LOCKED_MASK != 0 {
                    lock.cond_read_acquire(|v| v & _Q_LOCKED_MASK == 0);
                }
                // (0,1,0) -> (0,0,1). Unordered: the acquire load above already took the lock.
                lock.clear_pending_set_locked();
                // Unordered: trace only; evaluated only while a recording runs.
                trace_step!(lock, Step::PendingLocked, lock.read());
                return None;
            }
        }
    }

    if P::PARAVIRT && P::steal_before_queueing(lock, val) {
        return None;
    }

    queue::<P>(lock)
}

/// Steps 6-13: queue on this thread slot's next node, become head, claim the lock.
#[inline(always)]
fn queue<P: Pv>(lock: &QSpinWord) -> Option<&'static QNode> {
    // Step 6. No slot (the process ran out of them): behave like the kernel past _Q_MAX_NODES.
    let Some(slot) = ksync_percpu::this_slot() else {
        trylock_forever(lock);
        return None;
    };
    let nest = Nesting::enter(qnodes().get(slot));
    let Some(node) = nest.node() else {
        // More than four nested contexts (signal handlers): spin on trylock. Unfair, but no
        // node is corrupted.
        trylock_forever(lock);
        return None;
    };
    let tail = encode_tail(slot, nest.idx);

    // Unordered: published by the smp_wmb() + xchg_tail below.
    node.locked.set(0);
    node.next.store(core::ptr::null_mut(), Ordering::Relaxed);
    P::init_node(node);

    // Step 7. Touching the node took time: maybe the lock is free now.
    // Acquire on success (the trylock CAS, or the paravirt steal CAS).
    if P::queue_trylock(lock) {
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(lock, Step::TrylockAfterNode, lock.read());
        return None;
    }

    // Step 8. The node's initialisation must be visible before the tail names it: a successor
    // that finds our tail writes our node->next, which our `next = NULL` must not overwrite.
    smp_wmb();

    // Step 9. Relaxed, as in the kernel: the smp_wmb() above and the acquire fence below
    // order it.
    let old = lock.xchg_tail(tail);
    // Unordered: trace only; evaluated only while a recording runs.
    trace_step!(
        lock,
        Step::Queued {
            idx: nest.idx as u8
        },
        lock.read()
    );
    let mut next: *mut QNode = core::ptr::null_mut();

    // Step 10. A predecessor exists: link behind it and wait to become head.
    if old & _Q_TAIL_MASK != 0 {
        let (prev_slot, prev_idx) = decode_tail(old);
        // Acquire fence: replaces the kernel's address dependency from the xchg to prev's node
        // (Rust keeps none). It pairs with prev's smp_wmb() before its own xchg_tail, so prev's
        // node initialisation happens before our link below. Free on x86-64.
        smp_acquire__after_ctrl_dep();
        let prev = node_of(prev_slot, prev_idx);
        // Release: our node's initialisation happens before prev's handoff store into
        // node.locked, which follows its acquire read of this pointer.
        prev.next
            .store(node as *const QNode as *mut QNode, Ordering::Release);

        P::wait_node(node, prev);
        // Acquire: pairs with the predecessor's store-release handoff.
        mcs_wait_for_head(node);
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(lock, Step::Head, lock.read());

        // Acquire: the successor's node initialisation (released by its link store) happens
        // before our handoff store into it. May still be NULL: checked again below.
        next = node.next.load(Ordering::Acquire);
    } else {
        // Unordered: trace only; evaluated only while a recording runs.
        trace_step!(lock, Step::Head, lock.read());
    }

    // Step 11. We are the head: wait for the owner and the pending waiter to leave, (*,x,y) ->
    // (*,0,0). Acquire: `set_locked` below is a plain store, so the owner's critical section is
    // ordered before ours by this load. Paravirt waits and takes the lock itself.
    let val = match P::wait_head_or_lock(lock, node) {
        Some(val) => val,
        None => lock.cond_read_acquire(|v| v & _Q_LOCKED_PENDING_MASK == 0),
    };

    // Step 12. Claim the lock. If we are the last queued, clear the tail with the CAS
    // (n,0,0) -> (0,0,1) (paravirt: (n,0,1) -> (0,0,1)). It fails when someone appended to the
    // queue, or when a transient pending bit is set: that pender will see the tail, undo, and
    // queue behind us, so a `next` will appear.
    // Relaxed CAS: step 11 already acquired (paravirt: we own the lock).
    if val & _Q_TAIL_MASK == tail && lock.try_clear_tail_set_locked(val) {
        trace_step!(lock, Step::ClaimedLast, _Q_LOCKED_VAL);
        return None;
    }

    // Somebody is (or will be) queued behind us. Nobody else can set `locked` while a tail
    // exists, so a plain store claims the lock. Paravirt already holds it: `locked` is 1 and
    // this store rewrites it with the same value.
    if !P::PARAVIRT {
        // Unordered: step 11's acquire load already ordered the owner's critical section.
        lock.set_locked();
    }
    // Unordered: trace only; evaluated only while a recording runs.
    trace_step!(lock, Step::SetLocked, lock.read());

    // The successor swapped the tail before linking to us: wait for the link. Acquire, as
    // above: its node initialisation happens before our handoff.
    if next.is_null() {
        next = loop {
            let n = node.next.load(Ordering::Acquire);
            if !n.is_null() {
                break n;
            }
            cpu_relax();
        };
    }
    // SAFETY: `next` was stored by a successor as the address of one of its nodes, which live
    // in the static `qnodes()` and are never freed; the successor is waiting in this function
    // for exactly this handoff, so the node is in use and initialised.
    let next: &'static QNode = unsafe { &*next };

    // Step 12, handoff: pass the queue head to the successor (store-release).
    // (Traced before the store, so that the successor's `Head` is always recorded after it.)
    // Unordered: trace only; evaluated only while a recording runs.
    trace_step!(lock, Step::HandedOff, lock.read());
    // Release: all we did, holding the lock included, happens before the successor runs.
    mcs_pass_head(next);
    P::kick_node(lock, next)
    // Step 13: `nest` is dropped here, decrementing the nesting count.
}

/// The fallback past the last node: spin on trylock with `cpu_relax`, as the kernel does.
/// Outside loom it yields once it has spun a while: a user-space thread cannot rule out that
/// the owner is preempted.
#[cold]
fn trylock_forever(lock: &QSpinWord) {
    // Unordered: trace only; evaluated only while a recording runs.
    trace_step!(lock, Step::Fallback, lock.read());
    #[cfg(not(loom))]
    let backoff = crossbeam_utils::Backoff::new();
    // Acquire on success (the trylock CAS).
    while !lock.trylock() {
        #[cfg(not(loom))]
        backoff.snooze();
        #[cfg(loom)]
        cpu_relax();
    }
}
