//! `GET /api/events`: Server-Sent Events of every session, or of one with `?session=ID`
//! (404 `session_not_found` unless it exists when the stream opens).
//!
//! Each event's SSE name is its `type`, its data the event as JSON. A reader too slow to keep
//! up gets a `lagged` event with the number it missed. The stream ends when the daemon stops.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::error::check_session_id;
use super::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    session: Option<String>,
}

pub async fn stream(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    if let Some(id) = &query.session {
        check_session_id(id)?;
        state.sessions.get(id)?;
    }
    let rx = state.events.subscribe();
    let shutdown = state.shutdown.clone();
    let filter = query.session;
    let events = futures_util::stream::unfold(rx, move |mut rx| {
        let shutdown = shutdown.clone();
        let filter = filter.clone();
        async move {
            loop {
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    received = rx.recv() => received,
                };
                let event = match received {
                    Ok(event) if filter.as_ref().is_none_or(|id| *id == event.session_id) => {
                        SseEvent::default()
                            .event(event.name())
                            .json_data(&event)
                            .unwrap_or_else(|_| SseEvent::default().event("error"))
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        SseEvent::default().event("lagged").data(missed.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), rx));
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
