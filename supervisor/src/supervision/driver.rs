//! The task that runs one session: it feeds the [`Lifecycle`] what happens (a person's request,
//! a start permit, the worker's handshake, events and exit, a memory sample, a timer) and
//! performs what the lifecycle decides (spawn, send a frame, end the group, wipe the profile,
//! set a status, answer a request). The policy is all in the lifecycle; this module is I/O.
//!
//! A session that took a warm spare (`supervision::spares`) starts on the spare's worker
//! instead: the lifecycle hears [`Input::Adopted`] and the QR on show, and it is from then on
//! the session's worker like any other.
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
use tokio::sync::{AcquireError, OwnedMutexGuard, OwnedSemaphorePermit, mpsc, oneshot};
use tokio::time::Instant;
use wamux_proto::{Attempt, SupervisorCommand, WorkerEvent};

use crate::daemon::metrics::StartPhase;
use crate::messaging::inbox::Inbox;
use crate::messaging::outbox::send_command;
use crate::sessions::events::EventKind;
use crate::sessions::pairing::{PairingCode, PairingFailure};
use crate::sessions::session::{Control, SendFailure, Session, SessionState, Status, now_ms};
use crate::supervision::context::Context;
use crate::supervision::lifecycle::{
    Action, Initial, Input, Lifecycle, PageEvent, Phase, Request, Timer, Token,
};
use crate::supervision::spares::Claim;
use crate::supervision::worker::{Frame, Worker, describe, wipe};

