//! Ending a worker's process group: the worker, its chromedriver and every Chromium process.
//!
//! Chromium never leaves the process group it was started in (measured, see the engineering
//! notes), so one `killpg(SIGKILL)` removes the whole tree, even after the worker itself died.
//! "Already gone" is success.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// SIGKILL to every process of group `pgid`; `Ok` when the group no longer exists.
pub fn kill_group(pgid: u32) -> nix::Result<()> {
    match killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    crate::process::sweep::processes()
        .filter(|p| p.pgid == pgid && !p.zombie)
        .map(|p| p.pid)
        .collect()
}

/// Polls until group `pgid` has no live member, for at most `limit`; `true` when it is empty.
pub async fn wait_group_gone(pgid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if group_members(pgid).is_empty() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[tokio::test]
    async fn kills_a_whole_group_including_grandchildren() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 300 & sleep 300 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_members(pgid).len() < 3 {
            assert!(std::time::Instant::now() < deadline, "group never formed");
            std::thread::sleep(Duration::from_millis(10));
        }
        kill_group(pgid).unwrap();
        child.wait().unwrap();
        assert!(wait_group_gone(pgid, Duration::from_secs(10)).await);
        assert!(kill_group(pgid).is_ok(), "a gone group is success");
    }
}
