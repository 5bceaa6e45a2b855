//! Messages through the outbox: `POST /api/sessions/{id}/send-message` stores the message
//! durably, then waits up to `--send-wait` for it to go out; `GET .../messages` and
//! `GET .../messages/{messageId}` say what became of them. The same listing holds the messages
//! received (`direction=in`), which the inbox stored.
//!
//! The answer to a send: 200 once WhatsApp shows it sent; 202 while it waits (past the wait,
//! `?wait=false`, or the session is not WORKING); 409 `session_not_ready` when the session has
//! no linked phone (nothing stored); 422 `number_not_on_whatsapp` when known within the wait. A
//! request repeated with the same `Idempotency-Key` answers what the first answers now.
//! `send-media` (`media.rs`) goes through the same checks and answers, from here.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};

use super::query::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::RawBody;
use super::sessions::session;
use super::{ApiError, AppState};
use crate::messaging::inbox::ReceivedMedia;
use crate::messaging::outbox::{OutboxError, Request};
use crate::messaging::policy::valid_idempotency_key;
use crate::messaging::status::{Direction, MessageStatus};
use crate::sessions::session::{Control, Session, Status, normalize_phone};
use crate::store::{MessageQuery, StoredMessage};

/// The longest message WhatsApp Web accepts in one bubble; a caption's limit too.
pub(super) const MAX_MESSAGE_CHARS: usize = 4096;
/// The longest `ttlSeconds` a message may ask for: a week.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
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
    pub(super) wait: Option<bool>,
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
    let phone = phone_number(&body.phone_number)?;
    let chars = body.message.chars().count();
    if body.message.trim().is_empty() || chars > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_request(
            "invalid_message",
            format!("messages are 1 to {MAX_MESSAGE_CHARS} characters, not blank"),
        ));
    }
    let ttl = ttl(body.ttl_seconds)?;
    let idempotency_key = idempotency_key(&headers)?;
    linked(&session)?;
    let accepted = state.outbox.accept(Request {
        session_id: id,
        to: phone,
        text: body.message,
        ttl,
        idempotency_key,
    });
    let (message, new) = accepted.map_err(outbox_error)?;
    respond(&state, &session, message, new, query.wait).await
}

pub(super) fn phone_number(input: &str) -> Result<String, ApiError> {
    normalize_phone(input).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_phone_number",
            "phone numbers are 8 to 15 digits, with the country code; '+', spaces and dashes are ignored",
        )
    })
}

pub(super) fn ttl(seconds: Option<u64>) -> Result<Option<Duration>, ApiError> {
    match seconds {
        None => Ok(None),
        Some(secs) if (1..=MAX_TTL.as_secs()).contains(&secs) => {
            Ok(Some(Duration::from_secs(secs)))
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_ttl",
            format!("ttlSeconds is 1 to {}", MAX_TTL.as_secs()),
        )),
    }
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().filter(|k| valid_idempotency_key(k));
    Ok(Some(key.map(str::to_owned).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key is 1 to 255 visible ASCII characters",
        )
    })?))
}

/// 409 `session_not_ready` unless the session has a linked phone: nothing is stored before.
pub(super) fn linked(session: &Session) -> Result<(), ApiError> {
    if session.state().phone_number.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "session_not_ready",
            "the session has no linked phone: scan its QR code first",
        ));
    }
    Ok(())
}

pub(super) fn outbox_error(e: OutboxError) -> ApiError {
    match e {
        OutboxError::KeyReused => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request within 24 hours",
        ),
        OutboxError::Store(e) => e.into(),
    }
}

