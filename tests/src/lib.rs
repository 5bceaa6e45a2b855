//! The harness of the end-to-end tests: the real `wamux` daemon (the built binary, which
//! starts real `wamux-worker`s, chromedrivers and Chromiums) against the fake WhatsApp Web.
//!
//! Every wait polls a condition up to a deadline; nothing sleeps a fixed time and hopes.
//! A [`Daemon`] dropped by a failing test still ends its process tree and every browser on
//! its data directory, so no test leaves a process behind.

pub mod cluster;
pub mod fake_worker;
pub mod webhook_receiver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub use wamux_fake_web::{FakeConfig, FakeServer};
pub use wamux_procfs::Proc;
use wamux_procfs::{Group, ProcessInfo, Signal};

/// Generous: five Chromiums starting at once on two cores take about ten seconds.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// A built binary of the workspace: beside the test executable's `deps/` directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (the test script does)",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir, removed by [`TempDir`]'s drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("wamux-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` until it yields a value or `limit` passes.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Live processes whose command line contains `needle`, with that command line.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    mentioning(needle)
        .into_iter()
        .map(|(p, line)| (p.pid, line))
        .collect()
}

/// Live processes other than this one whose command line contains `needle`.
fn mentioning(needle: &str) -> Vec<(ProcessInfo, String)> {
    let me = std::process::id();
    wamux_procfs::processes()
        .filter(|p| p.pid != me && !p.zombie)
        .filter_map(|p| {
            let line = wamux_procfs::cmdline(p.pid)?;
            line.contains(needle).then_some((p, line))
        })
        .collect()
}

/// Whether the process seen as `p` still lives (and is not a zombie).
pub fn alive(p: Proc) -> bool {
    p.alive()
}

/// SIGKILL to one process.
pub fn kill9(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
}

fn kill_mentioning(needle: &str) {
    for (p, _) in mentioning(needle) {
        // A worker leads the group of its chromedriver, whose command line names no path of
        // ours: the whole group goes.
        if p.pgid == p.pid {
            Group::led_by(p.pid).kill();
        }
        let _ = wamux_procfs::kill(p.proc(), Signal::SIGKILL);
    }
}

/// Starts the fake WhatsApp Web in this process.
pub async fn fake(config: FakeConfig) -> FakeServer {
    FakeServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("starting the fake WhatsApp Web")
}

/// A running `wamux serve`.
pub struct Daemon {
    child: Option<Child>,
    pub url: String,
    pub data_dir: TempDir,
    http: reqwest::Client,
}

impl Daemon {
    /// Starts `wamux serve` against `web_url` with a fresh data directory.
    pub fn start(web_url: &str, extra: &[&str]) -> Daemon {
        Self::start_in(TempDir::new("data"), web_url, extra)
    }

    /// Starts `wamux serve` on an existing data directory.
    pub fn start_in(data_dir: TempDir, web_url: &str, extra: &[&str]) -> Daemon {
        Self::start_in_with_env(data_dir, web_url, extra, &[])
    }

    /// Starts `wamux serve` on an existing data directory with `env` added to its environment.
    pub fn start_in_with_env(
        data_dir: TempDir,
        web_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let (child, url) = spawn_daemon(data_dir.path(), web_url, extra, env);
        Daemon {
            child: Some(child),
            url,
            data_dir,
            http: reqwest::Client::new(),
        }
    }

    /// Starts a new `wamux serve` on the same data directory, after the last one ended.
    pub fn restart(&mut self, web_url: &str, extra: &[&str]) {
        assert!(self.child.is_none(), "the previous daemon still runs");
        let (child, url) = spawn_daemon(self.data_dir.path(), web_url, extra, &[]);
        self.child = Some(child);
        self.url = url;
    }

