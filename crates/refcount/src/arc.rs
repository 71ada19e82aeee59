//! [`Arc<T>`]: an owning, thread-safe reference-counted pointer on a saturating [`Refcount`].
//!
//! In the spirit of Rust-for-Linux's `kernel::sync::Arc` (`rust/kernel/sync/arc.rs`), which
//! wraps the kernel's `refcount_t`; the counting is `include/linux/refcount.h`'s (via
//! [`Refcount`]), the API follows `std::sync::Arc` where it fits.
//!
//! ## How it differs from `std::sync::Arc`
//!
//! | | `std::sync::Arc<T>` | `ksync_refcount::Arc<T>` |
//! |---|---|---|
//! | header before `T` | strong + weak counts: 2 × `usize` (16 bytes on 64-bit) | one `Refcount`: 4 bytes (padded to `T`'s alignment) |
//! | weak references | yes | no |
//! | `clone` | relaxed `fetch_add`; over `isize::MAX` references it **aborts the process** | relaxed `fetch_add` ([`Refcount::inc`]); past `REFCOUNT_MAX` references it **saturates and leaks** the value, and reports [`Saturation::AddOvf`](crate::Saturation::AddOvf) |
//! | `drop` | release `fetch_sub`; acquire fence at zero | the same ([`Refcount::dec_and_test`]); a saturated count never reaches zero |
//! | lookup-table upgrade | `Weak::upgrade` (needs the weak count) | `unsafe` [`Arc::get_unless_zero`] from a raw pointer (the kernel's `kref_get_unless_zero` pattern) |
//! | unsized `T` (`Arc<str>`, `Arc<dyn Trait>`) | yes | no (needs the unstable `CoerceUnsized`) |
//!
//! Saturation trades a leak for the abort: a program that leaks references in a loop keeps
//! running with one object pinned in memory (and a warning), instead of dying. Both are bugs;
//! the kernel chose the leak because an abort takes the whole system down.
//!
//! ## The pointer and the allocation
//!
//! An `Arc<T>` is one pointer (`NonNull`, so `Option<Arc<T>>` is one pointer too) to a heap
//! `ArcInner<T>`, a `#[repr(C)]` pair of the [`Refcount`] and the value. [`Arc::as_ptr`] and
//! [`Arc::into_raw`] return the address of the value; [`Arc::from_raw`] and
//! [`Arc::get_unless_zero`] step back to the header.

use core::borrow::Borrow;
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop};
use core::ops::Deref;
use core::panic::{RefUnwindSafe, UnwindSafe};
use core::pin::Pin;
use core::ptr::NonNull;

use std::boxed::Box;

use ksync_barrier::smp_acquire__after_ctrl_dep;

use crate::Refcount;

/// The allocation: the count, then the value.
#[repr(C)]
struct ArcInner<T> {
    refcount: Refcount,
    data: T,
}

/// A thread-safe reference-counted pointer whose count saturates instead of overflowing.
///
/// One pointer wide, no weak count; `clone` is [`Refcount::inc`] (relaxed) and `drop` is
/// [`Refcount::dec_and_test`] (release, and acquire before the value is dropped). Past
/// [`REFCOUNT_MAX`](crate::REFCOUNT_MAX) references the count saturates: the value is leaked
/// (never dropped) and a [`Saturation::AddOvf`](crate::Saturation::AddOvf) event is reported,
/// where `std::sync::Arc` would abort the process. See the [module docs](crate::arc) for the
/// comparison with `std::sync::Arc`.
///
/// ```
/// use ksync_refcount::Arc;
/// use std::thread;
///
/// let config = Arc::new(vec![1, 2, 3]);
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let config = Arc::clone(&config);
///         thread::spawn(move || config.iter().sum::<i32>())
///     })
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap(), 6);
/// }
/// assert_eq!(Arc::strong_count(&config), 1);
/// assert_eq!(Arc::into_inner(config), Some(vec![1, 2, 3]));
/// ```
pub struct Arc<T> {
    ptr: NonNull<ArcInner<T>>,
    /// Owns an `ArcInner<T>` (for drop check and variance).
    phantom: PhantomData<ArcInner<T>>,
}

