//! The event log: every event published, with the id `/api/events` and the webhooks know it
//! by, and, in the same transaction, a delivery for each webhook endpoint subscribed to it.
//!
//! Each method is one statement or one transaction on the store's thread, durable when it
//! returns.

use rusqlite::{Row, params};

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

fn read(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
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
            tx.execute(
                "INSERT INTO events (session_id, type, at, data) VALUES (?1, ?2, ?3, ?4)",
                params![event.session_id, event.kind, event.at, event.data],
            )?;
            let id = tx.last_insert_rowid();
            let deliveries = match event.webhook_type {
                Some(webhook_type) => tx.execute(
                    "INSERT INTO webhook_deliveries \
                     (webhook_id, event_id, session_id, status, created_at, started_at, next_attempt_at) \
                     SELECT w.id, ?1, ?2, 'pending', ?3, ?3, ?3 FROM webhooks w \
                     WHERE w.enabled = 1 \
                     AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value IN ('*', ?4)) \
                     AND EXISTS (SELECT 1 FROM json_each(w.sessions) WHERE value IN ('*', ?2))",
                    params![id, event.session_id, event.at, webhook_type],
                )?,
                None => 0,
            };
            tx.commit()?;
            committed(id, deliveries);
            Ok(id)
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
            let mut statement = conn.prepare(
                "SELECT id, session_id, type, at, data FROM events \
                 WHERE id > ?1 AND (?2 IS NULL OR session_id = ?2) ORDER BY id LIMIT ?3",
            )?;
            let events = statement
                .query_map(params![after, session_id, limit], read)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
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
