//! The site itself: the app page at `/` and `/send`, its script and style, and the private
//! endpoints the page script talks to (all under `/__fake/page/`).
//!
//! A page load registers with `POST /__fake/page/hello {"token", "send_phone"}` and then polls
//! `GET /__fake/page/poll?page=ID` every 150 ms for the [`crate::state::View`] it must show.
//! The user's actions are posts with `{"page": ID, ...}`: `open`, `send` (answered with the
//! message's id and the late rows to show before it), `dismiss`,
//! `restart-qr`, `phone-login`, `request-code`, `bye` (sent with `navigator.sendBeacon` on
//! `pagehide`). `GET /__fake/page/qr?payload=P` gives the QR matrix to draw on the canvas.
//!
//! The page's own modules (contract section 10) use three more:
//! `POST /__fake/page/send {"page", "jid", "text", "id"}` with a message id the page chose
//! (idempotent: the same id again adds nothing and answers it with `before: []`),
//! `GET /__fake/page/exists?page=ID&phone=DIGITS` → `{"exists": bool}` for `queryWidExists`,
//! and `POST /__fake/page/seen {"page", "jid"}` for `sendSeen` (marks the chat read and counts
//! the call).
//!
//! Media (contract section 11), from the page's media editor and for its rows:
//! `POST /__fake/page/send-media {"page", "jid", "id", "via", "filename", "mimetype",
//! "caption", "base64"}`, where `via` is the attach-menu item whose input the file came through
//! (`photos` or `document`), `mimetype` the File's `type` (may be empty), `base64` its bytes
//! and `id` the MSGID the page chose (optional; idempotent as for `send`); the body may be up to
//! 64 MiB. It answers as `send`, plus `media: {"id", "kind", "mimetype", "filename", "size"}`;
//! the photos input refuses what is neither an image nor a video (400).
//! `GET /__fake/page/media?page=ID&id=MSGID` serves the bytes of a media message of the page's
//! account, with its mimetype as `Content-Type`; the page turns them into a `blob:` URL.
//!
//! A request whose `User-Agent` contains `HeadlessChrome` gets the refusal page instead of the
//! app; the script checks `navigator.userAgent` as well.

