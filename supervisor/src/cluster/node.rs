//! The task that keeps this node in the cluster, every [`lease::renew_every`] (or sooner
//! when woken):
//! 1. Beat (the node's row) and renew every lease it holds, on a connection of its own, so
//!    that a busy store never delays a renewal.
//! 2. Let go, at once and by SIGKILL, of every session whose lease did not come back: another
//!    node may run it now.
//! 3. If no renewal succeeded for [`lease::give_up_after`], kill every browser it runs: the
//!    leases lapse soon and two browsers must never run one account. This deadline is a timer
//!    of its own, so a renewal that hangs cannot hold it up.
//! 4. Unless draining, claim sessions nobody holds, up to its fair share and its capacity:
//!    restore each one's saved profile, then start it.
//!
//! Draining ([`drain`]) stops the claims, then closes the node's sessions cleanly one by one,
//! their profiles saved, and gives their leases back.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::lease::{fair_share, give_up_after, renew_every};
use crate::sessions::registry::Registry;
use crate::store::{Claimed, Store, StoreError};
use crate::supervision::context::Context;

pub fn ms(duration: Duration) -> i64 {
    duration.as_millis().try_into().unwrap_or(i64::MAX)
}

/// Runs until `stop`; `leases` is a store on a connection of its own.
pub async fn run(
    ctx: Arc<Context>,
    sessions: Arc<Registry>,
    leases: Arc<Store>,
    stop: CancellationToken,
) {
    let Some(cluster) = ctx.cluster.clone() else {
        return;
    };
    let ttl = cluster.config.lease_ttl;
    let mut renewed: Option<Instant> = None;
    loop {
        let began = Instant::now();
        let beat = {
            let (leases, cluster) = (leases.clone(), cluster.clone());
            tokio::task::spawn_blocking(move || {
                cluster.heartbeat(&leases)?;
                leases.renew(cluster.node_id(), cluster.ttl_ms())
            })
        };
        let answer = tokio::select! {
            answer = beat => Some(answer),
            () = sleep_until(deadline_after(renewed, ttl)) => None,
        };
        let healthy = match answer {
            Some(Ok(Ok(held))) => {
                renewed = Some(began);
                let lost: Vec<String> = cluster
                    .fence
                    .all()
                    .into_iter()
                    .filter(|(id, generation)| !held.contains(&(id.clone(), *generation)))
                    .map(|(id, _)| id)
                    .collect();
                for id in lost {
                    tracing::warn!(session = %id, "the lease is gone: stopping the browser");
                    give_up(&cluster, &sessions, &id).await;
                }
                true
            }
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "could not renew the leases");
                false
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "the lease renewal panicked");
                false
            }
            None => false,
        };
        if !healthy
            && renewed.is_some_and(|at| at.elapsed() >= give_up_after(ttl))
            && !cluster.fence.all().is_empty()
        {
            tracing::error!(
                ?ttl,
                "no lease renewed in time: killing every browser before the leases lapse"
            );
            for (id, _) in cluster.fence.all() {
                give_up(&cluster, &sessions, &id).await;
            }
        }
        if healthy && !cluster.draining() {
            claim(&ctx, &cluster, &sessions, &leases).await;
        }
        let next = began + renew_every(ttl);
        tokio::select! {
            () = stop.cancelled() => return,
            () = cluster.wake.notified() => {}
            () = tokio::time::sleep_until(next) => {}
            () = sleep_until(deadline_after(renewed, ttl)), if !cluster.fence.all().is_empty() => {}
        }
    }
}

/// When the node must give up unless a renewal succeeds first.
fn deadline_after(renewed: Option<Instant>, ttl: Duration) -> Option<Instant> {
    renewed.map(|at| at + give_up_after(ttl))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Stops running `id` here, whose lease is lost (or about to be): its writes are refused from
/// now on, before anything of it stops, and its browser is killed.
async fn give_up(cluster: &Cluster, sessions: &Registry, id: &str) {
    cluster.fence.drop_session(id);
    sessions.let_go(id, true).await;
}

/// Claims sessions nobody holds until this node holds its fair share.
async fn claim(
    ctx: &Arc<Context>,
    cluster: &Arc<Cluster>,
    sessions: &Arc<Registry>,
    leases: &Arc<Store>,
) {
    loop {
        let held = cluster.fence.all().len() as u32;
        let (store, node) = (leases.clone(), cluster.clone());
        let won = tokio::task::spawn_blocking(move || -> Result<Option<Claimed>, StoreError> {
            let (total, nodes) = store.cluster_load(node.ttl_ms())?;
            if held >= fair_share(total, nodes, node.capacity) {
                return Ok(None);
            }
            store.claim(node.node_id(), node.ttl_ms())
        })
        .await;
        let claimed = match won {
            Ok(Ok(Some(claimed))) => claimed,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not claim sessions");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "a claim panicked");
                return;
            }
        };
        let id = claimed.session.id.clone();
        cluster.fence.hold(&id, claimed.generation);
        let dir = claimed
            .session
            .profile_dir
            .clone()
            .unwrap_or_else(|| id.clone());
        tracing::info!(session = %id, generation = claimed.generation, "claimed");
        cluster.restore_profile(&id, &ctx.data.profile(&dir)).await;
        if let Err(e) = sessions.adopt(claimed) {
            tracing::error!(session = %id, error = %e, "could not start a claimed session");
            cluster.fence.drop_session(&id);
        }
    }
}

/// Hands every session of this node over to the others: no more claims, then each closed
/// cleanly (its profile saved) and released, one at a time so that the others start them
/// one by one.
pub async fn drain(ctx: Arc<Context>, sessions: Arc<Registry>) {
    let Some(cluster) = ctx.cluster.clone() else {
        return;
    };
    if cluster.start_draining() {
        return;
    }
    tracing::info!("draining: handing every session over to the other nodes");
    // The heartbeat says so before anything moves, so that no other node counts this one.
    if let Err(e) = cluster.heartbeat(&ctx.store) {
        tracing::warn!(error = %e, "could not tell the other nodes of the drain");
    }
    for id in sessions.local_ids() {
        sessions.let_go(&id, false).await;
        cluster.release(&ctx.store, &id);
        tracing::info!(session = %id, "handed over");
    }
    tracing::info!("drained");
}