type PairingReply = oneshot::Sender<Result<PairingCode, PairingFailure>>;
type PermitFuture =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Runs until the session is deleted or the daemon shuts down. With `spare`, the session
/// took a warm spare and starts on its worker.
pub async fn run_session(
    ctx: Arc<Context>,
    session: Arc<Session>,
    control: mpsc::UnboundedReceiver<Control>,
    initial: Initial,
    spare: Option<Claim>,
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
        pairing: Vec::new(),
        linking: false,
        finished: false,
    };
    driver.perform_all(actions).await;
    if let Some(spare) = spare {
        driver.adopt(spare).await;
    }
    driver.run(control).await;
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
    /// Requests for a pairing code the worker has not answered yet.
    pairing: Vec<PairingReply>,
    /// The page offered a way to link (a QR or a pairing code) since the session last
    /// worked: with several nodes, the first WORKING after it saves the new link.
    linking: bool,
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
            Woke::Control(Some(Control::PairingCode {
                phone_number,
                reply,
            })) => {
                self.ask_pairing_code(phone_number, reply).await;
                None
            }
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
                worker.admitted(stream?);
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
                    worker.disconnected();
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
            Control::PairingCode { .. } => unreachable!("taken before the lifecycle's requests"),
        }
    }

    /// Asks the worker for a pairing code; the reply waits for the code, or why there is none.
    async fn ask_pairing_code(&mut self, phone_number: String, reply: PairingReply) {
        if let Some(failure) = PairingFailure::for_status(self.session.state().status) {
            let _ = reply.send(Err(failure));
            return;
        }
        let command = SupervisorCommand::RequestPairingCode { phone_number };
        let told = match self.worker.as_mut() {
            Some(worker) => worker.send(&command).await,
            None => false,
        };
        if told {
            self.pairing.push(reply);
        } else {
            let _ = reply.send(Err(PairingFailure::Gone));
        }
    }

    /// A worker event: recorded, published, and passed to the lifecycle where it matters.
    async fn event(&mut self, event: WorkerEvent) -> Option<Input> {
        let ctx = self.ctx.clone();
        let session = self.session.clone();
        match event {
            WorkerEvent::Starting => None,
            WorkerEvent::StartStep(step) => {
                self.reached(step.into());
                None
            }
            WorkerEvent::BrowserStarted {
                chromedriver_pid,
                browser_pid,
            } => {
                tracing::info!(chromedriver_pid, ?browser_pid, "browser started");
                if let Some(worker) = self.worker.as_mut() {
                    worker.browser_started(&ctx, chromedriver_pid, browser_pid);
                }
                session.update(|s| {
                    s.chromedriver_pid = Some(chromedriver_pid);
                    s.browser_pid = browser_pid;
                });
                None
            }
            WorkerEvent::Qr { payload } => {
                tracing::info!("new QR code on show");
                self.linking = true;
                self.reached(StartPhase::FirstQr);
                // The status first, so that readers see SCAN_QR_CODE before the code.
                self.feed(Input::Page(PageEvent::Qr)).await;
                session.update(|s| {
                    s.qr = Some(payload.clone());
                    s.pairing_code = None;
                });
                ctx.events.publish(&session.id, EventKind::Qr { payload });
                None
            }
            WorkerEvent::QrExpired => {
                tracing::info!("QR code expired; asking for a fresh one");
                session.update(|s| s.qr = None);
                None
            }
            WorkerEvent::PairingCode { code } => {
                self.linking = true;
                tracing::info!("pairing code on show");
                let code = PairingCode::shown(&code, now_ms());
                session.update(|s| {
                    s.qr = None;
                    s.pairing_code = Some(code.clone());
                });
                for reply in self.pairing.drain(..) {
                    let _ = reply.send(Ok(code.clone()));
                }
                ctx.events
                    .publish(&session.id, EventKind::PairingCode(code));
                None
            }
            WorkerEvent::PairingCodeFailed { reason } => {
                tracing::warn!(%reason, "no pairing code");
                for reply in self.pairing.drain(..) {
                    let _ = reply.send(Err(PairingFailure::Failed(reason.clone())));
                }
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
                match Inbox::new(&ctx.store, &ctx.events).receive(
                    &session.id,
                    &session.dir,
                    *message,
                ) {
                    Ok(new) => {
                        tracing::info!(%message_id, %chat, new = new.is_some(), "message received");
                        // Stored: the worker may stop reporting it. Unanswered, it reports the
                        // message again.
                        let stored = SupervisorCommand::IncomingStored { message_id };
                        if let Some(worker) = self.worker.as_mut() {
                            worker.send(&stored).await;
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
        if let Some(worker) = self.worker.as_mut() {
            worker.send(&command).await;
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
        // Untold, the message stays `sending`: the next worker takes it up.
        if !self.worker.as_mut()?.send(&command).await {
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
                // Linked just now: with several nodes, close, save and reopen, so that the
                // link survives this node (`cluster::profile`).
                if status == Status::Working && self.linking {
                    self.linking = false;
                    if self.ctx.cluster.is_some() {
                        return Some(Input::Checkpoint);
                    }
                }
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
                wipe(&self.ctx.data.session(&self.session.dir)).await;
                if let Some(cluster) = &self.ctx.cluster
                    && let Err(e) = cluster.profiles.forget(&self.session.id)
                {
                    tracing::warn!(error = %e, "could not remove the saved profile");
                }
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
        // Another node runs it now: never a second browser for the account.
        if self.session.evicted() {
            return Some(Input::SpawnFailed(
                "another node runs this session now".into(),
            ));
        }
        let worker = match Worker::spawn(&self.ctx, &self.session.id, &self.session.dir) {
            Ok(worker) => worker,
            Err(reason) => return Some(Input::SpawnFailed(reason)),
        };
        self.session.update(|s| {
            s.worker_pid = Some(worker.pid);
            s.chromedriver_pid = None;
            s.browser_pid = None;
        });
        self.worker = Some(worker);
        None
    }

    /// Starts on the worker of the warm spare this session took, whose page shows a QR: the
    /// session's QR from the first moment. A spare that is not handed over leaves the session
    /// queued for a worker of its own, on the same (fresh) profile.
    async fn adopt(&mut self, spare: Claim) {
        // The spare's task answers at once, and always, unless it is gone altogether: no bound
        // here, or a late answer would find this session's own browser on the same profile.
        let Ok(adopted) = spare.answer.await else {
            tracing::warn!(spare = %spare.dir, "the warm spare was not handed over; starting a browser");
            return;
        };
        let worker = adopted.worker;
        worker.span.record("session", self.session.id.as_str());
        if self.lifecycle.phase() != &Phase::Queued {
            worker.end(&self.ctx, false).await;
            return;
        }
        tracing::info!(spare = %worker.name, pid = worker.pid, "took a warm spare");
        self.session.update(|s| {
            s.worker_pid = Some(worker.pid);
            s.chromedriver_pid = adopted.chromedriver_pid;
            s.browser_pid = adopted.browser_pid;
        });
        drop(adopted.owned_until_recorded);
        let exited = worker.exited;
        self.worker = Some(worker);
        self.feed(Input::Adopted).await;
        if exited {
            self.feed(Input::Exited("the warm spare's worker exited".into()))
                .await;
        } else if let Some(payload) = adopted.qr
            && let Some(input) = self.event(WorkerEvent::Qr { payload }).await
        {
            self.feed(input).await;
        }
    }

    /// The worker reached `phase` of its start: logged and timed, once per worker.
    fn reached(&mut self, phase: StartPhase) {
        if let Some(worker) = self.worker.as_mut() {
            worker.reached(&self.ctx, phase);
        }
    }

    /// Ends the worker's whole process group (see [`Worker::end`]); returns once nothing of it
    /// runs.
    async fn end_worker(&mut self, graceful: bool) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        let clean = worker.end(&self.ctx, graceful).await;
        if clean
            && !self.session.evicted()
            && let Some(cluster) = &self.ctx.cluster
        {
            cluster
                .save_profile(&self.session.id, &self.ctx.data.profile(&self.session.dir))
                .await;
        }
        // Unanswered requests for a pairing code hear that the worker is gone.
        self.pairing.clear();
        self.session.update(SessionState::worker_ended);
        // A message in flight stays `sending` in the outbox: the next worker resumes it.
        self.in_flight = None;
    }
}

/// Forgets the link to the phone: the profile holding its keys and the number.
async fn unlink(ctx: &Context, session: &Session) {
    wipe(&ctx.data.profile(&session.dir)).await;
    session.update(|s| s.phone_number = None);
    if let Err(e) = ctx.store.set_phone_number(&session.id, None) {
        tracing::error!(error = %e, "could not clear the phone number");
    }
}
