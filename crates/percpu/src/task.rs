//! Thread slots and `current()`: the per-thread descriptor (`task_struct` analog), mirroring
//! `current` and `task_struct` (`include/linux/sched.h`, `arch/x86/include/asm/current.h`).
//!
//! The life of a thread (first use, fast path, teardown, after teardown), the rules for
//! callers and the loom behaviour are documented on [`Task`].

use core::cell::Cell;
#[cfg(loom)]
use core::cell::RefCell;
use core::fmt;
use core::ptr;
use std::sync::Mutex;

use crossbeam_utils::CachePadded;
use ksync_barrier::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::slots::SlotAllocator;
use crate::storage::PerCpu;
use crate::MAX_SLOTS;

// ---------------------------------------------------------------------------------------------
// The descriptor

/// Where a descriptor lives (fixed at construction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    /// The descriptor of slot `s`, bound to whichever thread holds the slot.
    Slot(usize),
    /// Entry `i` of the overflow pool: for threads without a slot.
    Overflow(usize),
}

/// The per-thread descriptor: ksync's `task_struct`, the target of [`current()`].
///
/// Holds what ksync's locks need to know about a thread: its slot, a 32-bit word it can sleep
/// on, and whether it is blocked in a ksync lock (the analog of `owner_on_cpu()`). The address
/// is stable and 128-byte aligned (so a lock can keep flag bits in the low bits of an owner
/// word, as the kernel's mutex keeps 3), and the memory is never freed.
///
/// ## Life of a thread
///
/// 1. **First use** (the first [`this_slot`] or [`current`] on a thread): claim the lowest free
///    slot from the process-wide [`SlotAllocator`], bind that slot's descriptor ([`Task`]) to
///    the thread (fresh serial, the std thread name, futex word 0, not blocked), cache both in
///    thread-locals, and arm a thread-local destructor. If every slot is held, the thread gets
///    an *overflow descriptor* instead: a `Task` with no slot, from a separate pool.
/// 2. **Every later call** is one thread-local read: [`this_slot`] reads a `Cell<usize>`,
///    [`current`] a `Cell<*const Task>`. Both are `const`-initialized cells without
///    destructors, so they need no lazy-init or "destroyed?" check.
/// 3. **Teardown** (the destructor runs during the thread's TLS destruction): the slot goes back
///    to the allocator and the descriptor is recycled with it (or, for an overflow descriptor,
///    to the overflow pool). From then on [`this_slot`] returns `None` on this thread.
/// 4. **After teardown**: other thread-local destructors may still run and take ksync locks.
///    Then [`current`] binds a *fresh* descriptor without a slot (so no two threads ever share
///    one) and arms a second destructor to recycle it; should even that be gone, the descriptor
///    is retired (kept, never reused). [`this_slot`] stays `None`, which the qspinlock handles
///    as the kernel handles running out of MCS nodes.
///
/// ## Rules for callers
///
/// * **A descriptor is recycled like a pid.** Once a thread has exited, its descriptor may be
///   bound to a new thread: never use `current()` (or its address) to identify a thread that
///   may have exited. [`Task::serial`] changes on every rebinding and tells incarnations apart.
/// * **Exiting while holding a lock that stored `current()` is misuse**, as in the kernel
///   (where `do_exit` with a mutex held is a bug that `debug_check_no_locks_held` reports).
///   The lock keeps a pointer to a descriptor that will serve another thread; ksync's mutex
///   debug checks catch the resulting owner mismatch. A thread's identity also changes when its
///   teardown begins (step 3 to step 4), so a lock taken before and released during teardown
///   is released by "another" descriptor, which is the same misuse seen from the other side.
/// * Descriptors are never freed: a spinner may read `owner.is_blocked()` through a stale
///   pointer at any time, and always reads valid memory (possibly another thread's state,
///   which only costs it a wrong spin decision).
/// * A thread that learns a descriptor's address from an atomic another thread wrote (a lock's
///   owner word) reads that atomic with acquire, or follows the read with an acquire fence,
///   before it touches the descriptor: registration ends with a release fence, so that pairing
///   orders the descriptor's construction before the reader's accesses.
///
/// ## Under loom
///
/// Everything here is per model execution: the registry is a `global!` (loom's lazy static)
/// and the thread-locals are loom's, which loom destroys when each model thread ends. Each loom
/// thread therefore gets its own dense slot and descriptor, and slots are recycled at loom
/// thread exit as at OS thread exit, with one difference a model must allow for: loom's
/// `JoinHandle::join` returns as soon as the thread's closure has returned, *before* its
/// thread-locals are destroyed (std's `join` waits for them), so right after a join the
/// joined thread may still hold its slot. The main model thread's locals are destroyed after
/// loom drops the lazy statics, so each armed destructor keeps its own handle to the registry.
/// Do not call `current()` from a loom thread-local destructor.
///
/// ## Example
///
/// ```
/// use ksync_percpu::current;
/// let me = current();
/// assert!(core::ptr::eq(me, current()));
/// assert_eq!(me as *const _ as usize % 8, 0);
/// assert_eq!(me.slot(), ksync_percpu::this_slot());
/// assert!(!me.is_blocked());
/// ```
#[repr(C)]
pub struct Task {
    /// Written by the owner, read by wakers and spinners: its own cache line(s).
    hot: CachePadded<Hot>,
    home: Home,
    /// The std thread name, for messages; read by other threads, hence the (cold) lock.
    name: Mutex<Option<Box<str>>>,
}

