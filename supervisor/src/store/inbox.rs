//! The inbox's rows: incoming messages, in the outbox's `messages` table with direction `in`
//! and status `received`, so that one cursor pages both directions.
//!
//! A message is stored once per session and WhatsApp id (a unique index), however often the
//! worker reports it: the worker reports it until told it is stored, and a restarted worker
//! may read it again. Pruned after the retention like a finished outgoing message.
//!
//! A media message's file, written by the worker and checked by the inbox, is moved into
//! `media/` inside the transaction that inserts the row, before the commit. When the message
//! is stored already, the worker's copy is removed instead, unless the stored row lacks its
//! bytes (reported before the worker had them): then they become its file, in the same way.

use std::path::PathBuf;

use super::sql::params;

use super::outbox::by_id;
use super::{SessionRef, Store, StoreError, StoredMessage};
use crate::messaging::media::valid_sha256;

/// An incoming message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncoming {
    pub session_id: String,
    pub wa_id: String,
    pub chat_id: String,
    pub sender_number: Option<String>,
    pub sender_name: Option<String>,
    /// In a group, who sent it (`DIGITS@c.us` or `ID@lid`).
    pub author: Option<String>,
    /// WhatsApp's type (`chat`, `image`, ...).
    pub kind: String,
    pub text: String,
    /// The time as the page shows it.
    pub shown_at: Option<String>,
    /// When its sender sent it, in ms, when WhatsApp tells.
    pub sent_at: Option<i64>,
    /// When wamux received it, in ms.
    pub received_at: i64,
    /// A media message's file; `None` for a text.
    pub media: Option<IncomingFile>,
}

/// The file of an incoming media message, as the inbox found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingFile {
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub size: Option<u64>,
    /// SHA-256 of the bytes, checked, when they are kept.
    pub sha256: Option<String>,
    /// The worker's file of those bytes, to move into `media/`; `None` when they are in
    /// `media/` already (moved for an earlier report whose row did not commit).
    pub file: Option<PathBuf>,
    /// Why the bytes are not kept.
    pub missing: Option<String>,
}

