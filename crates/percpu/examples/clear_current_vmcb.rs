//! `clear_current_vmcb`-style cleanup: a per-CPU "what is loaded here" cache that must forget an
//! object when the object is freed.
//!
//! The pattern comes from KVM's SVM code (`arch/x86/kvm/svm/svm.c`): every CPU remembers which
//! VMCB (the hardware's per-vCPU control block) it last loaded, so that running the same vCPU
//! again on the same CPU can skip the expensive reload. The cache holds only an *address*, and
//! addresses are reused: free a VMCB, allocate a new one, and it may land at the same address,
//! so a CPU whose cache still holds the old address would skip a reload it needs. The fix is to
//! clear the freed VMCB from *every* CPU's cache before freeing it, with a compare-and-exchange
//! (`cmpxchg(&per_cpu->current_vmcb, vmcb, NULL)`), because those CPUs are concurrently loading
//! other VMCBs into their caches, which a plain store of NULL would wipe out.
//!
//! Here worker threads play the CPUs (each owns a `PerCpu` slot), and vCPUs migrate between
//! them through a shared run queue. Now and then a worker "resets" the vCPU it holds: it frees
//! the VMCB (clearing it from every slot first) and allocates a new one, which the allocator
//! very often places at the freed address. Each run checks that a cache hit really is the VMCB
//! it thinks it is (by generation number). Run with `--no-clear` to skip the cleanup and watch
//! the check catch a stale hit.
//!
//! ```text
//! cargo run -p ksync-percpu --example clear_current_vmcb [-- --no-clear]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;

use ksync_atomic::AtomicLong;
use ksync_percpu::PerCpu;

const WORKERS: usize = 4;
const VCPUS: usize = 6;
const RUNS_PER_WORKER: usize = 6_000 * BURST;
const RESET_EVERY: usize = 7;
const BURST: usize = 3;

/// The hardware control block. Only its address and generation matter here.
struct Vmcb {
    generation: u64,
}

struct Vcpu {
    vmcb: Box<Vmcb>,
}

/// One slot's ("CPU's") cache of what it has loaded.
#[derive(Default)]
struct LoadedHere {
    /// Address of the VMCB this slot last loaded, or 0 (the kernel's `current_vmcb`).
    current: AtomicLong,
    /// Generation of that VMCB, for the checks (written and read by the slot's owner only).
    generation: AtomicU64,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct Stats {
    loads: u64,
    hits: u64,
    resets: u64,
    same_address: u64,
}

fn addr(vmcb: &Vmcb) -> isize {
    vmcb as *const Vmcb as isize
}

fn new_vmcb() -> Box<Vmcb> {
    Box::new(Vmcb {
        // Relaxed: a unique number, nothing published with it.
        generation: GENERATION.fetch_add(1, Ordering::Relaxed),
    })
}

/// Runs `vcpu` on this slot: reload the VMCB unless this slot has it loaded already.
fn run(loaded: &PerCpu<LoadedHere>, vcpu: &Vcpu, stats: &mut Stats) {
    let here = loaded.this_cpu().expect("a slot per worker");
    let want = addr(&vcpu.vmcb);
    // The owner's own field: no other thread stores a non-zero value here.
    if here.current.read() == want {
        // A hit must be the VMCB we think it is.
        let loaded = here.generation.load(Ordering::Relaxed);
        assert_eq!(
            loaded, vcpu.vmcb.generation,
            "stale hit: this slot loaded generation {loaded} at {want:#x}, but generation {} \
             lives there now (the freed VMCB was not cleared from the per-slot caches)",
            vcpu.vmcb.generation
        );
        stats.hits += 1;
    } else {
        // "VMLOAD": cheap here, expensive on hardware.
        here.generation
            .store(vcpu.vmcb.generation, Ordering::Relaxed);
        // A plain store, as in the kernel: only this slot's owner installs values here.
        here.current.set(want);
        stats.loads += 1;
    }
}

/// Frees `vmcb`, first making every slot forget it.
fn free_vmcb(loaded: &PerCpu<LoadedHere>, vmcb: Box<Vmcb>, clear: bool) {
    if clear {
        let a = addr(&vmcb);
        for (_slot, here) in loaded.iter() {
            // Only if it still holds *this* VMCB: the slot's owner may be installing another
            // one right now, and a store of 0 would wipe that out. Fully ordered, like the
            // kernel's cmpxchg(); a failure changes nothing.
            let _ = here.current.cmpxchg(a, 0);
        }
    }
    drop(vmcb);
}

fn worker(loaded: &PerCpu<LoadedHere>, queue: &Mutex<Vec<Vcpu>>, clear: bool) -> Stats {
    let mut stats = Stats::default();
    let mut runs = 0;
    while runs < RUNS_PER_WORKER {
        // Take a vCPU from the run queue (the mutex orders the previous runner's resets,
        // including their cmpxchg()s, before our runs).
        let Some(mut vcpu) = queue.lock().unwrap().pop() else {
            thread::yield_now();
            continue;
        };
        // Run it a few times in a row (cache hits), resetting it now and then.
        for _ in 0..BURST {
            run(loaded, &vcpu, &mut stats);
            runs += 1;
            if runs % RESET_EVERY == 0 {
                let old = addr(&vcpu.vmcb);
                let Vcpu { vmcb } = vcpu;
                free_vmcb(loaded, vmcb, clear);
                // Allocated right after the free: often at the same address.
                vcpu = Vcpu { vmcb: new_vmcb() };
                stats.resets += 1;
                stats.same_address += u64::from(addr(&vcpu.vmcb) == old);
            }
        }
        // Put it back at the front, so vCPUs migrate between workers.
        queue.lock().unwrap().insert(0, vcpu);
    }
    stats
}

fn main() {
    let clear = !std::env::args().any(|a| a == "--no-clear");
    // One cache per slot: the `DEFINE_PER_CPU(struct svm_cpu_data, ...)` of the example.
    let loaded: PerCpu<LoadedHere> = PerCpu::new();
    let queue = Mutex::new(
        (0..VCPUS)
            .map(|_| Vcpu { vmcb: new_vmcb() })
            .collect::<Vec<_>>(),
    );
    let all: Vec<Stats> = thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|_| s.spawn(|| worker(&loaded, &queue, clear)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = all.iter().fold(Stats::default(), |mut t, s| {
        t.loads += s.loads;
        t.hits += s.hits;
        t.resets += s.resets;
        t.same_address += s.same_address;
        t
    });
    println!(
        "{} runs on {WORKERS} slots: {} reloads, {} cache hits, {} VMCB resets \
         ({} reused the freed address); every hit checked",
        total.loads + total.hits,
        total.loads,
        total.hits,
        total.resets,
        total.same_address
    );
    assert_eq!(total.loads + total.hits, (WORKERS * RUNS_PER_WORKER) as u64);
}
