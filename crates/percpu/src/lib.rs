//! # ksync-percpu: thread slots as CPUs, per-CPU data, `local_t`, and `current()`
//!
//! The kernel's locks lean on per-CPU data and on `current`: the qspinlock keeps four MCS nodes
//! per CPU and encodes "CPU number + 1" in its tail, the mutex stores `current` in its owner
//! word and spins only while `owner_on_cpu(owner)`. User space has neither CPUs it can pin
//! itself to nor a `current` pointer. This crate supplies ksync's analogs:
//!
//! | ksync | kernel | mirrors |
//! |---|---|---|
//! | [`this_slot()`] | `smp_processor_id()` | `include/linux/smp.h` |
//! | [`PerCpu<T>`], [`PerCpu::this_cpu`], [`PerCpu::get`], [`PerCpu::iter`] | `DEFINE_PER_CPU`, `this_cpu_ptr`, `per_cpu_ptr`, `for_each_possible_cpu` | `include/linux/percpu-defs.h` |
//! | [`PerCpuCounter`] | `percpu_counter`, `this_cpu_add` | `include/linux/percpu_counter.h`, `lib/percpu_counter.c` |
//! | [`LocalCounter`] | `local_t` | `include/asm-generic/local.h`, `arch/x86/include/asm/local.h` |
//! | [`current()`], [`Task`] | `current`, `task_struct` (`on_cpu`), `owner_on_cpu()` | `include/linux/sched.h` |
//!
//! ## Thread slots instead of CPUs
//!
//! Kernel code asks "which CPU am I on?" only with preemption disabled, so the answer stays
//! true while it uses the CPU's data. A user-space thread can be preempted and migrated at any
//! instruction, so "this CPU's MCS node" could be another thread's node a moment later. ksync
//! therefore numbers *threads*: a **slot** is a small dense integer that a thread gets on its
//! first use of ksync (lowest free number first), keeps for its whole life, and gives back
//! when it exits (from a thread-local destructor). Two live threads never hold the same slot,
//! so per-slot data has the property per-CPU data has under `preempt_disable()`: only its
//! owner writes it.
//!
//! The slot space matches the qspinlock's tail: [`MAX_SLOTS`] = 16383, because the tail's
//! 14-bit CPU field stores `slot + 1` and 0 means "no tail". The kernel has at most
//! `NR_CPUS` CPUs; a process can have more threads than 16383. **Running out is defined:** a
//! thread that finds every slot held by a live thread gets [`this_slot()`] `== None` for its
//! life, and [`current()`] gives it an *overflow descriptor* (no slot, from a separate pool,
//! also never freed). Every user of slots handles `None`: the qspinlock falls back to spinning
//! on the lock word, as the kernel does when a CPU runs out of its 4 MCS nodes (`MAX_NODES`);
//! [`PerCpuCounter`] adds to a shared atomic. Slots are dense, so the limit means 16383
//! *simultaneously live* threads that used ksync, not 16383 threads over the process's life.
//!
//! ## Where user space differs, and what ksync does about it
//!
//! * **No preemption control.** Per-slot data is per-thread data, so the kernel's
//!   `this_cpu_*` "one instruction, or preemption off" rule becomes "only the owning thread
//!   writes". [`LocalCounter`] keeps the kernel's unlocked instructions because of that.
//! * **No per-CPU area.** [`PerCpu`] allocates chunks lazily (1, 2, 4, ... 8192 elements, 14
//!   chunks for 16383 slots) and never moves an element, so another thread's `&T` stays valid
//!   while the storage grows. Each element is cache-padded (128 bytes on x86-64).
//! * **No `on_cpu`.** The kernel spins on a mutex owner only while the owner runs on a CPU.
//!   ksync cannot see that; the locks record instead whether a thread is *blocked in a ksync
//!   lock* ([`Task::set_blocked`]), and spinners read [`Task::is_blocked`]. A preempted owner
//!   looks "on CPU" to them: the spin limits in the locks bound the waste.
//! * **Threads exit with thread-locals.** A thread's thread-local destructors run in an
//!   unspecified order, and some may take ksync locks after the slot was given back. The rules
//!   are in [`Task`]'s docs: from the start of teardown [`this_slot()`] is `None`, and
//!   [`current()`] still always returns a descriptor that no other live thread has.
//! * **Descriptors are recycled, never freed.** Like a pid, a descriptor serves another thread
//!   after its thread exits ([`Task::serial`] tells incarnations apart); because it is never
//!   freed, a lock may read a stale owner's descriptor at any time without a use-after-free.
//!
//! ## Example
//!
//! ```
//! use ksync_barrier::sync::atomic::{AtomicU64, Ordering};
//! use ksync_percpu::{current, this_slot, PerCpu, PerCpuCounter};
//!
//! static SEEN: PerCpu<AtomicU64> = PerCpu::new();
//! static OPS: PerCpuCounter = PerCpuCounter::new();
//!
//! std::thread::scope(|s| {
//!     for _ in 0..3 {
//!         s.spawn(|| {
//!             let me = current();
//!             assert_eq!(me.slot(), this_slot());
//!             SEEN.this_cpu().unwrap().store(me.serial(), Ordering::Relaxed);
//!             OPS.this_cpu_add(2);
//!         });
//!     }
//! });
//! assert_eq!(OPS.sum(), 6);
//! ```
//!
//! ## Loom
//!
//! Under `cfg(loom)` the registry of slots and descriptors lives for one model execution (a
//! `ksync_barrier::global!`), thread-locals are loom's, and loom destroys them when a model
//! thread ends, so every loom thread gets its own dense slot and descriptor and gives them back
//! at exit. The const constructors are not available under loom (its atomics are not `const`);
//! `new` is a plain function there.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod counter;
mod local;
mod slots;
mod storage;
mod task;
pub mod trace;

pub use counter::PerCpuCounter;
pub use local::LocalCounter;
pub use slots::SlotAllocator;
pub use storage::PerCpu;
pub use task::{current, stats, this_slot, Stats, Task};

/// The number of slots: 16383. The qspinlock tail's 14-bit CPU field stores `slot + 1`, and 0
/// means "no tail", so slots are `0..MAX_SLOTS`.
pub const MAX_SLOTS: usize = (1 << 14) - 1;