// SAFETY: as `std::sync::Arc`: sending an `Arc` to another thread can make that thread drop the
// last reference (so `T: Send`) and gives it `&T` (so `T: Sync`). The count is atomic.
unsafe impl<T: Send + Sync> Send for Arc<T> {}
// SAFETY: as `std::sync::Arc`: `&Arc<T>` lets another thread clone it, which is as good as
// sending it (see `Send`).
unsafe impl<T: Send + Sync> Sync for Arc<T> {}

// As std: an `Arc` only hands out `&T`, and the count is consistent at every instruction, so
// `T: RefUnwindSafe` is enough (the auto impl would also demand `T: UnwindSafe`, through the
// `PhantomData`).
impl<T: RefUnwindSafe> UnwindSafe for Arc<T> {}

// The value never moves while an `Arc` points to it.
impl<T> Unpin for Arc<T> {}

impl<T> Arc<T> {
    /// Moves `data` to the heap, with a count of one.
    pub fn new(data: T) -> Self {
        let inner = Box::new(ArcInner {
            refcount: Refcount::new(1),
            data,
        });
        Self {
            ptr: NonNull::from(Box::leak(inner)),
            phantom: PhantomData,
        }
    }

    /// A pinned `Arc`: the value never moves while an `Arc` points to it.
    pub fn pin(data: T) -> Pin<Self> {
        // SAFETY: the value lives in its own heap allocation until the last `Arc` drops it;
        // nothing in this API moves it out while another `Arc` exists (`try_unwrap` and
        // `into_inner` need the last reference, and `Pin` gives no `&mut Arc` access to them).
        unsafe { Pin::new_unchecked(Self::new(data)) }
    }

    /// The count, without forming a reference to the value.
    #[inline(always)]
    fn refcount(&self) -> &Refcount {
        // SAFETY: `ptr` points to a live `ArcInner<T>` while this `Arc` holds its reference.
        unsafe { &(*self.ptr.as_ptr()).refcount }
    }

    /// The header address for a value address from [`as_ptr`](Self::as_ptr).
    #[inline(always)]
    fn inner_from_data(ptr: *const T) -> *mut ArcInner<T> {
        // `data` is at a fixed offset in the `#[repr(C)]` `ArcInner<T>`; `wrapping_byte_sub`
        // keeps `ptr`'s provenance, which covers the whole allocation (it was derived from
        // the `Box`'s pointer).
        ptr.wrapping_byte_sub(mem::offset_of!(ArcInner<T>, data)) as *mut ArcInner<T>
    }

