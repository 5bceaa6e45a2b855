//! Any node answers any request: one for a session another node runs
//! (`/api/sessions/{id}` and below), or for another node (`/api/nodes/{id}/...`), goes to
//! that node's `--advertise-url` in one hop, and its answer comes back as it is.
//!
//! A forwarded request carries `x-wamux-forwarded`; the node that gets one serves it itself,
//! whatever it finds, so that two nodes that disagree for a moment never bounce a request
//! between them. An owner out of reach is a 503 `owner_unreachable`.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, AppState};

/// Marks a request one node sent another.
pub const FORWARDED: &str = "x-wamux-forwarded";

/// What a path is about, when it may belong to another node.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Session(&'a str),
    Node(&'a str),
}

/// The session or node a path names; `None` for what every node answers alike.
pub fn target(path: &str) -> Option<Target<'_>> {
    if let Some(rest) = path.strip_prefix("/api/sessions/") {
        let id = rest.split('/').next().filter(|id| !id.is_empty())?;
        // `POST /api/sessions/restore` is every node's own.
        return (rest != "restore").then_some(Target::Session(id));
    }
    let rest = path.strip_prefix("/api/nodes/")?;
    let id = rest.split('/').next().filter(|id| !id.is_empty())?;
    Some(Target::Node(id))
}

/// Headers that belong to one connection, not to the request or the answer.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "content-length"
    )
}

pub async fn forward(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(cluster) = state.cluster.clone() else {
        return next.run(request).await;
    };
    if request.headers().contains_key(FORWARDED) {
        return next.run(request).await;
    }
    let base = match target(request.uri().path()) {
        Some(Target::Session(id)) if !state.sessions.runs_here(id) => match state.store.owner(id) {
            Ok(Some(owner)) if owner.node != cluster.node_id() => owner.advertise_url,
            Ok(_) => return next.run(request).await,
            Err(e) => return ApiError::from(e).into_response(),
        },
        Some(Target::Node(id)) if id != cluster.node_id() => {
            match state.store.nodes(cluster.ttl_ms()) {
                Ok(nodes) => match nodes.into_iter().find(|n| n.id == id) {
                    Some(node) => node.advertise_url,
                    None => return next.run(request).await,
                },
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        _ => return next.run(request).await,
    };
    send(
        &state,
        cluster.node_id(),
        &base,
        request,
        state.forward_limit,
    )
    .await
}

async fn send(
    state: &AppState,
    node: &str,
    base: &str,
    request: Request,
    limit: usize,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, limit).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        )
        .into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mut out = state.forwarder.request(parts.method.clone(), &url);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    let answer = match out.header(FORWARDED, node).body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(%url, error = %e, "the node that runs it is out of reach");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "owner_unreachable",
                "the node that runs this session cannot be reached; try again shortly",
            )
            .into_response();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(%url, error = %e, "the node that runs it broke off its answer");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "owner_unreachable",
                "the node that runs this session broke off its answer; try again shortly",
            )
            .into_response();
        }
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !hop_by_hop(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
        .headers_mut()
        .entry(header::CONTENT_TYPE)
        .or_insert(header::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_session_or_node() {
        assert_eq!(target("/api/sessions/a1"), Some(Target::Session("a1")));
        assert_eq!(
            target("/api/sessions/a1/messages/7/media"),
            Some(Target::Session("a1"))
        );
        assert_eq!(target("/api/sessions/restore"), None);
        assert_eq!(target("/api/sessions"), None);
        assert_eq!(target("/api/sessions/"), None);
        assert_eq!(target("/api/nodes/n2/drain"), Some(Target::Node("n2")));
        assert_eq!(target("/api/nodes"), None);
        assert_eq!(target("/api/stats"), None);
    }
}