use std::time::Instant;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State as AxumState},
    http::{HeaderMap, HeaderValue, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use qrcode::{Color, QrCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    api::{JsonBody, QueryArgs, Shared, lock, ok},
    media::{self, Media, Via},
    state::{Failure, Hello, Outcome, SendAnswer, View},
};

const APP_HTML: &str = include_str!("../assets/app.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const HEADLESS_HTML: &str = include_str!("../assets/headless.html");

/// The routes of the site and of its page script.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(app_page))
        .route("/send", get(app_page))
        .route("/__fake/assets/app.js", get(app_js))
        .route("/__fake/assets/app.css", get(app_css))
        .route("/__fake/page/hello", post(hello))
        .route("/__fake/page/poll", get(poll))
        .route("/__fake/page/qr", get(qr_matrix))
        .route("/__fake/page/open", post(open))
        .route("/__fake/page/send", post(send))
        .route(
            "/__fake/page/send-media",
            post(send_media).layer(DefaultBodyLimit::max(media::BODY_LIMIT)),
        )
        .route("/__fake/page/media", get(media_bytes))
        .route("/__fake/page/exists", get(exists))
        .route("/__fake/page/seen", post(seen))
        .route("/__fake/page/dismiss", post(dismiss))
        .route("/__fake/page/restart-qr", post(restart_qr))
        .route("/__fake/page/phone-login", post(phone_login))
        .route("/__fake/page/request-code", post(request_code))
        .route("/__fake/page/bye", post(bye))
}

/// A response that the browser must not cache: a restarted fake may serve other assets.
fn uncached(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn app_page(headers: HeaderMap) -> Response {
    let headless = headers
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| agent.contains("HeadlessChrome"));
    let body = if headless { HEADLESS_HTML } else { APP_HTML };
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

async fn app_js() -> Response {
    uncached("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    uncached("text/css; charset=utf-8", APP_CSS)
}

#[derive(Deserialize)]
struct HelloBody {
    token: Option<String>,
    send_phone: Option<String>,
}

async fn hello(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<HelloBody>,
) -> Json<Hello> {
    let token = body.token.filter(|token| !token.is_empty());
    Json(lock(&shared).hello(token.as_deref(), body.send_phone.as_deref(), Instant::now()))
}

#[derive(Deserialize)]
struct PageQuery {
    page: String,
}

async fn poll(
    AxumState(shared): AxumState<Shared>,
    QueryArgs(query): QueryArgs<PageQuery>,
) -> Outcome<Json<View>> {
    lock(&shared)
        .view(&query.page, Instant::now())
        .map(Json)
        .ok_or_else(|| Failure::NotFound(format!("no page {}", query.page)))
}

#[derive(Deserialize)]
struct QrQuery {
    payload: String,
}

/// A QR matrix: `size` × `size` modules, row by row, `1` dark.
#[derive(Serialize)]
struct QrMatrix {
    size: usize,
    modules: String,
}

async fn qr_matrix(
    AxumState(shared): AxumState<Shared>,
    QueryArgs(query): QueryArgs<QrQuery>,
) -> Outcome<Json<QrMatrix>> {
    if !lock(&shared).knows_payload(&query.payload) {
        return Err(Failure::NotFound("unknown payload".into()));
    }
    let code = QrCode::new(query.payload.as_bytes())
        .map_err(|error| Failure::BadRequest(format!("cannot encode the payload: {error}")))?;
    let modules = code
        .to_colors()
        .into_iter()
        .map(|color| if color == Color::Dark { '1' } else { '0' })
        .collect();
    Ok(Json(QrMatrix {
        size: code.width(),
        modules,
    }))
}

#[derive(Deserialize)]
struct PageBody {
    page: String,
}

#[derive(Deserialize)]
struct OpenBody {
    page: String,
    jid: String,
}

async fn open(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<OpenBody>,
) -> Outcome<Json<Value>> {
    lock(&shared).open_chat(&body.page, &body.jid)?;
    Ok(ok())
}

#[derive(Deserialize)]
struct SendBody {
    page: String,
    jid: String,
    text: String,
    id: Option<String>,
}

/// Answers `{"id", "before": [rows]}`: the rows to show before the sent one.
async fn send(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<SendBody>,
) -> Outcome<Json<SendAnswer>> {
    let answer = lock(&shared).send(
        &body.page,
        &body.jid,
        &body.text,
        body.id.as_deref(),
        Instant::now(),
    )?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct SendMediaBody {
    page: String,
    jid: String,
    id: Option<String>,
    via: Via,
    filename: String,
    #[serde(default)]
    mimetype: String,
    #[serde(default)]
    caption: String,
    base64: String,
}

async fn send_media(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<SendMediaBody>,
) -> Outcome<Json<SendAnswer>> {
    // Decoded and hashed before the lock: a big file takes a while.
    let bytes = media::decode_base64("base64", &body.base64)?;
    let media = Media::upload(body.via, &body.mimetype, &body.filename, bytes)?;
    let answer = lock(&shared).send_media(
        &body.page,
        &body.jid,
        &body.caption,
        body.id.as_deref(),
        media,
        Instant::now(),
    )?;
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct MediaQuery {
    page: String,
    id: String,
}

async fn media_bytes(
    AxumState(shared): AxumState<Shared>,
    QueryArgs(query): QueryArgs<MediaQuery>,
) -> Outcome<Response> {
    let (mimetype, bytes) = lock(&shared).media(&query.page, &query.id)?;
    let content_type = HeaderValue::from_str(&mimetype)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ExistsQuery {
    page: String,
    phone: String,
}

async fn exists(
    AxumState(shared): AxumState<Shared>,
    QueryArgs(query): QueryArgs<ExistsQuery>,
) -> Outcome<Json<Value>> {
    let exists = lock(&shared).exists(&query.page, &query.phone)?;
    Ok(Json(serde_json::json!({ "exists": exists })))
}

async fn seen(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<OpenBody>,
) -> Outcome<Json<Value>> {
    lock(&shared).seen(&body.page, &body.jid)?;
    Ok(ok())
}

async fn dismiss(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<PageBody>,
) -> Outcome<Json<Value>> {
    lock(&shared).dismiss(&body.page)?;
    Ok(ok())
}

async fn restart_qr(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<PageBody>,
) -> Outcome<Json<Value>> {
    lock(&shared).restart_qr(&body.page, Instant::now())?;
    Ok(ok())
}

async fn phone_login(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<PageBody>,
) -> Outcome<Json<Value>> {
    lock(&shared).phone_login(&body.page)?;
    Ok(ok())
}

#[derive(Deserialize)]
struct CodeBody {
    page: String,
    phone: String,
}

async fn request_code(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<CodeBody>,
) -> Outcome<Json<Value>> {
    let code = lock(&shared).request_code(&body.page, &body.phone, Instant::now())?;
    Ok(Json(serde_json::json!({ "code": code })))
}

async fn bye(
    AxumState(shared): AxumState<Shared>,
    JsonBody(body): JsonBody<PageBody>,
) -> Json<Value> {
    lock(&shared).bye(&body.page);
    ok()
}