struct Hot {
    futex: AtomicU32,
    blocked: AtomicBool,
    serial: AtomicU64,
}

static_assertions::const_assert!(core::mem::align_of::<Task>() >= 8);

impl Task {
    fn new(home: Home) -> Self {
        Task {
            hot: CachePadded::new(Hot {
                futex: AtomicU32::new(0),
                blocked: AtomicBool::new(false),
                serial: AtomicU64::new(0),
            }),
            home,
            name: Mutex::new(None),
        }
    }

    /// Binds the descriptor to the calling thread.
    fn bind(&self, serial: u64, name: Option<Box<str>>) {
        // Relaxed: the previous holder's accesses happen before ours (slot allocator Acquire,
        // or the overflow pool's mutex), and these resets only need to be later in each
        // location's modification order, which that guarantees. Stale readers elsewhere read
        // hints only.
        self.hot.futex.store(0, Ordering::Relaxed);
        self.hot.blocked.store(false, Ordering::Relaxed);
        self.hot.serial.store(serial, Ordering::Relaxed);
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// Unbinds the descriptor from its exiting thread.
    fn unbind(&self) {
        // Relaxed: a hint for stale readers; the handoff to the next holder is ordered by the
        // slot allocator's Release (or the overflow pool's mutex).
        self.hot.blocked.store(false, Ordering::Relaxed);
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The thread's slot ("CPU number"), or `None` for a thread that has none (slots were
    /// exhausted when it started, or its teardown has begun).
    #[inline]
    pub fn slot(&self) -> Option<usize> {
        match self.home {
            Home::Slot(s) => Some(s),
            Home::Overflow(_) => None,
        }
    }

    /// A 32-bit word this thread may sleep on with `ksync_futex::wait` (a wake names a word,
    /// so a per-thread word makes a futex wake an exact `pv_kick(cpu)`).
    ///
    /// Reset to 0 whenever the descriptor is bound to a new thread; otherwise its value is
    /// entirely the locks' business.
    #[inline]
    pub fn futex(&self) -> &AtomicU32 {
        &self.hot.futex
    }

    /// Records that the thread is about to sleep (`true`) or has woken (`false`) in a ksync
    /// lock. A hint for spinners: see [`Task::is_blocked`].
    #[inline]
    pub fn set_blocked(&self, blocked: bool) {
        // Relaxed: a scheduling hint, like the kernel's `WRITE_ONCE(p->on_cpu, ...)` as read
        // by spinners. No lock may depend on it for correctness; its sleep/wake handshake has
        // its own barriers.
        self.hot.blocked.store(blocked, Ordering::Relaxed);
    }

    /// Whether the thread said it is asleep in a ksync lock. `!is_blocked()` is ksync's
    /// `owner_on_cpu()`: spinning on an owner that is blocked is pointless.
    ///
    /// A hint only: user space cannot see whether a running thread is actually on a CPU (it
    /// may be preempted; the kernel adds `vcpu_is_preempted()` for the guest analog), and the
    /// flag can be stale.
    #[inline]
    pub fn is_blocked(&self) -> bool {
        // Relaxed: a hint (see `set_blocked`), read in spin loops like READ_ONCE.
        self.hot.blocked.load(Ordering::Relaxed)
    }

    /// A number unique to this binding of the descriptor: no two threads in the life of the
    /// process get the same serial, even when they share a recycled descriptor.
    #[inline]
    pub fn serial(&self) -> u64 {
        // Relaxed: a plain identifier; the owner wrote it before using the descriptor.
        self.hot.serial.load(Ordering::Relaxed)
    }

    /// The std thread name of the bound thread, if it has one (`None` too once it exited).
    pub fn name(&self) -> Option<String> {
        self.name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            .map(String::from)
    }

    /// Whether this is the calling thread's descriptor.
    #[inline]
    pub fn is_current(&self) -> bool {
        ptr::eq(self, current())
    }
}

/// `thread 'name' (#serial)`, or `thread <unnamed> (#serial)`, for messages.
impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "thread '{n}' (#{})", self.serial()),
            None => write!(f, "thread <unnamed> (#{})", self.serial()),
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("slot", &self.slot())
            .field("serial", &self.serial())
            .field("name", &self.name())
            .field("blocked", &self.is_blocked())
            // Relaxed: a snapshot for printing.
            .field("futex", &self.hot.futex.load(Ordering::Relaxed))
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// The registry: slots, their descriptors, and the overflow pool

struct Overflow {
    /// Every overflow descriptor ever made, by index. Boxed on purpose: the `Vec` may move its
    /// elements when it grows, the descriptors must never move.
    #[allow(clippy::vec_box)]
    all: Vec<Box<Task>>,
    /// Indices in `all` that are free for reuse.
    free: Vec<usize>,
}

struct Registry {
    slots: SlotAllocator,
    tasks: PerCpu<Task>,
    overflow: Mutex<Overflow>,
    /// The next serial (serial 0 means "never bound").
    serial: AtomicU64,
    retired: AtomicUsize,
}

fn slot_task(slot: usize) -> Task {
    Task::new(Home::Slot(slot))
}

impl Registry {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Registry {
            slots: SlotAllocator::new(),
            tasks: PerCpu::with_init(slot_task),
            overflow: Mutex::new(Overflow {
                all: Vec::new(),
                free: Vec::new(),
            }),
            serial: AtomicU64::new(1),
            retired: AtomicUsize::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Registry {
            slots: SlotAllocator::new(),
            tasks: PerCpu::with_init(slot_task),
            overflow: Mutex::new(Overflow {
                all: Vec::new(),
                free: Vec::new(),
            }),
            serial: AtomicU64::new(1),
            retired: AtomicUsize::new(0),
        }
    }

