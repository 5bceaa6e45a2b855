//! `wamux serve`: the daemon's life from start to exit.
//!
//! 1. Make the data directory (private to the service user, as is every file the daemon and its
//!    workers create: umask 077) and take its lock for the daemon's whole life, before anything
//!    else touches it: a second daemon, or `wamux sweep`, is refused at once. A directory that
//!    holds other things is refused instead of being made private ([`DataDir::may_take`]).
//! 2. End what an earlier daemon that died left: its workers get SIGTERM and the grace period
//!    to close their browsers, then SIGKILL to their groups; then any browser still on one of
//!    the profiles is killed. Open the store.
//! 3. Probe whether workers can have network namespaces of their own and, if so, serve their
//!    egress ([`crate::egress`]). Listen for workers, keep the `--webhook-url` endpoint and
//!    start sending webhook deliveries, restore the sessions people left running, then serve
//!    HTTP. Meanwhile,
//!    every `--watch-interval` and on SIGCHLD, kill browsers that no worker owns and reap
//!    adopted zombies.
//! 4. On shutdown: stop taking connections and, at once, stop every worker, while the requests
//!    in flight finish (those waiting on a worker fail as it stops); all within one bound, past
//!    which the workers' groups get SIGKILL and the requests left are dropped. Remove the socket.

use std::collections::HashSet;
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::api::{AppParts, AppState, Doors, Settings, app};
use crate::cluster::Cluster;
use crate::daemon::config::{DataDir, ServeConfig};
use crate::daemon::lock::DataDirLock;
use crate::egress::{self, Egress, isolation::Isolation};
use crate::laravel::assignments::Assignments;
use crate::process::{reaper, sweep};
use crate::sessions::registry::Registry;
use crate::store::{Fence, Store};
use crate::supervision::context::Context;
use crate::supervision::link::{WorkerLink, bind_private};

/// Beyond the workers' own grace period, how long shutdown waits before killing what is left.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(15);

/// A Unix socket path must fit in `sockaddr_un.sun_path` (108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The files of the data directory's root; older versions left them readable by all.
const PRIVATE_FILES: [&str; 4] = [
    "wamux.db",
    "wamux.db-wal",
    "wamux.db-shm",
    crate::daemon::lock::LOCK_FILE,
];

