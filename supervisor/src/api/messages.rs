//! Messages through the outbox: `POST /api/sessions/{id}/send-message` stores the message
//! durably, then waits up to `--send-wait` for it to go out; `GET .../messages` and
//! `GET .../messages/{messageId}` say what became of them.
//!
//! The answer to a send: 200 once WhatsApp shows it sent; 202 while it waits (past the wait,
//! `?wait=false`, or the session is not WORKING); 409 `session_not_ready` when the session has
//! no linked phone (nothing stored); 422 `number_not_on_whatsapp` when known within the wait. A
//! request repeated with the same `Idempotency-Key` answers what the first answers now.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::RawBody;
use super::sessions::session;
use super::{ApiError, AppState};
use crate::messaging::outbox::{OutboxError, Request};
use crate::messaging::policy::valid_idempotency_key;
use crate::messaging::status::MessageStatus;
use crate::sessions::session::{Control, Status, normalize_phone};
use crate::store::StoredMessage;

/// The longest message WhatsApp Web accepts in one bubble.
const MAX_MESSAGE_CHARS: usize = 4096;
/// The longest `ttlSeconds` a message may ask for: a week.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    phone_number: String,
    message: String,
    ttl_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct SendQuery {
    wait: Option<bool>,
}

pub async fn send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<SendQuery>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let session = session(&state, &id)?;
    let body: SendRequest = body.json()?;
    let phone = normalize_phone(&body.phone_number).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_phone_number",
            "phone numbers are 8 to 15 digits, with the country code; '+', spaces and dashes are ignored",
        )
    })?;
    let chars = body.message.chars().count();
    if body.message.trim().is_empty() || chars > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_request(
            "invalid_message",
            format!("messages are 1 to {MAX_MESSAGE_CHARS} characters, not blank"),
        ));
    }
    let ttl = match body.ttl_seconds {
        None => None,
        Some(secs) if (1..=MAX_TTL.as_secs()).contains(&secs) => Some(Duration::from_secs(secs)),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_ttl",
                format!("ttlSeconds is 1 to {}", MAX_TTL.as_secs()),
            ));
        }
    };
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value.to_str().ok().filter(|k| valid_idempotency_key(k));
            Some(key.map(str::to_owned).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key is 1 to 255 visible ASCII characters",
                )
            })?)
        }
    };
    if session.state().phone_number.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "session_not_ready",
            "the session has no linked phone: scan its QR code first",
        ));
    }
    let accepted = state.outbox.accept(Request {
        session_id: id,
        to: phone,
        text: body.message,
        ttl,
        idempotency_key,
    });
    let (message, new) = match accepted {
        Ok(accepted) => accepted,
        Err(OutboxError::KeyReused) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request within 24 hours",
            ));
        }
        Err(OutboxError::Store(e)) => return Err(e.into()),
    };
    if new {
        session.control(Control::Outbox);
    }
    // Only a WORKING session can send within the wait; for any other, say at once that the
    // message is kept and will go out when it can.
    let working = session.state().status == Status::Working;
    let wait = if query.wait == Some(false) || !working {
        Duration::ZERO
    } else {
        state.outbox.config().send_wait
    };
    // A daemon that stops answers at once: the message is kept and goes out after the restart.
    let waited = tokio::select! {
        waited = state.outbox.wait(message.id, wait) => waited?,
        () = state.shutdown.cancelled() => state.outbox.get(&message.session_id, &message.id.to_string())?,
    };
    Ok(answer(&waited.unwrap_or(message)))
}

/// What a send request answers for its message as it is now.
fn answer(m: &StoredMessage) -> Response {
    let id = m.id.to_string();
    match m.status {
        s if s.went_out() => (
            StatusCode::OK,
            Json(json!({"id": id, "messageId": m.wa_id, "status": s})),
        )
            .into_response(),
        MessageStatus::Queued | MessageStatus::Sending => (
            StatusCode::ACCEPTED,
            Json(json!({"id": id, "messageId": null, "status": m.status})),
        )
            .into_response(),
        _ => {
            let code = m.error_code.clone().unwrap_or_else(|| "send_failed".into());
            let status = match code.as_str() {
                "number_not_on_whatsapp" | "message_expired" => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_GATEWAY,
            };
            let body = json!({
                "error": {"code": code, "message": m.error_message},
                "id": id,
                "status": m.status,
            });
            (status, Json(body)).into_response()
        }
    }
}

/// A message as `GET .../messages` shows it.
fn view(m: &StoredMessage) -> Value {
    let error = (!m.status.is_pending() && !m.status.went_out())
        .then(|| json!({"code": m.error_code, "message": m.error_message}));
    json!({
        "id": m.id.to_string(),
        "messageId": m.wa_id,
        "direction": "out",
        "to": m.to,
        "text": m.text,
        "status": m.status,
        "error": error,
        "createdAt": m.created_at,
        "sentAt": m.sent_at,
        "expiresAt": m.expires_at,
        "attempts": m.attempts,
    })
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    direction: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    session(&state, &id)?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(MessageStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_status",
                "status is one of queued, sending, sent, delivered, read, failed, expired",
            )
        })?),
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit is 1 to {MAX_PAGE}"),
        ));
    }
    let before = match query.before.as_deref() {
        None => None,
        Some(b) => Some(b.parse::<i64>().map_err(|_| {
            ApiError::bad_request(
                "invalid_cursor",
                "before is the nextBefore of an earlier page",
            )
        })?),
    };
    match query.direction.as_deref() {
        None | Some("out") => {}
        // Incoming messages are not stored yet: there are none to list.
        Some("in") => return Ok(Json(json!({"messages": [], "nextBefore": null}))),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_direction",
                "direction is in or out",
            ));
        }
    }
    let page = state.outbox.list(&id, status, before, limit)?;
    Ok(Json(json!({
        "messages": page.messages.iter().map(view).collect::<Vec<_>>(),
        "nextBefore": page.next_before.map(|b| b.to_string()),
    })))
}

pub async fn detail(
    State(state): State<AppState>,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    session(&state, &id)?;
    let message = state.outbox.get(&id, &message_id)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            "no message of this session has that id",
        )
    })?;
    Ok(Json(view(&message)))
}
