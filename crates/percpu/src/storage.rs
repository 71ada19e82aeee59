//! `PerCpu<T>`: one cache-padded `T` per slot, allocated lazily, never moved.
//!
//! The kernel's `DEFINE_PER_CPU` reserves a copy of a variable in every CPU's per-CPU area at
//! boot, and `per_cpu_ptr(p, cpu)` adds that CPU's offset. User space has no per-CPU areas and
//! no fixed CPU count, so ksync grows the storage on demand instead, in chunks whose sizes
//! double: chunk `b` holds slots `2^b - 1 .. 2^(b+1) - 1`. Fourteen chunks (1, 2, 4, ... 8192
//! elements) cover exactly [`MAX_SLOTS`] = 2^14 - 1 slots, and because slots are dense a process
//! with a handful of threads allocates a handful of elements.
//!
//! A chunk, once published, is never moved or freed until the `PerCpu` is dropped (a `static`
//! one lives forever), so a `&T` from [`PerCpu::get`] stays valid while other threads grow the
//! storage: the qspinlock can hold a pointer to another slot's MCS node while that slot's owner,
//! or anyone, allocates further chunks.
//!
//! Each element is wrapped in [`CachePadded`] (128 bytes on x86-64, which covers the adjacent-
//! line prefetcher), so two slots never share a cache line: the point of per-CPU data is that a
//! CPU's writes stay in its own cache.

use core::marker::PhantomData;
use core::ptr;

use crossbeam_utils::CachePadded;
use ksync_barrier::sync::atomic::{AtomicPtr, Ordering};

use crate::MAX_SLOTS;

/// Number of chunks: chunk `b` has `2^b` elements, and `2^14 - 1 == MAX_SLOTS`.
const CHUNKS: usize = 14;
static_assertions::const_assert_eq!((1usize << CHUNKS) - 1, MAX_SLOTS);

/// Chunk index and index within the chunk of `slot`.
#[inline(always)]
fn locate(slot: usize) -> (usize, usize) {
    let n = slot + 1;
    let chunk = (usize::BITS - 1 - n.leading_zeros()) as usize;
    (chunk, n - (1 << chunk))
}

fn default_init<T: Default>(_slot: usize) -> T {
    T::default()
}

/// Per-slot storage: one `T` for every slot ("CPU"), built on first use.
///
/// The user-space analog of a `DEFINE_PER_CPU` variable. [`PerCpu::this_cpu`] is
/// `this_cpu_ptr()`, [`PerCpu::get`] is `per_cpu_ptr(p, cpu)`, and [`PerCpu::iter`] is
/// `for_each_possible_cpu()` restricted to the slots allocated so far.
///
/// ```
/// use ksync_barrier::sync::atomic::{AtomicU64, Ordering};
/// use ksync_percpu::PerCpu;
///
/// static HITS: PerCpu<AtomicU64> = PerCpu::new();
///
/// // This thread's element: no other live thread has the same slot.
/// HITS.this_cpu().unwrap().fetch_add(1, Ordering::Relaxed);
/// let total: u64 = HITS.iter().map(|(_, h)| h.load(Ordering::Relaxed)).sum();
/// assert_eq!(total, 1);
/// ```
pub struct PerCpu<T> {
    chunks: [AtomicPtr<CachePadded<T>>; CHUNKS],
    init: fn(usize) -> T,
    // Owns `T`s that are built on one thread, shared with others and dropped on a third:
    // Send and Sync are granted by hand below, with the bounds that makes necessary.
    _owns: PhantomData<*const T>,
}

// SAFETY: a `PerCpu<T>` owns its `T`s; moving it to another thread moves them (and drops them
// there), which needs `T: Send` and nothing more.
unsafe impl<T: Send> Send for PerCpu<T> {}

// SAFETY: `&PerCpu<T>` hands out `&T` to every thread (needs `T: Sync`) and lets any thread
// create elements that the owner later drops on its own thread (needs `T: Send`). The chunk
// pointers themselves are atomics.
unsafe impl<T: Send + Sync> Sync for PerCpu<T> {}

impl<T: Default> PerCpu<T> {
    /// Empty storage whose elements start as `T::default()`. Allocates nothing.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self::with_init(default_init::<T>)
    }

    /// Empty storage whose elements start as `T::default()`. Allocates nothing.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self::with_init(default_init::<T>)
    }
}

impl<T> PerCpu<T> {
    /// Empty storage whose element for slot `s` starts as `init(s)`. Allocates nothing.
    ///
    /// ```
    /// use ksync_percpu::PerCpu;
    /// static IDS: PerCpu<usize> = PerCpu::with_init(|slot| slot);
    /// assert_eq!(*IDS.get(5), 5);
    /// ```
    #[cfg(not(loom))]
    pub const fn with_init(init: fn(usize) -> T) -> Self {
        PerCpu {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
            init,
            _owns: PhantomData,
        }
    }

