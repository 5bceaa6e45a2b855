//! Several wamux nodes on one PostgreSQL database (`--database`): each session runs on one
//! node at a time, under a lease, and moves to another node when its own dies or drains.
//!
//! - [`lease`]: the policy (how often to renew, when to give up, how many to claim).
//! - [`node`]: the task that keeps this node's heartbeat and leases, claims sessions and lets
//!   go of those it lost.
//! - [`profile`]: what keeps a session linked, saved after a clean close and restored by the
//!   node that takes the session over.
//! - [`forward`]: a request for a session another node runs goes to that node, in one hop.
//! - [`feed`]: the events other nodes append reach this node's `/api/events` and webhooks.

pub mod feed;
pub mod forward;
pub mod lease;
pub mod node;
pub mod profile;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::daemon::config::ClusterConfig;
use crate::store::{Fence, Store, StoreError};
use profile::Profiles;

/// This node's part: what the sessions' tasks and the API need of the cluster.
pub struct Cluster {
    pub config: ClusterConfig,
    /// How the other nodes reach this node's API.
    pub advertise_url: String,
    /// The leases this node holds; the store fences its writes with them.
    pub fence: Arc<Fence>,
    pub profiles: Profiles,
    /// `--max-sessions`: how many sessions this node may hold.
    pub capacity: u32,
    draining: AtomicBool,
    /// Wakes the node's task before its next turn: a session was created or released.
    pub wake: Notify,
}

impl Cluster {
    pub fn new(
        config: ClusterConfig,
        advertise_url: String,
        capacity: u32,
        fence: Arc<Fence>,
        store: Arc<Store>,
    ) -> Cluster {
        let profiles = match &config.profile_store {
            Some(dir) => Profiles::Folder(dir.clone()),
            None => Profiles::Database(store),
        };
        Cluster {
            config,
            advertise_url,
            fence,
            profiles,
            capacity,
            draining: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.fence.node
    }

    /// `--lease-ttl` in ms, as the database reckons.
    pub fn ttl_ms(&self) -> i64 {
        self.fence.ttl_ms
    }

    /// Records in `store` that this node is alive, and whether it drains.
    pub fn heartbeat(&self, store: &Store) -> Result<i64, StoreError> {
        store.heartbeat(
            self.node_id(),
            &self.advertise_url,
            self.capacity,
            self.draining(),
        )
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Stops claiming; answers whether the node was draining already.
    pub fn start_draining(&self) -> bool {
        let before = self.draining.swap(true, Ordering::AcqRel);
        self.wake.notify_one();
        before
    }

    /// Gives back the lease on `session`, which this node no longer runs, so that another node
    /// may take it at once; when that fails, the lease lapses instead.
    pub fn release(&self, store: &Store, session: &str) {
        let Some(generation) = self.fence.generation(session) else {
            return;
        };
        self.fence.drop_session(session);
        if let Err(e) = store.release(self.node_id(), session, generation) {
            tracing::warn!(session, error = %e, "could not release the lease; it lapses instead");
        }
    }

    /// Puts the last saved profile of `session` into `profile`, before its browser starts; a
    /// session without one (or whose one is damaged) starts with what `profile` holds.
    pub async fn restore_profile(&self, session: &str, profile: &Path) {
        let profiles = self.profiles.clone();
        let (id, profile) = (session.to_owned(), profile.to_owned());
        let restored = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&profile)?;
            profiles.restore(&id, &profile)
        })
        .await;
        match restored {
            Ok(Ok(true)) => tracing::info!(session, "restored the saved profile"),
            Ok(Ok(false)) => tracing::info!(session, "no saved profile: a scan links it"),
            Ok(Err(e)) => {
                tracing::warn!(session, error = %e, "could not restore the saved profile")
            }
            Err(e) => tracing::warn!(session, error = %e, "the profile restore panicked"),
        }
    }

    /// Saves `profile` as `session`'s after a clean close; logs what went wrong, since the
    /// session goes on either way (a later clean close saves it again).
    pub async fn save_profile(&self, session: &str, profile: &Path) {
        let (profiles, fence) = (self.profiles.clone(), self.fence.clone());
        let (session, profile) = (session.to_owned(), profile.to_owned());
        let saved =
            tokio::task::spawn_blocking(move || profiles.save(&fence, &session, &profile)).await;
        match saved {
            Ok(Ok(true)) => tracing::info!("saved the profile for the other nodes"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not save the profile"),
            Err(e) => tracing::warn!(error = %e, "the profile save panicked"),
        }
    }
}
