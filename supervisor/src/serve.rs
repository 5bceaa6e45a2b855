//! `wamux serve`: the daemon's life from start to exit.
//!
//! 1. Make the data directory (private to the service user) and open the store.
//! 2. Kill any browser still running on one of its profiles: no worker owns one yet, so each
//!    is an orphan of an earlier daemon that died without cleaning up.
//! 3. Listen for workers, restore the sessions people left running, then serve HTTP.
//! 4. On shutdown: stop taking requests, stop every worker cleanly, remove the socket.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, app};
use crate::config::{DataDir, ServeConfig};
use crate::link::WorkerLink;
use crate::manager::Manager;
use crate::store::Store;
use crate::supervise::Context;
use crate::sweep;

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

    let orphans: Vec<u32> = sweep::browsers_under(&data.sessions())
        .into_values()
        .flatten()
        .collect();
    if !orphans.is_empty() {
        tracing::warn!(count = orphans.len(), "killing browsers left by an earlier run");
        sweep::kill_all(&orphans);
    }

    let store = Store::open(&data.database())
        .with_context(|| format!("cannot open {}", data.database().display()))?;

    let socket = data.worker_socket();
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

    let ctx = Arc::new(Context {
        config,
        data,
        store,
        link,
    });
    let manager = Arc::new(Manager::new(ctx.clone()));
    let restored = manager.restore().context("cannot restore the sessions")?;
    tracing::info!(%addr, restored, data_dir = %ctx.data.root().display(), "wamux is serving");
    on_listening(addr);

    axum::serve(http, app(AppState {
        manager: manager.clone(),
    }))
    .with_graceful_shutdown(shutdown)
    .await
    .context("the HTTP server failed")?;

    tracing::info!("shutting down: stopping every worker");
    manager.shutdown().await;
    stop_link.cancel();
    let _ = link_task.await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("stopped");
    Ok(())
}
