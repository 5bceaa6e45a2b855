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
//! | `POST /__fake/invalid-numbers {"numbers": [...]}` | 200 |
//! | `GET /__fake/sent?from=DIGITS` | 200 `[{"id", "to", "text", "at", "status"}]`, oldest first |
//! | `POST /__fake/ack {"id", "status": "delivered" or "read"}` | 200; 404 unknown id |
//! | `POST /__fake/late-row {"from", "to", "text"}` | 200 `{"id"}`; 404 `from` not linked |
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
//! Phone numbers are
//! digits (a leading `+` is tolerated), as JSON strings or numbers. A body that is not the
//! expected JSON answers 400; every error body is `{"error": "..."}`.

use std::time::Instant;

use axum::{
    Json, Router,
    extract::{Query, State as AxumState},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    api::{JsonBody, Number, Shared, lock, ok},
    state::{Outcome, SentView, Status},
};

/// The routes of the control API.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/__fake/health", get(health))
        .route("/__fake/scan", post(scan))
        .route("/__fake/link-code", post(link_code))
        .route("/__fake/unlink", post(unlink))
        .route("/__fake/conflict", post(conflict))
        .route("/__fake/incoming", post(incoming))
        .route("/__fake/invalid-numbers", post(invalid_numbers))
        .route("/__fake/sent", get(sent))
        .route("/__fake/ack", post(ack))
        .route("/__fake/late-row", post(late_row))
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
    text: String,
}

async fn incoming(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<Incoming>,
) -> Outcome<Json<Value>> {
    let id = lock(&shared).incoming(
        &body.to.text(),
        &body.from.text(),
        &body.name,
        &body.text,
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
    Query(query): Query<SentQuery>,
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
