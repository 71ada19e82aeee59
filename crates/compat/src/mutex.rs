//! `compat::Mutex`: `std::sync::Mutex`'s API and poisoning over any `lock_api` raw lock.
//!
//! The layout is std's: the raw lock, a one-byte poison flag, the data (last, so `T` may be
//! unsized). The guard carries the raw lock's per-acquisition state (`R::Guard`, lock_api 0.5)
//! and hands it back on unlock; for the qspinlock that state is the deferred wake of a sleeping
//! queue node, for the kernel mutex the owner. Poisoning is std's design, in `poison_flag.rs`.

use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use ksync_barrier::sync::cell::UnsafeCell;
use ksync_spinlock::RawQSpinLock;

use super::DefaultRaw;

use super::poison_flag::{Flag, Panicking};

/// A mutual exclusion lock with `std::sync::Mutex`'s API and poisoning, over the raw lock `R`:
/// the kernel's queued spinlock by default.
///
/// Everything std documents for its `Mutex` holds here: [`lock`](Self::lock) blocks and
/// returns a [`LockResult`], a panic while a guard is held poisons the mutex, and the data is
/// reached only through a [`MutexGuard`]. The error types are std's own ([`PoisonError`],
/// [`TryLockError`], [`LockResult`], [`TryLockResult`]), so code that names them compiles
/// unchanged.
///
/// ```
/// use ksync::compat::Mutex;
/// use std::sync::Arc;
/// use std::thread;
///
/// let counter = Arc::new(Mutex::new(0u32));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         thread::spawn(move || *counter.lock().unwrap() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock().unwrap(), 4);
/// ```
///
/// # Choosing the raw lock
///
/// `R` is any [`lock_api::RawMutex`] (lock_api 0.5): the default [`RawQSpinLock`] (spin, then
/// sleep), [`KMutex`](super::KMutex) for the kernel mutex, `parking_lot::RawMutex`, ... The
/// constructor [`new`](Self::new) exists only for the default, as `HashMap::new` exists only for
/// the default hasher: Rust does not use a default type parameter to infer a type, so a generic
/// `new` would make `Mutex::new(0)` ambiguous. For another raw lock, name it in the type and
/// build with [`from_raw`](Self::from_raw) (`const`), [`From`] or [`Default`]:
///
/// ```
/// use ksync::compat::{KMutex, Mutex};
///
/// static JOBS: KMutex<Vec<u32>> = KMutex::from_raw(ksync::mutex::RawMutex::new(), Vec::new());
/// JOBS.lock().unwrap().push(1);
///
/// let pl: Mutex<u32, parking_lot::RawMutex> = Mutex::from(7);
/// assert_eq!(*pl.lock().unwrap(), 7);
/// ```
///
/// # Poisoning
///
/// As std: a guard dropped while its thread is panicking (and was not when it locked) poisons
/// the mutex. Afterwards [`lock`](Self::lock) and [`try_lock`](Self::try_lock) still acquire
/// it but return the guard inside a [`PoisonError`]; [`into_inner`](Self::into_inner) and
/// [`get_mut`](Self::get_mut) report it the same way; [`clear_poison`](Self::clear_poison)
/// clears it. Poisoning is advisory: unsafe code must not rely on it for soundness.
pub struct Mutex<T: ?Sized, R = RawQSpinLock> {
    raw: R,
    poison: Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one thread at a time, so sharing it needs `T: Send`
// (as std); the raw lock itself is shared, so it must be `Sync`. `Send` is automatic.
unsafe impl<T: ?Sized + Send, R: Sync> Sync for Mutex<T, R> {}

// As std: poisoning is the unwind-safety story of a mutex's data, so it is unwind-safe for every
// `T`; and the raw lock is reached only through `lock_api::RawMutex`, whose contract keeps it
// consistent when one of its operations unwinds.
impl<T: ?Sized, R: lock_api::RawMutex> UnwindSafe for Mutex<T, R> {}
impl<T: ?Sized, R: lock_api::RawMutex> RefUnwindSafe for Mutex<T, R> {}

#[cfg(not(loom))]
impl<T> Mutex<T> {
    /// Creates an unlocked mutex around `t`, over the queued spinlock. `const`, like std's, so
    /// it can initialise a `static`.
    ///
    /// ```
    /// use ksync::compat::Mutex;
    /// static NAMES: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    /// NAMES.lock().unwrap().push("ksync");
    /// ```
    #[inline]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex::from_raw(RawQSpinLock::new(), t)
    }
}

