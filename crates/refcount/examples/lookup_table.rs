//! A lookup table that does not keep its objects alive: the kernel's `kref_get_unless_zero`
//! pattern with `ksync_refcount::Arc`, and saturation events routed to a metric.
//!
//! The table maps names to *addresses* of live sessions. A session removes itself from the
//! table (under the table lock) when its last reference is dropped; lookups run under the same
//! lock and upgrade an address with `Arc::get_unless_zero`, which fails for a session whose
//! last reference is already gone, instead of resurrecting it.
//!
//! `cargo run -p ksync-refcount --example lookup_table`

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::thread;

use ksync_refcount::report::{self, Event};
use ksync_refcount::{Arc, Refcount};

/// name -> address of the session's value (not a reference).
type Table = Mutex<HashMap<String, usize>>;

static TABLE: std::sync::LazyLock<Table> = std::sync::LazyLock::new(Default::default);

struct Session {
    name: String,
    requests: AtomicU64,
}

impl Session {
    /// Creates a session and publishes it.
    fn open(name: &str) -> Arc<Session> {
        let s = Arc::new(Session {
            name: name.to_owned(),
            requests: AtomicU64::new(0),
        });
        TABLE
            .lock()
            .unwrap()
            .insert(name.to_owned(), Arc::as_ptr(&s) as usize);
        s
    }

    /// Finds a live session by name and takes a reference to it.
    fn lookup(name: &str) -> Option<Arc<Session>> {
        let table = TABLE.lock().unwrap();
        let &addr = table.get(name)?;
        // SAFETY: the address came from `Arc::as_ptr`; a session unpublishes itself under this
        // lock (in `Drop`, before its memory is freed), and the lock is held for the whole call.
        unsafe { Arc::get_unless_zero(addr as *const Session) }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Runs when the count has reached zero, before the memory is freed: unpublish.
        TABLE.lock().unwrap().remove(&self.name);
    }
}

/// Saturation events, counted for a metrics endpoint instead of printed.
static REFCOUNT_BUGS: AtomicU64 = AtomicU64::new(0);

fn count_bug(_: &Event) {
    REFCOUNT_BUGS.fetch_add(1, Relaxed);
}

fn main() {
    report::set_hook(count_bug);

    let eth0 = Session::open("eth0");
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    if let Some(sess) = Session::lookup("eth0") {
                        sess.requests.fetch_add(1, Relaxed);
                    }
                }
            });
        }
    });
    println!("eth0 served {} requests", eth0.requests.load(Relaxed));
    assert_eq!(eth0.requests.load(Relaxed), 4000);

    // The owner drops the last reference: the session unpublishes itself, and later lookups
    // find nothing.
    drop(eth0);
    assert!(Session::lookup("eth0").is_none());
    assert!(TABLE.lock().unwrap().is_empty());
    println!("eth0 closed; lookups now fail");

    // A reference-counting bug elsewhere in the program: it saturates, and the hook counts it.
    let r = Refcount::new(1);
    r.dec(); // dropped the last reference with a plain `dec`: a leak
    assert_eq!(REFCOUNT_BUGS.load(Relaxed), 1);
    println!(
        "refcount bugs counted: {} (per kind: {:?})",
        REFCOUNT_BUGS.load(Relaxed),
        report::counts()
    );
}
