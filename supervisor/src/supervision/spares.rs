//! Warm spares (`--warm-spares N`): browsers started ahead of need on fresh profiles, each
//! showing the landing page's QR, so that a new session takes one and has its QR at once.
//!
//! 1. Each of the N slots runs a task. It waits for a start permit as a session does, spawns a
//!    worker named `spare.HEX` on the profile `sessions/spare.HEX/profile`, and waits for its
//!    first QR within the bounds a session's start has. The permit goes back and the spare is
//!    offered.
//! 2. `POST /api/sessions` takes an offered spare ([`Spares::take`]) under the registry's lock;
//!    the session is stored with the spare's folder as its profile's before the answer, and its
//!    task receives the running worker with the QR on show ([`Claim`]).
//! 3. The slot then starts a new spare. A spare whose worker dies is ended, its folder
//!    removed, and the slot starts another after a backoff. A spare a session claimed is
//!    always handed over, dead or alive: its folder is the session's from the moment it is
//!    stored, and only the session removes it.
//! 4. At shutdown every spare is ended and its folder removed; at daemon start, the folders of
//!    spares no stored session took are removed (the sweep ended their processes before).
//!
//! Spares count against neither `--max-sessions` nor the session list. A session with an
//! upstream proxy never takes one: a spare's browser reached the web without it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wamux_proto::WorkerEvent;

use crate::daemon::metrics::StartPhase;
use crate::supervision::context::Context;
use crate::supervision::lifecycle::HANDSHAKE_TIMEOUT;
use crate::supervision::worker::{Worker, describe, wipe};

const PREFIX: &str = "spare.";
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Whether `name` is a spare's (its worker's and its folder's): never a valid session id, so
/// a spare's folder cannot be a session's by accident.
pub fn is_spare_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn new_name() -> String {
    format!("{PREFIX}{:016x}", rand::random::<u64>())
}

/// How long a slot waits before its next spare after `failures` failed ones in a row.
fn backoff(failures: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(BACKOFF_MAX)
}

/// What a session takes from a spare.
pub struct Adopted {
    pub worker: Worker,
    /// The QR on show when it was handed over.
    pub qr: Option<String>,
    pub chromedriver_pid: Option<u32>,
    pub browser_pid: Option<u32>,
    /// Keeps the worker among the spares' until the session has recorded it as its own, so
    /// that the sweep and the egress never find it owned by nobody: drop it after that.
    pub owned_until_recorded: Listed,
}

/// A spare's worker still listed among the spares' ([`Spares::worker_pids`]); dropping it
/// takes the worker off the list.
pub struct Listed {
    running: Arc<Mutex<HashMap<String, u32>>>,
    name: String,
}

impl Drop for Listed {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.name);
    }
}

/// A spare taken by a session: its folder, and the worker to come.
pub struct Claim {
    pub dir: String,
    pub answer: oneshot::Receiver<Adopted>,
}

struct Offered {
    name: String,
    claim: oneshot::Sender<oneshot::Sender<Adopted>>,
}

/// What a spare reported before it was taken.
#[derive(Default)]
struct Shown {
    qr: Option<String>,
    chromedriver_pid: Option<u32>,
    browser_pid: Option<u32>,
}

enum Outcome {
    /// Taken, or ended for a reason that is not a failure: the slot goes on at once.
    Done,
    Failed,
    Stopped,
}

