//! The test acting as the supervisor: a Unix socket in a temp dir, the real worker binary started
//! in its own process group against the in-process fake WhatsApp Web, and the phone's side
//! through the fake's control API.
//!
//! Every wait polls with a deadline. [`Worker`]'s `Drop` kills the worker's whole process group
//! and removes its temp dir, so a failing test leaves no Chromium behind.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use wamux_fake_web::{FakeConfig, FakeServer};
use wamux_proto::{
    Attempt, Hello, HelloReply, SendError, SentMessage, SupervisorCommand, WorkerEvent, read_frame,
    write_frame,
};

pub const PHONE: &str = "5215512345678";

pub type Outcome = Result<SentMessage, SendError>;

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "wamux-worker-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
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

pub struct Fake {
    pub server: FakeServer,
    http: reqwest::Client,
}

impl Fake {
    pub async fn start(config: FakeConfig) -> Fake {
        let server = FakeServer::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the fake starts");
        Fake {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// POSTs to the control API; returns the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Has the fake's phone receive `body` (a POST of `/__fake/incoming`); the message's id.
    pub async fn incoming(&self, body: Value) -> String {
        let (status, answer) = self.post("/__fake/incoming", body).await;
        assert_eq!(status, 200, "{answer}");
        answer["id"].as_str().expect("the message's id").to_owned()
    }

    /// A GET of the control API; its JSON answer.
    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// How many page loads the fake has seen.
    pub async fn page_loads(&self) -> u64 {
        self.get("/__fake/stats").await["page_loads"]
            .as_u64()
            .expect("page_loads")
    }

    /// The account's chat with `jid`, as the phone sees it: `unread`, `opened`, `seen`.
    pub async fn chat(&self, phone: &str, jid: &str) -> Value {
        let chats = self.get(&format!("/__fake/chats?phone={phone}")).await;
        chats
            .as_array()
            .and_then(|chats| chats.iter().find(|c| c["jid"] == jid).cloned())
            .unwrap_or_else(|| panic!("no chat {jid} in {chats}"))
    }

    /// What `from` has sent, oldest first.
    pub async fn sent(&self, from: &str) -> Vec<Value> {
        let answer = self.get(&format!("/__fake/sent?from={from}")).await;
        answer.as_array().cloned().unwrap_or_default()
    }

    /// Scans `payload` as the phone `phone` would.
    pub async fn scan(&self, payload: &str, phone: &str) {
        let (status, answer) = self
            .post("/__fake/scan", json!({"qr": payload, "phone": phone}))
            .await;
        assert_eq!(status, 200, "scan refused: {answer}");
    }
}

/// A running worker and the supervisor's end of its socket.
pub struct Worker {
    child: Child,
    pub profile: PathBuf,
    reader: Option<OwnedReadHalf>,
    writer: Option<OwnedWriteHalf>,
    /// Every event received so far, in order.
    pub events: Vec<WorkerEvent>,
    _dir: TempDir,
}

pub struct Launch<'a> {
    pub web_url: &'a str,
    pub profile: Option<&'a Path>,
    pub user_agent: Option<&'a str>,
    /// Close the reading end of the worker's stderr at once, as a dead supervisor does.
    pub stderr_closed: bool,
    /// `--send-timeout-secs`.
    pub send_timeout_secs: u64,
    /// `--media-dir`.
    pub media_dir: Option<&'a Path>,
    /// `--max-media-size`.
    pub max_media_size: Option<u64>,
}

impl<'a> Launch<'a> {
    pub fn new(web_url: &'a str) -> Launch<'a> {
        Launch {
            web_url,
            profile: None,
            user_agent: None,
            stderr_closed: false,
            send_timeout_secs: 30,
            media_dir: None,
            max_media_size: None,
        }
    }
}

impl Worker {
    pub async fn start(launch: Launch<'_>) -> Worker {
        let dir = TempDir::new("run");
        let socket = dir.path().join("supervisor.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let profile = launch
            .profile
            .map_or_else(|| dir.path().join("profile"), Path::to_path_buf);
        let mut command = Command::new(env!("CARGO_BIN_EXE_wamux-worker"));
        if let Some(agent) = launch.user_agent {
            command.args(["--user-agent", agent]);
        }
        if launch.stderr_closed {
            command.stderr(std::process::Stdio::piped());
        }
        if let Some(dir) = launch.media_dir {
            command.arg("--media-dir").arg(dir);
        }
        if let Some(max) = launch.max_media_size {
            command.arg("--max-media-size").arg(max.to_string());
        }
        let mut child = command
            .args(["--session-id", "test-session"])
            .arg("--profile-dir")
            .arg(&profile)
            .args(["--web-url", launch.web_url])
            .arg("--socket")
            .arg(&socket)
            .args(["--chromedriver", "/usr/bin/chromedriver"])
            .args(["--chromium", "/usr/lib/chromium/chromium"])
            .args(["--browser-start-timeout-secs", "60"])
            .args(["--webdriver-timeout-secs", "30"])
            .arg("--send-timeout-secs")
            .arg(launch.send_timeout_secs.to_string())
            .env("RUST_LOG", "wamux_worker=debug,info")
            .process_group(0)
            .spawn()
            .expect("the worker starts");
        drop(child.stderr.take());
        let mut worker = Worker {
            child,
            profile,
            reader: None,
            writer: None,
            events: Vec::new(),
            _dir: dir,
        };
        let stream: UnixStream = tokio::time::timeout(Duration::from_secs(20), listener.accept())
            .await
            .expect("the worker connects in time")
            .unwrap()
            .0;
        let (mut reader, mut writer) = stream.into_split();
        let hello: Hello = read_frame(&mut reader).await.unwrap().unwrap();
        hello.check("test-session").unwrap();
        assert_eq!(hello.worker_pid, worker.child.id());
        write_frame(&mut writer, &HelloReply::Welcome)
            .await
            .unwrap();
        worker.reader = Some(reader);
        worker.writer = Some(writer);
        worker
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub async fn command(&mut self, command: SupervisorCommand) {
        write_frame(self.writer.as_mut().unwrap(), &command)
            .await
            .unwrap();
    }

    /// The next event, recorded in `events`; panics at `deadline`.
    async fn next_event(&mut self, what: &str, deadline: tokio::time::Instant) -> WorkerEvent {
        let reader = self.reader.as_mut().unwrap();
        let event: WorkerEvent = match tokio::time::timeout_at(deadline, read_frame(reader)).await {
            Ok(Ok(Some(event))) => event,
            Ok(Ok(None)) => panic!(
                "the worker closed the socket while waiting for {what}; events: {:?}",
                self.events
            ),
            Ok(Err(err)) => panic!("bad frame while waiting for {what}: {err}"),
            Err(_) => panic!("no {what} in time; events: {:?}", self.events),
        };
        eprintln!("supervisor got {event:?}");
        // As the supervisor does once it stored the message; unanswered, the worker reports it
        // again.
        if let WorkerEvent::Incoming(message) = &event
            && let Some(writer) = self.writer.as_mut()
        {
            let stored = SupervisorCommand::IncomingStored {
                message_id: message.message_id.clone(),
            };
            write_frame(writer, &stored).await.unwrap();
        }
        self.events.push(event.clone());
        event
    }

    /// Reads events until one matches `want`, which it returns; panics after `within` or on a
    /// `Fatal`.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut want: impl FnMut(&WorkerEvent) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = self.next_event(what, deadline).await;
            assert!(
                !matches!(event, WorkerEvent::Fatal { .. }),
                "fatal while waiting for {what}: {event:?}"
            );
            if let Some(found) = want(&event) {
                return found;
            }
        }
    }

