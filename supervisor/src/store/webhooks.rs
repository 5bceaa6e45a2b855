//! The webhook endpoints and their deliveries: one delivery per event and endpoint, `pending`
//! until it is `delivered` or `failed`.
//!
//! Each method is one statement or one transaction on the store's thread, durable when it
//! returns. An endpoint's secret is read only by [`Store::delivery_heads`], for signing.

use super::sql::{Conn, Row, SqlError, params};

use super::{Store, StoreError};

/// A webhook endpoint, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// Webhook types, or `*`.
    pub events: Vec<String>,
    /// Session ids, or `*`.
    pub sessions: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
}

/// What a `PATCH` changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub sessions: Option<Vec<String>>,
    pub secret: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub event_id: i64,
    pub session_id: String,
    /// The event's name on `/api/events`, while the event is kept.
    pub kind: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<u16>,
    pub last_body: Option<String>,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
}

/// The oldest pending delivery of one (endpoint, session) pair: the one to send next.
/// No `Debug`: it carries the secret.
#[derive(Clone)]
pub struct Head {
    pub id: i64,
    pub webhook_id: String,
    pub session_id: String,
    pub attempts: u32,
    /// Since when it has been tried: its event, or the last retry asked through the API.
    pub started_at: i64,
    pub next_attempt_at: i64,
    pub url: String,
    pub secret: String,
    pub event_id: i64,
    pub event_kind: String,
    pub event_at: i64,
    pub event_data: String,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: i64,
    /// `Pending` with `next_attempt_at`, or the end.
    pub status: DeliveryStatus,
    pub next_attempt_at: i64,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// An endpoint's deliveries: how many wait, how many failed, since when the oldest waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStats {
    pub webhook_id: String,
    pub pending: u64,
    pub failed: u64,
    pub oldest_pending_at: Option<i64>,
}

const ENDPOINT: &str = "id, url, events, sessions, enabled, disabled_reason, created_at";

fn read_endpoint(row: &Row) -> Result<Endpoint, SqlError> {
    let list = |i| -> Result<Vec<String>, SqlError> {
        let text: String = row.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    };
    Ok(Endpoint {
        id: row.get(0)?,
        url: row.get(1)?,
        events: list(2)?,
        sessions: list(3)?,
        enabled: row.get(4)?,
        disabled_reason: row.get(5)?,
        created_at: row.get(6)?,
    })
}

fn endpoint(conn: &Conn, id: &str) -> Result<Option<Endpoint>, SqlError> {
    conn.query_opt(
        &format!("SELECT {ENDPOINT} FROM webhooks WHERE id = ?1"),
        params![id],
        read_endpoint,
    )
}

const DELIVERY: &str = "d.id, d.webhook_id, d.event_id, d.session_id, e.type, d.status, \
                        d.attempts, d.created_at, d.next_attempt_at, d.last_attempt_at, \
                        d.last_status, d.last_body, d.last_error, d.finished_at";

