//! A 64-bit control word with bitfields, updated by a `cmpxchg` retry loop on `atomic64_t`
//! while another thread flips a flag bit in the same word: no update is lost.
//!
//! The layout is in the style of a posted-interrupt descriptor's control word (Intel VT-d):
//!
//! | bits | field | who writes it |
//! |---|---|---|
//! | 0 | `ON`: outstanding notification | the "device" thread, `fetch_or` / `fetch_andnot` |
//! | 1 | `SN`: suppress notification | the "scheduler" thread, in the cmpxchg loop |
//! | 16..24 | `NV`: notification vector | the scheduler, in the cmpxchg loop |
//! | 32..64 | `NDST`: destination | the scheduler, in the cmpxchg loop |
//!
//! The scheduler "migrates" the destination: it reads the word, computes a new one with new
//! `NDST`/`NV`/`SN` fields and the *current* `ON` bit, and installs it with `cmpxchg`; if the
//! device flipped `ON` in between, the `cmpxchg` fails and the loop recomputes. A plain
//! read-modify-store would overwrite the device's flip with a stale `ON`. The device checks, on
//! every flip, that `ON` was as it left it.
//!
//! `cargo run -p ksync-atomic --example packed_cas64`

use std::sync::Barrier;
use std::thread;

use ksync_atomic::Atomic64;

const ON: i64 = 1 << 0;
const SN: i64 = 1 << 1;
const NV_SHIFT: u32 = 16;
const NV_MASK: i64 = 0xff << NV_SHIFT;
const NDST_SHIFT: u32 = 32;
const NDST_MASK: i64 = !0 << NDST_SHIFT;

const MIGRATIONS: u32 = 100_000;
const FLIPS: usize = 100_001;

fn fields(w: i64) -> (bool, bool, u8, u32) {
    (
        w & ON != 0,
        w & SN != 0,
        ((w & NV_MASK) >> NV_SHIFT) as u8,
        ((w & NDST_MASK) as u64 >> NDST_SHIFT) as u32,
    )
}

fn main() {
    let word = Atomic64::new(0x30 << NV_SHIFT);
    // Both threads start together, so the updates really overlap.
    let start = Barrier::new(2);
    let (retries, device_on) = thread::scope(|s| {
        let scheduler = s.spawn(|| {
            start.wait();
            let mut retries = 0u64;
            for m in 1..=MIGRATIONS {
                let mut old = word.read();
                loop {
                    // Keep ON (the device's bit) as found; replace our fields.
                    let mut new = old & ON;
                    new |= ((m as i64) << NDST_SHIFT) & NDST_MASK;
                    new |= (i64::from(m as u8) << NV_SHIFT) & NV_MASK;
                    if m.is_multiple_of(2) {
                        new |= SN;
                    }
                    // Fully ordered on success; on failure `old` is the fresh word: recompute.
                    if word.try_cmpxchg(&mut old, new) {
                        break;
                    }
                    retries += 1;
                }
            }
            retries
        });
        let device = s.spawn(|| {
            start.wait();
            let mut on = false;
            let mut seen_ndst = 0u32;
            for i in 0..FLIPS {
                let old = if on {
                    word.fetch_andnot(ON)
                } else {
                    word.fetch_or(ON)
                };
                let (was_on, _, _, ndst) = fields(old);
                assert_eq!(
                    was_on, on,
                    "flip {i}: the ON bit was lost by a concurrent update"
                );
                assert!(ndst >= seen_ndst, "the destination went backwards");
                seen_ndst = ndst;
                on = !on;
            }
            on
        });
        (scheduler.join().unwrap(), device.join().unwrap())
    });

    let (on, sn, nv, ndst) = fields(word.read());
    assert_eq!(on, device_on, "final ON bit");
    assert_eq!(ndst, MIGRATIONS, "final destination");
    assert_eq!(nv, MIGRATIONS as u8, "final vector");
    assert_eq!(sn, MIGRATIONS.is_multiple_of(2), "final SN");
    println!(
        "packed_cas64: {MIGRATIONS} cmpxchg64 updates ({retries} retries) and {FLIPS} ON flips on one word, none lost: ON={on} SN={sn} NV={nv:#x} NDST={ndst}"
    );
}
