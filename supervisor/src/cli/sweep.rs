//! `wamux sweep --data-dir DIR`: ends the workers, chromedrivers and browsers left on the
//! profiles of one data directory, for when no daemon runs to do it. It touches no other
//! Chromium on the machine, and refuses while a daemon serves that directory.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::config::DataDir;
use crate::process::sweep;

pub async fn run(data_dir: &Path) -> ExitCode {
    let Ok(root) = data_dir.canonicalize() else {
        eprintln!("wamux: no data directory at {}", data_dir.display());
        return ExitCode::from(66);
    };
    let data = DataDir::new(root);
    if tokio::net::UnixStream::connect(data.worker_socket())
        .await
        .is_ok()
    {
        eprintln!(
            "wamux: a daemon is running on {}; it sweeps by itself (stop it first to sweep by hand)",
            data.root().display()
        );
        return ExitCode::from(75);
    }
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
