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
        "messages": {"sent": state.metrics.sent(), "failed": state.metrics.failed()},
        "uptimeSeconds": state.started.elapsed().as_secs(),
    }))
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut problems = Vec::new();
    if let Err(e) = state.store.check_writable() {
        problems.push(format!("the store is not writable: {e}"));
    }
    for (what, path) in [
        ("chromedriver", &state.settings.chromedriver),
        ("Chromium", &state.settings.chromium),
    ] {
        if !path.is_file() {
            problems.push(format!("{what} not found at {}", path.display()));
        }
    }
    if problems.is_empty() {
        Ok(Json(json!({"status": "ready"})))
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
    state.metrics.write_latency(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
