//! Finding the processes of the data directory: browsers by the profile on their command line,
//! and workers by the profile directory on theirs.
//!
//! Every Chromium process carries `--user-data-dir=SESSIONS/DIR/profile`, where DIR is a
//! session's id or a warm spare's name (which a session that takes the spare keeps). This finds orphans of
//! a crashed supervisor and stragglers of a killed worker, and never touches a browser that is
//! not ours; reading `/proc`, and recognising a process after its pid is reused, is the
//! `wamux-procfs` crate's.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use wamux_procfs::{Group, Proc, ProcessInfo, Signal, cmdline, processes, runs};

/// The folder (a session's id or a spare's name) whose profile under `sessions_dir`
/// (`SESSIONS/DIR/profile`) `cmdline` uses.
pub fn session_of(cmdline: &str, sessions_dir: &str) -> Option<String> {
    let needle = format!("--user-data-dir={sessions_dir}/");
    cmdline.match_indices(&needle).find_map(|(at, _)| {
        let rest = &cmdline[at + needle.len()..];
        let (id, after) = rest.split_once("/profile")?;
        let ends = matches!(after.chars().next(), None | Some(' '));
        let named = crate::sessions::session::valid_session_id(id)
            || crate::supervision::spares::is_spare_name(id);
        (ends && named).then(|| id.to_owned())
    })
}

/// Live processes using a profile under `sessions_dir`, by folder.
fn browsers_under(sessions_dir: &Path) -> HashMap<String, Vec<ProcessInfo>> {
    let dir = sessions_dir.to_string_lossy();
    let mut found: HashMap<String, Vec<ProcessInfo>> = HashMap::new();
    for p in processes().filter(|p| !p.zombie) {
        if let Some(id) = cmdline(p.pid).and_then(|c| session_of(&c, &dir)) {
            found.entry(id).or_default().push(p);
        }
    }
    found
}

/// Browsers on a profile under `sessions_dir` that no live worker owns (their session has no
/// worker now, or they left the group of the one it has), with the chromedrivers of their
/// process groups. `owners` maps a folder to its worker's pid, which is also its group.
pub fn orphans(sessions_dir: &Path, owners: &HashMap<String, u32>) -> Vec<Proc> {
    let browsers: Vec<ProcessInfo> = browsers_under(sessions_dir)
        .into_iter()
        .flat_map(|(id, procs)| {
            let owner = owners.get(&id).copied();
            procs.into_iter().filter(move |p| Some(p.pgid) != owner)
        })
        .collect();
    let groups: Vec<u32> = browsers.iter().map(|p| p.pgid).collect();
    let drivers: Vec<ProcessInfo> = processes()
        .filter(|p| {
            !p.zombie
                && groups.contains(&p.pgid)
                && cmdline(p.pid).is_some_and(|c| runs(&c, "chromedriver"))
        })
        .collect();
    browsers
        .iter()
        .chain(&drivers)
        .map(ProcessInfo::proc)
        .collect()
}

/// A `wamux-worker` that is not this daemon's, and the process group it leads.
#[derive(Debug)]
pub struct OrphanWorker {
    pub worker: Proc,
    /// Recorded with every member when the worker was found, so that it can still be ended
    /// once the worker itself has exited.
    pub group: Group,
}

/// `wamux-worker`s of sessions under `sessions_dir` that are not children of this process:
/// orphans of a daemon that died. Each leads the process group of its chromedriver and
/// browsers.
pub fn orphan_workers(sessions_dir: &Path) -> Vec<OrphanWorker> {
    let needle = format!("--profile-dir {}/", sessions_dir.to_string_lossy());
    let me = std::process::id();
    processes()
        .filter(|p| !p.zombie && p.ppid != me && p.pgid == p.pid)
        .filter(|p| cmdline(p.pid).is_some_and(|c| runs(&c, "wamux-worker") && c.contains(&needle)))
        .map(|p| OrphanWorker {
            worker: p.proc(),
            group: Group::as_now(p.pgid),
        })
        .collect()
}

/// Ends orphan workers and their groups: SIGTERM first, so each can close its browser
/// cleanly (which flushes the profile), then after `grace` SIGKILL to every group left.
pub async fn end_orphan_workers(sessions_dir: &Path, grace: Duration) -> usize {
    let orphans = orphan_workers(sessions_dir);
    let workers: Vec<Proc> = orphans.iter().map(|o| o.worker).collect();
    for &worker in &workers {
        let _ = wamux_procfs::kill(worker, Signal::SIGTERM);
    }
    wamux_procfs::wait_gone(&workers, grace).await;
    for o in &orphans {
        o.group.kill();
    }
    orphans.len()
}

/// Live processes using exactly `profile`.
pub fn browsers_on(profile: &Path) -> Vec<Proc> {
    wamux_procfs::on_profile(profile)
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

/// SIGKILL to each process still the one seen. Returns how many were signalled.
pub fn kill_all(procs: &[Proc]) -> usize {
    procs
        .iter()
        .filter(|&&p| wamux_procfs::kill(p, Signal::SIGKILL) == Ok(true))
        .count()
}

/// SIGKILL to each process, then waits (at most `limit`) until they are dead: a signal is
/// delivered asynchronously, and a browser still dying holds its profile lock.
pub async fn kill_and_wait(procs: &[Proc], limit: Duration) -> bool {
    kill_all(procs);
    wamux_procfs::wait_gone(procs, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
                "chromium --user-data-dir=/var/lib/wamux/sessions/spare.00ff00ff00ff00ff/profile",
                dir
            )
            .as_deref(),
            Some("spare.00ff00ff00ff00ff"),
            "a warm spare's"
        );
        assert_eq!(
            session_of(
                "chromium --user-data-dir=/var/lib/wamux/sessions/../profile",
                dir
            ),
            None
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
}
