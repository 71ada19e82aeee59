//! The non-poisoning flavour, shaped like std's `std::sync::nonpoison` (unstable in Rust 1.95):
//! `lock()` returns the guard itself, and a panic in a critical section leaves the mutex usable
//! with no record of it.
//!
//! ```
//! use ksync::compat::nonpoison::{Condvar, Mutex};
//! use std::sync::Arc;
//! use std::thread;
//!
//! let pair = Arc::new((Mutex::new(false), Condvar::new()));
//! let pair2 = Arc::clone(&pair);
//! thread::spawn(move || {
//!     let (lock, cvar) = &*pair2;
//!     *lock.lock() = true;
//!     cvar.notify_one();
//! });
//! let (lock, cvar) = &*pair;
//! let mut started = lock.lock();
//! cvar.wait_while(&mut started, |started| !*started);
//! assert!(*started);
//! ```
//!
//! There is no poison byte: the mutex is exactly the raw lock and the data, like a
//! `lock_api::Mutex`. The guards and the condvar work as in the parent module; the condvar
//! takes the guard by `&mut`, as std's non-poisoning one does.

use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::error::Error;
use std::sync::WaitTimeoutResult;
use std::time::{Duration, Instant};

use ksync_barrier::sync::cell::UnsafeCell;
use ksync_spinlock::RawQSpinLock;

use super::DefaultRaw;

use super::condvar::wait_timeout_result;

/// The kernel mutex without poisoning: `nonpoison::Mutex<T, ksync::mutex::RawMutex>`.
pub type KMutex<T> = Mutex<T, ksync_mutex::RawMutex>;

/// The error of [`Mutex::try_lock`]: the mutex is held by someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    /// std's message for the same case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("try_lock failed because the operation would block")
    }
}

impl Error for WouldBlock {}

/// The result of [`Mutex::try_lock`].
pub type TryLockResult<Guard> = Result<Guard, WouldBlock>;

/// A mutual exclusion lock that does not track poisoning, over the raw lock `R` (the queued
/// spinlock by default). See [`compat::Mutex`](super::Mutex) for the choice of `R` and the
/// constructors.
///
/// ```
/// use ksync::compat::nonpoison::Mutex;
/// use std::panic::{self, AssertUnwindSafe};
///
/// let m = Mutex::new(1);
/// // Not `RefUnwindSafe` (as std's): with no poisoning, a panic can leave the data half-updated.
/// let _ = panic::catch_unwind(AssertUnwindSafe(|| {
///     let mut g = m.lock();
///     *g += 1;
///     panic!("no poisoning here");
/// }));
/// assert_eq!(*m.lock(), 2); // the half-finished update is visible: there is no poison check
/// ```
pub struct Mutex<T: ?Sized, R = RawQSpinLock> {
    raw: R,
    data: UnsafeCell<T>,
}

// SAFETY: as for `compat::Mutex`: one thread at a time gets `&mut T`, so sharing the mutex
// needs `T: Send`; the raw lock is shared, so it must be `Sync`.
unsafe impl<T: ?Sized + Send, R: Sync> Sync for Mutex<T, R> {}

#[cfg(not(loom))]
impl<T> Mutex<T> {
    /// Creates an unlocked mutex around `t`, over the queued spinlock; `const`.
    #[inline]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex::from_raw(RawQSpinLock::new(), t)
    }
}

impl<T, R> Mutex<T, R> {
    /// Creates an unlocked mutex around `t` over the given (unlocked) raw lock; `const`.
    #[cfg(not(loom))]
    #[inline]
    pub const fn from_raw(raw: R, t: T) -> Mutex<T, R> {
        Mutex {
            raw,
            data: UnsafeCell::new(t),
        }
    }

    /// Creates an unlocked mutex around `t` over the given raw lock (loom build: not `const`).
    #[cfg(loom)]
    pub fn from_raw(raw: R, t: T) -> Mutex<T, R> {
        Mutex {
            raw,
            data: UnsafeCell::new(t),
        }
    }
}

impl<T, R: lock_api::RawMutex> Mutex<T, R> {
    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// Returns a clone of the data.
    pub fn get_cloned(&self) -> T
    where
        T: Clone,
    {
        (*self.lock()).clone()
    }

