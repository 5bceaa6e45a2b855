//! How much memory a session's process group uses.
//!
//! Chromium's processes share most of their pages, so their RSS added up counts the same
//! pages many times over; the proportional set size (PSS) from `smaps_rollup` splits each
//! shared page among its users, and the sum is what the group really costs.

/// The PSS of every live process of group `pgid`, in bytes (RSS where PSS is not readable).
pub fn group_memory(pgid: u32) -> u64 {
    crate::process::sweep::processes()
        .filter(|p| p.pgid == pgid && !p.zombie)
        .map(|p| process_memory(p.pid))
        .sum()
}

fn process_memory(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|text| field_kib(&text, "Pss:").or_else(|| field_kib(&text, "Rss:")))
        .map_or(0, |kib| kib * 1024)
}

fn field_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pss_from_smaps_rollup() {
        let text = "00400000-7ffd r--p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1024 kB\nPss_Anon: 10 kB\n";
        assert_eq!(field_kib(text, "Pss:"), Some(1024));
        assert_eq!(field_kib(text, "Rss:"), Some(2048));
        assert_eq!(field_kib(text, "Swap:"), None);
    }

    #[test]
    fn this_process_group_uses_some_memory() {
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_memory(pgid) > 0);
    }
}
