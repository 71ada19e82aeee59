//! The MCS queue nodes of the qspinlock: four per thread slot, one per nesting level.
//!
//! Mirrors `kernel/locking/mcs_spinlock.h` (`struct mcs_spinlock`, the contended spin and
//! handoff) and the per-CPU `qnodes[_Q_MAX_NODES]` array of `kernel/locking/qspinlock.c`.
//!
//! # Why four nodes, and what replaces "per CPU"
//!
//! A CPU can be waiting for spinlocks in at most four nested contexts at once (task, softirq,
//! hardirq, NMI): a spinlock is never re-entered from the context that holds it, and a context
//! does not run again until the one it interrupted resumes. So four nodes per CPU suffice, and the
//! 2-bit tail index names the nesting level.
//!
//! User space has no per-CPU areas a thread can use safely: a thread can be preempted and migrated
//! between any two instructions. ksync keeps the nodes per *thread slot* instead
//! ([`ksync_percpu::this_slot`]: a dense id, stable for the thread's life, recycled at exit).
//! Nesting in user space comes from signal handlers, which interrupt a thread the way an IRQ
//! interrupts a CPU; the nesting counter makes a handler that takes a qspinlock while its thread
//! is queued on another use the next node. Past four levels, or when the process has run out of
//! thread slots, the lock falls back to spinning on trylock, as the kernel does past
//! `_Q_MAX_NODES`: unfair, but it never corrupts a node.
//!
//! # Node lifetime
//!
//! Nodes live in a static [`PerCpu`], which never frees or moves an element. A node is only
//! written by others while its owner is inside the slow path (the predecessor's handoff store,
//! the paravirt kick), and its owner leaves the slow path only after the handoff it waited for,
//! so a slot recycled to a new thread always starts with idle nodes.

use ksync_atomic::Atomic;
use ksync_barrier::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use ksync_percpu::PerCpu;

use super::word::_Q_MAX_NODES;

/// One queue node: the kernel's `struct mcs_spinlock` plus the paravirt state of `struct
/// pv_node`, 16 bytes on 64-bit (the kernel's native node is 16 bytes, its paravirt one 32).
#[repr(C)]
pub(crate) struct QNode {
    /// The successor, linked by it after it swapped the tail.
    pub(crate) next: AtomicPtr<QNode>,
    /// Set to 1 by the predecessor when it hands us the head of the queue.
    pub(crate) locked: Atomic,
    /// Paravirt `vcpu_state` (`VCPU_RUNNING/HALTED/HASHED`); the futex word a halted waiter
    /// sleeps on. Unused by the native lock.
    pub(crate) state: Atomic,
}

impl Default for QNode {
    fn default() -> Self {
        QNode {
            next: AtomicPtr::new(core::ptr::null_mut()),
            locked: Atomic::new(0),
            state: Atomic::new(0),
        }
    }
}

/// A thread slot's nodes and its nesting counter.
///
/// The kernel keeps the counter in `qnodes[0].mcs.count`; it is a separate field here. It is
/// only touched by the owning thread and by signal handlers running on that thread, which
/// interrupt it and restore the count before they return, so a relaxed load and store (no RMW)
/// are enough, as for the kernel's `this_cpu_inc`.
#[derive(Default)]
pub(crate) struct QNodes {
    pub(crate) nodes: [QNode; _Q_MAX_NODES],
    pub(crate) count: AtomicU32,
}

ksync_barrier::global! {
    /// The qspinlock nodes of every thread slot (the kernel's per-CPU `qnodes`).
    pub(crate) fn qnodes() -> &'static PerCpu<QNodes> = PerCpu::new();
}

/// The node a tail names.
#[inline(always)]
pub(crate) fn node_of(slot: usize, idx: usize) -> &'static QNode {
    &qnodes().get(slot).nodes[idx]
}

/// This thread's claim on a nesting level: `count++` on creation, `count--` when dropped, on
/// every exit path of the slow path (pitfall 4).
pub(crate) struct Nesting {
    nodes: &'static QNodes,
    /// The nesting index this acquisition uses (may be >= `_Q_MAX_NODES`: then no node).
    pub(crate) idx: usize,
}

impl Nesting {
    /// Takes the next nesting level of this thread slot's nodes.
    #[inline(always)]
    pub(crate) fn enter(nodes: &'static QNodes) -> Self {
        // Relaxed load and store: only this thread (and its signal handlers, which restore the
        // count before returning) touch it.
        let idx = nodes.count.load(Ordering::Relaxed) as usize;
        nodes.count.store(idx as u32 + 1, Ordering::Relaxed);
        // The increment must be emitted before the node is initialised: a signal arriving in
        // between would otherwise take the same index and overwrite our node.
        ksync_barrier::barrier();
        Nesting { nodes, idx }
    }

    /// The node of this nesting level, if it is below `_Q_MAX_NODES`.
    #[inline(always)]
    pub(crate) fn node(&self) -> Option<&'static QNode> {
        self.nodes.nodes.get(self.idx)
    }
}

impl Drop for Nesting {
    #[inline(always)]
    fn drop(&mut self) {
        // Everything done with the node is ordered before the level is given back, for a signal
        // handler that would reuse it.
        ksync_barrier::barrier();
        // Relaxed, as in `enter`.
        self.nodes.count.store(self.idx as u32, Ordering::Relaxed);
    }
}

/// `arch_mcs_spin_lock_contended`: spin until our predecessor hands us the queue head, then
/// acquire (it pairs with the store-release of [`mcs_pass_head`]).
#[inline(always)]
pub(crate) fn mcs_wait_for_head(node: &QNode) {
    // Acquire: pairs with the store-release of `mcs_pass_head`.
    node.locked.cond_read_acquire(|v| v != 0);
}

/// `arch_mcs_spin_unlock_contended`: hand the queue head to `next` with a store-release, so
/// everything we did (including holding the lock) is ordered before it runs as head.
#[inline(always)]
pub(crate) fn mcs_pass_head(next: &QNode) {
    // Release: everything we did happens before `next` runs as head.
    next.locked.set_release(1);
}

/// Current nesting depth of the calling thread (how many qspinlock slow paths it is inside right
/// now, signal handlers included). For tests and tracing.
pub fn nesting_depth() -> usize {
    // Relaxed, as in `enter`: our own slot's count (signal handlers restore it).
    ksync_percpu::this_slot()
        .map(|slot| qnodes().get(slot).count.load(Ordering::Relaxed) as usize)
        .unwrap_or(0)
}
