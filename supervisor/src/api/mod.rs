//! The HTTP API: JSON in and out, every error as `{"error": {"code", "message"}}`.
//!
//! Every route is declared once, in [`routes!`] below: the same declaration builds the router
//! and the OpenAPI document ([`openapi`]), so the document cannot miss a route.

mod assignments;
mod auth;
mod body;
mod dashboard;
mod doors;
mod error;
mod events;
mod media;
mod messages;
mod multipart;
mod nodes;
pub mod openapi;
mod paging;
mod qr_png;
mod query;
mod sessions;
mod system;
mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use doors::{Doors, check_allowed_host, check_public_url};
pub use error::ApiError;

use crate::cluster::Cluster;
use crate::daemon::metrics::Metrics;
use crate::laravel::assignments::Assignments;
use crate::messaging::outbox::Outbox;
use crate::messaging::webhooks::Webhooks;
use crate::sessions::events::EventBus;
use crate::sessions::registry::Registry;
use crate::store::Store;
use crate::supervision::context::Context;

/// Request bodies larger than this are refused with 413 before they are read whole.
pub const MAX_BODY: usize = 64 * 1024;

/// What the API may use of the daemon, and nothing more. Every request's handler and
/// middleware take a copy: one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub sessions: Arc<Registry>,
    pub assignments: Arc<Assignments>,
    pub events: EventBus,
    pub metrics: Arc<Metrics>,
    pub outbox: Arc<Outbox>,
    pub webhooks: Arc<Webhooks>,
    /// For `/ready` only: whether the store takes writes.
    pub store: Arc<Store>,
    pub settings: Arc<Settings>,
    pub started: Instant,
    pub list_cache: sessions::ListCache,
    /// Cancelled when the daemon stops, so that endless responses (event streams) end and the
    /// graceful shutdown of the HTTP server is not held up by them.
    pub shutdown: CancellationToken,
    /// With several nodes: this node's part, and what forwards requests to the others.
    pub cluster: Option<Arc<Cluster>>,
    pub forwarder: reqwest::Client,
    /// The largest body forwarded to another node.
    pub forward_limit: usize,
    /// What a drain needs; `None` in tests that assemble no daemon.
    pub context: Option<Arc<Context>>,
}

/// The configuration the API reads.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub api_key: Option<String>,
    /// `/ready` checks that these exist.
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
    /// The hosts the API answers to, and so its own origins.
    pub doors: Doors,
}

/// One documented route.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// The name of the request body's schema in the document's components.
    pub body: Option<&'static str>,
    /// Status codes with what they mean; 2xx first.
    pub responses: &'static [(u16, &'static str)],
    /// Whether `--api-key` guards it.
    pub guarded: bool,
}

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path {
        $summary:literal, guarded: $guarded:literal, body: $body:expr,
        [$($status:literal => $desc:literal),* $(,)?]
    } )*) => {
        /// Every route the API serves.
        pub const ROUTES: &[RouteDoc] = &[$(RouteDoc {
            method: stringify!($method),
            path: $path,
            summary: $summary,
            body: $body,
            responses: &[$(($status, $desc)),*],
            guarded: $guarded,
        }),*];

        fn guarded_routes() -> Router<AppState> {
            let router = Router::new();
            $(let router = if $guarded {
                router.route($path, axum::routing::$method($handler))
            } else {
                router
            };)*
            router
        }

        fn open_routes() -> Router<AppState> {
            let router = Router::new();
            $(let router = if $guarded {
                router
            } else {
                router.route($path, axum::routing::$method($handler))
            };)*
            router
        }
    };
}

