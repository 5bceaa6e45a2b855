//! Noticing messages that arrive for the account through the DOM (contract §7), used when the
//! page's modules cannot tell them ([`super::modules`]); and, for both paths, reporting them to
//! the supervisor until it has stored them ([`Unstored`]).
//!
//! 1. A chat-list row with an unread badge ("3 unread messages") is clicked open; the ids of the
//!    rows shown before the click are kept, so the chat is known to be on show once other rows
//!    appear.
//! 2. Its last N incoming (`false_`) rows, N from the badge, are reported unless already
//!    reported; every row of the chat then counts as seen, so its history is never reported.
//! 3. While a chat stays open the page shows no badge for it, so new incoming rows of the open
//!    chat are reported as they appear. A chat the worker did not open this way (a `/send` link)
//!    is taken as seen when it first shows ([`Inbox::mark_seen`]).
//!
//! The reported ids are remembered (a bounded set), as opening a chat shows old rows again.
//! A message must never make a frame the supervisor link refuses, so [`fit`] cuts what the page
//! may make too long: a file's name (its extension kept), its MIME type, the sender's name, and
//! then the text to the room left, ending in `…`, with its original length in `original_len`.
//!
//! Reporting is at-least-once ([`Unstored`]): a reported message is kept until the supervisor
//! answers `IncomingStored` for it, and reported again every [`RESEND_AFTER`] until then. Through
//! the DOM, opening the chat marked it read on the phone, so the page would not show it as news
//! again; through the modules nothing is marked read, and each page load reports the unread
//! messages again, which the supervisor stores once. A worker
//! lives as long as its supervisor link: a new link is a new worker, which reads the chats again.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use tracing::warn;
use wamux_proto::{IncomingMedia, IncomingMessage, MAX_FRAME_LEN};

use super::media_receive::media_of;
use super::media_send::cut_name;
use super::page::{MessageKey, MessageRow, Snapshot, unread_count};

/// How long a clicked chat may take to show before the click is tried again.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);
const SEEN_CAPACITY: usize = 10_000;
/// Room in a frame beyond the bytes of the strings of an incoming message: the event's tag and,
/// for each of the message's fields (fewer than 20), its length prefix, option tag or number,
/// each at most 11 bytes in postcard.
const FRAME_OVERHEAD: usize = 256;
/// The longest MIME type kept, in bytes: RFC 6838 allows 127 for each of its two names.
const MAX_MIMETYPE_LEN: usize = 255;
/// The longest sender's name (as shown, or as WhatsApp gives it), or reason a file is missing,
/// kept, in bytes.
const MAX_LABEL_LEN: usize = 1024;
/// Ends a text that was cut to fit in a frame.
const TRUNCATION_MARK: char = '…';
/// How long a reported message waits for the supervisor's `IncomingStored` before it is
/// reported again.
pub const RESEND_AFTER: Duration = Duration::from_secs(5);
/// The most messages, and bytes of text, kept for the supervisor's answer: a supervisor that
/// never answers must not make the worker grow without end. Past either, the oldest is dropped.
const UNSTORED_CAPACITY: usize = 1_000;
const UNSTORED_TEXT_BYTES: usize = 16 * 1024 * 1024;

/// What the session should do after looking at a snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Click the chat-list row at this index.
    Open(usize),
    Report(Vec<IncomingMessage>),
}

#[derive(Default)]
pub struct Inbox {
    seen: SeenIds,
    /// The chat whose rows are all in `seen`, so that any new row of it is news.
    open_chat: Option<String>,
    opening: Option<Opening>,
}

struct Opening {
    rows_before: HashSet<String>,
    count: Option<usize>,
    since: Instant,
}

