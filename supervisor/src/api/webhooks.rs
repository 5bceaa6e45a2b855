//! `/api/webhooks`: the webhook endpoints and their deliveries ([`crate::messaging::webhooks`]).
//!
//! An endpoint's secret is in the answer to its creation only. Errors: 400 `invalid_url`,
//! `invalid_events`, `invalid_sessions`, `invalid_secret`, `invalid_status`, `invalid_limit`,
//! `invalid_cursor`; 404 `webhook_not_found`, `delivery_not_found`.

use axum::Json;
use axum::extract::{Path, State};

use super::query::Query;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::RawBody;
use super::{ApiError, AppState};
use crate::messaging::webhooks::{NewEndpoint, WebhookError};
use crate::store::{Delivery, DeliveryStatus, Endpoint, EndpointChange};

const MAX_LIMIT: u32 = 500;

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        let message = e.to_string();
        match e {
            WebhookError::InvalidUrl(_) => ApiError::bad_request("invalid_url", message),
            WebhookError::InvalidEvents(_) => ApiError::bad_request("invalid_events", message),
            WebhookError::InvalidSessions(_) => ApiError::bad_request("invalid_sessions", message),
            WebhookError::InvalidSecret(_) => ApiError::bad_request("invalid_secret", message),
            WebhookError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "webhook_not_found", message)
            }
            WebhookError::DeliveryNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "delivery_not_found", message)
            }
            WebhookError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    url: String,
    events: Option<Vec<String>>,
    sessions: Option<Vec<String>>,
    secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    url: Option<String>,
    events: Option<Vec<String>>,
    sessions: Option<Vec<String>>,
    secret: Option<String>,
    enabled: Option<bool>,
}

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "sessions": e.sessions,
        "enabled": e.enabled,
        "disabledReason": e.disabled_reason,
        "createdAt": e.created_at,
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id.to_string(),
        "webhookMessageId": format!("msg_{}", d.event_id),
        "eventId": d.event_id.to_string(),
        "sessionId": d.session_id,
        "type": d.kind.as_deref().and_then(crate::messaging::webhooks::webhook_type),
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "createdAt": d.created_at,
        "nextAttemptAt": (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
        "lastAttemptAt": d.last_attempt_at,
        "lastResponse": d.last_status.map(|status| json!({"status": status, "body": d.last_body})),
        "lastError": d.last_error,
        "finishedAt": d.finished_at,
    })
}

pub async fn create(
    State(state): State<AppState>,
    body: RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: CreateRequest = body.json()?;
    let (endpoint, secret) = state.webhooks.create(NewEndpoint {
        url: request.url,
        events: request.events,
        sessions: request.sessions,
        secret: request.secret,
    })?;
    let mut answer = endpoint_json(&endpoint);
    answer["secret"] = secret.into();
    Ok((StatusCode::CREATED, Json(answer)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let endpoints = state.webhooks.list()?;
    Ok(Json(
        json!({"webhooks": endpoints.iter().map(endpoint_json).collect::<Vec<_>>()}),
    ))
}

pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(endpoint_json(&state.webhooks.get(&id)?)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<Json<Value>, ApiError> {
    state.webhooks.get(&id)?;
    let request: UpdateRequest = body.json()?;
    let updated = state.webhooks.update(
        &id,
        EndpointChange {
            url: request.url,
            events: request.events,
            sessions: request.sessions,
            secret: request.secret,
            enabled: request.enabled,
        },
    )?;
    Ok(Json(endpoint_json(&updated)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.webhooks.delete(&id)?;
    Ok(Json(json!({"id": id, "deleted": true})))
}

#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    "status is \"pending\", \"delivered\" or \"failed\"",
                )
            })
        })
        .transpose()?;
    let (limit, before) =
        super::paging::parse(query.limit.as_deref(), query.before.as_deref(), MAX_LIMIT)?;
    let deliveries = state.webhooks.deliveries(&id, status, before, limit)?;
    let next_before = (deliveries.len() == limit as usize)
        .then(|| deliveries.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(Json(json!({
        "deliveries": deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
        "nextBefore": next_before,
    })))
}

pub async fn retry(
    State(state): State<AppState>,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let delivery = delivery
        .parse::<i64>()
        .map_err(|_| WebhookError::DeliveryNotFound)?;
    let delivery = state.webhooks.retry(&id, delivery)?;
    Ok((StatusCode::ACCEPTED, Json(delivery_json(&delivery))))
}
