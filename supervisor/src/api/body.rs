//! JSON request bodies, with errors in the API's shape: 415 `unsupported_media_type` unless the
//! body says it is `application/json` (parameters such as `; charset=utf-8` allowed), 400
//! `invalid_json` for malformed JSON, 400 `invalid_body` for JSON of the wrong shape, 413
//! `body_too_large` past the limit.
//!
//! The media type is what keeps other sites' pages out: a page can send `text/plain`, a form
//! or multipart to any address without asking, but not `application/json`. No body at all with
//! no Content-Type is an absent body (what the dashboard and `curl -X POST` send), which reads
//! as JSON `null`: fine where the body is optional, 400 `invalid_body` where it is not. Only
//! routes that read a body take this extractor; a route taking files would take multipart
//! with an extractor of its own.
//!
//! The body is taken whole by the extractor and judged by the handler, so that a handler can
//! answer 404 for an unknown session before it judges the body.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::{ApiError, MAX_BODY};

pub struct RawBody {
    bytes: Bytes,
    /// Whether the body says it is JSON, or is absent and says nothing.
    json_or_absent: bool,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media_type = declared_media_type(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request bodies are limited to {MAX_BODY} bytes"),
                )
            } else {
                ApiError::bad_request("invalid_body", format!("could not read the body: {e}"))
            }
        })?;
        let json_or_absent = match media_type {
            Some(media_type) => media_type == "application/json",
            None => bytes.is_empty(),
        };
        Ok(RawBody {
            bytes,
            json_or_absent,
        })
    }
}

/// The Content-Type without its parameters, lowercase; `Some("")` when it cannot be read.
pub(super) fn declared_media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("");
    Some(essence.trim().to_ascii_lowercase())
}

impl RawBody {
    /// The body as `T`; an empty body reads as JSON `null` (so `Option<_>` takes it as None).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if !self.json_or_absent {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request bodies are JSON: send Content-Type: application/json",
            ));
        }
        shaped(json_value(&self.bytes)?)
    }
}

/// A JSON body's value, its syntax checked; an empty body reads as `null`. Syntax first, shape
/// second ([`shaped`]): serde alone reports `[1,` as a wrong type.
pub(super) fn json_value(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")))
}

/// A JSON value as `T`: `invalid_body` when it has another shape.
pub(super) fn shaped<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    T::deserialize(value).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}
