//! JSON request bodies, read whatever the Content-Type says (old clients and `curl -d`
//! omit it), with errors in the API's shape: 400 `invalid_json` for malformed JSON, 400
//! `invalid_body` for JSON of the wrong shape, 413 `body_too_large` past the limit.
//!
//! The body is taken whole by the extractor and parsed by the handler, so that a handler can
//! answer 404 for an unknown session before it judges the body.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::{ApiError, MAX_BODY};

pub struct RawBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        format!("request bodies are limited to {MAX_BODY} bytes"),
                    )
                } else {
                    ApiError::bad_request("invalid_body", format!("could not read the body: {e}"))
                }
            })
    }
}

impl RawBody {
    /// The body as `T`; an empty body reads as JSON `null` (so `Option<_>` takes it as None).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let text: &[u8] = if self.0.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.0
        };
        // Syntax first, shape second: serde alone reports `[1,` as a wrong type.
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")))?;
        T::deserialize(value).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
    }
}