fn read_delivery(row: &Row) -> Result<Delivery, SqlError> {
    let status: String = row.get(5)?;
    Ok(Delivery {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        event_id: row.get(2)?,
        session_id: row.get(3)?,
        kind: row.get(4)?,
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: row.get(6)?,
        created_at: row.get(7)?,
        next_attempt_at: row.get(8)?,
        last_attempt_at: row.get(9)?,
        last_status: row.get(10)?,
        last_body: row.get(11)?,
        last_error: row.get(12)?,
        finished_at: row.get(13)?,
    })
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub fn insert_webhook(&self, endpoint: &Endpoint, secret: &str) -> Result<(), StoreError> {
        let (e, secret) = (endpoint.clone(), secret.to_owned());
        self.execute_owned(move |conn| {
            conn.execute(
                "INSERT INTO webhooks (id, url, secret, events, sessions, enabled, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    e.id,
                    e.url,
                    secret,
                    json(&e.events),
                    json(&e.sessions),
                    e.enabled,
                    e.created_at
                ],
            )
        })
    }

    /// Creates or replaces endpoint `endpoint.id` (enabled), keeping its deliveries.
    pub fn put_webhook(&self, endpoint: &Endpoint, secret: &str) -> Result<(), StoreError> {
        let (e, secret) = (endpoint.clone(), secret.to_owned());
        self.execute_owned(move |conn| {
            conn.execute(
                "INSERT INTO webhooks (id, url, secret, events, sessions, enabled, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6) ON CONFLICT(id) DO UPDATE SET \
                 url = ?2, secret = ?3, events = ?4, sessions = ?5, enabled = 1, \
                 disabled_reason = NULL",
                params![
                    e.id,
                    e.url,
                    secret,
                    json(&e.events),
                    json(&e.sessions),
                    e.created_at
                ],
            )
        })
    }

    pub fn webhooks(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.call(|conn| {
            let rows = conn.query(
                &format!("SELECT {ENDPOINT} FROM webhooks ORDER BY created_at, id"),
                params![],
                read_endpoint,
            )?;
            Ok(rows)
        })
    }

    pub fn webhook(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| Ok(endpoint(conn, &id)?))
    }

    /// Applies `change`; `None` when there is no such endpoint. Enabling clears the reason it
    /// was disabled.
    pub fn update_webhook(
        &self,
        id: &str,
        change: EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            if endpoint(&tx, &id)?.is_none() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE webhooks SET url = COALESCE(?2, url), events = COALESCE(?3, events), \
                 sessions = COALESCE(?4, sessions), secret = COALESCE(?5, secret), \
                 enabled = COALESCE(?6, enabled), \
                 disabled_reason = CASE WHEN ?6 = 1 THEN NULL ELSE disabled_reason END \
                 WHERE id = ?1",
                params![
                    id,
                    change.url,
                    change.events.as_deref().map(json),
                    change.sessions.as_deref().map(json),
                    change.secret,
                    change.enabled
                ],
            )?;
            let updated = endpoint(&tx, &id)?;
            tx.commit()?;
            Ok(updated)
        })
    }

    /// Deletes an endpoint and its deliveries; `false` when there was none.
    pub fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_id = ?1",
                params![id],
            )?;
            let n = tx.execute("DELETE FROM webhooks WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    pub fn disable_webhook(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.execute_owned(move |conn| {
            conn.execute(
                "UPDATE webhooks SET enabled = 0, disabled_reason = ?2 WHERE id = ?1",
                params![id, reason],
            )
        })
    }

    /// The oldest pending delivery of every (enabled endpoint, session) pair.
    /// With several nodes, only the heads this node delivers: those of the sessions it runs,
    /// and, when it is the oldest live node, those of sessions no node runs.
    pub fn delivery_heads(&self) -> Result<Vec<Head>, StoreError> {
        let shared = self.fence.as_ref().map(|f| (f.node.clone(), f.ttl_ms));
        self.call(move |conn| {
            let (mine, values) = match &shared {
                None => (String::new(), params![]),
                Some((node, ttl_ms)) => {
                    let now = super::cluster::now(conn);
                    (
                        format!(
                            " AND (EXISTS (SELECT 1 FROM sessions s WHERE s.id = d.session_id \
                               AND s.owner = ?1 AND s.lease_expires_at > {now}) \
                             OR (NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = d.session_id \
                               AND s.owner IS NOT NULL AND s.lease_expires_at > {now}) \
                             AND ?1 = (SELECT id FROM nodes WHERE heartbeat_at > {now} - ?2 \
                               ORDER BY started_at, id LIMIT 1)))"
                        ),
                        params![node, ttl_ms],
                    )
                }
            };
            let rows = conn.query(
                &format!(
                    "SELECT d.id, d.webhook_id, d.session_id, d.attempts, d.started_at, \
                 d.next_attempt_at, w.url, w.secret, e.id, e.type, e.at, e.data \
                 FROM webhook_deliveries d \
                 JOIN webhooks w ON w.id = d.webhook_id AND w.enabled = 1 \
                 JOIN events e ON e.id = d.event_id \
                 WHERE d.id IN (SELECT MIN(id) FROM webhook_deliveries \
                                WHERE status = 'pending' GROUP BY webhook_id, session_id){mine}"
                ),
                values,
                |row| {
                    Ok(Head {
                        id: row.get(0)?,
                        webhook_id: row.get(1)?,
                        session_id: row.get(2)?,
                        attempts: row.get(3)?,
                        started_at: row.get(4)?,
                        next_attempt_at: row.get(5)?,
                        url: row.get(6)?,
                        secret: row.get(7)?,
                        event_id: row.get(8)?,
                        event_kind: row.get(9)?,
                        event_at: row.get(10)?,
                        event_data: row.get(11)?,
                    })
                },
            )?;
            Ok(rows)
        })
    }

    /// Records an attempt of a pending delivery (one the API retried or deleted meanwhile is
    /// left alone).
    pub fn record_delivery_attempt(&self, id: i64, attempt: Attempt) -> Result<(), StoreError> {
        self.execute_owned(move |conn| {
            let finished = (attempt.status != DeliveryStatus::Pending).then_some(attempt.at);
            conn.execute(
                "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1, \
                 next_attempt_at = ?3, last_attempt_at = ?4, last_status = ?5, last_body = ?6, \
                 last_error = ?7, finished_at = ?8 WHERE id = ?1 AND status = 'pending'",
                params![
                    id,
                    attempt.status.as_str(),
                    attempt.next_attempt_at,
                    attempt.at,
                    attempt.response_status,
                    attempt.response_body,
                    attempt.error,
                    finished
                ],
            )
        })
    }

    /// An endpoint's deliveries, newest first, older than `before` when given.
    pub fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let webhook_id = webhook_id.to_owned();
        self.call(move |conn| {
            let rows = conn.query(
                &format!(
                    "SELECT {DELIVERY} FROM webhook_deliveries d \
                 LEFT JOIN events e ON e.id = d.event_id \
                 WHERE d.webhook_id = ?1 AND (d.status = ?2 OR ?2 IS NULL) \
                 AND (d.id < ?3 OR ?3 IS NULL) ORDER BY d.id DESC LIMIT ?4"
                ),
                params![
                    webhook_id,
                    status.map(DeliveryStatus::as_str),
                    before,
                    limit
                ],
                read_delivery,
            )?;
            Ok(rows)
        })
    }

    /// Makes a delivery pending again, due at `now`, tried afresh from `now`; `None` when the
    /// endpoint has no such delivery.
    pub fn retry_delivery(
        &self,
        webhook_id: &str,
        id: i64,
        now: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let webhook_id = webhook_id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let n = tx.execute(
                "UPDATE webhook_deliveries SET status = 'pending', started_at = ?3, \
                 next_attempt_at = ?3, finished_at = NULL WHERE id = ?1 AND webhook_id = ?2",
                params![id, webhook_id, now],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let delivery = tx.query_row(
                &format!(
                    "SELECT {DELIVERY} FROM webhook_deliveries d \
                     LEFT JOIN events e ON e.id = d.event_id WHERE d.id = ?1"
                ),
                params![id],
                read_delivery,
            )?;
            tx.commit()?;
            Ok(Some(delivery))
        })
    }

    /// Every endpoint's pending and failed deliveries.
    pub fn delivery_stats(&self) -> Result<Vec<DeliveryStats>, StoreError> {
        self.call(|conn| {
            let rows = conn.query("SELECT w.id, \
                 (SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = w.id AND status = 'pending'), \
                 (SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = w.id AND status = 'failed'), \
                 (SELECT MIN(created_at) FROM webhook_deliveries WHERE webhook_id = w.id AND status = 'pending') \
                 FROM webhooks w ORDER BY w.created_at, w.id", params![], |row| {
                Ok(DeliveryStats {
                    webhook_id: row.get(0)?,
                    pending: row.get(1)?,
                    failed: row.get(2)?,
                    oldest_pending_at: row.get(3)?,
                })
            })?;
            Ok(rows)
        })
    }

    /// One statement built by `f`, its row count ignored.
    fn execute_owned(
        &self,
        f: impl FnOnce(&Conn) -> Result<usize, SqlError> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            f(conn)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewEvent;
    use super::*;

    fn endpoint(id: &str, events: &[&str], sessions: &[&str]) -> Endpoint {
        Endpoint {
            id: id.into(),
            url: "http://127.0.0.1:9/hook".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            sessions: sessions.iter().map(|s| s.to_string()).collect(),
            enabled: true,
            disabled_reason: None,
            created_at: 1,
        }
    }

    fn publish(store: &Store, session: &str, webhook_type: &'static str, at: i64) -> usize {
        let (tx, rx) = std::sync::mpsc::channel();
        store
            .append_event(
                NewEvent {
                    session_id: session.into(),
                    kind: "messageReceived",
                    webhook_type: Some(webhook_type),
                    at,
                    data: "{}".into(),
                },
                move |_, n| tx.send(n).unwrap(),
            )
            .unwrap();
        rx.recv().unwrap()
    }

    #[test]
    fn deliveries_follow_subscriptions_and_go_one_pair_at_a_time() {
        let store = Store::open_in_memory().unwrap();
        store
            .insert_webhook(&endpoint("all", &["*"], &["*"]), "whsec_x")
            .unwrap();
        store
            .insert_webhook(&endpoint("in-a", &["message.received"], &["a"]), "s")
            .unwrap();
        assert_eq!(publish(&store, "a", "message.received", 10), 2);
        assert_eq!(publish(&store, "b", "message.received", 11), 1);
        assert_eq!(publish(&store, "a", "session.status", 12), 1);
        assert_eq!(publish(&store, "a", "message.received", 13), 2);

        let mut heads: Vec<_> = store
            .delivery_heads()
            .unwrap()
            .into_iter()
            .map(|h| (h.webhook_id, h.session_id, h.event_id))
            .collect();
        heads.sort();
        assert_eq!(
            heads,
            [
                ("all".to_string(), "a".to_string(), 1),
                ("all".into(), "b".into(), 2),
                ("in-a".into(), "a".into(), 1),
            ]
        );

        let head = store.delivery_heads().unwrap()[0].clone();
        let done = |status| Attempt {
            at: 20,
            status,
            next_attempt_at: 20,
            response_status: Some(200),
            response_body: Some("ok".into()),
            error: None,
        };
        store
            .record_delivery_attempt(head.id, done(DeliveryStatus::Delivered))
            .unwrap();
        let next = store
            .delivery_heads()
            .unwrap()
            .into_iter()
            .find(|h| h.webhook_id == head.webhook_id && h.session_id == head.session_id)
            .unwrap();
        assert!(next.event_id > head.event_id, "the pair moved on");

        let stats = store.delivery_stats().unwrap();
        assert_eq!(stats[0].pending, 3);
        let listed = store
            .deliveries(&head.webhook_id, Some(DeliveryStatus::Delivered), None, 10)
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_body.as_deref(), Some("ok"));
        assert_eq!(listed[0].kind.as_deref(), Some("messageReceived"));

        store.disable_webhook("all", "410").unwrap();
        assert!(
            store
                .delivery_heads()
                .unwrap()
                .iter()
                .all(|h| h.webhook_id == "in-a")
        );
        assert_eq!(publish(&store, "a", "message.received", 14), 1);
        let retried = store.retry_delivery(&head.webhook_id, head.id, 30).unwrap();
        assert_eq!(retried.unwrap().status, DeliveryStatus::Pending);
        assert!(store.delete_webhook("in-a").unwrap());
        assert!(!store.delete_webhook("in-a").unwrap());
    }

    #[test]
    fn endpoints_change_and_are_put() {
        let store = Store::open_in_memory().unwrap();
        let mut e = endpoint("w", &["*"], &["*"]);
        store.put_webhook(&e, "one").unwrap();
        e.url = "http://127.0.0.1:10/".into();
        store.put_webhook(&e, "two").unwrap();
        assert_eq!(store.webhooks().unwrap(), [e.clone()]);
        store.disable_webhook("w", "gone").unwrap();
        let changed = store
            .update_webhook(
                "w",
                EndpointChange {
                    events: Some(vec!["message.sent".into()]),
                    ..Default::default()
                },
            )
            .unwrap()
            .unwrap();
        assert_eq!(changed.events, ["message.sent"]);
        assert!(!changed.enabled);
        assert_eq!(changed.disabled_reason.as_deref(), Some("gone"));
        let enabled = store
            .update_webhook(
                "w",
                EndpointChange {
                    enabled: Some(true),
                    ..Default::default()
                },
            )
            .unwrap()
            .unwrap();
        assert!(enabled.enabled && enabled.disabled_reason.is_none());
        assert!(
            store
                .update_webhook("nope", EndpointChange::default())
                .unwrap()
                .is_none()
        );
    }
}
