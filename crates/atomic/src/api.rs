//! The macros that generate the public API from a backend's primitives.
//!
//! `define_atomic!` writes one atomic type (`Atomic`, `Atomic64`, `AtomicLong`) with the whole
//! kernel API; `define_subword!` adds the 32-bit lock-word operations to `Atomic`;
//! `define_bitops!` writes the atomic bitmap functions. Each is expanded once per backend (see
//! `crate::__backends`), over that backend's primitive modules; every generated method is
//! `#[inline(always)]` and a one-line call, so the selected backend's code is what ends up at the
//! call site.
//!
//! The four ordering variants of a family are written once (`rmw4!`) and documented from the
//! ordering: LKMM meaning, x86-64 instruction, portable mapping.

/// The LKMM meaning of an ordering suffix, for the docs.
macro_rules! order_doc {
    (Full) => {
        "**Ordering:** fully ordered: as if `smp_mb()` ran immediately before and after it; also \
         a compiler barrier."
    };
    (Relaxed) => {
        "**Ordering:** relaxed: atomic, but it orders no other memory access."
    };
    (Acquire) => {
        "**Ordering:** ACQUIRE: its read is an acquire; no later load or store is ordered before \
         it."
    };
    (Release) => {
        "**Ordering:** RELEASE: its write is a release; no earlier load or store is ordered after \
         it."
    };
}

/// The note for conditional operations.
macro_rules! cond_doc {
    (cond) => {
        " A conditional operation: on failure it is unordered, whatever its suffix (no store, and \
         the fully ordered form skips the trailing barrier)."
    };
    (uncond) => {
        ""
    };
}

/// The x86-64 line of the docs.
macro_rules! x86_doc {
    (Full, $i:literal) => {
        concat!("* **x86-64 asm backend:** ", $i, ".")
    };
    ($o:ident, $i:literal) => {
        concat!(
            "* **x86-64 asm backend:** ",
            $i,
            ", the same instruction as the fully ordered form: x86 has only fully ordered \
             locked RMWs."
        )
    };
}

/// The portable line of the docs.
macro_rules! portable_doc {
    (Full, $p:literal) => {
        concat!(
            "* **portable backend:** `fence(SeqCst)`, ",
            $p,
            " with `Relaxed`, `fence(SeqCst)` (a `SeqCst` RMW alone would not order unrelated \
             relaxed accesses the way `smp_mb()` does)."
        )
    };
    (Relaxed, $p:literal) => {
        concat!("* **portable backend:** ", $p, " with `Relaxed`.")
    };
    (Acquire, $p:literal) => {
        concat!("* **portable backend:** ", $p, " with `Acquire`.")
    };
    (Release, $p:literal) => {
        concat!("* **portable backend:** ", $p, " with `Release`.")
    };
}

/// "The kernel's `atomic_fetch_add()`." or nothing.
macro_rules! kname_doc {
    (none, $n:ident) => {
        ""
    };
    ($p:literal, $n:ident) => {
        concat!("The kernel's `", $p, "_", stringify!($n), "()`. ")
    };
}

