//! # ksync::compat: `std::sync` with ksync's locks under `Mutex` and `Condvar`
//!
//! Swap `std::sync::Mutex` for the kernel's queued spinlock by changing one `use` line:
//!
//! ```
//! // use std::sync::{Arc, Condvar, Mutex};
//! use ksync::compat::{Arc, Condvar, Mutex};
//!
//! let pair = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
//! let producer = {
//!     let pair = Arc::clone(&pair);
//!     std::thread::spawn(move || {
//!         let (queue, ready) = &*pair;
//!         queue.lock().unwrap().push("job");
//!         ready.notify_one();
//!     })
//! };
//! let (queue, ready) = &*pair;
//! let mut jobs = ready.wait_while(queue.lock().unwrap(), |q| q.is_empty()).unwrap();
//! assert_eq!(jobs.pop(), Some("job"));
//! # drop(jobs);
//! # producer.join().unwrap();
//! ```
//!
//! [`Mutex`], [`MutexGuard`], [`MappedMutexGuard`] and [`Condvar`] are ksync's, with the exact
//! signatures and behaviour of std's (Rust 1.95), poisoning included. Everything else in
//! `std::sync` is std's own item, re-exported here ([`Arc`], `mpsc`, [`PoisonError`],
//! [`TryLockError`], [`LockResult`], [`TryLockResult`], [`WaitTimeoutResult`], `RwLock`, ...),
//! so any `use std::sync::{...}` line keeps compiling with `ksync::compat` in its place, and code
//! that names the error types gets std's types. `docs/compat.md` in the repository lists every
//! std item and its status.
//!
//! | item | what it is |
//! |---|---|
//! | [`Mutex<T, R = RawQSpinLock>`](Mutex) | std's API over any lock_api 0.5 raw lock `R`; the qspinlock by default |
//! | [`KMutex<T>`] | `Mutex<T, ksync::mutex::RawMutex>`: the kernel's owner-word mutex |
//! | [`MutexGuard`], [`MappedMutexGuard`] | `!Send`, `Sync` iff `T: Sync`; `map` / `filter_map` / `try_map` |
//! | [`Condvar`] | std's futex condvar design on [`ksync::futex`](ksync_futex), plus the kernel's `wq_has_sleeper()` check: a notify with no waiter makes no system call |
//! | [`nonpoison`] | the same without poisoning: `lock()` returns the guard (std's unstable `std::sync::nonpoison` shape) |
//!
//! ## What it mirrors
//!
//! Not a kernel file: this is std's interface (`library/std/src/sync/poison/mutex.rs`,
//! `condvar.rs`, and the poison flag of `library/std/src/sync/poison.rs`) put over ksync's
//! kernel locks. The condvar's notify path follows the kernel's `wq_has_sleeper()`
//! (`include/linux/wait.h`); [`Condvar`] summarises the protocol, and the top of
//! `crates/compat/src/condvar.rs` works through its memory ordering.
//!
//! ## Cost over the raw lock
//!
//! One byte (the poison flag, which packs next to the lock word: `Mutex<T>` is the size of
//! `std::sync::Mutex<T>`), and on each acquisition and release exactly std's own poisoning
//! work: one `std::thread::panicking()` (a load of a global counter) when locking, another when
//! unlocking, and a relaxed load of the flag. The guard hands the raw lock's per-acquisition
//! state back on unlock, so the qspinlock's and the kernel mutex's fast paths are unchanged.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod condvar;
mod mutex;
pub mod nonpoison;
mod poison_flag;

pub use condvar::Condvar;
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard};

// std's own types, so that code naming them keeps compiling and gets the same types.
pub use std::sync::{
    Arc, LockResult, PoisonError, TryLockError, TryLockResult, WaitTimeoutResult, Weak,
};

/// The rest of `std::sync` (`mpsc`, `atomic`, `Barrier`, `Once`, `OnceLock`, `LazyLock`,
/// `RwLock`, ...), re-exported unchanged so that a whole `use std::sync::{...}` line can be
/// swapped. The items defined above take precedence over these.
#[doc(no_inline)]
pub use std::sync::*;

/// The default raw lock of the guard types: the qspinlock.
#[cfg(not(loom))]
type DefaultRaw = ksync_spinlock::RawQSpinLock;

/// The default raw lock of the guard types in the loom build. There the qspinlock is no
/// `lock_api` lock (loom's atomics cannot be `const`, so it has no `INIT`), and a type
/// parameter's default must satisfy the parameter's bound: the guards name this uninhabited
/// stand-in instead. No value of it, and so no guard over it, can exist.
#[cfg(loom)]
#[doc(hidden)]
pub enum LoomNoDefaultRaw {}

#[cfg(loom)]
type DefaultRaw = LoomNoDefaultRaw;

#[cfg(loom)]
// SAFETY: the type is uninhabited: none of these methods can ever be called.
unsafe impl lock_api::RawMutex for LoomNoDefaultRaw {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = panic!("no default raw lock under loom: name one");
    type Guard = ();

    fn lock(&self) {
        match *self {}
    }

    fn try_lock(&self) -> Option<()> {
        match *self {}
    }

    unsafe fn unlock(&self, _: ()) {
        match *self {}
    }

    fn is_locked(&self) -> bool {
        match *self {}
    }
}

/// The kernel's owner-word mutex ([`ksync::mutex::RawMutex`](ksync_mutex::RawMutex)) with
/// std's API: sleeps instead of spinning, hands off to a starving waiter. Build it with
/// [`Mutex::from_raw`], [`From`] or [`Default`] (see [`Mutex`] for why not `new`).
///
/// ```
/// use ksync::compat::{KMutex, KMutexGuard};
///
/// let m: KMutex<u32> = KMutex::from(1);
/// let mut g: KMutexGuard<'_, u32> = m.lock().unwrap();
/// *g += 1;
/// drop(g);
/// assert_eq!(m.into_inner().unwrap(), 2);
/// ```
pub type KMutex<T> = Mutex<T, ksync_mutex::RawMutex>;

/// The guard of a [`KMutex`].
#[cfg(not(loom))]
pub type KMutexGuard<'a, T> = MutexGuard<'a, T, ksync_mutex::RawMutex>;