fn private_files(root: &std::path::Path) -> anyhow::Result<()> {
    for name in PRIVATE_FILES {
        let path = root.join(name);
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot make {} private", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

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
    DataDir::may_take(&config.data_dir)?;
    // The profiles hold the WhatsApp sessions' keys and the database their numbers: what the
    // daemon and its workers create is theirs alone, under systemd (UMask=) or not.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    private_dir(&config.data_dir)?;
    config.data_dir = config
        .data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", config.data_dir.display()))?;
    let _lock = DataDirLock::acquire(&config.data_dir)?;
    let data = DataDir::new(config.data_dir.clone());
    private_dir(&data.sessions())?;
    private_files(data.root())?;

    let socket = data.worker_socket();
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

    let (store, leases) = match &config.cluster {
        None => (
            Store::open(&data.database())
                .with_context(|| format!("cannot open {}", data.database().display()))?,
            None,
        ),
        Some(cluster) => {
            let mut store = Store::open_postgres(&cluster.database_url, data.root())
                .context("cannot open the --database")?;
            store.set_fence(Fence::new(
                cluster.node_id.clone(),
                crate::cluster::node::ms(cluster.lease_ttl),
            ));
            // Its own connection: a busy store never holds up a renewal.
            let leases = Store::open_postgres(&cluster.database_url, data.root())
                .context("cannot open the --database")?;
            tracing::info!(node = %cluster.node_id, "sharing the database with other nodes");
            (store, Some(Arc::new(leases)))
        }
    };

    anyhow::ensure!(
        socket.as_os_str().len() <= MAX_SOCKET_PATH,
        "the data directory path is too long for a Unix socket ({}): choose a shorter --data-dir",
        socket.display()
    );
    let isolation = egress::isolation::probe_and_record(&config.worker_bin).await;
    let egress_socket = egress::socket_beside(&socket);
    anyhow::ensure!(
        egress_socket.as_os_str().len() <= MAX_SOCKET_PATH,
        "the data directory path is too long for a Unix socket ({}): choose a shorter --data-dir",
        egress_socket.display()
    );
    let egress_listener = match isolation {
        Isolation::NetworkNamespace => Some(
            bind_private(&egress_socket)
                .with_context(|| format!("cannot listen on {}", egress_socket.display()))?,
        ),
        Isolation::None { .. } => None,
    };
    let worker_listener =
        bind_private(&socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    let link = Arc::new(WorkerLink::default());
    let stop_link = CancellationToken::new();
    let link_task = tokio::spawn(link.clone().serve(worker_listener, stop_link.clone()));

    let http = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = http.local_addr()?;
    // From here on the address is the bound one: the API answers to its real port.
    config.listen = addr;
    if config.public_url.is_none() {
        let host = if addr.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        config.public_url = Some(format!("http://{host}"));
    }

    let stop_streams = CancellationToken::new();
    let Parts {
        ctx,
        sessions,
        assignments,
        state,
    } = assemble(config, data, store, link, stop_streams.clone());
    let stop_egress = CancellationToken::new();
    let egress_task = egress_listener.map(|listener| {
        let egress = Egress {
            sessions: sessions.clone(),
            store: ctx.store.clone(),
        };
        tokio::spawn(egress.serve(listener, stop_egress.clone()))
    });
    ctx.webhooks
        .configure()
        .context("cannot keep the --webhook-url endpoint")?;
    let stop_webhooks = CancellationToken::new();
    let webhooks = tokio::spawn(ctx.webhooks.clone().deliver(stop_webhooks.clone()));
    let restored = sessions.restore().context("cannot restore the sessions")?;
    sessions.warm_spares();
    let stop_cluster = CancellationToken::new();
    let cluster_tasks = leases.map(|leases| {
        (
            tokio::spawn(crate::cluster::node::run(
                ctx.clone(),
                sessions.clone(),
                leases,
                stop_cluster.clone(),
            )),
            tokio::spawn(crate::cluster::feed::run(ctx.clone(), stop_cluster.clone())),
        )
    });
    let stop_housekeeping = CancellationToken::new();
    let housekeeping = tokio::spawn(housekeeping(
        ctx.clone(),
        sessions.clone(),
        assignments,
        stop_housekeeping.clone(),
    ));
    tracing::info!(%addr, restored, data_dir = %ctx.data.root().display(), "wamux is serving");
    on_listening(addr);

    let drain = ctx.cluster.as_ref().is_some_and(|c| c.config.drain_on_stop);
    // A drain closes the sessions one after the other.
    let bound = if drain {
        (ctx.config.stop_grace + SHUTDOWN_MARGIN) * (ctx.config.max_sessions as u32 + 1)
    } else {
        ctx.config.stop_grace + SHUTDOWN_MARGIN
    };
    let stop_workers = {
        let (ctx, sessions, stop_cluster) = (ctx.clone(), sessions.clone(), stop_cluster.clone());
        async move {
            if drain {
                crate::cluster::node::drain(ctx.clone(), sessions.clone()).await;
            }
            // No claim after this point; what is still held is closed cleanly and given back.
            stop_cluster.cancel();
            sessions.shutdown().await;
            if let Some(cluster) = &ctx.cluster {
                for (id, _) in cluster.fence.all() {
                    cluster.release(&ctx.store, &id);
                }
            }
        }
    };
    let served = serve_until(
        http,
        app(state),
        async move {
            shutdown.await;
            stop_streams.cancel();
        },
        stop_workers,
        bound,
        reaper::kill_all_worker_groups,
    )
    .await;
    stop_cluster.cancel();
    if let Some((node, feed)) = cluster_tasks {
        let _ = node.await;
        let _ = feed.await;
    }
    stop_housekeeping.cancel();
    let _ = housekeeping.await;
    stop_webhooks.cancel();
    let _ = webhooks.await;
    stop_link.cancel();
    let _ = link_task.await;
    let _ = std::fs::remove_file(&socket);
    stop_egress.cancel();
    if let Some(task) = egress_task {
        let _ = task.await;
        let _ = std::fs::remove_file(&egress_socket);
    }
    tracing::info!("stopped");
    served
}

/// The daemon's parts over an open store: what the sessions share, the sessions, the Laravel
/// assignments and what the API sees of them. Nothing runs until sessions are restored or
/// created; the in-process API tests assemble a daemon the same way.
pub struct Parts {
    pub ctx: Arc<Context>,
    pub sessions: Arc<Registry>,
    pub assignments: Arc<Assignments>,
    pub state: AppState,
}

pub fn assemble(
    config: ServeConfig,
    data: DataDir,
    store: Store,
    link: Arc<WorkerLink>,
    stop_streams: CancellationToken,
) -> Parts {
    let store = Arc::new(store);
    let cluster = match (&config.cluster, store.fence()) {
        (Some(cluster), Some(fence)) => Some(Cluster::new(
            cluster.clone(),
            cluster
                .advertise_url
                .clone()
                .or_else(|| config.public_url.clone())
                .unwrap_or_else(|| format!("http://{}", config.listen)),
            u32::try_from(config.max_sessions).unwrap_or(u32::MAX),
            fence.clone(),
            store.clone(),
        )),
        _ => None,
    };
    let forward_limit = usize::try_from(config.outbox.media.max_size)
        .unwrap_or(usize::MAX)
        .saturating_mul(2)
        .saturating_add(1 << 20);
    let ctx = Arc::new(Context::new(config, data, store, link).with_cluster(cluster));
    let sessions = Arc::new(Registry::new(ctx.clone()));
    let assignments = Arc::new(Assignments::new(
        ctx.config.laravel_env.clone(),
        ctx.config.public_url.clone().unwrap_or_default(),
        ctx.store.clone(),
        ctx.events.clone(),
    ));
    let state = AppState::new(AppParts {
        sessions: sessions.clone(),
        assignments: assignments.clone(),
        events: ctx.events.clone(),
        metrics: ctx.metrics.clone(),
        outbox: ctx.outbox.clone(),
        webhooks: ctx.webhooks.clone(),
        store: ctx.store.clone(),
        settings: Arc::new(Settings {
            api_key: ctx.config.api_key.clone(),
            chromedriver: ctx.config.chromedriver.clone(),
            chromium: ctx.config.chromium.clone(),
            doors: Doors::new(
                ctx.config.listen,
                ctx.config.public_url.as_deref(),
                &served_hosts(&ctx),
            ),
        }),
        started: ctx.started,
        list_cache: Default::default(),
        shutdown: stop_streams,
        cluster: ctx.cluster.clone(),
        forwarder: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default(),
        forward_limit,
        context: Some(ctx.clone()),
    });
    Parts {
        ctx,
        sessions,
        assignments,
        state,
    }
}

/// The hosts the API answers to beyond its own: `--allowed-host`, and the host of this node's
/// advertise URL, which the other nodes forward to.
fn served_hosts(ctx: &Context) -> Vec<String> {
    let mut hosts = ctx.config.allowed_hosts.clone();
    if let Some(cluster) = &ctx.cluster
        && let Ok(url) = cluster.advertise_url.parse::<axum::http::Uri>()
        && let Some(authority) = url.authority()
    {
        hosts.push(authority.to_string());
    }
    hosts
}

/// Serves HTTP until `shutdown`; then stops taking connections and, at the same time, stops the
/// workers, so that a request waiting on a worker (a send may wait `--send-timeout`) is answered
/// as its worker stops instead of holding the workers up. Both get `bound`: past it, `kill`
/// ends what is left of the workers, and the requests still in flight are left to end with the
/// runtime as the daemon exits.
async fn serve_until(
    http: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop_workers: impl Future<Output = ()>,
    bound: Duration,
    kill: impl FnOnce(),
) -> anyhow::Result<()> {
    let draining = CancellationToken::new();
    let server = axum::serve(http, router)
        .with_graceful_shutdown(draining.clone().cancelled_owned())
        .into_future();
    let mut server = std::pin::pin!(server);
    let ended_early = tokio::select! {
        result = &mut server => Some(result),
        () = shutdown => None,
    };
    draining.cancel();
    tracing::info!("shutting down: stopping every worker while the requests in flight finish");
    let deadline = tokio::time::Instant::now() + bound;
    let workers = async {
        if tokio::time::timeout_at(deadline, stop_workers)
            .await
            .is_err()
        {
            tracing::error!(?bound, "workers did not stop in time; killing them");
            kill();
        }
    };
    let drain = async {
        match ended_early {
            Some(result) => result,
            None => tokio::time::timeout_at(deadline, &mut server)
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!(?bound, "exiting with requests still in flight");
                    Ok(())
                }),
        }
    };
    let ((), served) = tokio::join!(workers, drain);
    served.context("the HTTP server failed")
}