    /// Reads events until a `Fatal`, and returns its reason.
    pub async fn expect_fatal(&mut self, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let WorkerEvent::Fatal { reason } = self.next_event("Fatal", deadline).await {
                return reason;
            }
        }
    }

    /// Waits for the next QR event and returns its payload.
    pub async fn next_qr(&mut self, within: Duration) -> String {
        self.expect("a QR", within, |event| match event {
            WorkerEvent::Qr { payload } => Some(payload.clone()),
            _ => None,
        })
        .await
    }

    pub async fn expect_ready(&mut self, within: Duration) -> String {
        self.expect("Ready", within, |event| match event {
            WorkerEvent::Ready { phone_number } => Some(phone_number.clone()),
            _ => None,
        })
        .await
    }

    /// Sends a text as the supervisor does (a fresh send) and returns its outcome.
    pub async fn send_text(&mut self, request_id: u64, to: &str, text: &str) -> Outcome {
        self.send(request_id, to, text, None).await.0
    }

    /// Sends a text as the supervisor does, answering its `SendAttempt` at once: the outcome,
    /// and the attempt if the worker reported one.
    pub async fn send(
        &mut self,
        request_id: u64,
        to: &str,
        text: &str,
        resume: Option<Attempt>,
    ) -> (Outcome, Option<Attempt>) {
        let command = text_command(request_id, to, text, resume);
        self.run_send(request_id, command).await
    }

    /// Sends `command` (a `SendText` or `SendMedia` for `request_id`), answering its
    /// `SendAttempt` at once: the outcome, and the attempt if the worker reported one.
    pub async fn run_send(
        &mut self,
        request_id: u64,
        command: SupervisorCommand,
    ) -> (Outcome, Option<Attempt>) {
        self.command(command).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut attempt = None;
        loop {
            match self.next_event("the send result", deadline).await {
                WorkerEvent::SendAttempt {
                    request_id: id,
                    attempt: recorded,
                } if id == request_id => {
                    assert!(attempt.is_none(), "two attempts of one send");
                    attempt = Some(recorded);
                    self.command(SupervisorCommand::AttemptRecorded { request_id })
                        .await;
                }
                WorkerEvent::SendResult {
                    request_id: id,
                    outcome,
                } if id == request_id => return (outcome, attempt),
                event @ WorkerEvent::Fatal { .. } => panic!("fatal during a send: {event:?}"),
                _ => {}
            }
        }
    }

