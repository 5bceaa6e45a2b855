//! Webhooks, the Standard Webhooks way: every event a subscribed endpoint wants is POSTed to
//! it as `{"type", "timestamp", "data"}`, signed, with a `webhook-id` that stays the same on
//! every retry, in order per endpoint and session, and durably.
//!
//! 1. [`crate::sessions::events::EventBus::publish`] appends the event to the store's event
//!    log and, in the same transaction, a pending delivery for each enabled endpoint whose
//!    `events` and `sessions` match; then it wakes the delivery task.
//! 2. The delivery task ([`delivery`]) sends the oldest pending delivery of each (endpoint,
//!    session) pair, and the next one of that pair only once it is delivered or has failed.
//! 3. [`policy`] says what the answer means and when to try again; the attempt is recorded
//!    before the pair moves on. A `kill -9` loses nothing: the task resumes from the store.
//!
//! - [`signing`]: secrets and signatures.
//! - [`policy`]: the decisions, pure.
//! - [`delivery`]: the task that sends.

pub mod delivery;
pub mod policy;
pub mod signing;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::sessions::session::now_ms;
use crate::store::{
    Delivery, DeliveryStats, DeliveryStatus, Endpoint, EndpointChange, Store, StoreError,
};
use signing::Secret;

/// The id of the endpoint that `--webhook-url` keeps.
pub const CONFIGURED_ID: &str = "wh_default";

/// Each event's name on `/api/events` and its webhook type; events not listed (created,
/// deleted, ready) are not sent to webhooks (`session.status` tells the same).
const TYPES: [(&str, &str); 9] = [
    ("status", "session.status"),
    ("qr", "session.qr"),
    ("pairingCode", "session.pairing_code"),
    ("messageReceived", "message.received"),
    ("messageQueued", "message.queued"),
    ("messageSent", "message.sent"),
    ("messageFailed", "message.failed"),
    ("messageAck", "message.ack"),
    ("assignment", "assignment.changed"),
];

/// `--webhook-url`, `--webhook-secret`, `--webhook-max-age` and the backoff's base.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Option<String>,
    pub secret: Option<Secret>,
    pub max_age: Duration,
    /// The first retry's delay; tests shorten it to run the whole schedule in seconds.
    pub retry_base: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            secret: None,
            max_age: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(5),
        }
    }
}

/// The webhook type of an event named `kind` on `/api/events`.
pub fn webhook_type(kind: &str) -> Option<&'static str> {
    TYPES.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t)
}

/// The body POSTed for a stored event: `{"type", "timestamp", "data"}` where `data` holds
/// `session` and the event's own fields. The same bytes on every attempt.
pub fn body(kind: &str, session_id: &str, at: i64, data: &str) -> Option<String> {
    let webhook_type = webhook_type(kind)?;
    let mut fields = match serde_json::from_str::<Value>(data).ok()? {
        Value::Object(fields) => fields,
        _ => return None,
    };
    for key in ["type", "sessionId", "at"] {
        fields.remove(key);
    }
    fields.insert("session".into(), session_id.into());
    Some(json!({"type": webhook_type, "timestamp": rfc3339(at), "data": fields}).to_string())
}

/// Unix milliseconds as RFC 3339 in UTC, to the millisecond.
fn rfc3339(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("{0}")]
    InvalidEvents(String),
    #[error("{0}")]
    InvalidSessions(String),
    #[error(transparent)]
    InvalidSecret(#[from] signing::InvalidSecret),
    #[error("no such webhook")]
    NotFound,
    #[error("no such delivery")]
    DeliveryNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An endpoint's URL: `http://` with a host. `https://` is refused: this build has no TLS
/// (a receiver elsewhere is reached through a TLS-terminating proxy on the local network).
pub fn check_url(url: &str) -> Result<(), WebhookError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| WebhookError::InvalidUrl(format!("{url:?} is not a URL: {e}")))?;
    match parsed.scheme() {
        "http" if parsed.host().is_some() => Ok(()),
        "https" => Err(WebhookError::InvalidUrl(
            "https URLs are not supported: wamux is built without TLS; use http to a receiver \
             on this host or network, or a local TLS-terminating proxy"
                .into(),
        )),
        _ => Err(WebhookError::InvalidUrl(format!(
            "{url:?} is not an http URL with a host"
        ))),
    }
}

