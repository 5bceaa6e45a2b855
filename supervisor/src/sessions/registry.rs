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

use crate::cluster::Cluster;
use crate::egress::upstream::ProxyUrl;
use crate::sessions::events::EventKind;
use crate::sessions::session::{Control, Session, SessionState, Status, now_ms};
use crate::store::{Claimed, Desired, StoreError, StoredSession};
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
        if let Some(cluster) = &self.ctx.cluster {
            // The sessions are everyone's: this node runs those it claims (`cluster::node`),
            // and none of what a node of its name held before runs any more.
            self.ctx.store.release_all(cluster.node_id())?;
            return Ok(0);
        }
        let stored = self.ctx.store.all()?;
        let mut table = self.table();
        let mut started = 0;
        for s in stored {
            let (initial, state) = self.stored_state(&s)?;
            if initial == Initial::Run {
                started += 1;
            }
            let dir = s.profile_dir.clone();
            self.launch(&mut table, s.id, dir, s.created_at, state, initial, None);
        }
        let kept = table.values().map(|s| s.dir.clone()).collect();
        drop(table);
        self.spares.remove_leftovers(&kept);
        Ok(started)
    }

    /// How a stored session comes back: how its task begins, and its state until then.
    fn stored_state(&self, s: &StoredSession) -> Result<(Initial, SessionState), RegistryError> {
        let initial = initial(s);
        let status = match initial {
            Initial::Run => Status::parse(&s.status).unwrap_or(Status::Starting),
            Initial::Stopped => Status::Stopped,
            Initial::Failed => Status::Failed,
        };
        let mut state = SessionState::new(status, s.phone_number.clone());
        state.restarts = s.restarts;
        state.last_error = s.last_error.clone();
        state.proxy = masked_proxy(self.ctx.store.proxy(&s.id)?.as_deref());
        Ok((initial, state))
    }

    /// Starts the `--warm-spares` browsers; call after [`Registry::restore`], so that the
    /// sessions people left running are first at the start gate.
    pub fn warm_spares(&self) {
        if self.ctx.cluster.is_some() {
            if self.ctx.config.warm_spares > 0 {
                tracing::warn!(
                    "--warm-spares is ignored with --database: a spare's profile could not travel"
                );
            }
            return;
        }
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
    pub fn create(&self, id: String, proxy: Option<String>) -> Result<String, RegistryError> {
        if let Some(cluster) = &self.ctx.cluster {
            return self.create_shared(cluster, id, proxy);
        }
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
        self.announce(&id);
        let mut state = SessionState::new(Status::Starting, None);
        state.proxy = masked_proxy(proxy.as_deref());
        Ok(self
            .launch(&mut table, id, dir, created_at, state, Initial::Run, spare)
            .id
            .clone())
    }

    /// Tells of a new session: created, and STARTING from the first moment (its first status).
    fn announce(&self, id: &str) {
        self.ctx.events.publish(id, EventKind::Created);
        self.ctx.events.publish(
            id,
            EventKind::Status {
                status: Status::Starting,
                last_error: None,
                phone_number: None,
            },
        );
    }

    /// With several nodes: the session is stored for every node to see, held by none; the
    /// nodes claim it (`cluster::node`), this one woken at once.
    fn create_shared(
        &self,
        cluster: &Cluster,
        id: String,
        proxy: Option<String>,
    ) -> Result<String, RegistryError> {
        let status = Status::Starting.as_str();
        if !self
            .ctx
            .store
            .insert_with(&id, now_ms(), status, proxy.as_deref(), None)?
        {
            return Err(RegistryError::Exists(id));
        }
        tracing::info!(session = %id, "session created for the nodes to claim");
        self.announce(&id);
        cluster.wake.notify_one();
        Ok(id)
    }

    /// Starts a session this node just claimed (its profile restored already).
    pub fn adopt(&self, claimed: Claimed) -> Result<(), RegistryError> {
        let s = claimed.session;
        let (initial, mut state) = self.stored_state(&s)?;
        state.node = self.ctx.cluster.as_ref().map(|c| c.node_id().to_owned());
        let mut table = self.table();
        if table.contains_key(&s.id) {
            return Err(RegistryError::Exists(s.id));
        }
        self.launch(
            &mut table,
            s.id,
            s.profile_dir,
            s.created_at,
            state,
            initial,
            None,
        );
        Ok(())
    }

    /// Lets go of a session this node runs: with `kill`, its lease is lost already and its
    /// browser is killed at once, nothing of it recorded any more; otherwise its browser
    /// closes cleanly (and its profile is saved). Returns once its task ended.
    pub async fn let_go(&self, id: &str, kill: bool) {
        let Ok(session) = self.get_local(id) else {
            return;
        };
        if kill {
            session.evict();
        }
        // The shutdown is asked for before the kill, so that the task sees its worker's end as
        // part of it and never starts another browser.
        let (reply, done) = oneshot::channel();
        let asked = session.control(Control::Shutdown { reply });
        if kill && let Some(pid) = session.state().worker_pid {
            wamux_procfs::Group::led_by(pid).kill();
        }
        if asked {
            let _ = done.await;
        }
        self.forget(id);
    }

    /// Takes a session whose task ended off this node's table.
    fn forget(&self, id: &str) {
        self.table().remove(id);
        self.membership
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// The ids of the sessions this node runs.
    pub fn local_ids(&self) -> Vec<String> {
        self.list_local()
            .into_iter()
            .map(|s| s.id.clone())
            .collect()
    }

    /// A session this node does not run, as the database shows it: its view, no task.
    fn remote(&self, stored: StoredSession, owner: Option<String>) -> Arc<Session> {
        let mut state = SessionState::new(
            Status::parse(&stored.status).unwrap_or(Status::Starting),
            stored.phone_number,
        );
        state.restarts = stored.restarts;
        state.last_error = stored.last_error;
        state.node = owner;
        Arc::new(Session::new(stored.id, stored.profile_dir, stored.created_at, state).0)
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

    /// The session: this node's, or with several nodes, as the database shows one that
    /// runs elsewhere or nowhere (its control channel is closed: requests for it are answered
    /// by its node, `cluster::forward`).
    pub fn get(&self, id: &str) -> Result<Arc<Session>, RegistryError> {
        if let Ok(session) = self.get_local(id) {
            return Ok(session);
        }
        if self.ctx.cluster.is_some()
            && let Some(stored) = self.ctx.store.get(id)?
        {
            let owner = self.ctx.store.owner(id)?.map(|o| o.node);
            return Ok(self.remote(stored, owner));
        }
        Err(RegistryError::NotFound(id.to_owned()))
    }

    /// Whether this node runs session `id`.
    pub fn runs_here(&self, id: &str) -> bool {
        self.table().contains_key(id)
    }

    fn get_local(&self, id: &str) -> Result<Arc<Session>, RegistryError> {
        self.table()
            .get(id)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(id.to_owned()))
    }

    /// Where the list of sessions and their states stand: read before building something
    /// from [`Registry::list`], and it tells whether that is still what the list shows.
    /// `None` with several nodes, whose sessions change unseen: nothing built from the list
    /// can be kept.
    pub fn revision(&self) -> Option<Revision> {
        if self.ctx.cluster.is_some() {
            return None;
        }
        let table = self.table();
        Some(Revision {
            membership: self.membership.load(std::sync::atomic::Ordering::Acquire),
            states: table.values().map(|s| s.revision()).sum(),
        })
    }

    /// Every session, oldest first: with several nodes, every node's.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut all = self.list_local();
        if self.ctx.cluster.is_some() {
            let stored = self.ctx.store.all();
            let owners = self.ctx.store.owners();
            match (stored, owners) {
                (Ok(stored), Ok(mut owners)) => {
                    let local: std::collections::HashSet<String> =
                        all.iter().map(|s| s.id.clone()).collect();
                    for s in stored.into_iter().filter(|s| !local.contains(&s.id)) {
                        let owner = owners.remove(&s.id);
                        all.push(self.remote(s, owner));
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "listing only this node's sessions: the database is out of reach");
                }
            }
        }
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// The sessions this node runs, oldest first.
    pub fn list_local(&self) -> Vec<Arc<Session>> {
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
        if let Some(cluster) = &self.ctx.cluster
            && self.get_local(id).is_err()
        {
            // No node runs it (a request for one that runs elsewhere went to its node): its
            // rows are all there is of it.
            self.get(id)?;
            self.ctx.store.delete(id)?;
            self.ctx.outbox.forget_session(id)?;
            if let Err(e) = cluster.profiles.forget(id) {
                tracing::warn!(session = %id, error = %e, "could not remove the saved profile");
            }
        } else {
            self.ask(id, |reply| Control::Delete { reply }).await?;
        }
        self.forget(id);
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