    /// Whether two `Arc`s point to the same allocation.
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
    }

    /// The address of the value. The pointer is valid while some `Arc` keeps the allocation
    /// alive.
    #[inline]
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: `ptr` points to a live `ArcInner<T>`; `&raw const` forms no reference.
        unsafe { &raw const (*this.ptr.as_ptr()).data }
    }

    /// Consumes the `Arc` without dropping its reference and returns the address of the value;
    /// [`from_raw`](Self::from_raw) turns it back into an `Arc`.
    #[inline]
    pub fn into_raw(this: Self) -> *const T {
        let p = Self::as_ptr(&this);
        mem::forget(this);
        p
    }

    /// Rebuilds an `Arc` from [`into_raw`](Self::into_raw), taking over the reference it kept.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `Arc::<T>::into_raw` (this `Arc`, this `T`), and each `into_raw`
    /// may be matched by at most one `from_raw` (or
    /// [`decrement_strong_count`](Self::decrement_strong_count)).
    #[inline]
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        Self {
            // SAFETY: by the contract, `ptr` is the value's address inside a live allocation,
            // so the header address is non-null.
            ptr: unsafe { NonNull::new_unchecked(Self::inner_from_data(ptr)) },
            phantom: PhantomData,
        }
    }

    /// Takes one more reference through a raw pointer ([`Refcount::inc`]).
    ///
    /// # Safety
    ///
    /// `ptr` must come from `Arc::<T>::into_raw` and the allocation must still hold that
    /// reference (or another one) for the duration of the call.
    #[inline]
    #[track_caller]
    pub unsafe fn increment_strong_count(ptr: *const T) {
        // Relaxed (refcount_inc): the reference the caller holds already orders its accesses.
        // SAFETY: by the contract, the allocation is live and its count is at least 1.
        unsafe { (*Self::inner_from_data(ptr)).refcount.inc() }
    }

    /// Drops one reference through a raw pointer, as `drop(Arc::from_raw(ptr))`.
    ///
    /// # Safety
    ///
    /// As for [`from_raw`](Self::from_raw): the reference dropped is one that an `into_raw` (or
    /// [`increment_strong_count`](Self::increment_strong_count)) kept.
    #[inline]
    pub unsafe fn decrement_strong_count(ptr: *const T) {
        // SAFETY: forwarded contract.
        drop(unsafe { Self::from_raw(ptr) })
    }

    /// The number of references (one relaxed read, possibly stale at once). A saturated count
    /// reads `0xc000_0000` ([`REFCOUNT_SATURATED`](crate::REFCOUNT_SATURATED) as `u32`).
    #[inline]
    pub fn strong_count(this: &Self) -> usize {
        // Relaxed (refcount_read): a racy snapshot.
        this.refcount().read() as usize
    }

    /// `&mut T` when this is the only reference, else `None`.
    ///
    /// The count is read with ACQUIRE, so the accesses of every `Arc` dropped before happen
    /// before the caller's mutation. A saturated count is never "only one".
    ///
    /// Do not use this on an allocation whose address is published for
    /// [`get_unless_zero`](Self::get_unless_zero) lookups (see its contract).
    #[inline]
    pub fn get_mut(this: &mut Self) -> Option<&mut T> {
        // Acquire: synchronizes with the release decrements of the references dropped before.
        if this.refcount().read_acquire() == 1 {
            // SAFETY: the count is 1 and it is ours: no other `Arc` exists and none can appear
            // while `this` is borrowed mutably (a clone needs an `Arc`; `get_unless_zero`
            // callers promise not to race with `get_mut`).
            Some(unsafe { &mut (*this.ptr.as_ptr()).data })
        } else {
            None
        }
    }

    /// `&mut T`, cloning the value into a new allocation first if other references exist
    /// (clone-on-write).
    #[inline]
    pub fn make_mut(this: &mut Self) -> &mut T
    where
        T: Clone,
    {
        // Acquire: as in `get_mut`.
        if this.refcount().read_acquire() != 1 {
            *this = Arc::new((**this).clone());
        }
        // SAFETY: the count is 1 (just checked, or a fresh allocation): as in `get_mut`.
        unsafe { &mut (*this.ptr.as_ptr()).data }
    }

    /// The value, if this is the only reference; otherwise the `Arc` back.
    ///
    /// Takes the count from 1 to 0 with [`Refcount::dec_if_one`], so a concurrent
    /// [`get_unless_zero`](Self::get_unless_zero) either got in first (and this fails) or
    /// fails itself.
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        // RELEASE on success (dec_if_one).
        if !this.refcount().dec_if_one() {
            return Err(this);
        }
        // Acquire: dec_if_one is only a release; the value is about to be moved out, which
        // must come after every other reference's accesses (their drops were releases).
        smp_acquire__after_ctrl_dep();
        let this = ManuallyDrop::new(this);
        // SAFETY: the count went from 1 to 0 here: this was the last reference, and no new one
        // can be taken from zero. The allocation came from `Box::new` in `Arc::new`.
        let inner = unsafe { Box::from_raw(this.ptr.as_ptr()) };
        Ok(inner.data)
    }

    /// Drops this reference and returns the value if it was the last one. Unlike
    /// `try_unwrap(this).ok()`, two threads calling it on the last two references cannot both
    /// get `None`.
    pub fn into_inner(this: Self) -> Option<T> {
        let this = ManuallyDrop::new(this);
        // RELEASE, and ACQUIRE when it reaches zero.
        if this.refcount().dec_and_test() {
            // SAFETY: this was the last reference (see `drop`).
            let inner = unsafe { Box::from_raw(this.ptr.as_ptr()) };
            Some(inner.data)
        } else {
            None
        }
    }

    /// The value if this is the only reference, else a clone of it.
    pub fn unwrap_or_clone(this: Self) -> T
    where
        T: Clone,
    {
        Self::try_unwrap(this).unwrap_or_else(|arc| (*arc).clone())
    }

    /// Takes a reference through a raw pointer unless the count has already reached zero: the
    /// kernel's `kref_get_unless_zero()` lookup pattern ([`Refcount::inc_not_zero`]).
    ///
    /// A lookup table (a map, a hash chain) holds raw pointers from [`as_ptr`](Self::as_ptr)
    /// or [`into_raw`](Self::into_raw) *without* owning a reference; the objects unpublish
    /// themselves when they die. A lookup that finds an object whose last reference is being
    /// dropped gets `None` instead of resurrecting it.
    ///
    /// # Safety
    ///
    /// * `ptr` comes from `Arc::<T>::as_ptr` or `Arc::<T>::into_raw`.
    /// * **The allocation is still live for the whole call**, although its count may be zero:
    ///   its memory must not be freed before every lookup that might have found `ptr` is done.
    ///   The usual ways: (a) the lookup runs under a lock, and the object is unpublished under
    ///   the same lock before its memory is freed (for instance `T`'s `Drop` removes the entry
    ///   with the lock held: `Arc`'s drop runs `T`'s `Drop` before freeing); or (b) frees are
    ///   deferred past a grace period that every lookup ends before (RCU, epochs, hazard
    ///   pointers). `try_unwrap` and `into_inner` free without running `T`'s `Drop`: unpublish
    ///   the object before calling them.
    /// * The allocation's creation happens before the call: the pointer was published with
    ///   release (or under a lock) and found with acquire (or under the same lock).
    /// * No [`get_mut`](Self::get_mut) / [`make_mut`](Self::make_mut) borrow of the same
    ///   allocation is live meanwhile: they would hand out `&mut T` while this hands out `&T`.
    ///
    /// **Ordering:** unordered ([`Refcount::inc_not_zero`]); the lookup provides it.
    ///
    /// ```
    /// use ksync_refcount::Arc;
    /// use std::sync::Mutex;
    ///
    /// // The table holds addresses, not references; the lookup and the free both happen under
    /// // the table lock (here the last `Arc` is dropped with the lock held).
    /// let table: Mutex<Vec<*const String>> = Mutex::new(Vec::new());
    /// let obj = Arc::new(String::from("eth0"));
    /// table.lock().unwrap().push(Arc::as_ptr(&obj));
    ///
    /// let found = {
    ///     let t = table.lock().unwrap();
    ///     // SAFETY: the pointer came from `as_ptr`; the object is freed only after being
    ///     // removed from the table under this lock, which is held here.
    ///     t.iter().find_map(|&p| unsafe { Arc::get_unless_zero(p) })
    /// };
    /// assert_eq!(found.as_deref().map(String::as_str), Some("eth0"));
    ///
    /// let mut t = table.lock().unwrap();
    /// t.clear(); // unpublish, then drop the references, under the lock
    /// drop(found);
    /// drop(obj);
    /// ```
    #[inline]
    #[track_caller]
    pub unsafe fn get_unless_zero(ptr: *const T) -> Option<Self> {
        let inner = Self::inner_from_data(ptr);
        // SAFETY: by the contract the allocation is live, so its header may be read, even at
        // count zero (only the `Refcount` is touched, not the value).
        let refcount = unsafe { &(*inner).refcount };
        // Relaxed (refcount_inc_not_zero): the lookup provides the ordering (see the contract).
        if refcount.inc_not_zero() {
            Some(Self {
                // SAFETY: `inner` points into a live allocation: non-null.
                ptr: unsafe { NonNull::new_unchecked(inner) },
                phantom: PhantomData,
            })
        } else {
            None
        }
    }

    /// The out-of-line part of `drop`: the last reference is gone.
    #[inline(never)]
    unsafe fn drop_slow(&mut self) {
        // SAFETY: the caller took the count to zero after an acquire: this is the only access
        // to the allocation from now on; it came from `Box::new` in `Arc::new`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl<T> Clone for Arc<T> {
    /// Takes another reference: [`Refcount::inc`].
    ///
    /// **Ordering:** unordered: the new reference comes from an existing one, so this thread
    /// already sees the value. Past `REFCOUNT_MAX` references the count saturates and the
    /// value is leaked ([`Saturation::AddOvf`](crate::Saturation::AddOvf) is reported); the
    /// clone is still a valid `Arc`.
    #[inline]
    #[track_caller]
    fn clone(&self) -> Self {
        // Relaxed (refcount_inc): see above.
        self.refcount().inc();
        Self {
            ptr: self.ptr,
            phantom: PhantomData,
        }
    }
}

