//! Progress bars (indicatif) for anything that runs longer than a second.
//!
//! Bars draw on stderr, and only when stderr is a terminal: piped or captured output (CI, the
//! tests, `--json > file`) carries no escape codes. Lines printed while a bar is up go through
//! [`Bar::println`], which lifts the bar, prints to stdout, and redraws it.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Anything shorter than this gets no bar.
const MIN_FOR_A_BAR: Duration = Duration::from_secs(1);

/// A progress bar that may be absent (short work, or stderr not a terminal).
pub struct Bar {
    bar: Option<ProgressBar>,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

fn wanted(expected: Duration) -> bool {
    expected > MIN_FOR_A_BAR && std::io::stderr().is_terminal()
}

impl Bar {
    /// A bar over `steps` steps, for work expected to take `expected`.
    pub fn steps(steps: u64, expected: Duration, prefix: &str) -> Self {
        let bar = wanted(expected).then(|| {
            let bar = ProgressBar::new(steps);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, ~{eta} left)",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(prefix.to_owned());
            bar
        });
        Bar { bar, ticker: None }
    }

    /// A bar that fills with wall-clock time over `expected` (for one long blocking call).
    pub fn timed(expected: Duration, prefix: &str) -> Self {
        if !wanted(expected) {
            return Bar {
                bar: None,
                ticker: None,
            };
        }
        let total_ms = u64::try_from(expected.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::new(total_ms);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {msg} ({elapsed} of {len_human})")
                .expect("valid template")
                .with_key(
                    "len_human",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{}s", state.len().unwrap_or(0).div_ceil(1000));
                    },
                )
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_owned());
        let done = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (bar, done) = (bar.clone(), done.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                // Relaxed: a display flag; `finish` joins this thread.
                while !done.load(Ordering::Relaxed) {
                    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                    bar.set_position(ms.min(total_ms));
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Bar {
            bar: Some(bar),
            ticker: Some((done, ticker)),
        }
    }

    /// Advances a step bar by one and shows `msg`.
    pub fn step(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(msg.to_owned());
        }
    }

    /// Shows `msg` next to the bar.
    pub fn message(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_owned());
        }
    }

    /// Prints `line` on stdout without garbling the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((done, ticker)) = self.ticker.take() {
            // Relaxed: a display flag; the join below synchronises with the ticker.
            done.store(true, Ordering::Relaxed);
            let _ = ticker.join();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop();
    }
}