impl Inbox {
    pub fn step(&mut self, snap: &Snapshot, now: Instant) -> Step {
        let rows: Vec<(MessageKey, &MessageRow)> = snap
            .messages
            .iter()
            .filter_map(|row| Some((MessageKey::parse(&row.id)?, row)))
            .collect();
        if let Some(opening) = &self.opening {
            if rows
                .iter()
                .all(|(_, row)| opening.rows_before.contains(&row.id))
            {
                if now.duration_since(opening.since) >= OPEN_TIMEOUT {
                    self.opening = None;
                }
                return Step::Nothing;
            }
            let count = opening.count;
            self.opening = None;
            let incoming: Vec<_> = rows.iter().filter(|(key, _)| !key.from_me).collect();
            let keep = count.unwrap_or(incoming.len()).min(incoming.len());
            let recent = &incoming[incoming.len() - keep..];
            let fresh = recent
                .iter()
                .filter(|(_, row)| !self.seen.contains(&row.id))
                .map(|(key, row)| message(key, row))
                .collect();
            self.mark_seen(snap);
            return Step::Report(fresh);
        }
        if let Some(chat) = rows.last().map(|(key, _)| key.chat_id.clone()) {
            if self.open_chat.as_deref() != Some(chat.as_str()) {
                self.mark_seen(snap);
            } else {
                let fresh: Vec<_> = rows
                    .iter()
                    .filter(|(key, row)| !key.from_me && !self.seen.contains(&row.id))
                    .map(|(key, row)| message(key, row))
                    .collect();
                if !fresh.is_empty() {
                    self.mark_seen(snap);
                    return Step::Report(fresh);
                }
            }
        }
        match snap.unread.first() {
            Some(chat) => {
                self.opening = Some(Opening {
                    rows_before: rows.iter().map(|(_, row)| row.id.clone()).collect(),
                    count: unread_count(&chat.label),
                    since: now,
                });
                Step::Open(chat.index)
            }
            None => Step::Nothing,
        }
    }

    /// Takes every row of the open chat as seen: its history is not news.
    pub fn mark_seen(&mut self, snap: &Snapshot) {
        let mut chat = None;
        for row in &snap.messages {
            if let Some(key) = MessageKey::parse(&row.id) {
                self.seen.insert(&row.id);
                chat = Some(key.chat_id);
            }
        }
        if chat.is_some() {
            self.open_chat = chat;
        }
    }
}

/// A row as reported; a media row's file is read afterwards ([`super::media_receive`]), while
/// the chat is still on show.
fn message(key: &MessageKey, row: &MessageRow) -> IncomingMessage {
    let kind = row
        .media
        .as_ref()
        .map(|media| media.kind.as_str())
        .filter(|kind| !kind.is_empty())
        .unwrap_or("chat");
    let filename = row.media.as_ref().and_then(|media| media.name.clone());
    IncomingMessage {
        message_id: key.message_id.clone(),
        chat_id: key.chat_id.clone(),
        sender: row.sender.clone().unwrap_or_default(),
        text: row.text.clone().unwrap_or_default(),
        kind: kind.to_owned(),
        media: media_of(kind, None, filename, None),
        ..IncomingMessage::default()
    }
}

/// `message` cut to fit in a frame, however it was read, once its file was (which adds a path
/// and maybe a MIME type or a reason): a file name longer than a file system takes (its
/// extension kept), a MIME type longer than one can be, a sender's name or reason longer than
/// [`MAX_LABEL_LEN`], and then the text to what room is left. A text cut once keeps the
/// `original_len` of that first cut.
pub fn fit(mut message: IncomingMessage) -> IncomingMessage {
    cut(&mut message.sender, MAX_LABEL_LEN, Some(TRUNCATION_MARK));
    if let Some(name) = &mut message.name {
        cut(name, MAX_LABEL_LEN, Some(TRUNCATION_MARK));
    }
    if let Some(media) = &mut message.media {
        media.filename = media.filename.take().map(cut_name);
        if let Some(mimetype) = &mut media.mimetype {
            cut(mimetype, MAX_MIMETYPE_LEN, None);
        }
        if let Some(missing) = &mut media.missing {
            cut(missing, MAX_LABEL_LEN, Some(TRUNCATION_MARK));
        }
    }
    let room = MAX_FRAME_LEN.saturating_sub(len_but_text(&message));
    let original_len = message.text.len();
    if cut(&mut message.text, room, Some(TRUNCATION_MARK)) {
        message.original_len = message.original_len.or(Some(original_len));
        warn!(
            message_id = %message.message_id,
            chat = %message.chat_id,
            original_len,
            kept = message.text.len(),
            "incoming text too long for a frame, cut"
        );
    }
    message
}

