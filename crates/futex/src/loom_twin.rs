//! The loom twin: a futex that really blocks, built on loom's `Mutex` and `Condvar`.
//!
//! One [`Twin`] per model execution (through `ksync_barrier::global!`, which is loom's
//! `lazy_static!` here). Its mutex plays the kernel's hash-bucket lock: `wait` checks the word
//! and registers itself as a sleeper under it; `wake_*` marks sleepers of the same address
//! under it. A sleeper waits on the condvar until a wake has marked it, so the twin has no
//! spurious wakeups and its wake counts are exact. If a lock model loses a wakeup, the sleeper
//! stays blocked and loom reports a deadlock.
//!
//! This is the one place in ksync that names `loom::sync::{Mutex, Condvar}` directly:
//! `ksync_barrier::sync` has no mutex or condvar (ksync builds those), and the twin exists only
//! under `cfg(loom)`.

use std::time::Duration;

use loom::sync::{Condvar, Mutex};

use crate::{FutexWord, WaitResult};

pub(crate) const NAME: &str = "loom";

struct Sleeper {
    id: u64,
    addr: usize,
    woken: bool,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    sleepers: Vec<Sleeper>,
}

struct Twin {
    table: Mutex<Table>,
    cv: Condvar,
}

impl Twin {
    fn new() -> Self {
        Twin {
            table: Mutex::new(Table::default()),
            cv: Condvar::new(),
        }
    }
}

ksync_barrier::global! {
    /// The twin's state for the current model execution.
    fn twin() -> &'static Twin = Twin::new();
}

pub(crate) fn wait<W: FutexWord + ?Sized>(
    word: &W,
    expected: u32,
    timeout: Option<Duration>,
) -> WaitResult {
    let t = twin();
    let addr = word.futex_addr();
    let mut table = t.table.lock().unwrap();
    // Relaxed: the mutex orders this check against a waker's change of the word, as the
    // kernel's bucket lock does (a waker changes the word, then takes the mutex to wake).
    if word.futex_load() != expected {
        return WaitResult::Mismatch;
    }
    if timeout.is_some() {
        // Loom has no time: take the "gave up waiting" path at once.
        return WaitResult::TimedOut;
    }
    let id = table.next_id;
    table.next_id += 1;
    table.sleepers.push(Sleeper {
        id,
        addr,
        woken: false,
    });
    loop {
        table = t.cv.wait(table).unwrap();
        let pos = table
            .sleepers
            .iter()
            .position(|s| s.id == id)
            .expect("futex twin: sleeper vanished");
        if table.sleepers[pos].woken {
            table.sleepers.remove(pos);
            return WaitResult::Woken;
        }
        // Notified for another word or another sleeper: not our wake, sleep on.
    }
}

pub(crate) fn wake<W: FutexWord + ?Sized>(word: &W, count: usize) -> usize {
    let t = twin();
    let addr = word.futex_addr();
    let mut table = t.table.lock().unwrap();
    let mut woken = 0;
    for s in table
        .sleepers
        .iter_mut()
        .filter(|s| s.addr == addr && !s.woken)
    {
        if woken == count {
            break;
        }
        s.woken = true;
        woken += 1;
    }
    drop(table);
    if woken != 0 {
        // One condvar serves every address: wake all and let each sleeper check its mark.
        t.cv.notify_all();
    }
    woken
}
