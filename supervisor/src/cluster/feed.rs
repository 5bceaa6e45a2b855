//! The events of every node, on every node: a thread `LISTEN`s on the database (its own
//! connection) and wakes a task that reads what was logged since it last looked, handing on
//! what other nodes logged to this node's `/api/events` readers and its webhook deliveries.
//! A session that wants a node (created, released) wakes this node's claims the same way.
//!
//! Ids come from one sequence but commit in any order, so each read looks back
//! [`LOOK_BACK`] ids and skips those it handed on already: an event that committed late
//! behind a higher id is still seen. Without a notification (a lost connection), the task
//! reads every [`POLL`] all the same.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{EVENTS_CHANNEL, SESSIONS_CHANNEL};
use crate::supervision::context::Context;

const LOOK_BACK: i64 = 200;
const POLL: Duration = Duration::from_secs(2);
const PAGE: u32 = 500;

/// Runs until `stop`.
pub async fn run(ctx: Arc<Context>, stop: CancellationToken) {
    let Some(cluster) = ctx.cluster.clone() else {
        return;
    };
    let events = Arc::new(Notify::new());
    let ended = Arc::new(AtomicBool::new(false));
    let listener = {
        let (url, events, ended) = (
            cluster.config.database_url.clone(),
            events.clone(),
            ended.clone(),
        );
        let cluster = cluster.clone();
        std::thread::Builder::new()
            .name("wamux-listen".into())
            .spawn(move || listen(&url, &events, &cluster.wake, &ended))
    };
    if let Err(e) = &listener {
        tracing::error!(error = %e, "cannot start listening to the database; reading every 2 s");
    }
    let mut cursor = wait_store(&ctx, |store| store.last_event_id())
        .await
        .unwrap_or(0);
    let mut handed: BTreeSet<i64> = BTreeSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = events.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        let after = (cursor - LOOK_BACK).max(0);
        let page = wait_store(&ctx, move |store| store.events_after(after, None, PAGE)).await;
        let Some(page) = page else { continue };
        if page.len() == PAGE as usize {
            // More than a page behind: the next read at once.
            events.notify_one();
        }
        for event in page {
            if !handed.insert(event.id) {
                continue;
            }
            cursor = cursor.max(event.id);
            ctx.events.from_log(event);
        }
        while handed
            .first()
            .is_some_and(|first| *first < cursor - LOOK_BACK)
        {
            handed.pop_first();
        }
    }
    ended.store(true, Ordering::Release);
    if let Ok(thread) = listener {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

async fn wait_store<T: Send + 'static>(
    ctx: &Arc<Context>,
    f: impl FnOnce(&crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Option<T> {
    let store = ctx.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read the event log");
            None
        }
        Err(_) => None,
    }
}

/// Listens until `ended`, reconnecting after a failure.
fn listen(url: &str, events: &Notify, sessions: &Notify, ended: &AtomicBool) {
    while !ended.load(Ordering::Acquire) {
        let mut client = match crate::store::connect_listener(url) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen to the database; trying again");
                std::thread::sleep(POLL);
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!(
            "LISTEN {EVENTS_CHANNEL}; LISTEN {SESSIONS_CHANNEL};"
        )) {
            tracing::warn!(error = %e, "cannot listen to the database; trying again");
            std::thread::sleep(POLL);
            continue;
        }
        // A reconnection may have missed notifications: read as if told.
        events.notify_one();
        sessions.notify_one();
        while !ended.load(Ordering::Acquire) {
            let heard = {
                let mut notifications = client.notifications();
                let mut heard = notifications.timeout_iter(Duration::from_secs(1));
                fallible_next(&mut heard)
            };
            match heard {
                Ok(Some(channel)) if channel == SESSIONS_CHANNEL => sessions.notify_one(),
                Ok(Some(_)) => events.notify_one(),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "lost the database's notifications; reconnecting");
                    break;
                }
            }
            if client.is_closed() {
                break;
            }
        }
    }
}

fn fallible_next(
    heard: &mut impl postgres::fallible_iterator::FallibleIterator<
        Item = postgres::Notification,
        Error = postgres::Error,
    >,
) -> Result<Option<String>, postgres::Error> {
    Ok(heard.next()?.map(|n| n.channel().to_owned()))
}
