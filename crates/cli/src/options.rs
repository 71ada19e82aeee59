//! Command-line value parsers and small formatting helpers shared by the subcommands.

use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser};
use ksync::harness::locks::{self, Kind, LockInfo};
use ksync::harness::machine::Machine;

/// Most threads any subcommand accepts (a typo guard, not a limit of the engines).
pub const MAX_THREADS: u32 = 1024;

/// `--lock`: the registered names, each with its description; test-only locks are accepted but
/// left out of `--help` and of the "possible values" of an error.
pub fn lock_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(locks::LOCKS.iter().map(|info| {
        PossibleValue::new(info.name)
            .help(info.description)
            .hide(info.kind == Kind::TestOnly)
    }))
}

/// The longest duration any option takes: a week. Longer ones would overflow the deadlines
/// and the products (`duration x tests`) the tool computes from them.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A duration in humantime's syntax: `500ms`, `2s`, `1m`, `1m 30s`; at most a week.
pub fn duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. 500ms, 2s or 1m"))?;
    if d > MAX_DURATION {
        Err(format!("`{text}` is longer than the limit of a week (7d)"))
    } else {
        Ok(d)
    }
}

/// A duration that must be longer than zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = duration(text)?;
    if d.is_zero() {
        Err("must be longer than zero".to_owned())
    } else {
        Ok(d)
    }
}

/// A period: `0s` (off) or at least 1 ms.
pub fn period(text: &str) -> Result<Duration, String> {
    let d = duration(text)?;
    if !d.is_zero() && d < Duration::from_millis(1) {
        Err("must be 0s (off) or at least 1ms".to_owned())
    } else {
        Ok(d)
    }
}

/// The registry entry of a name clap has already validated.
pub fn info(name: &str) -> &'static LockInfo {
    locks::find(name).expect("clap validated the lock name against the registry")
}

/// The locks a subcommand uses when the user names none: ksync's own locks, or, while none is
/// registered in this build, the peers.
pub fn default_locks() -> Vec<&'static LockInfo> {
    let ksync: Vec<_> = locks::of_kind(Kind::Ksync).collect();
    if ksync.is_empty() {
        locks::of_kind(Kind::Peer).collect()
    } else {
        ksync
    }
}

/// Every lock except the test-only ones, in registry order.
pub fn public_locks() -> Vec<&'static LockInfo> {
    locks::LOCKS
        .iter()
        .filter(|info| info.kind != Kind::TestOnly)
        .collect()
}

/// `1 thread` / `8 threads (> 2 cores)`.
pub fn threads_note(machine: &Machine, threads: usize) -> String {
    let s = if threads == 1 { "" } else { "s" };
    if machine.oversubscribed(threads) {
        format!(
            "{threads} thread{s} (threads outnumber the {} cores)",
            machine.cores
        )
    } else {
        format!("{threads} thread{s}")
    }
}

/// A nanosecond count with three significant digits: `850ns`, `12.3µs`, `4.56ms`, `1.20s`.
pub fn nanos(ns: u64) -> String {
    let ns_f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", sig3(ns_f / 1e3))
    } else if ns < 1_000_000_000 {
        format!("{}ms", sig3(ns_f / 1e6))
    } else {
        format!("{}s", sig3(ns_f / 1e9))
    }
}

/// `value` with three significant digits (no exponent; 100 and up as a whole number).
pub fn sig3(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A duration for people: `250ms`, `4.5s`, and from 10 s up humantime's form in whole seconds
/// (`1m 5s`).
pub fn human(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs((ms + 500) / 1000)).to_string()
    }
}

/// `n` followed by `word`, with an `s` unless `n` is 1.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// A throughput ratio: `1.23x`, or `-` when there is no baseline.
pub fn ratio(value: Option<f64>) -> String {
    match value {
        Some(r) if r.is_finite() => format!("{r:.2}x"),
        _ => "-".to_owned(),
    }
}

/// A throughput in Mops/s with three significant digits.
pub fn mops(value: f64) -> String {
    sig3(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert!(duration("5").unwrap_err().contains("not a duration"));
        assert!(positive_duration("0s").is_err());
        assert_eq!(positive_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(period("0s"), Ok(Duration::ZERO));
        assert_eq!(period("1ms"), Ok(Duration::from_millis(1)));
        assert!(period("999us").unwrap_err().contains("at least 1ms"));
    }

    #[test]
    fn formatting() {
        assert_eq!(nanos(850), "850ns");
        assert_eq!(nanos(12_300), "12.3µs");
        assert_eq!(nanos(1_000), "1.00µs");
        assert_eq!(nanos(4_560_000), "4.56ms");
        assert_eq!(nanos(1_200_000_000), "1.20s");
        assert_eq!(ratio(Some(1.234)), "1.23x");
        assert_eq!(ratio(None), "-");
        assert_eq!(mops(123.4), "123");
        assert_eq!(mops(12.34), "12.3");
        assert_eq!(mops(1.234), "1.23");
        assert_eq!(mops(0.1234), "0.123");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(64_500)), "1m 5s");
        assert_eq!(plural(1, "round"), "1 round");
        assert_eq!(plural(2, "round"), "2 rounds");
    }

    #[test]
    fn lock_lists() {
        let public = public_locks();
        assert!(public.iter().any(|i| i.name == "std"));
        assert!(public.iter().all(|i| i.kind != Kind::TestOnly));
        assert!(!default_locks().is_empty());
        assert!(default_locks().iter().all(|i| i.kind != Kind::TestOnly));
    }
}
