//! `/api/nodes`: the nodes sharing the database, and draining one. Without `--database`
//! there is one node, this one, and nothing to drain to.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::cluster::node::drain as drain_node;

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(cluster) = &state.cluster else {
        let sessions: Vec<String> = state.sessions.local_ids();
        return Ok(Json(json!({"nodes": [{
            "id": "local",
            "advertiseUrl": null,
            "sessions": sessions,
            "capacity": state.sessions.max_sessions(),
            "lastHeartbeat": crate::sessions::session::now_ms(),
            "alive": true,
            "draining": false,
        }]})));
    };
    let nodes = state.store.nodes(cluster.ttl_ms())?;
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|n| {
            json!({
                "id": n.id,
                "advertiseUrl": n.advertise_url,
                "sessions": n.sessions,
                "capacity": n.capacity,
                "lastHeartbeat": n.heartbeat_at,
                "alive": n.alive,
                "draining": n.draining,
            })
        })
        .collect();
    Ok(Json(json!({"nodes": nodes})))
}

/// Starts draining this node (a request for another node was forwarded to it already);
/// answers at once, the sessions moving one by one after.
pub async fn drain(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cluster = state.cluster.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "single_node",
            "this wamux runs alone (no --database): there is no other node to drain to",
        )
    })?;
    if id != cluster.node_id() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "node_not_found",
            format!("no node {id:?} shares this database"),
        ));
    }
    let (ctx, sessions) = (state.context.clone(), state.sessions.clone());
    if let Some(ctx) = ctx {
        tokio::spawn(drain_node(ctx, sessions));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"node": id, "draining": true})),
    ))
}
