//! The `ksync` binary end to end: help, torture of every registered lock, the negative control,
//! bad input, `bench --json`/`--svg`, litmus, the qspinlock trace, and a shortened tour.
//!
//! The runs are short (a few hundred milliseconds each) and serialised, so that concurrent
//! tests do not starve each other's threads on a small machine; no assertion depends on
//! timing.

use std::process::Output;
use std::sync::{Mutex, MutexGuard, PoisonError};

use assert_cmd::cargo::cargo_bin_cmd;
use ksync::harness::locks::{Kind, LOCKS};

/// Serialises the tests that load the CPU.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ksync(args: &[&str]) -> Output {
    cargo_bin_cmd!("ksync")
        .args(args)
        .output()
        .expect("the ksync binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a usage error: exit status 2 and `needle` in the message.
fn usage_error(args: &[&str], needle: &str) -> String {
    let o = ksync(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: `{needle}` not in:\n{err}");
    err
}

#[test]
fn help_for_every_subcommand() {
    let top = ksync(&["--help"]);
    assert!(top.status.success());
    let text = stdout(&top);
    for sub in ["torture", "bench", "litmus", "trace", "tour"] {
        assert!(text.contains(sub), "`{sub}` missing from ksync --help");
        let o = ksync(&[sub, "--help"]);
        assert!(o.status.success(), "ksync {sub} --help failed");
        assert!(
            stdout(&o).contains(&format!("Usage: ksync {sub}")),
            "ksync {sub} --help:\n{}",
            stdout(&o)
        );
    }
    // The lock lists name every public lock and hide the test-only ones.
    let torture = stdout(&ksync(&["torture", "--help"]));
    for info in LOCKS {
        assert_eq!(
            torture.contains(&format!("- {}:", info.name)),
            info.kind != Kind::TestOnly,
            "{} in torture --help",
            info.name
        );
    }
}

#[test]
fn short_torture_of_every_registered_lock_succeeds() {
    let _serial = heavy();
    for info in LOCKS.iter().filter(|i| i.kind != Kind::TestOnly) {
        let o = ksync(&[
            "torture",
            "--lock",
            info.name,
            "--duration",
            "300ms",
            "--threads",
            "4",
            "--stat-interval",
            "100ms",
        ]);
        let out = stdout(&o);
        assert!(o.status.success(), "{}:\n{out}\n{}", info.name, stderr(&o));
        assert!(out.contains(&format!("{}-torture:--- Start of test:", info.name)));
        assert!(out.contains(&format!("{}-torture: Writes:  Total: ", info.name)));
        assert!(out.contains("Fail: 0"), "{out}");
        assert!(
            out.contains(&format!("{}-torture:--- End of test: SUCCESS", info.name)),
            "{out}"
        );
    }
}

#[test]
fn torture_with_every_knob_succeeds() {
    let _serial = heavy();
    let o = ksync(&[
        "torture",
        "--lock",
        "parking_lot",
        "-d",
        "500ms",
        "-t",
        "3",
        "--hold",
        "50",
        "--long-hold",
        "20ms",
        "--stutter",
        "100ms",
        "--shuffle",
        "100ms",
        "--stat-interval",
        "200ms",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("long holds: "), "{out}");
    assert!(out.contains("stutter pauses: "), "{out}");
    assert!(out.contains("CPU shuffles: "), "{out}");
    assert!(
        out.contains("nwriters_stress=3 duration=500ms hold=50 long_hold=20ms stutter=100ms shuffle_interval=100ms stat_interval=200ms"),
        "{out}"
    );
    assert!(out.contains("End of test: SUCCESS"), "{out}");
}

#[test]
fn lock_busted_fails_torture() {
    let _serial = heavy();
    let o = ksync(&[
        "torture",
        "--lock",
        "lock_busted",
        "--duration",
        "300ms",
        "--threads",
        "4",
        "--hold",
        "200",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("!!!"), "{out}");
    assert!(out.contains("lock_busted-torture: FAILURE: "), "{out}");
    assert!(
        out.contains("lock_busted-torture:--- End of test: FAILURE"),
        "{out}"
    );
}

#[test]
fn bad_input_is_a_usage_error() {
    // An unknown lock lists the valid names, but not the test-only ones.
    let err = usage_error(&["torture", "--lock", "nope"], "invalid value 'nope'");
    assert!(err.contains("std") && err.contains("parking_lot"), "{err}");
    assert!(!err.contains("lock_busted"), "{err}");
    usage_error(&["bench", "--lock", "std,nope"], "invalid value 'nope'");
    usage_error(&["torture", "--threads", "0"], "0 is not in 1..=1024");
    usage_error(&["torture", "--threads", "many"], "invalid digit");
    usage_error(&["bench", "--threads", "1,0"], "0 is not in 1..=1024");
    usage_error(&["torture", "--duration", "5"], "not a duration");
    usage_error(&["torture", "--duration", "fast"], "not a duration");
    usage_error(&["torture", "--duration", "0s"], "longer than zero");
    usage_error(&["bench", "--duration=-1s"], "not a duration");
    usage_error(&["torture", "--duration", "1000y"], "longer than the limit");
    usage_error(&["tour", "--bench-budget", "8d"], "longer than the limit");
    usage_error(&["bench", "--rounds", "0"], "0 is not in 1..=99");
    usage_error(&["torture", "--stat-interval", "1ns"], "at least 1ms");
    usage_error(&["torture", "--hold", "2000000"], "not in 0..=1000000");
    usage_error(&["litmus", "--test", "XYZ"], "invalid value 'XYZ'");
    usage_error(&["trace", "spinlock"], "invalid value 'spinlock'");
    usage_error(
        &["trace", "qspinlock", "--contenders", "0"],
        "not in 1..=64",
    );
    usage_error(&["frobnicate"], "unrecognized subcommand");
    usage_error(&["torture", "--no-such-flag"], "unexpected argument");
}

#[test]
fn bench_json_parses_and_svg_is_written() {
    let _serial = heavy();
    let svg = std::env::temp_dir().join(format!("ksync-cli-test-{}.svg", std::process::id()));
    let o = ksync(&[
        "bench",
        "--lock",
        "spin",
        "--threads",
        "1,2",
        "--cs",
        "1",
        "--ncs",
        "5",
        "--duration",
        "50ms",
        "--rounds",
        "2",
        "--json",
        "--svg",
        svg.to_str().expect("a UTF-8 temp path"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["tool"], "ksync bench");
    assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(v["machine"]["cpu_model"].is_string());
    assert_eq!(v["config"]["rounds"], 2);
    assert_eq!(
        v["config"]["locks"],
        serde_json::json!(["std", "parking_lot", "spin"])
    );
    let points = v["points"].as_array().unwrap();
    // 3 locks (spin plus the two baselines) x 2 thread counts.
    assert_eq!(points.len(), 6);
    for p in points {
        for field in ["lock", "kind", "threads", "cs", "ncs", "mops", "fairness"] {
            assert!(!p[field].is_null(), "{field} missing in {p}");
        }
        for field in ["p50", "p99", "max"] {
            assert!(p["wait_ns"][field].is_u64(), "wait_ns.{field} in {p}");
        }
        assert_eq!(p["excluded"], true);
        assert_eq!(p["rounds"].as_array().unwrap().len(), 2);
        let r = &p["rounds"][0];
        let per_thread: u64 = r["per_thread"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(per_thread, r["total"].as_u64().unwrap());
        assert_eq!(r["payload_count"], r["total"]);
        if p["lock"] == "std" {
            assert_eq!(p["vs_std"], 1.0);
        }
        if p["lock"] == "parking_lot" {
            assert_eq!(p["vs_parking_lot"], 1.0);
        }
    }
    let chart = std::fs::read_to_string(&svg).expect("the SVG was written");
    let _ = std::fs::remove_file(&svg);
    assert!(
        chart.starts_with("<svg"),
        "{}",
        &chart[..chart.len().min(200)]
    );
    assert!(chart.contains("spin") && chart.contains("parking_lot"));
    assert!(chart.contains("throughput vs threads"));
}

#[test]
fn bench_table_names_the_machine_and_the_ratios() {
    let _serial = heavy();
    let o = ksync(&[
        "bench", "--lock", "std", "-t", "1", "--cs", "1", "-d", "30ms", "-r", "1",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("machine: ") && out.contains("cores"), "{out}");
    assert!(
        out.contains("vs std") && out.contains("vs pl") && out.contains("1.00x"),
        "{out}"
    );
    assert!(out.contains("wait p50") && out.contains("fair"), "{out}");
}

#[test]
fn bench_flags_a_lock_that_loses_updates() {
    let _serial = heavy();
    let o = ksync(&[
        "bench",
        "--lock",
        "lock_busted",
        "-t",
        "4",
        "--cs",
        "200",
        "--ncs",
        "0",
        "-d",
        "100ms",
        "-r",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("LOST UPDATES"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("lock_busted failed to exclude"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn litmus_sees_no_forbidden_outcome() {
    let _serial = heavy();
    let o = ksync(&["litmus", "--iterations", "8192", "--time-limit", "200ms"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    for test in ksync_litmus::TESTS {
        assert!(
            out.contains(test.kernel_name),
            "{} missing:\n{out}",
            test.name
        );
    }
    assert!(
        out.contains("All forbidden outcomes stayed unseen."),
        "{out}"
    );
}

#[test]
fn trace_qspinlock_prints_the_expected_transitions() {
    let o = ksync(&["trace", "qspinlock", "--contenders", "3"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // The three-contender scenario: fast path, pending lane, one queued, then down the line.
    let expect = [
        ("T0", "fast path", "(0,0,1)"),
        ("T1", "pending lane", "(0,1,1)"),
        ("T2", "xchg_tail: queued", "(T2:0,1,1)"),
        ("T0", "unlock", "(T2:0,1,0)"),
        ("T1", "clear_pending_set_locked", "(T2:0,0,1)"),
        ("T1", "unlock", "(T2:0,0,0)"),
        ("T2", "last in queue", "(0,0,1)"),
        ("T2", "unlock", "(0,0,0)"),
    ];
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("->")).collect();
    let transitions: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .collect();
    assert_eq!(transitions.len(), expect.len(), "{out}");
    for (line, (who, what, word)) in transitions.iter().zip(expect) {
        assert!(
            line.contains(who) && line.contains(what) && line.trim_end().ends_with(word),
            "expected {who} {what} {word}, got: {line}\n{out}"
        );
    }
    assert!(out.contains("followed the kernel's state diagram"), "{out}");
}

#[test]
fn trace_mutex_prints_the_owner_word_protocol() {
    let o = ksync(&["trace", "mutex", "--contenders", "3"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for step in [
        "fast path",
        "first waiter queued",
        "HANDOFF set",
        "handed to the first waiter",
        "picked up the handoff",
        "fast unlock",
    ] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
    assert!(
        out.contains("ended unlocked with no flag left set"),
        "{out}"
    );
}

#[test]
fn a_short_tour_runs_every_step_and_ends_with_a_summary() {
    let _serial = heavy();
    let o = ksync(&[
        "tour",
        "--litmus-time",
        "50ms",
        "--torture-duration",
        "200ms",
        "--bench-budget",
        "1s",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for step in [
        "[1/4] litmus",
        "[2/4] torture",
        "[3/4] bench",
        "[4/4] trace",
    ] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(
        out.contains("8* threads") || out.contains("8 threads"),
        "{out}"
    );
    assert!(out.contains("Summary"), "{out}");
    assert!(out.contains("Everything passed."), "{out}");
}