impl<T, R> Mutex<T, R> {
    /// Creates an unlocked mutex around `t` over the given raw lock (lock_api's `from_raw`), for
    /// any `R`; `const`. `raw` must be unlocked.
    #[cfg(not(loom))]
    #[inline]
    pub const fn from_raw(raw: R, t: T) -> Mutex<T, R> {
        Mutex {
            raw,
            poison: Flag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Creates an unlocked mutex around `t` over the given raw lock (loom build: not `const`).
    #[cfg(loom)]
    pub fn from_raw(raw: R, t: T) -> Mutex<T, R> {
        Mutex {
            raw,
            poison: Flag::new(),
            data: UnsafeCell::new(t),
        }
    }
}

impl<T, R: lock_api::RawMutex> Mutex<T, R> {
    /// Consumes the mutex and returns the data, inside a [`PoisonError`] if it is poisoned.
    ///
    /// ```
    /// let m = ksync::compat::Mutex::new(String::from("data"));
    /// assert_eq!(m.into_inner().unwrap(), "data");
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// Returns a clone of the data (std's unstable `lock_value_accessors`); a poisoned mutex
    /// gives `Err(PoisonError(()))`.
    pub fn get_cloned(&self) -> Result<T, PoisonError<()>>
    where
        T: Clone,
    {
        match self.lock() {
            Ok(guard) => Ok((*guard).clone()),
            Err(_) => Err(PoisonError::new(())),
        }
    }

    /// Stores `value` (std's unstable `lock_value_accessors`). The old value is dropped after
    /// the lock is released. A poisoned mutex is left untouched and `value` comes back in the
    /// error.
    pub fn set(&self, value: T) -> Result<(), PoisonError<T>> {
        if mem::needs_drop::<T>() {
            // Run the old value's destructor outside the critical section.
            self.replace(value).map(drop)
        } else {
            match self.lock() {
                Ok(mut guard) => {
                    *guard = value;
                    Ok(())
                }
                Err(_) => Err(PoisonError::new(value)),
            }
        }
    }

    /// Stores `value` and returns the old one (std's unstable `lock_value_accessors`). A
    /// poisoned mutex is left untouched and `value` comes back in the error.
    pub fn replace(&self, value: T) -> LockResult<T> {
        match self.lock() {
            Ok(mut guard) => Ok(mem::replace(&mut *guard, value)),
            Err(_) => Err(PoisonError::new(value)),
        }
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Mutex<T, R> {
    /// Acquires the mutex, blocking the thread until it is available.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, the lock is still acquired and the guard is returned inside
    /// the [`PoisonError`].
    ///
    /// # Panics
    ///
    /// Locking a mutex the thread already holds never returns: the qspinlock deadlocks, the
    /// kernel mutex panics (it sees its own thread as the owner), as std leaves open.
    #[inline]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T, R>> {
        let state = self.raw.lock();
        // SAFETY: `state` is the acquisition just made.
        unsafe { MutexGuard::new(self, state) }
    }

    /// Acquires the mutex if it is free, without blocking.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if another thread holds it; [`TryLockError::Poisoned`],
    /// with the guard, if it was acquired but is poisoned.
    #[inline]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T, R>> {
        match self.raw.try_lock() {
            // SAFETY: `state` is the acquisition just made.
            Some(state) => unsafe { MutexGuard::new(self, state) }.map_err(TryLockError::from),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Whether a critical section has ended in a panic. Another thread may poison the mutex
    /// right after this returns `false`.
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state, for a caller that has restored the data's invariants.
    ///
    /// ```
    /// use ksync::compat::Mutex;
    /// let m = Mutex::new(0);
    /// let _ = std::panic::catch_unwind(|| {
    ///     let _g = m.lock().unwrap();
    ///     panic!("poison it");
    /// });
    /// let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    /// *g = 0; // a known-good value
    /// m.clear_poison();
    /// drop(g);
    /// assert!(m.lock().is_ok());
    /// ```
    #[inline]
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// A mutable reference to the data, without locking: the `&mut self` borrow proves no guard
    /// exists. Like std, it does not release a lock abandoned by `mem::forget` on a guard.
    ///
    /// # Errors
    ///
    /// The reference comes inside a [`PoisonError`] if the mutex is poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.poison.get();
        // SAFETY: `&mut self` excludes every guard and every other reference to the data.
        let data = self.data.with_mut(|p| unsafe { &mut *p });
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// A raw pointer to the data (std's unstable `mutex_data_ptr`, lock_api's `data_ptr`).
    /// Accesses through it must be synchronised by the caller, e.g. by holding the lock.
    #[inline]
    pub fn data_ptr(&self) -> *mut T {
        self.data.with_mut(|p| p)
    }

    /// Whether the raw lock is held right now: a racy snapshot, for diagnostics (not in std).
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
    /// An unlocked mutex around `t`; the same as [`Mutex::new`] for the default raw lock.
    fn from(t: T) -> Self {
        Mutex::from_raw(R::INIT, t)
    }
}

impl<T: ?Sized + fmt::Debug, R: lock_api::RawMutex> fmt::Debug for Mutex<T, R> {
    /// Exactly std's format: `Mutex { data: 5, poisoned: false, .. }`, with `"<locked>"` for the
    /// data when another guard holds it (this never blocks).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(TryLockError::Poisoned(err)) => {
                d.field("data", &&**err.get_ref());
            }
            Err(TryLockError::WouldBlock) => {
                d.field("data", &"<locked>");
            }
        }
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

/// The lock of a [`Mutex`], held until the guard is dropped; derefs to the data.
///
/// `!Send`, as std's (the owner-word kernel mutex must be unlocked by the thread that locked
/// it, and std keeps the same promise for every platform), and `Sync` exactly when `T: Sync`.
/// It carries the raw lock's per-acquisition state and hands it back to the unlock.
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized, R: lock_api::RawMutex = DefaultRaw> {
    lock: &'a Mutex<T, R>,
    /// This acquisition's state; taken exactly once, by `drop` (or moved to a mapped guard).
    state: ManuallyDrop<R::Guard>,
    panicking: Panicking,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared `&MutexGuard` reaches only `&T` (through `Deref`), never the raw lock or the
// acquisition state, so it may cross threads exactly when `&T` may.
unsafe impl<T: ?Sized + Sync, R: lock_api::RawMutex> Sync for MutexGuard<'_, T, R> {}

impl<'a, T: ?Sized, R: lock_api::RawMutex> MutexGuard<'a, T, R> {
    /// Wraps the acquisition `state` of `lock`, recording whether the thread is panicking.
    ///
    /// # Safety
    ///
    /// `state` must be the current thread's live acquisition of `lock.raw`, owned by no other
    /// guard.
    #[inline]
    unsafe fn new(lock: &'a Mutex<T, R>, state: R::Guard) -> LockResult<Self> {
        let guard = MutexGuard {
            lock,
            state: ManuallyDrop::new(state),
            panicking: Panicking::now(),
            _not_send: PhantomData,
        };
        if lock.poison.get() {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    /// The raw lock and this acquisition's state, for `Condvar::wait`, which releases and
    /// re-acquires the lock without ending the guard.
    #[inline]
    pub(super) fn raw_parts(&mut self) -> (&'a R, &mut ManuallyDrop<R::Guard>) {
        let lock: &'a Mutex<T, R> = self.lock;
        (&lock.raw, &mut self.state)
    }

    /// Whether the guard's mutex is poisoned (read with the lock held).
    #[inline]
    pub(super) fn mutex_poisoned(&self) -> bool {
        self.lock.poison.get()
    }

    /// Makes a guard for a part of the data, e.g. a field or an enum variant (std's unstable
    /// `mapped_lock_guards`). An associated function, `MutexGuard::map(guard, f)`, so it does
    /// not shadow a method of `T`.
    ///
    /// If `f` panics, the original guard is dropped during the unwinding: the mutex is
    /// unlocked and poisoned.
    ///
    /// ```
    /// use ksync::compat::{Mutex, MutexGuard};
    /// let m = Mutex::new((1, String::from("a")));
    /// let mut name = MutexGuard::map(m.lock().unwrap(), |pair| &mut pair.1);
    /// name.push('b');
    /// drop(name);
    /// assert_eq!(m.lock().unwrap().1, "ab");
    /// ```
    pub fn map<U: ?Sized, F>(orig: Self, f: F) -> MappedMutexGuard<'a, U, R>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // SAFETY: the guard holds the lock and nothing else borrows the data; `orig` stays
        // alive while `f` runs, so a panic in `f` drops it (poison, then unlock).
        let data = NonNull::from(f(unsafe { &mut *orig.lock.data_ptr() }));
        // SAFETY: `orig` is never dropped again; its acquisition moves to the mapped guard.
        unsafe { MappedMutexGuard::from_guard(orig, data) }
    }

    /// Like [`map`](Self::map), but `f` may decline with `None`, which gives the original guard
    /// back in `Err` (std's unstable `filter_map`).
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
        // SAFETY: the guard holds the lock: no other thread reaches the data, and this thread
        // reaches it only through the guard, whose borrow rules the references follow.
        self.lock.data.with(|p| unsafe { &*p })
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> DerefMut for MutexGuard<'_, T, R> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the reference unique.
        self.lock.data.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T: ?Sized, R: lock_api::RawMutex> Drop for MutexGuard<'_, T, R> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.done(self.panicking);
        // SAFETY: the state is this guard's acquisition of `lock.raw`, taken exactly once.
        unsafe { self.lock.raw.unlock(ManuallyDrop::take(&mut self.state)) }
    }
}

impl<T: ?Sized + fmt::Debug, R: lock_api::RawMutex> fmt::Debug for MutexGuard<'_, T, R> {
    /// The data's `Debug`, as std.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, R: lock_api::RawMutex> fmt::Display for MutexGuard<'_, T, R> {
    /// The data's `Display`, as std.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A [`MutexGuard`] narrowed to a part of the data by [`MutexGuard::map`] (std's unstable
/// `MappedMutexGuard`). Unlocks (and poisons, like the guard it came from) when dropped.
///
/// It cannot be passed to [`Condvar::wait`](super::Condvar::wait): the mutex may change while
/// a waiter has it released, and the narrowed reference could then dangle.
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MappedMutexGuard<'a, T: ?Sized, R: lock_api::RawMutex = DefaultRaw> {
    // A pointer, not `&'a mut T`: the uniqueness holds until the guard drops, not for all of
    // `'a`. `NonNull` also makes the guard `!Send` and `!Sync`; `Sync` is restored below.
    data: NonNull<T>,
    raw: &'a R,
    poison: &'a Flag,
    panicking: Panicking,
    state: ManuallyDrop<R::Guard>,
    // Invariance in `T`, as `&'a mut T`.
    _variance: PhantomData<&'a mut T>,
}

// SAFETY: as for `MutexGuard`: a shared reference reaches only `&T`.
unsafe impl<T: ?Sized + Sync, R: lock_api::RawMutex> Sync for MappedMutexGuard<'_, T, R> {}

impl<'a, T: ?Sized, R: lock_api::RawMutex> MappedMutexGuard<'a, T, R> {
    /// Moves `orig`'s acquisition into a guard for `data`.
    ///
    /// # Safety
    ///
    /// `data` must point into the data `orig` guards, valid for as long as the lock is held.
    unsafe fn from_guard<U: ?Sized>(orig: MutexGuard<'a, U, R>, data: NonNull<T>) -> Self {
        let mut orig = ManuallyDrop::new(orig);
        let lock: &'a Mutex<U, R> = orig.lock;
        MappedMutexGuard {
            data,
            raw: &lock.raw,
            poison: &lock.poison,
            panicking: orig.panicking,
            // SAFETY: `orig` is never dropped, so its state is taken exactly once, here.
            state: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut orig.state) }),
            _variance: PhantomData,
        }
    }

