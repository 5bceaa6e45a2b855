//! `wamux serve`: the daemon's life from start to exit.
//!
//! 1. Make the data directory (private to the service user) and open the store.
//! 2. Refuse to run beside another daemon on the same directory. End what an earlier daemon
//!    that died left: its workers get SIGTERM and the grace period to close their browsers,
//!    then SIGKILL to their groups; then any browser still on one of the profiles is killed.
//! 3. Listen for workers, restore the sessions people left running, then serve HTTP. Meanwhile,
//!    every `--watch-interval` and on SIGCHLD, kill browsers that no worker owns and reap
//!    adopted zombies.
//! 4. On shutdown: stop taking requests, stop every worker cleanly within a bound (then
//!    SIGKILL to what is left), remove the socket.

use std::collections::HashSet;
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, app};
use crate::daemon::config::{DataDir, ServeConfig};
use crate::supervision::link::WorkerLink;
use crate::sessions::registry::Manager;
use crate::store::Store;
use crate::supervision::driver::Context;
use crate::process::{reaper, sweep};

/// Beyond the workers' own grace period, how long shutdown waits before killing what is left.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(15);

/// A Unix socket path must fit in `sockaddr_un.sun_path` (108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

fn private_dir(path: &std::path::Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", path.display()))
}

/// Runs the daemon until `shutdown` completes. `on_listening` is told the bound address once
/// the API answers (port 0 in `config.listen` picks a free port).
pub async fn run(
    mut config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    private_dir(&config.data_dir)?;
    config.data_dir = config
        .data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", config.data_dir.display()))?;
    let data = DataDir::new(config.data_dir.clone());
    private_dir(&data.sessions())?;

    let socket = data.worker_socket();
    if tokio::net::UnixStream::connect(&socket).await.is_ok() {
        anyhow::bail!(
            "another wamux daemon is serving {} (its socket {} answers); stop it first",
            data.root().display(),
            socket.display()
        );
    }
    let workers = sweep::end_orphan_workers(&data.sessions(), config.stop_grace).await;
    if workers > 0 {
        tracing::warn!(workers, "ended the workers of an earlier run");
    }
    if let Err(e) = reaper::become_subreaper() {
        tracing::warn!(error = %e, "cannot become child subreaper; orphans go to PID 1");
    }
    let orphans = sweep::orphans(&data.sessions(), &Default::default());
    if !orphans.is_empty() {
        tracing::warn!(
            count = orphans.len(),
            "killing browsers left by an earlier run"
        );
        if !sweep::kill_and_wait(&orphans, Duration::from_secs(5)).await {
            tracing::error!("some orphan browsers outlived SIGKILL");
        }
    }

    let store = Store::open(&data.database())
        .with_context(|| format!("cannot open {}", data.database().display()))?;

    anyhow::ensure!(
        socket.as_os_str().len() <= MAX_SOCKET_PATH,
        "the data directory path is too long for a Unix socket ({}): choose a shorter --data-dir",
        socket.display()
    );
    let worker_listener = WorkerLink::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    let link = Arc::new(WorkerLink::default());
    let stop_link = CancellationToken::new();
    let link_task = tokio::spawn(link.clone().serve(worker_listener, stop_link.clone()));

    let http = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = http.local_addr()?;
    if config.public_url.is_none() {
        let host = if addr.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        config.public_url = Some(format!("http://{host}"));
    }

    let ctx = Arc::new(Context::new(config, data, store, link));
    let manager = Arc::new(Manager::new(ctx.clone()));
    let restored = manager.restore().context("cannot restore the sessions")?;
    let stop_housekeeping = CancellationToken::new();
    let housekeeping = tokio::spawn(housekeeping(manager.clone(), stop_housekeeping.clone()));
    tracing::info!(%addr, restored, data_dir = %ctx.data.root().display(), "wamux is serving");
    on_listening(addr);

    let stop_streams = CancellationToken::new();
    let state = AppState {
        manager: manager.clone(),
        shutdown: stop_streams.clone(),
    };
    axum::serve(http, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop_streams.cancel();
        })
        .await
        .context("the HTTP server failed")?;

    tracing::info!("shutting down: stopping every worker");
    let bound = ctx.config.stop_grace + SHUTDOWN_MARGIN;
    if tokio::time::timeout(bound, manager.shutdown())
        .await
        .is_err()
    {
        tracing::error!(?bound, "workers did not stop in time; killing them");
        reaper::kill_all_worker_groups();
    }
    stop_housekeeping.cancel();
    let _ = housekeeping.await;
    stop_link.cancel();
    let _ = link_task.await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("stopped");
    Ok(())
}

/// Kills browsers no worker owns, reaps adopted zombies and, with `--auto-switch`, moves
/// assignments away from unusable sessions, until `stop`.
async fn housekeeping(manager: Arc<Manager>, stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interval = tokio::time::interval(manager.ctx.config.watch_interval);
    let mut sigchld = signal(SignalKind::child()).ok();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {
                if let Some(grace) = manager.ctx.config.auto_switch {
                    manager.assignments.auto_switch(&manager, grace).await;
                }
                let sessions = manager.ctx.data.sessions();
                let workers = sweep::orphan_workers(&sessions);
                if !workers.is_empty() {
                    tracing::warn!(?workers, "killing workers that are not this daemon's");
                    for w in &workers {
                        let _ = crate::process::kill::kill_group(w.pid);
                    }
                }
                let owners = manager.worker_pids();
                let orphans = sweep::orphans(&sessions, &owners);
                if !orphans.is_empty() {
                    tracing::warn!(?orphans, "killing browsers that no worker owns");
                    sweep::kill_all(&orphans);
                }
            }
            Some(()) = async { sigchld.as_mut()?.recv().await } => {}
        }
        let workers: HashSet<u32> = manager.worker_pids().into_values().collect();
        reaper::reap_adopted(&workers);
    }
}