    /// Stores `value`; the old value is dropped after the lock is released.
    pub fn set(&self, value: T) {
        if mem::needs_drop::<T>() {
            drop(self.replace(value));
        } else {
            *self.lock() = value;
        }
    }

    /// Stores `value` and returns the old one.
    pub fn replace(&self, value: T) -> T {
        mem::replace(&mut *self.lock(), value)
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Mutex<T, R> {
    /// Acquires the mutex, blocking the thread until it is available. Locking a mutex the
    /// thread already holds never returns (deadlock or panic, depending on `R`).
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T, R> {
        let state = self.raw.lock();
        // SAFETY: `state` is the acquisition just made.
        unsafe { MutexGuard::new(self, state) }
    }

    /// Acquires the mutex if it is free, without blocking.
    ///
    /// # Errors
    ///
    /// [`WouldBlock`] if another thread holds it.
    #[inline]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T, R>> {
        match self.raw.try_lock() {
            // SAFETY: `state` is the acquisition just made.
            Some(state) => Ok(unsafe { MutexGuard::new(self, state) }),
            None => Err(WouldBlock),
        }
    }

    /// Locks, runs `f` on the data, unlocks (also if `f` panics), and returns what `f`
    /// returned.
    pub fn with_mut<F, U>(&self, f: F) -> U
    where
        F: FnOnce(&mut T) -> U,
    {
        f(&mut self.lock())
    }

    /// A mutable reference to the data, without locking: `&mut self` proves no guard exists.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard and every other reference to the data.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// A raw pointer to the data; accesses through it must be synchronised by the caller.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.data.with_mut(|p| p)
    }

    /// Whether the raw lock is held right now: a racy snapshot, for diagnostics.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }
}

impl<T: Default, R: lock_api::RawMutex> Default for Mutex<T, R> {
    /// An unlocked mutex around `T::default()`.
    fn default() -> Self {
        Mutex::from_raw(R::INIT, T::default())
    }
}

impl<T, R: lock_api::RawMutex> From<T> for Mutex<T, R> {
    /// An unlocked mutex around `t`.
    fn from(t: T) -> Self {
        Mutex::from_raw(R::INIT, t)
    }
}

impl<T: ?Sized + fmt::Debug, R: lock_api::RawMutex> fmt::Debug for Mutex<T, R> {
    /// std's non-poisoning format: `Mutex { data: 5, .. }`, or `"<locked>"` for the data while
    /// another guard holds it (this never blocks).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(WouldBlock) => {
                d.field("data", &"<locked>");
            }
        }
        d.finish_non_exhaustive()
    }
}

/// The lock of a non-poisoning [`Mutex`], held until dropped; derefs to the data. `!Send`,
/// `Sync` when `T: Sync`.
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized, R: lock_api::RawMutex = DefaultRaw> {
    lock: &'a Mutex<T, R>,
    state: ManuallyDrop<R::Guard>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared `&MutexGuard` reaches only `&T`.
unsafe impl<T: ?Sized + Sync, R: lock_api::RawMutex> Sync for MutexGuard<'_, T, R> {}

impl<'a, T: ?Sized, R: lock_api::RawMutex> MutexGuard<'a, T, R> {
    /// # Safety
    ///
    /// `state` must be the current thread's live acquisition of `lock.raw`, owned by no other
    /// guard.
    #[inline]
    unsafe fn new(lock: &'a Mutex<T, R>, state: R::Guard) -> Self {
        MutexGuard {
            lock,
            state: ManuallyDrop::new(state),
            _not_send: PhantomData,
        }
    }

    /// Makes a guard for a part of the data; if `f` panics, the mutex is unlocked.
    pub fn map<U: ?Sized, F>(orig: Self, f: F) -> MappedMutexGuard<'a, U, R>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // SAFETY: the guard holds the lock and nothing else borrows the data; `orig` stays
        // alive while `f` runs, so a panic in `f` unlocks.
        let data = NonNull::from(f(unsafe { &mut *orig.lock.data_ptr() }));
        // SAFETY: `data` points into the data `orig` guards.
        unsafe { MappedMutexGuard::from_guard(orig, data) }
    }

    /// Like [`map`](Self::map), but `f` may decline with `None`, which gives the guard back.
    pub fn filter_map<U: ?Sized, F>(orig: Self, f: F) -> Result<MappedMutexGuard<'a, U, R>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        // SAFETY: as in `map`.
        match f(unsafe { &mut *orig.lock.data_ptr() }) {
            // SAFETY: as in `map`.
            Some(data) => Ok(unsafe { MappedMutexGuard::from_guard(orig, NonNull::from(data)) }),
            None => Err(orig),
        }
    }

    /// [`filter_map`](Self::filter_map) under lock_api's name.
    #[inline]
    pub fn try_map<U: ?Sized, F>(orig: Self, f: F) -> Result<MappedMutexGuard<'a, U, R>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        Self::filter_map(orig, f)
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Deref for MutexGuard<'_, T, R> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> DerefMut for MutexGuard<'_, T, R> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes the reference unique.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Drop for MutexGuard<'_, T, R> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the state is this guard's acquisition of `lock.raw`, taken exactly once.
        unsafe { self.lock.raw.unlock(ManuallyDrop::take(&mut self.state)) }
    }
}