/// An upper bound on the bytes of the `Incoming` frame of `message`, its text left out.
fn len_but_text(message: &IncomingMessage) -> usize {
    // Every field named, so that one added to the message is not forgotten here.
    let IncomingMessage {
        message_id,
        chat_id,
        sender,
        name,
        author,
        kind,
        timestamp: _,
        text: _,
        original_len: _,
        media,
    } = message;
    let media_len = media.as_ref().map_or(0, |media| {
        let IncomingMedia {
            mimetype,
            filename,
            path,
            size: _,
            sha256,
            missing,
        } = media;
        [mimetype, filename, path, sha256, missing]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum()
    });
    let strings: usize = [message_id, chat_id, sender, kind]
        .into_iter()
        .chain(name)
        .chain(author)
        .map(String::len)
        .sum();
    FRAME_OVERHEAD + strings + media_len
}

/// Cuts `text` to at most `max` bytes on a character boundary, ending in `mark` if given (its
/// bytes counted); whether it did.
fn cut(text: &mut String, max: usize, mark: Option<char>) -> bool {
    if text.len() <= max {
        return false;
    }
    let room = max.saturating_sub(mark.map_or(0, char::len_utf8));
    text.truncate(text.floor_char_boundary(room));
    text.extend(mark);
    true
}

/// The messages reported and not yet answered by `IncomingStored`, oldest first.
#[derive(Default)]
pub struct Unstored {
    waiting: VecDeque<Waiting>,
    text_bytes: usize,
}

struct Waiting {
    message: IncomingMessage,
    reported_at: Instant,
}

impl Unstored {
    /// Keeps a message just reported until it is stored.
    pub fn reported(&mut self, message: IncomingMessage, now: Instant) {
        self.stored(&message.message_id);
        self.text_bytes += message.text.len();
        self.waiting.push_back(Waiting {
            message,
            reported_at: now,
        });
        while self.waiting.len() > UNSTORED_CAPACITY || self.text_bytes > UNSTORED_TEXT_BYTES {
            let Some(oldest) = self.waiting.pop_front() else {
                break;
            };
            self.text_bytes -= oldest.message.text.len();
            warn!(
                message_id = %oldest.message.message_id,
                chat = %oldest.message.chat_id,
                "the supervisor never said this message is stored; no longer reporting it"
            );
        }
    }

    /// Whether every message reported has been stored.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The supervisor stored the message: it is not reported again.
    pub fn stored(&mut self, message_id: &str) {
        if let Some(i) = self
            .waiting
            .iter()
            .position(|w| w.message.message_id == message_id)
            && let Some(done) = self.waiting.remove(i)
        {
            self.text_bytes -= done.message.text.len();
        }
    }

    /// The messages to report again now: reported [`RESEND_AFTER`] ago or more, unanswered.
    /// Each counts as reported now.
    pub fn due(&mut self, now: Instant) -> Vec<IncomingMessage> {
        self.waiting
            .iter_mut()
            .filter(|w| now.duration_since(w.reported_at) >= RESEND_AFTER)
            .map(|w| {
                w.reported_at = now;
                w.message.clone()
            })
            .collect()
    }
}

