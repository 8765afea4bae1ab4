//! What the bench reads from the operating system: CPU time and RSS of a process
//! (`/proc/PID/stat`, `/proc/PID/status`), and the open-files limit.

use std::time::Duration;

use anyhow::{Context, Result};

/// `/proc` reports CPU times in USER_HZ ticks, which Linux fixes at 100 for user space.
const USER_HZ: u64 = 100;

/// Open files the bench asks for when it may raise the hard limit too.
const WANTED_NOFILE: u64 = 262_144;

/// Raises the soft RLIMIT_NOFILE to the hard limit, after trying to raise the hard
/// limit itself (this works with CAP_SYS_RESOURCE, e.g. as root); returns the new soft limit.
pub fn raise_nofile_limit() -> Result<u64> {
    if let Ok((_, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse::<u64>().ok());
        let want = WANTED_NOFILE.min(nr_open.unwrap_or(WANTED_NOFILE));
        if hard < want {
            // Without the capability this fails with EPERM, and the hard limit stays.
            let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, want, want);
        }
    }
    rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")
}

/// utime + stime, in ticks, from the text of `/proc/PID/stat`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time the whole machine spent busy (user, nice, system, irq, softirq, steal), in
/// ticks, from the text of `/proc/stat`.
pub fn parse_proc_stat_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_ascii_whitespace().skip(1).map(|v| v.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    Some(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// Busy CPU time of the whole machine (all cores), from `/proc/stat`.
pub fn machine_busy_time() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_proc_stat_busy_ticks(&text).context("parsing /proc/stat")?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// VmRSS in bytes, from the text of `/proc/PID/status`.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut f = line.split_ascii_whitespace().skip(1);
    let kb: u64 = f.next()?.parse().ok()?;
    Some(kb * 1024)
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(p) => format!("/proc/{p}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// User + system CPU time consumed so far by a process (all its threads, live and exited);
/// `None` means this process. Resolution: 10 ms.
pub fn cpu_time(pid: Option<u32>) -> Result<Duration> {
    let path = proc_path(pid, "stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path} (is the pid right?)"))?;
    let ticks = parse_stat_cpu_ticks(&text).with_context(|| format!("parsing {path}"))?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// Resident set size of a process, in bytes; `None` means this process.
pub fn rss_bytes(pid: Option<u32>) -> Result<u64> {
    let path = proc_path(pid, "status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path} (is the pid right?)"))?;
    parse_status_rss(&text).with_context(|| format!("no VmRSS in {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 350 125 0 0 20 0 8 0 100 1000 200";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(475));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_machine_busy_time() {
        let stat = "cpu  100 2 30 5000 7 1 4 3 0 0\ncpu0 50 1 15 2500 3 0 2 1 0 0\n";
        assert_eq!(parse_proc_stat_busy_ticks(stat), Some(140));
        assert_eq!(parse_proc_stat_busy_ticks("intr 1 2"), None);
        assert!(machine_busy_time().is_ok());
    }

    #[test]
    fn parses_status_rss() {
        let status = "Name:\tjunction\nVmPeak:\t  200 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss(status), Some(12345 * 1024));
        assert_eq!(parse_status_rss("Name: x\n"), None);
    }

    #[test]
    fn reads_own_process() {
        assert!(rss_bytes(None).unwrap() > 0);
        cpu_time(None).unwrap();
        assert!(cpu_time(Some(u32::MAX)).is_err());
    }
}
