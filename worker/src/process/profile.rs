//! Making the session's Chromium profile usable before the browser starts.
//!
//! A profile can be held by only one Chromium: a second one exits at once ("SingletonLock: File
//! exists"), which chromedriver only reports as "Chrome instance exited". Two leftovers cause
//! that, and both are cleared here:
//! - an orphaned Chromium of an earlier worker of this session (its worker was SIGKILLed before
//!   it could kill its group): one session has one worker, so whatever runs on this profile is
//!   such an orphan, and it is killed;
//! - a lock naming another hostname (a container restarted under a new name): Chromium takes over
//!   stale locks of its own host silently, but not those, so once no process uses the profile the
//!   `Singleton*` files are removed.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tracing::{info, warn};
use wamux_procfs::{Signal, on_profile};

const SINGLETON_FILES: [&str; 3] = ["SingletonLock", "SingletonSocket", "SingletonCookie"];

/// Creates the profile directory if needed, frees it from leftovers and returns its absolute
/// path, the form used on Chromium's command line and in every `/proc` match.
pub async fn prepare(dir: &Path) -> Result<PathBuf> {
    let dir = std::path::absolute(dir)
        .with_context(|| format!("cannot resolve the profile path {}", dir.display()))?;
    fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the profile directory {}", dir.display()))?;
    kill_orphans(&dir).await;
    clear_foreign_lock(&dir)?;
    Ok(dir)
}

async fn kill_orphans(dir: &Path) {
    let orphans = on_profile(dir);
    if orphans.is_empty() {
        return;
    }
    warn!(?orphans, "killing processes left running on this profile");
    for &p in &orphans {
        let _ = wamux_procfs::kill(p, Signal::SIGKILL);
    }
    wamux_procfs::wait_gone(&orphans, Duration::from_secs(2)).await;
}

fn clear_foreign_lock(dir: &Path) -> Result<()> {
    let Ok(target) = fs::read_link(dir.join("SingletonLock")) else {
        return Ok(());
    };
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    if lock_host(&target.to_string_lossy()) == Some(hostname.trim()) {
        return Ok(());
    }
    if !on_profile(dir).is_empty() {
        return Ok(());
    }
    info!(lock = %target.display(), "removing the profile lock of another host");
    for name in SINGLETON_FILES {
        match fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("cannot remove {name}")),
        }
    }
    Ok(())
}

/// The hostname in a `SingletonLock` target, which reads `HOSTNAME-PID`.
fn lock_host(target: &str) -> Option<&str> {
    let (host, pid) = target.rsplit_once('-')?;
    pid.parse::<u32>().ok().map(|_| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_target_names_host_and_pid() {
        assert_eq!(lock_host("box-1-4242"), Some("box-1"));
        assert_eq!(lock_host("box"), None);
        assert_eq!(lock_host("box-x"), None);
    }
}
