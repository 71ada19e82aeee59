//! Uncontended lock+unlock of every ksync spinlock next to the peers, one thread.
//!
//! Target (issue: ksync-spinlock): qspinlock and ticket within 1.05x of
//! `spin::mutex::SpinMutex`, which is one locked RMW to lock and a plain store to unlock: the
//! physical floor. Contended throughput and fairness (2 and 8 threads) come from the
//! throughput harness: `cargo run --release -p ksync-cli -- bench`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

mod common;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended_lock_unlock");

    let qspin = ksync::spinlock::SpinLock::new(0u64);
    let native = ksync::spinlock::QSpinLockNative::new(0u64);
    let ticket = ksync::spinlock::TicketLock::new(0u64);
    let tas = ksync::spinlock::TasLock::new(0u64);
    let spin_mutex = spin::mutex::SpinMutex::<_>::new(0u64);
    let spin_ticket = spin::mutex::TicketMutex::<_>::new(0u64);
    let pl = parking_lot::Mutex::new(0u64);
    let std_mutex = std::sync::Mutex::new(0u64);

    // Dispatch once per contender, not per iteration: each closure is monomorphic.
    let names = [
        "ksync_qspinlock",
        "ksync_qspinlock_native",
        "ksync_ticket",
        "ksync_tas",
        "spin_SpinMutex",
        "spin_TicketMutex",
        "parking_lot",
        "std",
    ];
    for name in common::round_order(names.to_vec()) {
        match name {
            "ksync_qspinlock" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&qspin).lock() += 1))
            }
            "ksync_qspinlock_native" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&native).lock() += 1))
            }
            "ksync_ticket" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&ticket).lock() += 1))
            }
            "ksync_tas" => g.bench_function(name, |b| b.iter(|| *black_box(&tas).lock() += 1)),
            "spin_SpinMutex" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&spin_mutex).lock() += 1))
            }
            "spin_TicketMutex" => {
                g.bench_function(name, |b| b.iter(|| *black_box(&spin_ticket).lock() += 1))
            }
            "parking_lot" => g.bench_function(name, |b| b.iter(|| *black_box(&pl).lock() += 1)),
            "std" => g.bench_function(name, |b| {
                b.iter(|| *black_box(&std_mutex).lock().unwrap() += 1)
            }),
            _ => unreachable!(),
        };
    }
    g.finish();
}

/// The hardware floor of each unlock shape, in inline asm on one word: a locked RMW to lock,
/// then the unlock store (or RMW) of the given width. On some x86-64 parts (measured on AMD EPYC)
/// a narrower store followed by a wider locked RMW on the same word fails store forwarding and
/// costs several nanoseconds: the kernel's byte/halfword unlocks pay it in a tight
/// lock/unlock loop, `spin`'s `SpinMutex` (byte CAS + byte store) does not.
#[cfg(target_arch = "x86_64")]
fn floor(c: &mut Criterion) {
    use std::arch::asm;
    let mut g = c.benchmark_group("hardware_floor");
    let mut word = 0u32;
    let p: *mut u32 = &mut word;
    macro_rules! seq {
        ($name:literal, $($asm:literal),+) => {
            // SAFETY: the asm only touches the 4-byte `word`, through `p`.
            g.bench_function($name, |b| b.iter(|| unsafe {
                asm!($($asm),+, p = in(reg) black_box(p), out("eax") _, out("ecx") _, options(nostack))
            }))
        };
    }
    let names = [
        "cas32+mov32",
        "cas8+mov8",
        "cas32+mov8",
        "cas32+cas8",
        "cas32+cas32",
        "xadd32+mov16",
    ];
    for name in common::round_order(names.to_vec()) {
        match name {
            "cas32+mov32" => seq!(
                "cas32+mov32",
                "xor eax, eax",
                "mov ecx, 1",
                "lock cmpxchg dword ptr [{p}], ecx",
                "mov dword ptr [{p}], 0"
            ),
            "cas8+mov8" => seq!(
                "cas8+mov8",
                "xor eax, eax",
                "mov ecx, 1",
                "lock cmpxchg byte ptr [{p}], cl",
                "mov byte ptr [{p}], 0"
            ),
            "cas32+mov8" => seq!(
                "cas32+mov8",
                "xor eax, eax",
                "mov ecx, 1",
                "lock cmpxchg dword ptr [{p}], ecx",
                "mov byte ptr [{p}], 0"
            ),
            "cas32+cas8" => seq!(
                "cas32+cas8",
                "xor eax, eax",
                "mov ecx, 1",
                "lock cmpxchg dword ptr [{p}], ecx",
                "mov eax, 1",
                "xor ecx, ecx",
                "lock cmpxchg byte ptr [{p}], cl"
            ),
            "cas32+cas32" => seq!(
                "cas32+cas32",
                "xor eax, eax",
                "mov ecx, 1",
                "lock cmpxchg dword ptr [{p}], ecx",
                "mov eax, 1",
                "xor ecx, ecx",
                "lock cmpxchg dword ptr [{p}], ecx"
            ),
            "xadd32+mov16" => seq!(
                "xadd32+mov16",
                "mov eax, 0x10000",
                "lock xadd dword ptr [{p}], eax",
                "add eax, 1",
                "mov word ptr [{p}], ax",
                "xor ecx, ecx"
            ),
            _ => unreachable!(),
        };
    }
    g.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn floor(_: &mut Criterion) {}

criterion_group!(benches, bench, floor);
criterion_main!(benches);