    /// Narrows the guard further; see [`MutexGuard::map`]. A panic in `f` unlocks and poisons.
    pub fn map<U: ?Sized, F>(mut orig: Self, f: F) -> MappedMutexGuard<'a, U, R>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // SAFETY: the guard holds the lock and `&mut orig` is unique; `orig` stays alive while
        // `f` runs, so a panic in `f` drops it (poison, then unlock).
        let data = NonNull::from(f(unsafe { orig.data.as_mut() }));
        let mut orig = ManuallyDrop::new(orig);
        MappedMutexGuard {
            data,
            raw: orig.raw,
            poison: orig.poison,
            panicking: orig.panicking,
            // SAFETY: `orig` is never dropped, so its state is taken exactly once, here.
            state: ManuallyDrop::new(unsafe { ManuallyDrop::take(&mut orig.state) }),
            _variance: PhantomData,
        }
    }

    /// Like [`map`](Self::map), but `f` may decline with `None`, which gives the guard back in
    /// `Err`.
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
            poison: orig.poison,
            panicking: orig.panicking,
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
        self.poison.done(self.panicking);
        // SAFETY: the state is this guard's acquisition of `raw`, taken exactly once.
        unsafe { self.raw.unlock(ManuallyDrop::take(&mut self.state)) }
    }
}

impl<T: ?Sized + fmt::Debug, R: lock_api::RawMutex> fmt::Debug for MappedMutexGuard<'_, T, R> {
    /// The data's `Debug`, as std.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display, R: lock_api::RawMutex> fmt::Display for MappedMutexGuard<'_, T, R> {
    /// The data's `Display`, as std.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
