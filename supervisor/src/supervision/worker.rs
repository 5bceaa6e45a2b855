//! One worker process, from its spawn to the end of its whole process group, whoever holds it:
//! a session's task ([`super::driver`]) or the warm spares ([`super::spares`]), which hand a
//! started one over to a session.
//!
//! 1. [`Worker::spawn`]: the profile folder is made private, the worker is spawned and the link
//!    is told to expect it under its name.
//! 2. [`Worker::admitted`]: once the link admits it, its frames are read in a task of their own
//!    and commands go out on the writer.
//! 3. [`Worker::end`]: a shutdown command and the grace period when asked, then SIGKILL to the
//!    group, then any straggler on the profile, and the browser's leftovers are removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use wamux_proto::{FrameError, SupervisorCommand, WorkerEvent, read_frame, write_frame};

use crate::daemon::config::DataDir;
use crate::daemon::metrics::{StartClock, StartPhase};
use crate::process::kill::Group;
use crate::process::sweep;
use crate::supervision::context::Context;
use crate::supervision::spawn;

/// How long ending a group may wait for its processes to die after SIGKILL.
const REAP_LIMIT: Duration = Duration::from_secs(5);

pub type Frame = Result<Option<WorkerEvent>, FrameError>;

pub struct Worker {
    pub child: Child,
    pub pid: u32,
    pub group: Group,
    pub admission: Option<oneshot::Receiver<UnixStream>>,
    pub writer: Option<OwnedWriteHalf>,
    pub frames: Option<mpsc::Receiver<Frame>>,
    reader: Option<JoinHandle<()>>,
    /// Set once `child.wait()` returned, so it is not polled again.
    pub exited: bool,
    /// The phases of its start reached so far.
    pub start: StartClock,
    /// What it connects as (`--session-id`): the session's id, or the spare's name.
    pub name: String,
    pub profile: PathBuf,
    /// Its log's span; `session` is recorded there when a session adopts it.
    pub span: tracing::Span,
}

impl Worker {
    /// Spawns a worker named `name` on the profile under `sessions/DIR`.
    pub fn spawn(ctx: &Context, name: &str, dir: &str) -> Result<Worker, String> {
        let profile = ctx.data.profile(dir);
        prepare_profile(&profile, &ctx.data)
            .map_err(|e| format!("cannot prepare the profile directory: {e}"))?;
        let (child, span) =
            spawn::spawn_worker(&ctx.config, name, &profile, &ctx.data.worker_socket()).map_err(
                |e| {
                    format!(
                        "cannot start the worker {}: {e}",
                        ctx.config.worker_bin.display()
                    )
                },
            )?;
        let pid = child.id().ok_or("the worker exited at once")?;
        tracing::info!(pid, "worker spawned");
        Ok(Worker {
            child,
            pid,
            group: Group::led_by(pid),
            admission: Some(ctx.link.expect(name, pid)),
            writer: None,
            frames: None,
            reader: None,
            exited: false,
            start: StartClock::new(std::time::Instant::now()),
            name: name.to_owned(),
            profile,
            span,
        })
    }

