//! wamux as a service: the systemd notification protocol as the daemon speaks it, the unit
//! in deploy/systemd as `systemd-analyze verify` reads it, and the PM2 ecosystem file in
//! deploy/pm2 driving the real daemon, its workers and their Chromiums.
//!
//! The test command installs systemd (for `systemd-analyze`; it need not run) and PM2.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use wamux_e2e::*;

/// The daemon's own clean stop takes at most this long (the workers' 10 s grace and a 15 s
/// margin); the unit and PM2 must wait longer before they kill it.
const DAEMON_STOP_BOUND: Duration = Duration::from_secs(25);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` to completion within `limit`, killing it past that.
fn run(command: &mut Command, limit: Duration) -> Output {
    let what = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap_or_else(|e| panic!("waiting for {what}: {e}")),
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            panic!("{what} did not finish within {limit:?}");
        }
    }
}

fn succeeded(what: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// Waits for `child` to exit within `limit`.
fn exit_of(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// The notification protocol

/// `wamux serve` with `NOTIFY_SOCKET` at a datagram socket the test owns, as systemd starts a
/// `Type=notify` service. Killed on drop, so a failing test leaves no daemon behind.
struct Notified {
    child: Child,
    socket: UnixDatagram,
    /// The address from the daemon's "wamux listening on" line, once printed.
    url: mpsc::Receiver<String>,
    _dir: TempDir,
}

impl Notified {
    fn start(extra_env: &[(&str, &str)]) -> Notified {
        let dir = TempDir::new("notify");
        let socket_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).expect("binding the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let mut command = Command::new(bin("wamux"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            // No session is created: nothing needs a working chromedriver.
            .args(["--chromedriver", "/bin/false"])
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawning wamux serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, url) = mpsc::channel();
        // Reads to the end so the daemon never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("wamux listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        Notified {
            child,
            socket,
            url,
            _dir: dir,
        }
    }

    /// The next datagram that has `state` as one of its lines, within `limit`; the others
    /// are returned too, in order.
    fn wait_for(&mut self, state: &str, limit: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            // Whatever it sent before exiting is still queued on the socket.
            let exited = self.child.try_wait().expect("waiting for wamux");
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let datagram = text(&buf[..n]);
                    if datagram.lines().any(|line| line == state) {
                        return (datagram, seen);
                    }
                    seen.push(datagram);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Some(status) = exited {
                        panic!("wamux exited ({status:?}) without {state}; received {seen:?}");
                    }
                }
                Err(e) => panic!("reading the notify socket: {e}"),
            }
        }
        panic!("no {state} within {limit:?}; received {seen:?}");
    }

    fn terminate(&mut self) -> ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        exit_of(&mut self.child, Duration::from_secs(60)).expect("wamux exits after SIGTERM")
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_once_the_api_answers_and_stopping_on_sigterm() {
    let mut daemon = Notified::start(&[]);
    let (ready, before) = daemon.wait_for("READY=1", DEADLINE);
    // The line is printed before READY=1 is sent.
    let url = daemon
        .url
        .recv_timeout(Duration::from_secs(5))
        .expect("the daemon printed its address");
    let health = reqwest::get(format!("{url}/health"))
        .await
        .expect("the API answers as soon as READY=1 arrives");
    assert_eq!(health.status().as_u16(), 200, "GET /health at READY=1");
    assert!(before.is_empty(), "datagrams before READY=1: {before:?}");
    assert!(
        ready.contains(&format!("STATUS=serving on {url}")),
        "{ready:?}"
    );

    kill(Pid::from_raw(daemon.child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    daemon.wait_for("STOPPING=1", Duration::from_secs(10));
    let status = exit_of(&mut daemon.child, Duration::from_secs(60)).expect("wamux exits");
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_is_pinged_at_half_its_interval() {
    let mut daemon = Notified::start(&[("WATCHDOG_USEC", "200000")]);
    daemon.wait_for("READY=1", DEADLINE);
    // Two pings in a row: the daemon keeps pinging, not only once at start.
    let started = Instant::now();
    daemon.wait_for("WATCHDOG=1", Duration::from_secs(5));
    daemon.wait_for("WATCHDOG=1", Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "two pings took {:?} with a 200 ms watchdog",
        started.elapsed()
    );
    assert!(daemon.terminate().success());
}

// ---------------------------------------------------------------------------------------------
// The systemd unit

/// `systemd-analyze verify` on `unit`: its exit status, and every line it printed.
fn verify(unit: &Path) -> (ExitStatus, String) {
    let out = run(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(unit),
        Duration::from_secs(60),
    );
    (
        out.status,
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let source = std::fs::read_to_string(repo_root().join("deploy/systemd/wamux.service"))
        .expect("deploy/systemd/wamux.service");
    for setting in [
        "Type=notify",
        "NotifyAccess=main",
        "User=wamux",
        "StateDirectory=wamux",
        "EnvironmentFile=-/etc/wamux/wamux.env",
        "Restart=on-failure",
    ] {
        assert!(source.lines().any(|l| l == setting), "{setting} is missing");
    }
    // systemd waits this long for the stop before its SIGKILL: the daemon must have finished.
    let stop = source
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec=");
    let stop_secs: u64 = stop
        .strip_suffix('s')
        .and_then(|s| s.parse().ok())
        .expect("TimeoutStopSec= in seconds");
    assert!(Duration::from_secs(stop_secs) > DAEMON_STOP_BOUND);

    // verify requires ExecStart= to exist: the built binary stands in for the installed one.
    let installed = "ExecStart=/usr/local/bin/wamux serve";
    assert_eq!(
        source.lines().filter(|l| *l == installed).count(),
        1,
        "one {installed} line"
    );
    let built = format!("ExecStart={} serve", bin("wamux").display());
    let dir = TempDir::new("unit");
    let unit = dir.path().join("wamux.service");
    std::fs::write(&unit, source.replace(installed, &built)).unwrap();

    // verify exits 0 on many mistakes and only prints them, with the file's name.
    let (status, printed) = verify(&unit);
    assert!(
        status.success() && !printed.contains("wamux.service"),
        "systemd-analyze verify: {status:?}\n{printed}"
    );

    // The same check does catch a broken unit.
    let broken_dir = TempDir::new("unit-broken");
    let broken = broken_dir.path().join("wamux.service");
    let typo = source
        .replace(installed, &built)
        .replace("[Service]\n", "[Service]\nKilMode=mixed\n");
    std::fs::write(&broken, typo).unwrap();
    let (_, printed) = verify(&broken);
    assert!(
        printed.contains("wamux.service") && printed.contains("KilMode"),
        "a misspelt key went unnoticed: {printed}"
    );
}

// ---------------------------------------------------------------------------------------------
// PM2

/// PM2 from `PM2_BIN`, the test command's cache, or `PATH`.
fn pm2_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PM2_BIN") {
        return PathBuf::from(path);
    }
    let cached = repo_root().join(".cache/pm2/node_modules/.bin/pm2");
    if cached.is_file() {
        return cached;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("pm2"))
        .find(|p| p.is_file())
        .expect("PM2 is not installed: scripts/test.sh installs it into .cache/pm2")
}

/// A PM2 of this test's own (its `PM2_HOME`), whose environment is what the README's
/// `pm2 start` would see. Dropping it kills that PM2 and anything left on its data dir.
struct Pm2 {
    bin: PathBuf,
    home: TempDir,
    data_dir: TempDir,
    env: Vec<(String, String)>,
}

impl Pm2 {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(args).current_dir(repo_root());
        // Nothing from the caller's wamux configuration leaks in.
        for (name, _) in std::env::vars() {
            if name.starts_with("WAMUX_") {
                command.env_remove(name);
            }
        }
        command
            .env("PM2_HOME", self.home.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let what = format!("pm2 {}", args.join(" "));
        // Generous: `pm2 stop` may wait for the daemon's whole clean stop.
        succeeded(&what, run(&mut self.command(args), Duration::from_secs(90)))
    }

    /// PM2's own view of its apps.
    fn apps(&self) -> Vec<Value> {
        let out = self.run(&["jlist"]);
        let list: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("pm2 jlist is not JSON ({e}): {}", text(&out.stdout)));
        list.as_array().expect("a list of apps").clone()
    }

    /// Chromiums on this test's data dir.
    fn browsers(&self) -> Vec<(u32, String)> {
        let dir = self.data_dir.path().canonicalize().expect("the data dir");
        processes_mentioning(&format!("--user-data-dir={}/", dir.display()))
    }

    /// Live processes of this PM2: its daemon, the app, and all they started, which inherit
    /// its PM2_HOME; and anything else on the data dir.
    fn family_left(&self) -> Vec<u32> {
        let mut pids = processes_with_env(&format!("PM2_HOME={}", self.home.path().display()));
        let dir = format!("{}/", self.data_dir.path().display());
        pids.extend(processes_mentioning(&dir).into_iter().map(|(pid, _)| pid));
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

/// Live processes (other than this one) whose environment holds `entry`, a NAME=value.
fn processes_with_env(entry: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = dir.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // A zombie's environment reads as empty.
        let Ok(environ) = std::fs::read(dir.path().join("environ")) else {
            continue;
        };
        if pid != me && environ.split(|b| *b == 0).any(|e| e == entry.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        if !self.family_left().is_empty() {
            // pm2 kill stops the apps the way pm2 stop does, then PM2's daemon itself.
            if let Ok(mut child) = self
                .command(&["kill"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                && exit_of(&mut child, Duration::from_secs(60)).is_none()
            {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.family_left();
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            for pid in left {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn health(http: &reqwest::Client, url: &str) -> Option<u16> {
    let response = http.get(format!("{url}/health")).send().await.ok()?;
    Some(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn pm2_runs_the_ecosystem_file_as_documented() {
    let config = repo_root().join("deploy/pm2/ecosystem.config.js");
    let fake = fake(FakeConfig::default()).await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let home = TempDir::new("pm2home");
    let data_dir = TempDir::new("pm2data");
    let env = vec![
        ("WAMUX_BIN".into(), bin("wamux").display().to_string()),
        ("WAMUX_LISTEN".into(), format!("127.0.0.1:{port}")),
        (
            "WAMUX_DATA_DIR".into(),
            data_dir.path().display().to_string(),
        ),
        ("WAMUX_WEB_URL".into(), fake.url()),
        ("RUST_LOG".into(), "info".into()),
    ];
    let pm2 = Pm2 {
        bin: pm2_bin(),
        home,
        data_dir,
        env,
    };

    // The file as PM2 reads it: the binary itself, stopped more patiently than the daemon.
    let app = run(
        Command::new("node")
            .arg("-e")
            .arg("process.stdout.write(JSON.stringify(require(process.argv[1]).apps[0]))")
            .arg(&config),
        Duration::from_secs(30),
    );
    let app: Value = serde_json::from_slice(&succeeded("node", app).stdout).unwrap();
    assert_eq!(app["interpreter"], "none", "{app}");
    assert_eq!(app["args"], "serve", "{app}");
    assert_eq!(app["script"], "/usr/local/bin/wamux", "{app}");
    let kill_timeout = app["kill_timeout"].as_u64().expect("kill_timeout in ms");
    assert!(
        Duration::from_millis(kill_timeout) > DAEMON_STOP_BOUND,
        "{app}"
    );

    pm2.run(&["start", "deploy/pm2/ecosystem.config.js"]);
    let http = reqwest::Client::new();
    eventually("the API under PM2", DEADLINE, || async {
        (health(&http, &url).await == Some(200)).then_some(())
    })
    .await;
    let created = http
        .post(format!("{url}/api/sessions"))
        .json(&json!({"sessionId": "pm2"}))
        .send()
        .await
        .expect("the daemon answers");
    assert_eq!(created.status().as_u16(), 201);
    eventually("a Chromium for the session", DEADLINE, || async {
        (!pm2.browsers().is_empty()).then_some(())
    })
    .await;

    // `pm2 logs wamux` shows the daemon's stderr, where one session's lines carry its id.
    eventually("the session in pm2 logs", DEADLINE, || async {
        let logs = pm2.run(&["logs", "wamux", "--nostream", "--lines", "200"]);
        text(&logs.stdout).contains("session=pm2").then_some(())
    })
    .await;

    // What `pm2 startup` runs at boot is `pm2 resurrect` of what `pm2 save` wrote: the app
    // comes back with its environment, though this shell has none of it.
    pm2.run(&["save"]);
    pm2.run(&["kill"]);
    eventually("no Chromium after pm2 kill", DEADLINE, || async {
        pm2.browsers().is_empty().then_some(())
    })
    .await;
    let mut bare = pm2.command(&["resurrect"]);
    for (name, _) in &pm2.env {
        bare.env_remove(name);
    }
    succeeded("pm2 resurrect", run(&mut bare, Duration::from_secs(60)));
    eventually("the API after pm2 resurrect", DEADLINE, || async {
        (health(&http, &url).await == Some(200)).then_some(())
    })
    .await;
    eventually("the session's Chromium back", DEADLINE, || async {
        (!pm2.browsers().is_empty()).then_some(())
    })
    .await;

    let stopping = Instant::now();
    pm2.run(&["stop", "wamux"]);
    let stopped_in = stopping.elapsed();
    eventually("no Chromium after pm2 stop", DEADLINE, || async {
        pm2.browsers().is_empty().then_some(())
    })
    .await;
    let apps = pm2.apps();
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(apps[0]["pm2_env"]["status"], "stopped", "{}", apps[0]);
    // A clean stop, not PM2's SIGKILL after kill_timeout.
    assert!(
        stopped_in < DAEMON_STOP_BOUND,
        "pm2 stop took {stopped_in:?}"
    );
    assert_eq!(health(&http, &url).await, None, "the API still answers");

    pm2.run(&["delete", "wamux"]);
    assert!(pm2.apps().is_empty(), "pm2 delete left {:?}", pm2.apps());
    pm2.run(&["kill"]);
    eventually("PM2's daemon to exit", DEADLINE, || async {
        pm2.family_left().is_empty().then_some(())
    })
    .await;
}
