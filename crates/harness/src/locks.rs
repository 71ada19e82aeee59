//! The lock registry: every lock `ksync torture` and `ksync bench` know, behind one interface.
//!
//! Each entry names a lock, says what it is ([`Kind`]), and says which adapter puts it behind
//! [`Lock`]:
//!
//! | adapter | for | the lock type used |
//! |---|---|---|
//! | `lock_api(R)` | any `R: lock_api::RawMutex` (0.5): ksync's raw locks, parking_lot | `lock_api::Mutex<R, Payload>` (one generic impl) |
//! | `std_shaped(M)` | std's API: `M::new(T)`, `lock() -> LockResult<guard>` | `M<Payload>` |
//! | `guard_shaped(M)` | `M::new(T)`, `lock() -> guard` (spin's mutexes) | `M<Payload>` |
//!
//! Adding a lock is one line in the `registry!` invocation at the bottom of this file's source;
//! for ksync's locks, as they land:
//!
//! ```text
//! "qspinlock", Ksync, lock_api(ksync_spinlock::RawQSpinLock), "queued spinlock: ...";
//! "compat",    Ksync, std_shaped(ksync_compat::Mutex),        "ksync::compat::Mutex: ...";
//! ```
//!
//! A `std_shaped`/`guard_shaped` entry also generates that type's [`Lock`] impl, so each type
//! constructor appears in the registry once.
//!
//! [`dispatch`] runs a [`LockVisitor`] with the lock type of a name: the one place a lock's
//! name becomes a type, once per run.

use std::sync::PoisonError;

use ksync_barrier::sync::atomic::AtomicU64;

use super::Error;

/// What the harness keeps under the lock.
///
/// Two words, kept in atomics and only accessed with `Relaxed` loads and stores through a
/// shared reference, so that a lock which fails to exclude produces *counted* lost updates
/// rather than undefined behaviour (see the [module docs](super)). Under a correct lock the
/// lock's acquire/release orders every access; on x86-64 each is a plain `mov`.
#[derive(Debug, Default)]
pub struct Payload {
    /// The state of the work chain run inside critical sections.
    pub chain: AtomicU64,
    /// A counter incremented *non-atomically* (a load, then a separate store) by every
    /// critical section: under a correct lock its final value equals the number of
    /// acquisitions; two holders at once lose increments.
    pub count: AtomicU64,
}

impl Payload {
    /// A zeroed payload.
    pub const fn new() -> Self {
        Payload {
            chain: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

/// A mutual-exclusion lock around a `T`, as the harness drives it.
///
/// The closure gets a shared reference: the harness's payload is made of atomics (see
/// [`Payload`]), and never forming a `&mut` keeps even a broken lock's run free of undefined
/// behaviour. The engines are generic over `L: Lock<Payload>`, so `with` inlines into their
/// loops.
pub trait Lock<T>: Send + Sync + Sized {
    /// Builds an unlocked lock around `value`.
    fn new(value: T) -> Self;

    /// Acquires the lock, runs `f` on the protected value, releases the lock, and returns what
    /// `f` returned.
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R;
}

/// The generic adapter: every `lock_api` 0.5 mutex, whatever its raw lock.
impl<R, T> Lock<T> for lock_api::Mutex<R, T>
where
    R: lock_api::RawMutex + Send + Sync,
    T: Send + Sync,
{
    #[inline]
    fn new(value: T) -> Self {
        lock_api::Mutex::new(value)
    }

    #[inline(always)]
    fn with<U>(&self, f: impl FnOnce(&T) -> U) -> U {
        let guard = self.lock();
        f(&guard)
    }
}

/// What a registered lock is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One of ksync's locks.
    Ksync,
    /// A lock ksync is compared with (`std`, `parking_lot`, `spin`).
    Peer,
    /// A lock for testing the harness itself (`lock_busted`); left out of help texts and
    /// default lists.
    TestOnly,
}

impl Kind {
    /// `"ksync"`, `"peer"` or `"test-only"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ksync => "ksync",
            Kind::Peer => "peer",
            Kind::TestOnly => "test-only",
        }
    }
}

/// One registry entry.
#[derive(Debug)]
pub struct LockInfo {
    /// The name used on the command line (`--lock`).
    pub name: &'static str,
    /// What the lock is.
    pub kind: Kind,
    /// One line: what the lock is and how it waits.
    pub description: &'static str,
}

/// Something to do with a lock type: [`dispatch`] calls [`visit`](LockVisitor::visit) with the
/// type registered under a name.
pub trait LockVisitor {
    /// What the visit returns.
    type Output;

    /// Runs with `L`, the lock type registered as `info.name`.
    fn visit<L: Lock<Payload> + 'static>(self, info: &'static LockInfo) -> Self::Output;
}

