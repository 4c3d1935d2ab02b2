//! Server memory from `/proc`: resident set size (`VmRSS`), its high-water mark
//! (`VmHWM`), and a sampler that records the peak RSS during a scenario.
//!
//! For multi-process servers (gunicorn workers, node cluster) the sampler can sum the
//! RSS of a process and all its descendants.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads `/proc`.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Reads a `kB` field (`VmRSS`, `VmHWM`) of `/proc/PID/status`, in KiB.
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

/// The value of `field` (e.g. `VmRSS`) in the text of a `/proc/PID/status` file.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `pid` and all its descendants, found through the parent pid in `/proc/*/stat`.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((child, ppid));
            }
        }
    }
    let mut tree = vec![pid];
    let mut index = 0;
    while let Some(&parent) = tree.get(index) {
        for &(child, ppid) in &parents {
            if ppid == parent && !tree.contains(&child) {
                tree.push(child);
            }
        }
        index += 1;
    }
    tree
}

/// The RSS of `pid`, or with `tree` of `pid` and its descendants, in KiB.
pub(crate) fn rss_kib(pid: u32, tree: bool) -> Option<u64> {
    if tree {
        let pids = process_tree(pid);
        let mut total = None;
        for p in pids {
            if let Some(kib) = status_kib(p, "VmRSS") {
                total = Some(total.unwrap_or(0) + kib);
            }
        }
        total
    } else {
        status_kib(pid, "VmRSS")
    }
}

/// CPU time (user + system) used so far by `pid`, or with `tree` by `pid` and its
/// descendants, in clock ticks (`/proc/PID/stat` fields 14 and 15).
pub(crate) fn cpu_ticks(pid: u32, tree: bool) -> Option<u64> {
    let pids = if tree { process_tree(pid) } else { vec![pid] };
    let mut total = None;
    for p in pids {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        if let Some(ticks) = parse_stat_ticks(&stat) {
            total = Some(total.unwrap_or(0) + ticks);
        }
    }
    total
}

/// The CPU ticks used so far by every process named `comm` (e.g. `postgres`, whose
/// backends are not the server's children), `None` when there is none.
pub(crate) fn cpu_ticks_named(comm: &str) -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ticks) = parse_stat_ticks(&stat).filter(|_| stat_comm(&stat) == Some(comm)) {
            total = Some(total.unwrap_or(0) + ticks);
        }
    }
    total
}

/// The command name of a `/proc/PID/stat` line: "pid (comm) state …", where comm
/// may hold spaces and parentheses.
fn stat_comm(stat: &str) -> Option<&str> {
    let (_, rest) = stat.split_once(" (")?;
    Some(rest.rsplit_once(')')?.0)
}

/// utime + stime of a `/proc/PID/stat` line.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`, 100 on Linux).
pub(crate) const TICKS_PER_SECOND: f64 = 100.0;

/// The 1-minute load average, to judge how noisy the machine was.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A background thread that samples a process's RSS every 100 ms and keeps the peak.
pub(crate) struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Option<u64>>,
}

impl RssSampler {
    /// Starts sampling `pid` (with its descendants when `tree`).
    pub(crate) fn start(pid: u32, tree: bool) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak: Option<u64> = None;
            loop {
                if let Some(kib) = rss_kib(pid, tree) {
                    peak = Some(peak.map_or(kib, |p| p.max(kib)));
                }
                if flag.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(SAMPLE_INTERVAL);
            }
        });
        RssSampler { stop, handle }
    }

    /// Stops sampling (after one last sample) and returns the peak, in KiB.
    pub(crate) fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

/// KiB as MiB, for printing.
pub(crate) fn mib(kib: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // memory sizes are far below 2^52
    let kib = kib as f64;
    kib / 1024.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let status =
            "Name:\tportcullis\nVmPeak:\t  900 kB\nVmHWM:\t   52340 kB\nVmRSS:\t   40112 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(40112));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(52340));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn parses_cpu_ticks() {
        let stat = "31164 (portcullis (x)) S 1 31164 1 0 -1 4194560 2190 0 0 0 371 92 0 0 20 0 4 0";
        assert_eq!(parse_stat_ticks(stat), Some(463));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(stat_comm(stat), Some("portcullis (x)"));
        assert_eq!(stat_comm("garbage"), None);
    }

    #[test]
    fn counts_the_cpu_of_processes_by_name() {
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        let comm = stat_comm(&own).unwrap().to_owned();
        assert!(
            cpu_ticks_named(&comm).is_some(),
            "this test's own process is found"
        );
        assert_eq!(cpu_ticks_named("no such process, surely"), None);
    }
}
