//! `READ_ONCE`/`WRITE_ONCE`, `smp_load_acquire`/`smp_store_release`, `smp_store_mb`, and the
//! `smp_cond_load_*` spin-waits, over every atomic integer, bool and pointer type.
//!
//! Mirrors the access half of `include/asm-generic/barrier.h` and `include/asm-generic/rwonce.h`.
//! The kernel applies these macros to plain scalars; Rust has no defined concurrent access to
//! plain memory, so ksync applies them to the atomic types through the sealed [`AtomicAccess`]
//! trait. Call sites then read like the kernel's: `smp_load_acquire(&lock.val)`.

use crate::fence::{cpu_relax, smp_acquire__after_ctrl_dep};
use crate::sync::atomic::{
    AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicPtr, AtomicU16,
    AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

mod sealed {
    pub trait Sealed {}
}

/// An atomic type the barrier functions act on: every `AtomicU*`/`AtomicI*`, `AtomicBool` and
/// `AtomicPtr<T>` of [`sync::atomic`](crate::sync::atomic) (loom's under `cfg(loom)`).
///
/// Sealed: the set of types is closed, so the x86-64 code of each function is known.
pub trait AtomicAccess: sealed::Sealed {
    /// The plain value held (`u32` for `AtomicU32`, `*mut T` for `AtomicPtr<T>`, ...).
    type Value: Copy;

    #[doc(hidden)]
    fn __load(&self, order: Ordering) -> Self::Value;
    #[doc(hidden)]
    fn __store(&self, value: Self::Value, order: Ordering);
    #[doc(hidden)]
    fn __store_mb(&self, value: Self::Value);
}

macro_rules! impl_access {
    ($($ty:ty => $val:ty, $asm_ty:ty, $reg:ident, $fmt:literal;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl AtomicAccess for $ty {
            type Value = $val;

            #[inline(always)]
            fn __load(&self, order: Ordering) -> $val {
                // Ordering: `order`, chosen by the public function that calls this.
                self.load(order)
            }

            #[inline(always)]
            fn __store(&self, value: $val, order: Ordering) {
                // Ordering: `order`, chosen by the public function that calls this.
                self.store(value, order)
            }

            #[inline(always)]
            fn __store_mb(&self, value: $val) {
                crate::select_backend! {
                    asm => {
                        // The kernel's x86 `smp_store_mb` is one `xchg` (implicitly locked: a
                        // full barrier); the old value is discarded.
                        // Same-size, bit-preserving conversion (`bool`/signed to unsigned).
                        let v = value as $asm_ty;
                        // SAFETY: `as_ptr` is valid and aligned for the atomic's size; `xchg`
                        // writes exactly that many bytes there, atomically, like every other
                        // access to the atomic; the memory clobber orders it against the
                        // surrounding accesses.
                        unsafe {
                            core::arch::asm!(
                                concat!("xchg ", $fmt),
                                ptr = in(reg) self.as_ptr(),
                                v = inout($reg) v => _,
                                options(nostack, preserves_flags),
                            );
                        }
                    },
                    portable => {
                        // Relaxed: the smp_mb() after it orders it (the generic `smp_store_mb`).
                        self.store(value, Ordering::Relaxed);
                        // Full barrier: the second half of `smp_store_mb`.
                        crate::fence::smp_mb();
                    },
                }
            }
        }
    )*};
}

impl_access! {
    AtomicBool => bool, u8, reg_byte, "byte ptr [{ptr}], {v}";
    AtomicU8 => u8, u8, reg_byte, "byte ptr [{ptr}], {v}";
    AtomicI8 => i8, u8, reg_byte, "byte ptr [{ptr}], {v}";
    AtomicU16 => u16, u16, reg, "word ptr [{ptr}], {v:x}";
    AtomicI16 => i16, u16, reg, "word ptr [{ptr}], {v:x}";
    AtomicU32 => u32, u32, reg, "dword ptr [{ptr}], {v:e}";
    AtomicI32 => i32, u32, reg, "dword ptr [{ptr}], {v:e}";
    AtomicU64 => u64, u64, reg, "qword ptr [{ptr}], {v:r}";
    AtomicI64 => i64, u64, reg, "qword ptr [{ptr}], {v:r}";
    AtomicUsize => usize, u64, reg, "qword ptr [{ptr}], {v:r}";
    AtomicIsize => isize, u64, reg, "qword ptr [{ptr}], {v:r}";
}

impl<T> sealed::Sealed for AtomicPtr<T> {}
impl<T> AtomicAccess for AtomicPtr<T> {
    type Value = *mut T;

    #[inline(always)]
    fn __load(&self, order: Ordering) -> *mut T {
        // Ordering: `order`, chosen by the public function that calls this.
        self.load(order)
    }

    #[inline(always)]
    fn __store(&self, value: *mut T, order: Ordering) {
        // Ordering: `order`, chosen by the public function that calls this.
        self.store(value, order)
    }

    #[inline(always)]
    fn __store_mb(&self, value: *mut T) {
        crate::select_backend! {
            asm => {
                // SAFETY: as for the integer types: an aligned, pointer-sized atomic exchange on
                // the atomic's own storage.
                unsafe {
                    core::arch::asm!(
                        "xchg qword ptr [{ptr}], {v}",
                        ptr = in(reg) self.as_ptr(),
                        v = inout(reg) value => _,
                        options(nostack, preserves_flags),
                    );
                }
            },
            portable => {
                // Relaxed: the smp_mb() after it orders it (the generic `smp_store_mb`).
                self.store(value, Ordering::Relaxed);
                // Full barrier: the second half of `smp_store_mb`.
                crate::fence::smp_mb();
            },
        }
    }
}

/// `READ_ONCE(*p)`: one untorn load, unordered.
///
/// * **x86-64:** one `mov`.
/// * **Rust model:** `load(Relaxed)`. The compiler may not tear, invent or (in practice) merge
///   it; it gives no ordering against other locations, exactly like `READ_ONCE`. Address
///   dependencies that LKMM would respect are *not* kept by Rust compilers: use
///   [`smp_load_acquire`] when a pointer read with `read_once` is then dereferenced.
#[inline(always)]
pub fn read_once<A: AtomicAccess>(p: &A) -> A::Value {
    // Relaxed: READ_ONCE is unordered.
    p.__load(Ordering::Relaxed)
}

/// `WRITE_ONCE(*p, v)`: one untorn store, unordered.
///
/// * **x86-64:** one `mov`.
/// * **Rust model:** `store(Relaxed)`.
#[inline(always)]
pub fn write_once<A: AtomicAccess>(p: &A, v: A::Value) {
    // Relaxed: WRITE_ONCE is unordered.
    p.__store(v, Ordering::Relaxed)
}

/// `smp_load_acquire(p)`: a load that every later load and store is ordered after.
///
/// * **x86-64:** one `mov` (TSO loads are acquire), a compiler barrier.
/// * **Rust model:** `load(Acquire)`: pairs with [`smp_store_release`] (or any release) that wrote
///   the value read.
#[inline(always)]
pub fn smp_load_acquire<A: AtomicAccess>(p: &A) -> A::Value {
    // Acquire: the definition of `smp_load_acquire`.
    p.__load(Ordering::Acquire)
}

/// `smp_store_release(p, v)`: a store that every earlier load and store is ordered before.
///
/// * **x86-64:** one `mov` (TSO stores are release), a compiler barrier.
/// * **Rust model:** `store(Release)`. LKMM's release is A-cumulative; so is Rust's through
///   happens-before, for the accesses this thread has observed.
#[inline(always)]
pub fn smp_store_release<A: AtomicAccess>(p: &A, v: A::Value) {
    // Release: the definition of `smp_store_release`.
    p.__store(v, Ordering::Release)
}

/// `smp_store_mb(var, v)`: store, then a full barrier.
///
/// * **x86-64:** one `xchg` (implicitly locked: the store and a full barrier in one instruction),
///   the kernel's choice.
/// * **portable:** `store(Relaxed)` followed by [`smp_mb`](crate::smp_mb), the generic kernel
///   definition. (`swap(SeqCst)` alone would not be enough in the Rust model: it does not order
///   a later relaxed load of another location.)
///
/// The waiter half of every spin-then-sleep handshake: publish "I am going to sleep", then
/// re-check the wake condition.
#[inline(always)]
pub fn smp_store_mb<A: AtomicAccess>(p: &A, v: A::Value) {
    // Fully ordered (a store, then a full barrier): see `__store_mb`.
    p.__store_mb(v)
}

/// `smp_cond_load_relaxed(p, cond)`: spin with [`cpu_relax`] until `cond` holds for the freshly
/// loaded value; return that value. Unordered.
///
/// * **x86-64:** a `mov`/`pause` loop.
/// * **Rust model:** a loop of `load(Relaxed)`; under loom each failed check yields.
///
/// ```
/// use core::sync::atomic::AtomicU32;
/// let v = AtomicU32::new(7);
/// assert_eq!(ksync_barrier::smp_cond_load_relaxed(&v, |x| x != 0), 7);
/// ```
#[inline(always)]
pub fn smp_cond_load_relaxed<A, F>(p: &A, mut cond: F) -> A::Value
where
    A: AtomicAccess,
    F: FnMut(A::Value) -> bool,
{
    loop {
        // Relaxed: every spin is unordered; the acquire form adds a fence after the last one.
        let v = p.__load(Ordering::Relaxed);
        if cond(v) {
            return v;
        }
        cpu_relax();
    }
}

/// `smp_cond_load_acquire(p, cond)`: as [`smp_cond_load_relaxed`], and the final load is an
/// acquire.
///
/// * **x86-64:** a `mov`/`pause` loop and a compiler barrier, as the kernel's.
/// * **Rust model:** the relaxed loop followed by [`smp_acquire__after_ctrl_dep`]
///   (`fence(Acquire)`), the kernel's own generic definition; the fence makes the last load an
///   acquire without making every spin iteration one.
#[inline(always)]
pub fn smp_cond_load_acquire<A, F>(p: &A, cond: F) -> A::Value
where
    A: AtomicAccess,
    F: FnMut(A::Value) -> bool,
{
    let v = smp_cond_load_relaxed(p, cond);
    // Acquire fence: makes the last (relaxed) load of the spin an acquire.
    smp_acquire__after_ctrl_dep();
    v
}
