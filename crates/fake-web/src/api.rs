//! HTTP plumbing shared by every endpoint: the shared state handle, JSON bodies and query
//! strings that answer a JSON 400 on any parse error (bodies whatever the content type, so
//! `navigator.sendBeacon` and `curl -d` work), phone numbers given as JSON strings or numbers, and the mapping of [`Failure`] to status codes
//! with a stable body `{"error": "..."}`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, de::DeserializeOwned};

use crate::state::{Failure, State};

/// The state shared by all handlers.
pub type Shared = Arc<Mutex<State>>;

/// Locks the state; a handler that panicked while holding the lock leaves a usable state behind
/// (every operation keeps it consistent before it can panic), so poisoning is ignored.
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON request body; anything unparsable is a 400.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| Failure::BadRequest(rejection.body_text()))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| Failure::BadRequest(format!("bad JSON body: {error}")))
    }
}

/// A query string; anything missing or unparsable is a 400 with a JSON body.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| QueryArgs(query))
            .map_err(|rejection| Failure::BadRequest(rejection.body_text()))
    }
}

/// A phone number in a JSON body: `"5215512345678"` or `5215512345678`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Text(String),
    Integer(u64),
}

impl Number {
    /// The number as text (still to be checked with [`crate::state::digits`]).
    pub fn text(&self) -> String {
        match self {
            Number::Text(text) => text.clone(),
            Number::Integer(number) => number.to_string(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Failure::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            Failure::NotFound(message) => (StatusCode::NOT_FOUND, message),
            Failure::Conflict(message) => (StatusCode::CONFLICT, message),
            Failure::Gone(message) => (StatusCode::GONE, message),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// The body of a successful action without a result.
pub fn ok() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "ok": true }))
}