/// One family in its four orderings: none (fully ordered), `_relaxed`, `_acquire`, `_release`.
macro_rules! rmw4 {
    (
        kernel = $kp:tt; $($doc:literal),+;
        [$full:ident, $relaxed:ident, $acquire:ident, $release:ident]
        ($($arg:ident: $argt:ty),*) -> $ret:ty;
        x86 = $x86:literal; portable = $port:literal; $cond:ident;
        |$v:ident, $o:ident| $body:expr
    ) => {
        rmw4!(@one $kp; [$($doc),+]; $full, Full; ($($arg: $argt),*) -> $ret;
            $x86; $port; $cond; |$v, $o| $body);
        rmw4!(@one $kp; [$($doc),+]; $relaxed, Relaxed; ($($arg: $argt),*) -> $ret;
            $x86; $port; $cond; |$v, $o| $body);
        rmw4!(@one $kp; [$($doc),+]; $acquire, Acquire; ($($arg: $argt),*) -> $ret;
            $x86; $port; $cond; |$v, $o| $body);
        rmw4!(@one $kp; [$($doc),+]; $release, Release; ($($arg: $argt),*) -> $ret;
            $x86; $port; $cond; |$v, $o| $body);
    };
    (
        @one $kp:tt; [$($doc:literal),+]; $name:ident, $ord:ident;
        ($($arg:ident: $argt:ty),*) -> $ret:ty;
        $x86:literal; $port:literal; $cond:ident; |$v:ident, $o:ident| $body:expr
    ) => {
        $(#[doc = $doc])+
        #[doc = ""]
        #[doc = concat!(kname_doc!($kp, $name), order_doc!($ord), cond_doc!($cond))]
        #[doc = ""]
        #[doc = x86_doc!($ord, $x86)]
        #[doc = portable_doc!($ord, $port)]
        #[inline(always)]
        #[track_caller]
        pub fn $name(&self, $($arg: $argt),*) -> $ret {
            let $v = &self.v;
            let $o = $crate::Order::$ord;
            $body
        }
    };
}

/// One atomic integer type with the whole `atomic_t` API, over the primitives in module `$ops`.
macro_rules! define_atomic {
    (
        $(#[$tm:meta])*
        $name:ident($V:ty, $A:ident), ops = $ops:ident, kernel = $kp:literal
    ) => {
        $(#[$tm])*
        #[repr(transparent)]
        pub struct $name {
            v: $A,
        }

        impl $name {
            /// A new atomic holding `i` (the kernel's `ATOMIC_INIT(i)`).
            #[cfg(not(loom))]
            #[inline(always)]
            pub const fn new(i: $V) -> Self {
                Self { v: $A::new(i) }
            }

            /// A new atomic holding `i` (the kernel's `ATOMIC_INIT(i)`). Not `const` under loom.
            #[cfg(loom)]
            #[inline(always)]
            pub fn new(i: $V) -> Self {
                Self { v: $A::new(i) }
            }

            /// A raw pointer to the counter, for asm, FFI or futex calls on the same word.
            ///
            /// Accesses through it must be atomic (aligned, single-instruction, or locked): the
            /// word is shared. Not available under loom, whose atomics are not plain integers.
            #[cfg(not(loom))]
            #[inline(always)]
            pub const fn as_ptr(&self) -> *mut $V {
                self.v.as_ptr()
            }

            /// Consumes the atomic and returns the value.
            #[inline(always)]
            pub fn into_inner(self) -> $V {
                self.v.into_inner()
            }

            // ---- Non-RMW: unordered loads and stores, and their acquire/release forms. ----

            #[doc = concat!("Reads the value. The kernel's `", $kp, "_read()` (`READ_ONCE`).")]
            ///
            /// **Ordering:** unordered (relaxed).
            ///
            /// * **x86-64:** one `mov` (a Rust `load(Relaxed)` in both backends).
            #[inline(always)]
            pub fn read(&self) -> $V {
                // Relaxed: atomic_read is READ_ONCE, unordered.
                self.v.load($crate::sync::atomic::Ordering::Relaxed)
            }

            #[doc = concat!("Sets the value to `i`. The kernel's `", $kp, "_set()` (`WRITE_ONCE`).")]
            ///
            /// **Ordering:** unordered (relaxed). A concurrent RMW sees either the whole store or
            /// none of it (it is a single atomic store, coherent with every RMW on the word).
            ///
            /// * **x86-64:** one `mov` (a Rust `store(Relaxed)` in both backends).
            #[inline(always)]
            pub fn set(&self, i: $V) {
                // Relaxed: atomic_set is WRITE_ONCE, unordered.
                self.v.store(i, $crate::sync::atomic::Ordering::Relaxed)
            }

            #[doc = concat!("Reads the value with ACQUIRE ordering. The kernel's `", $kp, "_read_acquire()`.")]
            ///
            /// **Ordering:** ACQUIRE: no later load or store is ordered before it.
            ///
            /// * **x86-64:** one `mov` (TSO loads are acquires); `load(Acquire)` in both backends.
            #[inline(always)]
            pub fn read_acquire(&self) -> $V {
                // Acquire: the kernel's smp_load_acquire on the counter.
                self.v.load($crate::sync::atomic::Ordering::Acquire)
            }

            #[doc = concat!("Sets the value with RELEASE ordering. The kernel's `", $kp, "_set_release()`.")]
            ///
            /// **Ordering:** RELEASE: no earlier load or store is ordered after it.
            ///
            /// * **x86-64:** one `mov` (TSO stores are releases); `store(Release)` in both
            ///   backends.
            #[inline(always)]
            pub fn set_release(&self, i: $V) {
                // Release: the kernel's smp_store_release on the counter.
                self.v.store(i, $crate::sync::atomic::Ordering::Release)
            }

            // ---- RMW without a return value: unordered. ----

            #[doc = concat!("Adds `i` (wrapping). The kernel's `", $kp, "_add()`.")]
            ///
            /// **Ordering:** unordered (no return value); pair with
            /// [`smp_mb__before_atomic`](ksync_barrier::smp_mb__before_atomic) /
            /// [`smp_mb__after_atomic`](ksync_barrier::smp_mb__after_atomic) for a full barrier.
            ///
            /// * **x86-64:** `lock add`. **portable:** `fetch_add(Relaxed)`.
            #[inline(always)]
            pub fn add(&self, i: $V) {
                $ops::add(&self.v, i)
            }

            #[doc = concat!("Subtracts `i` (wrapping). The kernel's `", $kp, "_sub()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock sub`. **portable:** `fetch_sub(Relaxed)`.
            #[inline(always)]
            pub fn sub(&self, i: $V) {
                $ops::sub(&self.v, i)
            }

            #[doc = concat!("Adds one (wrapping). The kernel's `", $kp, "_inc()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock inc`. **portable:** `fetch_add(1, Relaxed)`.
            #[inline(always)]
            pub fn inc(&self) {
                $ops::inc(&self.v)
            }

            #[doc = concat!("Subtracts one (wrapping). The kernel's `", $kp, "_dec()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock dec`. **portable:** `fetch_sub(1, Relaxed)`.
            #[inline(always)]
            pub fn dec(&self) {
                $ops::dec(&self.v)
            }

            #[doc = concat!("Bitwise AND with `i`. The kernel's `", $kp, "_and()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock and`. **portable:** `fetch_and(Relaxed)`.
            #[inline(always)]
            pub fn and(&self, i: $V) {
                $ops::and(&self.v, i)
            }

            #[doc = concat!("Bitwise OR with `i`. The kernel's `", $kp, "_or()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock or`. **portable:** `fetch_or(Relaxed)`.
            #[inline(always)]
            pub fn or(&self, i: $V) {
                $ops::or(&self.v, i)
            }

            #[doc = concat!("Bitwise XOR with `i`. The kernel's `", $kp, "_xor()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock xor`. **portable:** `fetch_xor(Relaxed)`.
            #[inline(always)]
            pub fn xor(&self, i: $V) {
                $ops::xor(&self.v, i)
            }

            #[doc = concat!("Clears the bits set in `i` (`v &= !i`). The kernel's `", $kp, "_andnot()`.")]
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock and` with `!i`. **portable:** `fetch_and(!i, Relaxed)`.
            #[inline(always)]
            pub fn andnot(&self, i: $V) {
                $ops::and(&self.v, !i)
            }

            // ---- Value-returning RMWs, in four orderings. ----

            rmw4! {
                kernel = $kp; "Adds `i` (wrapping) and returns the **new** value.";
                [add_return, add_return_relaxed, add_return_acquire, add_return_release]
                (i: $V) -> $V;
                x86 = "`lock xadd`, then `i` added to the old value";
                portable = "`fetch_add` (plus `i`)"; uncond;
                |v, o| $ops::add_return(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Subtracts `i` (wrapping) and returns the **new** value.";
                [sub_return, sub_return_relaxed, sub_return_acquire, sub_return_release]
                (i: $V) -> $V;
                x86 = "`lock xadd` of `-i`, then `i` subtracted from the old value";
                portable = "`fetch_sub` (minus `i`)"; uncond;
                |v, o| $ops::sub_return(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Adds one (wrapping) and returns the **new** value.";
                [inc_return, inc_return_relaxed, inc_return_acquire, inc_return_release]
                () -> $V;
                x86 = "`lock xadd` of 1, plus one";
                portable = "`fetch_add(1)` (plus one)"; uncond;
                |v, o| $ops::add_return(v, 1, o)
            }

            rmw4! {
                kernel = $kp; "Subtracts one (wrapping) and returns the **new** value.";
                [dec_return, dec_return_relaxed, dec_return_acquire, dec_return_release]
                () -> $V;
                x86 = "`lock xadd` of -1, minus one";
                portable = "`fetch_sub(1)` (minus one)"; uncond;
                |v, o| $ops::sub_return(v, 1, o)
            }

            rmw4! {
                kernel = $kp; "Adds `i` (wrapping) and returns the **old** value.";
                [fetch_add, fetch_add_relaxed, fetch_add_acquire, fetch_add_release]
                (i: $V) -> $V;
                x86 = "`lock xadd`"; portable = "`fetch_add`"; uncond;
                |v, o| $ops::fetch_add(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Subtracts `i` (wrapping) and returns the **old** value.";
                [fetch_sub, fetch_sub_relaxed, fetch_sub_acquire, fetch_sub_release]
                (i: $V) -> $V;
                x86 = "`lock xadd` of `-i`"; portable = "`fetch_sub`"; uncond;
                |v, o| $ops::fetch_sub(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Adds one (wrapping) and returns the **old** value.";
                [fetch_inc, fetch_inc_relaxed, fetch_inc_acquire, fetch_inc_release]
                () -> $V;
                x86 = "`lock xadd` of 1"; portable = "`fetch_add(1)`"; uncond;
                |v, o| $ops::fetch_add(v, 1, o)
            }

            rmw4! {
                kernel = $kp; "Subtracts one (wrapping) and returns the **old** value.";
                [fetch_dec, fetch_dec_relaxed, fetch_dec_acquire, fetch_dec_release]
                () -> $V;
                x86 = "`lock xadd` of -1"; portable = "`fetch_sub(1)`"; uncond;
                |v, o| $ops::fetch_sub(v, 1, o)
            }

            rmw4! {
                kernel = $kp; "Bitwise AND with `i`; returns the **old** value.";
                [fetch_and, fetch_and_relaxed, fetch_and_acquire, fetch_and_release]
                (i: $V) -> $V;
                x86 = "a `lock cmpxchg` loop (x86 has no fetch-and-AND), as in the kernel";
                portable = "`fetch_and`"; uncond;
                |v, o| $ops::fetch_and(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Bitwise OR with `i`; returns the **old** value.";
                [fetch_or, fetch_or_relaxed, fetch_or_acquire, fetch_or_release]
                (i: $V) -> $V;
                x86 = "a `lock cmpxchg` loop (x86 has no fetch-and-OR), as in the kernel";
                portable = "`fetch_or`"; uncond;
                |v, o| $ops::fetch_or(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Bitwise XOR with `i`; returns the **old** value.";
                [fetch_xor, fetch_xor_relaxed, fetch_xor_acquire, fetch_xor_release]
                (i: $V) -> $V;
                x86 = "a `lock cmpxchg` loop (x86 has no fetch-and-XOR), as in the kernel";
                portable = "`fetch_xor`"; uncond;
                |v, o| $ops::fetch_xor(v, i, o)
            }

            rmw4! {
                kernel = $kp; "Clears the bits set in `i` (`v &= !i`); returns the **old** value.";
                [fetch_andnot, fetch_andnot_relaxed, fetch_andnot_acquire, fetch_andnot_release]
                (i: $V) -> $V;
                x86 = "a `lock cmpxchg` loop, as in the kernel";
                portable = "`fetch_and(!i)`"; uncond;
                |v, o| $ops::fetch_and(v, !i, o)
            }

            rmw4! {
                kernel = $kp; "Stores `new` and returns the **old** value.";
                [xchg, xchg_relaxed, xchg_acquire, xchg_release]
                (new: $V) -> $V;
                x86 = "`xchg` with a memory operand (implicitly locked: no `lock` prefix)";
                portable = "`swap`"; uncond;
                |v, o| $ops::xchg(v, new, o)
            }

            rmw4! {
                kernel = $kp;
                "Compare and exchange: if the value is `old`, stores `new`. Returns the value \
                 found; it succeeded iff that equals `old`.",
                "",
                "Prefer [`try_cmpxchg`](Self::try_cmpxchg) in retry loops: it hands back the \
                 value found, so the loop needs no extra read.";
                [cmpxchg, cmpxchg_relaxed, cmpxchg_acquire, cmpxchg_release]
                (old: $V, new: $V) -> $V;
                x86 = "`lock cmpxchg` (expected and found value in `eax`/`rax`)";
                portable = "`compare_exchange` (failure ordering `Relaxed`)"; cond;
                |v, o| $ops::cmpxchg(v, old, new, o)
            }

            rmw4! {
                kernel = $kp;
                "Compare and exchange, loop-friendly: if the value is `*old`, stores `new` and \
                 returns `true`; otherwise writes the value found into `*old` and returns `false`.",
                "",
                "The idiom: `let mut old = v.read(); loop { let new = f(old); if \
                 v.try_cmpxchg(&mut old, new) { break; } }`.";
                [try_cmpxchg, try_cmpxchg_relaxed, try_cmpxchg_acquire, try_cmpxchg_release]
                (old: &mut $V, new: $V) -> bool;
                x86 = "`lock cmpxchg` + `sete`";
                portable = "`compare_exchange` (failure ordering `Relaxed`)"; cond;
                |v, o| $ops::try_cmpxchg(v, old, new, o)
            }

            rmw4! {
                kernel = $kp; "Adds `i` (wrapping); returns `true` if the result is negative.";
                [add_negative, add_negative_relaxed, add_negative_acquire, add_negative_release]
                (i: $V) -> bool;
                x86 = "`lock add` + `sets`"; portable = "`fetch_add` (result tested)"; uncond;
                |v, o| $ops::add_negative(v, i, o)
            }

            // ---- Fully ordered tests and conditional RMWs. ----

            #[doc = concat!("Subtracts `i` (wrapping); returns `true` if the result is zero. The kernel's `", $kp, "_sub_and_test()`.")]
            ///
            /// **Ordering:** fully ordered.
            ///
            /// * **x86-64:** `lock sub` + `sete`.
            /// * **portable:** `fence(SeqCst)`, `fetch_sub(Relaxed)`, `fence(SeqCst)`.
            #[inline(always)]
            pub fn sub_and_test(&self, i: $V) -> bool {
                $ops::sub_and_test(&self.v, i)
            }

            #[doc = concat!("Subtracts one; returns `true` if the result is zero (the last reference went away). The kernel's `", $kp, "_dec_and_test()`.")]
            ///
            /// **Ordering:** fully ordered, so the caller that sees `true` is ordered after every
            /// other thread's accesses before its own decrement (the freeing side of a refcount).
            ///
            /// * **x86-64:** `lock dec` + `sete`.
            /// * **portable:** `fence(SeqCst)`, `fetch_sub(1, Relaxed)`, `fence(SeqCst)`.
            #[inline(always)]
            pub fn dec_and_test(&self) -> bool {
                $ops::dec_and_test(&self.v)
            }

            #[doc = concat!("Adds one; returns `true` if the result is zero. The kernel's `", $kp, "_inc_and_test()`.")]
            ///
            /// **Ordering:** fully ordered.
            ///
            /// * **x86-64:** `lock inc` + `sete`.
            /// * **portable:** `fence(SeqCst)`, `fetch_add(1, Relaxed)`, `fence(SeqCst)`.
            #[inline(always)]
            pub fn inc_and_test(&self) -> bool {
                $ops::inc_and_test(&self.v)
            }

            #[doc = concat!("Adds `a` (wrapping) unless the value is `u`; returns the **old** value (so it added iff the result is not `u`). The kernel's `", $kp, "_fetch_add_unless()`.")]
            ///
            /// **Ordering:** fully ordered on success; unordered when the value was `u`.
            ///
            /// * **x86-64:** a `lock cmpxchg` loop (the kernel's generic `try_cmpxchg` loop).
            /// * **portable:** a `compare_exchange_weak` loop between `fence(SeqCst)`s (the
            ///   trailing one only on success).
            #[inline(always)]
            pub fn fetch_add_unless(&self, a: $V, u: $V) -> $V {
                let r = $ops::update(&self.v, $crate::Order::Full, |c| {
                    (c != u).then(|| c.wrapping_add(a))
                });
                match r {
                    Ok(old) | Err(old) => old,
                }
            }

            #[doc = concat!("Adds `a` (wrapping) unless the value is `u`; returns `true` if it added. The kernel's `", $kp, "_add_unless()`.")]
            ///
            /// **Ordering:** fully ordered on success; unordered on failure.
            ///
            /// * **x86-64:** a `lock cmpxchg` loop. **portable:** as
            ///   [`fetch_add_unless`](Self::fetch_add_unless).
            #[inline(always)]
            pub fn add_unless(&self, a: $V, u: $V) -> bool {
                self.fetch_add_unless(a, u) != u
            }

            #[doc = concat!("Adds one unless the value is zero; returns `true` if it did (take a reference only while the object is live). The kernel's `", $kp, "_inc_not_zero()`.")]
            ///
            /// **Ordering:** fully ordered on success; unordered on failure.
            ///
            /// * **x86-64:** a `lock cmpxchg` loop. **portable:** as
            ///   [`fetch_add_unless`](Self::fetch_add_unless).
            #[inline(always)]
            pub fn inc_not_zero(&self) -> bool {
                self.add_unless(1, 0)
            }

            #[doc = concat!("Adds one (wrapping) if the value is not negative; returns `true` if it did. The kernel's `", $kp, "_inc_unless_negative()`.")]
            ///
            /// **Ordering:** fully ordered on success; unordered on failure.
            ///
            /// * **x86-64:** a `lock cmpxchg` loop. **portable:** a `compare_exchange_weak` loop
            ///   between `fence(SeqCst)`s.
            #[inline(always)]
            pub fn inc_unless_negative(&self) -> bool {
                $ops::update(&self.v, $crate::Order::Full, |c| (c >= 0).then(|| c.wrapping_add(1)))
                    .is_ok()
            }

            #[doc = concat!("Subtracts one (wrapping) if the value is not positive; returns `true` if it did. The kernel's `", $kp, "_dec_unless_positive()`.")]
            ///
            /// **Ordering:** fully ordered on success; unordered on failure.
            ///
            /// * **x86-64:** a `lock cmpxchg` loop. **portable:** a `compare_exchange_weak` loop
            ///   between `fence(SeqCst)`s.
            #[inline(always)]
            pub fn dec_unless_positive(&self) -> bool {
                $ops::update(&self.v, $crate::Order::Full, |c| (c <= 0).then(|| c.wrapping_sub(1)))
                    .is_ok()
            }

            #[doc = concat!("Subtracts one if the result is not negative. Returns the old value minus one (wrapping) whether or not it stored it; it stored iff that is `>= 0`. The kernel's `", $kp, "_dec_if_positive()`.")]
            ///
            /// As in the kernel, the arithmetic wraps: on the minimum value the result wraps to
            /// the maximum, which is not negative, so it is stored.
            ///
            /// **Ordering:** fully ordered on success; unordered on failure.
            ///
            /// * **x86-64:** a `lock cmpxchg` loop. **portable:** a `compare_exchange_weak` loop
            ///   between `fence(SeqCst)`s.
            #[inline(always)]
            pub fn dec_if_positive(&self) -> $V {
                let r = $ops::update(&self.v, $crate::Order::Full, |c| {
                    let d = c.wrapping_sub(1);
                    (d >= 0).then_some(d)
                });
                match r {
                    Ok(old) | Err(old) => old.wrapping_sub(1),
                }
            }

            // ---- Spin-waits. ----

            #[doc = concat!("Spins (with [`cpu_relax`](ksync_barrier::cpu_relax)) until `cond` holds for the value read; returns that value. The kernel's `", $kp, "_cond_read_relaxed()`.")]
            ///
            /// **Ordering:** unordered. Under loom each failed check yields to the scheduler.
            ///
            /// * **x86-64:** a `mov`/`pause` loop.
            #[inline(always)]
            pub fn cond_read_relaxed(&self, cond: impl FnMut($V) -> bool) -> $V {
                ksync_barrier::smp_cond_load_relaxed(&self.v, cond)
            }

            #[doc = concat!("As [`cond_read_relaxed`](Self::cond_read_relaxed), and the final read is an ACQUIRE. The kernel's `", $kp, "_cond_read_acquire()`.")]
            ///
            /// **Ordering:** ACQUIRE (the relaxed loop, then
            /// [`smp_acquire__after_ctrl_dep`](ksync_barrier::smp_acquire__after_ctrl_dep)).
            ///
            /// * **x86-64:** a `mov`/`pause` loop and a compiler barrier.
            #[inline(always)]
            pub fn cond_read_acquire(&self, cond: impl FnMut($V) -> bool) -> $V {
                ksync_barrier::smp_cond_load_acquire(&self.v, cond)
            }
        }

        impl Default for $name {
            /// Zero, like a zero-filled kernel `atomic_t`.
            #[inline]
            fn default() -> Self {
                Self::new(0)
            }
        }

        impl From<$V> for $name {
            #[inline]
            fn from(i: $V) -> Self {
                Self::new(i)
            }
        }

        impl core::fmt::Debug for $name {
            /// Shows one relaxed read of the value.
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.read()).finish()
            }
        }
    };
}

/// The sub-word and lock-word bit operations of the 32-bit `Atomic`, over module `$sub`.
macro_rules! define_subword {
    ($name:ident, sub = $sub:ident) => {
        /// # Sub-word and lock-word bit operations
        ///
        /// For the lock words of the qspinlock, ticket and test-and-set locks; see
        /// [`subword`](crate::subword) for why they exist and how the backends differ. Byte `n`
        /// is bits `8n..8n+8` of the value, half `n` bits `16n..16n+16`, whatever the byte
        /// order.
        impl $name {
            /// Stores `v` into byte `n` (`n < 4`, else panic), unordered: the qspinlock's
            /// `WRITE_ONCE(lock->pending, 0)`.
            ///
            /// * **x86-64:** a byte `mov`.
            /// * **portable:** a `compare_exchange_weak` loop on the whole word (`Relaxed`) that
            ///   replaces only that byte: an RMW, stronger than a store.
            #[inline(always)]
            #[track_caller]
            pub fn store_byte_relaxed(&self, n: u32, v: u8) {
                $sub::store_byte(&self.v, n, v, $crate::Order::Relaxed)
            }

            /// Stores `v` into byte `n` (`n < 4`, else panic) with RELEASE ordering: the
            /// qspinlock's unlock, `smp_store_release(&lock->locked, 0)`.
            ///
            /// * **x86-64:** a compiler barrier and a byte `mov` (TSO stores are releases).
            /// * **portable:** a `compare_exchange_weak` loop on the whole word with `Release`
            ///   success ordering that replaces only that byte.
            #[inline(always)]
            #[track_caller]
            pub fn store_byte_release(&self, n: u32, v: u8) {
                $sub::store_byte(&self.v, n, v, $crate::Order::Release)
            }

            /// Stores `v` into half `n` (`n < 2`, else panic), unordered: the qspinlock's
            /// `clear_pending_set_locked` (`locked = 1, pending = 0` in **one** store).
            ///
            /// * **x86-64:** a 16-bit `mov`.
            /// * **portable:** a `compare_exchange_weak` loop on the whole word (`Relaxed`).
            #[inline(always)]
            #[track_caller]
            pub fn store_half_relaxed(&self, n: u32, v: u16) {
                $sub::store_half(&self.v, n, v, $crate::Order::Relaxed)
            }

            /// Stores `v` into half `n` (`n < 2`, else panic) with RELEASE ordering: the ticket
            /// lock's unlock of the owner half.
            ///
            /// * **x86-64:** a compiler barrier and a 16-bit `mov`.
            /// * **portable:** a `compare_exchange_weak` loop on the whole word, `Release` on
            ///   success.
            #[inline(always)]
            #[track_caller]
            pub fn store_half_release(&self, n: u32, v: u16) {
                $sub::store_half(&self.v, n, v, $crate::Order::Release)
            }

            rmw4! {
                kernel = none;
                "Stores `v` into byte `n` (`n < 4`, else panic) and returns the byte's old value.";
                [xchg_byte, xchg_byte_relaxed, xchg_byte_acquire, xchg_byte_release]
                (n: u32, v: u8) -> u8;
                x86 = "a byte `xchg` (implicitly locked)";
                portable = "a `compare_exchange_weak` loop on the whole word"; uncond;
                |a, o| $sub::xchg_byte(a, n, v, o)
            }

            rmw4! {
                kernel = none;
                "Stores `v` into half `n` (`n < 2`, else panic) and returns the half's old \
    value: the qspinlock's `xchg_tail` (`n = 1`).";
                [xchg_half, xchg_half_relaxed, xchg_half_acquire, xchg_half_release]
                (n: u32, v: u16) -> u16;
                x86 = "a 16-bit `xchg` (implicitly locked)";
                portable = "a `compare_exchange_weak` loop on the whole word"; uncond;
                |a, o| $sub::xchg_half(a, n, v, o)
            }

            rmw4! {
                kernel = none;
                "If byte `n` (`n < 4`, else panic) is `old`, stores `new` there. Returns the \
    byte found; it succeeded iff that equals `old`. The paravirt qspinlock's \
    `cmpxchg(&lock->locked, ...)`.";
                [cmpxchg_byte, cmpxchg_byte_relaxed, cmpxchg_byte_acquire, cmpxchg_byte_release]
                (n: u32, old: u8, new: u8) -> u8;
                x86 = "a byte `lock cmpxchg`";
                portable = "a `compare_exchange_weak` loop on the whole word that gives up, \
    without writing, once the byte differs from `old`"; cond;
                |a, o| $sub::cmpxchg_byte(a, n, old, new, o)
            }

            rmw4! {
                kernel = none;
                "If half `n` (`n < 2`, else panic) is `old`, stores `new` there. Returns the \
    half found; it succeeded iff that equals `old`.";
                [cmpxchg_half, cmpxchg_half_relaxed, cmpxchg_half_acquire, cmpxchg_half_release]
                (n: u32, old: u16, new: u16) -> u16;
                x86 = "a 16-bit `lock cmpxchg`";
                portable = "a `compare_exchange_weak` loop on the whole word that gives up, \
    without writing, once the half differs from `old`"; cond;
                |a, o| $sub::cmpxchg_half(a, n, old, new, o)
            }

            /// Returns bit `nr` (`nr < 32`, else panic). The kernel's `test_bit()`.
            ///
            /// **Ordering:** unordered (one relaxed read of the word).
            #[inline(always)]
            #[track_caller]
            pub fn test_bit(&self, nr: u32) -> bool {
                $crate::subword::check_bit32(nr);
                self.read() as u32 & (1 << nr) != 0
            }

            /// Sets bit `nr` (`nr < 32`, else panic). The kernel's `set_bit()`.
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock bts`. **portable:** `fetch_or(Relaxed)`.
            #[inline(always)]
            #[track_caller]
            pub fn set_bit(&self, nr: u32) {
                $crate::subword::check_bit32(nr);
                $sub::set_bit(&self.v, nr)
            }

            /// Clears bit `nr` (`nr < 32`, else panic). The kernel's `clear_bit()`.
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock btr`. **portable:** `fetch_and(Relaxed)`.
            #[inline(always)]
            #[track_caller]
            pub fn clear_bit(&self, nr: u32) {
                $crate::subword::check_bit32(nr);
                $sub::clear_bit(&self.v, nr)
            }

            /// Flips bit `nr` (`nr < 32`, else panic). The kernel's `change_bit()`.
            ///
            /// **Ordering:** unordered.
            ///
            /// * **x86-64:** `lock btc`. **portable:** `fetch_xor(Relaxed)`.
            #[inline(always)]
            #[track_caller]
            pub fn change_bit(&self, nr: u32) {
                $crate::subword::check_bit32(nr);
                $sub::change_bit(&self.v, nr)
            }

            rmw4! {
                kernel = none;
                "Sets bit `nr` (`nr < 32`, else panic) and returns its old value: the kernel's \
    `test_and_set_bit()` on the 32-bit word.",
                "",
                "Unlike the kernel's bitmap `test_and_set_bit()`, the ordering applies whether \
    or not the bit was already set: `test_and_set_bit_acquire` is an acquire \
    `fetch_or`, the qspinlock's `fetch_set_pending_acquire`.";
                [test_and_set_bit, test_and_set_bit_relaxed, test_and_set_bit_acquire,
                    test_and_set_bit_release]
                (nr: u32) -> bool;
                x86 = "`lock bts` + `setc`"; portable = "`fetch_or`"; uncond;
                |a, o| { $crate::subword::check_bit32(nr); $sub::test_and_set_bit(a, nr, o) }
            }

            rmw4! {
                kernel = none;
                "Clears bit `nr` (`nr < 32`, else panic) and returns its old value: the \
    kernel's `test_and_clear_bit()` on the 32-bit word.";
                [test_and_clear_bit, test_and_clear_bit_relaxed, test_and_clear_bit_acquire,
                    test_and_clear_bit_release]
                (nr: u32) -> bool;
                x86 = "`lock btr` + `setc`"; portable = "`fetch_and`"; uncond;
                |a, o| { $crate::subword::check_bit32(nr); $sub::test_and_clear_bit(a, nr, o) }
            }

            rmw4! {
                kernel = none;
                "Flips bit `nr` (`nr < 32`, else panic) and returns its old value: the kernel's \
    `test_and_change_bit()` on the 32-bit word.";
                [test_and_change_bit, test_and_change_bit_relaxed, test_and_change_bit_acquire,
                    test_and_change_bit_release]
                (nr: u32) -> bool;
                x86 = "`lock btc` + `setc`"; portable = "`fetch_xor`"; uncond;
                |a, o| { $crate::subword::check_bit32(nr); $sub::test_and_change_bit(a, nr, o) }
            }

            /// Sets bit `nr` (`nr < 32`, else panic) and returns its old value; `false` means
            /// the caller took the bit lock. The kernel's `test_and_set_bit_lock()`.
            ///
            /// **Ordering:** ACQUIRE on success (the bit was clear); unordered when it was
            /// already set.
            ///
            /// * **x86-64:** `lock bts` + `setc` (fully ordered).
            /// * **portable:** `fetch_or(Acquire)`.
            #[inline(always)]
            #[track_caller]
            pub fn test_and_set_bit_lock(&self, nr: u32) -> bool {
                $crate::subword::check_bit32(nr);
                $sub::test_and_set_bit(&self.v, nr, $crate::Order::Acquire)
            }

            /// Clears bit `nr` (`nr < 32`, else panic) with RELEASE ordering: the bit lock's
            /// unlock. The kernel's `clear_bit_unlock()`.
            ///
            /// * **x86-64:** a compiler barrier and `lock btr`.
            /// * **portable:** `fetch_and(Release)`.
            #[inline(always)]
            #[track_caller]
            pub fn clear_bit_unlock(&self, nr: u32) {
                $crate::subword::check_bit32(nr);
                $sub::clear_bit_unlock(&self.v, nr)
            }
        }
    };
}

/// The atomic bitmap functions over `&[AtomicUsize]`, over the word primitives in `$bits`.
macro_rules! define_bitops {
    (bits = $bits:ident) => {
        use $crate::bitops::locate;
        use $crate::sync::atomic::AtomicUsize;

        /// Sets bit `nr` of the bitmap. The kernel's `set_bit()`.
        ///
        /// **Ordering:** unordered. Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock bts` on the containing word. **portable:** `fetch_or(Relaxed)`.
        #[inline(always)]
        #[track_caller]
        pub fn set_bit(nr: usize, addr: &[AtomicUsize]) {
            let (w, b) = locate(nr, addr);
            $bits::set_bit(w, b)
        }

        /// Clears bit `nr` of the bitmap. The kernel's `clear_bit()`.
        ///
        /// **Ordering:** unordered. Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock btr`. **portable:** `fetch_and(Relaxed)`.
        #[inline(always)]
        #[track_caller]
        pub fn clear_bit(nr: usize, addr: &[AtomicUsize]) {
            let (w, b) = locate(nr, addr);
            $bits::clear_bit(w, b)
        }

        /// Flips bit `nr` of the bitmap. The kernel's `change_bit()`.
        ///
        /// **Ordering:** unordered. Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock btc`. **portable:** `fetch_xor(Relaxed)`.
        #[inline(always)]
        #[track_caller]
        pub fn change_bit(nr: usize, addr: &[AtomicUsize]) {
            let (w, b) = locate(nr, addr);
            $bits::change_bit(w, b)
        }

        /// Sets bit `nr` and returns its old value. The kernel's `test_and_set_bit()`.
        ///
        /// **Ordering:** fully ordered (as if `smp_mb()` before and after). LKMM counts a
        /// `test_and_set_bit` that finds the bit already set as failed, hence unordered; ksync
        /// orders it anyway. Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock bts` + `setc`.
        /// * **portable:** `fence(SeqCst)`, `fetch_or(Relaxed)`, `fence(SeqCst)`.
        #[inline(always)]
        #[track_caller]
        pub fn test_and_set_bit(nr: usize, addr: &[AtomicUsize]) -> bool {
            let (w, b) = locate(nr, addr);
            $bits::test_and_set_bit(w, b, $crate::Order::Full)
        }

        /// Clears bit `nr` and returns its old value. The kernel's `test_and_clear_bit()`.
        ///
        /// **Ordering:** fully ordered. Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock btr` + `setc`.
        /// * **portable:** `fence(SeqCst)`, `fetch_and(Relaxed)`, `fence(SeqCst)`.
        #[inline(always)]
        #[track_caller]
        pub fn test_and_clear_bit(nr: usize, addr: &[AtomicUsize]) -> bool {
            let (w, b) = locate(nr, addr);
            $bits::test_and_clear_bit(w, b, $crate::Order::Full)
        }

        /// Flips bit `nr` and returns its old value. The kernel's `test_and_change_bit()`.
        ///
        /// **Ordering:** fully ordered. Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock btc` + `setc`.
        /// * **portable:** `fence(SeqCst)`, `fetch_xor(Relaxed)`, `fence(SeqCst)`.
        #[inline(always)]
        #[track_caller]
        pub fn test_and_change_bit(nr: usize, addr: &[AtomicUsize]) -> bool {
            let (w, b) = locate(nr, addr);
            $bits::test_and_change_bit(w, b, $crate::Order::Full)
        }

        /// Sets bit `nr` and returns its old value; `false` means the caller took the bit
        /// lock. The kernel's `test_and_set_bit_lock()`.
        ///
        /// **Ordering:** ACQUIRE on success; unordered if the bit was already set. Panics if
        /// `nr` is outside the bitmap.
        ///
        /// * **x86-64:** `lock bts` + `setc`. **portable:** `fetch_or(Acquire)`.
        #[inline(always)]
        #[track_caller]
        pub fn test_and_set_bit_lock(nr: usize, addr: &[AtomicUsize]) -> bool {
            let (w, b) = locate(nr, addr);
            $bits::test_and_set_bit(w, b, $crate::Order::Acquire)
        }

        /// Clears bit `nr` with RELEASE ordering: the bit lock's unlock. The kernel's
        /// `clear_bit_unlock()`.
        ///
        /// Panics if `nr` is outside the bitmap.
        ///
        /// * **x86-64:** a compiler barrier and `lock btr`. **portable:** `fetch_and(Release)`.
        #[inline(always)]
        #[track_caller]
        pub fn clear_bit_unlock(nr: usize, addr: &[AtomicUsize]) {
            let (w, b) = locate(nr, addr);
            $bits::clear_bit_unlock(w, b)
        }
    };
}

/// One backend's complete API: the three types, the sub-word operations and the bitops.
macro_rules! backend_api {
    ($backend:ident) => {
        use $crate::sync::atomic::{AtomicI32, AtomicI64, AtomicIsize};
        use $crate::$backend::{sub32, w32, w64, wsize};

        define_atomic! {
            /// The kernel's `atomic_t`: a 32-bit signed atomic counter with the LKMM atomic API.
            ///
            /// Same size and alignment as `atomic_t` (an `i32`); arithmetic wraps, as the kernel
            /// builds with `-fno-strict-overflow`. Method names are the kernel's without the
            /// `atomic_` prefix: `atomic_fetch_add_acquire(i, v)` is `v.fetch_add_acquire(i)`.
            /// Every method documents its LKMM ordering, its x86-64 instruction and its portable
            /// mapping; see the [crate docs](crate) for the rules.
            ///
            /// It is also the qspinlock's lock word, so it carries the
            /// [sub-word operations](crate::subword) (`store_byte_release`, `xchg_half`, ...)
            /// and the lock-word bit operations.
            ///
            /// ```
            /// use ksync_atomic::Atomic;
            ///
            /// static USERS: Atomic = Atomic::new(1);
            /// assert!(USERS.inc_not_zero()); // take a reference while it is live
            /// assert_eq!(USERS.fetch_add(1), 2);
            /// let mut old = USERS.read();
            /// loop {
            ///     let new = old * 2;
            ///     if USERS.try_cmpxchg(&mut old, new) {
            ///         break;
            ///     }
            /// }
            /// assert_eq!(USERS.read(), 6);
            /// assert!(!USERS.dec_and_test());
            /// ```
            Atomic(i32, AtomicI32), ops = w32, kernel = "atomic"
        }

        define_subword!(Atomic, sub = sub32);

        define_atomic! {
            /// The kernel's `atomic64_t`: a 64-bit signed atomic counter with the LKMM atomic
            /// API.
            ///
            /// Same size and alignment as `atomic64_t` (an 8-byte aligned `i64`); arithmetic
            /// wraps. Method names are the kernel's without the `atomic64_` prefix. See
            /// [`Atomic`] for the conventions.
            ///
            /// ```
            /// use ksync_atomic::Atomic64;
            ///
            /// let v = Atomic64::new(i64::MAX);
            /// assert_eq!(v.inc_return(), i64::MIN); // wrapping, like the kernel
            /// assert!(v.add_negative(0));
            /// ```
            Atomic64(i64, AtomicI64), ops = w64, kernel = "atomic64"
        }

        define_atomic! {
            /// The kernel's `atomic_long_t`: a pointer-sized signed atomic counter (`isize`),
            /// with the LKMM atomic API.
            ///
            /// Same size and alignment as `atomic_long_t` (`long`, which is pointer-sized on
            /// every Linux target). Method names are the kernel's without the `atomic_long_`
            /// prefix. See [`Atomic`] for the conventions.
            ///
            /// ```
            /// use ksync_atomic::AtomicLong;
            ///
            /// let v = AtomicLong::new(3);
            /// assert_eq!(v.dec_if_positive(), 2);
            /// assert_eq!(v.xchg(-1), 2);
            /// assert!(!v.inc_unless_negative());
            /// ```
            AtomicLong(isize, AtomicIsize), ops = wsize, kernel = "atomic_long"
        }

        /// The atomic bitmap operations of this backend.
        pub mod bitops {
            use $crate::$backend::bits;
            define_bitops!(bits = bits);
        }
    };
}
