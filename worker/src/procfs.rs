//! Reading `/proc`: which processes are in a process group, and which ones run on a profile.
//!
//! Chromium's helper processes rewrite their command line into one space-separated string, so a
//! command line is searched as a whole (NULs turned into spaces), and a profile matches only as a
//! whole value: `--user-data-dir=/p/s1` must not match `/p/s10`.

use std::fs;
use std::path::Path;

/// Every pid under `/proc` (processes that vanish while being read are skipped by callers).
fn pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The state letter and process group of `pid`, from `/proc/PID/stat`.
fn state_and_pgid(pid: i32) -> Option<(char, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// The third and fifth fields of `stat`; the command name (second field) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgid = fields.nth(1)?.parse().ok()?;
    Some((state, pgid))
}

/// The whole command line of `pid`, NUL separators turned into spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&raw).replace('\0', " ");
    Some(text.trim_end().to_owned())
}

/// The processes of group `pgid` that have not exited yet (zombies are left out: they only
/// wait for their parent to reap them).
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    pids()
        .into_iter()
        .filter(|&pid| matches!(state_and_pgid(pid), Some((state, group)) if group == pgid && state != 'Z'))
        .collect()
}

/// Does `cmdline` carry `--user-data-dir=PROFILE` for exactly this profile?
pub fn uses_profile(cmdline: &str, profile: &Path) -> bool {
    let needle = format!("--user-data-dir={}", profile.display());
    cmdline.match_indices(&needle).any(|(at, _)| {
        cmdline[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ')
    })
}

/// Processes anywhere on the machine that run on `profile`.
pub fn processes_using_profile(profile: &Path) -> Vec<i32> {
    pids()
        .into_iter()
        .filter(|&pid| cmdline(pid).is_some_and(|line| uses_profile(&line, profile)))
        .collect()
}

/// The browser process of this worker: in the worker's group, on the profile, and not one of
/// Chromium's helpers (which all carry `--type=`).
pub fn browser_pid(profile: &Path) -> Option<u32> {
    let own = std::process::id() as i32;
    live_group_members(own).into_iter().find_map(|pid| {
        let line = cmdline(pid)?;
        (uses_profile(&line, profile) && !line.contains("--type=")).then_some(pid as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let stat = "4242 (we ird) (name)) S 1 4200 4200 0 -1 4194560";
        assert_eq!(parse_stat(stat), Some(('S', 4200)));
        assert_eq!(parse_stat("4243 (x) Z 1 17 17 0"), Some(('Z', 17)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn profile_matches_the_whole_value_only() {
        let p = Path::new("/data/profiles/s1");
        assert!(uses_profile(
            "chromium --user-data-dir=/data/profiles/s1",
            p
        ));
        assert!(uses_profile(
            "chromium --type=renderer --user-data-dir=/data/profiles/s1 --lang=en",
            p
        ));
        assert!(!uses_profile(
            "chromium --user-data-dir=/data/profiles/s10",
            p
        ));
        assert!(!uses_profile(
            "chromium --user-data-dir=/data/profiles/s10 --x --user-data-dir=/data/profiles/s1x",
            p
        ));
        assert!(uses_profile(
            "chromium --user-data-dir=/data/profiles/s10 --user-data-dir=/data/profiles/s1",
            p
        ));
        assert!(!uses_profile("chromedriver --port=9515", p));
    }

    #[test]
    fn this_process_is_in_its_group_listing() {
        let own = std::process::id() as i32;
        let (_, pgid) = state_and_pgid(own).unwrap();
        assert!(live_group_members(pgid).contains(&own));
        assert!(cmdline(own).is_some());
    }
}
