//! Helpers shared by the criterion benches.
//!
//! The machine ksync is measured on is shared and noisy, and the first contender measured in a
//! round is measurably penalised. Every bench therefore registers its contenders in an order
//! that alternates between runs: set `KSYNC_BENCH_ROUND` to an integer (odd = reversed) and run
//! the bench once per round; `docs/perf.md` quotes medians over the rounds.
#![allow(dead_code)]

/// Returns `items` in this round's order (reversed on odd rounds of `KSYNC_BENCH_ROUND`).
pub fn round_order<T>(mut items: Vec<T>) -> Vec<T> {
    let round: u64 = std::env::var("KSYNC_BENCH_ROUND")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if round % 2 == 1 {
        items.reverse();
    }
    items
}