fn check_events(events: &[String]) -> Result<(), WebhookError> {
    if events.is_empty() {
        return Err(WebhookError::InvalidEvents(
            "events lists at least one type, or \"*\"".into(),
        ));
    }
    match events
        .iter()
        .find(|e| *e != "*" && !TYPES.iter().any(|(_, t)| t == e))
    {
        Some(unknown) => Err(WebhookError::InvalidEvents(format!(
            "unknown event type {unknown:?}; known: \"*\", {}",
            TYPES.map(|(_, t)| format!("{t:?}")).join(", ")
        ))),
        None => Ok(()),
    }
}

fn check_sessions(sessions: &[String]) -> Result<(), WebhookError> {
    let valid = |s: &String| s == "*" || crate::sessions::session::valid_session_id(s);
    if sessions.is_empty() || !sessions.iter().all(valid) {
        return Err(WebhookError::InvalidSessions(
            "sessions lists session ids, or \"*\"".into(),
        ));
    }
    Ok(())
}

/// A new endpoint as asked; absent lists mean every event, every session.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Option<Vec<String>>,
    pub sessions: Option<Vec<String>>,
    pub secret: Option<String>,
}

/// The webhooks as the API and the daemon see them: endpoints, deliveries and the task that
/// sends them.
pub struct Webhooks {
    store: Arc<Store>,
    /// Told when there may be a delivery to send: an event made one, or one was retried.
    wake: Arc<Notify>,
    config: WebhookConfig,
}

impl Webhooks {
    pub fn new(store: Arc<Store>, wake: Arc<Notify>, config: WebhookConfig) -> Self {
        Webhooks {
            store,
            wake,
            config,
        }
    }

    /// Keeps the `--webhook-url` endpoint: created or updated to every event of every session
    /// with `--webhook-secret`, or removed when the flag is gone.
    pub fn configure(&self) -> Result<(), WebhookError> {
        let (Some(url), Some(secret)) = (&self.config.url, &self.config.secret) else {
            self.store.delete_webhook(CONFIGURED_ID)?;
            return Ok(());
        };
        check_url(url)?;
        let endpoint = Endpoint {
            id: CONFIGURED_ID.into(),
            url: url.clone(),
            events: vec!["*".into()],
            sessions: vec!["*".into()],
            enabled: true,
            disabled_reason: None,
            created_at: now_ms(),
        };
        self.store.put_webhook(&endpoint, &secret.to_text())?;
        tracing::info!(webhook = CONFIGURED_ID, "webhook endpoint configured");
        self.wake.notify_one();
        Ok(())
    }

    /// Creates an endpoint; answers it with its secret, which is never shown again.
    pub fn create(&self, new: NewEndpoint) -> Result<(Endpoint, String), WebhookError> {
        check_url(&new.url)?;
        let events = new.events.unwrap_or_else(|| vec!["*".into()]);
        check_events(&events)?;
        let sessions = new.sessions.unwrap_or_else(|| vec!["*".into()]);
        check_sessions(&sessions)?;
        let secret = match new.secret {
            Some(secret) => Secret::parse(&secret).map(|_| secret)?,
            None => Secret::generate(),
        };
        let endpoint = Endpoint {
            id: format!("wh_{:016x}", rand::random::<u64>()),
            url: new.url,
            events,
            sessions,
            enabled: true,
            disabled_reason: None,
            created_at: now_ms(),
        };
        self.store.insert_webhook(&endpoint, &secret)?;
        tracing::info!(webhook = %endpoint.id, "webhook endpoint created");
        Ok((endpoint, secret))
    }

