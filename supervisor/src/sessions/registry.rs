//! The sessions the daemon runs: creating, finding, listing, starting and ending them.
//!
//! The table in memory and the store on disk change together under one lock, so a session
//! exists in both or in neither, and the session limit holds under concurrent creates. Each
//! session has a task (`supervision::driver`) that owns its worker; the registry talks to it
//! only through the session's control channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::egress::upstream::ProxyUrl;
use crate::sessions::events::EventKind;
use crate::sessions::session::{Control, Session, SessionState, Status, now_ms};
use crate::store::{Desired, StoreError, StoredSession};
use crate::supervision::context::Context;
use crate::supervision::driver::run_session;
use crate::supervision::lifecycle::Initial;
use crate::supervision::spares::{Claim, Spares};

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("session {0:?} already exists")]
    Exists(String),
    #[error("the limit of {0} sessions is reached")]
    Limit(usize),
    #[error("session {0:?} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the session's task has ended")]
    Gone,
}

pub struct Registry {
    ctx: Arc<Context>,
    spares: Arc<Spares>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Counts sessions added and removed (see [`Registry::revision`]).
    membership: std::sync::atomic::AtomicU64,
    tasks: TaskTracker,
}

/// What the list of sessions looked like: equal revisions, equal lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    membership: u64,
    /// The sum of the sessions' own revisions, each of which only grows.
    states: u64,
}

/// A stored proxy URL as the API shows it.
fn masked_proxy(url: Option<&str>) -> Option<String> {
    url.and_then(|u| ProxyUrl::parse(u).ok())
        .map(|p| p.masked())
}

/// How a stored session comes back at start: FAILED and STOPPED ones wait for a person.
fn initial(stored: &StoredSession) -> Initial {
    if stored.desired == Desired::Stopped {
        Initial::Stopped
    } else if Status::parse(&stored.status) == Some(Status::Failed) {
        Initial::Failed
    } else {
        Initial::Run
    }
}