/// Message ids already seen, forgetting the oldest past [`SEEN_CAPACITY`].
#[derive(Default)]
pub struct SeenIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl SeenIds {
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    pub fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            if self.order.len() > SEEN_CAPACITY
                && let Some(oldest) = self.order.pop_front()
            {
                self.set.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wamux_proto::WorkerEvent;

    fn snap(messages: serde_json::Value, unread: serde_json::Value) -> Snapshot {
        serde_json::from_value(json!({"paneSide": true, "messages": messages, "unread": unread}))
            .unwrap()
    }

    fn incoming(chat: &str, id: &str, text: &str) -> serde_json::Value {
        json!({"id": format!("false_{chat}_{id}"), "labels": [], "text": text,
               "sender": "[10:00, 1/2/2026] Ana: "})
    }

    fn outgoing(chat: &str, id: &str) -> serde_json::Value {
        json!({"id": format!("true_{chat}_{id}"), "labels": [" Read "]})
    }

    fn texts(step: Step) -> Vec<String> {
        match step {
            Step::Report(messages) => messages.into_iter().map(|m| m.text).collect(),
            other => panic!("expected a report, got {other:?}"),
        }
    }

    #[test]
    fn an_unread_chat_is_opened_and_only_its_new_messages_reported() {
        let mut inbox = Inbox::default();
        let t = Instant::now();
        let idle = snap(
            json!([]),
            json!([{"index": 1, "label": "2 unread messages"}]),
        );
        assert_eq!(inbox.step(&idle, t), Step::Open(1));
        assert_eq!(
            inbox.step(&idle, t),
            Step::Nothing,
            "waits for the chat to show"
        );
        let chat = "111@c.us";
        let opened = snap(
            json!([
                incoming(chat, "OLD", "history"),
                outgoing(chat, "MINE"),
                incoming(chat, "N1", "one"),
                incoming(chat, "N2", "two"),
            ]),
            json!([]),
        );
        let step = inbox.step(&opened, t);
        if let Step::Report(messages) = &step {
            assert_eq!(messages[0].message_id, "N1");
            assert_eq!(messages[0].chat_id, chat);
            assert_eq!(messages[0].sender, "[10:00, 1/2/2026] Ana: ");
        }
        assert_eq!(texts(step), ["one", "two"]);
        assert_eq!(inbox.step(&opened, t), Step::Nothing, "reported once");
    }

    #[test]
    fn new_rows_of_the_open_chat_are_reported() {
        let mut inbox = Inbox::default();
        let t = Instant::now();
        let chat = "111@c.us";
        let before = snap(json!([incoming(chat, "A", "old")]), json!([]));
        assert_eq!(
            inbox.step(&before, t),
            Step::Nothing,
            "an unknown chat is history"
        );
        let after = snap(
            json!([incoming(chat, "A", "old"), incoming(chat, "B", "new")]),
            json!([]),
        );
        assert_eq!(texts(inbox.step(&after, t)), ["new"]);
        assert_eq!(inbox.step(&after, t), Step::Nothing);
    }

    #[test]
    fn a_chat_opened_for_sending_is_history() {
        let mut inbox = Inbox::default();
        let t = Instant::now();
        let chat = "222@c.us";
        let shown = snap(json!([incoming(chat, "A", "old")]), json!([]));
        inbox.mark_seen(&shown);
        let reply = snap(
            json!([
                incoming(chat, "A", "old"),
                outgoing(chat, "M"),
                incoming(chat, "R", "reply")
            ]),
            json!([]),
        );
        assert_eq!(texts(inbox.step(&reply, t)), ["reply"]);
    }

    #[test]
    fn a_click_that_opens_nothing_is_retried() {
        let mut inbox = Inbox::default();
        let t = Instant::now();
        let idle = snap(json!([]), json!([{"index": 0, "label": "unread message"}]));
        assert_eq!(inbox.step(&idle, t), Step::Open(0));
        assert_eq!(inbox.step(&idle, t + Duration::from_secs(1)), Step::Nothing);
        assert_eq!(inbox.step(&idle, t + OPEN_TIMEOUT), Step::Nothing);
        assert_eq!(inbox.step(&idle, t + OPEN_TIMEOUT), Step::Open(0));
    }

    #[test]
    fn a_badge_without_a_count_reports_every_unseen_row() {
        let mut inbox = Inbox::default();
        let t = Instant::now();
        let idle = snap(json!([]), json!([{"index": 0, "label": "unread messages"}]));
        assert_eq!(inbox.step(&idle, t), Step::Open(0));
        let chat = "9@g.us";
        let opened = snap(
            json!([
                incoming(chat, "A_1@c.us", "a"),
                incoming(chat, "B_2@c.us", "b")
            ]),
            json!([]),
        );
        assert_eq!(texts(inbox.step(&opened, t)), ["a", "b"]);
    }

    #[test]
    fn a_media_row_is_reported_with_its_kind_caption_and_file_name() {
        let mut inbox = Inbox::default();
        let t = Instant::now();
        let chat = "111@c.us";
        inbox.mark_seen(&snap(json!([incoming(chat, "A", "old")]), json!([])));
        let mut photo = incoming(chat, "P", "look");
        photo["media"] = json!({"kind": "image", "blob": "blob:http://x/1"});
        let mut document = incoming(chat, "D", "");
        document["text"] = json!(null);
        document["media"] = json!({"kind": "document", "blob": null, "name": "a.pdf"});
        let shown = snap(
            json!([incoming(chat, "A", "old"), photo, document]),
            json!([]),
        );
        let Step::Report(messages) = inbox.step(&shown, t) else {
            panic!("expected a report");
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(
            (messages[0].kind.as_str(), messages[0].text.as_str()),
            ("image", "look")
        );
        let media = messages[0].media.as_ref().expect("a file");
        assert_eq!((&media.filename, &media.path), (&None, &None));
        assert_eq!(
            (messages[1].kind.as_str(), messages[1].text.as_str()),
            ("document", "")
        );
        let media = messages[1].media.as_ref().expect("a file");
        assert_eq!(media.filename.as_deref(), Some("a.pdf"));
        let (key, row) = row_with_text("plain");
        assert_eq!(message(&key, &row).media, None);
    }

    fn row_with_text(text: &str) -> (MessageKey, MessageRow) {
        let chat = "111@c.us";
        let row: MessageRow = serde_json::from_value(incoming(chat, "LONG", text)).unwrap();
        (MessageKey::parse(&row.id).unwrap(), row)
    }

    #[test]
    fn a_text_too_long_for_a_frame_is_cut_on_a_char_boundary() {
        // 4-byte characters, with one 1-byte character in front so that the cut point of a
        // byte count falls inside a character.
        let text = format!("a{}", "\u{1F600}".repeat(70_000));
        let (key, row) = row_with_text(&text);
        let room = MAX_FRAME_LEN - len_but_text(&message(&key, &row));
        let cut = fit(message(&key, &row));
        assert_eq!(cut.message_id, "LONG");
        assert_eq!(cut.original_len, Some(text.len()));
        assert!(cut.text.len() <= room, "{} bytes", cut.text.len());
        assert!(cut.text.len() > room - 8, "cut no more than needed");
        let kept = cut
            .text
            .strip_suffix(TRUNCATION_MARK)
            .expect("ends with the mark");
        assert!(text.starts_with(kept));
        let again = fit(cut.clone());
        assert_eq!(again, cut, "a message that fits is left alone");

        let (key, row) = row_with_text("hola");
        let whole = fit(message(&key, &row));
        assert_eq!((whole.text.as_str(), whole.original_len), ("hola", None));

        let exact = "b".repeat(room);
        let (key, row) = row_with_text(&exact);
        let fits = fit(message(&key, &row));
        assert_eq!((fits.text.len(), fits.original_len), (room, None));
    }

    /// The event as the supervisor reads it; panics if it makes no frame.
    async fn through_a_frame(message: IncomingMessage) -> (usize, IncomingMessage) {
        let event = WorkerEvent::Incoming(Box::new(message));
        let mut out = Vec::new();
        wamux_proto::write_frame(&mut out, &event).await.unwrap();
        let back: WorkerEvent = wamux_proto::read_frame(&mut out.as_slice())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, event);
        let WorkerEvent::Incoming(back) = back else {
            unreachable!("compared above")
        };
        (out.len(), *back)
    }

    /// The longest text the worker sends still makes a frame the supervisor can read.
    #[tokio::test]
    async fn a_cut_text_fits_in_a_frame() {
        let (key, row) = row_with_text(&"\u{1F600}".repeat(100_000));
        through_a_frame(fit(message(&key, &row))).await;
    }

    /// A file's name and type are the page's too, however long: they are cut, and the text
    /// gets the room that is left.
    #[tokio::test]
    async fn a_huge_file_name_and_caption_still_fit_in_a_frame() {
        let message = IncomingMessage {
            message_id: "3EB0C767D26A1B".into(),
            chat_id: "5215550001111@c.us".into(),
            sender: "s".repeat(100_000),
            name: Some("ñ".repeat(50_000)),
            author: Some("5215550002222@c.us".into()),
            kind: "document".into(),
            timestamp: Some(i64::MAX),
            text: "\u{1F600}".repeat(100_000),
            media: Some(IncomingMedia {
                mimetype: Some(format!("application/{}", "x".repeat(100_000))),
                filename: Some(format!("{}.pdf", "ñ".repeat(150_000))),
                path: Some(format!("/var/lib/wamux/media-in/{}", "0".repeat(32))),
                size: Some(u64::MAX),
                sha256: Some("f".repeat(64)),
                missing: Some("e".repeat(100_000)),
            }),
            ..IncomingMessage::default()
        };
        let text_len = message.text.len();
        assert!(
            message
                .media
                .as_ref()
                .unwrap()
                .filename
                .as_ref()
                .unwrap()
                .len()
                > 300_000
        );
        let (frame_len, back) = through_a_frame(fit(message)).await;
        assert!(frame_len <= MAX_FRAME_LEN + 4, "{frame_len} bytes");
        assert!(
            frame_len > MAX_FRAME_LEN - FRAME_OVERHEAD,
            "the text was cut no more than needed: {frame_len} bytes"
        );
        assert_eq!(back.original_len, Some(text_len));
        assert!(back.text.ends_with(TRUNCATION_MARK));
        let media = back.media.unwrap();
        let filename = media.filename.unwrap();
        assert!(
            filename.len() <= 255 && filename.len() > 250,
            "{}",
            filename.len()
        );
        assert!(filename.ends_with("ñ.pdf"), "the extension kept");
        let mimetype = media.mimetype.unwrap();
        assert_eq!(mimetype.len(), MAX_MIMETYPE_LEN);
        assert!(mimetype.starts_with("application/x"));
        assert!(back.sender.len() <= MAX_LABEL_LEN);
        assert!(back.name.unwrap().len() <= MAX_LABEL_LEN);
        assert!(media.missing.unwrap().len() <= MAX_LABEL_LEN);
        assert_eq!(
            media.path.unwrap().len(),
            24 + 32,
            "an id or path is never cut"
        );
    }

    fn reported(id: &str, text: &str) -> IncomingMessage {
        IncomingMessage {
            message_id: id.into(),
            chat_id: "111@c.us".into(),
            sender: "[10:00, 1/2/2026] Ana: ".into(),
            text: text.into(),
            kind: "chat".into(),
            ..IncomingMessage::default()
        }
    }

    fn ids(messages: &[IncomingMessage]) -> Vec<&str> {
        messages.iter().map(|m| m.message_id.as_str()).collect()
    }

    #[test]
    fn an_unanswered_message_is_reported_again_until_stored() {
        let mut unstored = Unstored::default();
        let t = Instant::now();
        unstored.reported(reported("A", "a"), t);
        unstored.reported(reported("B", "b"), t + Duration::from_secs(2));
        assert!(
            unstored.due(t + Duration::from_secs(1)).is_empty(),
            "too soon"
        );
        assert_eq!(ids(&unstored.due(t + RESEND_AFTER)), ["A"]);
        assert!(
            unstored.due(t + RESEND_AFTER).is_empty(),
            "A counts as reported again"
        );
        let later = t + RESEND_AFTER + Duration::from_secs(2);
        assert_eq!(ids(&unstored.due(later)), ["B"]);
        unstored.stored("A");
        assert_eq!(ids(&unstored.due(t + 3 * RESEND_AFTER)), ["B"]);
        unstored.stored("B");
        unstored.stored("B");
        assert!(unstored.due(t + 10 * RESEND_AFTER).is_empty());
        assert_eq!(unstored.text_bytes, 0);
    }

    #[test]
    fn a_message_reported_twice_is_kept_once() {
        let mut unstored = Unstored::default();
        let t = Instant::now();
        unstored.reported(reported("A", "a"), t);
        unstored.reported(reported("A", "a"), t + Duration::from_secs(3));
        assert!(
            unstored.due(t + RESEND_AFTER).is_empty(),
            "the later report counts"
        );
        assert_eq!(ids(&unstored.due(t + 2 * RESEND_AFTER)), ["A"]);
    }

    #[test]
    fn the_unstored_messages_are_bounded_in_number_and_bytes() {
        let mut unstored = Unstored::default();
        let t = Instant::now();
        for i in 0..UNSTORED_CAPACITY + 3 {
            unstored.reported(reported(&i.to_string(), "x"), t);
        }
        let due = unstored.due(t + RESEND_AFTER);
        assert_eq!(due.len(), UNSTORED_CAPACITY);
        assert_eq!(due[0].message_id, "3", "the oldest were dropped");

        let mut unstored = Unstored::default();
        const BIG: usize = 200 * 1024;
        let big = "y".repeat(BIG);
        for i in 0..UNSTORED_TEXT_BYTES / BIG + 2 {
            unstored.reported(reported(&i.to_string(), &big), t);
        }
        assert!(unstored.text_bytes <= UNSTORED_TEXT_BYTES);
        let due = unstored.due(t + RESEND_AFTER);
        assert_eq!(due.len(), UNSTORED_TEXT_BYTES / BIG);
        assert_eq!(due.last().unwrap().message_id, (due.len() + 1).to_string());
    }

    #[test]
    fn the_seen_set_is_bounded() {
        let mut seen = SeenIds::default();
        for i in 0..SEEN_CAPACITY + 5 {
            seen.insert(&i.to_string());
        }
        assert!(!seen.contains("0"));
        assert!(seen.contains(&(SEEN_CAPACITY + 4).to_string()));
        assert_eq!(seen.set.len(), SEEN_CAPACITY);
    }
}
