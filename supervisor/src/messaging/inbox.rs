//! The inbox service: every message that arrives for a session is stored once, durably, and
//! told of once.
//!
//! 1. The worker reports a message it read (`Incoming`), and again until it is answered.
//! 2. [`Inbox::receive`] works out the sender (its name: WhatsApp's `notifyName` when read
//!    through the page's modules, else the name the DOM shows; its number: the chat's, a group
//!    author's, or a name that is one), keeps the time shown and the time sent, and stores the
//!    message, idempotent on the session and WhatsApp id.
//!    A media message's file, which the worker wrote in its session's `media-in/` folder, is
//!    checked ([`Inbox::inspect`]: inside that folder, its bytes of the SHA-256 reported) and
//!    moved into `media/` with the message (`store::inbox`); a file that fails the check is
//!    not kept, and the message says why (`mediaMissing`).
//! 3. Once stored, now or before, the session driver answers `IncomingStored`, so the worker
//!    stops reporting it; only a newly stored message is published as `MessageReceived`.
//!
//! Stored messages are listed with the outbox's (`GET .../messages?direction=in`) and pruned
//! with them after the retention.

use std::path::{Path, PathBuf};

use serde::Serialize;
use wamux_proto::{IncomingMedia, IncomingMessage};

use crate::daemon::config::DataDir;
use crate::messaging::media::{self, blocking, clean_filename, hash_file};
use crate::sessions::events::{EventBus, EventKind};
use crate::sessions::session::now_ms;
use crate::store::{IncomingFile, NewIncoming, Store, StoreError, StoredMessage};

/// What a `messageReceived` event tells of a media message's file; every field is null for a
/// text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedMedia {
    /// The caption: the message's `text`.
    pub caption: Option<String>,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    /// Where the file is served (`GET /api/sessions/{id}/messages/{messageId}/media`), when
    /// its bytes are kept.
    pub media_url: Option<String>,
    /// Why its bytes are not kept.
    pub media_missing: Option<String>,
}

impl ReceivedMedia {
    /// What a stored message tells of its file: all null for a text.
    pub fn of(m: &StoredMessage) -> ReceivedMedia {
        let Some(file) = &m.media else {
            return ReceivedMedia::default();
        };
        ReceivedMedia {
            caption: Some(m.text.clone()),
            mimetype: file.mimetype.clone(),
            filename: file.filename.clone(),
            media_url: file.path.as_ref().map(|_| media::url(&m.session_id, m.id)),
            media_missing: file.missing.clone(),
        }
    }
}

/// Over the store and the event bus it is given; cheap to make where they are at hand.
pub struct Inbox<'a> {
    store: &'a Store,
    events: &'a EventBus,
}

impl<'a> Inbox<'a> {
    pub fn new(store: &'a Store, events: &'a EventBus) -> Self {
        Inbox { store, events }
    }

    /// Stores a message the worker reported; `Some` when it is new, `None` when it was stored
    /// already. Either way it is stored when this returns `Ok`.
    pub fn receive(
        &self,
        session_id: &str,
        session_dir: &str,
        message: IncomingMessage,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let shown = Shown::parse(&message.sender);
        let name = sender_name(message.name.as_deref(), shown.name);
        let sender_number =
            sender_number(&message.chat_id, message.author.as_deref(), name.as_deref());
        let kind = message_kind(&message.kind);
        let media = match &message.media {
            Some(m) => Some(self.inspect(session_dir, &message.message_id, m)?),
            None => None,
        };
        let stored = self.store.insert_incoming(NewIncoming {
            session_id: session_id.to_owned(),
            wa_id: message.message_id.clone(),
            chat_id: message.chat_id.clone(),
            sender_number,
            sender_name: name.clone(),
            author: message.author.clone(),
            kind: kind.clone(),
            text: message.text.clone(),
            shown_at: shown.at,
            sent_at: message.timestamp.map(|t| t.saturating_mul(1000)),
            received_at: now_ms(),
            media,
        })?;
        if let Some(stored) = &stored {
            self.events.publish(
                session_id,
                EventKind::MessageReceived {
                    message_id: message.message_id,
                    chat_id: message.chat_id,
                    sender: message.sender,
                    name,
                    author: message.author,
                    message_type: kind,
                    timestamp: message.timestamp,
                    media: Box::new(ReceivedMedia::of(stored)),
                    text: message.text,
                },
            );
        }
        Ok(stored)
    }