    pub fn list(&self) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(self.store.webhooks()?)
    }

    pub fn get(&self, id: &str) -> Result<Endpoint, WebhookError> {
        self.store.webhook(id)?.ok_or(WebhookError::NotFound)
    }

    pub fn update(&self, id: &str, change: EndpointChange) -> Result<Endpoint, WebhookError> {
        if let Some(url) = &change.url {
            check_url(url)?;
        }
        if let Some(events) = &change.events {
            check_events(events)?;
        }
        if let Some(sessions) = &change.sessions {
            check_sessions(sessions)?;
        }
        if let Some(secret) = &change.secret {
            Secret::parse(secret)?;
        }
        let updated = self
            .store
            .update_webhook(id, change)?
            .ok_or(WebhookError::NotFound)?;
        self.wake.notify_one();
        Ok(updated)
    }

    pub fn delete(&self, id: &str) -> Result<(), WebhookError> {
        if !self.store.delete_webhook(id)? {
            return Err(WebhookError::NotFound);
        }
        tracing::info!(webhook = %id, "webhook endpoint deleted");
        Ok(())
    }

    pub fn deliveries(
        &self,
        id: &str,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookError> {
        self.get(id)?;
        Ok(self.store.deliveries(id, status, before, limit)?)
    }

    /// Makes a delivery pending again, due now, with a whole `--webhook-max-age` ahead.
    pub fn retry(&self, id: &str, delivery: i64) -> Result<Delivery, WebhookError> {
        self.get(id)?;
        let delivery = self
            .store
            .retry_delivery(id, delivery, now_ms())?
            .ok_or(WebhookError::DeliveryNotFound)?;
        self.wake.notify_one();
        Ok(delivery)
    }

    pub fn stats(&self) -> Result<Vec<DeliveryStats>, WebhookError> {
        Ok(self.store.delivery_stats()?)
    }

    /// Forgets events and finished deliveries older than `retention`.
    pub fn housekeeping(&self, retention: Duration) -> Result<(), WebhookError> {
        let before = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let pruned = self.store.prune_events(before)?;
        if pruned > 0 {
            tracing::info!(pruned, "forgot old events");
        }
        Ok(())
    }

    fn backoff(&self) -> policy::Backoff {
        policy::Backoff {
            base: self.config.retry_base,
            max_age: self.config.max_age,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_body_holds_the_type_the_time_and_the_events_fields_with_the_session() {
        let data =
            r#"{"type":"messageReceived","sessionId":"s1","at":0,"messageId":"m","text":"hi"}"#;
        let body: Value =
            serde_json::from_str(&body("messageReceived", "s1", 0, data).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"type": "message.received", "timestamp": "1970-01-01T00:00:00.000Z",
                   "data": {"session": "s1", "messageId": "m", "text": "hi"}})
        );
        assert!(body_of("created").is_none());
        assert!(body_of("ready").is_none());
    }

    fn body_of(kind: &str) -> Option<String> {
        body(kind, "s", 0, "{}")
    }

    #[test]
    fn endpoints_are_checked() {
        check_url("http://127.0.0.1:8000/hook").unwrap();
        for bad in [
            "https://example.com/",
            "ftp://x/",
            "http://",
            "not a url",
            "",
        ] {
            assert!(
                matches!(check_url(bad), Err(WebhookError::InvalidUrl(_))),
                "{bad}"
            );
        }
        check_events(&["*".into()]).unwrap();
        check_events(&["message.received".into(), "session.status".into()]).unwrap();
        assert!(check_events(&[]).is_err());
        assert!(check_events(&["message.recieved".into()]).is_err());
        check_sessions(&["*".into()]).unwrap();
        check_sessions(&["a-1".into()]).unwrap();
        assert!(check_sessions(&[]).is_err());
        assert!(check_sessions(&["a b".into()]).is_err());
    }
}
