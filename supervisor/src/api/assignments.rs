//! `/api/assign-number` and `/api/current-assignments`: the Laravel application's sales and
//! coordination numbers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::body::RawBody;
use super::error::check_session_id;
use super::{ApiError, AppState};
use crate::laravel::assignments::{AssignError, Kind};
use crate::laravel::env_file::EnvError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignRequest {
    session_id: String,
    #[serde(rename = "type")]
    kind: String,
}

impl From<AssignError> for ApiError {
    fn from(e: AssignError) -> Self {
        let message = e.to_string();
        match e {
            AssignError::Session(e) => e.into(),
            AssignError::NotLinked(_) => {
                ApiError::new(StatusCode::CONFLICT, "session_not_linked", message)
            }
            AssignError::Env(e) => {
                let what = match e {
                    EnvError::Missing(_) => "does not exist",
                    _ => "cannot be read or written",
                };
                ApiError::internal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "laravel_env_unavailable",
                    format!("the Laravel .env file {what}; nothing was changed"),
                    &e,
                )
            }
            AssignError::Store(e) => crate::sessions::registry::RegistryError::Store(e).into(),
        }
    }
}

pub async fn assign(State(state): State<AppState>, body: RawBody) -> Result<Json<Value>, ApiError> {
    let request: AssignRequest = body.json()?;
    let kind = Kind::parse(&request.kind).ok_or_else(|| {
        ApiError::bad_request("invalid_type", "type is \"sells\" or \"coordination\"")
    })?;
    check_session_id(&request.session_id)?;
    let assignment = state
        .assignments
        .assign(&state.sessions, kind, &request.session_id, None)
        .await?;
    Ok(Json(json!(assignment)))
}

pub async fn current(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let current = state.assignments.current(&state.sessions)?;
    let body: Map<String, Value> = current
        .into_iter()
        .map(|(kind, a)| (kind.as_str().to_owned(), json!(a)))
        .collect();
    Ok(Json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_failure_names_neither_the_path_nor_the_system_error() {
        let path = std::path::PathBuf::from("/home/forge/app/shared/.env");
        let cases = [
            (EnvError::Missing(path.clone()), "does not exist"),
            (
                EnvError::Write {
                    path: path.clone(),
                    source: std::io::Error::from_raw_os_error(30),
                },
                "cannot be read or written",
            ),
        ];
        for (env, says) in cases {
            let e = ApiError::from(AssignError::Env(env));
            assert_eq!(e.code, "laravel_env_unavailable");
            assert!(e.message.contains(says), "{}", e.message);
            for internal in ["/home/forge", "Read-only file system", "os error"] {
                assert!(!e.message.contains(internal), "{}", e.message);
            }
        }
    }
}