/// Answers a send of `message`, accepted now (`new`) or before: at once, or once it is done
/// with within `--send-wait` when the session can send and `wait` is not `false`.
pub(super) async fn respond(
    state: &AppState,
    session: &Arc<Session>,
    message: StoredMessage,
    new: bool,
    wait: Option<bool>,
) -> Result<Response, ApiError> {
    if new {
        session.control(Control::Outbox);
    }
    // Only a WORKING session can send within the wait; for any other, say at once that the
    // message is kept and will go out when it can.
    let working = session.state().status == Status::Working;
    let wait = if wait == Some(false) || !working {
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

/// A message as `GET .../messages` shows it. Both directions have `type`, `author` and
/// `sentAt`: an outgoing message has no group author, and is sent when WhatsApp showed it sent.
/// A media message has its file's fields too ([`with_media`]).
fn view(m: &StoredMessage) -> Value {
    let mut view = bare_view(m);
    with_media(&mut view, m);
    view
}

/// A media message's `caption` (its `text`), `mimetype`, `filename`, `size`, and `mediaUrl`
/// when its bytes are kept, or `mediaMissing`, why they are not.
fn with_media(view: &mut Value, m: &StoredMessage) {
    let (Some(file), Some(fields)) = (&m.media, view.as_object_mut()) else {
        return;
    };
    if let Value::Object(media) = json!(ReceivedMedia::of(m)) {
        fields.extend(media);
    }
    fields.insert("size".to_owned(), json!(file.size));
}

fn bare_view(m: &StoredMessage) -> Value {
    if m.direction == Direction::In {
        return json!({
            "id": m.id.to_string(),
            "messageId": m.wa_id,
            "direction": "in",
            "type": m.kind,
            "chatId": m.chat_id,
            "from": m.sender_number,
            "fromName": m.sender_name,
            "author": m.author,
            "text": m.text,
            "status": m.status,
            "sentAt": m.sent_at,
            "shownAt": m.shown_at,
            "receivedAt": m.created_at,
            "createdAt": m.created_at,
        });
    }
    let error = (!m.status.is_pending() && !m.status.went_out())
        .then(|| json!({"code": m.error_code, "message": m.error_message}));
    json!({
        "id": m.id.to_string(),
        "messageId": m.wa_id,
        "direction": "out",
        "type": m.kind,
        "to": m.to,
        "author": null,
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
    since: Option<String>,
    limit: Option<String>,
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
                "status is one of queued, sending, sent, delivered, read, failed, expired, received",
            )
        })?),
    };
    let (limit, before) =
        super::paging::parse(query.limit.as_deref(), query.before.as_deref(), MAX_PAGE)?;
    let direction =
        match query.direction.as_deref() {
            None => None,
            Some(d) => Some(Direction::parse(d).ok_or_else(|| {
                ApiError::bad_request("invalid_direction", "direction is in or out")
            })?),
        };
    let since = match query.since.as_deref() {
        None => None,
        Some(t) => Some(parse_rfc3339(t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_since",
                "since is an RFC 3339 time, such as 2026-02-03T10:05:00Z or 2026-02-03T04:05:00-06:00",
            )
        })?),
    };
    let query = MessageQuery {
        direction,
        status,
        since,
        before,
        limit,
    };
    let page = state.outbox.list(&id, query)?;
    Ok(Json(json!({
        "messages": page.messages.iter().map(view).collect::<Vec<_>>(),
        "nextBefore": page.next_before.map(|b| b.to_string()),
    })))
}

pub async fn detail(
    State(state): State<AppState>,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&message(&state, &id, &message_id)?)))
}

/// A session's message by wamux's id or WhatsApp's; 404 for an unknown session or message.
pub(super) fn message(
    state: &AppState,
    id: &str,
    message_id: &str,
) -> Result<StoredMessage, ApiError> {
    session(state, id)?;
    state.outbox.get(id, message_id)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            "no message of this session has that id",
        )
    })
}

/// Milliseconds since the Unix epoch of an RFC 3339 time,
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; digits past the millisecond are dropped. An
/// offset's `+` that came through a query string unescaped reads as a space: taken as `+`.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let number = |at: usize, len: usize| -> Option<i64> {
        let digits = b.get(at..at + len)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| b.get(at) != Some(&c))
        || !matches!(b.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        millis = fraction[..digits]
            .iter()
            .chain(b"00")
            .take(3)
            .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-' | b' '), _, _, b':', _, _] => {
            let (hours, minutes) = (number(b.len() - 5, 2)?, number(b.len() - 2, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // A leap second (60) is allowed by RFC 3339; it counts as the next minute's first.
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_are_read_to_the_millisecond() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-02-03T10:05:00Z"),
            Some(1_770_113_100_000)
        );
        assert_eq!(
            parse_rfc3339("2026-02-03T04:05:00-06:00"),
            parse_rfc3339("2026-02-03T10:05:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-02-03T11:35:00+01:30"),
            Some(1_770_113_100_000)
        );
        assert_eq!(
            parse_rfc3339("2026-02-03T11:35:00 01:30"),
            Some(1_770_113_100_000),
            "a + unescaped in a query string"
        );
        assert_eq!(
            parse_rfc3339("2026-02-03t10:05:00z"),
            Some(1_770_113_100_000)
        );
        assert_eq!(
            parse_rfc3339("2026-02-03T10:05:00.5Z"),
            Some(1_770_113_100_500)
        );
        assert_eq!(
            parse_rfc3339("2026-02-03T10:05:00.123456789Z"),
            Some(1_770_113_100_123)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            Some(1_483_228_800_000)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "2026-02-03",
            "2026-02-03T10:05:00",
            "2026-02-03 10:05:00Z",
            "2026-02-03T10:05Z",
            "2026-2-03T10:05:00Z",
            "2026-13-03T10:05:00Z",
            "2026-00-03T10:05:00Z",
            "2025-02-29T10:05:00Z",
            "2026-04-31T10:05:00Z",
            "2026-02-03T24:00:00Z",
            "2026-02-03T10:60:00Z",
            "2026-02-03T10:05:61Z",
            "2026-02-03T10:05:00.Z",
            "2026-02-03T10:05:00+0100",
            "2026-02-03T10:05:00+24:00",
            "2026-02-03T10:05:00+01:60",
            "2026-02-03T10:05:00Zjunk",
            "2026-02-03T10:05:00+01:00 ",
            "+026-02-03T10:05:00Z",
            "2026-02-03T10:05:00\u{e9}",
            "1776-07-04T1O:05:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