    /// Starts a fresh send and waits for its `SendAttempt`, which it answers only if `record`;
    /// returns the attempt.
    pub async fn begin_send(
        &mut self,
        request_id: u64,
        to: &str,
        text: &str,
        record: bool,
    ) -> Attempt {
        let command = text_command(request_id, to, text, None);
        self.begin(request_id, command, record).await
    }

    /// Sends `command` (a fresh send for `request_id`) and waits for its `SendAttempt`, which
    /// it answers only if `record`; returns the attempt.
    pub async fn begin(
        &mut self,
        request_id: u64,
        command: SupervisorCommand,
        record: bool,
    ) -> Attempt {
        self.command(command).await;
        let attempt = self
            .expect(
                "SendAttempt",
                Duration::from_secs(60),
                |event| match event {
                    WorkerEvent::SendAttempt {
                        request_id: id,
                        attempt,
                    } if *id == request_id => Some(attempt.clone()),
                    WorkerEvent::SendResult { .. } => {
                        panic!("a result before the attempt: {event:?}")
                    }
                    _ => None,
                },
            )
            .await;
        if record {
            self.command(SupervisorCommand::AttemptRecorded { request_id })
                .await;
        }
        attempt
    }

    /// Closes the supervisor's end of the socket.
    pub fn hang_up(&mut self) {
        self.reader = None;
        self.writer = None;
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).unwrap();
    }

    /// Shuts the worker down as the supervisor does: it exits 0 and leaves no process on its
    /// profile.
    pub async fn shut_down(&mut self) {
        self.command(SupervisorCommand::Shutdown).await;
        let status = self.wait_exit(Duration::from_secs(15)).await;
        assert!(status.success(), "{status}");
        assert_no_process_on(&self.profile, Duration::from_secs(10)).await;
    }

    /// Waits for the worker to exit; panics after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
        let leftovers = processes_on_profile(&self.profile);
        for pid in leftovers {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The `SendText` command of `text` to `to`.
pub fn text_command(
    request_id: u64,
    to: &str,
    text: &str,
    resume: Option<Attempt>,
) -> SupervisorCommand {
    SupervisorCommand::SendText {
        request_id,
        phone_number: to.into(),
        text: text.into(),
        resume,
    }
}

/// Begins `command` (the first send of `worker`, request `request_id`) with its attempt
/// recorded; once the fake has the message while it still shows pending, kills `worker` (its
/// browser with it) and starts the next one on the same profile, linked. `worker` must run on
/// a profile of the test's own ([`Launch::profile`]), which outlives it. Returns the next
/// worker, the attempt, and the id of the message the fake has.
pub async fn killed_while_pending(
    fake: &Fake,
    mut worker: Worker,
    url: &str,
    request_id: u64,
    command: SupervisorCommand,
) -> (Worker, Attempt, String) {
    let attempt = worker.begin(request_id, command, true).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let sent = loop {
        let sent = fake.sent(PHONE).await;
        if !sent.is_empty() {
            break sent;
        }
        assert!(Instant::now() < deadline, "the fake got no message");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sent[0]["status"], "pending", "killed before it shows Sent");
    let message_id = sent[0]["id"].as_str().expect("the message's id").to_owned();

    let profile = worker.profile.clone();
    drop(worker);
    assert_no_process_on(&profile, Duration::from_secs(10)).await;
    let mut launch = Launch::new(url);
    launch.profile = Some(&profile);
    let mut worker = Worker::start(launch).await;
    assert_eq!(worker.expect_ready(Duration::from_secs(60)).await, PHONE);
    (worker, attempt, message_id)
}

/// Starts a worker on `profile` and links it by a QR scan.
pub async fn linked_worker(fake: &Fake, launch: Launch<'_>) -> Worker {
    let mut worker = Worker::start(launch).await;
    let payload = worker.next_qr(Duration::from_secs(60)).await;
    fake.scan(&payload, PHONE).await;
    assert_eq!(worker.expect_ready(Duration::from_secs(30)).await, PHONE);
    worker
}

/// Every process on the machine whose command line mentions `profile`.
pub fn processes_on_profile(profile: &Path) -> Vec<i32> {
    let needle = profile.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| {
                    String::from_utf8_lossy(&raw)
                        .replace('\0', " ")
                        .contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Polls until no process mentions `profile`; panics after `within`.
pub async fn assert_no_process_on(profile: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_on_profile(profile);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes still on the profile: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
