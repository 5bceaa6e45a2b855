//! `wamux-fake-worker`: a stand-in for `wamux-worker` that speaks the real protocol but starts
//! no browser, so that the supervisor's handling of crashes, backoff, FAILED, recycling, stops
//! and shutdown is tested in milliseconds instead of a Chromium start each.
//!
//! It takes the real worker's command line (flags it does not use are ignored) and at each start:
//! 1. dies with its parent (PDEATHSIG), as the real worker does, and counts this start in
//!    `DATA/fake-worker.ID.starts`, where DATA is the daemon's data directory (the profile is
//!    `DATA/sessions/ID/profile`);
//! 2. reads what to do from `DATA/fake-worker.json`, an object with one [`Behaviour`] per
//!    session id, read anew at each start so a test can change it between incarnations (a
//!    session without an entry shows a QR);
//! 3. connects to the supervisor's socket, sends `Hello` with its own pid, waits for `Welcome`,
//!    reports `Starting`, then per its [`Mode`] `BrowserStarted` and `Qr` or `Ready`, or nothing;
//! 4. answers commands until `Shutdown`, SIGTERM or the end of the socket, then exits 0; with
//!    `crashAfterMs` (or in `crash` mode) it exits with status 3 that long after connecting.
//!    Each `SendText` received is counted in `DATA/fake-worker.ID.sends` before it is answered.
//!
//! A send that goes out (`sendResult` `sent` or `hang_after_attempt`) follows the real worker:
//! 1. with `resume`, a message it already sent for that `request_id` whose id is not in the
//!    resumed attempt's `seen` is the answer, and nothing is sent;
//! 2. otherwise it reports `SendAttempt` (as the DOM path does: `seen` the ids it has sent, as
//!    the chat's rows, no `planned` id) and waits for `AttemptRecorded`, answering `Timeout`
//!    after `--send-timeout-secs` without one;
//! 3. then it "sends": appends `REQUEST_ID MESSAGE_ID` to `DATA/fake-worker.ID.sent`, the log
//!    that a later incarnation reads for step 1 (a `request_id` twice in it is a message sent
//!    twice), and answers, except in `hang_after_attempt` mode, which never answers;
//! 4. with `ackAfterMs` (and `readAfterMs`) it reports `Ack` Delivered (and Read) that long
//!    after the send.
//!
//! It leads no other process: `BrowserStarted` names the fake itself as the chromedriver.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::net::UnixStream;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use wamux_proto::{
    Ack, Attempt, Hello, HelloReply, MAX_SEEN_ROWS, SendError, SentMessage, SupervisorCommand,
    WorkerEvent, read_frame, write_frame,
};

/// The exit status of a simulated crash.
const CRASH_STATUS: u8 = 3;

/// What one session's fake worker does, as `fake-worker.json` spells it (camelCase keys).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct Behaviour {
    mode: Mode,
    /// The first this many starts of the session behave as [`Mode::Crash`].
    crash_first: u64,
    /// Exit with [`CRASH_STATUS`] this long after connecting (0 in `crash` mode if unset).
    crash_after_ms: Option<u64>,
    /// In `qr` mode: a phone scans the code this long after it shows, and `Ready` follows.
    link_after_ms: Option<u64>,
    /// The number `Ready` reports.
    phone: String,
    /// Allocate and touch this many MiB, so the group's PSS is at least that.
    memory_mb: usize,
    send_result: SendOutcome,
    /// Report `Ack` Delivered this long after a message is sent.
    ack_after_ms: Option<u64>,
    /// Report `Ack` Read this long after a message is sent.
    read_after_ms: Option<u64>,
    /// Whether the `Shutdown` command ends the worker; if not, the supervisor must kill it.
    exit_on_shutdown: bool,
    ignore_sigterm: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            mode: Mode::Qr,
            crash_first: 0,
            crash_after_ms: None,
            link_after_ms: None,
            phone: "5215500000000".into(),
            memory_mb: 0,
            send_result: SendOutcome::Sent,
            ack_after_ms: None,
            read_after_ms: None,
            exit_on_shutdown: true,
            ignore_sigterm: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// The page shows a QR code (an unlinked session).
    Qr,
    /// The session is linked: the app is on show.
    Ready,
    /// Says `Starting` and nothing more, like a page that never loads.
    Silent,
    /// Says `Starting`, then exits with [`CRASH_STATUS`].
    Crash,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SendOutcome {
    Sent,
    NotOnWhatsapp,
    NotLinked,
    Timeout,
    /// Never answers.
    Hang,
    /// Sends (the attempt recorded, the message logged as sent), then never answers: a worker
    /// that dies mid-send.
    HangAfterAttempt,
}

