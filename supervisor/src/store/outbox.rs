//! The outbox's table: every message wamux accepted, from `queued` to its end. Incoming
//! messages share it (direction `in`, see `inbox.rs`), so that one cursor pages both.
//!
//! Each method is one statement or one transaction on the store's thread, durable when it
//! returns. Callers never see SQL: another database implements the same methods.
//!
//! A media message's file is placed in `media/` inside the transaction that inserts its row,
//! before the commit, and removed after the commit that deletes the last row naming it: all on
//! the store's thread, so a file is never placed for one message while removed for another.
//! Files no message came to own (placed before a commit that failed, left by a worker) are
//! swept there too ([`Store::sweep_media`]).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::sql::{Conn, Row, SqlError, Value, params};
use wamux_proto::Attempt;

use super::{SessionRef, Store, StoreError};
use crate::daemon::config::DataDir;
use crate::messaging::media::{MediaFiles, Staged, sweep_worker_files};
use crate::messaging::status::{Direction, MessageStatus};

/// A message to accept.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub session_id: String,
    pub to: String,
    pub text: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub idempotency_key: Option<String>,
    /// The request as stored (canonical JSON), to tell a retry from a different request under
    /// the same key.
    pub request_body: Option<String>,
}

/// The file of a media message to accept, staged already.
#[derive(Debug, Clone)]
pub struct NewMedia {
    /// `image`, `video`, `audio` or `document`: the message's type.
    pub kind: String,
    pub mimetype: String,
    pub filename: String,
    pub staged: Staged,
}

/// A media message's file, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMedia {
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub size: Option<u64>,
    /// SHA-256 of the bytes, lowercase hex, when they are kept.
    pub sha256: Option<String>,
    /// The kept file (`media/SHA256`).
    pub path: Option<PathBuf>,
    /// Why the bytes are not kept.
    pub missing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub session_id: String,
    pub direction: Direction,
    /// The recipient's number; empty for an incoming message.
    pub to: String,
    pub text: String,
    pub status: MessageStatus,
    /// WhatsApp's id, once sent.
    pub wa_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// When it went out: for an outgoing message when WhatsApp showed it sent, for an incoming
    /// one when its sender sent it (as WhatsApp tells, to the second).
    pub sent_at: Option<i64>,
    pub attempts: u32,
    /// What the last attempt recorded before it could go out; the next worker resumes from it.
    pub attempt: Option<Attempt>,
    pub request_body: Option<String>,
    /// An incoming message's chat (`…@c.us`, `…@g.us`, `…@lid`).
    pub chat_id: Option<String>,
    /// An incoming message's sender, by number when known and by the name the page shows.
    pub sender_number: Option<String>,
    pub sender_name: Option<String>,
    /// The time the page shows for an incoming message, as shown (`HH:MM, D/M/YYYY`).
    pub shown_at: Option<String>,
    /// WhatsApp's type: `chat` for a text (and for every outgoing message), `image`, ...
    pub kind: String,
    /// In a group, who sent the incoming message (`DIGITS@c.us` or `ID@lid`).
    pub author: Option<String>,
    /// A media message's file; `None` for a text. `text` is then its caption.
    pub media: Option<StoredMedia>,
}

/// The answer to [`Store::insert_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New(StoredMessage),
    /// The idempotency key was used within the window: the first request's message.
    Existing(StoredMessage),
}

/// Which of a session's messages to list, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageQuery {
    /// Both directions when `None`.
    pub direction: Option<Direction>,
    pub status: Option<MessageStatus>,
    /// Created (for an incoming message: received) at or after this, in ms.
    pub since: Option<i64>,
    /// The cursor: older than this id.
    pub before: Option<i64>,
    pub limit: u32,
}

/// One page of a session's messages, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub messages: Vec<StoredMessage>,
    /// The cursor for the next page, when there may be one.
    pub next_before: Option<i64>,
}

/// A session's queue: how many messages wait, and since when the oldest does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub session_id: String,
    pub pending: u64,
    pub oldest_created_at: i64,
}

