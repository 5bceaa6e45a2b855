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
    Hello, HelloReply, SendError, SentMessage, SupervisorCommand, WorkerEvent, read_frame,
    write_frame,
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
}

/// The flags of the real worker this one uses.
struct Args {
    session_id: String,
    profile_dir: PathBuf,
    socket: PathBuf,
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
    let mut sent = 0u64;
    loop {
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
                Some(SupervisorCommand::SendText { request_id, .. }) => {
                    count(data, &args.session_id, "sends")?;
                    let outcome = match behaviour.send_result {
                        SendOutcome::Sent => {
                            sent += 1;
                            Ok(SentMessage {
                                message_id: format!("fake-{}-{start}-{sent}", args.session_id),
                            })
                        }
                        SendOutcome::NotOnWhatsapp => Err(SendError::NotOnWhatsApp),
                        SendOutcome::NotLinked => Err(SendError::NotLinked),
                        SendOutcome::Timeout => Err(SendError::Timeout),
                        SendOutcome::Hang => continue,
                    };
                    write_frame(&mut writer, &WorkerEvent::SendResult { request_id, outcome })
                        .await?;
                }
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
