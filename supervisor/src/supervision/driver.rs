//! The task that supervises one session: it runs the session's worker, turns the worker's
//! events into the session's status, relays sends, and restarts a worker that dies.
//!
//! A session's task lives as long as the session. Each turn of its loop is one worker
//! incarnation:
//! 1. wait for a place at the start gate (`--max-starting` browsers launch at once), spawn the
//!    worker (its own process group) and wait for its handshake on the link;
//! 2. apply its events and pass on sends until it exits, a person asks it to stop, or it must
//!    be recycled: its group's memory passed `--max-session-memory`, it ran longer than
//!    `--recycle-after`, or the phone unlinked it (then its profile is wiped);
//! 3. end the incarnation: a shutdown command and a grace period when stopping cleanly, then
//!    SIGKILL to the group in every case, then any browser still on the profile;
//! 4. after a recycle, start again at once; after a crash, wait with exponential backoff and go
//!    again; after too many crashes in a row the session is FAILED with the reason, until a
//!    person starts it again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use wamux_proto::{SendError, SupervisorCommand, WorkerEvent, read_frame, write_frame};

use crate::daemon::config::{DataDir, ServeConfig};
use crate::sessions::events::{EventBus, EventKind};
use crate::supervision::link::WorkerLink;
use crate::daemon::metrics::Metrics;
use crate::sessions::session::{Control, SendFailure, Session, Status};
use crate::store::Store;
use crate::process::{kill, memory, sweep};
use crate::supervision::spawn;

/// A worker must connect this soon after being spawned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Crashes in a row, without ever showing a QR or the app, before the session is FAILED.
const MAX_CRASHES_IN_A_ROW: u32 = 5;
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What every session's task shares.
pub struct Context {
    pub config: ServeConfig,
    pub data: DataDir,
    pub store: Store,
    pub link: Arc<WorkerLink>,
    /// Launching Chromium is CPU-bound: five at once on two cores starve each other and the
    /// host. A worker holds a permit from spawn until its page shows a QR or the app.
    start_gate: Arc<Semaphore>,
    /// Scheduled recycles go one session at a time, so the sessions are never all down.
    recycle_gate: Arc<Mutex<()>>,
    pub events: EventBus,
    pub metrics: Metrics,
    pub started: Instant,
}

impl Context {
    pub fn new(config: ServeConfig, data: DataDir, store: Store, link: Arc<WorkerLink>) -> Self {
        let start_gate = Arc::new(Semaphore::new(config.max_starting.max(1)));
        Context {
            config,
            data,
            store,
            link,
            start_gate,
            recycle_gate: Arc::new(Mutex::new(())),
            events: EventBus::default(),
            metrics: Metrics::default(),
            started: Instant::now(),
        }
    }

    /// Sets the status in memory and on disk.
    fn set_status(&self, session: &Session, status: Status, error: Option<&str>) {
        let changed = session.update(|s| {
            let changed = s.status != status;
            s.set_status(status);
            if let Some(e) = error {
                s.last_error = Some(e.to_owned());
            }
            if status != Status::ScanQrCode {
                s.qr = None;
            }
            changed
        });
        if let Err(e) = self.store.set_status(&session.id, status.as_str(), error) {
            tracing::error!(error = %e, "could not record the status");
        }
        if changed || error.is_some() {
            self.events.publish(
                &session.id,
                EventKind::Status {
                    status,
                    last_error: error.map(str::to_owned),
                },
            );
        }
    }
}

