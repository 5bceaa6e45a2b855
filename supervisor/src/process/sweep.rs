//! Finding browsers by the profile on their command line, through `/proc`.
//!
//! Every Chromium process carries `--user-data-dir=PROFILE`; its children rewrite their
//! command line into one space-separated string, so the whole line is searched, and the value
//! must end there (`s1` must never match `s10`). This finds orphans of a crashed supervisor and
//! stragglers of a killed worker, and never touches a browser that is not ours.

use std::collections::HashMap;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// One row of the process table.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub zombie: bool,
    /// Clock ticks after boot: with the pid, it names one process even after its pid is reused.
    pub start: u64,
}

/// Every process visible in `/proc`; processes that vanish while being read are skipped.
pub fn processes() -> impl Iterator<Item = ProcessInfo> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            parse_stat(pid, &stat)
        })
}

/// `/proc/PID/stat`: the command name is in parentheses and may hold spaces and `)`, so the
/// fields are counted from the last `)`.
fn parse_stat(pid: u32, stat: &str) -> Option<ProcessInfo> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(ProcessInfo {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        zombie: *fields.first()? == "Z",
        start: fields.get(19)?.parse().ok()?,
    })
}

fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim_end()
            .to_owned(),
    )
}

/// Whether `cmdline` names exactly `profile` as its `--user-data-dir`.
pub fn uses_profile(cmdline: &str, profile: &str) -> bool {
    let needle = format!("--user-data-dir={profile}");
    cmdline.match_indices(&needle).any(|(at, _)| {
        matches!(
            cmdline[at + needle.len()..].chars().next(),
            None | Some(' ')
        )
    })
}

/// The session whose profile under `sessions_dir` (`SESSIONS/ID/profile`) `cmdline` uses.
pub fn session_of(cmdline: &str, sessions_dir: &str) -> Option<String> {
    let needle = format!("--user-data-dir={sessions_dir}/");
    cmdline.match_indices(&needle).find_map(|(at, _)| {
        let rest = &cmdline[at + needle.len()..];
        let (id, after) = rest.split_once("/profile")?;
        let ends = matches!(after.chars().next(), None | Some(' '));
        (ends && crate::sessions::session::valid_session_id(id)).then(|| id.to_owned())
    })
}

/// Live processes using a profile under `sessions_dir`, by session id.
pub fn browsers_under(sessions_dir: &Path) -> HashMap<String, Vec<ProcessInfo>> {
    let dir = sessions_dir.to_string_lossy();
    let mut found: HashMap<String, Vec<ProcessInfo>> = HashMap::new();
    for p in processes().filter(|p| !p.zombie) {
        if let Some(id) = command_line(p.pid).and_then(|c| session_of(&c, &dir)) {
            found.entry(id).or_default().push(p);
        }
    }
    found
}

/// Browsers on a profile under `sessions_dir` that no live worker owns (their session has no
/// worker now, or they left the group of the one it has), with the chromedrivers of their
/// process groups. `owners` maps a session to its worker's pid, which is also its group.
pub fn orphans(sessions_dir: &Path, owners: &HashMap<String, u32>) -> Vec<u32> {
    let browsers: Vec<ProcessInfo> = browsers_under(sessions_dir)
        .into_iter()
        .flat_map(|(id, procs)| {
            let owner = owners.get(&id).copied();
            procs.into_iter().filter(move |p| Some(p.pgid) != owner)
        })
        .collect();
    let groups: Vec<u32> = browsers.iter().map(|p| p.pgid).collect();
    let drivers = processes().filter(|p| {
        !p.zombie
            && groups.contains(&p.pgid)
            && command_line(p.pid).is_some_and(|c| runs(&c, "chromedriver"))
    });
    browsers
        .iter()
        .map(|p| p.pid)
        .chain(drivers.map(|p| p.pid))
        .collect()
}

/// `wamux-worker`s of sessions under `sessions_dir` that are not children of this process:
/// orphans of a daemon that died. Each leads the process group of its chromedriver and
/// browsers.
pub fn orphan_workers(sessions_dir: &Path) -> Vec<ProcessInfo> {
    let needle = format!("--profile-dir {}/", sessions_dir.to_string_lossy());
    let me = std::process::id();
    processes()
        .filter(|p| !p.zombie && p.ppid != me)
        .filter(|p| {
            command_line(p.pid).is_some_and(|c| runs(&c, "wamux-worker") && c.contains(&needle))
        })
        .collect()
}

/// Ends orphan workers and their groups: SIGTERM first, so each can close its browser
/// cleanly (which flushes the profile), then after `grace` SIGKILL to every group left.
pub async fn end_orphan_workers(sessions_dir: &Path, grace: std::time::Duration) -> usize {
    let orphans = orphan_workers(sessions_dir);
    for p in &orphans {
        let _ = kill(Pid::from_raw(p.pid as i32), Signal::SIGTERM);
    }
    wait_gone(&orphans, grace).await;
    for p in &orphans {
        let _ = crate::process::kill::kill_group(p.pid);
    }
    orphans.len()
}