impl Store {
    /// Stores an incoming message, durably, with its file moved into `media/`; `None` when
    /// this session stored it already (the worker's copy of its file is then removed, or
    /// kept as the file of a stored message that had none).
    pub fn insert_incoming(
        &self,
        mut message: NewIncoming,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let files = self.media_files();
        let session = SessionRef::Id(message.session_id.clone());
        self.call_fenced(session, move |conn| {
            let files = files.as_ref();
            let media = message.media.take();
            // Kept only where this store keeps files, and only while they are there: a file
            // already in `media/` may have gone with the last message that named it.
            let kept = media.as_ref().and_then(|m| {
                let (files, sha) = (files?, m.sha256.as_deref().filter(|s| valid_sha256(s))?);
                (m.file.is_some() || files.path(sha).is_file()).then_some(sha)
            });
            let missing = media.as_ref().and_then(|m| match (kept, &m.missing) {
                (None, None) if m.sha256.is_some() => {
                    Some("the file was lost before it was stored".to_owned())
                }
                (_, missing) => missing.clone(),
            });
            let tx = conn.transaction()?;
            let inserted: Option<i64> = tx.query_opt(
                "INSERT INTO messages (session_id, direction, to_number, text, status, \
                 wa_id, chat_id, sender_number, sender_name, shown_at, created_at, expires_at, \
                 author, kind, sent_at, has_media, media_mimetype, media_filename, media_size, \
                 media_sha256, media_missing) \
                 VALUES (?1, 'in', '', ?2, 'received', ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, \
                 ?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT DO NOTHING RETURNING id",
                params![
                    message.session_id,
                    message.text,
                    message.wa_id,
                    message.chat_id,
                    message.sender_number,
                    message.sender_name,
                    message.shown_at,
                    message.received_at,
                    message.author,
                    message.kind,
                    message.sent_at,
                    media.is_some(),
                    media.as_ref().and_then(|m| m.mimetype.as_ref()),
                    media.as_ref().and_then(|m| m.filename.as_ref()),
                    media.as_ref().and_then(|m| m.size),
                    kept,
                    missing,
                ],
                |row| row.get(0),
            )?;
            let worker_file = media.as_ref().and_then(|m| m.file.as_ref());
            let Some(inserted) = inserted else {
                // Stored already, without its bytes (an earlier worker reported it before it
                // had them): this report's bytes are its file now.
                if let (Some(files), Some(sha), Some(media)) = (files, kept, &media) {
                    let lacking: Option<i64> = tx
                        .query_opt(
                            "SELECT id FROM messages WHERE session_id = ?1 AND wa_id = ?2 \
                             AND direction = 'in' AND has_media = 1 AND media_sha256 IS NULL",
                            params![message.session_id, message.wa_id],
                            |row| row.get(0),
                        )?;
                    if let Some(id) = lacking {
                        if let Some(file) = worker_file {
                            files.place(file, sha)?;
                        }
                        tx.execute(
                            "UPDATE messages SET media_sha256 = ?2, \
                             media_size = COALESCE(?3, media_size), media_missing = NULL, \
                             media_mimetype = COALESCE(media_mimetype, ?4), \
                             media_filename = COALESCE(media_filename, ?5) WHERE id = ?1",
                            params![id, sha, media.size, media.mimetype, media.filename],
                        )?;
                        tx.commit()?;
                        tracing::info!(
                            session = %message.session_id,
                            message = id,
                            sha256 = sha,
                            "a stored incoming message has its file now"
                        );
                        return Ok(None);
                    }
                }
                // Otherwise its file is in `media/`, or was never to be kept.
                if let Some(file) = worker_file
                    && let Err(e) = std::fs::remove_file(file)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(error = %e, file = %file.display(), "could not remove the worker's copy of a stored file");
                }
                return Ok(None);
            };
            if let (Some(file), Some(files), Some(sha)) = (worker_file, files, kept) {
                files.place(file, sha)?;
            }
            let stored = by_id(&tx, inserted, files)?;
            tx.commit()?;
            Ok(stored)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::status::{Direction, MessageStatus};
    use crate::store::{MessageQuery, NewMessage};

    fn incoming(session: &str, wa_id: &str, at: i64) -> NewIncoming {
        NewIncoming {
            session_id: session.into(),
            wa_id: wa_id.into(),
            chat_id: "5215550002222@c.us".into(),
            sender_number: Some("5215550002222".into()),
            sender_name: Some("Ana".into()),
            author: None,
            kind: "chat".into(),
            text: format!("text of {wa_id}"),
            shown_at: Some("10:00, 1/2/2026".into()),
            sent_at: None,
            received_at: at,
            media: None,
        }
    }

    fn outgoing(store: &Store, at: i64) -> i64 {
        let message = NewMessage {
            session_id: "s".into(),
            to: "5215512345678".into(),
            text: "out".into(),
            created_at: at,
            expires_at: at + 1000,
            idempotency_key: None,
            request_body: None,
        };
        match store.insert_message(message, 0).unwrap() {
            crate::store::Inserted::New(m) => m.id,
            other => panic!("{other:?}"),
        }
    }

    fn list(store: &Store, query: MessageQuery) -> Vec<i64> {
        let page = store.messages("s", query).unwrap();
        page.messages.iter().map(|m| m.id).collect()
    }

    fn all(limit: u32) -> MessageQuery {
        MessageQuery {
            direction: None,
            status: None,
            since: None,
            before: None,
            limit,
        }
    }

    #[test]
    fn an_incoming_message_is_stored_once_per_session() {
        let store = Store::open_in_memory().unwrap();
        let stored = store
            .insert_incoming(incoming("s", "WA1", 10))
            .unwrap()
            .expect("new");
        assert_eq!(stored.direction, Direction::In);
        assert_eq!(stored.status, MessageStatus::Received);
        assert_eq!(stored.wa_id.as_deref(), Some("WA1"));
        assert_eq!(stored.chat_id.as_deref(), Some("5215550002222@c.us"));
        assert_eq!(stored.sender_number.as_deref(), Some("5215550002222"));
        assert_eq!(stored.sender_name.as_deref(), Some("Ana"));
        assert_eq!(stored.shown_at.as_deref(), Some("10:00, 1/2/2026"));
        assert_eq!(
            (stored.text.as_str(), stored.created_at),
            ("text of WA1", 10)
        );
        assert_eq!((stored.kind.as_str(), &stored.author), ("chat", &None));
        assert_eq!((stored.sent_at, &stored.attempt), (None, &None));

        assert_eq!(
            store.insert_incoming(incoming("s", "WA1", 20)).unwrap(),
            None
        );
        assert!(
            store
                .insert_incoming(incoming("t", "WA1", 20))
                .unwrap()
                .is_some(),
            "another session's message with the same id"
        );
        assert_eq!(list(&store, all(10)), [stored.id]);
        assert_eq!(store.message("s", "WA1").unwrap(), Some(stored));
    }

    #[test]
    fn a_group_media_message_keeps_its_type_author_and_time_sent() {
        let store = Store::open_in_memory().unwrap();
        let stored = store
            .insert_incoming(NewIncoming {
                chat_id: "120363@g.us".into(),
                sender_number: Some("5215550003333".into()),
                author: Some("5215550003333@c.us".into()),
                kind: "image".into(),
                shown_at: None,
                sent_at: Some(1_767_225_600_000),
                ..incoming("s", "WA-G", 10)
            })
            .unwrap()
            .expect("new");
        assert_eq!(stored.kind, "image");
        assert_eq!(stored.author.as_deref(), Some("5215550003333@c.us"));
        assert_eq!(stored.sent_at, Some(1_767_225_600_000));
        assert_eq!(stored.shown_at, None);
        assert_eq!(store.message("s", "WA-G").unwrap(), Some(stored));
    }

    #[test]
    fn incoming_messages_are_never_sent_and_are_pruned() {
        let store = Store::open_in_memory().unwrap();
        store.insert_incoming(incoming("s", "WA1", 10)).unwrap();
        assert_eq!(store.next_pending("s").unwrap(), None);
        assert!(store.queues().unwrap().is_empty());
        assert!(store.due_to_expire(i64::MAX).unwrap().is_empty());
        assert_eq!(store.prune_messages(10).unwrap(), 0, "not yet past");
        assert_eq!(store.prune_messages(11).unwrap(), 1);
        assert!(list(&store, all(10)).is_empty());
    }

    #[test]
    fn one_cursor_pages_both_directions_by_direction_and_since() {
        let store = Store::open_in_memory().unwrap();
        let o1 = outgoing(&store, 100);
        let i1 = store
            .insert_incoming(incoming("s", "A", 200))
            .unwrap()
            .unwrap()
            .id;
        let o2 = outgoing(&store, 300);
        let i2 = store
            .insert_incoming(incoming("s", "B", 400))
            .unwrap()
            .unwrap()
            .id;
        let i3 = store
            .insert_incoming(incoming("s", "C", 500))
            .unwrap()
            .unwrap()
            .id;
        store.insert_incoming(incoming("t", "D", 600)).unwrap();

        assert_eq!(list(&store, all(10)), [i3, i2, o2, i1, o1]);
        let first = store.messages("s", all(3)).unwrap();
        assert_eq!(first.next_before, Some(o2));
        let rest = MessageQuery {
            before: first.next_before,
            ..all(3)
        };
        assert_eq!(list(&store, rest), [i1, o1]);

        let inbound = MessageQuery {
            direction: Some(Direction::In),
            ..all(2)
        };
        let page = store.messages("s", inbound).unwrap();
        assert_eq!(
            page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [i3, i2]
        );
        let next = MessageQuery {
            before: page.next_before,
            ..inbound
        };
        assert_eq!(list(&store, next), [i1]);
        let outbound = MessageQuery {
            direction: Some(Direction::Out),
            ..all(10)
        };
        assert_eq!(list(&store, outbound), [o2, o1]);

        let since = MessageQuery {
            since: Some(300),
            ..all(10)
        };
        assert_eq!(list(&store, since), [i3, i2, o2], "at or after");
        let inbound_since = MessageQuery {
            since: Some(300),
            ..inbound
        };
        assert_eq!(
            list(
                &store,
                MessageQuery {
                    limit: 10,
                    ..inbound_since
                }
            ),
            [i3, i2]
        );
        let received = MessageQuery {
            status: Some(MessageStatus::Received),
            ..all(10)
        };
        assert_eq!(list(&store, received), [i3, i2, i1]);
    }
}