    /// The link admitted it: its frames come through [`Worker::frames`] from now on.
    pub fn admitted(&mut self, stream: UnixStream) {
        self.admission = None;
        let (mut reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::channel(64);
        // read_frame is not cancel-safe, so frames are read in a task of their own.
        self.reader = Some(tokio::spawn(async move {
            loop {
                let frame = read_frame::<_, WorkerEvent>(&mut reader).await;
                let end = !matches!(frame, Ok(Some(_)));
                if tx.send(frame).await.is_err() || end {
                    return;
                }
            }
        }));
        self.writer = Some(writer);
        self.frames = Some(rx);
    }

    /// The socket is done: nothing more comes from it, nothing more goes to it.
    pub fn disconnected(&mut self) {
        self.frames = None;
        self.writer = None;
    }

    /// The worker's next event; `Err(why)` once its socket closed or it exited.
    pub async fn next_event(&mut self) -> Result<WorkerEvent, String> {
        if self.exited {
            return Err("the worker exited".into());
        }
        let Some(frames) = self.frames.as_mut() else {
            return Err("its socket closed".into());
        };
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Ok(Some(event))) => Ok(event),
                _ => {
                    self.disconnected();
                    Err("its socket closed".into())
                }
            },
            status = self.child.wait() => {
                self.exited = true;
                Err(format!("the worker exited ({})", describe(status)))
            }
        }
    }

    /// Sends `command`; false when the worker cannot be told (no socket, or it broke).
    pub async fn send(&mut self, command: &SupervisorCommand) -> bool {
        let Some(writer) = self.writer.as_mut() else {
            return false;
        };
        match write_frame(writer, command).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not write to the worker");
                false
            }
        }
    }

    /// The worker reached `phase` of its start: logged and timed, once per worker.
    pub fn reached(&mut self, ctx: &Context, phase: StartPhase) {
        if let Some(took) = self.start.reach(phase, std::time::Instant::now()) {
            tracing::info!(
                phase = phase.label(),
                after_ms = took.as_millis() as u64,
                "start phase reached"
            );
            ctx.metrics.record_start_phase(phase, took);
        }
    }

    /// Its browser runs: the start phase is reached, and chromedriver and Chromium are members
    /// of the group to end.
    pub fn browser_started(
        &mut self,
        ctx: &Context,
        chromedriver_pid: u32,
        browser_pid: Option<u32>,
    ) {
        self.reached(ctx, StartPhase::BrowserSession);
        self.group.remember(chromedriver_pid);
        if let Some(pid) = browser_pid {
            self.group.remember(pid);
        }
    }

    /// Ends the worker's process group: a shutdown command and the grace period first when
    /// `graceful`, then SIGKILL to the group, then any straggler on the profile. Returns once
    /// nothing of this worker runs.
    /// Answers whether the worker closed its browser and exited cleanly, in time: only then
    /// is the profile as the page left it.
    pub async fn end(mut self, ctx: &Context, graceful: bool) -> bool {
        let mut clean = false;
        if graceful && !self.exited && self.send(&SupervisorCommand::Shutdown).await {
            clean = matches!(
                tokio::time::timeout(ctx.config.stop_grace, self.child.wait()).await,
                Ok(Ok(status)) if status.success()
            );
        }
        self.writer = None;
        // The group is signalled only while a process seen in it (the worker if not yet reaped,
        // its chromedriver, its browser, any member seen at a memory sample) is still there,
        // never a pgid that may have been reused; the sweep of the profile below covers the rest.
        self.group.kill();
        let _ = self.child.wait().await;
        if !self.group.wait_gone(REAP_LIMIT).await {
            tracing::error!(
                pgid = self.group.pgid(),
                "the worker's group outlived SIGKILL"
            );
        }
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
        end_stragglers(&self.profile).await;
        ctx.link.forget(&self.name);
        clean
    }
}

/// Kills any browser still on `profile` and removes what a killed one leaves there.
async fn end_stragglers(profile: &Path) {
    let stragglers = sweep::browsers_on(profile);
    if !stragglers.is_empty() {
        tracing::warn!(?stragglers, "killing browsers left on the profile");
        if !sweep::kill_and_wait(&stragglers, REAP_LIMIT).await {
            tracing::error!(?stragglers, "browsers outlived SIGKILL");
        }
    }
    sweep::remove_browser_leftovers(profile);
}

/// The profile directory, private to the service user: it holds the WhatsApp credentials.
fn prepare_profile(profile: &Path, data: &DataDir) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(profile)?;
    for dir in [profile, profile.parent().unwrap_or(data.root())] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Removes `dir` and everything in it; a missing one is fine.
pub async fn wipe(dir: &Path) {
    if let Err(e) = tokio::fs::remove_dir_all(dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::error!(error = %e, dir = %dir.display(), "could not remove a session directory");
    }
}

/// How a child's wait ended, for a log line or a reason.
pub fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}
