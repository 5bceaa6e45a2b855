//! The dashboard: static pages and their script and style, compiled into the binary so the
//! daemon needs no files, no CDN and no network to show it. The pages hold no data: the script
//! fetches everything from the API, with the API key when the daemon has one.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const SESSIONS: &str = include_str!("../../assets/dashboard/sessions.html");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../../assets/dashboard/app.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // A new binary may bring new assets: browsers must check each time.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}

pub async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn sessions() -> impl IntoResponse {
    asset("text/html; charset=utf-8", SESSIONS)
}

pub async fn app_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub async fn app_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}