routes! {
    post "/api/sessions" => sessions::create {
        "Create a session; its worker starts at once", guarded: true, body: Some("CreateSession"),
        [201 => "Created", 400 => "invalid_session_id, invalid_json, invalid_body", 409 => "session_exists",
         413 => "body_too_large", 429 => "session_limit_reached"]
    }
    get "/api/sessions" => sessions::list {
        "List the sessions with totals", guarded: true, body: None, [200 => "SessionList"]
    }
    post "/api/sessions/restore" => sessions::restore {
        "Start every STOPPED or FAILED session", guarded: true, body: None, [200 => "Restored"]
    }
    get "/api/sessions/{id}" => sessions::detail {
        "Everything known of a session", guarded: true, body: None,
        [200 => "Session", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    delete "/api/sessions/{id}" => sessions::delete {
        "Delete a session: its processes and profile are gone before the answer", guarded: true, body: None,
        [200 => "Deleted", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    get "/api/sessions/{id}/status" => sessions::status {
        "A session's status", guarded: true, body: None,
        [200 => "Status", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    get "/api/sessions/{id}/qr" => sessions::qr {
        "The QR code on show: PNG, ?format=raw, or JSON with Accept: application/json", guarded: true, body: None,
        [200 => "image/png or Qr", 400 => "invalid_session_id, invalid_format", 404 => "session_not_found, qr_not_available"]
    }
    post "/api/sessions/{id}/send-message" => messages::send {
        "Send a text: stored first, then 200 once WhatsApp shows it sent or 202 while it waits (?wait=false: at once); Idempotency-Key makes a retry safe",
        guarded: true, body: Some("SendMessage"),
        [200 => "Sent", 202 => "Queued", 400 => "invalid_session_id, invalid_phone_number, invalid_message, invalid_ttl, invalid_idempotency_key, invalid_json, invalid_body",
         404 => "session_not_found", 409 => "session_not_ready", 413 => "body_too_large",
         422 => "number_not_on_whatsapp, idempotency_key_reused, message_expired", 502 => "send_failed"]
    }
    get "/api/sessions/{id}/messages" => messages::list {
        "A session's messages, sent and received, newest first; ?direction=out|in&status=&since=RFC3339&limit=&before=", guarded: true, body: None,
        [200 => "MessageList", 400 => "invalid_session_id, invalid_status, invalid_limit, invalid_cursor, invalid_direction, invalid_since",
         404 => "session_not_found"]
    }
    get "/api/sessions/{id}/messages/{messageId}" => messages::detail {
        "What became of a message, by wamux's id or WhatsApp's messageId", guarded: true, body: None,
        [200 => "Message", 400 => "invalid_session_id", 404 => "session_not_found, message_not_found"]
    }
    post "/api/sessions/{id}/send-media" => media::send {
        "Send a file (image, video, audio or document) with a caption: JSON with its base64 or a URL wamux fetches, or multipart/form-data with a file part; stored first and answered as send-message",
        guarded: true, body: Some("SendMedia"),
        [200 => "Sent", 202 => "Queued", 400 => "invalid_session_id, invalid_phone_number, invalid_caption, invalid_media, invalid_ttl, invalid_idempotency_key, invalid_json, invalid_body, invalid_query",
         404 => "session_not_found", 409 => "session_not_ready", 413 => "media_too_large",
         415 => "unsupported_media_type",
         422 => "media_unavailable, number_not_on_whatsapp, idempotency_key_reused, message_expired", 502 => "send_failed",
         503 => "store_unavailable"]
    }
    get "/api/sessions/{id}/messages/{messageId}/media" => media::download {
        "A media message's file, sent or received, with its Content-Type and name (Content-Disposition)", guarded: true, body: None,
        [200 => "the file", 400 => "invalid_session_id", 404 => "session_not_found, message_not_found, media_not_found"]
    }
    post "/api/sessions/{id}/start" => sessions::start {
        "Start a stopped or failed session", guarded: true, body: None,
        [200 => "Session", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    post "/api/sessions/{id}/stop" => sessions::stop {
        "Stop a session cleanly; it stays stopped across restarts", guarded: true, body: None,
        [200 => "Session", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    post "/api/sessions/{id}/restart" => sessions::restart {
        "Stop the worker cleanly and start a new one", guarded: true, body: None,
        [200 => "Session", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    post "/api/sessions/{id}/kill" => sessions::kill {
        "Kill the worker and its browsers at once; the session shows STOPPED", guarded: true, body: None,
        [200 => "Session", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    post "/api/sessions/{id}/pairing-code" => sessions::pairing_code {
        "Link with a code instead of a QR: the page is asked for a pairing code for this phone number, answered once it shows",
        guarded: true, body: Some("PairingCodeRequest"),
        [200 => "PairingCode", 400 => "invalid_session_id, invalid_phone_number, invalid_json, invalid_body",
         404 => "session_not_found", 409 => "session_already_linked, session_not_ready",
         502 => "pairing_code_unavailable", 503 => "session_unavailable"]
    }
    post "/api/sessions/{id}/logout" => sessions::logout {
        "Unlink the device: the profile is wiped and a new QR code follows", guarded: true, body: None,
        [200 => "Session", 400 => "invalid_session_id", 404 => "session_not_found"]
    }
    get "/api/stats" => system::stats {
        "Sessions by status, memory, restarts, messages, uptime", guarded: true, body: None, [200 => "Stats"]
    }
    get "/api/events" => events::stream {
        "Server-Sent Events of sessions, each with its id; ?session=ID filters; Last-Event-ID replays what came after it (within --retention), then goes on live",
        guarded: true, body: None,
        [200 => "text/event-stream of Event", 400 => "invalid_session_id, invalid_last_event_id",
         404 => "session_not_found"]
    }
    post "/api/webhooks" => webhooks::create {
        "Add a webhook endpoint; the answer is the only one that shows its secret", guarded: true, body: Some("CreateWebhook"),
        [201 => "WebhookCreated", 400 => "invalid_url, invalid_events, invalid_sessions, invalid_secret, invalid_json, invalid_body",
         413 => "body_too_large"]
    }
    get "/api/webhooks" => webhooks::list {
        "The webhook endpoints", guarded: true, body: None, [200 => "WebhookList"]
    }
    get "/api/webhooks/{webhookId}" => webhooks::detail {
        "A webhook endpoint", guarded: true, body: None, [200 => "Webhook", 404 => "webhook_not_found"]
    }
    patch "/api/webhooks/{webhookId}" => webhooks::update {
        "Change an endpoint's url, events, sessions or secret, or enable it again", guarded: true, body: Some("UpdateWebhook"),
        [200 => "Webhook", 400 => "invalid_url, invalid_events, invalid_sessions, invalid_secret, invalid_json, invalid_body",
         404 => "webhook_not_found", 413 => "body_too_large"]
    }
    delete "/api/webhooks/{webhookId}" => webhooks::delete {
        "Remove an endpoint and its deliveries", guarded: true, body: None,
        [200 => "WebhookDeleted", 404 => "webhook_not_found"]
    }
    get "/api/webhooks/{webhookId}/deliveries" => webhooks::deliveries {
        "An endpoint's deliveries, newest first, with the last response; ?status=pending|delivered|failed&limit=&before=",
        guarded: true, body: None,
        [200 => "DeliveryList", 400 => "invalid_status, invalid_limit, invalid_cursor", 404 => "webhook_not_found"]
    }
    post "/api/webhooks/{webhookId}/deliveries/{deliveryId}/retry" => webhooks::retry {
        "Send a delivery again now, with a new --webhook-max-age ahead of it", guarded: true, body: None,
        [202 => "Delivery", 404 => "webhook_not_found, delivery_not_found"]
    }
    get "/api/openapi.json" => openapi::document {
        "This document", guarded: true, body: None, [200 => "OpenAPI 3.1"]
    }
    get "/health" => system::health {
        "The process answers", guarded: false, body: None, [200 => "Health"]
    }
    get "/ready" => system::ready {
        "The store is writable and chromedriver and Chromium are found", guarded: false, body: None,
        [200 => "Ready", 503 => "not_ready"]
    }
    post "/api/assign-number" => assignments::assign {
        "Assign a linked session to the Laravel app's sales or coordination number; rewrites its .env",
        guarded: true, body: Some("AssignNumber"),
        [200 => "Assignment", 400 => "invalid_type, invalid_session_id, invalid_json, invalid_body",
         404 => "session_not_found", 409 => "session_not_linked", 413 => "body_too_large",
         503 => "laravel_env_unavailable"]
    }
    get "/api/current-assignments" => assignments::current {
        "The sales and coordination assignments with each session's status", guarded: true, body: None,
        [200 => "Assignments"]
    }
    get "/" => dashboard::index {
        "The dashboard: statistics, new session, restore, assignments", guarded: false, body: None,
        [200 => "text/html"]
    }
    get "/sessions" => dashboard::sessions {
        "The dashboard's sessions page: QR codes and actions", guarded: false, body: None,
        [200 => "text/html"]
    }
    get "/assets/{name}" => dashboard::named {
        "The dashboard's scripts (ES modules) and style, by file name", guarded: false, body: None,
        [200 => "text/javascript or text/css", 404 => "asset_not_found"]
    }
    get "/api/nodes" => nodes::list {
        "The nodes sharing the database: their sessions, capacity and last heartbeat", guarded: true, body: None,
        [200 => "NodeList"]
    }
    post "/api/nodes/{nodeId}/drain" => nodes::drain {
        "Hand a node's sessions over to the others, one by one, profiles saved; answered at once", guarded: true, body: None,
        [202 => "Draining", 404 => "node_not_found", 409 => "single_node", 503 => "owner_unreachable"]
    }
    get "/metrics" => system::metrics {
        "Prometheus text format", guarded: true, body: None, [200 => "text/plain; version=0.0.4"]
    }
}

pub fn app(state: AppState) -> Router {
    // The key is checked before a request goes to another node, which checks it again.
    let guarded = guarded_routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cluster::forward::forward,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    // The last layer is the outermost: the Host first, then the Origin, then (on guarded
    // routes) the key, so that neither a rebinding page nor another site learns whether its
    // key would have worked.
    Router::new()
        .merge(guarded)
        .merge(open_routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            doors::refuse_cross_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            doors::require_served_host,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_declared_once_and_documents_its_errors() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(!r.responses.is_empty());
            if r.path.contains("{id}") {
                assert!(
                    r.responses
                        .iter()
                        .any(|(s, d)| *s == 404 && d.contains("session_not_found")),
                    "{} {} must document session_not_found",
                    r.method,
                    r.path
                );
            }
        }
    }
}
