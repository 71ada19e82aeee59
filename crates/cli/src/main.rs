//! `ksync`: the ksync tool. For now it runs the LKMM litmus tests on this machine and prints
//! their outcome table; torture, bench and trace join it as their crates land.

use std::process::ExitCode;
use std::time::Duration;

use ksync_barrier::litmus::{self, Config, Verdict, TESTS};

fn main() -> ExitCode {
    println!(
        "ksync litmus: LKMM shapes on real threads ({} backend)\n",
        match ksync_barrier::BACKEND {
            ksync_barrier::Backend::X86Asm => "x86-64 asm",
            ksync_barrier::Backend::Portable => "portable",
        }
    );
    println!(
        "{:<12} {:<38} {:<10} {:<6} {:>10} {:>12}  verdict",
        "test", "kernel name", "LKMM", "x86", "seen", "iterations"
    );
    let mut failures = 0;
    for test in TESTS {
        let report = litmus::run(
            test,
            &Config {
                iterations: 200_000,
                time_limit: Some(Duration::from_secs(2)),
                ..Config::default()
            },
        );
        let verdict = if report.violation() {
            failures += 1;
            "FAIL: forbidden outcome seen"
        } else if test.lkmm == Verdict::Allowed && report.observed() {
            "ok (allowed, seen)"
        } else {
            "ok"
        };
        println!(
            "{:<12} {:<38} {:<10} {:<6} {:>10} {:>12}  {}",
            test.name,
            test.kernel_name,
            test.lkmm.to_string(),
            if test.x86_observable { "yes" } else { "no" },
            report.exists_count,
            report.iterations,
            verdict
        );
    }
    if failures == 0 {
        println!("\nAll forbidden outcomes stayed unseen.");
        ExitCode::SUCCESS
    } else {
        println!("\n{failures} test(s) saw an outcome the LKMM forbids.");
        ExitCode::FAILURE
    }
}