/// How one worker incarnation ended.
enum Ended {
    Crashed {
        reason: String,
        got_going: bool,
    },
    /// Ended on purpose to start afresh; `guard` holds the recycle gate until the next
    /// incarnation gets going.
    Recycled {
        reason: String,
        wipe_profile: bool,
        guard: Option<OwnedMutexGuard<()>>,
        /// A person's logout waits for the wipe.
        reply: Option<oneshot::Sender<()>>,
    },
    Stopped(oneshot::Sender<()>),
    Deleted(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// Runs until the session is deleted or the daemon shuts down. `start` says whether the
/// session should run now or wait for a `Start`.
pub async fn run_session(
    ctx: Arc<Context>,
    session: Arc<Session>,
    mut control: mpsc::UnboundedReceiver<Control>,
    start: bool,
) {
    let mut running = start;
    let mut crashes = 0u32;
    let mut recycle_guard = None;
    loop {
        if !running {
            match control.recv().await {
                None => return,
                Some(Control::Start) => {
                    running = true;
                    crashes = 0;
                }
                Some(Control::Send { reply, .. }) => {
                    let _ = reply.send(Err(SendFailure::NotReady));
                }
                Some(Control::Stop { reply, .. }) => {
                    let _ = reply.send(());
                }
                Some(Control::Logout { reply }) => {
                    unlink(&ctx, &session).await;
                    running = true;
                    crashes = 0;
                    let _ = reply.send(());
                }
                Some(Control::Delete { reply }) => {
                    remove_session_files(&ctx, &session).await;
                    let _ = reply.send(());
                    return;
                }
                Some(Control::Shutdown { reply }) => {
                    let _ = reply.send(());
                    return;
                }
            }
            continue;
        }

        ctx.set_status(&session, Status::Starting, None);
        match run_worker(&ctx, &session, &mut control, recycle_guard.take()).await {
            Ended::Stopped(reply) => {
                ctx.set_status(&session, Status::Stopped, None);
                running = false;
                let _ = reply.send(());
            }
            Ended::Deleted(reply) => {
                remove_session_files(&ctx, &session).await;
                let _ = reply.send(());
                return;
            }
            Ended::Shutdown(reply) => {
                let _ = reply.send(());
                return;
            }
            Ended::Recycled {
                reason,
                wipe_profile,
                guard,
                reply,
            } => {
                tracing::info!(%reason, "recycling the worker");
                count_restart(&ctx, &session);
                crashes = 0;
                recycle_guard = guard;
                if wipe_profile {
                    unlink(&ctx, &session).await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
            Ended::Crashed { reason, got_going } => {
                crashes = if got_going { 1 } else { crashes + 1 };
                count_restart(&ctx, &session);
                if crashes >= MAX_CRASHES_IN_A_ROW {
                    let reason =
                        format!("gave up after {crashes} failed starts in a row: {reason}");
                    tracing::error!(%reason, "session failed");
                    ctx.set_status(&session, Status::Failed, Some(&reason));
                    running = false;
                    continue;
                }
                let delay = backoff(crashes);
                tracing::warn!(%reason, ?delay, crashes, "worker ended; restarting");
                ctx.set_status(&session, Status::Starting, Some(&reason));
                match wait_backoff(delay, &mut control).await {
                    None => {}
                    Some(Control::Stop { reply, .. }) => {
                        ctx.set_status(&session, Status::Stopped, None);
                        running = false;
                        let _ = reply.send(());
                    }
                    Some(Control::Logout { reply }) => {
                        unlink(&ctx, &session).await;
                        let _ = reply.send(());
                    }
                    Some(Control::Delete { reply }) => {
                        remove_session_files(&ctx, &session).await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(Control::Shutdown { reply }) => {
                        let _ = reply.send(());
                        return;
                    }
                    Some(Control::Start | Control::Send { .. }) => {}
                }
            }
        }
    }
}

fn count_restart(ctx: &Context, session: &Session) {
    let restarts = session.update(|s| {
        s.restarts += 1;
        s.restarts
    });
    if let Err(e) = ctx.store.set_restarts(&session.id, restarts) {
        tracing::error!(error = %e, "could not record the restart count");
    }
}

fn backoff(crashes: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1 << crashes.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

/// Sleeps `delay`, answering sends meanwhile; returns early with a request that ends the wait.
async fn wait_backoff(
    delay: Duration,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Option<Control> {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return None,
            request = control.recv() => match request {
                None => return None,
                Some(Control::Send { reply, .. }) => {
                    let _ = reply.send(Err(SendFailure::NotReady));
                }
                Some(Control::Start) => return None,
                Some(other) => return Some(other),
            },
        }
    }
}

/// Removes `dir` and everything in it; a missing one is fine.
async fn wipe(dir: &std::path::Path) {
    if let Err(e) = tokio::fs::remove_dir_all(dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::error!(error = %e, dir = %dir.display(), "could not remove a session directory");
    }
}

/// Forgets the link to the phone: the profile holding its keys and the number.
async fn unlink(ctx: &Context, session: &Session) {
    wipe(&ctx.data.profile(&session.id)).await;
    session.update(|s| s.phone_number = None);
    if let Err(e) = ctx.store.set_phone_number(&session.id, None) {
        tracing::error!(error = %e, "could not clear the phone number");
    }
}

async fn remove_session_files(ctx: &Context, session: &Session) {
    wipe(&ctx.data.session(&session.id)).await;
    if let Err(e) = ctx.store.delete(&session.id) {
        tracing::error!(error = %e, "could not remove the session from the store");
    }
}

/// One worker incarnation, from spawn to the end of its process group.
async fn run_worker(
    ctx: &Context,
    session: &Session,
    control: &mut mpsc::UnboundedReceiver<Control>,
    recycle_guard: Option<OwnedMutexGuard<()>>,
) -> Ended {
    let profile = ctx.data.profile(&session.id);
    if let Err(e) = prepare_profile(&profile, &ctx.data) {
        return Ended::Crashed {
            reason: format!("cannot prepare the profile directory: {e}"),
            got_going: false,
        };
    }
    let start_permit = tokio::select! {
        permit = ctx.start_gate.clone().acquire_owned() => permit.ok(),
        ending = next_ending(control) => return ending.without_worker(),
    };
    let socket = ctx.data.worker_socket();
    let mut child = match spawn::spawn_worker(&ctx.config, &session.id, &profile, &socket) {
        Ok(child) => child,
        Err(e) => {
            return Ended::Crashed {
                reason: format!(
                    "cannot start the worker {}: {e}",
                    ctx.config.worker_bin.display()
                ),
                got_going: false,
            };
        }
    };
    let Some(pid) = child.id() else {
        return Ended::Crashed {
            reason: "the worker exited at once".into(),
            got_going: false,
        };
    };
    tracing::info!(pid, "worker spawned");
    session.update(|s| {
        s.worker_pid = Some(pid);
        s.chromedriver_pid = None;
        s.browser_pid = None;
    });
    let mut incarnation = Incarnation {
        ctx,
        session,
        pid,
        child: &mut child,
        writer: None,
        pending: HashMap::new(),
        next_request: 1,
        fatal: None,
        got_going: false,
        logged_out: false,
        start_permit,
        recycle_guard,
        started: Instant::now(),
    };
    let ended = incarnation.drive(control).await;
    incarnation.fail_pending();
    ctx.link.forget(&session.id);
    session.update(|s| {
        s.worker_pid = None;
        s.chromedriver_pid = None;
        s.browser_pid = None;
        s.qr = None;
    });
    ended
}

/// The profile directory, private to the service user: it holds the WhatsApp credentials.
fn prepare_profile(profile: &std::path::Path, data: &DataDir) -> std::io::Result<()> {
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

/// A send passed to the worker, waiting for its result.
struct PendingSend {
    reply: oneshot::Sender<Result<String, SendFailure>>,
    phone_number: String,
    since: Instant,
}

struct Incarnation<'a> {
    ctx: &'a Context,
    session: &'a Session,
    pid: u32,
    child: &'a mut Child,
    writer: Option<OwnedWriteHalf>,
    pending: HashMap<u64, PendingSend>,
    next_request: u64,
    fatal: Option<String>,
    /// Whether this worker got as far as a QR or the app: a crash after that is not a
    /// failing start, and resets the count of crashes in a row.
    got_going: bool,
    logged_out: bool,
    start_permit: Option<OwnedSemaphorePermit>,
    recycle_guard: Option<OwnedMutexGuard<()>>,
    started: Instant,
}

impl Incarnation<'_> {
    async fn drive(&mut self, control: &mut mpsc::UnboundedReceiver<Control>) -> Ended {
        let admitted = self.ctx.link.expect(&self.session.id, self.pid);
        let stream = tokio::select! {
            stream = admitted => stream.ok(),
            status = self.child.wait() => {
                return self.crashed(format!("the worker exited before connecting ({})", describe(status))).await;
            }
            _ = tokio::time::sleep(HANDSHAKE_TIMEOUT) => None,
            ended = next_ending(control) => return self.stop(ended).await,
        };
        let Some(stream) = stream else {
            return self
                .crashed("the worker did not connect in time".into())
                .await;
        };
        let (mut reader, writer) = stream.into_split();
        self.writer = Some(writer);
        let (events_tx, mut events) = mpsc::channel(64);
        // read_frame is not cancel-safe, so frames are read in a task of their own.
        let reader_task = tokio::spawn(async move {
            loop {
                let frame = read_frame::<_, WorkerEvent>(&mut reader).await;
                let end = !matches!(frame, Ok(Some(_)));
                if events_tx.send(frame).await.is_err() || end {
                    return;
                }
            }
        });
        let mut socket_open = true;
        // The first sample one interval in: at spawn the group holds the worker alone.
        let every = self.ctx.config.watch_interval;
        let mut watch = tokio::time::interval_at(Instant::now() + every, every);
        let ended = loop {
            tokio::select! {
                frame = events.recv(), if socket_open => match frame {
                    Some(Ok(Some(event))) => {
                        self.apply(event).await;
                        if self.logged_out {
                            break self.recycle("the phone unlinked this session".into(), true, None, None).await;
                        }
                    }
                    Some(Ok(None)) | None => socket_open = false,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "bad frame from the worker");
                        socket_open = false;
                    }
                },
                _ = watch.tick() => {
                    if let Some(ended) = self.watch().await {
                        break ended;
                    }
                }
                status = self.child.wait() => {
                    let reason = self
                        .fatal
                        .take()
                        .unwrap_or_else(|| format!("the worker exited ({})", describe(status)));
                    break self.crashed(reason).await;
                }
                request = control.recv() => match request {
                    None => break self.stop(Ending::Shutdown(None)).await,
                    Some(Control::Send { phone_number, text, reply }) => {
                        self.send(phone_number, text, reply).await;
                    }
                    Some(Control::Start) => {}
                    Some(Control::Stop { kill, reply }) => {
                        break self.stop(Ending::Stop { kill, reply }).await;
                    }
                    Some(Control::Logout { reply }) => {
                        break self.recycle("logged out by request".into(), true, None, Some(reply)).await;
                    }
                    Some(Control::Delete { reply }) => break self.stop(Ending::Delete(reply)).await,
                    Some(Control::Shutdown { reply }) => {
                        break self.stop(Ending::Shutdown(Some(reply))).await;
                    }
                },
            }
        };
        reader_task.abort();
        ended
    }

    async fn apply(&mut self, event: WorkerEvent) {
        let ctx = self.ctx;
        let session = self.session;
        match event {
            WorkerEvent::Starting => ctx.set_status(session, Status::Starting, None),
            WorkerEvent::BrowserStarted {
                chromedriver_pid,
                browser_pid,
            } => {
                tracing::info!(chromedriver_pid, ?browser_pid, "browser started");
                session.update(|s| {
                    s.chromedriver_pid = Some(chromedriver_pid);
                    s.browser_pid = browser_pid;
                });
            }
            WorkerEvent::Qr { payload } => {
                tracing::info!("new QR code on show");
                self.got_going();
                ctx.set_status(session, Status::ScanQrCode, None);
                session.update(|s| s.qr = Some(payload));
                ctx.events.publish(&session.id, EventKind::Qr);
            }
            WorkerEvent::QrExpired => {
                tracing::info!("QR code expired; asking for a fresh one");
                session.update(|s| s.qr = None);
            }
            WorkerEvent::PairingCode { code } => {
                tracing::info!("pairing code on show");
                session.update(|s| s.pairing_code = Some(code));
            }
            WorkerEvent::Ready { phone_number } => {
                tracing::info!(phone = %phone_number, "linked and ready");
                self.got_going();
                session.update(|s| {
                    s.phone_number = Some(phone_number.clone());
                    s.pairing_code = None;
                });
                if let Err(e) = ctx.store.set_phone_number(&session.id, Some(&phone_number)) {
                    tracing::error!(error = %e, "could not record the phone number");
                }
                ctx.set_status(session, Status::Working, None);
                ctx.events
                    .publish(&session.id, EventKind::Ready { phone_number });
            }
            WorkerEvent::Conflict => {
                tracing::warn!("WhatsApp was opened in another window; taking it back");
            }
            WorkerEvent::LoggedOut => {
                tracing::warn!("the phone unlinked this session; wiping its profile");
                ctx.set_status(session, Status::Starting, Some("logged out from the phone"));
                self.logged_out = true;
            }
            WorkerEvent::SendResult {
                request_id,
                outcome,
            } => {
                let outcome = outcome.map(|sent| sent.message_id).map_err(|e| match e {
                    SendError::NotOnWhatsApp => SendFailure::NotOnWhatsApp,
                    SendError::NotLinked => SendFailure::NotReady,
                    SendError::Timeout => SendFailure::Timeout,
                    SendError::Busy => SendFailure::Failed(e.to_string()),
                    SendError::Failed(reason) => SendFailure::Failed(reason),
                });
                let Some(pending) = self.pending.remove(&request_id) else {
                    tracing::warn!(request_id, "a send result nobody waits for");
                    return;
                };
                ctx.metrics
                    .record_send(outcome.is_ok(), pending.since.elapsed());
                let phone_number = pending.phone_number;
                let event = match &outcome {
                    Ok(id) => {
                        tracing::info!(request_id, message_id = %id, "message sent");
                        EventKind::MessageSent {
                            message_id: id.clone(),
                            phone_number,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(request_id, error = ?e, "message not sent");
                        EventKind::MessageFailed {
                            phone_number,
                            error: format!("{e:?}"),
                        }
                    }
                };
                ctx.events.publish(&session.id, event);
                let _ = pending.reply.send(outcome);
            }
            WorkerEvent::Incoming(message) => {
                if !session.first_sight_of(&message.message_id) {
                    return;
                }
                tracing::info!(
                    message_id = %message.message_id,
                    chat = %message.chat_id,
                    "message received"
                );
                ctx.events.publish(
                    &session.id,
                    EventKind::MessageReceived {
                        message_id: message.message_id,
                        chat_id: message.chat_id,
                        sender: message.sender,
                        text: message.text,
                    },
                );
            }
            WorkerEvent::Fatal { reason } => {
                tracing::error!(%reason, "worker reported a fatal error");
                self.start_permit = None;
                self.fatal = Some(reason);
            }
        }
    }

    /// The page shows a QR or the app: the browser is up, the next one may launch.
    fn got_going(&mut self) {
        self.got_going = true;
        self.start_permit = None;
        self.recycle_guard = None;
    }

    /// Samples the group's memory and decides whether the worker is due for a recycle. Never
    /// while a send is in flight: that message was accepted and must get its answer.
    async fn watch(&mut self) -> Option<Ended> {
        let bytes = memory::group_memory(self.pid);
        self.session.update(|s| s.memory_bytes = Some(bytes));
        // Only a linked session is recycled: it comes back linked, while recycling one that
        // shows a QR would change the code under the eyes of the person scanning it.
        if !self.pending.is_empty() || self.session.state().status != Status::Working {
            return None;
        }
        let config = &self.ctx.config;
        if bytes > config.max_session_memory {
            let reason = format!(
                "its processes use {} MiB, above the limit of {} MiB",
                bytes >> 20,
                config.max_session_memory >> 20
            );
            return Some(self.recycle(reason, false, None, None).await);
        }
        let due = config
            .recycle_after
            .is_some_and(|after| self.started.elapsed() >= after);
        if due && let Ok(guard) = self.ctx.recycle_gate.clone().try_lock_owned() {
            let reason = format!(
                "it ran {} minutes (--recycle-after)",
                self.started.elapsed().as_secs() / 60
            );
            return Some(self.recycle(reason, false, Some(guard), None).await);
        }
        None
    }

    async fn recycle(
        &mut self,
        reason: String,
        wipe_profile: bool,
        guard: Option<OwnedMutexGuard<()>>,
        reply: Option<oneshot::Sender<()>>,
    ) -> Ended {
        self.reap(true).await;
        Ended::Recycled {
            reason,
            wipe_profile,
            guard,
            reply,
        }
    }

    async fn send(
        &mut self,
        phone_number: String,
        text: String,
        reply: oneshot::Sender<Result<String, SendFailure>>,
    ) {
        if self.session.state().status != Status::Working {
            let _ = reply.send(Err(SendFailure::NotReady));
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            let _ = reply.send(Err(SendFailure::WorkerGone));
            return;
        };
        let request_id = self.next_request;
        self.next_request += 1;
        let command = SupervisorCommand::SendText {
            request_id,
            phone_number: phone_number.clone(),
            text,
        };
        match write_frame(writer, &command).await {
            Ok(()) => {
                self.pending.insert(
                    request_id,
                    PendingSend {
                        reply,
                        phone_number,
                        since: Instant::now(),
                    },
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not pass a send to the worker");
                let _ = reply.send(Err(SendFailure::WorkerGone));
            }
        }
    }

    fn fail_pending(&mut self) {
        for (_, pending) in self.pending.drain() {
            self.ctx.metrics.record_send(false, pending.since.elapsed());
            let _ = pending.reply.send(Err(SendFailure::WorkerGone));
        }
    }

    /// The worker ended on its own: remove what is left of its tree.
    async fn crashed(&mut self, reason: String) -> Ended {
        self.reap(false).await;
        Ended::Crashed {
            reason,
            got_going: self.got_going,
        }
    }

    async fn stop(&mut self, ending: Ending) -> Ended {
        let graceful = !matches!(ending, Ending::Stop { kill: true, .. });
        self.reap(graceful).await;
        ending.without_worker()
    }

    /// Ends the process group: a shutdown command and the grace period first when `graceful`,
    /// then SIGKILL to the group, then any straggler on the profile. Returns once nothing of
    /// this worker runs.
    async fn reap(&mut self, graceful: bool) {
        if graceful && let Some(writer) = self.writer.as_mut() {
            let _ = write_frame(writer, &SupervisorCommand::Shutdown).await;
            let _ = tokio::time::timeout(self.ctx.config.stop_grace, self.child.wait()).await;
        }
        self.writer = None;
        if let Err(e) = kill::kill_group(self.pid) {
            tracing::error!(error = %e, pgid = self.pid, "could not kill the worker's group");
        }
        let _ = self.child.wait().await;
        if !kill::wait_group_gone(self.pid, Duration::from_secs(5)).await {
            tracing::error!(pgid = self.pid, "the worker's group outlived SIGKILL");
        }
        let profile = self.ctx.data.profile(&self.session.id);
        let stragglers = sweep::browsers_on(&profile);
        if !stragglers.is_empty() {
            tracing::warn!(?stragglers, "killing browsers left on the profile");
            if !sweep::kill_and_wait(&stragglers, Duration::from_secs(5)).await {
                tracing::error!(?stragglers, "browsers outlived SIGKILL");
                return;
            }
        }
        sweep::remove_browser_leftovers(&profile);
    }
}

/// A request that ends the incarnation.
enum Ending {
    Stop {
        kill: bool,
        reply: oneshot::Sender<()>,
    },
    Logout(oneshot::Sender<()>),
    Delete(oneshot::Sender<()>),
    Shutdown(Option<oneshot::Sender<()>>),
}

impl Ending {
    /// The incarnation ended before any worker was spawned.
    fn without_worker(self) -> Ended {
        match self {
            Ending::Stop { reply, .. } => Ended::Stopped(reply),
            Ending::Logout(reply) => Ended::Recycled {
                reason: "logged out by request".into(),
                wipe_profile: true,
                guard: None,
                reply: Some(reply),
            },
            Ending::Delete(reply) => Ended::Deleted(reply),
            Ending::Shutdown(Some(reply)) => Ended::Shutdown(reply),
            Ending::Shutdown(None) => Ended::Shutdown(oneshot::channel().0),
        }
    }
}

/// Waits, while no worker is connected yet, for a request that ends the incarnation;
/// sends meanwhile are refused because nothing is linked.
async fn next_ending(control: &mut mpsc::UnboundedReceiver<Control>) -> Ending {
    loop {
        match control.recv().await {
            None => return Ending::Shutdown(None),
            Some(Control::Send { reply, .. }) => {
                let _ = reply.send(Err(SendFailure::NotReady));
            }
            Some(Control::Start) => {}
            Some(Control::Stop { kill, reply }) => return Ending::Stop { kill, reply },
            Some(Control::Logout { reply }) => return Ending::Logout(reply),
            Some(Control::Delete { reply }) => return Ending::Delete(reply),
            Some(Control::Shutdown { reply }) => return Ending::Shutdown(Some(reply)),
        }
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
