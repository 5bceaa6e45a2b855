//! `wamux sweep --data-dir DIR`: ends the workers, chromedrivers and browsers left on the
//! profiles of one data directory, for when no daemon runs to do it. It touches no other
//! Chromium on the machine, and refuses while a daemon serves that directory.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::config::DataDir;
use crate::daemon::lock::{DataDirLock, LockError};
use crate::process::sweep;

pub async fn run(data_dir: &Path) -> ExitCode {
    let Ok(root) = data_dir.canonicalize() else {
        eprintln!("wamux: no data directory at {}", data_dir.display());
        return ExitCode::from(66);
    };
    // Held to the end: a daemon starting meanwhile must not adopt what this is killing.
    let _lock = match DataDirLock::acquire(&root) {
        Ok(lock) => lock,
        Err(LockError::Held { dir }) => {
            eprintln!(
                "wamux: a daemon (or another sweep) is using {}; a daemon sweeps by itself \
                 (stop it first to sweep by hand)",
                dir.display()
            );
            return ExitCode::from(75);
        }
        Err(e) => {
            eprintln!("wamux: {e}");
            return ExitCode::from(73);
        }
    };
    let data = DataDir::new(root);
    let workers = sweep::end_orphan_workers(&data.sessions(), Duration::from_secs(10)).await;
    let orphans = sweep::orphans(&data.sessions(), &Default::default());
    if !sweep::kill_and_wait(&orphans, Duration::from_secs(5)).await {
        eprintln!("wamux: some processes outlived SIGKILL: {orphans:?}");
        return ExitCode::from(75);
    }
    println!(
        "killed {} orphan worker(s) and {} orphan browser process(es)",
        workers,
        orphans.len()
    );
    ExitCode::SUCCESS
}
