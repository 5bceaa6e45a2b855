//! `wamux-worker`: one WhatsApp Web session, driven for the wamux supervisor.
//!
//! The modules:
//! - [`process`]: the worker as a process: its command line ([`process::args`]), its link to the
//!   supervisor ([`process::link`]), how it stops ([`process::stop`]), the profile it runs on
//!   ([`process::profile`]), and the network namespace it isolates its browser in with the
//!   proxy that is the browser's way out ([`process::netns`], [`process::socks`]);
//! - [`browser`]: chromedriver and Chromium ([`browser::launch`]) and the WebDriver client
//!   ([`browser::webdriver`]);
//! - [`whatsapp`]: the page ([`whatsapp::page`] and its scripts), the session's state machine
//!   ([`whatsapp::session`]) and its flows ([`whatsapp::send`], [`whatsapp::media_send`],
//!   [`whatsapp::incoming`], [`whatsapp::media_receive`], [`whatsapp::pairing`]);
//! - [`group`]: the worker's process group: its browser, and killing what is left of it.
//!
//! The steps:
//! 1. Given an egress socket, move into a network namespace of its own ([`process::netns`]),
//!    while the process still has one thread. Become the leader of its own process group and
//!    die with the supervisor (PDEATHSIG), so that chromedriver and Chromium, which stay in that
//!    group (and that namespace), can always be killed at once.
//! 2. Connect to the supervisor's socket and shake hands ([`process::link`]), then report
//!    `Starting`. In a namespace, serve the browser's proxy to the egress socket
//!    ([`process::socks`]); failing to enter the namespace is fatal, never a silent fallback.
//! 3. Prepare the folders beside the profile: `--media-dir` for incoming files (created 0700),
//!    and `upload` next to the profile for files on their way out (emptied of what a killed
//!    worker left there, created 0700). Start chromedriver and
//!    Chromium on the session's profile ([`browser`]), report their pids.
//! 4. Follow the page and serve commands ([`whatsapp::session`]) until a stop: the `Shutdown`
//!    command, SIGTERM/SIGINT, or the supervisor's end of the socket closing ([`process::stop`]).
//! 5. Close the browser through chromedriver, kill whatever is left of the group ([`group`]) and
//!    exit: 0 after a stop, non-zero after a fatal error (reported as `Fatal` first). Each step
//!    is bounded, about 6 s in all at worst; a clean close takes well under a second.

mod browser;
mod group;
mod process;
mod whatsapp;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpgrp, getpid, getppid, setpgid};
use tokio::time::Instant;
use tracing::{error, info, warn};
use wamux_proto::{StartStep, WorkerEvent};

use crate::browser::launch::{self, BrowserOptions, Chromedriver};
use crate::process::args::{self, Args};
use crate::process::stop::{self, StopCause};
use crate::process::{link, netns, profile, socks};
use crate::whatsapp::media_receive::MediaStore;
use crate::whatsapp::session::{self, SessionOptions};

/// How long chromedriver and Chromium get to exit by themselves after `/shutdown`: a browser
/// killed in the middle of its exit may lose what it had not yet written to the profile.
const CLEAN_EXIT_GRACE: Duration = Duration::from_secs(3);
/// The folder beside the profile that files to send are given to the page from.
const UPLOAD_DIR: &str = "upload";