    /// What becomes of an incoming message's file. Its bytes are kept only when the worker's
    /// file is inside its session's `media-in/` folder (symbolic links resolved) and hashes to
    /// what the worker reported; a file there that does not is removed, and one anywhere else
    /// is left alone: wamux removes only what is its own.
    fn inspect(
        &self,
        session_dir: &str,
        message_id: &str,
        media: &IncomingMedia,
    ) -> Result<IncomingFile, StoreError> {
        let mut file = IncomingFile {
            mimetype: media.mimetype.as_deref().and_then(media::essence),
            filename: media.filename.as_deref().and_then(clean_filename),
            size: media.size,
            sha256: None,
            file: None,
            missing: media.missing.clone(),
        };
        let Some(path) = &media.path else {
            return Ok(file);
        };
        let reported = media.sha256.as_deref();
        match blocking(|| self.check(session_dir, Path::new(path), reported)) {
            Ok(Checked::Here { path, sha256, size }) => {
                file.file = Some(path);
                file.sha256 = Some(sha256);
                file.size = Some(size);
                file.missing = None;
            }
            Ok(Checked::Kept { sha256 }) => {
                file.sha256 = Some(sha256);
                file.missing = None;
            }
            Err(reason) => {
                tracing::warn!(message_id, file = %path, %reason, "an incoming file is not kept");
                file.missing = Some(reason);
            }
        }
        Ok(file)
    }

    fn check(
        &self,
        session_dir: &str,
        path: &Path,
        reported: Option<&str>,
    ) -> Result<Checked, String> {
        let (Some(root), Some(files)) = (self.store.data_dir(), self.store.media_files()) else {
            return Err("this daemon keeps no media files".into());
        };
        let folder = DataDir::new(root.to_path_buf()).media_in(session_dir);
        let folder = folder
            .canonicalize()
            .map_err(|e| format!("the session's media folder cannot be read: {e}"))?;
        let path = match path.canonicalize() {
            Ok(path) => path,
            // Moved into `media/` for an earlier report of this message, whose row did not
            // commit: the daemon stopped in between.
            Err(_)
                if reported
                    .is_some_and(|sha| media::valid_sha256(sha) && files.path(sha).is_file()) =>
            {
                return Ok(Checked::Kept {
                    sha256: reported.unwrap_or_default().to_owned(),
                });
            }
            Err(e) => return Err(format!("the worker's file cannot be read: {e}")),
        };
        if !path.starts_with(&folder) || path == folder || !path.is_file() {
            return Err("the worker named a file outside its media folder".into());
        }
        let (sha256, size) =
            hash_file(&path).map_err(|e| format!("the worker's file cannot be read: {e}"))?;
        if reported.is_some_and(|r| r != sha256) {
            let _ = std::fs::remove_file(&path);
            return Err("the file's bytes do not match the SHA-256 the worker reported".into());
        }
        Ok(Checked::Here { path, sha256, size })
    }
}

/// An incoming file that passed [`Inbox::check`].
enum Checked {
    /// The worker's file, to move into `media/`.
    Here {
        path: PathBuf,
        sha256: String,
        size: u64,
    },
    /// In `media/` already.
    Kept { sha256: String },
}

/// What the page's `data-pre-plain-text` shows: `[HH:MM, D/M/YYYY] Name: `.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    /// The time as shown, `HH:MM, D/M/YYYY` (its order of day and month is the phone's).
    at: Option<String>,
    name: Option<String>,
}

impl Shown {
    fn parse(pre: &str) -> Shown {
        let pre = pre.trim();
        let (at, rest) = match pre.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((at, rest)) => (Some(at.trim()), rest.trim()),
            None => (None, pre),
        };
        let name = rest.strip_suffix(':').unwrap_or(rest).trim();
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Shown {
            at: at.and_then(some),
            name: some(name),
        }
    }
}

