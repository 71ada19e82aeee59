//! `ksync trace mutex`: the mutex owner word through a scripted scenario.

use std::process::ExitCode;

/// Why the mutex trace cannot run yet.
pub const UNAVAILABLE: &str = "not available in this build yet: ksync-mutex has no trace hooks";

/// Runs `ksync trace mutex`.
pub fn run(contenders: usize) -> ExitCode {
    eprintln!("ksync trace mutex --contenders {contenders}: {UNAVAILABLE}");
    ExitCode::FAILURE
}
