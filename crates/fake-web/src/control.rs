//! The control API of contract section 9: tests and people act as the phone through it.
//!
//! | call | answers |
//! | --- | --- |
//! | `GET /__fake/health` | 200 `{"ok": true}` |
//! | `POST /__fake/scan {"qr", "phone"}` | 200; 410 rotated away or expired; 404 never shown |
//! | `POST /__fake/link-code {"code", "phone"}` | 200; 404 unknown; 410 expired |
//! | `POST /__fake/unlink {"phone"}` | 200; 404 not linked |
//! | `POST /__fake/conflict {"phone"}` | 200; 404 not linked |
//! | `POST /__fake/incoming {"to", "from", "name", "text"}` | 200 `{"id"}`; 404 `to` not linked |
//! | `POST /__fake/incoming {..., "media": {"type", "mimetype", "filename", "base64"}, "caption"}` | 200 `{"id"}`; 400 bad media; 404 `to` not linked |
//! | `POST /__fake/invalid-numbers {"numbers": [...]}` | 200 |
//! | `GET /__fake/sent?from=DIGITS` | 200 `[{"id", "to", "text", "at", "status", "type"}]`, oldest first; media entries also `"caption", "filename", "mimetype", "size", "sha256"` |
//! | `POST /__fake/ack {"id", "status": "delivered" or "read"}` | 200; 404 unknown id |
//! | `POST /__fake/late-row {"from", "to", "text"}` | 200 `{"id"}`; 404 `from` not linked |
//! | `POST /__fake/incoming {..., "group", "group_name"}` | 200 `{"id"}`; 404 `to` not linked |
//! | `GET /__fake/stats` | 200 `{"page_loads", "send_seen", "chats_opened"}` |
//! | `GET /__fake/chats?phone=DIGITS` | 200 `[{"jid", "name", "unread", "opened", "seen"}]`, most recent first; 404 not linked |
//! | `POST /__fake/modules {"drop": [NAMES], "restore": [NAMES]}` | 200 `{"missing": [NAMES]}` |
//!
//! `/__fake/sent` lists a message as soon as the page sent it (the fake received it), while its
//! row may still show " Pending " (`FakeConfig::ack_delay`, `--ack-delay-ms`): `status` is
//! `pending`, `sent`, `delivered` or `read`, as the row shows it now; `at` is the Unix epoch
//! milliseconds of its receipt.
//!
//! `late-row` (beyond contract section 9): right when the account `from` next sends a message
//! to `to`, the chat shows an outgoing row with `text` (already " Sent ") just before that
//! message's row, as a row that renders late or a message typed on the phone would; `id` is
//! that row's MSGID. It is listed in `/__fake/sent` like any message of the account.
//!
//! Media (contract section 11): `media.type` is `image`, `video`, `audio`, `ptt` (a voice
//! note) or `document`; `mimetype` defaults by type (`image/jpeg`, `video/mp4`, `audio/mpeg`,
//! `audio/ogg; codecs=opus`, `application/octet-stream`) and must fit it (`image/*` for an
//! image, …); `filename` is optional (a document without one is `file`); `base64` holds the
//! bytes (standard alphabet, padding optional), not empty. `caption` (or `text` when there is
//! no `caption`) is the caption; `text` is required only without `media`. The body may be up to
//! 64 MiB. In `/__fake/sent`, `type` is `chat` for a text; `text` is a media message's caption
//! as well; `sha256` is the lowercase hex SHA-256 of the bytes the fake received.
//!
//! Group messages: with `"group": "120363…"` (digits, optionally `CREATOR-TIME`), the message
//! arrives in the chat `GROUP@g.us`, named `group_name` (a new group without one: `Group
//! GROUP`); its author is `FROM@c.us`, its row's `data-id` is `false_GROUP@g.us_MSGID_FROM@c.us`
//! and its `data-pre-plain-text` names the sender (`name`).
//!
//! For the page's own modules (contract section 10): `stats` counts page loads (hellos), calls
//! of `sendSeen` and chats opened in `#main` (a click on a row or a `/send` link), so that a
//! test can tell that a worker read without opening or marking anything; `chats` gives the same
//! per chat. `modules` drops modules (names as `window.require` takes them) from the page loads
//! that follow, or restores them, as a new build of the real site would; page loads already
//! running keep theirs. The answer lists every module dropped, sorted.
//!
//! Phone numbers are
//! digits (a leading `+` is tolerated), as JSON strings or numbers. A body that is not the
//! expected JSON answers 400; every error body is `{"error": "..."}`.

use std::time::Instant;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State as AxumState},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    api::{JsonBody, Number, QueryArgs, Shared, lock, ok},
    media::{self, Media, MediaKind},
    state::{ChatSummary, Content, Failure, GroupRef, Outcome, SentView, Stats, Status},
};

/// The routes of the control API.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/__fake/health", get(health))
        .route("/__fake/scan", post(scan))
        .route("/__fake/link-code", post(link_code))
        .route("/__fake/unlink", post(unlink))
        .route("/__fake/conflict", post(conflict))
        .route(
            "/__fake/incoming",
            post(incoming).layer(DefaultBodyLimit::max(media::BODY_LIMIT)),
        )
        .route("/__fake/invalid-numbers", post(invalid_numbers))
        .route("/__fake/sent", get(sent))
        .route("/__fake/ack", post(ack))
        .route("/__fake/late-row", post(late_row))
        .route("/__fake/stats", get(stats))
        .route("/__fake/chats", get(chats))
        .route("/__fake/modules", post(modules))
}

