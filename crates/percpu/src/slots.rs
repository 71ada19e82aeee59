//! The slot allocator: dense small integers, lowest free first, lock-free.
//!
//! A slot is ksync's "CPU number" (see the crate docs). The allocator is a bitmap: bit `s` of
//! word `s / 64` is set while slot `s` is held. [`SlotAllocator::alloc`] scans from word 0 and
//! claims the lowest clear bit with a compare-and-swap, so the slots in use stay packed at the
//! bottom of the space: the qspinlock's tail values stay small and [`PerCpu`](crate::PerCpu)
//! allocates only its first few chunks. Allocation happens once per thread, so a scan of up to
//! 256 words on a nearly full space is fine; [`SlotAllocator::free`] is a single atomic AND.
//!
//! ## Ordering
//!
//! A slot is handed from one holder to the next: everything the old holder did through the
//! slot (its per-CPU data, its descriptor) must happen before the new holder's first access.
//! `free` is a `Release` RMW and a successful `alloc` CAS is `Acquire`. Every RMW on the same
//! word continues the release sequence, so the new holder synchronizes with the old one even
//! when other bits of the word changed in between.

use ksync_barrier::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::MAX_SLOTS;

/// Bitmap words needed for [`MAX_SLOTS`] bits.
#[cfg(not(loom))]
const WORDS: usize = MAX_SLOTS.div_ceil(64);

#[cfg(not(loom))]
type Bits = [AtomicU64; WORDS];
// Loom's atomics are not `const` and each one is an object of the model: build only the words
// a given capacity needs.
#[cfg(loom)]
type Bits = Box<[AtomicU64]>;

/// A pool of dense slot numbers `0..capacity`, handed out lowest first.
///
/// The process-wide pool behind [`this_slot`](crate::this_slot) is one of these with capacity
/// [`MAX_SLOTS`]; it is private, so no code can free a slot a live thread holds. Build your own
/// (for example [`SlotAllocator::with_capacity(4)`](SlotAllocator::with_capacity) in a test) to
/// exercise exhaustion without thousands of threads.
///
/// ```
/// use ksync_percpu::SlotAllocator;
/// let a = SlotAllocator::with_capacity(2);
/// assert_eq!(a.alloc(), Some(0));
/// assert_eq!(a.alloc(), Some(1));
/// assert_eq!(a.alloc(), None); // exhausted: a defined answer, never UB
/// a.free(0);
/// assert_eq!(a.alloc(), Some(0)); // the lowest free slot comes back first
/// ```
pub struct SlotAllocator {
    bits: Bits,
    capacity: usize,
    in_use: AtomicUsize,
    high_water: AtomicUsize,
}

impl SlotAllocator {
    /// An allocator for the full slot space, `0..MAX_SLOTS`.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self::with_capacity(MAX_SLOTS)
    }

    /// An allocator for `0..capacity`.
    ///
    /// # Panics
    ///
    /// If `capacity > MAX_SLOTS` (slots must fit the qspinlock's 14-bit tail field).
    #[cfg(not(loom))]
    pub const fn with_capacity(capacity: usize) -> Self {
        assert!(
            capacity <= MAX_SLOTS,
            "SlotAllocator::with_capacity: capacity exceeds MAX_SLOTS (16383)"
        );
        SlotAllocator {
            bits: [const { AtomicU64::new(0) }; WORDS],
            capacity,
            in_use: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
        }
    }

    /// An allocator for the full slot space, `0..MAX_SLOTS`.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self::with_capacity(MAX_SLOTS)
    }

    /// An allocator for `0..capacity`.
    ///
    /// # Panics
    ///
    /// If `capacity > MAX_SLOTS` (slots must fit the qspinlock's 14-bit tail field).
    #[cfg(loom)]
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(
            capacity <= MAX_SLOTS,
            "SlotAllocator::with_capacity: capacity exceeds MAX_SLOTS (16383)"
        );
        SlotAllocator {
            bits: (0..capacity.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            capacity,
            in_use: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
        }
    }

    /// Claims the lowest free slot, or returns `None` when all `capacity` slots are held.
    pub fn alloc(&self) -> Option<usize> {
        for (w, word) in self.bits.iter().enumerate() {
            let base = w * 64;
            if base >= self.capacity {
                break;
            }
            let valid = if self.capacity - base >= 64 {
                u64::MAX
            } else {
                (1u64 << (self.capacity - base)) - 1
            };
            // Relaxed: only a guess for the CAS below, which carries the ordering.
            let mut cur = word.load(Ordering::Relaxed);
            loop {
                let free = !cur & valid;
                if free == 0 {
                    break;
                }
                let bit = free.trailing_zeros() as usize;
                // Acquire on success: pairs with the Release in `free`, so the previous
                // holder's uses of the slot happen before ours. Relaxed on failure: we only
                // retry with the fresh value.
                match word.compare_exchange_weak(
                    cur,
                    cur | (1 << bit),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let slot = base + bit;
                        // Relaxed: statistics only, read by nobody for synchronization.
                        self.in_use.fetch_add(1, Ordering::Relaxed);
                        self.high_water.fetch_max(slot + 1, Ordering::Relaxed);
                        return Some(slot);
                    }
                    Err(now) => cur = now,
                }
            }
        }
        None
    }

    /// Returns `slot` to the pool.
    ///
    /// # Panics
    ///
    /// If `slot >= capacity` or the slot is not held (a double free): the allocator's
    /// invariant (one holder per slot) would be broken, so it refuses loudly.
    pub fn free(&self, slot: usize) {
        assert!(
            slot < self.capacity,
            "SlotAllocator::free: slot {slot} out of range (capacity {})",
            self.capacity
        );
        let mask = 1u64 << (slot % 64);
        // Release: everything this holder did through the slot happens before the next
        // holder's Acquire in `alloc`.
        let old = self.bits[slot / 64].fetch_and(!mask, Ordering::Release);
        assert!(
            old & mask != 0,
            "SlotAllocator::free: slot {slot} was not allocated (double free)"
        );
        // Relaxed: statistics only.
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether `slot` is held right now (a racy snapshot; `false` when out of range).
    pub fn is_allocated(&self, slot: usize) -> bool {
        // Relaxed: a snapshot for tests and diagnostics, orders nothing.
        slot < self.capacity
            && self.bits[slot / 64].load(Ordering::Relaxed) & (1 << (slot % 64)) != 0
    }

    /// The number of slots, `0..capacity`.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many slots are held right now (a racy snapshot).
    pub fn in_use(&self) -> usize {
        // Relaxed: statistics only.
        self.in_use.load(Ordering::Relaxed)
    }

    /// One more than the highest slot ever handed out (0 if none): how far the slot space has
    /// spread. Dense allocation keeps it close to the peak number of holders.
    pub fn high_water(&self) -> usize {
        // Relaxed: statistics only.
        self.high_water.load(Ordering::Relaxed)
    }
}

impl Default for SlotAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for SlotAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotAllocator")
            .field("capacity", &self.capacity)
            .field("in_use", &self.in_use())
            .field("high_water", &self.high_water())
            .finish()
    }
}