impl<T: ?Sized + fmt::Debug, R: lock_api::RawMutex> fmt::Debug for MutexGuard<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, R: lock_api::RawMutex> fmt::Display for MutexGuard<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A non-poisoning [`MutexGuard`] narrowed to a part of the data by [`MutexGuard::map`].
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MappedMutexGuard<'a, T: ?Sized, R: lock_api::RawMutex = DefaultRaw> {
    data: NonNull<T>,
    raw: &'a R,
    state: ManuallyDrop<R::Guard>,
    _variance: PhantomData<&'a mut T>,
}

// SAFETY: a shared reference reaches only `&T`.
unsafe impl<T: ?Sized + Sync, R: lock_api::RawMutex> Sync for MappedMutexGuard<'_, T, R> {}

impl<'a, T: ?Sized, R: lock_api::RawMutex> MappedMutexGuard<'a, T, R> {
    /// Moves `orig`'s acquisition into a guard for `data`.
    ///
    /// # Safety
    ///
    /// `data` must point into the data `orig` guards.
    unsafe fn from_guard<U: ?Sized>(orig: MutexGuard<'a, U, R>, data: NonNull<T>) -> Self {
        let mut orig = ManuallyDrop::new(orig);
        let lock: &'a Mutex<U, R> = orig.lock;
        MappedMutexGuard {
            data,
            raw: &lock.raw,
            // SAFETY: `orig` is never dropped, so its state is taken exactly once, here.
            state: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut orig.state) }),
            _variance: PhantomData,
        }
    }

    /// Narrows the guard further; if `f` panics, the mutex is unlocked.
    pub fn map<U: ?Sized, F>(mut orig: Self, f: F) -> MappedMutexGuard<'a, U, R>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // SAFETY: the guard holds the lock and `&mut orig` is unique; `orig` stays alive while
        // `f` runs, so a panic in `f` unlocks.
        let data = NonNull::from(f(unsafe { orig.data.as_mut() }));
        let mut orig = ManuallyDrop::new(orig);
        MappedMutexGuard {
            data,
            raw: orig.raw,
            // SAFETY: `orig` is never dropped, so its state is taken exactly once, here.
            state: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut orig.state) }),
            _variance: PhantomData,
        }
    }

    /// Like [`map`](Self::map), but `f` may decline with `None`, which gives the guard back.
    pub fn filter_map<U: ?Sized, F>(
        mut orig: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, U, R>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        // SAFETY: as in `map`.
        let Some(data) = f(unsafe { orig.data.as_mut() }) else {
            return Err(orig);
        };
        let data = NonNull::from(data);
        let mut orig = ManuallyDrop::new(orig);
        Ok(MappedMutexGuard {
            data,
            raw: orig.raw,
            // SAFETY: `orig` is never dropped, so its state is taken exactly once, here.
            state: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut orig.state) }),
            _variance: PhantomData,
        })
    }

    /// [`filter_map`](Self::filter_map) under lock_api's name.
    #[inline]
    pub fn try_map<U: ?Sized, F>(orig: Self, f: F) -> Result<MappedMutexGuard<'a, U, R>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        Self::filter_map(orig, f)
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Deref for MappedMutexGuard<'_, T, R> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: `data` points into the locked data and the guard holds the lock.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> DerefMut for MappedMutexGuard<'_, T, R> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the reference unique.
        unsafe { self.data.as_mut() }
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Drop for MappedMutexGuard<'_, T, R> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the state is this guard's acquisition of `raw`, taken exactly once.
        unsafe { self.raw.unlock(ManuallyDrop::take(&mut self.state)) }
    }
}