    fn next_serial(&self) -> u64 {
        // Relaxed: uniqueness comes from the RMW itself; nothing is published with it.
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    /// A slot and its descriptor, or an overflow descriptor when the slots ran out.
    fn take(&self) -> &Task {
        match self.slots.alloc() {
            Some(slot) => self.tasks.get(slot),
            None => self.take_overflow(),
        }
    }

    fn take_overflow(&self) -> &Task {
        let mut pool = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
        let index = match pool.free.pop() {
            Some(i) => i,
            None => {
                let i = pool.all.len();
                pool.all.push(Box::new(Task::new(Home::Overflow(i))));
                i
            }
        };
        let task: *const Task = &*pool.all[index];
        drop(pool);
        // SAFETY: the `Box<Task>` is never dropped or moved while the registry lives (entries
        // are only appended; the Vec moves the boxes, not the tasks), so the reference is valid
        // for as long as `&self`.
        unsafe { &*task }
    }

    /// Gives a descriptor (and its slot) back. The calling thread must not use it again.
    fn release(&self, task: &Task) {
        task.unbind();
        match task.home {
            // Release inside `free`: our uses of the slot and descriptor happen before the
            // next holder's.
            Home::Slot(slot) => self.slots.free(slot),
            Home::Overflow(i) => self
                .overflow
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .free
                .push(i),
        }
    }
}

#[cfg(not(loom))]
ksync_barrier::global! {
    /// The process-wide registry.
    fn registry() -> &'static Registry = Registry::new();
}

// Under loom the registry is per execution, and the main model thread's destructors run after
// loom drops its lazy statics: armed destructors hold their own strong reference. (std's `Arc`
// on purpose: this is lifetime management outside the model, not a synchronization under test.)
#[cfg(loom)]
ksync_barrier::global! {
    /// The registry of the current model execution.
    fn registry_arc() -> &'static std::sync::Arc<Registry> = std::sync::Arc::new(Registry::new());
}

#[cfg(loom)]
fn registry() -> &'static Registry {
    registry_arc()
}

// ---------------------------------------------------------------------------------------------
// Thread-locals

/// `SLOT` marker: this thread has not registered yet.
const UNREGISTERED: usize = usize::MAX;
/// `SLOT` marker: registered without a slot (the slots were exhausted).
const NO_SLOT: usize = usize::MAX - 1;
/// `SLOT` marker: the thread's teardown has begun; it gets no slot any more.
const TORN_DOWN: usize = usize::MAX - 2;
static_assertions::const_assert!(MAX_SLOTS < TORN_DOWN);

/// Gives the descriptor (and slot) back when the thread's thread-locals are destroyed.
struct ExitGuard {
    task: Cell<*const Task>,
    #[cfg(loom)]
    registry: RefCell<Option<std::sync::Arc<Registry>>>,
}

impl ExitGuard {
    const fn new() -> Self {
        ExitGuard {
            task: Cell::new(ptr::null()),
            #[cfg(loom)]
            registry: RefCell::new(None),
        }
    }