/// Looks a lock up by name (exact, as listed).
pub fn find(name: &str) -> Option<&'static LockInfo> {
    LOCKS.iter().find(|info| info.name == name)
}

/// The registered locks of one kind, in registry order.
pub fn of_kind(kind: Kind) -> impl Iterator<Item = &'static LockInfo> {
    LOCKS.iter().filter(move |info| info.kind == kind)
}

/// The names to offer a user: every lock but the test-only ones.
pub fn public_names() -> Vec<&'static str> {
    LOCKS
        .iter()
        .filter(|info| info.kind != Kind::TestOnly)
        .map(|info| info.name)
        .collect()
}

/// The error for a name that is not registered.
pub fn unknown(name: &str) -> Error {
    Error::UnknownLock {
        name: name.to_owned(),
        valid: public_names(),
    }
}

/// Runs `visitor` with the lock type registered as `name`.
///
/// ```
/// use ksync::harness::locks::{self, Lock, LockInfo, LockVisitor, Payload};
/// use std::sync::atomic::Ordering;
///
/// struct CountTwice;
/// impl LockVisitor for CountTwice {
///     type Output = u64;
///     fn visit<L: Lock<Payload> + 'static>(self, _: &'static LockInfo) -> u64 {
///         let lock = L::new(Payload::new());
///         for _ in 0..2 {
///             lock.with(|p| p.count.store(p.count.load(Ordering::Relaxed) + 1, Ordering::Relaxed));
///         }
///         lock.with(|p| p.count.load(Ordering::Relaxed))
///     }
/// }
/// assert_eq!(locks::dispatch("parking_lot", CountTwice).unwrap(), 2);
/// assert!(locks::dispatch("no-such-lock", CountTwice).is_err());
/// ```
pub fn dispatch<V: LockVisitor>(name: &str, visitor: V) -> Result<V::Output, Error> {
    let info = find(name).ok_or_else(|| unknown(name))?;
    Ok(dispatch_registered(info, visitor))
}

/// Declares the registry: [`LOCKS`], the name-to-type `match`, and the adapters' impls.
macro_rules! registry {
    (@type lock_api ( $($raw:tt)+ )) => { lock_api::Mutex<$($raw)+, Payload> };
    (@type std_shaped ( $($m:tt)+ )) => { $($m)+ <Payload> };
    (@type guard_shaped ( $($m:tt)+ )) => { $($m)+ <Payload> };

    (@impl lock_api ( $($raw:tt)+ )) => {};
    (@impl std_shaped ( $($m:tt)+ )) => {
        impl<T: Send + Sync> Lock<T> for $($m)+ <T> {
            #[inline]
            fn new(value: T) -> Self {
                <$($m)+ <T>>::new(value)
            }

            #[inline(always)]
            fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
                // A poisoned lock still excludes, and the harness's payload has no invariant a
                // panic could break: keep going with the guard.
                let guard = self.lock().unwrap_or_else(PoisonError::into_inner);
                f(&guard)
            }
        }
    };
    (@impl guard_shaped ( $($m:tt)+ )) => {
        impl<T: Send + Sync> Lock<T> for $($m)+ <T> {
            #[inline]
            fn new(value: T) -> Self {
                <$($m)+ <T>>::new(value)
            }

            #[inline(always)]
            fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
                let guard = self.lock();
                f(&guard)
            }
        }
    };

    ($( $name:literal, $kind:ident, $adapter:ident ( $($ty:tt)+ ), $desc:literal; )*) => {
        /// Every registered lock, in the order the tool lists them.
        pub static LOCKS: &[LockInfo] = &[
            $( LockInfo { name: $name, kind: Kind::$kind, description: $desc }, )*
        ];

        fn dispatch_registered<V: LockVisitor>(info: &'static LockInfo, visitor: V) -> V::Output {
            match info.name {
                $( $name => visitor.visit::<registry!(@type $adapter ( $($ty)+ ))>(info), )*
                other => unreachable!("`{other}` is in LOCKS but not in the dispatch match"),
            }
        }

        $( registry!(@impl $adapter ( $($ty)+ )); )*
    };
}