pub(super) const COLUMNS: &str = "id, session_id, to_number, text, status, wa_id, error_code, error_message, created_at, \
     expires_at, sent_at, attempts, seen, request_body, direction, chat_id, sender_number, \
     sender_name, shown_at, planned_wa_id, kind, author, has_media, media_mimetype, \
     media_filename, media_size, media_sha256, media_missing";

/// A row of [`COLUMNS`]; a kept file's path is in `files`.
pub(super) fn read(row: &Row, files: Option<&MediaFiles>) -> Result<StoredMessage, SqlError> {
    let status: String = row.get(4)?;
    let seen: Option<String> = row.get(12)?;
    let planned: Option<String> = row.get(19)?;
    // Either half recorded is an attempt; an unreadable `seen` resumes with no rows known.
    let attempt = (seen.is_some() || planned.is_some()).then(|| Attempt {
        seen: seen
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
        planned,
    });
    Ok(StoredMessage {
        id: row.get(0)?,
        session_id: row.get(1)?,
        to: row.get(2)?,
        text: row.get(3)?,
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Failed),
        wa_id: row.get(5)?,
        error_code: row.get(6)?,
        error_message: row.get(7)?,
        created_at: row.get(8)?,
        expires_at: row.get(9)?,
        sent_at: row.get(10)?,
        attempts: row.get(11)?,
        attempt,
        request_body: row.get(13)?,
        direction: if row.get::<String>(14)? == Direction::In.as_str() {
            Direction::In
        } else {
            Direction::Out
        },
        chat_id: row.get(15)?,
        sender_number: row.get(16)?,
        sender_name: row.get(17)?,
        shown_at: row.get(18)?,
        kind: row.get(20)?,
        author: row.get(21)?,
        media: if row.get(22)? {
            let sha256: Option<String> = row.get(26)?;
            Some(StoredMedia {
                mimetype: row.get(23)?,
                filename: row.get(24)?,
                size: row.get(25)?,
                path: sha256.as_deref().and_then(|sha| Some(files?.path(sha))),
                sha256,
                missing: row.get(27)?,
            })
        } else {
            None
        },
    })
}

pub(super) fn by_id(
    conn: &Conn,
    id: i64,
    files: Option<&MediaFiles>,
) -> Result<Option<StoredMessage>, SqlError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"),
        params![id],
        |row| read(row, files),
    )
}

/// The message stored under idempotency `key`, however long ago (one per key and session).
fn keyed(
    conn: &Conn,
    session_id: &str,
    key: &str,
    files: Option<&MediaFiles>,
) -> Result<Option<StoredMessage>, SqlError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM messages WHERE session_id = ?1 AND idempotency_key = ?2"),
        params![session_id, key],
        |row| read(row, files),
    )
}

/// The files named by the rows `selected` picks (an SQL condition on `messages`).
fn files_of(conn: &Conn, selected: &str, params: Vec<Value>) -> Result<BTreeSet<String>, SqlError> {
    let files = conn.query(
        &format!(
            "SELECT DISTINCT media_sha256 FROM messages WHERE media_sha256 IS NOT NULL AND ({selected})"
        ),
        params,
        |row| row.get(0),
    )?;
    Ok(files.into_iter().collect())
}

/// Of these files, those no message names any more.
fn unused(conn: &Conn, candidates: BTreeSet<String>) -> Result<Vec<String>, SqlError> {
    let mut unused = Vec::new();
    for sha in candidates {
        let named = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE media_sha256 = ?1)",
            params![sha],
            |row| row.get::<bool>(0),
        )?;
        if !named {
            unused.push(sha);
        }
    }
    Ok(unused)
}

/// The staged file is not needed (its request names a message stored before): dropped.
fn discard(staged: &Staged) {
    if let Err(e) = std::fs::remove_file(&staged.path) {
        tracing::warn!(error = %e, file = %staged.path.display(), "could not remove a staged media file");
    }
}