    /// Empty storage whose element for slot `s` starts as `init(s)`. Allocates nothing.
    #[cfg(loom)]
    pub fn with_init(init: fn(usize) -> T) -> Self {
        PerCpu {
            chunks: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            init,
            _owns: PhantomData,
        }
    }

    /// The element of `slot`, allocating its chunk if this is the chunk's first use.
    ///
    /// The reference is valid for as long as `self`, and the element never moves.
    ///
    /// # Panics
    ///
    /// If `slot >= MAX_SLOTS`: such a slot does not exist.
    #[inline]
    pub fn get(&self, slot: usize) -> &T {
        assert!(
            slot < MAX_SLOTS,
            "PerCpu::get: slot {slot} out of range (slots are 0..16383)"
        );
        let (chunk, index) = locate(slot);
        // Acquire: pairs with the publishing CAS in `grow`, so the elements' initialization
        // is visible before we touch them. (A plain `mov` on x86-64.)
        let mut p = self.chunks[chunk].load(Ordering::Acquire);
        if p.is_null() {
            p = self.grow(chunk);
        }
        // SAFETY: `p` points to a live chunk of `2^chunk` initialized elements (published by
        // `grow`, freed only by `drop`, which `&self` excludes), and `index < 2^chunk`.
        unsafe { &*p.add(index) }
    }

    /// The element of `slot` if its chunk is already allocated; never allocates.
    ///
    /// `None` for slots out of range or not yet reached.
    #[inline]
    pub fn try_get(&self, slot: usize) -> Option<&T> {
        if slot >= MAX_SLOTS {
            return None;
        }
        let (chunk, index) = locate(slot);
        // Acquire: as in `get`.
        let p = self.chunks[chunk].load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: as in `get`.
        Some(unsafe { &*p.add(index) })
    }

    /// The calling thread's element (`this_cpu_ptr()`), or `None` when the thread has no slot
    /// (slots exhausted, or the thread is exiting; see [`this_slot`](crate::this_slot)).
    #[inline]
    pub fn this_cpu(&self) -> Option<&T> {
        crate::this_slot().map(|slot| self.get(slot))
    }

    /// The allocated elements with their slots, in slot order.
    ///
    /// Covers every slot of every chunk allocated so far, including slots no thread has used
    /// yet (they hold their initial value). Chunks allocated during the iteration may or may not
    /// be visited.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(chunk, c)| {
            // Acquire: as in `get`.
            let p = c.load(Ordering::Acquire);
            let len = if p.is_null() { 0 } else { 1usize << chunk };
            let first = (1usize << chunk) - 1;
            (0..len).map(move |i| {
                // SAFETY: `p` is a live chunk of `len` initialized elements (see `get`).
                let elem: &T = unsafe { &*p.add(i) };
                (first + i, elem)
            })
        })
    }

    /// Allocates chunk `chunk` unless another thread did, and returns the published chunk.
    #[cold]
    #[inline(never)]
    fn grow(&self, chunk: usize) -> *mut CachePadded<T> {
        let len = 1usize << chunk;
        let first = len - 1;
        let fresh: Box<[CachePadded<T>]> = (0..len)
            .map(|i| CachePadded::new((self.init)(first + i)))
            .collect();
        let fresh = Box::into_raw(fresh) as *mut CachePadded<T>;
        // Release on success: publishes the initialized elements to the Acquire loads in
        // `get`/`iter`. Acquire on failure: we use the winner's chunk, so we need its
        // initialization too.
        match self.chunks[chunk].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` of a `len`-element slice above and
                // was never published, so this is its only owner.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, len)) });
                winner
            }
        }
    }
}

impl<T> Drop for PerCpu<T> {
    fn drop(&mut self) {
        for (chunk, c) in self.chunks.iter().enumerate() {
            // Relaxed: `&mut self` means every other thread's use happened before this.
            let p = c.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: `p` was published by `grow` from `Box::into_raw` of a slice of
                // `2^chunk` elements; `&mut self` guarantees no reference to it remains.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, 1usize << chunk)) });
            }
        }
    }
}

impl<T: Default> Default for PerCpu<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for PerCpu<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn locate_covers_the_slot_space_exactly() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(1), (1, 0));
        assert_eq!(locate(2), (1, 1));
        assert_eq!(locate(3), (2, 0));
        assert_eq!(locate(crate::MAX_SLOTS - 1), (13, 8191));
        let mut expected = (0, 0);
        for slot in 0..crate::MAX_SLOTS {
            assert_eq!(locate(slot), expected, "slot {slot}");
            expected.1 += 1;
            if expected.1 == 1 << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
    }
}
