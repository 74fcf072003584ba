//! What a load run costs a process (memory, CPU), and the open-file limit a
//! big run needs.

use std::time::Duration;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …) in KiB; `pid`
/// `None` is this process. `None` where there is no such file (not Linux) or
/// no such field.
pub fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// This process's peak memory and CPU time so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    /// Peak resident set, KiB.
    pub peak_rss_kib: Option<u64>,
    /// User and system CPU time.
    pub cpu: Option<(Duration, Duration)>,
}

impl ProcessUsage {
    pub fn now() -> ProcessUsage {
        let rusage = rusage_self();
        // VmHWM is the resident set's high-water mark on Linux; elsewhere
        // getrusage's ru_maxrss is the only figure.
        ProcessUsage {
            peak_rss_kib: status_kib(None, "VmHWM").or(rusage.map(|r| r.2)),
            cpu: rusage.map(|r| (r.0, r.1)),
        }
    }
}

/// User time, system time and peak RSS (KiB) of this process.
#[cfg(unix)]
fn rusage_self() -> Option<(Duration, Duration, u64)> {
    // SAFETY: `getrusage` only writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return None;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    // ru_maxrss is KiB on Linux, bytes on macOS.
    let maxrss = usage.ru_maxrss.max(0) as u64;
    let maxrss_kib = if cfg!(target_os = "macos") {
        maxrss / 1024
    } else {
        maxrss
    };
    Some((tv(usage.ru_utime), tv(usage.ru_stime), maxrss_kib))
}

#[cfg(not(unix))]
fn rusage_self() -> Option<(Duration, Duration, u64)> {
    None
}

/// Raises the soft open-file limit to the hard one and returns the soft
/// limit now in force (`None` if unknown). Every request in flight holds a
/// socket, and 1024, a common default, is too few for a big run.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on structs we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // rlim_t is u64 on Linux but not on every unix.
    #[allow(clippy::unnecessary_cast)]
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::{status_kib, ProcessUsage};

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_resident_set_and_used_cpu() {
        let rss = status_kib(None, "VmRSS").expect("VmRSS of this process");
        assert!(rss > 0);
        let own = status_kib(Some(std::process::id()), "VmHWM").expect("VmHWM by pid");
        assert!(own >= rss / 2, "VmHWM {own} KiB, VmRSS {rss} KiB");
        // A field name is matched whole: `VmRS` is not `VmRSS`.
        assert_eq!(status_kib(None, "VmRS"), None);
        let usage = ProcessUsage::now();
        assert!(usage.peak_rss_kib.is_some_and(|k| k > 0));
        assert!(usage.cpu.is_some());
    }
}