/// Kills browsers no worker owns, reaps adopted zombies and, with `--auto-switch`, moves
/// assignments away from unusable sessions, until `stop`.
async fn housekeeping(
    ctx: Arc<Context>,
    sessions: Arc<Registry>,
    assignments: Arc<Assignments>,
    stop: CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interval = tokio::time::interval(ctx.config.watch_interval);
    let mut sigchld = signal(SignalKind::child()).ok();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {
                if let Some(grace) = ctx.config.auto_switch {
                    assignments.auto_switch(&sessions, grace).await;
                }
                if let Err(e) = ctx.outbox.housekeeping() {
                    tracing::error!(error = %e, "could not expire or prune messages");
                }
                if let Err(e) = ctx.webhooks.housekeeping(ctx.config.outbox.retention) {
                    tracing::error!(error = %e, "could not prune events");
                }
                let sessions_dir = ctx.data.sessions();
                let workers = sweep::orphan_workers(&sessions_dir);
                if !workers.is_empty() {
                    tracing::warn!(?workers, "killing workers that are not this daemon's");
                    for w in &workers {
                        w.group.kill();
                    }
                }
                let owners = sessions.worker_pids();
                let orphans = sweep::orphans(&sessions_dir, &owners);
                if !orphans.is_empty() {
                    tracing::warn!(?orphans, "killing browsers that no worker owns");
                    sweep::kill_all(&orphans);
                }
            }
            Some(()) = async { sigchld.as_mut()?.recv().await } => {}
        }
        let workers: HashSet<u32> = sessions.worker_pids().into_values().collect();
        reaper::reap_adopted(&workers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::http::StatusCode;
    use axum::routing::post;

    /// A router whose one route waits until `worker_gone`, like a send waiting on its worker,
    /// and tells `arrived` once the request is in.
    fn waiting_router(
        worker_gone: CancellationToken,
        arrived: Arc<tokio::sync::Notify>,
    ) -> axum::Router {
        axum::Router::new().route(
            "/send",
            post(move || async move {
                arrived.notify_one();
                worker_gone.cancelled().await;
                (StatusCode::SERVICE_UNAVAILABLE, "the worker is gone")
            }),
        )
    }

    async fn listener() -> (tokio::net::TcpListener, String) {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/send", http.local_addr().unwrap());
        (http, url)
    }

    #[tokio::test]
    async fn the_workers_stop_while_a_request_waits_on_them_and_it_is_answered() {
        let (http, url) = listener().await;
        let (worker_gone, arrived) = (
            CancellationToken::new(),
            Arc::new(tokio::sync::Notify::new()),
        );
        let shutdown = CancellationToken::new();
        let killed = Arc::new(AtomicBool::new(false));
        let server = tokio::spawn(serve_until(
            http,
            waiting_router(worker_gone.clone(), arrived.clone()),
            shutdown.clone().cancelled_owned(),
            async move { worker_gone.cancel() },
            Duration::from_secs(30),
            {
                let killed = killed.clone();
                move || killed.store(true, Ordering::SeqCst)
            },
        ));
        let request = tokio::spawn(reqwest::Client::new().post(&url).send());
        tokio::time::timeout(Duration::from_secs(5), arrived.notified())
            .await
            .expect("the request reached its handler");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the stop did not wait for the request to end by itself")
            .unwrap()
            .unwrap();
        let response = request
            .await
            .unwrap()
            .expect("the request in flight was answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!killed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn past_the_bound_the_workers_are_killed_and_the_stop_ends() {
        let (http, url) = listener().await;
        let arrived = Arc::new(tokio::sync::Notify::new());
        let shutdown = CancellationToken::new();
        let killed = Arc::new(AtomicBool::new(false));
        let bound = Duration::from_millis(300);
        let server = tokio::spawn(serve_until(
            http,
            waiting_router(CancellationToken::new(), arrived.clone()),
            shutdown.clone().cancelled_owned(),
            std::future::pending(),
            bound,
            {
                let killed = killed.clone();
                move || killed.store(true, Ordering::SeqCst)
            },
        ));
        let request = tokio::spawn(reqwest::Client::new().post(&url).send());
        tokio::time::timeout(Duration::from_secs(5), arrived.notified())
            .await
            .expect("the request reached its handler");

        let started = tokio::time::Instant::now();
        shutdown.cancel();
        tokio::time::timeout(bound + Duration::from_secs(5), server)
            .await
            .expect("the stop overran its bound")
            .unwrap()
            .unwrap();
        assert!(started.elapsed() >= bound, "{:?}", started.elapsed());
        assert!(killed.load(Ordering::SeqCst));
        // Its connection task ends with the runtime, as the daemon's do when it exits.
        request.abort();
    }
}