impl<T> Drop for Arc<T> {
    /// Drops a reference: [`Refcount::dec_and_test`]. The last one drops the value and frees
    /// the allocation, after an ACQUIRE that orders it after every other reference's accesses
    /// (their drops were RELEASEs). A saturated count never reaches zero: the value is leaked.
    #[inline]
    fn drop(&mut self) {
        // Release, and acquire at zero (refcount_dec_and_test).
        if self.refcount().dec_and_test() {
            // SAFETY: the count reached zero here: this was the last reference.
            unsafe { self.drop_slow() }
        }
    }
}

impl<T> Deref for Arc<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the allocation is live while this `Arc` holds its reference, and the value
        // is only ever shared (`get_mut` needs the only reference).
        unsafe { &(*self.ptr.as_ptr()).data }
    }
}

impl<T> AsRef<T> for Arc<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> Borrow<T> for Arc<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: Default> Default for Arc<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Arc<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T> fmt::Pointer for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&Self::as_ptr(self), f)
    }
}

impl<T: PartialEq> PartialEq for Arc<T> {
    /// Compares the values (not the addresses: see [`Arc::ptr_eq`]).
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for Arc<T> {}

impl<T: PartialOrd> PartialOrd for Arc<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Ord> Ord for Arc<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Hash> Hash for Arc<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

// Layout: one pointer, and a 4-byte header (std's is two `usize`s).
#[cfg(not(loom))]
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<Arc<u64>>() == size_of::<usize>());
    assert!(size_of::<Option<Arc<u64>>>() == size_of::<usize>());
    assert!(size_of::<ArcInner<()>>() == 4);
    assert!(size_of::<ArcInner<u32>>() == 8);
    assert!(size_of::<ArcInner<u64>>() == 16);
    assert!(mem::offset_of!(ArcInner<u8>, data) == 4);
};