impl Registry {
    pub fn new(ctx: Arc<Context>) -> Registry {
        Registry {
            spares: Arc::new(Spares::new(ctx.clone())),
            ctx,
            sessions: Mutex::new(HashMap::new()),
            membership: std::sync::atomic::AtomicU64::new(0),
            tasks: TaskTracker::new(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads every stored session and starts those a person left running; returns how many.
    pub fn restore(&self) -> Result<usize, RegistryError> {
        let stored = self.ctx.store.all()?;
        let mut table = self.table();
        let mut started = 0;
        for s in stored {
            let initial = initial(&s);
            let status = match initial {
                Initial::Run => {
                    started += 1;
                    Status::parse(&s.status).unwrap_or(Status::Starting)
                }
                Initial::Stopped => Status::Stopped,
                Initial::Failed => Status::Failed,
            };
            let mut state = SessionState::new(status, s.phone_number);
            state.restarts = s.restarts;
            state.last_error = s.last_error;
            state.proxy = masked_proxy(self.ctx.store.proxy(&s.id)?.as_deref());
            let dir = s.profile_dir.clone();
            self.launch(&mut table, s.id, dir, s.created_at, state, initial, None);
        }
        let kept = table.values().map(|s| s.dir.clone()).collect();
        drop(table);
        self.spares.remove_leftovers(&kept);
        Ok(started)
    }

    /// Starts the `--warm-spares` browsers; call after [`Registry::restore`], so that the
    /// sessions people left running are first at the start gate.
    pub fn warm_spares(&self) {
        self.spares.warm();
    }

    /// How many warm spares there should be (`--warm-spares`).
    pub fn spares_wanted(&self) -> usize {
        self.ctx.config.warm_spares
    }

    /// How many warm spares are ready to be taken.
    pub fn spares_ready(&self) -> usize {
        self.spares.ready()
    }

    /// Creates a session; all its traffic goes through `proxy`, an upstream proxy URL the
    /// caller has validated, when given.
    pub fn create(&self, id: String, proxy: Option<String>) -> Result<Arc<Session>, RegistryError> {
        let mut table = self.table();
        if table.contains_key(&id) {
            return Err(RegistryError::Exists(id));
        }
        let max = self.ctx.config.max_sessions;
        if table.len() >= max {
            return Err(RegistryError::Limit(max));
        }
        let created_at = now_ms();
        let status = Status::Starting.as_str();
        // Stored with the spare's folder before the answer: from here on that profile is the
        // session's, whatever happens to the spare.
        let spare = proxy.is_none().then(|| self.spares.take()).flatten();
        let dir = spare.as_ref().map(|s| s.dir.clone());
        let inserted = self.ctx.store.insert_with(
            &id,
            created_at,
            status,
            proxy.as_deref(),
            dir.as_deref(),
        )?;
        if !inserted {
            return Err(RegistryError::Exists(id));
        }
        tracing::info!(session = %id, spare = dir.as_deref(), "session created");
        self.ctx.events.publish(&id, EventKind::Created);
        // A new session is STARTING from the first moment; announce it as its first status.
        self.ctx.events.publish(
            &id,
            EventKind::Status {
                status: Status::Starting,
                last_error: None,
                phone_number: None,
            },
        );
        let mut state = SessionState::new(Status::Starting, None);
        state.proxy = masked_proxy(proxy.as_deref());
        Ok(self.launch(&mut table, id, dir, created_at, state, Initial::Run, spare))
    }

    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        table: &mut HashMap<String, Arc<Session>>,
        id: String,
        dir: Option<String>,
        created_at: i64,
        state: SessionState,
        initial: Initial,
        spare: Option<Claim>,
    ) -> Arc<Session> {
        let (session, control) = Session::new(id.clone(), dir, created_at, state);
        let session = Arc::new(session);
        table.insert(id.clone(), session.clone());
        self.membership
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        let span = tracing::info_span!("session", session = %id);
        self.tasks.spawn(
            run_session(self.ctx.clone(), session.clone(), control, initial, spare)
                .instrument(span),
        );
        session
    }

    pub fn get(&self, id: &str) -> Result<Arc<Session>, RegistryError> {
        self.table()
            .get(id)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(id.to_owned()))
    }

    /// Where the list of sessions and their states stand: read before building something
    /// from [`Registry::list`], and it tells whether that is still what the list shows.
    pub fn revision(&self) -> Revision {
        let table = self.table();
        Revision {
            membership: self.membership.load(std::sync::atomic::Ordering::Acquire),
            states: table.values().map(|s| s.revision()).sum(),
        }
    }

    /// Every session, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut all: Vec<_> = self.table().values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Each live worker's pid, which is also its process group, by the folder under
    /// `sessions/` its profile is in: the sessions' and the warm spares'.
    pub fn worker_pids(&self) -> HashMap<String, u32> {
        let mut pids = self.spares.worker_pids();
        pids.extend(
            self.table()
                .values()
                .filter_map(|s| Some((s.dir.clone(), s.state().worker_pid?))),
        );
        pids
    }

    /// Who a worker connecting as `name` is: the session it works for (`None` for a warm
    /// spare), and the pid the worker of that name has now. A spare's worker keeps its name
    /// when a session takes it, and the session keeps the spare's folder.
    pub fn worker_named(&self, name: &str) -> Option<(Option<String>, u32)> {
        if let Some(pid) = self.spares.pid_of(name) {
            return Some((None, pid));
        }
        let table = self.table();
        let session = table
            .get(name)
            .or_else(|| table.values().find(|s| s.dir == name))?;
        Some((Some(session.id.clone()), session.state().worker_pid?))
    }

    /// How many sessions there may be.
    pub fn max_sessions(&self) -> usize {
        self.ctx.config.max_sessions
    }

    async fn ask<T>(
        &self,
        id: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> Control,
    ) -> Result<T, RegistryError> {
        let session = self.get(id)?;
        let (tx, rx) = oneshot::channel();
        if !session.control(make(tx)) {
            return Err(RegistryError::Gone);
        }
        rx.await.map_err(|_| RegistryError::Gone)
    }

    /// Ends the worker and its whole browser tree, removes the profile and forgets the
    /// session; returns once all of that is done.
    pub async fn delete(&self, id: &str) -> Result<(), RegistryError> {
        self.ask(id, |reply| Control::Delete { reply }).await?;
        self.table().remove(id);
        self.membership
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        self.ctx.store.unassign_session(id)?;
        tracing::info!(session = %id, "session deleted");
        self.ctx.events.publish(id, EventKind::Deleted);
        Ok(())
    }

    /// Starts a stopped or failed session; a running one is left alone. Returns once the
    /// session says STARTING, so that a status read right after sees it.
    pub async fn start(&self, id: &str) -> Result<(), RegistryError> {
        self.ctx.store.set_desired(id, Desired::Running)?;
        self.ask(id, |reply| Control::Start { reply }).await
    }

    /// Stops the worker cleanly and starts a new one.
    pub async fn restart(&self, id: &str) -> Result<(), RegistryError> {
        self.ask(id, |reply| Control::Stop { kill: false, reply })
            .await?;
        self.start(id).await
    }

    /// Unlinks the device: the profile is wiped and the session starts again with a new QR.
    pub async fn logout(&self, id: &str) -> Result<(), RegistryError> {
        self.ctx.store.set_desired(id, Desired::Running)?;
        self.ask(id, |reply| Control::Logout { reply }).await
    }

    /// Starts every STOPPED or FAILED session; returns their ids.
    pub async fn restore_stopped(&self) -> Result<Vec<String>, RegistryError> {
        let mut started = Vec::new();
        for session in self.list() {
            if matches!(session.state().status, Status::Stopped | Status::Failed) {
                self.start(&session.id).await?;
                started.push(session.id.clone());
            }
        }
        Ok(started)
    }

    /// Stops the session (SIGKILL to its group at once when `kill`); it stays STOPPED, also
    /// across daemon restarts, until started.
    pub async fn stop(&self, id: &str, kill: bool) -> Result<(), RegistryError> {
        self.ctx.store.set_desired(id, Desired::Stopped)?;
        self.ask(id, |reply| Control::Stop { kill, reply }).await
    }

    /// Stops every worker cleanly, keeping the sessions for the next start, and ends the
    /// warm spares.
    pub async fn shutdown(&self) {
        let spares = self.spares.clone();
        let spares = tokio::spawn(async move { spares.shutdown().await });
        let sessions = self.list();
        let mut waits = Vec::new();
        for session in sessions {
            let (reply, rx) = oneshot::channel();
            if session.control(Control::Shutdown { reply }) {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.await;
        }
        self.tasks.close();
        self.tasks.wait().await;
        let _ = spares.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: &str, desired: Desired) -> StoredSession {
        StoredSession {
            id: "s".into(),
            created_at: 0,
            status: status.into(),
            phone_number: None,
            restarts: 0,
            last_error: None,
            desired,
            profile_dir: None,
        }
    }

    #[test]
    fn failed_and_stopped_sessions_wait_for_a_person_after_a_restart() {
        assert_eq!(
            initial(&stored("FAILED", Desired::Running)),
            Initial::Failed
        );
        assert_eq!(
            initial(&stored("STOPPED", Desired::Stopped)),
            Initial::Stopped
        );
        assert_eq!(
            initial(&stored("FAILED", Desired::Stopped)),
            Initial::Stopped
        );
        assert_eq!(initial(&stored("WORKING", Desired::Running)), Initial::Run);
        assert_eq!(initial(&stored("STARTING", Desired::Running)), Initial::Run);
    }
}