impl Store {
    /// Stores a new message, or finds the one stored under the same idempotency key since
    /// `key_since` (older keys are forgotten, so they may be used again).
    pub fn insert_message(
        &self,
        message: NewMessage,
        key_since: i64,
    ) -> Result<Inserted, StoreError> {
        self.insert_outgoing(message, None, key_since)
    }

    /// Stores a new media message with its staged file, placed in `media/` before the row is
    /// committed; or, as [`Store::insert_message`], finds the one stored under the same key, and
    /// then the staged file is dropped.
    pub fn insert_media_message(
        &self,
        message: NewMessage,
        media: NewMedia,
        key_since: i64,
    ) -> Result<Inserted, StoreError> {
        self.insert_outgoing(message, Some(media), key_since)
    }

    /// The message stored under `key` since `key_since`, if any.
    pub fn message_by_key(
        &self,
        session_id: &str,
        key: &str,
        key_since: i64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let (session_id, key) = (session_id.to_owned(), key.to_owned());
        let files = self.media_files();
        self.call(move |conn| {
            let found = keyed(conn, &session_id, &key, files.as_ref())?;
            Ok(found.filter(|m| m.created_at >= key_since))
        })
    }

    fn insert_outgoing(
        &self,
        message: NewMessage,
        media: Option<NewMedia>,
        key_since: i64,
    ) -> Result<Inserted, StoreError> {
        let files = self.media_files();
        if media.is_some() && files.is_none() {
            return Err(StoreError::Media(std::io::Error::other(
                "a database in memory keeps no media files",
            )));
        }
        self.call(move |conn| {
            let files = files.as_ref();
            let tx = conn.transaction()?;
            if let Some(key) = &message.idempotency_key {
                match keyed(&tx, &message.session_id, key, files)? {
                    Some(existing) if existing.created_at >= key_since => {
                        if let Some(media) = &media {
                            discard(&media.staged);
                        }
                        return Ok(Inserted::Existing(existing));
                    }
                    Some(existing) => {
                        tx.execute(
                            "UPDATE messages SET idempotency_key = NULL WHERE id = ?1",
                            params![existing.id],
                        )?;
                    }
                    None => {}
                }
            }
            let id: i64 = tx.query_row(
                "INSERT INTO messages (session_id, to_number, text, status, created_at, \
                 expires_at, idempotency_key, request_body, kind, has_media, media_mimetype, \
                 media_filename, media_size, media_sha256) \
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 RETURNING id",
                params![
                    message.session_id,
                    message.to,
                    message.text,
                    message.created_at,
                    message.expires_at,
                    message.idempotency_key,
                    message.request_body,
                    media.as_ref().map_or("chat", |m| m.kind.as_str()),
                    media.is_some(),
                    media.as_ref().map(|m| &m.mimetype),
                    media.as_ref().map(|m| &m.filename),
                    media.as_ref().map(|m| m.staged.size),
                    media.as_ref().map(|m| &m.staged.sha256),
                ],
                |row| row.get(0),
            )?;
            if let (Some(media), Some(files)) = (&media, files) {
                files.place(&media.staged.path, &media.staged.sha256)?;
            }
            let stored = by_id(&tx, id, files)?.ok_or(SqlError::NoRow)?;
            tx.commit()?;
            Ok(Inserted::New(stored))
        })
    }

