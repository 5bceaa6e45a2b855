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
use crate::store::{Fence, Store};
use profile::Profiles;

/// This node's part: what the sessions' tasks and the API need of the cluster.
pub struct Cluster {
    pub config: ClusterConfig,
    /// How the other nodes reach this node's API.
    pub advertise_url: String,
    /// The leases this node holds; the store fences its writes with them.
    pub fence: Arc<Fence>,
    pub profiles: Profiles,
    draining: AtomicBool,
    /// Wakes the node's task before its next turn: a session was created or released.
    pub wake: Notify,
}

impl Cluster {
    pub fn new(
        config: ClusterConfig,
        advertise_url: String,
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
            draining: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.fence.node
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
