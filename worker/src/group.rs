//! The worker's process group: finding the browser in it, and waiting for, then killing, what
//! is left of it.
//!
//! chromedriver starts Chromium with `--remote-debugging-port=0`, so Chromium outlives a dead
//! chromedriver; but no Chromium process ever leaves the group the worker leads. SIGKILL to every
//! member but the worker itself therefore removes the whole tree. Members are killed one by one
//! (not `killpg`) because the worker is in the group too; an already-exited one counts as
//! killed. The scan repeats because a process may fork while its siblings are being killed.

use std::path::Path;
use std::time::Duration;

use tokio::time::{Instant, sleep};
use tracing::{debug, warn};
use wamux_procfs::{Proc, Signal, cmdline, group_members, uses_profile};

const KILL_DEADLINE: Duration = Duration::from_millis(1500);
const SCAN_INTERVAL: Duration = Duration::from_millis(50);

/// The live members of the worker's group other than the worker.
fn others() -> Vec<Proc> {
    let own = std::process::id();
    group_members(own)
        .into_iter()
        .filter(|p| p.pid != own)
        .collect()
}

/// The browser process of this worker: in the worker's group, on the profile, and not one of
/// Chromium's helpers (which all carry `--type=`).
pub fn browser_pid(profile: &Path) -> Option<u32> {
    others().into_iter().find_map(|p| {
        let line = cmdline(p.pid)?;
        (uses_profile(&line, profile) && !line.contains("--type=")).then_some(p.pid)
    })
}

/// Waits until every other member of the group has exited on its own (a browser closing
/// cleanly), or until `deadline`; tells whether the worker is alone.
pub async fn wait_until_alone(deadline: Instant) -> bool {
    loop {
        if others().is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(SCAN_INTERVAL).await;
    }
}

pub async fn kill_all_but_self() {
    let deadline = Instant::now() + KILL_DEADLINE;
    loop {
        let others = others();
        if others.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            warn!(?others, "processes of the group survived SIGKILL");
            return;
        }
        for p in others {
            match wamux_procfs::kill(p, Signal::SIGKILL) {
                Ok(_) => debug!(pid = p.pid, "killed"),
                Err(err) => warn!(pid = p.pid, "cannot kill: {err}"),
            }
        }
        sleep(SCAN_INTERVAL).await;
    }
}
