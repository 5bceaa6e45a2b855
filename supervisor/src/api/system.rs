//! The daemon as a whole: `/api/stats`, `/health`, `/ready` and `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::sessions::session::{SessionView, Status};

fn views(state: &AppState) -> Vec<SessionView> {
    state.sessions.list().iter().map(|s| s.view()).collect()
}

fn by_status(views: &[SessionView]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&str, usize> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for v in views {
        *counts.entry(v.status.as_str()).or_default() += 1;
    }
    counts
}

/// Totals by status, for `GET /api/sessions` as well.
pub fn session_totals(state: &AppState, views: &[SessionView]) -> Value {
    json!({
        "total": views.len(),
        "maxSessions": state.sessions.max_sessions(),
        "byStatus": by_status(views),
    })
}

pub async fn stats(State(state): State<AppState>) -> Json<Value> {
    let views = views(&state);
    let per_session: BTreeMap<&str, u64> = views
        .iter()
        .map(|v| (v.session_id.as_str(), v.memory_bytes.unwrap_or(0)))
        .collect();
    Json(json!({
        "sessions": session_totals(&state, &views),
        "memory": {
            "totalBytes": per_session.values().sum::<u64>(),
            "perSession": per_session,
        },
        "restarts": views.iter().map(|v| u64::from(v.restarts)).sum::<u64>(),
        "messages": messages(&state),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "isolation": isolation(),
        "warmSpares": {
            "wanted": state.sessions.spares_wanted(),
            "ready": state.sessions.spares_ready(),
        },
    }))
}

/// How the sessions' browsers are kept apart (`crate::egress::isolation`): `mode` is
/// `network-namespace` or `none`, and `reason` says why there is none.
fn isolation() -> Value {
    let isolation = crate::egress::isolation::current();
    json!({"mode": isolation.name(), "reason": isolation.reason()})
}

/// Each session's queue: how many messages wait to go out, and the age of the oldest.
fn queues(state: &AppState) -> Vec<(String, u64, u64)> {
    let now = crate::sessions::session::now_ms();
    match state.outbox.queues() {
        Ok(queues) => queues
            .into_iter()
            .map(|q| {
                let age = (now - q.oldest_created_at).max(0) as u64 / 1000;
                (q.session_id, q.pending, age)
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "could not read the outbox's queues");
            Vec::new()
        }
    }
}

fn messages(state: &AppState) -> Value {
    let queues = queues(state);
    let per_session: BTreeMap<&str, Value> = queues
        .iter()
        .map(|(id, n, age)| (id.as_str(), json!({"queued": n, "oldestAgeSeconds": age})))
        .collect();
    json!({
        "sent": state.metrics.sent(),
        "failed": state.metrics.failed(),
        "queued": queues.iter().map(|(_, n, _)| n).sum::<u64>(),
        "perSession": per_session,
    })
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // `/ready` is open to anyone who reaches the port: what is wrong, but where (paths) and
    // why (SQLite's words) go to the log only.
    let mut problems = Vec::new();
    if let Err(e) = state.store.check_writable() {
        tracing::error!(error = %e, "not ready: the store is not writable");
        problems.push("the store is not writable".to_owned());
    }
    for (what, path) in [
        ("chromedriver", &state.settings.chromedriver),
        ("Chromium", &state.settings.chromium),
    ] {
        if !path.is_file() {
            tracing::error!(path = %path.display(), "not ready: {what} not found");
            problems.push(format!("{what} not found"));
        }
    }
    if problems.is_empty() {
        Ok(Json(json!({"status": "ready", "isolation": isolation()})))
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            problems.join("; "),
        ))
    }
}

/// Writes one metric family: its header, then a sample per (labels, value).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, u64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let views = views(&state);
    let per_session = |value: fn(&SessionView) -> u64| {
        views
            .iter()
            .map(move |v| (format!("{{session=\"{}\"}}", v.session_id), value(v)))
            .collect::<Vec<_>>()
    };
    let mut out = String::new();
    family(
        &mut out,
        "wamux_sessions",
        "gauge",
        "Sessions by status.",
        by_status(&views)
            .into_iter()
            .map(|(status, n)| (format!("{{status=\"{status}\"}}"), n as u64)),
    );
    family(
        &mut out,
        "wamux_session_restarts_total",
        "counter",
        "Worker restarts per session.",
        per_session(|v| u64::from(v.restarts)),
    );
    family(
        &mut out,
        "wamux_session_memory_bytes",
        "gauge",
        "Memory (PSS) of each session's process group.",
        per_session(|v| v.memory_bytes.unwrap_or(0)),
    );
    family(
        &mut out,
        "wamux_messages_sent_total",
        "counter",
        "Messages sent.",
        [(String::new(), state.metrics.sent())],
    );
    family(
        &mut out,
        "wamux_messages_failed_total",
        "counter",
        "Sends that failed.",
        [(String::new(), state.metrics.failed())],
    );
    family(
        &mut out,
        "wamux_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        [(String::new(), state.started.elapsed().as_secs())],
    );
    let queues = queues(&state);
    family(
        &mut out,
        "wamux_outbox_queued",
        "gauge",
        "Messages waiting to be sent, per session.",
        queues
            .iter()
            .map(|(id, n, _)| (format!("{{session=\"{id}\"}}"), *n)),
    );
    family(
        &mut out,
        "wamux_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest message waiting to be sent, per session.",
        queues
            .iter()
            .map(|(id, _, age)| (format!("{{session=\"{id}\"}}"), *age)),
    );
    let webhooks = state.webhooks.stats().unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not read the webhook deliveries");
        Vec::new()
    });
    let now = crate::sessions::session::now_ms();
    let per_webhook = |value: &dyn Fn(&crate::store::DeliveryStats) -> u64| {
        webhooks
            .iter()
            .map(|w| (format!("{{webhook=\"{}\"}}", w.webhook_id), value(w)))
            .collect::<Vec<_>>()
    };
    family(
        &mut out,
        "wamux_webhook_deliveries_pending",
        "gauge",
        "Webhook deliveries waiting to be delivered, per endpoint.",
        per_webhook(&|w| w.pending),
    );
    family(
        &mut out,
        "wamux_webhook_deliveries_failed",
        "gauge",
        "Webhook deliveries given up (kept for --retention), per endpoint.",
        per_webhook(&|w| w.failed),
    );
    family(
        &mut out,
        "wamux_webhook_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest webhook delivery waiting, per endpoint (0 with none).",
        per_webhook(&|w| {
            w.oldest_pending_at
                .map_or(0, |at| (now - at).max(0) as u64 / 1000)
        }),
    );
    state.metrics.write_latency(&mut out);
    state.metrics.write_start_phases(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
