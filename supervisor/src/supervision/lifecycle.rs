//! The policy of one session's life, as a pure function: from what just happened (an
//! [`Input`]) and what the session is doing (its [`Lifecycle`]) to what to do next (a list of
//! [`Action`]s). Nothing here waits, spawns, signals or reads a clock; the driver
//! (`supervision::driver`) performs the actions and feeds back what happens, and the unit tests
//! below walk every transition in microseconds.
//!
//! A session's phases, with the inputs that move it:
//! 1. `Queued`: it waits for a place at the start gate (`--max-starting`).
//! 2. `Connecting`, then `Booting`: the worker is spawned and must shake hands within
//!    [`HANDSHAKE_TIMEOUT`], then show a QR code or the app within `--browser-start-timeout`.
//!    Until then it holds its start permit; a start that misses either bound is a failed start.
//! 3. `Up`: the page shows a QR code (SCAN_QR_CODE) or the app (WORKING). Sends go through only
//!    when WORKING. A linked, idle session is recycled when its memory stays above the limit
//!    or `--recycle-after` passed, one session at a time (the recycle gate), never mid-send;
//!    memory recycles of one session back off, and repeated ones are reported in `lastError`.
//! 4. `Ending`: the worker's whole group is being ended; once it is gone, what comes next
//!    depends on why: a crash waits out an exponential backoff and starts again, or after
//!    [`MAX_FAILED_STARTS`] failed starts in a row is FAILED until a person starts it; a
//!    recycle or a logout starts again at once (a logout first wipes the profile); a stop is
//!    STOPPED; a delete removes the session; a shutdown ends the task and keeps the session.
//! 5. `Stopped` and `Failed` wait for a person: `start` (and `logout`) start again, `stop`
//!    turns FAILED into STOPPED, `delete` removes it.

use std::collections::HashSet;
use std::time::Duration;

use crate::sessions::session::Status;

/// A worker must connect this soon after being spawned.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed starts in a row (ended before showing a QR or the app) before the session is FAILED.
pub const MAX_FAILED_STARTS: u32 = 5;
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Samples over the memory limit in a row before a memory recycle: one spike is not a trend.
const MEMORY_SAMPLES_OVER: u32 = 2;
/// After the k-th memory recycle in a row, the next one waits for `MEMORY_SAMPLES_OVER << k`
/// samples of the new worker, at most this many.
const MEMORY_COOLDOWN_MAX_SAMPLES: u32 = 360;
/// Memory recycles in a row after which `lastError` tells the operator.
const MEMORY_RECYCLES_REPORTED: u32 = 3;

/// The settings the policy depends on.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How long a started worker may take to show a QR code or the app.
    pub start_timeout: Duration,
    pub handshake_timeout: Duration,
    /// `--max-session-memory`, in bytes (PSS of the whole group).
    pub max_memory: u64,
    /// `--recycle-after`.
    pub recycle_after: Option<Duration>,
    /// How often a scheduled recycle that had to wait tries again.
    pub watch_interval: Duration,
}

/// Identifies a person's pending request, so the driver can answer it when the policy says.
pub type Token = u64;

/// What a person (through the API or the CLI) or the daemon asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Start a stopped or failed session; answered once its status says STARTING.
    Start { token: Token },
    /// Stop the worker: cleanly, or with SIGKILL to its group at once when `kill`.
    Stop { kill: bool, token: Token },
    /// Unlink the device: wipe the profile and start afresh with a new QR.
    Logout { token: Token },
    /// End the worker and remove everything of the session.
    Delete { token: Token },
    /// The daemon is exiting: stop the worker cleanly and keep the session.
    Shutdown { token: Option<Token> },
}

/// What the page reported that the policy cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEvent {
    Qr,
    Ready,
    LoggedOut,
    Fatal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    Backoff,
    Handshake,
    StartDeadline,
    RecycleDue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Request(Request),
    /// The outbox may hold messages for this session.
    Outbox,
    /// The driver handed outbox message `u64` to the worker.
    Dispatched(u64),
    /// The worker answered for message `u64` (or could not be told).
    SendSettled(u64),
    PermitGranted,
    /// A queued session took a warm spare: its worker runs, connected, and its page shows
    /// the landing screen; the QR it shows follows as [`PageEvent::Qr`].
    Adopted,
    SpawnFailed(String),
    Connected,
    Page(PageEvent),
    /// The worker process exited on its own.
    Exited(String),
    /// Nothing of the worker runs any more (the answer to [`Action::EndWorker`]).
    Reaped,
    Timer(Timer),
    /// A sample of the group's memory, in bytes.
    Memory(u64),
    /// The answer to [`Action::TryRecycleGate`].
    RecycleGate(bool),
    /// With several nodes: the session just linked; recycle it (when idle) so that the clean
    /// close saves the link for the other nodes.
    Checkpoint,
}

/// What to do with `lastError` along with a status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastError {
    Keep,
    Clear,
    Set(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SetStatus(Status, LastError),
    /// Queue for a start permit; the answer is [`Input::PermitGranted`].
    AcquirePermit,
    /// Give back the start permit, or stop queueing for one.
    ReleasePermit,
    /// Take the recycle gate if it is free; the answer is [`Input::RecycleGate`].
    TryRecycleGate,
    ReleaseRecycleGate,
    /// Spawn the worker and wait for its handshake ([`Input::Connected`]).
    Spawn,
    Arm(Timer, Duration),
    Disarm(Timer),
    /// Hand the session's next due outbox message to the worker, if there is one.
    Dispatch,
    /// End the worker's group (a shutdown command and the grace period first when
    /// `graceful`); the answer is [`Input::Reaped`].
    EndWorker {
        graceful: bool,
    },
    /// Forget the phone: wipe the profile and the number.
    WipeProfile,
    /// Remove the session's files and its row in the store.
    RemoveSession,
    CountRestart,
    /// Answer the person's request `Token`: it is done.
    Complete(Token),
    /// The session's task ends.
    Finish,
}

/// Where a session's life stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Stopped,
    Failed,
    Backoff,
    Queued,
    Connecting,
    Booting,
    Up { working: bool },
    Ending(After),
    Finished,
}

