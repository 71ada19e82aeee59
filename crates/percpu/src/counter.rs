//! `PerCpuCounter`: a sharded counter, the analog of the kernel's `percpu_counter`
//! (`include/linux/percpu_counter.h`, `lib/percpu_counter.c`) and of a `this_cpu_add()` on a
//! per-CPU variable.
//!
//! The design choice and the caveats are documented on [`PerCpuCounter`].

use ksync_barrier::sync::atomic::{AtomicI64, Ordering};

use crate::{LocalCounter, PerCpu};

/// A counter sharded by slot: cheap concurrent updates, O(threads) sums.
///
/// ## Design choice: shards summed on read, no batching
///
/// The kernel's `percpu_counter` keeps a per-CPU delta and folds it into a central `count`
/// (under a spinlock) whenever the delta exceeds a batch (`percpu_counter_batch`, about
/// 32 or `2 * nr_cpus`). That makes `percpu_counter_read()` O(1) but approximate (off by up to
/// `batch * nr_cpus`), and `percpu_counter_sum()` exact-ish but O(nr_cpus) under the lock.
///
/// ksync keeps only the shards: one [`LocalCounter`] per slot and no central fold. The reasons:
///
/// * Updates are the hot path: one unlocked `add` on a cache line that only this thread writes
///   (a slot has one live holder, so its shard has one writer: `local_t`'s contract). No
///   batch test, no occasional lock.
/// * Slots are dense, so [`PerCpuCounter::sum`] walks about as many shards as the process has
///   (or had, at its peak) threads, not 16383.
/// * There is no preemption to disable: the kernel's update must run with preemption off
///   (`this_cpu_add` is one instruction, or `preempt_disable()` around a read-modify-write).
///   In user space the shard belongs to the *thread*, so migration cannot make two threads
///   share a shard.
///
/// Threads without a slot (slots exhausted, or exiting) add to a shared atomic instead, with a
/// locked RMW.
///
/// ## Caveats (as in the kernel)
///
/// * [`PerCpuCounter::sum`] is **not a snapshot**: shards are read one after another while
///   other threads keep adding, so the result may correspond to no instant at all (it is
///   exact once the writers have stopped and their updates happen-before the call, e.g. after
///   joining them).
/// * A shard keeps its value when its thread exits and the next holder of the slot adds to it:
///   the total is preserved, the per-shard values mean nothing on their own.
/// * On the portable backend a signal handler that updates the counter on the thread it
///   interrupted can lose an update (see [`LocalCounter`]); the asm backend is signal-safe.
///
/// ```
/// use ksync_percpu::PerCpuCounter;
/// use std::thread;
///
/// static EVENTS: PerCpuCounter = PerCpuCounter::new();
/// thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| for _ in 0..1000 { EVENTS.this_cpu_inc() });
///     }
/// });
/// assert_eq!(EVENTS.sum(), 4000); // exact: the writers have been joined
/// ```
pub struct PerCpuCounter {
    shards: PerCpu<LocalCounter>,
    /// Updates from threads without a slot.
    shared: AtomicI64,
}

impl PerCpuCounter {
    /// A counter at 0. Allocates nothing until the first update.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        PerCpuCounter {
            shards: PerCpu::new(),
            shared: AtomicI64::new(0),
        }
    }

    /// A counter at 0. Allocates nothing until the first update.
    #[cfg(loom)]
    pub fn new() -> Self {
        PerCpuCounter {
            shards: PerCpu::new(),
            shared: AtomicI64::new(0),
        }
    }

    /// Adds `v` to this thread's shard (`this_cpu_add`, `percpu_counter_add`).
    #[inline]
    pub fn this_cpu_add(&self, v: i64) {
        match self.shards.this_cpu() {
            // One writer per shard: the unlocked `local_add`.
            Some(shard) => shard.add(v),
            // Relaxed: a counter orders nothing; the RMW keeps concurrent updates exact.
            None => {
                self.shared.fetch_add(v, Ordering::Relaxed);
            }
        }
    }

    /// Subtracts `v` (`this_cpu_sub`, `percpu_counter_sub`).
    #[inline]
    pub fn this_cpu_sub(&self, v: i64) {
        self.this_cpu_add(v.wrapping_neg());
    }

    /// Adds 1 (`this_cpu_inc`, `percpu_counter_inc`).
    #[inline]
    pub fn this_cpu_inc(&self) {
        self.this_cpu_add(1);
    }

    /// Subtracts 1 (`this_cpu_dec`, `percpu_counter_dec`).
    #[inline]
    pub fn this_cpu_dec(&self) {
        self.this_cpu_add(-1);
    }

    /// The total over all shards (`percpu_counter_sum`). Not a snapshot under concurrent
    /// updates (see the caveats on [`PerCpuCounter`]); wraps on overflow like the shards.
    pub fn sum(&self) -> i64 {
        // Relaxed loads throughout: each shard value is some recent value of that shard.
        self.shards
            .iter()
            .fold(self.shared.load(Ordering::Relaxed), |acc, (_, shard)| {
                acc.wrapping_add(shard.read())
            })
    }

    /// [`sum`](Self::sum) clamped at 0 (`percpu_counter_sum_positive`): a racy sum of a
    /// counter that is never negative can still come out negative.
    pub fn sum_positive(&self) -> i64 {
        self.sum().max(0)
    }
}

impl Default for PerCpuCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for PerCpuCounter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PerCpuCounter")
            .field("sum", &self.sum())
            .finish()
    }
}
