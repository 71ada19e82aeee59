//! The one-line swap from `std::sync` to `ksync::compat`, checked by the compiler.
//!
//! `std_swap/program.rs` is a small program written against `std::sync` (a job queue on a
//! `Mutex` and a `Condvar`, poisoning and recovery, `try_lock`, a timed wait, a `static` mutex,
//! unsized data). It is compiled twice, in two modules whose only difference is the `use` line,
//! and both builds run: they must produce the same report. `main` also checks that the two
//! `use` lines differ only in `std::sync` versus `ksync::compat`.
//!
//! ```text
//! cargo run --example std_swap
//! ```

mod with_std {
    #[rustfmt::skip]
    use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
    include!("std_swap/program.rs");
}

mod with_ksync {
    #[rustfmt::skip]
    use ksync::compat::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
    include!("std_swap/program.rs");
}

fn main() {
    // The two `use` lines above, read from this very file: nothing but the path may differ.
    let source = include_str!("std_swap.rs");
    let line = |prefix: &str| {
        let mut lines = source
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(prefix));
        let found = lines.next().unwrap_or_else(|| panic!("no `{prefix}` line"));
        assert!(lines.next().is_none(), "more than one `{prefix}` line");
        found
    };
    let std_line = line("use std::sync::{");
    let ksync_line = line("use ksync::compat::{");
    assert_eq!(
        std_line.replacen("std::sync", "ksync::compat", 1),
        ksync_line
    );

    // The program's worker panics on purpose; keep that one message off the terminal.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"worker panics on purpose") {
            default_hook(info);
        }
    }));

    let with_std = with_std::run();
    let with_ksync = with_ksync::run();
    assert_eq!(with_std, with_ksync, "the two builds behaved differently");
    println!("{with_ksync}");
    println!("std::sync and ksync::compat builds agree ({ksync_line})");
}