/// Why a worker is being ended, which says what comes after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Crash(String),
    Recycle(Recycle),
    Stop(Token),
    Delete(Token),
    Shutdown(Option<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recycle {
    pub reason: String,
    pub wipe_profile: bool,
    /// A person's logout, answered once the profile is wiped.
    pub token: Option<Token>,
    pub for_memory: bool,
}

/// How the session begins when its task starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    Run,
    Stopped,
    Failed,
}

/// Why the recycle gate was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    Memory(String),
    Scheduled(String),
}

#[derive(Debug)]
pub struct Lifecycle {
    policy: Policy,
    phase: Phase,
    failed_starts: u32,
    /// Whether this worker got as far as a QR or the app.
    got_going: bool,
    holds_permit: bool,
    holds_gate: bool,
    wants_gate: Option<Wanted>,
    /// What the worker said before dying, a better reason than its exit status.
    fatal: Option<String>,
    in_flight: HashSet<u64>,
    /// Memory samples of this worker, and how many of the last ones were over the limit.
    samples: u32,
    samples_over: u32,
    /// Samples under the limit in a row, across workers: a long enough run forgives.
    samples_under: u32,
    memory_recycles: u32,
}

impl Lifecycle {
    pub fn new(policy: Policy, initial: Initial) -> (Lifecycle, Vec<Action>) {
        let phase = match initial {
            Initial::Run => Phase::Queued,
            Initial::Stopped => Phase::Stopped,
            Initial::Failed => Phase::Failed,
        };
        let lifecycle = Lifecycle {
            policy,
            phase,
            failed_starts: 0,
            got_going: false,
            holds_permit: false,
            holds_gate: false,
            wants_gate: None,
            fatal: None,
            in_flight: HashSet::new(),
            samples: 0,
            samples_over: 0,
            samples_under: 0,
            memory_recycles: 0,
        };
        let actions = match initial {
            Initial::Run => vec![
                Action::SetStatus(Status::Starting, LastError::Keep),
                Action::AcquirePermit,
            ],
            Initial::Stopped | Initial::Failed => Vec::new(),
        };
        (lifecycle, actions)
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Whether a worker process may exist now (spawned and not yet reaped).
    fn has_worker(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting | Phase::Booting | Phase::Up { .. }
        )
    }