/// Whether `cmdline` runs the executable called `name`, wherever it is installed.
fn runs(cmdline: &str, name: &str) -> bool {
    cmdline
        .split(' ')
        .next()
        .is_some_and(|exe| exe.rsplit('/').next() == Some(name))
}

/// Live processes using exactly `profile`.
pub fn browsers_on(profile: &Path) -> Vec<u32> {
    let profile = profile.to_string_lossy();
    processes()
        .filter(|p| !p.zombie)
        .filter(|p| command_line(p.pid).is_some_and(|c| uses_profile(&c, &profile)))
        .map(|p| p.pid)
        .collect()
}

/// What a killed Chromium leaves once nothing runs on `profile`: the profile's `Singleton*`
/// links and the `/tmp/org.chromium.*` folder its `SingletonSocket` points into (Chromium
/// removes both itself when it closes cleanly; one folder per SIGKILL would pile up forever).
pub fn remove_browser_leftovers(profile: &Path) {
    let socket = profile.join("SingletonSocket");
    if let Ok(target) = std::fs::read_link(&socket)
        && let Some(folder) = target.parent()
        && folder.starts_with(std::env::temp_dir())
        && folder
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("org.chromium."))
    {
        let _ = std::fs::remove_dir_all(folder);
    }
    for name in ["SingletonLock", "SingletonSocket", "SingletonCookie"] {
        let _ = std::fs::remove_file(profile.join(name));
    }
}

/// SIGKILL to each pid; those already gone are skipped. Returns how many were signalled.
pub fn kill_all(pids: &[u32]) -> usize {
    pids.iter()
        .filter(|&&pid| kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok())
        .count()
}

fn info(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// SIGKILL to each pid, then waits (at most `limit`) until they are dead: a signal is
/// delivered asynchronously, and a browser still dying holds its profile lock. A pid taken by
/// a new process meanwhile does not count as the old one.
pub async fn kill_and_wait(pids: &[u32], limit: std::time::Duration) -> bool {
    let seen: Vec<ProcessInfo> = pids.iter().filter_map(|&pid| info(pid)).collect();
    kill_all(pids);
    wait_gone(&seen, limit).await
}

/// Waits (at most `limit`) until none of the processes `seen` lives; `true` when none does.
/// A pid taken by a new process meanwhile does not count as the one seen.
async fn wait_gone(seen: &[ProcessInfo], limit: std::time::Duration) -> bool {
    let alive =
        |p: &ProcessInfo| info(p.pid).is_some_and(|now| !now.zombie && now.start == p.start);
    let deadline = tokio::time::Instant::now() + limit;
    while seen.iter().any(alive) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_match_is_exact() {
        let line = "/usr/lib/chromium/chromium --type=renderer --user-data-dir=/d/sessions/s1/profile --lang=en";
        assert!(uses_profile(line, "/d/sessions/s1/profile"));
        assert!(!uses_profile(line, "/d/sessions/s/profile"));
        assert!(!uses_profile(line, "/d/sessions/s1/prof"));
        let s10 = "chromium --user-data-dir=/d/sessions/s10/profile";
        assert!(!uses_profile(s10, "/d/sessions/s1/profile"));
        assert!(uses_profile(s10, "/d/sessions/s10/profile"));
        assert!(uses_profile("x --user-data-dir=/p", "/p"));
    }

    #[test]
    fn session_is_read_from_a_command_line() {
        let dir = "/var/lib/wamux/sessions";
        assert_eq!(
            session_of(
                "chromium --user-data-dir=/var/lib/wamux/sessions/ab-1/profile --x",
                dir
            )
            .as_deref(),
            Some("ab-1")
        );
        assert_eq!(
            session_of(
                "chromium --user-data-dir=/var/lib/wamux/sessions/ab-1/profile",
                dir
            )
            .as_deref(),
            Some("ab-1")
        );
        assert_eq!(
            session_of(
                "chromium --user-data-dir=/var/lib/wamux/sessions/ab-1/profile2",
                dir
            ),
            None
        );
        assert_eq!(
            session_of("chromium --user-data-dir=/other/sessions/ab-1/profile", dir),
            None
        );
        assert_eq!(
            session_of(
                "chromium --user-data-dir=/var/lib/wamux/sessions/a/b/profile",
                dir
            ),
            None
        );
    }

    #[test]
    fn processes_are_known_by_their_executable() {
        assert!(runs("/usr/bin/chromedriver --port=1234", "chromedriver"));
        assert!(runs("chromedriver", "chromedriver"));
        assert!(!runs("/usr/bin/vim chromedriver", "chromedriver"));
        assert!(runs(
            "/usr/local/bin/wamux-worker --session-id a",
            "wamux-worker"
        ));
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let tail = "0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10";
        let p = parse_stat(42, &format!("42 (a) b) c) S 1 40 40 {tail}")).unwrap();
        assert_eq!((p.ppid, p.pgid, p.zombie, p.start), (1, 40, false, 12345));
        assert!(
            parse_stat(43, &format!("43 (x) Z 1 43 43 {tail}"))
                .unwrap()
                .zombie
        );
        assert!(parse_stat(44, "garbage").is_none());
    }

    #[test]
    fn this_process_is_listed() {
        let me = std::process::id();
        assert!(processes().any(|p| p.pid == me));
    }
}