async fn health() -> Json<Value> {
    ok()
}

#[derive(Deserialize)]
struct Scan {
    qr: String,
    phone: Number,
}

async fn scan(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<Scan>,
) -> Outcome<Json<Value>> {
    lock(&shared).scan(&body.qr, &body.phone.text(), Instant::now())?;
    Ok(ok())
}

#[derive(Deserialize)]
struct LinkCode {
    code: String,
    phone: Number,
}

async fn link_code(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<LinkCode>,
) -> Outcome<Json<Value>> {
    lock(&shared).enter_code(&body.code, &body.phone.text(), Instant::now())?;
    Ok(ok())
}

#[derive(Deserialize)]
struct Phone {
    phone: Number,
}

async fn unlink(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<Phone>,
) -> Outcome<Json<Value>> {
    lock(&shared).unlink(&body.phone.text())?;
    Ok(ok())
}

async fn conflict(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<Phone>,
) -> Outcome<Json<Value>> {
    lock(&shared).conflict(&body.phone.text(), Instant::now())?;
    Ok(ok())
}

#[derive(Deserialize)]
struct Incoming {
    to: Number,
    from: Number,
    #[serde(default)]
    name: String,
    text: Option<String>,
    caption: Option<String>,
    media: Option<IncomingMedia>,
    group: Option<Number>,
    group_name: Option<String>,
}

#[derive(Deserialize)]
struct IncomingMedia {
    #[serde(rename = "type")]
    kind: MediaKind,
    mimetype: Option<String>,
    filename: Option<String>,
    base64: String,
}

async fn incoming(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<Incoming>,
) -> Outcome<Json<Value>> {
    if body.group.is_none() && body.group_name.is_some() {
        return Err(Failure::BadRequest("group_name needs a group".into()));
    }
    let group_id = body.group.as_ref().map(Number::text);
    let group = group_id.as_deref().map(|id| GroupRef {
        id,
        name: body.group_name.as_deref(),
    });
    let content = match body.media {
        Some(file) => {
            // Decoded and hashed before the lock: a big file takes a while.
            let bytes = media::decode_base64("media.base64", &file.base64)?;
            let media = Media::incoming(
                file.kind,
                file.mimetype.as_deref(),
                file.filename.as_deref(),
                bytes,
            )?;
            let caption = body.caption.or(body.text).unwrap_or_default();
            Content::media(&caption, media)
        }
        None => {
            if body.caption.is_some() {
                return Err(Failure::BadRequest("caption needs a media".into()));
            }
            let text = body
                .text
                .ok_or_else(|| Failure::BadRequest("text is required without a media".into()))?;
            Content::text(&text)
        }
    };
    let id = lock(&shared).incoming(
        &body.to.text(),
        &body.from.text(),
        &body.name,
        content,
        group,
        Instant::now(),
    )?;
    Ok(Json(serde_json::json!({ "id": id })))
}

#[derive(Deserialize)]
struct InvalidNumbers {
    numbers: Vec<Number>,
}

async fn invalid_numbers(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<InvalidNumbers>,
) -> Outcome<Json<Value>> {
    let numbers: Vec<String> = body.numbers.iter().map(Number::text).collect();
    lock(&shared).add_invalid(&numbers)?;
    Ok(ok())
}

#[derive(Deserialize)]
struct SentQuery {
    from: String,
}

async fn sent(
    AxumState(shared): AxumState<Shared>,
    QueryArgs(query): QueryArgs<SentQuery>,
) -> Outcome<Json<Vec<SentView>>> {
    Ok(Json(lock(&shared).sent(&query.from, Instant::now())?))
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum AckStatus {
    Delivered,
    Read,
}

#[derive(Deserialize)]
struct Ack {
    id: String,
    status: AckStatus,
}

async fn ack(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<Ack>,
) -> Outcome<Json<Value>> {
    let status = match body.status {
        AckStatus::Delivered => Status::Delivered,
        AckStatus::Read => Status::Read,
    };
    lock(&shared).ack(&body.id, status)?;
    Ok(ok())
}

#[derive(Deserialize)]
struct LateRow {
    from: Number,
    to: Number,
    text: String,
}

async fn late_row(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<LateRow>,
) -> Outcome<Json<Value>> {
    let id = lock(&shared).late_row(&body.from.text(), &body.to.text(), &body.text)?;
    Ok(Json(serde_json::json!({ "id": id })))
}

async fn stats(AxumState(shared): AxumState<Shared>) -> Json<Stats> {
    Json(lock(&shared).stats())
}

#[derive(Deserialize)]
struct ChatsQuery {
    phone: String,
}

async fn chats(
    AxumState(shared): AxumState<Shared>,
    QueryArgs(query): QueryArgs<ChatsQuery>,
) -> Outcome<Json<Vec<ChatSummary>>> {
    Ok(Json(lock(&shared).chats(&query.phone)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModulesBody {
    #[serde(default)]
    drop: Vec<String>,
    #[serde(default)]
    restore: Vec<String>,
}

async fn modules(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<ModulesBody>,
) -> Outcome<Json<Value>> {
    let missing = lock(&shared).set_modules(&body.drop, &body.restore)?;
    Ok(Json(serde_json::json!({ "missing": missing })))
}
