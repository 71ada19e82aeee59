//! `ksync`: the ksync tool. locktorture, lock benchmarks, LKMM litmus tests and lock-word traces
//! in one command; with no subcommand, a tour of all of them in about a minute and a half.
//!
//! The engines live in the `ksync` library (`ksync::harness`, feature `harness`) and in
//! `ksync_litmus`; this binary parses the command line, runs them, and prints.
//! `docs/cli.md` documents every subcommand and how locktorture's parameters map to ours.
//!
//! Exit status: 0 when everything passed; 1 when a check failed (a torture FAILURE, a litmus
//! outcome the LKMM forbids, a benchmark that lost updates, or a trace that left the kernel's
//! state diagram); 2 for bad command-line input.

mod bench;
mod chart;
mod litmus;
mod options;
mod progress;
mod torture;
mod tour;
mod trace;
mod trace_mutex;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kernel-style locks, checked and measured on this machine.
///
/// With no subcommand, `ksync` runs the tour: a short litmus run, a torture of every ksync
/// lock, and a one-minute benchmark summary against std and parking_lot.
#[derive(Debug, Parser)]
#[command(name = "ksync", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The user-space locktorture: writer threads hammer one lock; exclusion is checked three
    /// ways; prints locktorture's statistics lines and `End of test: SUCCESS|FAILURE`.
    Torture(torture::Args),
    /// Throughput, fairness and wait latency of the locks, side by side with std and
    /// parking_lot, over thread counts and critical-section sizes.
    Bench(bench::Args),
    /// The LKMM litmus tests (SB, MP, LB, R, with and without barriers) on real threads: each
    /// outcome's count, and whether the kernel's memory model allows it.
    Litmus(litmus::Args),
    /// Trace a lock word (qspinlock or mutex) through a scripted contention scenario, step by
    /// step, next to the kernel's state diagram.
    Trace(trace::Args),
    /// The tour (what `ksync` with no subcommand runs), with its step lengths adjustable.
    Tour(tour::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Torture(args)) => torture::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::Litmus(args)) => litmus::run(&args),
        Some(Command::Trace(args)) => trace::run(&args),
        Some(Command::Tour(args)) => tour::run(&args),
        None => tour::run(&tour::Args::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
