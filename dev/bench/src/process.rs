//! What the harness reads about a process under test from `/proc`.

/// Peak resident set size (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time process `pid` has used so far, user and system, all threads (`/proc/<pid>/stat`
/// fields 14 and 15, in clock ticks of 1/100 s: Linux fixes `USER_HZ` at 100 for `/proc`).
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it follow its `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_processs_peak() {
        let kib = super::peak_rss_kib(std::process::id()).unwrap_or_default();
        assert!(kib > 100, "a running test uses more than 100 KiB: {kib}");
    }

    #[test]
    fn reads_this_processs_cpu_time() {
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let cpu = super::cpu_time(std::process::id()).unwrap_or_default();
        assert!(
            cpu >= std::time::Duration::from_millis(30),
            "{cpu:?} after 50 ms of spinning"
        );
    }
}