    /// A message of `session_id` by wamux's id or WhatsApp's.
    pub fn message(&self, session_id: &str, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        let (session_id, id) = (session_id.to_owned(), id.to_owned());
        let files = self.media_files();
        self.call(move |conn| {
            let found = conn.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM messages WHERE session_id = ?1 \
                         AND (wa_id = ?2 OR CAST(id AS TEXT) = ?2) ORDER BY id LIMIT 1"
                ),
                params![session_id, id],
                |row| read(row, files.as_ref()),
            )?;
            Ok(found)
        })
    }

    pub fn message_by_id(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        let files = self.media_files();
        self.call(move |conn| Ok(by_id(conn, id, files.as_ref())?))
    }

    /// A session's messages of both directions, newest first, as `query` asks.
    pub fn messages(&self, session_id: &str, query: MessageQuery) -> Result<Page, StoreError> {
        let session_id = session_id.to_owned();
        let MessageQuery {
            direction,
            status,
            since,
            before,
            limit,
        } = query;
        let files = self.media_files();
        self.call(move |conn| {
            let messages = conn.query(
                &format!(
                    "SELECT {COLUMNS} FROM messages WHERE session_id = ?1 \
                 AND (status = ?2 OR ?2 IS NULL) AND (id < ?3 OR ?3 IS NULL) \
                 AND (direction = ?4 OR ?4 IS NULL) AND (created_at >= ?5 OR ?5 IS NULL) \
                 ORDER BY id DESC LIMIT ?6"
                ),
                params![
                    session_id,
                    status.map(MessageStatus::as_str),
                    before,
                    direction.map(Direction::as_str),
                    since,
                    limit
                ],
                |row| read(row, files.as_ref()),
            )?;
            let next_before = (messages.len() == limit as usize)
                .then(|| messages.last().map(|m| m.id))
                .flatten();
            Ok(Page {
                messages,
                next_before,
            })
        })
    }

    /// The session's next message to send: the oldest still queued or sending.
    pub fn next_pending(&self, session_id: &str) -> Result<Option<StoredMessage>, StoreError> {
        let session_id = session_id.to_owned();
        let files = self.media_files();
        self.call(move |conn| {
            let found = conn.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM messages WHERE session_id = ?1 \
                         AND status IN ('queued', 'sending') ORDER BY id LIMIT 1"
                ),
                params![session_id],
                |row| read(row, files.as_ref()),
            )?;
            Ok(found)
        })
    }

    /// Marks a message as handed to a worker, one more attempt; before the worker is told.
    pub fn mark_sending(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.update(id, true, move |conn| {
            conn.execute(
                "UPDATE messages SET status = 'sending', attempts = attempts + 1 \
                 WHERE id = ?1 AND status IN ('queued', 'sending')",
                params![id],
            )
        })
    }

    /// Records what identifies the attempt about to go out, both halves together.
    pub fn record_send_attempt(&self, id: i64, attempt: &Attempt) -> Result<(), StoreError> {
        let seen = serde_json::to_string(&attempt.seen).unwrap_or_else(|_| "[]".into());
        let values = params![id, seen, attempt.planned];
        self.call_fenced(SessionRef::Message(id), move |conn| {
            conn.execute(
                "UPDATE messages SET seen = ?2, planned_wa_id = ?3 WHERE id = ?1 AND status = 'sending'",
                values,
            )?;
            Ok(())
        })
    }

    pub fn mark_sent(
        &self,
        id: i64,
        wa_id: &str,
        at: i64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let wa_id = wa_id.to_owned();
        self.update(id, true, move |conn| {
            conn.execute(
                "UPDATE messages SET status = 'sent', wa_id = ?2, sent_at = ?3, error_code = NULL, \
                 error_message = NULL WHERE id = ?1 AND status IN ('queued', 'sending')",
                params![id, wa_id, at],
            )
        })
    }

    /// Ends a pending message as `failed` or `expired` with its error.
    pub fn mark_ended(
        &self,
        id: i64,
        status: MessageStatus,
        code: &str,
        message: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let (code, message) = (code.to_owned(), message.to_owned());
        // Expiry is decided by time alone: any node may end a message that never went out.
        self.update(id, false, move |conn| {
            conn.execute(
                "UPDATE messages SET status = ?2, error_code = ?3, error_message = ?4 \
                 WHERE id = ?1 AND status IN ('queued', 'sending')",
                params![id, status.as_str(), code, message],
            )
        })
    }

    /// A failed attempt that may be tried again: back to `queued` unless it may have gone out
    /// (an attempt was recorded), with the error kept for whoever asks.
    pub fn retry_later(
        &self,
        id: i64,
        code: &str,
        message: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let (code, message) = (code.to_owned(), message.to_owned());
        self.update(id, true, move |conn| {
            conn.execute(
                "UPDATE messages SET \
                 status = CASE WHEN seen IS NULL AND planned_wa_id IS NULL \
                 THEN 'queued' ELSE 'sending' END, \
                 error_code = ?2, error_message = ?3 \
                 WHERE id = ?1 AND status IN ('queued', 'sending')",
                params![id, code, message],
            )
        })
    }

    /// Pending messages whose time to live ran out by `now`.
    pub fn due_to_expire(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        self.call(move |conn| {
            let ids = conn.query(
                "SELECT id FROM messages WHERE status IN ('queued', 'sending') \
                 AND expires_at <= ?1 ORDER BY id",
                params![now],
                |row| row.get(0),
            )?;
            Ok(ids)
        })
    }

    /// A later acknowledgement of a sent message; never goes back (`read` stays `read`).
    pub fn record_ack(
        &self,
        session_id: &str,
        wa_id: &str,
        status: MessageStatus,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let (session_id, wa_id) = (session_id.to_owned(), wa_id.to_owned());
        let files = self.media_files();
        self.call_fenced(SessionRef::Id(session_id.clone()), move |conn| {
            let files = files.as_ref();
            let Some(message) = conn.query_opt(
                &format!("SELECT {COLUMNS} FROM messages WHERE session_id = ?1 AND wa_id = ?2"),
                params![session_id, wa_id],
                |row| read(row, files),
            )?
            else {
                return Ok(None);
            };
            if status.ack_rank() <= message.status.ack_rank() {
                return Ok(None);
            }
            conn.execute(
                "UPDATE messages SET status = ?2 WHERE id = ?1",
                params![message.id, status.as_str()],
            )?;
            Ok(by_id(conn, message.id, files)?)
        })
    }

    /// Each session's pending messages and the creation time of its oldest.
    pub fn queues(&self) -> Result<Vec<QueueStats>, StoreError> {
        self.call(|conn| {
            let stats = conn.query(
                "SELECT session_id, COUNT(*), MIN(created_at) FROM messages \
                 WHERE status IN ('queued', 'sending') GROUP BY session_id ORDER BY session_id",
                params![],
                |row| {
                    Ok(QueueStats {
                        session_id: row.get(0)?,
                        pending: row.get(1)?,
                        oldest_created_at: row.get(2)?,
                    })
                },
            )?;
            Ok(stats)
        })
    }

    /// Removes finished messages created before `before`, and the files no message names any
    /// more; returns how many messages.
    pub fn prune_messages(&self, before: i64) -> Result<usize, StoreError> {
        const PRUNED: &str = "status NOT IN ('queued', 'sending') AND created_at < ?1";
        self.delete_with_files(move |tx| {
            let files = files_of(tx, PRUNED, params![before])?;
            let pruned = tx.execute(
                &format!("DELETE FROM messages WHERE {PRUNED}"),
                params![before],
            )?;
            Ok((pruned, files))
        })
    }

    /// Removes every message of a session, and the files no other message names.
    pub fn delete_messages_of(&self, session_id: &str) -> Result<(), StoreError> {
        let session_id = session_id.to_owned();
        self.delete_with_files(move |tx| {
            let files = files_of(tx, "session_id = ?1", params![session_id])?;
            tx.execute(
                "DELETE FROM messages WHERE session_id = ?1",
                params![session_id],
            )?;
            Ok(((), files))
        })?;
        Ok(())
    }

    /// Removes the files no message came to own: kept files no message names
    /// ([`MediaFiles::sweep_unused`]) and what workers left in their `media-in/` folders
    /// ([`sweep_worker_files`]). On the store's thread, where files are placed, so that no
    /// file is placed for a message between the question of what is in use and the removal.
    pub fn sweep_media(&self) -> Result<(), StoreError> {
        let (Some(files), Some(root)) = (self.media_files(), self.data_dir()) else {
            return Ok(());
        };
        let sessions = DataDir::new(root.to_path_buf()).sessions();
        self.call(move |conn| {
            let in_use = files_of(conn, "TRUE", params![])?;
            files.sweep_unused(&in_use);
            sweep_worker_files(&sessions);
            Ok(())
        })
    }

    /// Runs `delete` in a transaction (it answers what it deleted, and the files the deleted
    /// rows named); once committed, removes those files that no message names any more.
    fn delete_with_files<T: Send + 'static>(
        &self,
        delete: impl FnOnce(&Conn) -> Result<(T, BTreeSet<String>), SqlError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let files = self.media_files();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let (deleted, candidates) = delete(&tx)?;
            let unused = unused(&tx, candidates)?;
            tx.commit()?;
            if let Some(files) = &files {
                for sha in unused {
                    files.remove(&sha);
                }
            }
            Ok(deleted)
        })
    }

    /// Runs one conditional update and reads the row back; `None` when it changed nothing.
    /// A `fenced` update is the session owner's, refused once it lost the session.
    fn update(
        &self,
        id: i64,
        fenced: bool,
        change: impl FnOnce(&Conn) -> Result<usize, SqlError> + Send + 'static,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let files = self.media_files();
        let job = move |conn: &Conn| {
            if change(conn)? == 0 {
                return Ok(None);
            }
            Ok(by_id(conn, id, files.as_ref())?)
        };
        if fenced {
            self.call_fenced(SessionRef::Message(id), job)
        } else {
            self.call(move |conn| job(conn))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(store: &Store, text: &str, key: Option<&str>, at: i64) -> Inserted {
        store
            .insert_message(
                NewMessage {
                    session_id: "s".into(),
                    to: "5215512345678".into(),
                    text: text.into(),
                    created_at: at,
                    expires_at: at + 1000,
                    idempotency_key: key.map(str::to_owned),
                    request_body: key.map(|_| text.to_owned()),
                },
                at - 100,
            )
            .unwrap()
    }

    fn query(before: Option<i64>, limit: u32) -> MessageQuery {
        MessageQuery {
            direction: None,
            status: None,
            since: None,
            before,
            limit,
        }
    }

    fn id(inserted: Inserted) -> i64 {
        match inserted {
            Inserted::New(m) | Inserted::Existing(m) => m.id,
        }
    }

    #[test]
    fn messages_go_out_oldest_first_and_a_sending_one_first_of_all() {
        let store = Store::open_in_memory().unwrap();
        let a = id(new(&store, "a", None, 10));
        let b = id(new(&store, "b", None, 11));
        assert_eq!(store.next_pending("s").unwrap().unwrap().id, a);
        let sending = store.mark_sending(a).unwrap().unwrap();
        assert_eq!(
            (sending.status, sending.attempts),
            (MessageStatus::Sending, 1)
        );
        assert_eq!(store.next_pending("s").unwrap().unwrap().id, a, "in order");
        store.mark_sent(a, "WA1", 20).unwrap().unwrap();
        assert_eq!(store.next_pending("s").unwrap().unwrap().id, b);
        assert!(store.next_pending("other").unwrap().is_none());
        assert!(
            store.mark_sent(a, "WA2", 21).unwrap().is_none(),
            "a sent message is never sent again"
        );
        assert_eq!(store.message("s", "WA1").unwrap().unwrap().id, a);
        assert_eq!(store.message("s", &a.to_string()).unwrap().unwrap().id, a);
        assert!(store.message("other", "WA1").unwrap().is_none());
    }

    #[test]
    fn a_message_with_a_snapshot_stays_sending_when_retried() {
        let store = Store::open_in_memory().unwrap();
        let a = id(new(&store, "a", None, 10));
        store.mark_sending(a).unwrap();
        let back = store
            .retry_later(a, "send_timeout", "slow")
            .unwrap()
            .unwrap();
        assert_eq!(
            back.status,
            MessageStatus::Queued,
            "never pressed: queued again"
        );
        store.mark_sending(a).unwrap();
        let dom = Attempt {
            seen: vec!["X1".into(), "X2".into()],
            planned: None,
        };
        store.record_send_attempt(a, &dom).unwrap();
        let back = store
            .retry_later(a, "send_timeout", "slow")
            .unwrap()
            .unwrap();
        assert_eq!(back.status, MessageStatus::Sending, "may have gone out");
        assert_eq!(back.attempt, Some(dom));
        assert_eq!(back.attempts, 2);
    }

    #[test]
    fn a_planned_id_is_kept_with_its_attempt_and_comes_back_whole() {
        let store = Store::open_in_memory().unwrap();
        let a = id(new(&store, "a", None, 10));
        assert_eq!(
            store.message_by_id(a).unwrap().unwrap().attempt,
            None,
            "no attempt yet"
        );
        store.mark_sending(a).unwrap();
        let modules = Attempt {
            seen: Vec::new(),
            planned: Some("3EB0PLANNED".into()),
        };
        store.record_send_attempt(a, &modules).unwrap();
        let back = store
            .retry_later(a, "session_unavailable", "the worker died")
            .unwrap()
            .unwrap();
        assert_eq!(back.status, MessageStatus::Sending, "may have gone out");
        assert_eq!(back.attempt, Some(modules));
        assert_eq!(
            store.next_pending("s").unwrap().unwrap().attempt,
            back.attempt
        );

        store.mark_sending(a).unwrap();
        let both = Attempt {
            seen: vec!["X1".into()],
            planned: Some("3EB0AGAIN".into()),
        };
        store.record_send_attempt(a, &both).unwrap();
        assert_eq!(
            store.message_by_id(a).unwrap().unwrap().attempt,
            Some(both),
            "the latest attempt, both halves"
        );
        store.mark_sent(a, "3EB0AGAIN", 20).unwrap().unwrap();
        let late = Attempt {
            seen: Vec::new(),
            planned: Some("3EB0LATE".into()),
        };
        store.record_send_attempt(a, &late).unwrap();
        assert_eq!(
            store
                .message_by_id(a)
                .unwrap()
                .unwrap()
                .attempt
                .unwrap()
                .planned
                .as_deref(),
            Some("3EB0AGAIN"),
            "a sent message's attempt is not rewritten"
        );
    }

    #[test]
    fn an_outgoing_message_is_a_chat_without_author() {
        let store = Store::open_in_memory().unwrap();
        let Inserted::New(m) = new(&store, "a", None, 10) else {
            panic!("a new message");
        };
        assert_eq!((m.kind.as_str(), m.author), ("chat", None));
    }

    #[test]
    fn an_idempotency_key_names_one_message_within_the_window() {
        let store = Store::open_in_memory().unwrap();
        let first = new(&store, "a", Some("k"), 10);
        assert!(matches!(first, Inserted::New(_)));
        let again = new(&store, "a", Some("k"), 50);
        assert_eq!(id(again.clone()), id(first.clone()));
        assert!(matches!(again, Inserted::Existing(_)));
        // Past the window (key_since = at - 100), the key is free again.
        let later = new(&store, "a", Some("k"), 500);
        assert!(matches!(later, Inserted::New(_)));
        assert_ne!(id(later), id(first));
    }

    #[test]
    fn acks_only_move_forward_and_finished_messages_are_pruned() {
        let store = Store::open_in_memory().unwrap();
        let a = id(new(&store, "a", None, 10));
        store.mark_sending(a).unwrap();
        store.mark_sent(a, "WA", 11).unwrap();
        let read = store
            .record_ack("s", "WA", MessageStatus::Read)
            .unwrap()
            .unwrap();
        assert_eq!(read.status, MessageStatus::Read);
        assert!(
            store
                .record_ack("s", "WA", MessageStatus::Delivered)
                .unwrap()
                .is_none()
        );
        let b = id(new(&store, "b", None, 20));
        assert_eq!(store.due_to_expire(1019).unwrap(), Vec::<i64>::new());
        assert_eq!(store.due_to_expire(1020).unwrap(), vec![b]);
        let queues = store.queues().unwrap();
        assert_eq!(queues.len(), 1);
        assert_eq!((queues[0].pending, queues[0].oldest_created_at), (1, 20));
        assert_eq!(
            store.prune_messages(1000).unwrap(),
            1,
            "the read one; b is pending"
        );
        let page = store.messages("s", query(None, 10)).unwrap();
        assert_eq!(
            page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![b]
        );
    }

    #[test]
    fn a_file_is_placed_with_its_message_and_removed_with_the_last_one_naming_it() {
        let dir = std::env::temp_dir().join(format!("wamux-outbox-media-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("wamux.db")).unwrap();
        let files = store.media_files().unwrap();
        let insert = |key: Option<&str>| {
            let media = NewMedia {
                kind: "document".into(),
                mimetype: "application/pdf".into(),
                filename: "a.pdf".into(),
                staged: files
                    .stage(b"%PDF", crate::messaging::media::sha256_hex(b"%PDF"))
                    .unwrap(),
            };
            let staged = media.staged.path.clone();
            let message = NewMessage {
                session_id: "s".into(),
                to: "5215512345678".into(),
                text: "caption".into(),
                created_at: 10,
                expires_at: 1000,
                idempotency_key: key.map(str::to_owned),
                request_body: key.map(str::to_owned),
            };
            let inserted = store.insert_media_message(message, media, 0).unwrap();
            assert!(!staged.exists(), "placed or dropped, never left");
            inserted
        };
        let Inserted::New(first) = insert(Some("k")) else {
            panic!("a new message");
        };
        let file = first.media.clone().unwrap();
        assert_eq!(first.kind, "document");
        assert_eq!(
            (
                file.mimetype.as_deref(),
                file.filename.as_deref(),
                file.size
            ),
            (Some("application/pdf"), Some("a.pdf"), Some(4))
        );
        let kept = file.path.unwrap();
        assert_eq!(kept, files.path(file.sha256.as_deref().unwrap()));
        assert_eq!(std::fs::read(&kept).unwrap(), b"%PDF");
        assert!(matches!(insert(Some("k")), Inserted::Existing(m) if m.id == first.id));
        let second = id(insert(None));

        store
            .mark_ended(first.id, MessageStatus::Failed, "x", "y")
            .unwrap();
        assert_eq!(store.prune_messages(i64::MAX).unwrap(), 1);
        assert!(kept.exists(), "the second message names it");
        store
            .mark_ended(second, MessageStatus::Failed, "x", "y")
            .unwrap();
        assert_eq!(store.prune_messages(i64::MAX).unwrap(), 1);
        assert!(!kept.exists(), "gone with the last message naming it");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();

        let memory = Store::open_in_memory().unwrap();
        assert_eq!(memory.media_files(), None);
        let staged = MediaFiles::new(std::env::temp_dir()).path("x");
        let media = NewMedia {
            kind: "image".into(),
            mimetype: "image/png".into(),
            filename: "x.png".into(),
            staged: Staged {
                path: staged,
                sha256: "x".into(),
                size: 1,
            },
        };
        let message = NewMessage {
            session_id: "s".into(),
            to: "1".into(),
            text: String::new(),
            created_at: 1,
            expires_at: 2,
            idempotency_key: None,
            request_body: None,
        };
        assert!(matches!(
            memory.insert_media_message(message, media, 0),
            Err(StoreError::Media(_))
        ));
    }

    #[test]
    fn pages_are_newest_first_with_a_cursor() {
        let store = Store::open_in_memory().unwrap();
        let ids: Vec<i64> = (0..5).map(|i| id(new(&store, "m", None, i))).collect();
        let first = store.messages("s", query(None, 2)).unwrap();
        assert_eq!(
            first.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let second = store.messages("s", query(first.next_before, 2)).unwrap();
        assert_eq!(
            second.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        let last = store.messages("s", query(second.next_before, 2)).unwrap();
        assert_eq!(last.messages.len(), 1);
        assert_eq!(last.next_before, None);
        let sent = MessageQuery {
            status: Some(MessageStatus::Sent),
            ..query(None, 10)
        };
        let queued = store.messages("s", sent).unwrap();
        assert!(queued.messages.is_empty());
    }
}
