//! `GET /api/events`: Server-Sent Events of every session, or of one with `?session=ID`
//! (404 `session_not_found` unless it exists when the stream opens).
//!
//! Each event's SSE name is its `type`, its data the event as JSON, its `id` the event log's.
//! A client that reconnects with `Last-Event-ID` first gets every event after that one still
//! in the log (within `--retention`), then the live stream, without a gap or a repeat:
//! 1. subscribe to the broadcast, so that nothing published from now on is missed;
//! 2. replay the log after `Last-Event-ID`, up to its newest event;
//! 3. go on live, skipping what the replay already gave (ids up to its last).
//!
//! A reader too slow to keep up gets a `lagged` event with the number it missed. The stream
//! ends when the daemon stops.

use std::convert::Infallible;

use axum::extract::State;

use super::query::Query;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::error::check_session_id;
use super::{ApiError, AppState};
use crate::store::StoredEvent;

/// How many logged events one read of the replay takes.
const REPLAY_PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    session: Option<String>,
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID is the id of an event this stream sent",
            )
        })
}

/// An event as the log holds it: its id, its type, its data.
fn as_logged(e: StoredEvent) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind)
        .data(e.data)
}

/// Every logged event after `after` (of `session` when given), oldest first.
fn replay(
    state: &AppState,
    mut after: i64,
    session: Option<&str>,
) -> Result<Vec<StoredEvent>, ApiError> {
    let mut events = Vec::new();
    loop {
        let page = state
            .events
            .store()
            .events_after(after, session, REPLAY_PAGE)?;
        let full = page.len() == REPLAY_PAGE as usize;
        after = page.last().map_or(after, |e| e.id);
        events.extend(page);
        if !full {
            return Ok(events);
        }
    }
}

pub async fn stream(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    if let Some(id) = &query.session {
        check_session_id(id)?;
        state.sessions.get(id)?;
    }
    let last_seen = last_event_id(&headers)?;
    let rx = state.events.subscribe();
    let remote = state.events.subscribe_remote();
    let replayed = match last_seen {
        Some(after) => replay(&state, after, query.session.as_deref())?,
        None => Vec::new(),
    };
    // Live events up to here were replayed (or, without Last-Event-ID, are not asked for:
    // the stream starts now).
    let floor = replayed.last().map(|e| e.id).or(last_seen).unwrap_or(0);
    let replayed = futures_util::stream::iter(replayed.into_iter().map(|e| Ok(as_logged(e))));
    let shutdown = state.shutdown.clone();
    let filter = query.session;
    let live = futures_util::stream::unfold((rx, remote), move |(mut rx, mut remote)| {
        let shutdown = shutdown.clone();
        let filter = filter.clone();
        async move {
            loop {
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    received = rx.recv() => received,
                    // Another node's event, as it logged it.
                    logged = remote.recv() => match logged {
                        Ok(e) if e.id <= floor => continue,
                        Ok(e) if filter.as_ref().is_none_or(|id| *id == e.session_id) => {
                            return Some((Ok(as_logged(e)), (rx, remote)));
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(missed)) => {
                            let lagged = SseEvent::default().event("lagged").data(missed.to_string());
                            return Some((Ok(lagged), (rx, remote)));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                };
                let event = match received {
                    // An event the store could not log has no id (0): sent all the same.
                    Ok(event) if event.id != 0 && event.id <= floor => continue,
                    Ok(event) if filter.as_ref().is_none_or(|id| *id == event.session_id) => {
                        let sse = SseEvent::default()
                            .event(event.name())
                            .json_data(&event)
                            .unwrap_or_else(|_| SseEvent::default().event("error"));
                        if event.id == 0 {
                            sse
                        } else {
                            sse.id(event.id.to_string())
                        }
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        SseEvent::default().event("lagged").data(missed.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, remote)));
            }
        }
    });
    Ok(Sse::new(replayed.chain(live)).keep_alive(KeepAlive::default()))
}