    /// `kill -9` of the daemon; its workers and browsers are left to fend for themselves.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running daemon");
        child.kill().expect("SIGKILL to the daemon");
        child.wait().expect("reaping the daemon");
    }

    /// Everything the daemon knows of session `id`.
    pub async fn detail(&self, id: &str) -> Value {
        let (code, body) = self.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(code, 200, "detail of {id}: {body}");
        body
    }

    /// The processes of session `id`'s worker process group, as the daemon reports its worker.
    pub async fn worker_tree(&self, id: &str) -> Vec<Proc> {
        let pgid = self.detail(id).await["workerPid"]
            .as_u64()
            .expect("a worker pid") as u32;
        wamux_procfs::group_members(pgid)
    }

    pub fn profile(&self, id: &str) -> PathBuf {
        self.data_dir
            .path()
            .canonicalize()
            .expect("data dir exists")
            .join("sessions")
            .join(id)
            .join("profile")
    }

    /// Processes with this session's profile on their command line.
    pub fn processes_of(&self, id: &str) -> Vec<(u32, String)> {
        processes_mentioning(&self.profile(id).to_string_lossy())
    }

    /// One API call: (status code, JSON body or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the daemon answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn create(&self, id: &str) -> Value {
        let (status, body) = self.post("/api/sessions", json!({"sessionId": id})).await;
        assert_eq!(status, 201, "creating {id}: {body}");
        body
    }

    pub async fn status(&self, id: &str) -> Value {
        let (code, body) = self.get(&format!("/api/sessions/{id}/status")).await;
        assert_eq!(code, 200, "status of {id}: {body}");
        body
    }

    /// Waits until session `id` has `status`; fails early if it becomes FAILED instead.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        eventually(&format!("{id} to be {status}"), DEADLINE, || async {
            let body = self.status(id).await;
            if status != "FAILED" && body["status"] == "FAILED" {
                panic!("{id} failed: {body}");
            }
            (body["status"] == status).then_some(body)
        })
        .await
    }

    /// The live QR payload of `id`, once there is one.
    pub async fn qr_payload(&self, id: &str) -> String {
        eventually(&format!("a QR code for {id}"), DEADLINE, || async {
            let (code, body) = self.get(&format!("/api/sessions/{id}/qr?format=raw")).await;
            (code == 200).then(|| body["qr"].as_str().expect("qr string").to_owned())
        })
        .await
    }

    /// Scans the session's current QR with the fake phone `phone`, retrying when the payload
    /// rotated between reading and scanning; waits until the session is WORKING.
    pub async fn link(&self, fake: &FakeServer, id: &str, phone: &str) -> Value {
        eventually(&format!("a successful scan for {id}"), DEADLINE, || async {
            let payload = self.qr_payload(id).await;
            let code = fake_post(fake, "/__fake/scan", json!({"qr": payload, "phone": phone}))
                .await
                .0;
            (code == 200).then_some(())
        })
        .await;
        self.wait_status(id, "WORKING").await
    }

    /// Starts `wamux serve` against `fake` with one session `id` linked to the fake phone
    /// `phone`.
    pub async fn linked(fake: &FakeServer, extra: &[&str], id: &str, phone: &str) -> Daemon {
        let daemon = Daemon::start(&fake.url(), extra);
        daemon.create(id).await;
        daemon.link(fake, id, phone).await;
        daemon
    }

    /// Message `message_id` of session `id`, which must exist.
    pub async fn message(&self, id: &str, message_id: &str) -> Value {
        let (code, body) = self
            .get(&format!("/api/sessions/{id}/messages/{message_id}"))
            .await;
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Waits until message `message_id` of session `id` is sent (or already delivered or
    /// read); fails early if it failed or expired instead. Returns it.
    pub async fn wait_sent(&self, id: &str, message_id: &str) -> Value {
        eventually(
            &format!("message {message_id} to be sent"),
            DEADLINE,
            || async {
                let m = self.message(id, message_id).await;
                assert!(
                    !matches!(m["status"].as_str(), Some("failed" | "expired")),
                    "{m}"
                );
                matches!(m["status"].as_str(), Some("sent" | "delivered" | "read")).then_some(m)
            },
        )
        .await
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running daemon");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        wait_child(&mut child, Duration::from_secs(60)).expect("wamux exits after SIGTERM")
    }

    /// SIGTERM, then at once SIGINT (two signals of one kind sent back to back can arrive as
    /// one); waits for the exit.
    pub fn signal_twice(&mut self) -> std::process::ExitStatus {
        use nix::sys::signal::{Signal, kill};
        let mut child = self.child.take().expect("running daemon");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        for signal in [Signal::SIGTERM, Signal::SIGINT] {
            let _ = kill(pid, signal);
        }
        wait_child(&mut child, Duration::from_secs(60)).expect("wamux exits after two signals")
    }

    /// SIGKILL to every process of this data directory (workers, their chromedrivers, browsers)
    /// until none is left, for at most ten seconds: what a dead machine leaves of its daemon.
    pub fn kill_leftovers(&self) {
        // Every process of the daemon names a path inside the directory; the slash keeps
        // `data-1` from matching `data-10`.
        let dir = format!("{}/", self.data_dir.path().to_string_lossy());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_mentioning(&dir).is_empty() && Instant::now() < deadline {
            kill_mentioning(&dir);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the `wamux` CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("wamux"))
            .args(args)
            .env("WAMUX_URL", &self.url)
            .output()
            .expect("running the wamux CLI")
    }
}

fn spawn_daemon(
    data_dir: &Path,
    web_url: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut child = Command::new(bin("wamux"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--web-url", web_url])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning wamux serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("wamux listening on ") {
                    break url.trim().to_owned();
                }
            }
            _ => {
                let status = child.wait();
                panic!("wamux serve exited before listening: {status:?}");
            }
        }
    };
    // Keep draining stdout so the daemon never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn wait_child(child: &mut Child, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            bail!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            if wait_child(&mut child, Duration::from_secs(30)).is_err() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Whatever happened above, nothing may outlive the test.
        self.kill_leftovers();
    }
}

