//! The machine a measurement ran on: CPU model, core count, backend.
//!
//! Lock results flip with the core count and with threads outnumbering cores (a preempted
//! spinlock holder or ticket-queue waiter stalls everyone behind it), so every report names
//! the machine, as parking_lot's benchmark notes recommend.

use core::fmt;

/// What a measurement ran on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The CPU model (`model name` in `/proc/cpuinfo`; `"unknown CPU"` where there is none).
    pub cpu_model: String,
    /// The CPUs this process may use (`std::thread::available_parallelism`, which follows
    /// affinity masks and cgroup quotas).
    pub cores: usize,
    /// Which ksync backend this build uses: `"x86-64 asm"` or `"portable"`.
    pub backend: &'static str,
    /// The operating system (`std::env::consts::OS`).
    pub os: &'static str,
}

impl Machine {
    /// Detects this machine.
    ///
    /// ```
    /// let m = ksync::harness::machine::Machine::detect();
    /// assert!(m.cores >= 1);
    /// assert!(!m.cpu_model.is_empty());
    /// ```
    pub fn detect() -> Self {
        Machine {
            cpu_model: cpu_model().unwrap_or_else(|| "unknown CPU".to_owned()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            backend: match ksync_barrier::BACKEND {
                ksync_barrier::Backend::X86Asm => "x86-64 asm",
                ksync_barrier::Backend::Portable => "portable",
            },
            os: std::env::consts::OS,
        }
    }

    /// Whether `threads` runnable threads outnumber this machine's cores.
    pub fn oversubscribed(&self, threads: usize) -> bool {
        threads > self.cores
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {} core{}, {} backend",
            self.cpu_model,
            self.cores,
            if self.cores == 1 { "" } else { "s" },
            self.backend
        )
    }
}

/// The first `model name` of `/proc/cpuinfo` (Linux), whitespace collapsed.
fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    parse_cpu_model(&text)
}

fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name")
            .then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_first_model_name() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD  EPYC 7B13\n\
                    processor\t: 1\nmodel name\t: other\n";
        assert_eq!(parse_cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(parse_cpu_model("processor : 0\n"), None);
        assert_eq!(parse_cpu_model("model name :   \n"), None);
    }

    #[test]
    fn oversubscription_is_threads_above_cores() {
        let m = Machine {
            cpu_model: "x".into(),
            cores: 2,
            backend: "portable",
            os: "linux",
        };
        assert!(!m.oversubscribed(2));
        assert!(m.oversubscribed(3));
        assert_eq!(m.to_string(), "x, 2 cores, portable backend");
    }
}