/// How long a send waits for `AttemptRecorded` without `--send-timeout-secs`.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// `DATA/fake-worker.ID.sent`: what the workers of a session have sent, one
/// `REQUEST_ID MESSAGE_ID` a line, oldest first.
struct SentLog {
    path: PathBuf,
}

impl SentLog {
    fn entries(&self) -> Result<Vec<(u64, String)>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        text.lines()
            .map(|line| {
                let (request, message) = line.split_once(' ').context("a corrupt sent log")?;
                Ok((
                    request.parse().context("a corrupt sent log")?,
                    message.to_owned(),
                ))
            })
            .collect()
    }

    fn append(&self, request_id: u64, message_id: &str) -> Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        writeln!(file, "{request_id} {message_id}")
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The flags of the real worker this one uses.
struct Args {
    session_id: String,
    profile_dir: PathBuf,
    socket: PathBuf,
    send_timeout: Duration,
}

impl Args {
    /// `--name value` or `--name=value` pairs; unknown names are ignored.
    fn parse() -> Result<Args> {
        let mut values = HashMap::new();
        let mut args = std::env::args().skip(1).peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                continue;
            };
            if let Some((name, value)) = name.split_once('=') {
                values.insert(name.to_owned(), value.to_owned());
            } else {
                let value = args.next_if(|v| !v.starts_with("--")).unwrap_or_default();
                values.insert(name.to_owned(), value);
            }
        }
        let send_timeout = match values.remove("send-timeout-secs") {
            Some(secs) => Duration::from_secs(secs.parse().context("--send-timeout-secs")?),
            None => DEFAULT_SEND_TIMEOUT,
        };
        let mut take = |name: &str| {
            values
                .remove(name)
                .filter(|v| !v.is_empty())
                .with_context(|| format!("--{name} is required"))
        };
        Ok(Args {
            session_id: take("session-id")?,
            profile_dir: take("profile-dir")?.into(),
            socket: take("socket")?.into(),
            send_timeout,
        })
    }
}

fn main() -> ExitCode {
    let result = Args::parse().and_then(|args| {
        die_with_parent()?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")?
            .block_on(run(args))
    });
    result.unwrap_or_else(|err| {
        eprintln!("fake worker: {err:#}");
        ExitCode::FAILURE
    })
}

/// SIGKILL rather than the real worker's SIGTERM: the fake has nothing to tidy, and one told to
/// ignore SIGTERM must still not outlive the daemon.
fn die_with_parent() -> Result<()> {
    let parent = nix::unistd::getppid();
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("prctl(PR_SET_PDEATHSIG)")?;
    if nix::unistd::getppid() != parent {
        bail!("the supervisor exited while the worker was starting");
    }
    Ok(())
}

/// The data directory: the profile is `DATA/sessions/ID/profile`.
fn data_dir(profile: &Path) -> Result<&Path> {
    profile
        .ancestors()
        .nth(3)
        .with_context(|| format!("{} is not DATA/sessions/ID/profile", profile.display()))
}

/// Adds one to the counter `DATA/fake-worker.ID.WHAT`; returns the new count.
fn count(data: &Path, id: &str, what: &str) -> Result<u64> {
    let path = data.join(format!("fake-worker.{id}.{what}"));
    let before = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().context("a corrupt counter")?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    std::fs::write(&path, (before + 1).to_string())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(before + 1)
}