    /// The one transition function.
    pub fn next(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Request(request) => self.request(request, &mut out),
            Input::Outbox => self.dispatch(&mut out),
            Input::Dispatched(id) => {
                if self.phase == (Phase::Up { working: true }) {
                    self.in_flight.insert(id);
                }
            }
            Input::SendSettled(id) => {
                self.in_flight.remove(&id);
                self.dispatch(&mut out);
            }
            Input::PermitGranted => {
                if self.phase == Phase::Queued {
                    self.holds_permit = true;
                    self.spawn(&mut out);
                } else {
                    out.push(Action::ReleasePermit);
                }
            }
            Input::Adopted => {
                // Only a queued session takes one (the driver ends a spare it cannot use).
                if self.phase == Phase::Queued {
                    out.push(Action::ReleasePermit);
                    self.fresh_worker(Phase::Booting, &mut out);
                }
            }
            Input::SpawnFailed(reason) => {
                if self.phase == Phase::Connecting {
                    self.leave_worker_phase(&mut out);
                    self.after_reaped(After::Crash(reason), &mut out);
                }
            }
            Input::Connected => {
                if self.phase == Phase::Connecting {
                    self.phase = Phase::Booting;
                    out.push(Action::Disarm(Timer::Handshake));
                }
            }
            Input::Page(event) => self.page(event, &mut out),
            Input::Exited(reason) => {
                if self.has_worker() {
                    let reason = self.fatal.take().unwrap_or(reason);
                    self.end(After::Crash(reason), false, &mut out);
                }
            }
            Input::Reaped => {
                if let Phase::Ending(after) = &self.phase {
                    let after = after.clone();
                    self.after_reaped(after, &mut out);
                }
            }
            Input::Timer(timer) => self.timer(timer, &mut out),
            Input::Memory(bytes) => self.memory(bytes, &mut out),
            Input::Checkpoint => {
                if matches!(self.phase, Phase::Up { .. })
                    && self.idle_and_linked()
                    && self.wants_gate.is_none()
                {
                    self.wants_gate = Some(Wanted::Scheduled(
                        "it linked: its profile is saved for the other nodes".into(),
                    ));
                    out.push(Action::TryRecycleGate);
                } else if matches!(self.phase, Phase::Up { .. }) {
                    // Busy sending: the scheduled recycle's tick tries again soon.
                    out.push(Action::Arm(Timer::RecycleDue, self.policy.watch_interval));
                }
            }
            Input::RecycleGate(granted) => self.recycle_gate(granted, &mut out),
        }
        out
    }

    fn request(&mut self, request: Request, out: &mut Vec<Action>) {
        match request {
            Request::Start { token } => {
                match self.phase {
                    Phase::Stopped | Phase::Failed => {
                        self.failed_starts = 0;
                        self.memory_recycles = 0;
                        self.queue(out);
                    }
                    Phase::Backoff => {
                        out.push(Action::Disarm(Timer::Backoff));
                        self.queue(out);
                    }
                    _ => {}
                }
                out.push(Action::Complete(token));
            }
            Request::Stop { kill, token } => match &self.phase {
                Phase::Stopped => out.push(Action::Complete(token)),
                Phase::Failed | Phase::Backoff | Phase::Queued => {
                    self.leave_idle_phase(out);
                    self.phase = Phase::Stopped;
                    out.push(Action::SetStatus(Status::Stopped, LastError::Keep));
                    out.push(Action::Complete(token));
                }
                Phase::Ending(after) => {
                    let after = after.clone();
                    self.supersede(after, After::Stop(token), out);
                }
                Phase::Finished => out.push(Action::Complete(token)),
                Phase::Connecting | Phase::Booting | Phase::Up { .. } => {
                    self.end(After::Stop(token), !kill, out)
                }
            },
            Request::Logout { token } => match &self.phase {
                Phase::Stopped | Phase::Failed | Phase::Backoff | Phase::Queued => {
                    out.push(Action::WipeProfile);
                    out.push(Action::Complete(token));
                    self.failed_starts = 0;
                    if self.phase != Phase::Queued {
                        self.leave_idle_phase(out);
                        self.queue(out);
                    }
                }
                Phase::Ending(after) => {
                    let after = after.clone();
                    self.supersede(after, logged_out(token), out);
                }
                Phase::Finished => out.push(Action::Complete(token)),
                Phase::Connecting | Phase::Booting | Phase::Up { .. } => {
                    self.end(logged_out(token), true, out);
                }
            },
            Request::Delete { token } => self.end_for_good(After::Delete(token), out),
            Request::Shutdown { token } => self.end_for_good(After::Shutdown(token), out),
        }
    }

    /// A delete or a shutdown: the session finishes, once its worker (if one runs) is ended.
    fn end_for_good(&mut self, after: After, out: &mut Vec<Action>) {
        match &self.phase {
            Phase::Stopped | Phase::Failed | Phase::Backoff | Phase::Queued => {
                self.leave_idle_phase(out);
                self.finish(after, out);
            }
            Phase::Ending(current) => {
                let current = current.clone();
                self.supersede(current, after, out);
            }
            Phase::Finished => {
                if let Some(token) = token_of(&after) {
                    out.push(Action::Complete(token));
                }
            }
            Phase::Connecting | Phase::Booting | Phase::Up { .. } => self.end(after, true, out),
        }
    }

    /// A request that arrives while the worker is being ended replaces the plan for after,
    /// when it weighs more: delete, then shutdown, then stop, then a restart. The request it
    /// replaces is answered when the new one is.
    fn supersede(&mut self, current: After, new: After, out: &mut Vec<Action>) {
        fn weight(after: &After) -> u8 {
            match after {
                After::Crash(_) | After::Recycle(_) => 0,
                After::Stop(_) => 1,
                After::Shutdown(_) => 2,
                After::Delete(_) => 3,
            }
        }
        let (kept, dropped) = if weight(&new) > weight(&current) {
            (new, current)
        } else {
            (current, new)
        };
        if let Some(token) = token_of(&dropped) {
            out.push(Action::Complete(token));
        }
        self.phase = Phase::Ending(kept);
    }

    fn page(&mut self, event: PageEvent, out: &mut Vec<Action>) {
        if !self.has_worker() {
            return;
        }
        match event {
            PageEvent::Qr => {
                self.got_going(out);
                self.phase = Phase::Up { working: false };
                out.push(Action::SetStatus(Status::ScanQrCode, LastError::Keep));
            }
            PageEvent::Ready => {
                self.got_going(out);
                self.phase = Phase::Up { working: true };
                // Working again clears a past failure, but not the report of a session that
                // keeps outgrowing its memory limit: that one is still true while it works.
                let error = if self.memory_recycles >= MEMORY_RECYCLES_REPORTED {
                    LastError::Keep
                } else {
                    LastError::Clear
                };
                out.push(Action::SetStatus(Status::Working, error));
                self.dispatch(out);
            }
            PageEvent::LoggedOut => {
                out.push(Action::SetStatus(
                    Status::Starting,
                    LastError::Set("logged out from the phone".into()),
                ));
                let unlinked = After::Recycle(Recycle {
                    reason: "the phone unlinked this session".into(),
                    wipe_profile: true,
                    token: None,
                    for_memory: false,
                });
                self.end(unlinked, true, out);
            }
            PageEvent::Fatal(reason) => {
                // The worker is about to exit: let the next browser launch meanwhile.
                self.release_permit(out);
                self.fatal = Some(reason);
            }
        }
    }

    fn timer(&mut self, timer: Timer, out: &mut Vec<Action>) {
        match (timer, &self.phase) {
            (Timer::Backoff, Phase::Backoff) => self.queue(out),
            (Timer::Handshake, Phase::Connecting) => {
                let reason = format!(
                    "the worker did not connect within {} s",
                    self.policy.handshake_timeout.as_secs()
                );
                self.end(After::Crash(reason), false, out);
            }
            (Timer::StartDeadline, Phase::Connecting | Phase::Booting) => {
                let reason = format!(
                    "the page showed neither a QR code nor WhatsApp within {} s (--browser-start-timeout)",
                    self.policy.start_timeout.as_secs()
                );
                self.end(After::Crash(reason), false, out);
            }
            (Timer::RecycleDue, Phase::Up { .. }) => {
                let reason = format!(
                    "it ran {} minutes (--recycle-after)",
                    self.policy.recycle_after.unwrap_or_default().as_secs() / 60
                );
                if self.idle_and_linked() && self.wants_gate.is_none() {
                    self.wants_gate = Some(Wanted::Scheduled(reason));
                    out.push(Action::TryRecycleGate);
                } else {
                    out.push(Action::Arm(Timer::RecycleDue, self.policy.watch_interval));
                }
            }
            _ => {}
        }
    }

    fn memory(&mut self, bytes: u64, out: &mut Vec<Action>) {
        if !self.has_worker() {
            return;
        }
        self.samples = self.samples.saturating_add(1);
        if bytes <= self.policy.max_memory {
            self.samples_over = 0;
            self.samples_under = self.samples_under.saturating_add(1);
            if self.samples_under >= MEMORY_COOLDOWN_MAX_SAMPLES && self.memory_recycles > 0 {
                let reported = self.memory_recycles >= MEMORY_RECYCLES_REPORTED;
                self.memory_recycles = 0;
                if reported && self.phase == (Phase::Up { working: true }) {
                    out.push(Action::SetStatus(Status::Working, LastError::Clear));
                }
            }
            return;
        }
        self.samples_over += 1;
        self.samples_under = 0;
        let cooldown =
            (MEMORY_SAMPLES_OVER << self.memory_recycles.min(16)).min(MEMORY_COOLDOWN_MAX_SAMPLES);
        // Only a linked session is recycled: it comes back linked, while recycling one that
        // shows a QR would change the code under the eyes of the person scanning it.
        if self.samples_over >= MEMORY_SAMPLES_OVER
            && self.samples >= cooldown
            && self.idle_and_linked()
            && self.wants_gate.is_none()
        {
            let reason = format!(
                "its processes use {} MiB, above the limit of {} MiB",
                bytes >> 20,
                self.policy.max_memory >> 20
            );
            self.wants_gate = Some(Wanted::Memory(reason));
            out.push(Action::TryRecycleGate);
        }
    }

    fn recycle_gate(&mut self, granted: bool, out: &mut Vec<Action>) {
        let Some(wanted) = self.wants_gate.take() else {
            if granted {
                out.push(Action::ReleaseRecycleGate);
            }
            return;
        };
        if !granted {
            // Another session is recycling; try again at the next sample or tick.
            if matches!(wanted, Wanted::Scheduled(_)) {
                out.push(Action::Arm(Timer::RecycleDue, self.policy.watch_interval));
            }
            return;
        }
        if !self.idle_and_linked() {
            out.push(Action::ReleaseRecycleGate);
            if matches!(wanted, Wanted::Scheduled(_)) {
                out.push(Action::Arm(Timer::RecycleDue, self.policy.watch_interval));
            }
            return;
        }
        self.holds_gate = true;
        let recycle = match wanted {
            Wanted::Memory(reason) => Recycle {
                reason,
                wipe_profile: false,
                token: None,
                for_memory: true,
            },
            Wanted::Scheduled(reason) => Recycle {
                reason,
                wipe_profile: false,
                token: None,
                for_memory: false,
            },
        };
        self.end(After::Recycle(recycle), true, out);
    }

    /// Messages go out one at a time, only while WORKING.
    fn dispatch(&self, out: &mut Vec<Action>) {
        if self.idle_and_linked() {
            out.push(Action::Dispatch);
        }
    }

    fn idle_and_linked(&self) -> bool {
        self.phase == (Phase::Up { working: true }) && self.in_flight.is_empty()
    }

    /// Into `Queued`, STARTING, asking for a start permit.
    fn queue(&mut self, out: &mut Vec<Action>) {
        self.phase = Phase::Queued;
        out.push(Action::SetStatus(Status::Starting, LastError::Keep));
        out.push(Action::AcquirePermit);
    }

    fn spawn(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Spawn);
        out.push(Action::Arm(Timer::Handshake, self.policy.handshake_timeout));
        self.fresh_worker(Phase::Connecting, out);
    }

    /// A new worker is there (spawned, or a spare taken), in `phase`.
    fn fresh_worker(&mut self, phase: Phase, out: &mut Vec<Action>) {
        self.phase = phase;
        self.got_going = false;
        self.fatal = None;
        self.samples = 0;
        self.samples_over = 0;
        out.push(Action::Arm(Timer::StartDeadline, self.policy.start_timeout));
        if let Some(after) = self.policy.recycle_after {
            out.push(Action::Arm(Timer::RecycleDue, after));
        }
    }

    /// The page shows a QR or the app: the browser is up, the next one may launch, and a
    /// recycle that held the gate for this start is over.
    fn got_going(&mut self, out: &mut Vec<Action>) {
        if !self.got_going {
            self.got_going = true;
            out.push(Action::Disarm(Timer::Handshake));
            out.push(Action::Disarm(Timer::StartDeadline));
        }
        self.release_permit(out);
        self.release_gate(out);
    }

    fn release_permit(&mut self, out: &mut Vec<Action>) {
        if self.holds_permit {
            self.holds_permit = false;
            out.push(Action::ReleasePermit);
        }
    }

    fn release_gate(&mut self, out: &mut Vec<Action>) {
        if self.holds_gate {
            self.holds_gate = false;
            out.push(Action::ReleaseRecycleGate);
        }
    }

    /// Leaving a phase with no worker: its timer or its place in the queue go.
    fn leave_idle_phase(&mut self, out: &mut Vec<Action>) {
        match self.phase {
            Phase::Backoff => out.push(Action::Disarm(Timer::Backoff)),
            Phase::Queued => {
                self.holds_permit = false;
                out.push(Action::ReleasePermit);
            }
            _ => {}
        }
        self.release_gate(out);
    }

    /// Leaving a phase with a worker: its timers go, and its start permit if it still has
    /// one. The recycle gate stays with a recycle until the next worker gets going.
    fn leave_worker_phase(&mut self, out: &mut Vec<Action>) {
        for timer in [Timer::Handshake, Timer::StartDeadline, Timer::RecycleDue] {
            out.push(Action::Disarm(timer));
        }
        self.release_permit(out);
        self.wants_gate = None;
        self.in_flight.clear();
    }

    /// Ends the worker; `after` says what follows once it is gone.
    fn end(&mut self, after: After, graceful: bool, out: &mut Vec<Action>) {
        self.leave_worker_phase(out);
        if !matches!(after, After::Recycle(_)) {
            self.release_gate(out);
        }
        self.phase = Phase::Ending(after);
        out.push(Action::EndWorker { graceful });
    }

    fn finish(&mut self, after: After, out: &mut Vec<Action>) {
        if let After::Delete(_) = after {
            out.push(Action::RemoveSession);
        }
        if let Some(token) = token_of(&after) {
            out.push(Action::Complete(token));
        }
        self.phase = Phase::Finished;
        out.push(Action::Finish);
    }

    fn after_reaped(&mut self, after: After, out: &mut Vec<Action>) {
        match after {
            After::Crash(reason) => {
                out.push(Action::CountRestart);
                self.release_gate(out);
                self.failed_starts = if self.got_going {
                    1
                } else {
                    self.failed_starts + 1
                };
                if self.failed_starts >= MAX_FAILED_STARTS {
                    self.phase = Phase::Failed;
                    out.push(Action::SetStatus(
                        Status::Failed,
                        LastError::Set(format!(
                            "gave up after {} failed starts in a row: {reason}",
                            self.failed_starts
                        )),
                    ));
                } else {
                    self.phase = Phase::Backoff;
                    out.push(Action::SetStatus(Status::Starting, LastError::Set(reason)));
                    out.push(Action::Arm(Timer::Backoff, backoff(self.failed_starts)));
                }
            }
            After::Recycle(recycle) => {
                out.push(Action::CountRestart);
                self.failed_starts = 0;
                if recycle.wipe_profile {
                    out.push(Action::WipeProfile);
                }
                if let Some(token) = recycle.token {
                    out.push(Action::Complete(token));
                }
                let error = if recycle.for_memory {
                    self.memory_recycles += 1;
                    self.samples_under = 0;
                    if self.memory_recycles >= MEMORY_RECYCLES_REPORTED {
                        LastError::Set(format!(
                            "recycled {} times in a row for memory: {}; raise --max-session-memory if this is its normal size",
                            self.memory_recycles, recycle.reason
                        ))
                    } else {
                        LastError::Keep
                    }
                } else {
                    LastError::Keep
                };
                self.phase = Phase::Queued;
                out.push(Action::SetStatus(Status::Starting, error));
                out.push(Action::AcquirePermit);
            }
            After::Stop(token) => {
                self.release_gate(out);
                self.phase = Phase::Stopped;
                out.push(Action::SetStatus(Status::Stopped, LastError::Keep));
                out.push(Action::Complete(token));
            }
            After::Delete(_) | After::Shutdown(_) => {
                self.release_gate(out);
                self.finish(after, out);
            }
        }
    }
}