    fn arm(&self, task: &'static Task) {
        self.task.set(task);
        #[cfg(loom)]
        {
            *self.registry.borrow_mut() = Some(registry_arc().clone());
        }
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let task = self.task.get();
        if task.is_null() {
            return;
        }
        // From here on this thread has no slot, and its next `current()` binds a fresh
        // descriptor. (`try_with`: under loom the cells may already be gone, which is fine:
        // so is the thread.)
        let _ = SLOT.try_with(|s| s.set(TORN_DOWN));
        let _ = CURRENT.try_with(|c| {
            if c.get() == task {
                c.set(ptr::null());
            }
        });
        #[cfg(not(loom))]
        let reg = registry();
        #[cfg(loom)]
        let reg_arc = self
            .registry
            .borrow_mut()
            .take()
            .expect("ExitGuard armed without a registry");
        #[cfg(loom)]
        let reg: &Registry = &reg_arc;
        // SAFETY: `task` was set by `arm` from a `&'static Task` of this registry.
        reg.release(unsafe { &*task });
    }
}

/// Declares `const`-initialized thread-locals through ksync's std/loom switch. (Loom's
/// `thread_local!` does not accept the `const { }` form, std's needs it to avoid lazy-init
/// checks on the fast path.)
macro_rules! const_thread_local {
    ($($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;)*) => {
        #[cfg(not(loom))]
        ksync_barrier::thread_local! { $($(#[$m])* static $name: $t = const { $init };)* }
        #[cfg(loom)]
        ksync_barrier::thread_local! { $($(#[$m])* static $name: $t = $init;)* }
    };
}

const_thread_local! {
    /// This thread's slot, or `UNREGISTERED` / `NO_SLOT` / `TORN_DOWN`. No destructor.
    static SLOT: Cell<usize> = Cell::new(UNREGISTERED);
    /// This thread's descriptor, or null before registration (and after teardown).
    static CURRENT: Cell<*const Task> = Cell::new(ptr::null());
    /// Recycles the slot and descriptor at thread exit.
    static GUARD: ExitGuard = ExitGuard::new();
    /// Recycles a descriptor bound after `GUARD` ran (step 4 of "Life of a thread" on `Task`).
    static LATE_GUARD: ExitGuard = ExitGuard::new();
}

/// First use on this thread (or first use after its teardown began): bind a descriptor.
#[cold]
#[inline(never)]
fn register() -> &'static Task {
    let reg = registry();
    // An inaccessible SLOT cell (loom, during thread exit) counts as torn down.
    let torn_down = SLOT.try_with(|s| s.get() == TORN_DOWN).unwrap_or(true);
    let guard = if torn_down { &LATE_GUARD } else { &GUARD };
    // Arm the destructor first, and take the descriptor inside: if the thread can no longer
    // run destructors, we take nothing that would need giving back.
    let armed = guard.try_with(|g| {
        let task: &'static Task = if torn_down {
            reg.take_overflow()
        } else {
            reg.take()
        };
        g.arm(task);
        task
    });
    let task = match armed {
        Ok(task) => task,
        Err(_) => {
            // No destructor can run any more: retire a fresh overflow descriptor (never reused;
            // never freed, like every descriptor).
            // Relaxed: statistics only.
            reg.retired.fetch_add(1, Ordering::Relaxed);
            reg.take_overflow()
        }
    };
    task.bind(reg.next_serial(), thread_name());
    // Release: publishes the descriptor (its construction and this binding) to any thread that
    // learns its address from an atomic this thread writes later (a mutex's owner word) and
    // reads it with acquire or follows the read with an acquire fence (fence-fence
    // synchronization): such a reader may then read the descriptor, e.g. `is_blocked()`.
    ksync_barrier::sync::atomic::fence(Ordering::Release);
    if !torn_down {
        let slot = task.slot().unwrap_or(NO_SLOT);
        let _ = SLOT.try_with(|s| s.set(slot));
    }
    let _ = CURRENT.try_with(|c| c.set(task));
    task
}

fn thread_name() -> Option<Box<str>> {
    ksync_barrier::sync::thread::current().name().map(Box::from)
}

// ---------------------------------------------------------------------------------------------
// The public entry points

/// The calling thread's slot ("CPU number"): a dense integer below [`MAX_SLOTS`], assigned on
/// first use (lowest free first), stable for the thread's life, recycled when it exits.
///
/// `None` when all [`MAX_SLOTS`] slots were held by live threads when this thread first asked
/// (it then stays slotless for its life), or once this thread's teardown has begun. Callers
/// treat `None` as the kernel treats running out of per-CPU MCS nodes: take a path that needs
/// no per-CPU data (the qspinlock spins on the lock word instead of queueing).
///
/// After the first call this is one thread-local read, which is async-signal-safe. The first
/// call is not (it may allocate and reads the std thread name): a thread that may take a ksync
/// lock inside a signal handler should call `this_slot()` or [`current()`] once beforehand.
///
/// ```
/// let s = ksync_percpu::this_slot().expect("slots are plentiful here");
/// assert!(s < ksync_percpu::MAX_SLOTS);
/// assert_eq!(ksync_percpu::this_slot(), Some(s)); // stable
/// ```
#[inline]
pub fn this_slot() -> Option<usize> {
    let s = SLOT.try_with(Cell::get).unwrap_or(TORN_DOWN);
    if s < MAX_SLOTS {
        Some(s)
    } else if s == UNREGISTERED {
        register().slot()
    } else {
        None
    }
}

/// The calling thread's descriptor (the kernel's `current`). Always succeeds.
///
/// Stable for the thread's life up to its teardown (see the module docs of [`Task`] for what
/// happens after, and for the rule that a descriptor is recycled like a pid). When the slots
/// are exhausted the thread gets an overflow descriptor, which has no slot and is never freed
/// either. After the first call this is one thread-local read.
#[inline]
pub fn current() -> &'static Task {
    let p = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    if p.is_null() {
        register()
    } else {
        // SAFETY: a non-null CURRENT was set by `register` from a `&'static Task` and is
        // cleared (or replaced) only by this thread.
        unsafe { &*p }
    }
}

/// A snapshot of the process-wide slot registry, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Slots held by live threads.
    pub slots_in_use: usize,
    /// One more than the highest slot ever handed out: how far the slot space has spread.
    pub slot_high_water: usize,
    /// Overflow descriptors created (for threads that found no free slot, or bound one after
    /// their teardown began).
    pub overflow_descriptors: usize,
    /// Overflow descriptors retired because their thread could no longer run destructors.
    pub retired_descriptors: usize,
}

/// Reads the process-wide registry's counters (racy snapshots, each exact at some moment).
pub fn stats() -> Stats {
    let reg = registry();
    Stats {
        slots_in_use: reg.slots.in_use(),
        slot_high_water: reg.slots.high_water(),
        overflow_descriptors: reg
            .overflow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .all
            .len(),
        // Relaxed: statistics only.
        retired_descriptors: reg.retired.load(Ordering::Relaxed),
    }
}
