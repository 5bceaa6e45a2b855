//! The one error type of the API and its JSON body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::sessions::registry::RegistryError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// An error whose cause (an SQLite message, a path, a system error) is for the log only:
    /// the client reads `message`, which must say what failed without it.
    pub fn internal(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        cause: &dyn std::error::Error,
    ) -> Self {
        tracing::error!(code, error = %cause, "request failed");
        Self::new(status, code, message)
    }
}

/// 400 `invalid_session_id` unless `id` is a well-formed session id.
pub fn check_session_id(id: &str) -> Result<(), ApiError> {
    if crate::sessions::session::valid_session_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_session_id",
            "session ids are 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        RegistryError::Store(e).into()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::Exists(_) => Self::new(StatusCode::CONFLICT, "session_exists", message),
            RegistryError::Limit(_) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "session_limit_reached",
                format!("{message}; delete a session or raise --max-sessions"),
            ),
            RegistryError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "session_not_found", message)
            }
            RegistryError::Store(e) => Self::internal(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the session store failed; the daemon's log says why",
                &e,
            ),
            RegistryError::Gone => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_unavailable",
                "the session is shutting down",
            ),
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_store_failure_says_nothing_of_the_database() {
        let sqlite = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some("disk I/O error on /srv/wamux/data/wamux.db".into()),
        );
        let e = ApiError::from(RegistryError::Store(StoreError::Sql(sqlite.into())));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        );
        for internal in ["/srv", "wamux.db", "disk I/O", "database error"] {
            assert!(!e.message.contains(internal), "{}", e.message);
        }
    }
}