#[cfg(all(test, not(loom)))]
mod tests {
    //! Saturation of the `Arc`: needs the private count to start near `REFCOUNT_MAX`.

    use super::*;
    use crate::report::capture;
    use crate::{Saturation, REFCOUNT_MAX, REFCOUNT_SATURATED};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    // Relaxed accesses throughout these tests: one thread, nothing to order against.
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn clone_past_max_saturates_and_leaks() {
        let drops = AtomicUsize::new(0);
        let a = Arc::new(Counted(&drops));
        a.refcount().set(REFCOUNT_MAX);
        let (b, events) = capture(|| a.clone());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, Saturation::AddOvf);
        assert_eq!(events[0].old, REFCOUNT_MAX);
        assert!(events[0].is_for(a.refcount()));
        assert_eq!(Arc::strong_count(&a), REFCOUNT_SATURATED as u32 as usize);
        // Every later operation keeps it saturated; nothing is ever dropped.
        let ((), events) = capture(|| {
            let c = b.clone();
            drop(c);
            drop(b);
        });
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [Saturation::AddOvf, Saturation::SubUaf, Saturation::SubUaf]
        );
        let (inner, events) = capture(|| Arc::into_inner(a));
        assert!(inner.is_none());
        assert_eq!(events.len(), 1);
        assert_eq!(
            drops.load(Relaxed),
            0,
            "a saturated Arc must leak, never drop"
        );
    }

    #[test]
    fn saturated_arc_is_never_unique() {
        let mut a = Arc::new(5);
        a.refcount().set(REFCOUNT_SATURATED);
        assert!(Arc::get_mut(&mut a).is_none());
        let a = match Arc::try_unwrap(a) {
            Ok(_) => panic!("a saturated Arc unwrapped"),
            Err(a) => a,
        };
        // Leak it explicitly (dropping would report an event on the default hook).
        mem::forget(a);
    }

    #[test]
    fn event_location_is_the_clone_call() {
        let a = Arc::new(());
        a.refcount().set(REFCOUNT_MAX);
        let line = line!() + 1;
        let (b, events) = capture(|| a.clone());
        assert_eq!(events[0].location.file(), file!());
        assert_eq!(events[0].location.line(), line);
        mem::forget(a);
        mem::forget(b);
    }
}