fn load_behaviour(data: &Path, id: &str) -> Result<Behaviour> {
    let path = data.join("fake-worker.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Behaviour::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut all: HashMap<String, Behaviour> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(all.remove(id).unwrap_or_default())
}

async fn run(args: Args) -> Result<ExitCode> {
    let data = data_dir(&args.profile_dir)?;
    let start = count(data, &args.session_id, "starts")?;
    let behaviour = load_behaviour(data, &args.session_id)?;
    let mode = if start <= behaviour.crash_first {
        Mode::Crash
    } else {
        behaviour.mode
    };
    eprintln!("fake worker: start {start}, {mode:?}, {behaviour:?}");
    // Non-zero bytes, so every page is written and resident, none the shared zero page.
    let ballast = vec![0x5au8; behaviour.memory_mb << 20];
    std::hint::black_box(&ballast);
    // Once a handler is registered, SIGTERM no longer kills the process by default.
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;

    let stream = UnixStream::connect(&args.socket)
        .await
        .with_context(|| format!("cannot connect to {}", args.socket.display()))?;
    let (mut reader, mut writer) = stream.into_split();
    write_frame(&mut writer, &Hello::new(args.session_id.as_str())).await?;
    match read_frame::<_, HelloReply>(&mut reader).await? {
        Some(HelloReply::Welcome) => {}
        other => bail!("not welcomed by the supervisor: {other:?}"),
    }
    let crash_after = match (mode, behaviour.crash_after_ms) {
        (_, Some(ms)) => Some(ms),
        (Mode::Crash, None) => Some(0),
        _ => None,
    };
    let crash_at = crash_after.map(|ms| Instant::now() + Duration::from_millis(ms));
    let link_at = match (mode, behaviour.link_after_ms) {
        (Mode::Qr, Some(ms)) => Some(Instant::now() + Duration::from_millis(ms)),
        _ => None,
    };

    let mut events = vec![WorkerEvent::Starting];
    let browser = WorkerEvent::BrowserStarted {
        chromedriver_pid: std::process::id(),
        browser_pid: None,
    };
    match mode {
        Mode::Qr => events.extend([
            browser,
            WorkerEvent::Qr {
                payload: format!("2@fake-{}-{start},key,id,secret", args.session_id),
            },
        ]),
        Mode::Ready => events.extend([
            browser,
            WorkerEvent::Ready {
                phone_number: behaviour.phone.clone(),
            },
        ]),
        Mode::Silent | Mode::Crash => {}
    }
    for event in &events {
        write_frame(&mut writer, event).await?;
    }

    // read_frame is not cancel-safe: the commands are read in a task of their own, whose end
    // (dropping the sender) is the end of the socket.
    let (tx, mut commands) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(command)) = read_frame::<_, SupervisorCommand>(&mut reader).await {
            if tx.send(command).is_err() {
                return;
            }
        }
    });
    let crash = at_or_never(crash_at);
    let link = at_or_never(link_at);
    tokio::pin!(crash, link);
    let mut linked = false;
    let log = SentLog {
        path: data.join(format!("fake-worker.{}.sent", args.session_id)),
    };
    // The send waiting for its `AttemptRecorded`, and until when.
    let mut attempt: Option<(u64, Instant)> = None;
    // `Ack`s to report, and when.
    let mut acks: Vec<(Instant, String, Ack)> = Vec::new();
    loop {
        let attempt_deadline = attempt.map(|(_, at)| at);
        let next_ack = acks.iter().map(|(at, _, _)| *at).min();
        tokio::select! {
            _ = &mut crash => {
                eprintln!("fake worker: crashing as told");
                return Ok(ExitCode::from(CRASH_STATUS));
            }
            _ = &mut link, if !linked => {
                linked = true;
                let ready = WorkerEvent::Ready { phone_number: behaviour.phone.clone() };
                write_frame(&mut writer, &ready).await?;
            }
            _ = at_or_never(attempt_deadline), if attempt.is_some() => {
                if let Some((request_id, _)) = attempt.take() {
                    let outcome = Err(SendError::Timeout);
                    write_frame(&mut writer, &WorkerEvent::SendResult { request_id, outcome })
                        .await?;
                }
            }
            _ = at_or_never(next_ack), if next_ack.is_some() => {
                let now = Instant::now();
                let (due, later) = acks.into_iter().partition(|(at, _, _)| *at <= now);
                acks = later;
                for (_, message_id, ack) in due {
                    write_frame(&mut writer, &WorkerEvent::Ack { message_id, ack }).await?;
                }
            }
            _ = sigterm.recv() => {
                if !behaviour.ignore_sigterm {
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!("fake worker: ignoring SIGTERM as told");
            }
            command = commands.recv() => match command {
                None => return Ok(ExitCode::SUCCESS),
                Some(SupervisorCommand::Shutdown) => {
                    if behaviour.exit_on_shutdown {
                        return Ok(ExitCode::SUCCESS);
                    }
                    eprintln!("fake worker: ignoring Shutdown as told");
                }
                // A file goes out as a text does: the fake worker keeps no bytes.
                Some(
                    SupervisorCommand::SendText {
                        request_id, resume, ..
                    }
                    | SupervisorCommand::SendMedia {
                        request_id, resume, ..
                    },
                ) => {
                    count(data, &args.session_id, "sends")?;
                    let outcome = match behaviour.send_result {
                        SendOutcome::Sent | SendOutcome::HangAfterAttempt => {
                            let entries = log.entries()?;
                            let earlier = resume.and_then(|resumed| {
                                entries
                                    .iter()
                                    .find(|(id, sent)| {
                                        *id == request_id && !resumed.seen.contains(sent)
                                    })
                                    .map(|(_, sent)| sent.clone())
                            });
                            let Some(message_id) = earlier else {
                                let sent: Vec<String> =
                                    entries.into_iter().map(|(_, sent)| sent).collect();
                                let newest = sent.len().saturating_sub(MAX_SEEN_ROWS);
                                let seen = sent[newest..].to_vec();
                                attempt = Some((request_id, Instant::now() + args.send_timeout));
                                let event = WorkerEvent::SendAttempt {
                                    request_id,
                                    attempt: Attempt { seen, planned: None },
                                };
                                write_frame(&mut writer, &event).await?;
                                continue;
                            };
                            eprintln!("fake worker: request {request_id} went out as {message_id}");
                            Ok(SentMessage { message_id })
                        }
                        SendOutcome::NotOnWhatsapp => Err(SendError::NotOnWhatsApp),
                        SendOutcome::NotLinked => Err(SendError::NotLinked),
                        SendOutcome::Timeout => Err(SendError::Timeout),
                        SendOutcome::Hang => continue,
                    };
                    write_frame(&mut writer, &WorkerEvent::SendResult { request_id, outcome })
                        .await?;
                }
                Some(SupervisorCommand::AttemptRecorded { request_id }) => {
                    if attempt.is_none_or(|(waiting, _)| waiting != request_id) {
                        eprintln!("fake worker: AttemptRecorded for {request_id}, not awaited");
                        continue;
                    }
                    attempt = None;
                    let number = log.entries()?.len() + 1;
                    let message_id = format!("fake-{}-{start}-{number}", args.session_id);
                    log.append(request_id, &message_id)?;
                    let now = Instant::now();
                    for (after, ack) in [
                        (behaviour.ack_after_ms, Ack::Delivered),
                        (behaviour.read_after_ms, Ack::Read),
                    ] {
                        if let Some(ms) = after {
                            acks.push((now + Duration::from_millis(ms), message_id.clone(), ack));
                        }
                    }
                    if matches!(behaviour.send_result, SendOutcome::HangAfterAttempt) {
                        eprintln!("fake worker: sent {message_id}, never answering as told");
                        continue;
                    }
                    let outcome = Ok(SentMessage { message_id });
                    write_frame(&mut writer, &WorkerEvent::SendResult { request_id, outcome })
                        .await?;
                }
                Some(SupervisorCommand::IncomingStored { .. }) => {}
                Some(SupervisorCommand::RequestPairingCode { .. }) => {
                    let code = WorkerEvent::PairingCode { code: "FAKE1234".into() };
                    write_frame(&mut writer, &code).await?;
                }
            },
        }
    }
}

async fn at_or_never(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