/// The sender's name: WhatsApp's own (`notifyName`) when the modules gave it, else the one the
/// DOM showed.
fn sender_name(notify_name: Option<&str>, shown: Option<String>) -> Option<String> {
    notify_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or(shown)
}

/// WhatsApp's type of the message; one a worker could not tell is taken for a text, `chat`.
fn message_kind(kind: &str) -> String {
    match kind.trim() {
        "" => "chat".to_owned(),
        kind => kind.to_owned(),
    }
}

/// The digits of a person's wid, `DIGITS@c.us`.
fn wid_user(wid: &str) -> Option<&str> {
    wid.strip_suffix("@c.us")
        .filter(|user| !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()))
}

/// The sender's number: a person's chat (`DIGITS@c.us`) is named by it; in a group, its
/// author's wid when that is a number (`DIGITS@c.us`, not `ID@lid`). Otherwise, as in a chat by
/// `@lid`, the page shows it only as the name of a sender who is not a contact.
fn sender_number(chat_id: &str, author: Option<&str>, name: Option<&str>) -> Option<String> {
    let digits = |s: &str| {
        let d: String = s.chars().filter(char::is_ascii_digit).collect();
        (8..=15).contains(&d.len()).then_some(d)
    };
    if let Some(user) = wid_user(chat_id).or_else(|| author.and_then(wid_user)) {
        return Some(user.to_owned());
    }
    let name = name?;
    if name
        .chars()
        .all(|c| c.is_ascii_digit() || "+ -()".contains(c))
    {
        return digits(name);
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::messaging::status::{Direction, MessageStatus};

    #[test]
    fn the_time_and_name_are_taken_from_what_the_page_shows() {
        assert_eq!(
            Shown::parse("[10:05, 3/2/2026] Ana María: "),
            Shown {
                at: Some("10:05, 3/2/2026".into()),
                name: Some("Ana María".into())
            }
        );
        assert_eq!(
            Shown::parse("[10:05, 3/2/2026] Re: sí: "),
            Shown {
                at: Some("10:05, 3/2/2026".into()),
                name: Some("Re: sí".into())
            },
            "only the colon at the end ends the name"
        );
        assert_eq!(
            Shown::parse(""),
            Shown {
                at: None,
                name: None
            }
        );
        assert_eq!(
            Shown::parse("Ana:"),
            Shown {
                at: None,
                name: Some("Ana".into())
            }
        );
    }

    #[test]
    fn the_number_comes_from_a_person_chat_or_a_name_that_is_one() {
        assert_eq!(
            sender_number("5215550002222@c.us", None, Some("Ana")).as_deref(),
            Some("5215550002222")
        );
        assert_eq!(sender_number("1203630@g.us", None, Some("Ana")), None);
        assert_eq!(
            sender_number("1203630@g.us", None, Some("+52 1 55 5000 2222")).as_deref(),
            Some("5215550002222")
        );
        assert_eq!(sender_number("99887766@lid", None, None), None);
        assert_eq!(
            sender_number("99887766@lid", None, Some("+1 (555) 010-0199")).as_deref(),
            Some("15550100199")
        );
        assert_eq!(
            sender_number("1203630@g.us", None, Some("123")),
            None,
            "too short"
        );
    }

    #[test]
    fn in_a_group_the_number_is_the_authors_when_it_is_one() {
        assert_eq!(
            sender_number("1203630@g.us", Some("5215550003333@c.us"), Some("Ana")).as_deref(),
            Some("5215550003333")
        );
        assert_eq!(
            sender_number(
                "1203630@g.us",
                Some("5215550003333@c.us"),
                Some("+1 555 010 0199")
            )
            .as_deref(),
            Some("5215550003333"),
            "the author before the name"
        );
        assert_eq!(
            sender_number("1203630@g.us", Some("99887766@lid"), Some("Ana")),
            None,
            "a hidden number"
        );
        assert_eq!(
            sender_number(
                "1203630@g.us",
                Some("99887766@lid"),
                Some("+52 1 55 5000 2222")
            )
            .as_deref(),
            Some("5215550002222"),
            "hidden, but the name is a number"
        );
        assert_eq!(
            sender_number("1203630@g.us", Some("abc@c.us"), None),
            None,
            "not digits"
        );
        assert_eq!(
            sender_number("5215550002222@c.us", Some("5215550003333@c.us"), None).as_deref(),
            Some("5215550002222"),
            "a person's chat is named by its number"
        );
    }

    #[test]
    fn whatsapps_name_comes_before_the_one_shown() {
        assert_eq!(
            sender_name(Some("Ana"), Some("Ana María".into())).as_deref(),
            Some("Ana")
        );
        assert_eq!(
            sender_name(None, Some("Ana María".into())).as_deref(),
            Some("Ana María")
        );
        assert_eq!(
            sender_name(Some("  "), Some("Ana María".into())).as_deref(),
            Some("Ana María"),
            "a blank notifyName is none"
        );
        assert_eq!(sender_name(Some(" Ana "), None).as_deref(), Some("Ana"));
        assert_eq!(sender_name(None, None), None);
        assert_eq!(message_kind("image"), "image");
        assert_eq!(message_kind(""), "chat");
    }

    #[tokio::test]
    async fn a_message_is_stored_and_told_of_once() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let events = EventBus::new(store.clone());
        let mut live = events.subscribe();
        let inbox = Inbox::new(&store, &events);
        let message = IncomingMessage {
            message_id: "WA1".into(),
            chat_id: "5215550002222@c.us".into(),
            sender: "[10:05, 3/2/2026] Ana: ".into(),
            text: "hola".into(),
            kind: "chat".into(),
            ..IncomingMessage::default()
        };
        let stored = inbox
            .receive("s", "s", message.clone())
            .unwrap()
            .expect("new");
        assert_eq!(stored.direction, Direction::In);
        assert_eq!(stored.status, MessageStatus::Received);
        assert_eq!(stored.sender_number.as_deref(), Some("5215550002222"));
        assert_eq!(stored.sender_name.as_deref(), Some("Ana"));
        assert_eq!(stored.shown_at.as_deref(), Some("10:05, 3/2/2026"));
        assert_eq!((stored.kind.as_str(), stored.sent_at), ("chat", None));
        assert_eq!(
            inbox.receive("s", "s", message).unwrap(),
            None,
            "reported again"
        );

        let event = live.try_recv().expect("one event");
        assert!(
            matches!(&event.kind, EventKind::MessageReceived { message_id, .. } if message_id == "WA1"),
            "{event:?}"
        );
        assert!(live.try_recv().is_err(), "and only one");
    }

    /// Read through the modules: no DOM prefix, WhatsApp's name, a group author, a type and a
    /// time sent.
    #[tokio::test]
    async fn a_message_read_through_the_modules_keeps_what_whatsapp_tells() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let events = EventBus::new(store.clone());
        let mut live = events.subscribe();
        let inbox = Inbox::new(&store, &events);
        let message = IncomingMessage {
            message_id: "false_120363@g.us_3EB0X_5215550003333@c.us".into(),
            chat_id: "120363@g.us".into(),
            sender: String::new(),
            name: Some("Beto".into()),
            author: Some("5215550003333@c.us".into()),
            kind: "image".into(),
            timestamp: Some(1_767_225_600),
            text: "la foto".into(),
            original_len: None,
            media: None,
        };
        let stored = inbox.receive("s", "s", message).unwrap().expect("new");
        assert_eq!(stored.sender_name.as_deref(), Some("Beto"));
        assert_eq!(stored.sender_number.as_deref(), Some("5215550003333"));
        assert_eq!(stored.author.as_deref(), Some("5215550003333@c.us"));
        assert_eq!(stored.kind, "image");
        assert_eq!(stored.sent_at, Some(1_767_225_600_000));
        assert_eq!(stored.shown_at, None, "nothing shown");
        assert_eq!(stored.text, "la foto");

        let event = serde_json::to_value(live.try_recv().expect("one event")).unwrap();
        assert_eq!(event["type"], "messageReceived");
        assert_eq!(event["name"], "Beto");
        assert_eq!(event["author"], "5215550003333@c.us");
        assert_eq!(event["messageType"], "image");
        assert_eq!(event["timestamp"], 1_767_225_600);
        assert_eq!(event["sender"], "");
    }
}
