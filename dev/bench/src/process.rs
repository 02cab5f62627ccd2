//! What the harness reads about a process under test from `/proc`.

/// Peak resident set size (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_processs_peak() {
        let kib = super::peak_rss_kib(std::process::id()).unwrap_or_default();
        assert!(kib > 100, "a running test uses more than 100 KiB: {kib}");
    }
}
