//! The harness of the multi-node tests: several `wamux serve` nodes on one PostgreSQL database
//! and one fake WhatsApp Web.
//!
//! - [`Postgres::database`] makes a fresh database per test on the server that
//!   `scripts/postgres.sh` started (`WAMUX_TEST_POSTGRES_URL`), and drops it at the end.
//! - A [`Cluster`] runs nodes `n1`, `n2`, … on that database, each with its own data directory
//!   and a lease ttl of [`LEASE_TTL`], each reaching the database through its own [`DbLink`].
//! - A [`DbLink`] is a TCP forwarder in the test process: [`DbLink::cut`] closes every
//!   connection and drops each new one at once, so that one node loses the database while the
//!   others keep it; [`DbLink::restore`] gives it back.
//! - A [`BrowserCensus`] samples `/proc` every [`SAMPLE`] for the Chromium browsers of every
//!   node's sessions and keeps, per session, the most it ever saw at once: one account in two
//!   browsers is what multi-node mode must never do.
//! - An [`EventStream`] reads one node's `/api/events` in the background, live from the moment
//!   it opens, and keeps every event with its SSE id.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::{DEADLINE, Daemon, FakeServer, TempDir, eventually};

/// Every node's `--lease-ttl`: short, so that a lapse takes seconds, yet several renewals
/// (every ttl/3) long, so that a busy machine does not lose a lease by mistake.
pub const LEASE_TTL: Duration = Duration::from_secs(6);

/// How often the census looks at the process table.
pub const SAMPLE: Duration = Duration::from_millis(50);

const ADMIN_URL: &str = "WAMUX_TEST_POSTGRES_URL";
const BIN_DIR: &str = "WAMUX_TEST_POSTGRES_BIN";

/// The PostgreSQL server of the test run.
pub struct Postgres;

impl Postgres {
    /// A fresh, empty database on the server of `WAMUX_TEST_POSTGRES_URL`, dropped with the
    /// returned [`Database`].
    pub fn database() -> Database {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin = std::env::var(ADMIN_URL).unwrap_or_else(|_| {
            panic!(
                "{ADMIN_URL} is not set: the multi-node tests need the PostgreSQL server that \
                 scripts/postgres.sh starts. Run scripts/test.sh, or \
                 `scripts/postgres.sh cargo nextest run -p wamux-e2e --test cluster`"
            )
        });
        let admin = Url::parse(&admin).unwrap_or_else(|e| panic!("{ADMIN_URL}={admin}: {e}"));
        let name = format!(
            "wamux_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        psql(&admin, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        Database { name, admin }
    }
}

/// One test's database; dropping it drops the database, whoever is still connected.
pub struct Database {
    name: String,
    admin: Url,
}

impl Database {
    /// The server's own address, which a [`DbLink`] forwards to.
    pub fn server(&self) -> SocketAddr {
        let host = self.admin.host_str().expect("a host in the admin URL");
        let port = self.admin.port().unwrap_or(5432);
        (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("resolving {host}:{port}"))
    }

    /// The URL of this database as reached through 127.0.0.1:`port` (a [`DbLink`]'s).
    pub fn url_via(&self, port: u16) -> String {
        let mut url = self.admin.clone();
        url.set_host(Some("127.0.0.1")).expect("an IP host");
        url.set_port(Some(port)).expect("a port");
        url.set_path(&self.name);
        url.into()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("dropping database {}: {e}", self.name);
        }
    }
}