fn main() -> ExitCode {
    if args::is_probe() {
        return probe_isolation();
    }
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Once the supervisor is gone, stderr is a broken pipe: reporting that failure with
        // eprintln! would panic the task that logged, and the one that logs "received SIGTERM"
        // is the one that must stop the worker and its browser.
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // Entered around the whole runtime: on a current-thread runtime every task, including those
    // spawned inside fantoccini and hyper, runs on this thread, so every line carries the id.
    let span = tracing::info_span!("worker", session = %args.session_id);
    let _entered = span.enter();

    // Before anything starts a thread: see process::netns.
    let namespace = args.egress_socket.as_ref().map(|_| netns::enter());
    if let Err(err) = take_over_process_group() {
        error!("cannot set up the process group: {err:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            error!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, namespace)) {
        Ok(code) => code,
        Err(err) => {
            error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--probe-isolation`: see [`args::PROBE_ISOLATION`].
fn probe_isolation() -> ExitCode {
    match netns::enter() {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Makes this process the leader of a group that holds chromedriver and Chromium, and ties its
/// life to the supervisor's.
fn take_over_process_group() -> Result<()> {
    let parent = getppid();
    if getpgrp() != getpid() {
        setpgid(Pid::from_raw(0), Pid::from_raw(0)).context("setpgid(0, 0)")?;
    }
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).context("prctl(PR_SET_PDEATHSIG)")?;
    // The supervisor may have died before the prctl took effect: then no signal will come.
    if getppid() != parent {
        anyhow::bail!("the supervisor exited while the worker was starting");
    }
    Ok(())
}

async fn run(args: Args, namespace: Option<Result<netns::Entered>>) -> Result<ExitCode> {
    let (stop_tx, mut stop_rx) = stop::channel();
    stop::spawn_signal_listener(stop_tx.clone()).context("cannot listen for signals")?;
    let (mut events, mut commands) = link::connect(&args.socket, &args.session_id, stop_tx.clone())
        .await
        .context("cannot reach the supervisor")?;
    events.send(WorkerEvent::Starting).await;

    let proxy_port = match (namespace, &args.egress_socket) {
        (Some(Ok(entered)), Some(egress)) => {
            match socks::serve(egress.clone(), args.session_id.clone()).await {
                Ok(port) => {
                    info!(
                        ?entered,
                        proxy_port = port,
                        "isolated in a network namespace"
                    );
                    Some(port)
                }
                Err(err) => return fail(&mut events, None, err).await,
            }
        }
        (Some(Err(err)), _) => {
            let err = err.context("cannot isolate the browser in a network namespace");
            return fail(&mut events, None, err).await;
        }
        _ => None,
    };

    let profile_dir = match profile::prepare(&args.profile_dir).await {
        Ok(dir) => dir,
        Err(err) => return fail(&mut events, None, err).await,
    };
    let media_dir = match args.media_dir.as_deref().map(prepare_media_dir).transpose() {
        Ok(dir) => dir,
        Err(err) => return fail(&mut events, None, err).await,
    };
    let upload_dir = match prepare_upload_dir(&profile_dir).await {
        Ok(dir) => dir,
        Err(err) => return fail(&mut events, None, err).await,
    };
    let browser_options = BrowserOptions {
        chromedriver: args.chromedriver.clone(),
        chromium: args.chromium.clone(),
        profile_dir: profile_dir.clone(),
        user_agent: args.user_agent.clone(),
        headless: !args.headful,
        no_sandbox: nix::unistd::geteuid().is_root(),
        start_deadline: Instant::now() + Duration::from_secs(args.browser_start_timeout_secs),
        webdriver_timeout: Duration::from_secs(args.webdriver_timeout_secs),
        proxy_port,
    };

    let mut driver = tokio::select! {
        cause = stop::stopped(&mut stop_rx) => {
            info!(?cause, "stopping before chromedriver was up");
            group::kill_all_but_self().await;
            return Ok(ExitCode::SUCCESS);
        }
        started = Chromedriver::start(&browser_options) => match started {
            Ok(driver) => driver,
            Err(err) => return fail(&mut events, None, err).await,
        },
    };
    events
        .send(WorkerEvent::StartStep(StartStep::ChromedriverReady))
        .await;

    let send_timeout = Duration::from_secs(args.send_timeout_secs);
    let session_options = SessionOptions {
        web_url: args.web_url.trim_end_matches('/').to_owned(),
        send_timeout,
        upload_dir,
        media: MediaStore {
            dir: media_dir,
            max_size: args.max_media_size,
            timeout: send_timeout,
        },
    };
    let port = driver.port();
    let chromedriver_pid = driver.pid();
    let outcome: Result<StopCause> = tokio::select! {
        cause = stop::stopped(&mut stop_rx) => Ok(cause),
        status = driver.exited() => Err(anyhow::anyhow!("chromedriver exited unexpectedly ({status})")),
        result = async {
            let client = launch::open_session(port, &browser_options).await?;
            let browser_pid = group::browser_pid(&profile_dir);
            info!(chromedriver_pid, ?browser_pid, "browser started");
            events.send(WorkerEvent::BrowserStarted { chromedriver_pid, browser_pid }).await;
            session::run(client, &session_options, &mut events, &mut commands).await
        } => result.map(|never| match never {}),
    };
    match outcome {
        Ok(cause) => {
            info!(?cause, "stopping");
            shut_down(Some(driver)).await;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => fail(&mut events, Some(driver), err).await,
    }
}

/// `--media-dir`, absolute, created (0700) if missing.
fn prepare_media_dir(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = std::path::absolute(dir)
        .with_context(|| format!("cannot resolve the media directory {}", dir.display()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create the media directory {}", dir.display()))?;
    Ok(dir)
}

/// The `upload` folder beside `profile_dir` (absolute), emptied of what a killed worker left
/// there and created (0700).
async fn prepare_upload_dir(profile_dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let dir = profile_dir.parent().unwrap_or(profile_dir).join(UPLOAD_DIR);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => warn!(dir = %dir.display(), "cannot clear the upload folder: {err}"),
    }
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .await
        .with_context(|| format!("cannot create the upload folder {}", dir.display()))?;
    Ok(dir)
}

/// Reports a fatal error, then tears everything down.
async fn fail(
    events: &mut link::EventSink,
    driver: Option<Chromedriver>,
    err: anyhow::Error,
) -> Result<ExitCode> {
    let reason = format!("{err:#}");
    error!("fatal: {reason}");
    events.send(WorkerEvent::Fatal { reason }).await;
    shut_down(driver).await;
    Ok(ExitCode::FAILURE)
}

async fn shut_down(driver: Option<Chromedriver>) {
    let started = Instant::now();
    if let Some(mut driver) = driver {
        match driver.request_shutdown().await {
            Ok(()) => {
                if !group::wait_until_alone(Instant::now() + CLEAN_EXIT_GRACE).await {
                    warn!("the browser did not exit within {CLEAN_EXIT_GRACE:?} of /shutdown");
                }
            }
            Err(err) => warn!("chromedriver could not close the browser: {err:#}"),
        }
        group::kill_all_but_self().await;
        driver.reap().await;
    } else {
        group::kill_all_but_self().await;
    }
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shut down"
    );
}
