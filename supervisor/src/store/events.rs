//! The event log: every event published, with the id `/api/events` and the webhooks know it
//! by, and, in the same transaction, a delivery for each webhook endpoint subscribed to it.
//!
//! Each method is one statement or one transaction on the store's thread, durable when it
//! returns.

use super::sql::{Dialect, Row, SqlError, params};

use super::{Store, StoreError};

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub session_id: String,
    /// The event's name on `/api/events`.
    pub kind: &'static str,
    /// Its webhook type (`message.received`, …); `None` for events no webhook receives.
    pub webhook_type: Option<&'static str>,
    pub at: i64,
    /// The event as JSON, as `/api/events` shows it.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub session_id: String,
    pub kind: String,
    pub at: i64,
    pub data: String,
}

fn read(row: &Row) -> Result<StoredEvent, SqlError> {
    Ok(StoredEvent {
        id: row.get(0)?,
        session_id: row.get(1)?,
        kind: row.get(2)?,
        at: row.get(3)?,
        data: row.get(4)?,
    })
}

impl Store {
    /// Appends `event` and its deliveries; then, still on the store's thread (so in the order
    /// of the ids), calls `committed` with the event's id and how many deliveries it made.
    pub fn append_event(
        &self,
        event: NewEvent,
        committed: impl FnOnce(i64, usize) + Send + 'static,
    ) -> Result<i64, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id: i64 = tx.query_row(
                "INSERT INTO events (session_id, type, at, data) VALUES (?1, ?2, ?3, ?4) \
                 RETURNING id",
                params![event.session_id, event.kind, event.at, event.data],
                |row| row.get(0),
            )?;
            let deliveries = match event.webhook_type {
                Some(webhook_type) => tx.execute(
                    match tx.dialect() {
                        Dialect::Sqlite => {
                            "INSERT INTO webhook_deliveries \
                             (webhook_id, event_id, session_id, status, created_at, started_at, next_attempt_at) \
                             SELECT w.id, ?1, ?2, 'pending', ?3, ?3, ?3 FROM webhooks w \
                             WHERE w.enabled = 1 \
                             AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value IN ('*', ?4)) \
                             AND EXISTS (SELECT 1 FROM json_each(w.sessions) WHERE value IN ('*', ?2))"
                        }
                        Dialect::Postgres => {
                            "INSERT INTO webhook_deliveries \
                             (webhook_id, event_id, session_id, status, created_at, started_at, next_attempt_at) \
                             SELECT w.id, ?1, ?2, 'pending', ?3, ?3, ?3 FROM webhooks w \
                             WHERE w.enabled = 1 \
                             AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(w.events::jsonb) e \
                                         WHERE e IN ('*', ?4)) \
                             AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(w.sessions::jsonb) s \
                                         WHERE s IN ('*', ?2))"
                        }
                    },
                    params![id, event.session_id, event.at, webhook_type],
                )?,
                None => 0,
            };
            super::cluster::notify(&tx, super::cluster::EVENTS_CHANNEL)?;
            tx.commit()?;
            committed(id, deliveries);
            Ok(id)
        })
    }

    /// The newest event's id; 0 for an empty log.
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        self.call(|conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM events",
                params![],
                |row| row.get(0),
            )?)
        })
    }

    /// Up to `limit` events after `after`, oldest first, of one session when given.
    pub fn events_after(
        &self,
        after: i64,
        session_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let session_id = session_id.map(str::to_owned);
        self.call(move |conn| {
            Ok(conn.query(
                "SELECT id, session_id, type, at, data FROM events \
                 WHERE id > ?1 AND (session_id = ?2 OR ?2 IS NULL) ORDER BY id LIMIT ?3",
                params![after, session_id, limit],
                read,
            )?)
        })
    }

    /// Forgets deliveries that ended before `before`, then events older than it that no
    /// delivery still needs. Answers how many events went.
    pub fn prune_events(&self, before: i64) -> Result<usize, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE status != 'pending' AND finished_at < ?1",
                params![before],
            )?;
            let events = tx.execute(
                "DELETE FROM events WHERE at < ?1 AND NOT EXISTS \
                 (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id)",
                params![before],
            )?;
            tx.commit()?;
            Ok(events)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(session: &str, at: i64, webhook_type: Option<&'static str>) -> NewEvent {
        NewEvent {
            session_id: session.into(),
            kind: "status",
            webhook_type,
            at,
            data: "{}".into(),
        }
    }

    #[test]
    fn events_get_increasing_ids_and_page_after_one() {
        let store = Store::open_in_memory().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for (session, at) in [("a", 1), ("b", 2), ("a", 3)] {
            let tx = tx.clone();
            store
                .append_event(event(session, at, None), move |id, n| {
                    tx.send((id, n)).unwrap()
                })
                .unwrap();
        }
        let committed: Vec<_> = rx.try_iter().collect();
        assert_eq!(committed, [(1, 0), (2, 0), (3, 0)]);
        let ids = |after, session| {
            store
                .events_after(after, session, 10)
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(0, None), [1, 2, 3]);
        assert_eq!(ids(1, None), [2, 3]);
        assert_eq!(ids(0, Some("a")), [1, 3]);
        assert_eq!(store.prune_events(3).unwrap(), 2);
        assert_eq!(ids(0, None), [3]);
    }
}
