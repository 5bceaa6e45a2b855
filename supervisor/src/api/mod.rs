//! The HTTP API: JSON in and out, every error as `{"error": {"code", "message"}}`.

mod body;
mod error;
mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::manager::Manager;

/// Request bodies larger than this are refused with 413 before they are read whole.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub manager: Arc<Manager>,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/sessions", post(sessions::create).get(sessions::list))
        .route(
            "/api/sessions/{id}",
            get(sessions::detail).delete(sessions::delete),
        )
        .route("/api/sessions/{id}/status", get(sessions::status))
        .route("/api/sessions/{id}/qr", get(sessions::qr))
        .route(
            "/api/sessions/{id}/send-message",
            post(sessions::send_message),
        )
        .route("/api/sessions/{id}/start", post(sessions::start))
        .route("/api/sessions/{id}/stop", post(sessions::stop))
        .route("/api/sessions/{id}/kill", post(sessions::kill))
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