/// A call to the fake's control API: (status code, JSON body or Null).
pub async fn fake_post(fake: &FakeServer, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.url()))
        .json(&body)
        .send()
        .await
        .expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn fake_get(fake: &FakeServer, path: &str) -> Value {
    reqwest::get(format!("{}{path}", fake.url()))
        .await
        .expect("the fake answers")
        .json()
        .await
        .expect("JSON from the fake")
}

/// Decodes the QR code in a PNG image to its text.
pub fn decode_qr_png(bytes: &[u8]) -> anyhow::Result<String> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    anyhow::ensure!(
        info.color_type == png::ColorType::Grayscale && info.bit_depth == png::BitDepth::Eight,
        "expected 8-bit greyscale, got {:?} {:?}",
        info.color_type,
        info.bit_depth
    );
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = image.detect_grids();
    anyhow::ensure!(
        grids.len() == 1,
        "expected one QR code, found {}",
        grids.len()
    );
    let (_, content) = grids[0].decode().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(content)
}

/// Waits until session `id` is WORKING again after a restart (its restart count passed
/// `restarts_before`), failing if it ever asks for a new QR code on the way.
pub async fn back_to_working_without_qr(daemon: &Daemon, id: &str, restarts_before: u64) -> Value {
    eventually(&format!("{id} to come back WORKING"), DEADLINE, || async {
        let (code, d) = daemon.get(&format!("/api/sessions/{id}")).await;
        if code != 200 {
            return None;
        }
        assert_ne!(d["status"], "SCAN_QR_CODE", "{id} asked for a new QR: {d}");
        assert_ne!(d["status"], "FAILED", "{id} failed: {d}");
        let restarted = d["restarts"].as_u64().unwrap_or(0) > restarts_before;
        (restarted && d["status"] == "WORKING").then_some(d)
    })
    .await
}

/// Waits until none of `procs` is alive.
pub async fn all_gone(what: &str, procs: &[Proc]) {
    assert!(
        wamux_procfs::wait_gone(procs, DEADLINE).await,
        "timed out waiting for {what}"
    );
}