/// Runs one SQL statement with `psql`: the one beside the server's binaries, else the one on
/// PATH.
fn psql(url: &Url, sql: &str) -> anyhow::Result<()> {
    let beside = std::env::var_os(BIN_DIR).map(|dir| PathBuf::from(dir).join("psql"));
    let exe = beside
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("psql"));
    let out = Command::new(&exe)
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url.as_str(),
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| anyhow::anyhow!("running {}: {e}", exe.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} -c {sql:?}: {}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// A TCP forwarder between one node and the database server, run on a thread of its own so
/// that it forwards even while a test's runtime is blocked (as in [`Daemon::start`]).
pub struct DbLink {
    port: u16,
    state: Arc<Mutex<LinkState>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct LinkState {
    cut: bool,
    open: Vec<AbortHandle>,
}

impl DbLink {
    /// Listens on a free port of 127.0.0.1 and forwards each connection to `server`.
    pub fn open(server: SocketAddr) -> DbLink {
        let listener = StdListener::bind("127.0.0.1:0").expect("binding the database link");
        listener.set_nonblocking(true).expect("a non-blocking link");
        let port = listener.local_addr().expect("the link's address").port();
        let state = Arc::new(Mutex::new(LinkState::default()));
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the link's runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("the link's listener");
                tokio::select! {
                    _ = stopped => {}
                    () = forward_all(listener, server, shared) => {}
                }
            });
            // Dropping the runtime ends every forwarding task, closing its two sockets.
        });
        DbLink {
            port,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database becomes unreachable through this link: every connection is closed, and
    /// each new one is closed as soon as it is accepted.
    pub fn cut(&self) {
        let mut state = self.lock();
        state.cut = true;
        for task in state.open.drain(..) {
            task.abort();
        }
    }

    /// The database is reachable again through this link (for new connections).
    pub fn restore(&self) {
        self.lock().cut = false;
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for DbLink {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn forward_all(listener: TcpListener, server: SocketAddr, state: Arc<Mutex<LinkState>>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        // Checked and recorded under one lock: a connection accepted while `cut` runs is
        // either refused here or closed by it, never left open.
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.cut {
            continue;
        }
        state.open.retain(|task| !task.is_finished());
        let task = tokio::spawn(forward(inbound, server));
        state.open.push(task.abort_handle());
    }
}

async fn forward(mut inbound: TcpStream, server: SocketAddr) {
    let Ok(mut outbound) = TcpStream::connect(server).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

/// A Chromium browser process (not one of its helpers) of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    /// The session's folder under `sessions/`: its id (warm spares aside, which these tests
    /// do not use).
    pub session: String,
    pub pid: u32,
    /// The `sessions/` folder of the node that runs it.
    pub sessions_dir: PathBuf,
}

/// The browsers whose `--user-data-dir` is `<D>/<ID>/profile` for one of `sessions_dirs`.
///
/// Chromium's helpers carry `--type=`. A child the browser has forked has the browser's
/// command line until it execs, so a process whose parent is on the same profile is no second
/// browser either.
pub fn browsers(sessions_dirs: &[PathBuf]) -> Vec<Browser> {
    let candidates: Vec<(u32, u32, String, Browser)> = wamux_procfs::processes()
        .filter(|p| !p.zombie)
        .filter_map(|p| {
            let line = wamux_procfs::cmdline(p.pid)?;
            if line.contains("--type=") {
                return None;
            }
            let profile = line
                .split(' ')
                .filter_map(|arg| arg.strip_prefix("--user-data-dir="))
                .next_back()?;
            let (sessions_dir, session) = session_of(Path::new(profile), sessions_dirs)?;
            Some((
                p.pid,
                p.ppid,
                profile.to_owned(),
                Browser {
                    session,
                    pid: p.pid,
                    sessions_dir,
                },
            ))
        })
        .collect();
    candidates
        .iter()
        .filter(|(_, ppid, profile, _)| {
            !candidates
                .iter()
                .any(|(pid, _, other, _)| pid == ppid && other == profile)
        })
        .map(|(_, _, _, browser)| browser.clone())
        .collect()
}

/// `(D, ID)` when `profile` is `D/ID/profile` for a `D` of `sessions_dirs`.
fn session_of(profile: &Path, sessions_dirs: &[PathBuf]) -> Option<(PathBuf, String)> {
    sessions_dirs.iter().find_map(|dir| {
        let rest = profile.strip_prefix(dir).ok()?;
        let mut parts = rest.iter();
        let id = parts.next()?.to_str()?.to_owned();
        (parts.next()? == "profile" && parts.next().is_none()).then(|| (dir.clone(), id))
    })
}

/// A background sampler of the browsers of the sessions of every node it watches.
pub struct BrowserCensus {
    dirs: Arc<Mutex<Vec<PathBuf>>>,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Tally {
    samples: u64,
    /// Per session, the most browsers seen at once.
    peak: BTreeMap<String, usize>,
    /// The first sample with two browsers of one session, described.
    first_double: Option<String>,
}

impl Tally {
    fn record(&mut self, at: Duration, seen: &[Browser]) {
        self.samples += 1;
        let mut count: BTreeMap<&str, Vec<&Browser>> = BTreeMap::new();
        for b in seen {
            count.entry(&b.session).or_default().push(b);
        }
        for (session, of) in count {
            let peak = self.peak.entry(session.to_owned()).or_default();
            *peak = (*peak).max(of.len());
            if of.len() > 1 && self.first_double.is_none() {
                let where_: Vec<String> = of
                    .iter()
                    .map(|b| format!("pid {} in {}", b.pid, b.sessions_dir.display()))
                    .collect();
                self.first_double = Some(format!(
                    "session {session} had {} browsers at once, {at:?} into the census: {}",
                    of.len(),
                    where_.join(", ")
                ));
            }
        }
    }
}

impl BrowserCensus {
    /// Starts sampling; it watches no node until [`BrowserCensus::watch`].
    pub fn start() -> BrowserCensus {
        let dirs: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (dirs, tally, stop) = (dirs.clone(), tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let watched = dirs.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    let seen = browsers(&watched);
                    tally
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(started.elapsed(), &seen);
                    std::thread::sleep(SAMPLE);
                }
            })
        };
        BrowserCensus {
            dirs,
            tally,
            stop,
            sampler: Some(sampler),
        }
    }

    /// Counts the browsers of the sessions under `sessions_dir` (a node's `sessions/`) too.
    pub fn watch(&self, sessions_dir: PathBuf) {
        self.dirs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sessions_dir);
    }

    /// The browsers of every watched node, now.
    pub fn browsers(&self) -> Vec<Browser> {
        browsers(&self.dirs.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The pids of session `id`'s browsers on any node, now.
    pub fn browsers_of(&self, id: &str) -> Vec<u32> {
        self.browsers()
            .into_iter()
            .filter(|b| b.session == id)
            .map(|b| b.pid)
            .collect()
    }

    /// The most browsers session `id` had at once so far.
    pub fn peak(&self, id: &str) -> usize {
        self.tally().peak.get(id).copied().unwrap_or(0)
    }

    /// No session ever had two browsers at once, and each of `sessions` was seen in one (a
    /// census that saw nothing would prove nothing).
    pub fn assert_one_browser_each(&self, sessions: &[&str]) {
        let tally = self.tally();
        if let Some(double) = &tally.first_double {
            panic!("{double}");
        }
        for id in sessions {
            assert_eq!(
                tally.peak.get(*id).copied().unwrap_or(0),
                1,
                "the census never saw a browser of {id} in {} samples",
                tally.samples
            );
        }
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for BrowserCensus {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
    }
}

/// One event of `/api/events`: its SSE `id:` (the event log's), `event:` name and `data:`
/// (JSON, or the raw text when it is not).
#[derive(Debug, Clone)]
pub struct StreamedEvent {
    pub id: Option<String>,
    pub name: String,
    pub data: Value,
}

/// `GET /api/events` of one node without `Last-Event-ID` (live only), read in the background
/// until dropped.
pub struct EventStream {
    got: Arc<Mutex<Vec<StreamedEvent>>>,
    reader: AbortHandle,
}

impl EventStream {
    /// Opens the stream of `node`. The node subscribes it before it answers, so it carries
    /// every event published after this returns.
    pub async fn open(node: &Daemon) -> EventStream {
        let mut response = reqwest::get(format!("{}/api/events", node.url))
            .await
            .expect("the node answers /api/events");
        assert_eq!(response.status(), 200, "GET /api/events");
        let got: Arc<Mutex<Vec<StreamedEvent>>> = Arc::default();
        let reader = tokio::spawn({
            let got = got.clone();
            async move {
                // Bytes, not text: a chunk may end inside a character.
                let mut buffer = Vec::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    buffer.extend_from_slice(&chunk);
                    while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                        let block: Vec<u8> = buffer.drain(..end + 2).collect();
                        if let Some(event) = sse_event(&String::from_utf8_lossy(&block)) {
                            got.lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(event);
                        }
                    }
                }
            }
        });
        EventStream {
            got,
            reader: reader.abort_handle(),
        }
    }

    /// Every event read so far, in arrival order.
    pub fn got(&self) -> Vec<StreamedEvent> {
        self.got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The event of one SSE block, or `None` for a block without data (a keep-alive comment).
fn sse_event(block: &str) -> Option<StreamedEvent> {
    let (mut id, mut name, mut data) = (None, "message".to_owned(), Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => name = value.to_owned(),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    let raw = data.join("\n");
    let data = serde_json::from_str(&raw).unwrap_or(Value::String(raw));
    Some(StreamedEvent { id, name, data })
}

/// One `wamux serve` of a [`Cluster`]; it derefs to its [`Daemon`].
pub struct Node {
    pub id: String,
    pub daemon: Daemon,
    /// Its way to the database.
    pub db: DbLink,
}

impl Node {
    /// Its `sessions/` folder, as its browsers name it.
    pub fn sessions_dir(&self) -> PathBuf {
        self.daemon
            .data_dir
            .path()
            .canonicalize()
            .expect("data dir exists")
            .join("sessions")
    }

    /// The machine dies: `kill -9` of the daemon and of everything it started, at once.
    pub fn kill_machine(&mut self) {
        self.daemon.kill9();
        self.daemon.kill_leftovers();
    }
}

impl Deref for Node {
    type Target = Daemon;

    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// Nodes `n1`, `n2`, … on one fresh database and one fake WhatsApp Web, watched by a
/// [`BrowserCensus`]. Dropping it stops every node (all at once, so that none takes over the
/// sessions of another that stops first), then drops the database.
pub struct Cluster {
    nodes: Vec<Node>,
    pub census: BrowserCensus,
    web_url: String,
    extra: Vec<String>,
    database: Database,
    /// Under `cargo test` the tests of one binary share a process: one cluster at a time.
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts `nodes` nodes against `web_url`, each with `extra` flags too, and waits until each
    /// lists itself alive in `/api/nodes`.
    pub async fn start(web_url: &str, nodes: usize, extra: &[&str]) -> Cluster {
        static TURN: Mutex<()> = Mutex::new(());
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cluster = Cluster {
            nodes: Vec::new(),
            census: BrowserCensus::start(),
            web_url: web_url.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            database: Postgres::database(),
            _turn: turn,
        };
        for _ in 0..nodes {
            cluster.add_node().await;
        }
        cluster
    }

    /// Starts the next node, `n<k>`, and waits until it lists itself alive.
    pub async fn add_node(&mut self) -> &Node {
        let id = format!("n{}", self.nodes.len() + 1);
        let link = DbLink::open(self.database.server());
        let url = self.database.url_via(link.port());
        let ttl = format!("{}s", LEASE_TTL.as_secs());
        let mut args = vec!["--database", &url, "--node-id", &id, "--lease-ttl", &ttl];
        args.extend(self.extra.iter().map(String::as_str));
        let daemon = Daemon::start_in_with_env(TempDir::new("data"), &self.web_url, &args, &[]);
        let node = Node {
            id,
            daemon,
            db: link,
        };
        self.census.watch(node.sessions_dir());
        eventually(
            &format!("{} to list itself alive", node.id),
            DEADLINE,
            || {
                let node = &node;
                async move {
                    let listed = nodes(node).await;
                    listed
                        .iter()
                        .any(|n| n["id"] == node.id.as_str() && n["alive"] == true)
                        .then_some(())
                }
            },
        )
        .await;
        self.nodes.push(node);
        self.nodes.last().expect("just pushed")
    }

    pub fn node(&self, id: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn node_mut(&mut self, id: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Links session `id` to the fake phone `phone` through node `via`, and waits until its
    /// profile was saved (see [`Cluster::wait_saved`]).
    pub async fn link(&self, via: &str, fake: &FakeServer, id: &str, phone: &str) {
        let scanned = self.scan(via, fake, id, phone).await;
        self.wait_saved(via, id, &scanned).await;
    }

    /// Scans session `id`'s QR code, read through node `via`, with the fake phone `phone`, and
    /// waits until it is WORKING; returns the pids of the browsers that showed the QR code.
    pub async fn scan(&self, via: &str, fake: &FakeServer, id: &str, phone: &str) -> Vec<u32> {
        let node = self.node(via);
        node.qr_payload(id).await;
        let showing = self.census.browsers_of(id);
        assert!(!showing.is_empty(), "no browser shows {id}'s QR code");
        node.link(fake, id, phone).await;
        showing
    }

    /// Waits until session `id` is WORKING in a browser other than `scanned`: a linked
    /// session's browser is closed, its profile saved and the browser opened again, and only a
    /// saved profile lets another node take the session over without a new scan.
    pub async fn wait_saved(&self, via: &str, id: &str, scanned: &[u32]) {
        let node = self.node(via);
        eventually(
            &format!("{id} WORKING again after saving its profile"),
            DEADLINE,
            || async {
                let d = detail_without_a_scan(node, id).await?;
                let now = self.census.browsers_of(id);
                let reopened = !now.is_empty() && now.iter().all(|pid| !scanned.contains(pid));
                (d["status"] == "WORKING" && reopened).then_some(())
            },
        )
        .await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.db.restore();
        }
        let nodes: Vec<Node> = self.nodes.drain(..).collect();
        std::thread::scope(|scope| {
            for node in nodes {
                scope.spawn(move || drop(node));
            }
        });
    }
}

/// `GET /api/nodes` through `via`: the nodes, oldest first.
pub async fn nodes(via: &Daemon) -> Vec<Value> {
    let (code, body) = via.get("/api/nodes").await;
    assert_eq!(code, 200, "GET /api/nodes: {body}");
    body["nodes"].as_array().cloned().unwrap_or_default()
}

/// The sessions node `node` owns, sorted, as `/api/nodes` through `via` lists them.
pub async fn owned_by(via: &Daemon, node: &str) -> Vec<String> {
    let listed = nodes(via).await;
    let entry = listed
        .iter()
        .find(|n| n["id"] == node)
        .unwrap_or_else(|| panic!("no node {node} in {listed:?}"));
    let mut ids: Vec<String> = entry["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("sessions of {entry}"))
        .iter()
        .map(|s| s.as_str().expect("a session id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Session `id`'s detail through `via` (`None` while it cannot be read); fails at once if it
/// asks for a new scan or failed.
pub async fn detail_without_a_scan(via: &Daemon, id: &str) -> Option<Value> {
    let (code, d) = via.get(&format!("/api/sessions/{id}")).await;
    if code != 200 {
        return None;
    }
    assert_ne!(
        d["status"], "SCAN_QR_CODE",
        "{id} asked for a new scan: {d}"
    );
    assert_ne!(d["status"], "FAILED", "{id} failed: {d}");
    Some(d)
}

/// Waits until session `id`, asked through `via`, is WORKING on node `node`, for at most
/// `limit`; fails at once if it asks for a new scan or fails on the way. Returns its detail.
pub async fn working_on(via: &Daemon, id: &str, node: &str, limit: Duration) -> Value {
    eventually(&format!("{id} WORKING on {node}"), limit, || async {
        let d = detail_without_a_scan(via, id).await?;
        (d["node"] == node && d["status"] == "WORKING").then_some(d)
    })
    .await
}
