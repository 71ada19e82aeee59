// A small program written against `std::sync`: a job queue on a `Mutex` and a `Condvar`,
// workers, poisoning and recovery, `try_lock`, a timed wait, a `static` mutex and an unsized
// `Arc<Mutex<[u64]>>`. It has no `use` line for the sync types: `../std_swap.rs` compiles it
// twice, once after `use std::sync::{...}` and once after the same line with
// `ksync::compat` in place of `std::sync`.

use std::thread;
use std::time::Duration;

/// Jobs run, over every queue (a `static`: `Mutex::new` is `const`).
static JOBS_RUN: Mutex<u64> = Mutex::new(0);

struct Queue {
    state: Mutex<(Vec<u64>, bool)>, // pending jobs, closed
    ready: Condvar,
}

impl Queue {
    fn push(&self, job: u64) {
        self.state.lock().unwrap().0.push(job);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.ready.notify_all();
    }

    /// The next job, or `None` once the queue is closed and empty.
    fn pop(&self) -> Option<u64> {
        let mut state = self
            .ready
            .wait_while(self.state.lock().unwrap(), |(jobs, closed)| {
                jobs.is_empty() && !*closed
            })
            .unwrap();
        state.0.pop()
    }
}

/// Names the guard and result types in a signature.
fn sum(m: &Mutex<Vec<u64>>) -> Result<u64, PoisonError<MutexGuard<'_, Vec<u64>>>> {
    let guard = m.lock()?;
    Ok(guard.iter().sum())
}

pub fn run() -> String {
    let mut report = Vec::new();

    // Workers drain a queue; results come back over a channel.
    let queue = Arc::new(Queue {
        state: Mutex::new((Vec::new(), false)),
        ready: Condvar::new(),
    });
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (queue, tx) = (Arc::clone(&queue), tx.clone());
            thread::spawn(move || {
                while let Some(job) = queue.pop() {
                    *JOBS_RUN.lock().unwrap() += 1;
                    tx.send(job * job).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for job in 1..=100 {
        queue.push(job);
    }
    queue.close();
    let total: u64 = rx.iter().sum();
    for w in workers {
        w.join().unwrap();
    }
    report.push(format!(
        "sum of squares: {total}, jobs run: {}",
        *JOBS_RUN.lock().unwrap()
    ));

    // A worker that panics with the lock held poisons it; the data is still reachable.
    let results = Arc::new(Mutex::new(vec![1, 2, 3]));
    let r = Arc::clone(&results);
    let joined = thread::spawn(move || {
        let mut guard = r.lock().unwrap();
        guard.push(4);
        panic!("worker panics on purpose");
    })
    .join();
    report.push(format!(
        "worker failed: {}, poisoned: {}",
        joined.is_err(),
        results.is_poisoned()
    ));
    match sum(&results) {
        Ok(s) => report.push(format!("sum {s}")),
        Err(e) => report.push(format!(
            "poisoned, sum anyway: {}",
            e.into_inner().iter().sum::<u64>()
        )),
    }
    results
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|&x| x != 4);
    results.clear_poison();
    report.push(format!("recovered: {:?}", sum(&results).unwrap()));

    // try_lock while another thread holds the lock.
    let gate = Arc::new(Mutex::new(0));
    let (held_tx, held_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let holder = {
        let gate = Arc::clone(&gate);
        thread::spawn(move || {
            let _g = gate.lock().unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        })
    };
    held_rx.recv().unwrap();
    let busy = matches!(gate.try_lock(), Err(TryLockError::WouldBlock));
    go_tx.send(()).unwrap();
    holder.join().unwrap();
    report.push(format!("try_lock while held: would block = {busy}"));

    // A timed wait that nobody notifies times out (spurious wakeups aside).
    let flag = Mutex::new(false);
    let cv = Condvar::new();
    let (guard, timeout) = cv
        .wait_timeout_while(flag.lock().unwrap(), Duration::from_millis(1), |set| !*set)
        .unwrap();
    report.push(format!(
        "timed out: {}, flag: {}",
        timeout.timed_out(),
        *guard
    ));
    drop(guard);

    // Unsized data behind an Arc, and the owned accessors.
    let shared: Arc<Mutex<[u64]>> = Arc::new(Mutex::new([5, 6, 7]));
    shared.lock().unwrap()[0] = 50;
    let len = shared.lock().unwrap().len();
    let mut owned = Mutex::new(String::from("std"));
    owned.get_mut().unwrap().push_str("::sync");
    report.push(format!(
        "{len} slots, first {}; {}",
        shared.lock().unwrap()[0],
        owned.into_inner().unwrap()
    ));

    report.join("\n")
}