pub struct Spares {
    ctx: Arc<Context>,
    offered: Mutex<VecDeque<Offered>>,
    /// The worker pid of each spare not yet taken (or taken but not yet recorded), by name.
    running: Arc<Mutex<HashMap<String, u32>>>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Spares {
    pub fn new(ctx: Arc<Context>) -> Spares {
        Spares {
            ctx,
            offered: Mutex::default(),
            running: Arc::default(),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Starts the `--warm-spares` slots.
    pub fn warm(self: &Arc<Self>) {
        for _ in 0..self.ctx.config.warm_spares {
            let spares = self.clone();
            self.tasks.spawn(async move { spares.slot().await });
        }
    }

    /// Takes a ready spare, if one is offered; its worker comes through the claim's answer.
    pub fn take(&self) -> Option<Claim> {
        let mut offered = lock(&self.offered);
        while let Some(spare) = offered.pop_front() {
            let (reply, answer) = oneshot::channel();
            // A spare that ended meanwhile no longer listens: the next one then.
            if spare.claim.send(reply).is_ok() {
                return Some(Claim {
                    dir: spare.name,
                    answer,
                });
            }
        }
        None
    }

    /// How many spares are offered now.
    pub fn ready(&self) -> usize {
        lock(&self.offered).len()
    }

    /// The worker pid of each spare not yet taken, by name (which is also its folder's).
    pub fn worker_pids(&self) -> HashMap<String, u32> {
        lock(&self.running).clone()
    }

    /// The worker pid of the spare `name`, while it is one.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        lock(&self.running).get(name).copied()
    }

    /// Ends every spare and removes its folder; returns once none runs.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Removes the folders under `sessions/` of spares that none of `kept` (the stored
    /// sessions' profile folders) took: what a daemon that died left.
    pub fn remove_leftovers(&self, kept: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(self.ctx.data.sessions()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_spare_name(&name) && !kept.contains(&name) {
                tracing::info!(spare = %name, "removing a warm spare left by an earlier run");
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::error!(error = %e, spare = %name, "could not remove a spare's folder");
                }
            }
        }
    }

    async fn slot(&self) {
        let mut failures = 0;
        loop {
            if failures > 0 {
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff(failures)) => {}
                }
            }
            let permit = tokio::select! {
                _ = self.stop.cancelled() => return,
                permit = self.ctx.start_gate.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let name = new_name();
            let span = tracing::info_span!("spare", spare = %name);
            match self.run(&name, permit).instrument(span).await {
                Outcome::Done => failures = 0,
                Outcome::Failed => failures += 1,
                Outcome::Stopped => return,
            }
        }
    }

    /// One spare, from its spawn until it is taken or ends.
    async fn run(&self, name: &str, permit: OwnedSemaphorePermit) -> Outcome {
        let ctx = &self.ctx;
        let mut worker = match Worker::spawn(ctx, name, name) {
            Ok(worker) => worker,
            Err(reason) => {
                tracing::warn!(%reason, "a warm spare could not start");
                wipe(&ctx.data.session(name)).await;
                return Outcome::Failed;
            }
        };
        lock(&self.running).insert(name.to_owned(), worker.pid);
        let mut shown = Shown::default();
        let deadline = Instant::now() + ctx.config.browser_start_timeout;
        let started = tokio::select! {
            _ = self.stop.cancelled() => Err(None),
            started = tokio::time::timeout_at(deadline, self.until_qr(&mut worker, &mut shown)) => {
                started.unwrap_or_else(|_| Err(Some("no QR code within the start timeout".into())))
            }
        };
        drop(permit);
        if let Err(reason) = started {
            let stopped = reason.is_none();
            if let Some(reason) = reason {
                tracing::warn!(%reason, "a warm spare failed to start");
            }
            self.discard(worker, name).await;
            return if stopped {
                Outcome::Stopped
            } else {
                Outcome::Failed
            };
        }
        let (claim, mut claimed) = oneshot::channel();
        lock(&self.offered).push_back(Offered {
            name: name.to_owned(),
            claim,
        });
        tracing::info!("warm spare ready");
        let ended = loop {
            tokio::select! {
                claim = &mut claimed => {
                    let Ok(reply) = claim else { break None };
                    return self.hand_over(worker, name, shown, reply).await;
                }
                _ = self.stop.cancelled() => break None,
                event = worker.next_event() => match event {
                    Ok(event) => {
                        if let Some(reason) = note(&mut worker, ctx, &mut shown, event) {
                            break Some(reason);
                        }
                    }
                    Err(reason) => break Some(reason),
                },
            }
        };
        // Taken off the offer first, then a claim that came in meanwhile still gets the worker.
        lock(&self.offered).retain(|o| o.name != name);
        claimed.close();
        if let Ok(reply) = claimed.try_recv() {
            return self.hand_over(worker, name, shown, reply).await;
        }
        if let Some(reason) = &ended {
            tracing::warn!(%reason, "a warm spare ended");
        }
        self.discard(worker, name).await;
        if ended.is_some() {
            Outcome::Failed
        } else {
            Outcome::Stopped
        }
    }

