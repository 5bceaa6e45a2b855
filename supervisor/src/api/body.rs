//! JSON request bodies, read whatever the Content-Type says (old clients and `curl -d`
//! omit it), with errors in the API's shape: 400 `invalid_json` for malformed JSON, 400
//! `invalid_body` for JSON of the wrong shape, 413 `body_too_large` past the limit.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::{ApiError, MAX_BODY};

/// A JSON body; an empty body reads as `T::default()` when `T` is `Option<_>`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::bad_request("invalid_body", e.to_string()),
                Category::Io | Category::Syntax | Category::Eof => {
                    ApiError::bad_request("invalid_json", format!("malformed JSON: {e}"))
                }
            }
        })
    }
}