impl<T: ?Sized + fmt::Debug, R: lock_api::RawMutex> fmt::Debug for MappedMutexGuard<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, R: lock_api::RawMutex> fmt::Display for MappedMutexGuard<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A condition variable for non-poisoning guards: the same protocol as
/// [`compat::Condvar`](super::Condvar), with std's non-poisoning signatures (the guard is
/// borrowed, `wait` returns nothing). Wakeups can be spurious: check the predicate in a loop,
/// or use [`wait_while`](Self::wait_while).
#[derive(Default)]
pub struct Condvar {
    inner: super::Condvar,
}

impl Condvar {
    /// A condition variable with no waiters; `const`.
    #[cfg(not(loom))]
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            inner: super::Condvar::new(),
        }
    }

    /// A condition variable with no waiters (loom build: not `const`).
    #[cfg(loom)]
    pub fn new() -> Condvar {
        Condvar {
            inner: super::Condvar::new(),
        }
    }

    /// Blocks until notified, releasing the guard's mutex while it sleeps; the mutex is held
    /// again when this returns. Spurious wakeups happen.
    pub fn wait<T: ?Sized, R: lock_api::RawMutex>(&self, guard: &mut MutexGuard<'_, T, R>) {
        let raw = &guard.lock.raw;
        self.inner.wait_raw(raw, &mut guard.state, None);
    }

    /// Blocks while `condition` returns `true`, checking it first.
    pub fn wait_while<T: ?Sized, R: lock_api::RawMutex, F>(
        &self,
        guard: &mut MutexGuard<'_, T, R>,
        mut condition: F,
    ) where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut **guard) {
            self.wait(guard);
        }
    }

    /// Like [`wait`](Self::wait), but gives up after about `dur`; the result says whether the
    /// timeout is known to have elapsed. Spurious wakeups happen.
    pub fn wait_timeout<T: ?Sized, R: lock_api::RawMutex>(
        &self,
        guard: &mut MutexGuard<'_, T, R>,
        dur: Duration,
    ) -> WaitTimeoutResult {
        self.wait_deadline(guard, Instant::now().checked_add(dur))
    }

    /// Like [`wait_while`](Self::wait_while), but gives up after about `dur` from the call; the
    /// result says whether the time ran out with the condition still `true`.
    pub fn wait_timeout_while<T: ?Sized, R: lock_api::RawMutex, F>(
        &self,
        guard: &mut MutexGuard<'_, T, R>,
        dur: Duration,
        mut condition: F,
    ) -> WaitTimeoutResult
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(dur);
        while condition(&mut **guard) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return wait_timeout_result(true);
            }
            self.wait_deadline(guard, deadline);
        }
        wait_timeout_result(false)
    }

    fn wait_deadline<T: ?Sized, R: lock_api::RawMutex>(
        &self,
        guard: &mut MutexGuard<'_, T, R>,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult {
        let raw = &guard.lock.raw;
        wait_timeout_result(self.inner.wait_raw(raw, &mut guard.state, deadline))
    }

    /// Wakes one waiting thread, if any (no system call when nobody waits).
    #[inline]
    pub fn notify_one(&self) {
        self.inner.notify_one()
    }

    /// Wakes every waiting thread.
    #[inline]
    pub fn notify_all(&self) {
        self.inner.notify_all()
    }
}

impl fmt::Debug for Condvar {
    /// `Condvar { .. }`, as std.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
