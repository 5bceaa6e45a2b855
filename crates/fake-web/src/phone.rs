//! `GET /__fake/phone`: a page for a person without a phone. It lists the QR payloads and
//! pairing codes on show (each with a "Scan as +number" / "Enter on the phone" button), the
//! linked accounts (unlink, conflict, their chats and sent messages with delivered/read
//! buttons), a form for incoming messages and one for invalid numbers. Its script polls
//! `GET /__fake/phone/state` every second and acts through the control API; it writes all text
//! with `textContent`, so nothing it shows is interpreted as HTML.

use std::time::Instant;

use axum::{
    Json, Router,
    extract::State as AxumState,
    http::header,
    response::{Html, IntoResponse, Response},
    routing::get,
};

use crate::{
    api::{Shared, lock},
    state::PhoneView,
};

const PHONE_HTML: &str = include_str!("../assets/phone.html");
const PHONE_JS: &str = include_str!("../assets/phone.js");

/// The routes of the phone page.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/__fake/phone", get(page))
        .route("/__fake/phone/state", get(state))
        .route("/__fake/assets/phone.js", get(script))
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(PHONE_HTML)).into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PHONE_JS,
    )
        .into_response()
}

async fn state(AxumState(shared): AxumState<Shared>) -> Json<PhoneView> {
    Json(lock(&shared).phone_view(Instant::now()))
}
