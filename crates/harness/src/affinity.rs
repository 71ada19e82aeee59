//! CPU affinity for torture's `--shuffle` (Linux `sched_setaffinity`; elsewhere a no-op).
//!
//! locktorture's shuffler periodically picks one CPU, in turn, and moves every torture thread
//! off it, so threads keep migrating and are packed onto fewer CPUs than usual (more
//! preemption of lock holders and spinning waiters). [`Shuffler`] does the same to a set of
//! threads named by their kernel thread ids.

/// A kernel thread id (`gettid`), or 0 where there is none.
pub(crate) type Tid = i32;

/// The calling thread's kernel id (0 where the OS has none we can use).
pub(crate) fn current_tid() -> Tid {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` has no preconditions and cannot fail.
        unsafe { libc::gettid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Rotates an idle CPU among the CPUs the process may use, moving the threads off it.
pub(crate) struct Shuffler {
    /// The CPUs the process may run on, read once at the start.
    cpus: Vec<usize>,
    /// Which CPU is idled next (an index into `cpus`).
    next: usize,
}

impl Shuffler {
    /// A shuffler over the calling process's CPUs, or `None` where shuffling is impossible
    /// (not Linux, or fewer than two CPUs allowed).
    pub(crate) fn new() -> Option<Self> {
        let cpus = allowed_cpus();
        (cpus.len() >= 2).then_some(Shuffler { cpus, next: 0 })
    }

    /// Idles the next CPU: every thread in `tids` may run on all allowed CPUs but that one.
    /// Returns how many threads were moved (best effort: a thread that already exited, or a
    /// refusal by the OS, is skipped).
    pub(crate) fn shuffle(&mut self, tids: &[Tid]) -> usize {
        let idle = self.cpus[self.next % self.cpus.len()];
        self.next = self.next.wrapping_add(1);
        let keep: Vec<usize> = self.cpus.iter().copied().filter(|&c| c != idle).collect();
        tids.iter()
            .filter(|&&tid| tid != 0 && set_affinity(tid, &keep))
            .count()
    }
}

#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain data and all-zeroes is a valid empty set;
    // `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        if libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

#[cfg(target_os = "linux")]
fn set_affinity(tid: Tid, cpus: &[usize]) -> bool {
    // SAFETY: as in `allowed_cpus`; `CPU_SET` only writes inside the set for indices below
    // `CPU_SETSIZE` (which every index from `allowed_cpus` is), and `sched_setaffinity` only
    // reads the set. Changing another thread's affinity is harmless to memory safety.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(tid, core::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn set_affinity(_tid: Tid, _cpus: &[usize]) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn shuffling_moves_a_thread_off_the_idle_cpu() {
        let Some(mut shuffler) = Shuffler::new() else {
            return; // one CPU: nothing to shuffle, and `new` said so
        };
        let first_idle = shuffler.cpus[0];
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(current_tid()).unwrap();
            done_rx.recv().unwrap();
            allowed_cpus()
        });
        let tid = rx.recv().unwrap();
        assert_eq!(shuffler.shuffle(&[tid]), 1);
        done_tx.send(()).unwrap();
        let cpus = t.join().unwrap();
        assert!(!cpus.contains(&first_idle));
        assert_eq!(cpus.len(), shuffler.cpus.len() - 1);
    }
}
