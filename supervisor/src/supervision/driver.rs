//! The task that runs one session: it feeds the [`Lifecycle`] what happens (a person's request,
//! a start permit, the worker's handshake, events and exit, a memory sample, a timer) and
//! performs what the lifecycle decides (spawn, send a frame, end the group, wipe the profile,
//! set a status, answer a request). The policy is all in the lifecycle; this module is I/O.
//!
//! Each turn of the loop waits for the first of: a request on the session's control channel, a
//! start permit, the worker's handshake, a frame from the worker, its exit, the earliest armed
//! timer, or the memory watch. It turns that into an [`Input`], hands it to the lifecycle, and
//! performs the returned actions in order; actions that answer at once (ending the group,
//! taking the recycle gate, a failed spawn) feed their answer back before the next turn.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::sync::{AcquireError, OwnedMutexGuard, OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wamux_proto::{
    Attempt, FrameError, StartStep, SupervisorCommand, WorkerEvent, read_frame, write_frame,
};

use crate::daemon::config::DataDir;
use crate::daemon::metrics::{StartClock, StartPhase};
use crate::messaging::inbox::Inbox;
use crate::messaging::outbox::send_command;
use crate::process::kill::Group;
use crate::process::sweep;
use crate::sessions::events::EventKind;
use crate::sessions::session::{Control, SendFailure, Session, SessionState};
use crate::supervision::context::Context;
use crate::supervision::lifecycle::{
    Action, Initial, Input, Lifecycle, PageEvent, Request, Timer, Token,
};
use crate::supervision::spawn;

/// How long ending a group may wait for its processes to die after SIGKILL.
const REAP_LIMIT: Duration = Duration::from_secs(5);

type Frame = Result<Option<WorkerEvent>, FrameError>;
type PermitFuture =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Runs until the session is deleted or the daemon shuts down.
pub async fn run_session(
    ctx: Arc<Context>,
    session: Arc<Session>,
    control: mpsc::UnboundedReceiver<Control>,
    initial: Initial,
) {
    let (lifecycle, actions) = Lifecycle::new(ctx.policy(), initial);
    let mut driver = Driver {
        ctx,
        session,
        lifecycle,
        timers: HashMap::new(),
        replies: HashMap::new(),
        next_token: 1,
        in_flight: None,
        pace_until: None,
        permit: None,
        acquiring: None,
        gate: None,
        worker: None,
        finished: false,
    };
    driver.perform_all(actions).await;
    driver.run(control).await;
}

/// One worker process, from spawn to the end of its group.
struct Worker {
    child: Child,
    group: Group,
    admission: Option<oneshot::Receiver<UnixStream>>,
    writer: Option<OwnedWriteHalf>,
    frames: Option<mpsc::Receiver<Frame>>,
    reader: Option<JoinHandle<()>>,
    /// Set once `child.wait()` returned, so it is not polled again.
    exited: bool,
    /// The phases of its start reached so far.
    start: StartClock,
}

struct Driver {
    ctx: Arc<Context>,
    session: Arc<Session>,
    lifecycle: Lifecycle,
    timers: HashMap<Timer, Instant>,
    replies: HashMap<Token, oneshot::Sender<()>>,
    next_token: Token,
    /// The outbox message handed to the worker, and since when.
    in_flight: Option<(u64, Instant)>,
    /// No message is handed to the worker before this: a retry's wait or `--send-interval`.
    pace_until: Option<Instant>,
    permit: Option<OwnedSemaphorePermit>,
    acquiring: Option<PermitFuture>,
    gate: Option<OwnedMutexGuard<()>>,
    worker: Option<Worker>,
    finished: bool,
}

/// What woke the loop.
enum Woke {
    Control(Option<Control>),
    Permit(Result<OwnedSemaphorePermit, AcquireError>),
    Admitted(Option<UnixStream>),
    Frame(Option<Frame>),
    Exited(String),
    Timer(Timer),
    Paced,
    Watch,
}