    /// Reads the starting spare's frames until its page shows a QR; `Err(reason)` when it
    /// cannot get there.
    async fn until_qr(&self, worker: &mut Worker, shown: &mut Shown) -> Result<(), Option<String>> {
        let ctx = &self.ctx;
        let admission = worker.admission.take().ok_or(None)?;
        let stream = tokio::select! {
            stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, admission) => match stream {
                Ok(Ok(stream)) => stream,
                _ => return Err(Some("the worker did not connect".into())),
            },
            status = worker.child.wait() => {
                worker.exited = true;
                return Err(Some(format!("the worker exited ({})", describe(status))));
            }
        };
        worker.admitted(stream);
        worker.reached(ctx, StartPhase::Connected);
        loop {
            let event = worker.next_event().await.map_err(Some)?;
            if let Some(reason) = note(worker, ctx, shown, event) {
                return Err(Some(reason));
            }
            if shown.qr.is_some() {
                return Ok(());
            }
        }
    }

    /// Gives the spare to the session that claimed it. When nobody takes it after all (the
    /// create failed: its id was taken), it is ended, and its folder removed unless a stored
    /// session names it.
    async fn hand_over(
        &self,
        worker: Worker,
        name: &str,
        shown: Shown,
        reply: oneshot::Sender<Adopted>,
    ) -> Outcome {
        let adopted = Adopted {
            worker,
            qr: shown.qr,
            chromedriver_pid: shown.chromedriver_pid,
            browser_pid: shown.browser_pid,
            owned_until_recorded: Listed {
                running: self.running.clone(),
                name: name.to_owned(),
            },
        };
        let Err(adopted) = reply.send(adopted) else {
            tracing::info!("warm spare taken by a session");
            return Outcome::Done;
        };
        adopted.worker.end(&self.ctx, false).await;
        drop(adopted.owned_until_recorded);
        match self.ctx.store.all() {
            Ok(stored)
                if !stored
                    .iter()
                    .any(|s| s.profile_dir.as_deref() == Some(name)) =>
            {
                wipe(&self.ctx.data.session(name)).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot tell whether a session took this spare; its folder stays");
            }
        }
        Outcome::Done
    }

    /// Ends a spare that nobody took and removes its folder.
    async fn discard(&self, worker: Worker, name: &str) {
        worker.end(&self.ctx, false).await;
        lock(&self.running).remove(name);
        wipe(&self.ctx.data.session(name)).await;
    }
}

/// Records what a spare's worker reported; `Some(reason)` when the spare cannot be used.
fn note(
    worker: &mut Worker,
    ctx: &Context,
    shown: &mut Shown,
    event: WorkerEvent,
) -> Option<String> {
    match event {
        WorkerEvent::StartStep(step) => worker.reached(ctx, step.into()),
        WorkerEvent::BrowserStarted {
            chromedriver_pid,
            browser_pid,
        } => {
            worker.browser_started(ctx, chromedriver_pid, browser_pid);
            shown.chromedriver_pid = Some(chromedriver_pid);
            shown.browser_pid = browser_pid;
        }
        WorkerEvent::Qr { payload } => {
            worker.reached(ctx, StartPhase::FirstQr);
            shown.qr = Some(payload);
        }
        WorkerEvent::QrExpired => shown.qr = None,
        WorkerEvent::Fatal { reason } => return Some(reason),
        // A fresh profile that shows the app is no spare to hand out.
        WorkerEvent::Ready { .. } => return Some("its fresh profile is linked".into()),
        WorkerEvent::LoggedOut => return Some("its page reported a logout".into()),
        _ => {}
    }
    None
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_names_are_never_session_ids() {
        let name = new_name();
        assert!(is_spare_name(&name));
        assert!(!crate::sessions::session::valid_session_id(&name));
        assert!(!is_spare_name("spare.zz"));
        assert!(!is_spare_name("spare-0123456789abcdef"));
    }

    #[test]
    fn a_failing_slot_backs_off_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(30), BACKOFF_MAX);
    }
}
