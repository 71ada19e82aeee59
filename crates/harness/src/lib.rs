//! The measurement harness behind `ksync torture`, `ksync bench` and the criterion benches.
//!
//! Mirrors `kernel/locking/locktorture.c` (the [`torture`] engine) and parking_lot's lock
//! benchmark (the [`throughput`] engine); [`locks`] is the registry that puts ksync's locks and
//! their peers (`std`, `parking_lot`, `spin`) behind one interface. Needs the `harness` feature
//! and `std`; it is compiled out under `cfg(loom)` (nothing here is a model).
//!
//! ```
//! use std::time::Duration;
//! use ksync::harness::{throughput, torture};
//!
//! // 2 threads hammer parking_lot's mutex: 1 work unit inside, 10 outside, for 20 ms.
//! let point = throughput::run("parking_lot", 2, 1, 10, Duration::from_millis(20)).unwrap();
//! assert_eq!(point.per_thread.iter().sum::<u64>(), point.total);
//! assert_eq!(point.payload_count, point.total); // the lock excluded: no update was lost
//!
//! // locktorture, the user-space way: three independent exclusion checks.
//! let report = torture::run("std", &torture::Config::quick(2, Duration::from_millis(20)), |_| {})
//!     .unwrap();
//! assert!(report.success(), "{}", report.end_line());
//! ```
//!
//! # One interface, one dispatch per run
//!
//! Every lock implements [`locks::Lock`]: build it around a value, run a closure on the value
//! under the lock. [`locks::dispatch`] turns a lock's name into a call of a generic visitor
//! method instantiated for that lock's type, once per run; the engines' hot loops are generic
//! over the lock type, so each `lock`/`unlock` is a direct, inlinable call (no `dyn`).
//!
//! # The payload: why a broken lock is a counted failure and not undefined behaviour
//!
//! What the locks protect is a [`locks::Payload`]: two `u64` words held in `AtomicU64`s and only
//! ever accessed with `Relaxed` loads and stores, through a *shared* reference. Under a correct
//! lock the lock's acquire/release orders those accesses, and a `Relaxed` load or store of an
//! aligned word compiles to a plain `mov` on x86-64, so the hot loop is the code a plain `u64`
//! would give. Under a lock that fails to exclude (locktorture's deliberately broken
//! `lock_busted`, or a bug in a lock under test) two holders race on the payload, but a race of
//! atomics is defined: the increments they lose are *counted* by [`torture`] and
//! [`throughput`] (`payload_count` falls short of the acquisitions), instead of being undefined
//! behaviour that the optimiser may turn into anything. For the same reason no `&mut` to the
//! payload is ever formed.
//!
//! # The work unit
//!
//! Both engines measure critical sections and the gaps between them in [`work`] units. One unit
//! is one step of a dependent 64-bit chain, `x = rotl(x, 23) * K + C`: a rotate, a multiply and
//! an add, about 5 cycles of latency (2 to 2.5 ns at 2 to 2.5 GHz; [`work_unit_ns`] measures it
//! on this machine). Every step needs the previous one, and the chain's end is stored into the
//! payload (inside the lock) or fed to [`core::hint::black_box`] (outside it), so the compiler
//! can neither remove nor overlap the steps. The rotate matters: a pure multiply-add chain is
//! affine, and LLVM folds eight unrolled steps of it into a single multiply-add.
//! parking_lot's benchmark uses a floating-point chain for the same purpose.

#![cfg(not(loom))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod locks;
pub mod machine;
pub mod rw;
pub mod throughput;
pub mod torture;

mod affinity;

use core::fmt;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

/// The multiplier of the work chain (Knuth's MMIX LCG multiplier, odd).
const WORK_MUL: u64 = 6_364_136_223_846_793_005;
/// The increment of the work chain (Knuth's MMIX LCG increment).
const WORK_ADD: u64 = 1_442_695_040_888_963_407;
/// The rotation that keeps the chain non-affine.
const WORK_ROT: u32 = 23;

/// Runs `units` steps of the dependent work chain starting from `x`, and returns its end.
///
/// One step is `x = x.rotate_left(23) * 6364136223846793005 + 1442695040888963407`
/// (wrapping): a rotate, a multiply and an add that each depend on the previous step, about 5
/// cycles. The rotate keeps the step non-affine, so the compiler cannot fold several steps into
/// one. `units == 0` returns `x` unchanged.
///
/// ```
/// use ksync::harness::work;
/// assert_eq!(work(0, 7), 7);
/// assert_eq!(work(2, 7), work(1, work(1, 7)));
/// ```
#[inline(always)]
pub fn work(units: u32, mut x: u64) -> u64 {
    for _ in 0..units {
        x = x
            .rotate_left(WORK_ROT)
            .wrapping_mul(WORK_MUL)
            .wrapping_add(WORK_ADD);
    }
    x
}

/// The cost of one [`work`] unit on this machine, in nanoseconds: the best of three timed runs
/// of 2^22 units on the calling thread (about 30 ms in all). Measured once per process.
pub fn work_unit_ns() -> f64 {
    static COST: OnceLock<f64> = OnceLock::new();
    *COST.get_or_init(|| {
        const UNITS: u32 = 1 << 22;
        (0..3)
            .map(|i| {
                let start = Instant::now();
                black_box(work(black_box(UNITS), i + 1));
                start.elapsed().as_nanos() as f64 / f64::from(UNITS)
            })
            .fold(f64::INFINITY, f64::min)
    })
}

/// Why a harness run could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No lock of that name is registered; `valid` lists the names that are (test-only locks
    /// left out).
    UnknownLock {
        /// The name asked for.
        name: String,
        /// The registered names, in registry order.
        valid: Vec<&'static str>,
    },
    /// A run needs at least one thread.
    ZeroThreads,
    /// A run needs a non-zero duration.
    ZeroDuration,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownLock { name, valid } => {
                write!(
                    f,
                    "unknown lock `{name}`; valid locks: {}",
                    valid.join(", ")
                )
            }
            Error::ZeroThreads => f.write_str("the number of threads must be at least 1"),
            Error::ZeroDuration => f.write_str("the duration must be greater than zero"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_a_dependent_chain() {
        assert_eq!(work(0, 42), 42);
        let one = 42u64
            .rotate_left(WORK_ROT)
            .wrapping_mul(WORK_MUL)
            .wrapping_add(WORK_ADD);
        assert_eq!(work(1, 42), one);
        assert_eq!(work(3, 42), work(1, work(2, 42)));
        assert_ne!(work(3, 42), work(2, 42));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = Error::UnknownLock {
            name: "nope".into(),
            valid: vec!["std", "parking_lot"],
        };
        assert_eq!(
            e.to_string(),
            "unknown lock `nope`; valid locks: std, parking_lot"
        );
        assert!(Error::ZeroThreads.to_string().contains("at least 1"));
        assert!(Error::ZeroDuration
            .to_string()
            .contains("greater than zero"));
    }
}