impl Driver {
    async fn run(&mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        // The first sample one interval in: at spawn the group holds the worker alone.
        let every = self.ctx.config.watch_interval;
        let mut watch = tokio::time::interval_at(Instant::now() + every, every);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.finished {
            let next_timer = self
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(timer, at)| (*timer, *at));
            let acquiring = self.acquiring.as_mut();
            let pace_until = self.pace_until;
            let (admission, frames, child) = match self.worker.as_mut() {
                Some(w) => (
                    w.admission.as_mut(),
                    w.frames.as_mut(),
                    (!w.exited).then_some(&mut w.child),
                ),
                None => (None, None, None),
            };
            let has_worker = child.is_some();
            let woke = tokio::select! {
                request = control.recv() => Woke::Control(request),
                permit = async { acquiring.expect("guarded").await }, if acquiring.is_some() => {
                    Woke::Permit(permit)
                }
                stream = async { admission.expect("guarded").await.ok() }, if admission.is_some() => {
                    Woke::Admitted(stream)
                }
                frame = async { frames.expect("guarded").recv().await }, if frames.is_some() => {
                    Woke::Frame(frame)
                }
                status = async { child.expect("guarded").wait().await }, if child.is_some() => {
                    Woke::Exited(describe(status))
                }
                _ = tokio::time::sleep_until(next_timer.map_or_else(Instant::now, |(_, at)| at)),
                    if next_timer.is_some() => {
                    Woke::Timer(next_timer.expect("guarded").0)
                }
                _ = tokio::time::sleep_until(pace_until.unwrap_or_else(Instant::now)),
                    if pace_until.is_some() => Woke::Paced,
                _ = watch.tick(), if has_worker => Woke::Watch,
            };
            if let Some(input) = self.woke(woke).await {
                self.feed(input).await;
            }
        }
    }

    /// Turns what woke the loop into the lifecycle's input, doing the I/O that is not policy
    /// (recording pids, QR codes, incoming messages, send results) on the way.
    async fn woke(&mut self, woke: Woke) -> Option<Input> {
        match woke {
            Woke::Control(None) => Some(Input::Request(Request::Shutdown { token: None })),
            Woke::Control(Some(control)) => Some(self.accept(control)),
            Woke::Permit(permit) => {
                self.acquiring = None;
                self.permit = permit.ok();
                Some(Input::PermitGranted)
            }
            Woke::Admitted(stream) => {
                let worker = self.worker.as_mut()?;
                worker.admission = None;
                // A refused or abandoned admission leaves the worker to the handshake timer.
                let stream = stream?;
                let (mut reader, writer) = stream.into_split();
                let (tx, rx) = mpsc::channel(64);
                // read_frame is not cancel-safe, so frames are read in a task of their own.
                worker.reader = Some(tokio::spawn(async move {
                    loop {
                        let frame = read_frame::<_, WorkerEvent>(&mut reader).await;
                        let end = !matches!(frame, Ok(Some(_)));
                        if tx.send(frame).await.is_err() || end {
                            return;
                        }
                    }
                }));
                worker.writer = Some(writer);
                worker.frames = Some(rx);
                self.reached(StartPhase::Connected);
                Some(Input::Connected)
            }
            Woke::Frame(Some(Ok(Some(event)))) => self.event(event).await,
            Woke::Frame(other) => {
                if let Some(Err(e)) = other {
                    tracing::warn!(error = %e, "bad frame from the worker");
                }
                // The socket is done; the worker's exit (or a timer) says what comes next.
                if let Some(worker) = self.worker.as_mut() {
                    worker.frames = None;
                    worker.writer = None;
                }
                None
            }
            Woke::Exited(status) => {
                if let Some(worker) = self.worker.as_mut() {
                    worker.exited = true;
                }
                Some(Input::Exited(format!("the worker exited ({status})")))
            }
            Woke::Timer(timer) => {
                self.timers.remove(&timer);
                Some(Input::Timer(timer))
            }
            Woke::Paced => {
                self.pace_until = None;
                Some(Input::Outbox)
            }
            Woke::Watch => {
                let bytes = self.worker.as_ref()?.group.memory();
                self.session.update(|s| s.memory_bytes = Some(bytes));
                Some(Input::Memory(bytes))
            }
        }
    }

    /// A request from the API: its reply waits under a token until the lifecycle completes it.
    fn accept(&mut self, control: Control) -> Input {
        let token = self.next_token;
        self.next_token += 1;
        match control {
            Control::Outbox => Input::Outbox,
            Control::Start { reply } => {
                self.replies.insert(token, reply);
                Input::Request(Request::Start { token })
            }
            Control::Stop { kill, reply } => {
                self.replies.insert(token, reply);
                Input::Request(Request::Stop { kill, token })
            }
            Control::Logout { reply } => {
                self.replies.insert(token, reply);
                Input::Request(Request::Logout { token })
            }
            Control::Delete { reply } => {
                self.replies.insert(token, reply);
                Input::Request(Request::Delete { token })
            }
            Control::Shutdown { reply } => {
                self.replies.insert(token, reply);
                Input::Request(Request::Shutdown { token: Some(token) })
            }
        }
    }

    /// A worker event: recorded, published, and passed to the lifecycle where it matters.
    async fn event(&mut self, event: WorkerEvent) -> Option<Input> {
        let ctx = self.ctx.clone();
        let session = self.session.clone();
        match event {
            WorkerEvent::Starting => None,
            WorkerEvent::StartStep(step) => {
                self.reached(match step {
                    StartStep::ChromedriverReady => StartPhase::ChromedriverReady,
                    StartStep::FirstNavigation => StartPhase::FirstNavigation,
                    StartStep::FirstScreen => StartPhase::FirstScreen,
                });
                None
            }
            WorkerEvent::BrowserStarted {
                chromedriver_pid,
                browser_pid,
            } => {
                self.reached(StartPhase::BrowserSession);
                tracing::info!(chromedriver_pid, ?browser_pid, "browser started");
                if let Some(worker) = self.worker.as_mut() {
                    worker.group.remember(chromedriver_pid);
                    if let Some(pid) = browser_pid {
                        worker.group.remember(pid);
                    }
                }
                session.update(|s| {
                    s.chromedriver_pid = Some(chromedriver_pid);
                    s.browser_pid = browser_pid;
                });
                None
            }
            WorkerEvent::Qr { payload } => {
                tracing::info!("new QR code on show");
                self.reached(StartPhase::FirstQr);
                // The status first, so that readers see SCAN_QR_CODE before the code.
                self.feed(Input::Page(PageEvent::Qr)).await;
                session.update(|s| s.qr = Some(payload.clone()));
                ctx.events.publish(&session.id, EventKind::Qr { payload });
                None
            }
            WorkerEvent::QrExpired => {
                tracing::info!("QR code expired; asking for a fresh one");
                session.update(|s| s.qr = None);
                None
            }
            WorkerEvent::PairingCode { code } => {
                tracing::info!("pairing code on show");
                session.update(|s| s.pairing_code = Some(code));
                None
            }
            WorkerEvent::Ready { phone_number } => {
                tracing::info!(phone = %phone_number, "linked and ready");
                self.reached(StartPhase::Linked);
                session.update(|s| {
                    s.phone_number = Some(phone_number.clone());
                    s.pairing_code = None;
                });
                if let Err(e) = ctx.store.set_phone_number(&session.id, Some(&phone_number)) {
                    tracing::error!(error = %e, "could not record the phone number");
                }
                self.feed(Input::Page(PageEvent::Ready)).await;
                ctx.events
                    .publish(&session.id, EventKind::Ready { phone_number });
                None
            }
            WorkerEvent::Conflict => {
                tracing::warn!("WhatsApp was opened in another window; taking it back");
                None
            }
            WorkerEvent::LoggedOut => {
                tracing::warn!("the phone unlinked this session; wiping its profile");
                Some(Input::Page(PageEvent::LoggedOut))
            }
            WorkerEvent::SendResult {
                request_id,
                outcome,
            } => {
                let outcome = outcome
                    .map(|sent| sent.message_id)
                    .map_err(SendFailure::from);
                self.settle(request_id, outcome)
            }
            WorkerEvent::Incoming(message) => {
                let message_id = message.message_id.clone();
                let chat = message.chat_id.clone();
                match Inbox::new(&ctx.store, &ctx.events).receive(&session.id, message) {
                    Ok(new) => {
                        tracing::info!(%message_id, %chat, new = new.is_some(), "message received");
                        // Stored: the worker may stop reporting it. Unanswered, it reports the
                        // message again.
                        let stored = SupervisorCommand::IncomingStored { message_id };
                        if let Some(writer) = self.worker.as_mut().and_then(|w| w.writer.as_mut())
                            && let Err(e) = write_frame(writer, &stored).await
                        {
                            tracing::warn!(error = %e, "could not answer an incoming message");
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, %message_id, "could not store an incoming message");
                    }
                }
                None
            }
            WorkerEvent::SendAttempt {
                request_id,
                attempt,
            } => {
                self.attempt(request_id, &attempt).await;
                None
            }
            WorkerEvent::Engine(engines) => {
                session.engines_reported(engines);
                None
            }
            WorkerEvent::Ack { message_id, ack } => {
                tracing::info!(%message_id, ?ack, "message acknowledged");
                if let Err(e) = ctx.outbox.ack(&session.id, &message_id, ack) {
                    tracing::error!(error = %e, "could not record an acknowledgement");
                }
                None
            }
            WorkerEvent::Fatal { reason } => {
                tracing::error!(%reason, "worker reported a fatal error");
                Some(Input::Page(PageEvent::Fatal(reason)))
            }
        }
    }

    /// The worker's answer for outbox message `id`: recorded, and the next send paced.
    fn settle(&mut self, id: u64, outcome: Result<String, SendFailure>) -> Option<Input> {
        let Some((expected, since)) = self.in_flight else {
            tracing::warn!(message = id, "a send result for no message in flight");
            return None;
        };
        if expected != id {
            tracing::warn!(message = id, expected, "a send result for another message");
            return None;
        }
        self.in_flight = None;
        match &outcome {
            Ok(wa_id) => tracing::info!(message = id, message_id = %wa_id, "message sent"),
            Err(failure) => {
                tracing::warn!(message = id, code = failure.code(), reason = %failure.message(), "message not sent")
            }
        }
        let retry = match self.ctx.outbox.settle(id as i64, outcome, since.elapsed()) {
            Ok(retry) => retry,
            Err(e) => {
                tracing::error!(error = %e, message = id, "could not record a send's outcome");
                Some(Duration::from_secs(5))
            }
        };
        let interval = self
            .ctx
            .outbox
            .config()
            .interval
            .map(|i| i.pick(rand::random::<f64>()));
        let wait = retry.into_iter().chain(interval).max();
        self.pace_until = wait.filter(|w| !w.is_zero()).map(|w| Instant::now() + w);
        Some(Input::SendSettled(id))
    }

    /// The worker is about to send: what identifies the message is stored before it may.
    async fn attempt(&mut self, id: u64, attempt: &Attempt) {
        if self.in_flight.map(|(m, _)| m) != Some(id) {
            tracing::warn!(message = id, "an attempt for no message in flight");
            return;
        }
        if let Err(e) = self.ctx.outbox.attempt(id as i64, attempt) {
            // Unanswered, the worker gives up on this attempt without pressing send.
            tracing::error!(error = %e, message = id, "could not record a send attempt");
            return;
        }
        let command = SupervisorCommand::AttemptRecorded { request_id: id };
        if let Some(writer) = self.worker.as_mut().and_then(|w| w.writer.as_mut())
            && let Err(e) = write_frame(writer, &command).await
        {
            tracing::warn!(error = %e, "could not answer a send attempt");
        }
    }

    /// Hands the session's next due message to the worker, marked `sending` first.
    async fn dispatch(&mut self) -> Option<Input> {
        if self.in_flight.is_some() || self.pace_until.is_some_and(|t| t > Instant::now()) {
            return None;
        }
        let outbox = &self.ctx.outbox;
        let next = outbox.next(&self.session.id).and_then(|m| match m {
            Some(m) => outbox.dispatching(m.id),
            None => Ok(None),
        });
        let message = match next {
            Ok(message) => message?,
            Err(e) => {
                tracing::error!(error = %e, "could not read the outbox");
                self.pace_until = Some(Instant::now() + Duration::from_secs(5));
                return None;
            }
        };
        let id = message.id as u64;
        tracing::info!(
            message = id,
            attempt = message.attempts,
            resume = message.attempt.is_some(),
            planned = message.attempt.as_ref().and_then(|a| a.planned.as_deref()),
            "sending a message"
        );
        let command = send_command(message);
        let writer = self.worker.as_mut().and_then(|w| w.writer.as_mut())?;
        if let Err(e) = write_frame(writer, &command).await {
            // The message stays `sending`: the next worker takes it up.
            tracing::warn!(error = %e, "could not pass a message to the worker");
            return None;
        }
        self.in_flight = Some((id, Instant::now()));
        Some(Input::Dispatched(id))
    }

    /// Hands `input` to the lifecycle and performs its decisions, and those of the inputs
    /// that the actions answer at once.
    async fn feed(&mut self, input: Input) {
        let mut inputs = VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            let actions = self.lifecycle.next(input);
            for action in actions {
                if let Some(answer) = self.perform(action).await {
                    inputs.push_back(answer);
                }
            }
        }
    }

    async fn perform_all(&mut self, actions: Vec<Action>) {
        for action in actions {
            if let Some(answer) = self.perform(action).await {
                self.feed(answer).await;
            }
        }
    }

    /// Performs one action; returns the input it answers with at once, if any.
    async fn perform(&mut self, action: Action) -> Option<Input> {
        match action {
            Action::SetStatus(status, error) => {
                self.ctx.set_status(&self.session, status, error);
                None
            }
            Action::AcquirePermit => {
                if self.permit.is_none() && self.acquiring.is_none() {
                    self.acquiring = Some(Box::pin(self.ctx.start_gate.clone().acquire_owned()));
                }
                None
            }
            Action::ReleasePermit => {
                self.permit = None;
                self.acquiring = None;
                None
            }
            Action::TryRecycleGate => {
                let granted = match self.ctx.recycle_gate.clone().try_lock_owned() {
                    Ok(guard) => {
                        self.gate = Some(guard);
                        true
                    }
                    Err(_) => false,
                };
                Some(Input::RecycleGate(granted))
            }
            Action::ReleaseRecycleGate => {
                self.gate = None;
                None
            }
            Action::Spawn => self.spawn(),
            Action::Arm(timer, after) => {
                self.timers.insert(timer, Instant::now() + after);
                None
            }
            Action::Disarm(timer) => {
                self.timers.remove(&timer);
                None
            }
            Action::Dispatch => self.dispatch().await,
            Action::EndWorker { graceful } => {
                self.end_worker(graceful).await;
                Some(Input::Reaped)
            }
            Action::WipeProfile => {
                unlink(&self.ctx, &self.session).await;
                None
            }
            Action::RemoveSession => {
                wipe(&self.ctx.data.session(&self.session.id)).await;
                if let Err(e) = self.ctx.store.delete(&self.session.id) {
                    tracing::error!(error = %e, "could not remove the session from the store");
                }
                if let Err(e) = self.ctx.outbox.forget_session(&self.session.id) {
                    tracing::error!(error = %e, "could not remove the session's messages");
                }
                None
            }
            Action::CountRestart => {
                let restarts = self.session.update(|s| {
                    s.restarts += 1;
                    s.restarts
                });
                if let Err(e) = self.ctx.store.set_restarts(&self.session.id, restarts) {
                    tracing::error!(error = %e, "could not record the restart count");
                }
                None
            }
            Action::Complete(token) => {
                if let Some(reply) = self.replies.remove(&token) {
                    let _ = reply.send(());
                }
                None
            }
            Action::Finish => {
                self.finished = true;
                None
            }
        }
    }

    fn spawn(&mut self) -> Option<Input> {
        let ctx = &self.ctx;
        let id = &self.session.id;
        let profile = ctx.data.profile(id);
        if let Err(e) = prepare_profile(&profile, &ctx.data) {
            return Some(Input::SpawnFailed(format!(
                "cannot prepare the profile directory: {e}"
            )));
        }
        let child = match spawn::spawn_worker(&ctx.config, id, &profile, &ctx.data.worker_socket())
        {
            Ok(child) => child,
            Err(e) => {
                return Some(Input::SpawnFailed(format!(
                    "cannot start the worker {}: {e}",
                    ctx.config.worker_bin.display()
                )));
            }
        };
        let Some(pid) = child.id() else {
            return Some(Input::SpawnFailed("the worker exited at once".into()));
        };
        tracing::info!(pid, "worker spawned");
        self.session.update(|s| {
            s.worker_pid = Some(pid);
            s.chromedriver_pid = None;
            s.browser_pid = None;
        });
        self.worker = Some(Worker {
            child,
            group: Group::led_by(pid),
            admission: Some(ctx.link.expect(id, pid)),
            writer: None,
            frames: None,
            reader: None,
            exited: false,
            start: StartClock::new(std::time::Instant::now()),
        });
        None
    }

    /// The worker reached `phase` of its start: logged and timed, once per worker.
    fn reached(&mut self, phase: StartPhase) {
        let Some(worker) = self.worker.as_mut() else {
            return;
        };
        if let Some(took) = worker.start.reach(phase, std::time::Instant::now()) {
            tracing::info!(
                phase = phase.label(),
                after_ms = took.as_millis() as u64,
                "start phase reached"
            );
            self.ctx.metrics.record_start_phase(phase, took);
        }
    }

    /// Ends the worker's process group: a shutdown command and the grace period first when
    /// `graceful`, then SIGKILL to the group, then any straggler on the profile. Returns once
    /// nothing of this worker runs.
    async fn end_worker(&mut self, graceful: bool) {
        let Some(mut worker) = self.worker.take() else {
            return;
        };
        if graceful
            && !worker.exited
            && let Some(writer) = worker.writer.as_mut()
        {
            let _ = write_frame(writer, &SupervisorCommand::Shutdown).await;
            let _ = tokio::time::timeout(self.ctx.config.stop_grace, worker.child.wait()).await;
        }
        worker.writer = None;
        // The group is signalled only while a process seen in it (the worker if not yet reaped,
        // its chromedriver, its browser, any member seen at a memory sample) is still there,
        // never a pgid that may have been reused; the sweep of the profile below covers the rest.
        worker.group.kill();
        let _ = worker.child.wait().await;
        if !worker.group.wait_gone(REAP_LIMIT).await {
            tracing::error!(
                pgid = worker.group.pgid(),
                "the worker's group outlived SIGKILL"
            );
        }
        if let Some(reader) = worker.reader.take() {
            reader.abort();
        }
        let profile = self.ctx.data.profile(&self.session.id);
        let stragglers = sweep::browsers_on(&profile);
        if !stragglers.is_empty() {
            tracing::warn!(?stragglers, "killing browsers left on the profile");
            if !sweep::kill_and_wait(&stragglers, REAP_LIMIT).await {
                tracing::error!(?stragglers, "browsers outlived SIGKILL");
            }
        }
        sweep::remove_browser_leftovers(&profile);
        self.ctx.link.forget(&self.session.id);
        self.session.update(SessionState::worker_ended);
        // A message in flight stays `sending` in the outbox: the next worker resumes it.
        self.in_flight = None;
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

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}
