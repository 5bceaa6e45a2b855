//! `/api/sessions`: create, list, inspect, link (QR), start, stop, restart, kill, log out,
//! restore and delete. Sending is in `messages`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};

use super::query::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::RawBody;
use super::error::check_session_id;
use super::{ApiError, AppState};
use crate::sessions::pairing::PairingFailure;
use crate::sessions::registry::{RegistryError, Revision};
use crate::sessions::session::{Control, Session, generate_session_id, normalize_phone};

pub(super) fn session(state: &AppState, id: &str) -> Result<std::sync::Arc<Session>, ApiError> {
    check_session_id(id)?;
    Ok(state.sessions.get(id)?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    session_id: Option<String>,
    /// An upstream proxy for all the session's traffic (see `egress::upstream`).
    proxy: Option<String>,
}

pub async fn create(State(state): State<AppState>, body: RawBody) -> Result<Response, ApiError> {
    let body: CreateRequest = body.json::<Option<CreateRequest>>()?.unwrap_or_default();
    if let Some(proxy) = &body.proxy {
        crate::egress::upstream::ProxyUrl::parse(proxy).map_err(|e| {
            ApiError::bad_request("invalid_proxy", format!("invalid proxy URL: {e}"))
        })?;
    }
    let id = match body.session_id {
        Some(id) => {
            check_session_id(&id)?;
            id
        }
        None => generate_session_id(),
    };
    let id = state.sessions.create(id, body.proxy)?;
    let base = format!("/api/sessions/{id}");
    let body = json!({
        "sessionId": id,
        "qrUrl": format!("{base}/qr"),
        "statusUrl": format!("{base}/status"),
    });
    Ok((StatusCode::CREATED, [(header::LOCATION, base)], Json(body)).into_response())
}

/// The last body of `GET /api/sessions` and the [`Revision`] it was built at: dashboards and
/// monitors ask for it often, and it changes only when a session does.
#[derive(Default)]
pub struct ListCache(std::sync::Mutex<Option<(Revision, Bytes)>>);

pub async fn list(State(state): State<AppState>) -> Response {
    // Read before building: a change made meanwhile gives the next request another revision.
    let revision = state.sessions.revision();
    let cached = state
        .list_cache
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .filter(|(at, _)| Some(*at) == revision)
        .map(|(_, body)| body.clone());
    let body = match cached {
        Some(body) => body,
        None => {
            let sessions: Vec<_> = state.sessions.list().iter().map(|s| s.view()).collect();
            let body = Bytes::from(
                serde_json::to_vec(&json!({
                    "stats": super::system::session_totals(&state, &sessions),
                    "sessions": sessions,
                }))
                .expect("JSON values serialize"),
            );
            if let Some(revision) = revision {
                *state.list_cache.0.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((revision, body.clone()));
            }
            body
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingCodeRequest {
    phone_number: String,
}

pub async fn pairing_code(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<Json<Value>, ApiError> {
    let session = session(&state, &id)?;
    let body: PairingCodeRequest = body.json()?;
    let phone = normalize_phone(&body.phone_number).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_phone_number",
            "the phone's number is 8 to 15 digits, with the country code; '+', spaces and dashes are ignored",
        )
    })?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    if !session.control(Control::PairingCode {
        phone_number: phone,
        reply,
    }) {
        return Err(RegistryError::Gone.into());
    }
    let code = answer
        .await
        .unwrap_or(Err(PairingFailure::Gone))
        .map_err(|failure| {
            let status = match failure {
                PairingFailure::AlreadyLinked | PairingFailure::NotReady(_) => StatusCode::CONFLICT,
                PairingFailure::Failed(_) => StatusCode::BAD_GATEWAY,
                PairingFailure::Gone => StatusCode::SERVICE_UNAVAILABLE,
            };
            ApiError::new(status, failure.code(), failure.message())
        })?;
    Ok(Json(json!(code)))
}

pub async fn restore(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let started = state.sessions.restore_stopped().await?;
    Ok(Json(json!({"started": started})))
}

pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(session(&state, &id)?.view())))
}

pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view = session(&state, &id)?.view();
    Ok(Json(json!({
        "sessionId": view.session_id,
        "status": view.status,
        "statusSince": view.status_since,
        "qrAvailable": view.qr_available,
        "phoneNumber": view.phone_number,
        "lastError": view.last_error,
        "restarts": view.restarts,
    })))
}

#[derive(Debug, Deserialize)]
pub struct QrQuery {
    format: Option<String>,
}

pub async fn qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<QrQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = session(&state, &id)?;
    if let Some(other) = query
        .format
        .as_deref()
        .filter(|f| !["raw", "png"].contains(f))
    {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!("unknown format {other:?}: use png or raw"),
        ));
    }
    let Some(payload) = session.state().qr else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "qr_not_available",
            format!(
                "no QR code is on show for this session (status {})",
                session.state().status.as_str()
            ),
        ));
    };
    let no_store = (header::CACHE_CONTROL, "no-store");
    let render = || {
        crate::api::qr_png::render_png(&payload)
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "qr_unrenderable", e.to_string()))
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    match query.format.as_deref() {
        Some("raw") => Ok(([no_store], Json(json!({"qr": payload}))).into_response()),
        None if wants_json => {
            use base64::Engine;
            let png = base64::engine::general_purpose::STANDARD.encode(render()?);
            Ok(([no_store], Json(json!({"qr": payload, "png": png}))).into_response())
        }
        None | Some(_) => {
            Ok(([(header::CONTENT_TYPE, "image/png"), no_store], render()?).into_response())
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    session(&state, &id)?;
    state.sessions.delete(&id).await?;
    Ok(Json(json!({"sessionId": id, "deleted": true})))
}

pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = session(&state, &id)?;
    state.sessions.start(&id).await?;
    Ok(Json(json!(session.view())))
}

pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = session(&state, &id)?;
    state.sessions.stop(&id, false).await?;
    Ok(Json(json!(session.view())))
}

pub async fn kill(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = session(&state, &id)?;
    state.sessions.stop(&id, true).await?;
    Ok(Json(json!(session.view())))
}

pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = session(&state, &id)?;
    state.sessions.restart(&id).await?;
    Ok(Json(json!(session.view())))
}

pub async fn logout(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = session(&state, &id)?;
    state.sessions.logout(&id).await?;
    Ok(Json(json!(session.view())))
}
