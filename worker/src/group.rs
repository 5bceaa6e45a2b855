//! Waiting for, then killing, what is left of the worker's process group.
//!
//! chromedriver starts Chromium with `--remote-debugging-port=0`, so Chromium outlives a dead
//! chromedriver; but no Chromium process ever leaves the group the worker leads. SIGKILL to every
//! member but the worker itself therefore removes the whole tree. Members are killed one by one
//! (not `killpg`) because the worker is in the group too; an already-exited one (ESRCH) counts as
//! killed. The scan repeats because a process may fork while its siblings are being killed.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::time::{Instant, sleep};
use tracing::{debug, warn};

use crate::procfs;

const KILL_DEADLINE: Duration = Duration::from_millis(1500);
const SCAN_INTERVAL: Duration = Duration::from_millis(50);

/// The live members of the worker's group other than the worker.
fn others() -> Vec<i32> {
    let own = std::process::id() as i32;
    procfs::live_group_members(own)
        .into_iter()
        .filter(|&pid| pid != own)
        .collect()
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
        for pid in others {
            match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) => debug!(pid, "killed"),
                Err(Errno::ESRCH) => {}
                Err(err) => warn!(pid, "cannot kill: {err}"),
            }
        }
        sleep(SCAN_INTERVAL).await;
    }
}