/// The recycle of a person's logout: the profile wiped, `token` answered once it is.
fn logged_out(token: Token) -> After {
    After::Recycle(Recycle {
        reason: "logged out by request".into(),
        wipe_profile: true,
        token: Some(token),
        for_memory: false,
    })
}

fn token_of(after: &After) -> Option<Token> {
    match after {
        After::Crash(_) => None,
        After::Recycle(r) => r.token,
        After::Stop(t) | After::Delete(t) => Some(*t),
        After::Shutdown(t) => *t,
    }
}

/// The wait before the next start after `failed_starts` failed ones: 1 s, doubling, at most
/// a minute.
pub fn backoff(failed_starts: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1 << failed_starts.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn policy() -> Policy {
        Policy {
            start_timeout: Duration::from_secs(120),
            handshake_timeout: HANDSHAKE_TIMEOUT,
            max_memory: 800 * MIB,
            recycle_after: None,
            watch_interval: Duration::from_secs(10),
        }
    }

    fn running() -> Lifecycle {
        let (mut l, actions) = Lifecycle::new(policy(), Initial::Run);
        assert_eq!(
            actions,
            vec![
                Action::SetStatus(Status::Starting, LastError::Keep),
                Action::AcquirePermit
            ]
        );
        assert!(l.next(Input::PermitGranted).contains(&Action::Spawn));
        l.next(Input::Connected);
        l
    }

    fn working() -> Lifecycle {
        let mut l = running();
        l.next(Input::Page(PageEvent::Ready));
        assert_eq!(l.phase(), &Phase::Up { working: true });
        l
    }

    /// Feeds `input` and, when the lifecycle ends the worker, the group's end.
    fn reaped(l: &mut Lifecycle, input: Input) -> Vec<Action> {
        let mut actions = l.next(input);
        if actions
            .iter()
            .any(|a| matches!(a, Action::EndWorker { .. }))
        {
            actions.extend(l.next(Input::Reaped));
        }
        actions
    }

    fn status_of(actions: &[Action]) -> Option<(Status, LastError)> {
        actions.iter().rev().find_map(|a| match a {
            Action::SetStatus(s, e) => Some((*s, e.clone())),
            _ => None,
        })
    }

    fn crash(l: &mut Lifecycle) -> Vec<Action> {
        reaped(l, Input::Exited("the worker exited (signal: 9)".into()))
    }

    #[test]
    fn a_start_spawns_once_a_permit_is_granted_and_arms_its_bounds() {
        let (mut l, _) = Lifecycle::new(policy(), Initial::Run);
        assert_eq!(l.phase(), &Phase::Queued);
        let actions = l.next(Input::PermitGranted);
        assert_eq!(
            actions,
            vec![
                Action::Spawn,
                Action::Arm(Timer::Handshake, HANDSHAKE_TIMEOUT),
                Action::Arm(Timer::StartDeadline, Duration::from_secs(120)),
            ]
        );
        assert_eq!(
            l.next(Input::Connected),
            vec![Action::Disarm(Timer::Handshake)]
        );
        assert_eq!(l.phase(), &Phase::Booting);
    }

    #[test]
    fn a_taken_spare_stops_the_queueing_and_its_qr_shows_at_once() {
        let (mut l, _) = Lifecycle::new(policy(), Initial::Run);
        let actions = l.next(Input::Adopted);
        assert_eq!(
            actions,
            vec![
                Action::ReleasePermit,
                Action::Arm(Timer::StartDeadline, Duration::from_secs(120)),
            ]
        );
        assert_eq!(l.phase(), &Phase::Booting);
        let actions = l.next(Input::Page(PageEvent::Qr));
        assert_eq!(
            status_of(&actions),
            Some((Status::ScanQrCode, LastError::Keep))
        );
        assert_eq!(l.phase(), &Phase::Up { working: false });
        // A permit granted late goes straight back: the spare's worker is the one.
        assert_eq!(l.next(Input::PermitGranted), vec![Action::ReleasePermit]);
        // Its crash is a crash like any other: the session starts a worker of its own.
        let actions = crash(&mut l);
        assert!(actions.contains(&Action::Arm(Timer::Backoff, BACKOFF_FIRST)));
    }

    #[test]
    fn only_a_queued_session_takes_a_spare() {
        let mut l = running();
        assert_eq!(l.next(Input::Adopted), vec![]);
        assert_eq!(l.phase(), &Phase::Booting);
    }

    #[test]
    fn a_qr_code_frees_the_start_permit_and_shows_scan_qr_code() {
        let mut l = running();
        let actions = l.next(Input::Page(PageEvent::Qr));
        assert!(actions.contains(&Action::ReleasePermit));
        assert!(actions.contains(&Action::Disarm(Timer::StartDeadline)));
        assert_eq!(
            status_of(&actions),
            Some((Status::ScanQrCode, LastError::Keep))
        );
        // A rotation is not a second release.
        assert!(
            !l.next(Input::Page(PageEvent::Qr))
                .contains(&Action::ReleasePermit)
        );
    }

    #[test]
    fn working_clears_the_last_error() {
        let mut l = running();
        crash(&mut l);
        l.next(Input::Timer(Timer::Backoff));
        l.next(Input::PermitGranted);
        l.next(Input::Connected);
        let actions = l.next(Input::Page(PageEvent::Ready));
        assert_eq!(
            status_of(&actions),
            Some((Status::Working, LastError::Clear))
        );
    }

    #[test]
    fn a_crash_waits_out_a_doubling_backoff() {
        let mut l = working();
        let actions = crash(&mut l);
        assert!(actions.contains(&Action::EndWorker { graceful: false }));
        assert!(actions.contains(&Action::CountRestart));
        assert!(actions.contains(&Action::Arm(Timer::Backoff, Duration::from_secs(1))));
        assert_eq!(
            status_of(&actions),
            Some((
                Status::Starting,
                LastError::Set("the worker exited (signal: 9)".into())
            ))
        );
        assert_eq!(l.phase(), &Phase::Backoff);
        assert_eq!(
            l.next(Input::Timer(Timer::Backoff)),
            vec![
                Action::SetStatus(Status::Starting, LastError::Keep),
                Action::AcquirePermit
            ]
        );
        l.next(Input::PermitGranted);
        let actions = crash(&mut l);
        assert!(
            actions.contains(&Action::Arm(Timer::Backoff, Duration::from_secs(2))),
            "a second failed start in a row waits longer: {actions:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_a_ceiling() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }

    #[test]
    fn what_the_worker_said_before_dying_is_the_reason() {
        let mut l = running();
        let actions = l.next(Input::Page(PageEvent::Fatal(
            "chromedriver not found".into(),
        )));
        assert_eq!(actions, vec![Action::ReleasePermit]);
        let actions = crash(&mut l);
        assert_eq!(
            status_of(&actions),
            Some((
                Status::Starting,
                LastError::Set("chromedriver not found".into())
            ))
        );
    }

    #[test]
    fn five_failed_starts_in_a_row_make_it_failed() {
        let mut l = running();
        for n in 1..MAX_FAILED_STARTS {
            let actions = crash(&mut l);
            assert_eq!(l.phase(), &Phase::Backoff, "after {n} failed starts");
            assert!(status_of(&actions).is_some());
            l.next(Input::Timer(Timer::Backoff));
            l.next(Input::PermitGranted);
        }
        let actions = crash(&mut l);
        assert_eq!(l.phase(), &Phase::Failed);
        let Some((Status::Failed, LastError::Set(reason))) = status_of(&actions) else {
            panic!("not FAILED: {actions:?}");
        };
        assert!(
            reason.starts_with("gave up after 5 failed starts in a row"),
            "{reason}"
        );
        // FAILED waits for a person: no timer, no permit.
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::Arm(..) | Action::AcquirePermit))
        );
    }

    #[test]
    fn a_crash_after_getting_going_counts_as_the_first() {
        let mut l = running();
        for _ in 1..MAX_FAILED_STARTS {
            crash(&mut l);
            l.next(Input::Timer(Timer::Backoff));
            l.next(Input::PermitGranted);
        }
        l.next(Input::Page(PageEvent::Qr));
        crash(&mut l);
        assert_eq!(l.phase(), &Phase::Backoff, "a QR on show resets the count");
    }

    #[test]
    fn a_start_that_shows_nothing_in_time_is_a_failed_start() {
        let mut l = running();
        let actions = reaped(&mut l, Input::Timer(Timer::StartDeadline));
        assert!(actions.contains(&Action::EndWorker { graceful: false }));
        assert!(actions.contains(&Action::ReleasePermit), "{actions:?}");
        let Some((Status::Starting, LastError::Set(reason))) = status_of(&actions) else {
            panic!("{actions:?}");
        };
        assert!(reason.contains("--browser-start-timeout"), "{reason}");
        assert_eq!(l.phase(), &Phase::Backoff);
    }

    #[test]
    fn a_worker_that_never_connects_is_a_failed_start() {
        let (mut l, _) = Lifecycle::new(policy(), Initial::Run);
        l.next(Input::PermitGranted);
        let actions = reaped(&mut l, Input::Timer(Timer::Handshake));
        let Some((_, LastError::Set(reason))) = status_of(&actions) else {
            panic!("{actions:?}");
        };
        assert!(reason.contains("did not connect"), "{reason}");
        // A timer of the earlier phase firing late changes nothing.
        assert!(l.next(Input::Timer(Timer::StartDeadline)).is_empty());
    }

    #[test]
    fn a_spawn_that_fails_is_a_failed_start_with_no_worker_to_end() {
        let (mut l, _) = Lifecycle::new(policy(), Initial::Run);
        l.next(Input::PermitGranted);
        let actions = l.next(Input::SpawnFailed("no such file".into()));
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::EndWorker { .. }))
        );
        assert!(actions.contains(&Action::ReleasePermit));
        assert_eq!(l.phase(), &Phase::Backoff);
    }

    #[test]
    fn messages_go_out_one_at_a_time_only_when_working() {
        let mut l = running();
        assert!(l.next(Input::Outbox).is_empty(), "not linked yet");
        l.next(Input::Page(PageEvent::Qr));
        assert!(l.next(Input::Outbox).is_empty(), "showing a QR");
        let actions = l.next(Input::Page(PageEvent::Ready));
        assert_eq!(
            actions.last(),
            Some(&Action::Dispatch),
            "WORKING sends what waits"
        );
        l.next(Input::Dispatched(9));
        assert!(l.next(Input::Outbox).is_empty(), "one at a time");
        assert_eq!(
            l.next(Input::SendSettled(9)),
            vec![Action::Dispatch],
            "then the next"
        );
        let (mut stopped, _) = Lifecycle::new(policy(), Initial::Stopped);
        assert!(stopped.next(Input::Outbox).is_empty());
    }

    #[test]
    fn a_message_in_flight_when_the_worker_dies_is_not_counted_as_in_flight_after() {
        let mut l = working();
        l.next(Input::Dispatched(1));
        crash(&mut l);
        l.next(Input::Timer(Timer::Backoff));
        l.next(Input::PermitGranted);
        l.next(Input::Connected);
        let actions = l.next(Input::Page(PageEvent::Ready));
        assert_eq!(
            actions.last(),
            Some(&Action::Dispatch),
            "the next worker resumes it"
        );
    }

    #[test]
    fn memory_over_the_limit_twice_recycles_through_the_gate() {
        let mut l = working();
        assert!(
            l.next(Input::Memory(900 * MIB)).is_empty(),
            "one spike is not enough"
        );
        assert_eq!(
            l.next(Input::Memory(900 * MIB)),
            vec![Action::TryRecycleGate]
        );
        let actions = reaped(&mut l, Input::RecycleGate(true));
        assert!(actions.contains(&Action::EndWorker { graceful: true }));
        assert!(actions.contains(&Action::CountRestart));
        assert!(
            !actions.contains(&Action::ReleaseRecycleGate),
            "held until the next start gets going"
        );
        assert!(actions.contains(&Action::AcquirePermit));
        assert_eq!(l.phase(), &Phase::Queued);
        l.next(Input::PermitGranted);
        l.next(Input::Connected);
        let actions = l.next(Input::Page(PageEvent::Ready));
        assert!(actions.contains(&Action::ReleaseRecycleGate));
    }

    #[test]
    fn memory_recycles_wait_for_the_gate() {
        let mut l = working();
        l.next(Input::Memory(900 * MIB));
        l.next(Input::Memory(900 * MIB));
        assert!(l.next(Input::RecycleGate(false)).is_empty());
        assert_eq!(l.phase(), &Phase::Up { working: true });
        assert_eq!(
            l.next(Input::Memory(900 * MIB)),
            vec![Action::TryRecycleGate]
        );
    }

    #[test]
    fn memory_recycles_back_off_and_are_reported_when_repeated() {
        let mut l = working();
        let mut samples_needed = Vec::new();
        for _ in 0..MEMORY_RECYCLES_REPORTED {
            let mut n = 0;
            loop {
                n += 1;
                if l.next(Input::Memory(900 * MIB)) == vec![Action::TryRecycleGate] {
                    break;
                }
                assert!(n < 100);
            }
            samples_needed.push(n);
            let actions = reaped(&mut l, Input::RecycleGate(true));
            l.next(Input::PermitGranted);
            l.next(Input::Connected);
            l.next(Input::Page(PageEvent::Ready));
            if samples_needed.len() as u32 == MEMORY_RECYCLES_REPORTED {
                let Some((_, LastError::Set(reason))) = status_of(&actions) else {
                    panic!("repeated memory recycles must be reported: {actions:?}");
                };
                assert!(reason.contains("for memory"), "{reason}");
                assert!(reason.contains("900 MiB"), "{reason}");
            } else {
                assert_eq!(
                    status_of(&actions),
                    Some((Status::Starting, LastError::Keep))
                );
            }
        }
        assert_eq!(
            samples_needed,
            vec![2, 4, 8],
            "each memory recycle waits longer"
        );
        assert_eq!(
            status_of(&l.next(Input::Page(PageEvent::Ready))),
            Some((Status::Working, LastError::Keep)),
            "the report stays while it works"
        );
        let mut cleared = Vec::new();
        for _ in 0..MEMORY_COOLDOWN_MAX_SAMPLES {
            cleared.extend(l.next(Input::Memory(100 * MIB)));
        }
        assert_eq!(
            cleared,
            vec![Action::SetStatus(Status::Working, LastError::Clear)],
            "a long run under the limit forgives"
        );
    }

    #[test]
    fn nothing_is_recycled_mid_send_or_unlinked() {
        let mut l = working();
        l.next(Input::Dispatched(1));
        l.next(Input::Memory(900 * MIB));
        assert!(l.next(Input::Memory(900 * MIB)).is_empty(), "mid-send");
        l.next(Input::SendSettled(1));
        assert_eq!(
            l.next(Input::Memory(900 * MIB)),
            vec![Action::TryRecycleGate]
        );

        let mut qr = running();
        qr.next(Input::Page(PageEvent::Qr));
        for _ in 0..5 {
            assert!(qr.next(Input::Memory(900 * MIB)).is_empty(), "showing a QR");
        }
    }

    #[test]
    fn a_send_that_starts_while_the_gate_is_asked_cancels_the_recycle() {
        let mut l = working();
        l.next(Input::Memory(900 * MIB));
        l.next(Input::Memory(900 * MIB));
        l.next(Input::Dispatched(3));
        assert_eq!(
            l.next(Input::RecycleGate(true)),
            vec![Action::ReleaseRecycleGate]
        );
        assert_eq!(l.phase(), &Phase::Up { working: true });
    }

    #[test]
    fn a_scheduled_recycle_waits_until_idle_and_linked() {
        let mut p = policy();
        p.recycle_after = Some(Duration::from_secs(3600));
        let (mut l, _) = Lifecycle::new(p, Initial::Run);
        let actions = l.next(Input::PermitGranted);
        assert!(actions.contains(&Action::Arm(Timer::RecycleDue, Duration::from_secs(3600))));
        l.next(Input::Connected);
        l.next(Input::Page(PageEvent::Qr));
        assert_eq!(
            l.next(Input::Timer(Timer::RecycleDue)),
            vec![Action::Arm(Timer::RecycleDue, Duration::from_secs(10))],
            "not while a QR is on show"
        );
        l.next(Input::Page(PageEvent::Ready));
        assert_eq!(
            l.next(Input::Timer(Timer::RecycleDue)),
            vec![Action::TryRecycleGate]
        );
        assert_eq!(
            l.next(Input::RecycleGate(false)),
            vec![Action::Arm(Timer::RecycleDue, Duration::from_secs(10))]
        );
        l.next(Input::Timer(Timer::RecycleDue));
        let actions = reaped(&mut l, Input::RecycleGate(true));
        assert!(actions.contains(&Action::EndWorker { graceful: true }));
        assert_eq!(l.phase(), &Phase::Queued);
    }

    #[test]
    fn stop_ends_the_worker_and_answers_once_it_is_gone() {
        let mut l = working();
        let actions = l.next(Input::Request(Request::Stop {
            kill: false,
            token: 4,
        }));
        assert!(actions.contains(&Action::EndWorker { graceful: true }));
        assert!(!actions.contains(&Action::Complete(4)));
        let actions = l.next(Input::Reaped);
        assert_eq!(
            actions,
            vec![
                Action::SetStatus(Status::Stopped, LastError::Keep),
                Action::Complete(4)
            ]
        );
        assert_eq!(l.phase(), &Phase::Stopped);
        // Nothing restarts it but a person.
        assert!(l.next(Input::Timer(Timer::Backoff)).is_empty());
        assert!(l.next(Input::Exited("late".into())).is_empty());
    }

    #[test]
    fn kill_ends_the_group_at_once() {
        let mut l = working();
        let actions = l.next(Input::Request(Request::Stop {
            kill: true,
            token: 1,
        }));
        assert!(actions.contains(&Action::EndWorker { graceful: false }));
    }

    #[test]
    fn stop_during_backoff_or_in_the_queue_needs_no_worker() {
        let mut l = running();
        crash(&mut l);
        let actions = l.next(Input::Request(Request::Stop {
            kill: false,
            token: 2,
        }));
        assert!(actions.contains(&Action::Disarm(Timer::Backoff)));
        assert!(actions.contains(&Action::Complete(2)));
        assert_eq!(l.phase(), &Phase::Stopped);

        let (mut queued, _) = Lifecycle::new(policy(), Initial::Run);
        let actions = queued.next(Input::Request(Request::Stop {
            kill: false,
            token: 3,
        }));
        assert!(actions.contains(&Action::ReleasePermit), "leaves the queue");
        assert_eq!(queued.phase(), &Phase::Stopped);
        assert_eq!(
            queued.next(Input::PermitGranted),
            vec![Action::ReleasePermit],
            "a permit that arrives late goes back"
        );
    }

    #[test]
    fn a_failed_session_that_a_person_stops_is_stopped() {
        let (mut l, _) = Lifecycle::new(policy(), Initial::Failed);
        let actions = l.next(Input::Request(Request::Stop {
            kill: false,
            token: 1,
        }));
        assert_eq!(
            actions,
            vec![
                Action::SetStatus(Status::Stopped, LastError::Keep),
                Action::Complete(1)
            ]
        );
        assert_eq!(l.phase(), &Phase::Stopped);
    }

    #[test]
    fn a_person_starts_a_failed_or_stopped_session_afresh() {
        for initial in [Initial::Failed, Initial::Stopped] {
            let (mut l, actions) = Lifecycle::new(policy(), initial);
            assert!(actions.is_empty(), "{initial:?} waits for a person");
            assert_eq!(
                l.next(Input::Request(Request::Start { token: 1 })),
                vec![
                    Action::SetStatus(Status::Starting, LastError::Keep),
                    Action::AcquirePermit,
                    Action::Complete(1)
                ]
            );
            l.next(Input::PermitGranted);
            for _ in 1..MAX_FAILED_STARTS {
                crash(&mut l);
                assert_eq!(l.phase(), &Phase::Backoff, "the count starts again");
                l.next(Input::Timer(Timer::Backoff));
                l.next(Input::PermitGranted);
            }
        }
    }

    #[test]
    fn start_during_backoff_starts_at_once_and_is_ignored_when_running() {
        let mut l = running();
        crash(&mut l);
        let actions = l.next(Input::Request(Request::Start { token: 1 }));
        assert!(actions.contains(&Action::Disarm(Timer::Backoff)));
        assert!(actions.contains(&Action::AcquirePermit));
        let mut up = working();
        assert_eq!(
            up.next(Input::Request(Request::Start { token: 2 })),
            vec![Action::Complete(2)],
            "answered, nothing else"
        );
    }

    #[test]
    fn logout_wipes_the_profile_and_starts_again() {
        let mut l = working();
        let actions = reaped(&mut l, Input::Request(Request::Logout { token: 5 }));
        let wipe = actions
            .iter()
            .position(|a| a == &Action::WipeProfile)
            .unwrap();
        let done = actions
            .iter()
            .position(|a| a == &Action::Complete(5))
            .unwrap();
        assert!(wipe < done, "answered once the profile is gone");
        assert!(actions.contains(&Action::AcquirePermit));
        assert_eq!(l.phase(), &Phase::Queued);

        let (mut stopped, _) = Lifecycle::new(policy(), Initial::Stopped);
        let actions = stopped.next(Input::Request(Request::Logout { token: 6 }));
        assert_eq!(&actions[..2], &[Action::WipeProfile, Action::Complete(6)]);
        assert!(actions.contains(&Action::AcquirePermit));
    }

    #[test]
    fn the_phone_unlinking_wipes_the_profile_for_a_new_qr() {
        let mut l = working();
        let actions = reaped(&mut l, Input::Page(PageEvent::LoggedOut));
        assert!(actions.contains(&Action::EndWorker { graceful: true }));
        assert!(actions.contains(&Action::WipeProfile));
        assert!(actions.contains(&Action::SetStatus(
            Status::Starting,
            LastError::Set("logged out from the phone".into())
        )));
        assert_eq!(l.phase(), &Phase::Queued);
    }

    #[test]
    fn delete_removes_the_session_and_ends_the_task() {
        let mut l = working();
        let actions = reaped(&mut l, Input::Request(Request::Delete { token: 9 }));
        assert!(actions.contains(&Action::EndWorker { graceful: true }));
        let tail = &actions[actions.len() - 3..];
        assert_eq!(
            tail,
            &[Action::RemoveSession, Action::Complete(9), Action::Finish]
        );
        let (mut failed, _) = Lifecycle::new(policy(), Initial::Failed);
        assert_eq!(
            failed.next(Input::Request(Request::Delete { token: 1 })),
            vec![Action::RemoveSession, Action::Complete(1), Action::Finish]
        );
    }

    #[test]
    fn shutdown_stops_the_worker_cleanly_and_keeps_the_session() {
        let mut l = working();
        let actions = reaped(&mut l, Input::Request(Request::Shutdown { token: Some(2) }));
        assert!(actions.contains(&Action::EndWorker { graceful: true }));
        assert!(!actions.contains(&Action::RemoveSession));
        assert!(!actions.iter().any(|a| matches!(a, Action::SetStatus(..))));
        assert_eq!(
            &actions[actions.len() - 2..],
            &[Action::Complete(2), Action::Finish]
        );

        let (mut idle, _) = Lifecycle::new(policy(), Initial::Stopped);
        assert_eq!(
            idle.next(Input::Request(Request::Shutdown { token: None })),
            vec![Action::Finish]
        );
    }

    #[test]
    fn a_request_while_ending_weighs_against_the_plan() {
        let mut l = working();
        l.next(Input::Exited("crashed".into()));
        // A stop while the crashed group is being ended: no restart after.
        assert!(
            l.next(Input::Request(Request::Stop {
                kill: false,
                token: 1
            }))
            .is_empty()
        );
        // A delete outweighs the stop, which is answered with it.
        assert_eq!(
            l.next(Input::Request(Request::Delete { token: 2 })),
            vec![Action::Complete(1)]
        );
        assert_eq!(
            l.next(Input::Reaped),
            vec![Action::RemoveSession, Action::Complete(2), Action::Finish]
        );
    }

    #[test]
    fn a_recycle_gives_the_gate_back_if_it_is_stopped_instead() {
        let mut l = working();
        l.next(Input::Memory(900 * MIB));
        l.next(Input::Memory(900 * MIB));
        l.next(Input::RecycleGate(true));
        l.next(Input::Request(Request::Stop {
            kill: false,
            token: 1,
        }));
        let actions = l.next(Input::Reaped);
        assert!(actions.contains(&Action::ReleaseRecycleGate), "{actions:?}");
        assert_eq!(l.phase(), &Phase::Stopped);
    }
}
