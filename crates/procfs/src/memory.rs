//! How much memory a process really uses.
//!
//! Chromium's processes share most of their pages, so their RSS added up counts the same pages
//! many times over; the proportional set size (PSS) from `smaps_rollup` splits each shared page
//! among its users, and the sum over a group is what the group really costs.

use crate::table::Proc;

/// The PSS of `p` in bytes (its RSS where PSS is not readable; 0 once it is gone).
pub fn memory(p: Proc) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/smaps_rollup", p.pid))
        .ok()
        .filter(|_| p.alive())
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
    fn this_process_uses_some_memory_and_a_stranger_none() {
        let me = Proc::of(std::process::id()).unwrap();
        assert!(memory(me) > 0);
        let stranger = Proc {
            pid: me.pid,
            start: me.start + 1,
        };
        assert_eq!(memory(stranger), 0);
    }
}