registry! {
    "qspinlock", Ksync, lock_api(ksync_spinlock::RawQSpinLock),
        "ksync SpinLock: the kernel's qspinlock with the paravirt slow path on futex (spin, then sleep)";
    "qspinlock-native", Ksync, lock_api(ksync_spinlock::RawQSpinLockNative),
        "the kernel's qspinlock as on bare metal: pending lane + MCS queue, waiters only spin";
    "ticket", Ksync, lock_api(ksync_spinlock::RawTicketLock),
        "the kernel's generic ticket lock: FIFO, everyone spins on one word";
    "tas", Ksync, lock_api(ksync_spinlock::RawTasLock),
        "test-and-test-and-set on bit 0 (bit spinlock): unfair, spins on reads";
    "compat", Ksync, std_shaped(ksync_compat::Mutex),
        "ksync::compat::Mutex: std's API and poisoning over the paravirt qspinlock (spin, then sleep)";
    "mutex", Ksync, lock_api(ksync_mutex::RawMutex),
        "ksync Mutex: the kernel's owner-word mutex: brief spin then yields, FIFO futex sleepers, handoff";
    "std", Peer, std_shaped(::std::sync::Mutex),
        "std::sync::Mutex: futex word with 3 states, spins briefly, then sleeps; the baseline";
    "parking_lot", Peer, lock_api(::parking_lot::RawMutex),
        "parking_lot::Mutex: 1-byte lock, adaptive spinning, parking lot, eventual fairness";
    "spin", Peer, guard_shaped(::spin::mutex::SpinMutex),
        "spin::mutex::SpinMutex: test-and-set spinlock, never sleeps";
    "spin-ticket", Peer, guard_shaped(::spin::mutex::TicketMutex),
        "spin::mutex::TicketMutex: FIFO ticket spinlock, never sleeps";
    "lock_busted", TestOnly, lock_api(RawBustedLock),
        "locktorture's negative control: a lock that does not lock (torture must fail)";
}

/// locktorture's `lock_busted`: a "lock" whose lock and unlock do nothing, the negative control
/// that `ksync torture` must report as FAILURE.
///
/// Private on purpose: it breaks `RawMutex`'s contract, so it must not be usable to protect
/// arbitrary data. The only way to reach it is [`dispatch`], which hands a visitor nothing but
/// `Lock<Payload>`, whose `with` gives a shared reference to atomics: concurrent "holders" race
/// on atomics (defined, and counted), never on plain memory.
struct RawBustedLock;

// SAFETY: this impl deliberately does NOT provide mutual exclusion (that is its purpose). It is
// sound in context because the type is private to this module and only ever instantiated as
// `lock_api::Mutex<RawBustedLock, Payload>` through `dispatch`, where the payload is reached
// only through `Lock::with`, i.e. as `&Payload`: a type made of atomics, for which any number of
// simultaneous shared references is fine. No `&mut Payload` is ever created.
unsafe impl lock_api::RawMutex for RawBustedLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawBustedLock;
    type Guard = lock_api::GuardSend;

    fn lock(&self) -> Self::Guard {
        lock_api::GuardSend::new()
    }

    fn try_lock(&self) -> Option<Self::Guard> {
        Some(lock_api::GuardSend::new())
    }

    unsafe fn unlock(&self, _guard: Self::Guard) {}

    fn is_locked(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksync_barrier::sync::atomic::Ordering;

    /// Locks twice, bumping the counter, and reports the final count and the lock's name.
    struct Bump;
    impl LockVisitor for Bump {
        type Output = (u64, &'static str);
        fn visit<L: Lock<Payload> + 'static>(self, info: &'static LockInfo) -> Self::Output {
            let lock = L::new(Payload::new());
            for _ in 0..2 {
                lock.with(|p| {
                    let c = p.count.load(Ordering::Relaxed);
                    p.count.store(c + 1, Ordering::Relaxed);
                });
            }
            (lock.with(|p| p.count.load(Ordering::Relaxed)), info.name)
        }
    }

    #[test]
    fn every_registered_lock_dispatches_to_itself() {
        for info in LOCKS {
            assert_eq!(dispatch(info.name, Bump).unwrap(), (2, info.name));
        }
    }

    #[test]
    fn names_are_unique_and_described() {
        for (i, a) in LOCKS.iter().enumerate() {
            assert!(!a.description.is_empty(), "{} has no description", a.name);
            for b in &LOCKS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn unknown_names_list_the_public_locks_only() {
        let err = dispatch("nope", Bump).unwrap_err();
        let Error::UnknownLock { name, valid } = &err else {
            panic!("wrong error: {err:?}");
        };
        assert_eq!(name, "nope");
        assert!(valid.contains(&"std") && valid.contains(&"parking_lot"));
        assert!(!valid.contains(&"lock_busted"));
        // Test-only locks still dispatch: they are only hidden.
        assert!(find("lock_busted").is_some());
        assert_eq!(
            of_kind(Kind::TestOnly).map(|i| i.name).collect::<Vec<_>>(),
            ["lock_busted"]
        );
    }

    #[test]
    fn the_baselines_are_registered() {
        assert_eq!(find("std").unwrap().kind, Kind::Peer);
        assert_eq!(find("parking_lot").unwrap().kind, Kind::Peer);
    }
}
