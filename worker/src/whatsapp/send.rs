//! Sending one text message through a `/send` link, as a person clicking `wa.me` would, so that
//! it goes out once even when a worker dies in the middle of it.
//!
//! 1. With `resume` (an earlier attempt may have gone out; `resume` is its snapshot): open the
//!    chat with `BASE/send?phone=DIGITS`, without the text, so that nothing can go out by
//!    accident, and look for an outgoing row with our text whose id is not in the snapshot.
//!    Rows may render late, so the chat is watched for [`RESUME_SETTLE`] before concluding.
//!    Found: wait until it shows Sent (or later) and answer its id, sending nothing. Not found:
//!    go on as a fresh send.
//! 2. Navigate to `BASE/send?phone=DIGITS&text=URLENCODED` and poll until the page settles: the
//!    chat with the text in its compose box; the invalid-number dialog (click OK,
//!    `NotOnWhatsApp`); or the landing screen (`NotLinked`).
//! 3. Take the ids of the outgoing rows shown (newest last, at most [`MAX_SEEN_ROWS`]), report
//!    them as `SendAttempt` and wait for the supervisor's `AttemptRecorded` ([`Link`]): a message
//!    that went out always has its snapshot stored. No answer: `Timeout`, nothing pressed.
//! 4. Press Enter in the compose box with real key input. Should the text still sit there a
//!    while later, the Enter was lost, and the send button (in whichever form the page has) is
//!    clicked instead.
//! 5. Ours is the outgoing row that is not in the snapshot and shows our text ([`ours`]), never
//!    simply the first new outgoing row: a row that renders late, or a message typed on the
//!    phone, is someone else's. Once it shows Sent, Delivered or Read, its id is the answer.
//!
//! All of it runs under one deadline (`Timeout`). The caller checks that the session is linked
//! before calling, and runs one send at a time. Opening a chat ([`open_chat`]), finding an
//! earlier attempt ([`find_earlier`]), telling our row ([`ours`], by its [`Content`]) and
//! waiting for it to show Sent ([`await_sent`]) serve media sends as well
//! ([`super::media_send`]). Afterwards the chat stays open, and [`AckWatch`]
//! turns the later statuses of the messages sent into `Ack` events.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, timeout_at};
use tracing::{debug, info};
use wamux_proto::{
    Ack, Attempt, MAX_SEEN_ROWS, MediaKind, SendError, SentMessage, SupervisorCommand, WorkerEvent,
};

use super::incoming::Inbox;
use super::page::{self, Delivery, MessageKey, MessageRow, Screen, Snapshot, Target};
use crate::browser::webdriver::{Driver, DriverError};
use crate::process::link::EventSink;

/// How long an Enter may go unanswered (text still in the box, no new row) before the send
/// button is clicked.
const ENTER_GRACE: Duration = Duration::from_secs(3);
/// How long a resumed send watches the chat for the earlier attempt's row before it sends: the
/// chat's rows may show a moment after the chat itself.
const RESUME_SETTLE: Duration = Duration::from_secs(2);
/// How many sent messages [`AckWatch`] follows at most; the oldest are dropped first.
const WATCH_CAPACITY: usize = 1_000;
/// Marks the page puts in a text as formatting (`*bold*`, `_italic_`, `~strike~`, `` `code` ``)
/// and does not show.
const FORMATTING_MARKS: [char; 4] = ['*', '_', '~', '`'];

pub type Outcome = Result<SentMessage, SendError>;

pub struct Message<'a> {
    pub base_url: &'a str,
    pub request_id: u64,
    pub phone_number: &'a str,
    pub text: &'a str,
    /// What an earlier attempt of this message recorded, if there was one.
    pub resume: Option<&'a Attempt>,
    pub timeout: Duration,
}

/// The supervisor's side of a send: where the attempt is reported and its answer awaited.
pub struct Link<'a> {
    pub events: &'a mut EventSink,
    pub commands: &'a mut UnboundedReceiver<SupervisorCommand>,
    /// Commands that arrive while a send waits for its answer, to run after the send.
    pub deferred: &'a mut VecDeque<SupervisorCommand>,
}

impl Link<'_> {
    /// Reports the attempt and waits for the supervisor to have stored it; `false` if the
    /// supervisor is gone.
    pub async fn record_attempt(&mut self, request_id: u64, attempt: Attempt) -> bool {
        info!(
            request_id,
            seen = attempt.seen.len(),
            planned = attempt.planned.as_deref(),
            "ready to send, waiting for the supervisor to record the attempt"
        );
        self.events
            .send(WorkerEvent::SendAttempt {
                request_id,
                attempt,
            })
            .await;
        while let Some(command) = self.commands.recv().await {
            match command {
                SupervisorCommand::AttemptRecorded { request_id: id } if id == request_id => {
                    return true;
                }
                SupervisorCommand::AttemptRecorded { request_id: id } => {
                    debug!(request_id = id, "an answer to an earlier attempt, ignored");
                }
                other => self.deferred.push_back(other),
            }
        }
        false
    }
}

/// Sends `message`; `Err` only when the browser is gone, every other failure is an [`Outcome`].
pub async fn send(
    driver: &Driver,
    message: &Message<'_>,
    inbox: &mut Inbox,
    link: &mut Link<'_>,
) -> Result<Outcome, DriverError> {
    if message.text.trim().is_empty() {
        return Ok(Err(SendError::Failed("the text is empty".into())));
    }
    bounded(message.timeout, send_within(driver, message, inbox, link)).await
}

/// Runs a send under `limit`: past it the send timed out, and a page error is a failed send.
/// `T` is what the send answers: an [`Outcome`], or one that may be missing.
pub async fn bounded<T: From<Outcome>>(
    limit: Duration,
    send: impl std::future::Future<Output = Result<T, DriverError>>,
) -> Result<T, DriverError> {
    match timeout_at(Instant::now() + limit, send).await {
        Ok(Err(err)) if !err.is_fatal() => Ok(Err(SendError::Failed(err.to_string())).into()),
        Ok(result) => result,
        Err(_) => Ok(Err(SendError::Timeout).into()),
    }
}

async fn send_within(
    driver: &Driver,
    message: &Message<'_>,
    inbox: &mut Inbox,
    link: &mut Link<'_>,
) -> Result<Outcome, DriverError> {
    let content = Content::Text(message.text);
    if let Some(earlier) = message.resume {
        let url = chat_url(message.base_url, message.phone_number);
        if let Some(outcome) = find_earlier(driver, &url, content, earlier).await? {
            return Ok(outcome);
        }
        info!(
            request_id = message.request_id,
            "the earlier attempt did not go out, sending"
        );
    }
    let url = format!(
        "{}/send?phone={}&text={}",
        message.base_url,
        message.phone_number,
        urlencoding::encode(message.text)
    );
    let chat = match open_chat(driver, &url, true).await? {
        Ok(chat) => chat,
        Err(failure) => return Ok(Err(failure)),
    };
    inbox.mark_seen(&chat);
    let seen = outgoing_ids(&chat.messages);
    let attempt = Attempt {
        seen: seen.clone(),
        planned: None,
    };
    if !link.record_attempt(message.request_id, attempt).await {
        return Ok(Err(SendError::Timeout));
    }

    let compose = page::find(driver, Target::Compose)
        .await?
        .ok_or_else(|| DriverError::Page("the compose box vanished".into()))?;
    driver.send_keys(&compose, &enter_key()).await?;
    await_sent(driver, &seen, content, ENTER_GRACE, Fallback::SendButton).await
}

/// What is tried once when our row has not shown a grace period after the send was pressed.
#[derive(Debug, Clone, Copy)]
pub enum Fallback {
    /// The text still sits in the compose box (the Enter was lost): click the send button.
    SendButton,
    /// The media editor's caption box still shows (the click was lost): press Enter in it.
    EnterInCaption,
}

impl Fallback {
    /// Tries it on `screen`; whether it is done with, not to be tried again.
    async fn try_on(self, driver: &Driver, screen: &Screen) -> Result<bool, DriverError> {
        match self {
            Fallback::SendButton => {
                if matches!(screen, Screen::Chat { compose } if !compose.trim().is_empty()) {
                    info!("Enter did not send the message, clicking the send button");
                    return page::click(driver, Target::SendButton).await;
                }
                Ok(false)
            }
            Fallback::EnterInCaption => {
                if let Some(caption_box) = page::find(driver, Target::Caption).await? {
                    info!("the send button did not send, pressing Enter in the media editor");
                    driver.send_keys(&caption_box, &enter_key()).await?;
                }
                Ok(true)
            }
        }
    }
}

/// The last step of a send just pressed: polls until our row ([`ours`] of `content`, not in
/// `seen`) shows Sent or later and answers its id; `NotLinked` should the landing screen show.
/// Should no row of ours show `grace` after the press, `fallback` is tried.
pub async fn await_sent(
    driver: &Driver,
    seen: &[String],
    content: Content<'_>,
    grace: Duration,
    fallback: Fallback,
) -> Result<Outcome, DriverError> {
    let pressed = Instant::now();
    let mut fell_back = false;
    loop {
        let Some(snap) = page::poll(driver).await? else {
            continue;
        };
        let screen = Screen::of(&snap);
        if screen.is_landing() {
            return Ok(Err(SendError::NotLinked));
        }
        match ours(&snap.messages, seen, content) {
            Some((key, Some(status))) if status.is_sent() => {
                info!(message_id = %key.message_id, ?status, "message sent");
                return Ok(Ok(SentMessage {
                    message_id: key.message_id,
                }));
            }
            Some((key, status)) => {
                debug!(message_id = %key.message_id, ?status, "waiting for the message to leave")
            }
            None if !fell_back && pressed.elapsed() >= grace => {
                fell_back = fallback.try_on(driver, &screen).await?;
            }
            None => {}
        }
    }
}

/// The Enter key, as WebDriver keys.
fn enter_key() -> String {
    char::from(fantoccini::key::Key::Enter).to_string()
}

/// The `/send` link that opens the chat with `phone_number`, with nothing in its compose box.
pub fn chat_url(base_url: &str, phone_number: &str) -> String {
    format!("{base_url}/send?phone={phone_number}")
}

/// Step 1: opens the chat at `url` (a [`chat_url`]) and answers the earlier attempt's row,
/// which shows `content`, once it shows Sent; `None` when it did not go out.
pub async fn find_earlier(
    driver: &Driver,
    url: &str,
    content: Content<'_>,
    earlier: &Attempt,
) -> Result<Option<Outcome>, DriverError> {
    let mut snap = match open_chat(driver, url, false).await? {
        Ok(chat) => chat,
        Err(failure) => return Ok(Some(Err(failure))),
    };
    let shown = Instant::now();
    let mut found = None;
    loop {
        let found_now = match &earlier.planned {
            Some(planned) => planned_row(&snap.messages, planned),
            None => ours(&snap.messages, &earlier.seen, content),
        };
        match found_now {
            Some((key, Some(status))) if status.is_sent() => {
                info!(message_id = %key.message_id, ?status, "the earlier attempt went out");
                return Ok(Some(Ok(SentMessage {
                    message_id: key.message_id,
                })));
            }
            Some((key, status)) => {
                debug!(message_id = %key.message_id, ?status, "the earlier attempt is leaving");
                found = Some(key.message_id);
            }
            // A row once seen is waited for until the deadline: sending again could double it.
            None if found.is_none() && shown.elapsed() >= RESUME_SETTLE => return Ok(None),
            None => {}
        }
        snap = page::poll_until_read(driver, MAX_SEEN_ROWS).await?;
        if Screen::of(&snap).is_landing() {
            return Ok(Some(Err(SendError::NotLinked)));
        }
    }
}

/// Navigates to `url` and polls until the chat shows (with text in its compose box if
/// `with_text`) with the same rows twice in a row, as rows may render after the chat; the `Err`
/// of the inner result is why it cannot.
pub async fn open_chat(
    driver: &Driver,
    url: &str,
    with_text: bool,
) -> Result<Result<Snapshot, SendError>, DriverError> {
    driver.goto(url).await?;
    let mut rows_before: Option<Vec<String>> = None;
    loop {
        let Some(snap) = page::poll_with_rows(driver, MAX_SEEN_ROWS).await? else {
            continue;
        };
        match Screen::of(&snap) {
            Screen::Chat { compose } if !with_text || !compose.trim().is_empty() => {
                let rows: Vec<String> = snap.messages.iter().map(|row| row.id.clone()).collect();
                if rows_before.as_ref() == Some(&rows) {
                    return Ok(Ok(snap));
                }
                rows_before = Some(rows);
            }
            Screen::InvalidNumber => {
                page::click(driver, Target::DialogOk).await?;
                return Ok(Err(SendError::NotOnWhatsApp));
            }
            Screen::Conflict => {
                return Ok(Err(SendError::Failed(
                    "WhatsApp Web is open in another window".into(),
                )));
            }
            Screen::Refused(text) => return Ok(Err(SendError::Failed(text))),
            screen if screen.is_landing() => return Ok(Err(SendError::NotLinked)),
            screen => debug!(?screen, "waiting for the chat"),
        }
    }
}

/// The MSGIDs of the outgoing rows, newest last, at most [`MAX_SEEN_ROWS`].
pub fn outgoing_ids(rows: &[MessageRow]) -> Vec<String> {
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|row| MessageKey::parse(&row.id))
        .filter(|key| key.from_me)
        .map(|key| key.message_id)
        .collect();
    let skip = ids.len().saturating_sub(MAX_SEEN_ROWS);
    ids.into_iter().skip(skip).collect()
}

/// What a message of ours shows in its row, which tells it among the chat's rows.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    Text(&'a str),
    /// A media row of a kind a file of `kind` goes out as (its own, or a document: the page
    /// sends as a document whatever its "Photos & videos" input does not take), with this
    /// caption (any, when it is empty) and, when the row shows a file name (a document), this
    /// one.
    ///
    /// Without a caption, an image or a video row shows nothing of ours but its kind: another
    /// such row sent from the phone after the attempt's snapshot is told from ours by nothing
    /// the page shows. [`ours`] then takes the first of them (rows are in order, and ours went
    /// out as soon as the attempt was recorded); only when there is none did ours not go out.
    /// A planned id ([`planned_row`]) would tell them apart, but the page's modules offer no
    /// media send to plan one with.
    Media {
        caption: &'a str,
        kind: MediaKind,
        filename: Option<&'a str>,
    },
}

impl Content<'_> {
    fn shown_by(self, row: &MessageRow) -> bool {
        match self {
            Content::Text(text) => shows_text(row, text),
            Content::Media {
                caption,
                kind,
                filename,
            } => {
                let Some(media) = &row.media else {
                    return false;
                };
                let same_kind = media.kind == kind.as_str() || media.kind == "document";
                let same_name = match (filename, media.name.as_deref()) {
                    (Some(ours), Some(shown)) => ours.trim() == shown.trim(),
                    _ => true,
                };
                same_kind && same_name && (caption.trim().is_empty() || shows_text(row, caption))
            }
        }
    }
}

/// Our message among `rows`: the first outgoing row whose MSGID is not in `seen` (the snapshot
/// taken before sending) and which shows `content`, with its status; `None` only when no row
/// could be ours. Rows are in order, so of several that could (see [`Content::Media`]) the
/// first sent after the snapshot is taken.
pub fn ours(
    rows: &[MessageRow],
    seen: &[String],
    content: Content<'_>,
) -> Option<(MessageKey, Option<Delivery>)> {
    rows.iter().find_map(|row| {
        let key = MessageKey::parse(&row.id)?;
        (key.from_me && !seen.contains(&key.message_id) && content.shown_by(row))
            .then(|| (key, Delivery::of(&row.labels)))
    })
}

/// The outgoing row with the MSGID `planned`, with its status.
pub fn planned_row(rows: &[MessageRow], planned: &str) -> Option<(MessageKey, Option<Delivery>)> {
    rows.iter().find_map(|row| {
        let key = MessageKey::parse(&row.id)?;
        (key.from_me && key.message_id == planned).then(|| (key, Delivery::of(&row.labels)))
    })
}

/// Whether `row` shows `text`: the same once normalised, or its start when the row shows only
/// that ("Read more").
fn shows_text(row: &MessageRow, text: &str) -> bool {
    let Some(shown) = row.text.as_deref() else {
        return false;
    };
    let (shown, text) = (normalize(shown), normalize(text));
    if shown == text {
        return true;
    }
    let start = shown.trim_end_matches(['…', '.']).trim_end();
    row.more && !start.is_empty() && text.starts_with(start)
}

/// A text as compared: trimmed, whitespace runs folded into one space, without the formatting
/// marks the page does not show.
pub fn normalize(text: &str) -> String {
    text.split_whitespace()
        .map(|word| word.replace(FORMATTING_MARKS, ""))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The messages this worker sent and the last status reported of each, so that each later
/// status (Delivered, then Read) is reported once.
#[derive(Debug, Default)]
pub struct AckWatch {
    sent: VecDeque<(String, Delivery)>,
}

impl AckWatch {
    /// Follows `message_id`, which shows `status` now.
    pub fn watch(&mut self, message_id: String, status: Delivery) {
        if status == Delivery::Read || self.sent.iter().any(|(id, _)| *id == message_id) {
            return;
        }
        if self.sent.len() == WATCH_CAPACITY {
            self.sent.pop_front();
        }
        self.sent.push_back((message_id, status));
    }

    /// The statuses that moved since the last call, among the rows on show.
    pub fn changes(&mut self, rows: &[MessageRow]) -> Vec<(String, Ack)> {
        if self.sent.is_empty() {
            return Vec::new();
        }
        let mut changes = Vec::new();
        for row in rows {
            let Some(key) = MessageKey::parse(&row.id).filter(|key| key.from_me) else {
                continue;
            };
            let Some(status) = Delivery::of(&row.labels) else {
                continue;
            };
            let Some(last) = self
                .sent
                .iter_mut()
                .find(|(id, _)| *id == key.message_id)
                .map(|(_, last)| last)
            else {
                continue;
            };
            if status <= *last {
                continue;
            }
            *last = status;
            let ack = match status {
                Delivery::Delivered => Ack::Delivered,
                Delivery::Read => Ack::Read,
                Delivery::Pending | Delivery::Sent => continue,
            };
            changes.push((key.message_id, ack));
        }
        self.sent.retain(|(_, status)| *status != Delivery::Read);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, text: &str, status: &str) -> MessageRow {
        MessageRow {
            id: id.into(),
            labels: vec![format!(" {status} ")],
            text: Some(text.into()),
            ..MessageRow::default()
        }
    }

    #[test]
    fn texts_are_compared_trimmed_and_folded() {
        assert_eq!(normalize("  hola \n\t mundo  "), "hola mundo");
        assert_eq!(normalize("a\u{a0}b"), "a b");
        assert_eq!(normalize("*bold* and _it_ ~x~ `c`"), "bold and it x c");
        assert_eq!(normalize(" * "), "");
        assert_ne!(normalize("Hola"), normalize("hola"));
    }

    #[test]
    fn ours_is_the_new_row_with_our_text_not_the_first_new_row() {
        let seen = vec!["OLD1".to_string(), "OLD2".to_string()];
        let rows = vec![
            row("true_1@c.us_OLD1", "same text", "Read"),
            row("false_1@c.us_IN1", "same text", ""),
            row("true_1@c.us_OLD2", "other", "Delivered"),
            row("true_1@c.us_LATE", "typed on the phone", "Sent"),
            row("true_1@c.us_MINE", "  same\n text ", "Pending"),
        ];
        let (key, status) = ours(&rows, &seen, Content::Text("same text")).expect("ours");
        assert_eq!(key.message_id, "MINE");
        assert_eq!(status, Some(Delivery::Pending));
        assert!(ours(&rows[..4], &seen, Content::Text("same text")).is_none());
        let all: Vec<String> = ["OLD1", "OLD2", "LATE", "MINE"].map(String::from).into();
        assert!(ours(&rows, &all, Content::Text("same text")).is_none());
        let cut = MessageRow {
            more: true,
            ..row("true_1@c.us_LONG", "a long text that…", "Sent")
        };
        assert_eq!(
            ours(
                std::slice::from_ref(&cut),
                &seen,
                Content::Text("a long text that goes on")
            )
            .unwrap()
            .0
            .message_id,
            "LONG"
        );
        let not_cut = MessageRow { more: false, ..cut };
        assert!(ours(&[not_cut], &seen, Content::Text("a long text that goes on")).is_none());
    }

    fn media_row(id: &str, kind: &str, caption: Option<&str>, name: Option<&str>) -> MessageRow {
        MessageRow {
            id: format!("true_1@c.us_{id}"),
            labels: vec![" Sent ".into()],
            text: caption.map(String::from),
            media: Some(page::RowMedia {
                kind: kind.into(),
                blob: None,
                name: name.map(String::from),
            }),
            ..MessageRow::default()
        }
    }

    fn media<'a>(caption: &'a str, kind: MediaKind, filename: &'a str) -> Content<'a> {
        Content::Media {
            caption,
            kind,
            filename: Some(filename),
        }
    }

    fn ours_id(rows: &[MessageRow], seen: &[String], content: Content<'_>) -> Option<String> {
        ours(rows, seen, content).map(|(key, _)| key.message_id)
    }

    #[test]
    fn a_media_row_is_ours_by_its_caption_and_its_file_name() {
        let seen = vec!["OLD".to_string()];
        let rows = vec![
            media_row("OLD", "image", Some("look"), None),
            row("true_1@c.us_TEXT", "look", "Sent"),
            media_row("OTHER", "image", Some("something else"), None),
            media_row("PHOTO", "image", Some("  look "), None),
            media_row("DOC", "document", None, Some("a.pdf")),
        ];
        let photo = media("look", MediaKind::Image, "p.jpg");
        assert_eq!(ours_id(&rows, &seen, photo).as_deref(), Some("PHOTO"));
        let document = |filename| media("", MediaKind::Document, filename);
        assert_eq!(
            ours_id(&rows, &seen, document("a.pdf")).as_deref(),
            Some("DOC"),
            "a photo sent meanwhile is not a caption-less document"
        );
        assert_eq!(ours_id(&rows, &seen, document("b.pdf")), None);
        assert_eq!(
            ours_id(&rows[..3], &seen, photo),
            None,
            "a text is no media row"
        );
        assert_eq!(
            ours_id(&rows, &seen, Content::Text("look")).as_deref(),
            Some("TEXT"),
            "a text send as before"
        );
    }

    /// Without a caption only the kind tells: none of that kind, not found (sent again); one
    /// or more, the first after the snapshot, the name compared wherever a row shows one.
    #[test]
    fn a_caption_less_photo_is_the_first_new_row_that_could_be_it() {
        let seen = vec!["OLD".to_string()];
        let photo = media("", MediaKind::Image, "p.jpg");
        let others = vec![
            media_row("OLD", "image", None, None),
            media_row("VOICE", "ptt", None, None),
            media_row("CLIP", "video", None, None),
            media_row("FILE", "document", None, Some("x.pdf")),
            row("true_1@c.us_TEXT", "hola", "Sent"),
        ];
        assert_eq!(ours_id(&others, &seen, photo), None);

        let mut rows = others.clone();
        rows.push(media_row("FIRST", "image", None, None));
        rows.push(media_row("SECOND", "image", Some("from the phone"), None));
        rows.push(media_row("THIRD", "image", None, None));
        assert_eq!(ours_id(&rows, &seen, photo).as_deref(), Some("FIRST"));
        let first_seen = vec!["OLD".to_string(), "FIRST".to_string()];
        assert_eq!(
            ours_id(&rows, &first_seen, photo).as_deref(),
            Some("SECOND"),
            "a caption-less send takes a row with a caption too"
        );

        let as_document = [media_row("DOCP", "document", None, Some("p.jpg"))];
        assert_eq!(
            ours_id(&as_document, &seen, photo).as_deref(),
            Some("DOCP"),
            "sent as a document when the photos input does not take it"
        );
        let clip = media("", MediaKind::Video, "c.mp4");
        assert_eq!(ours_id(&others, &seen, clip).as_deref(), Some("CLIP"));
        let song = media("", MediaKind::Audio, "song.mp3");
        assert_eq!(
            ours_id(&others, &seen, song),
            None,
            "a voice note is not ours"
        );
        let played = [
            media_row("VOICE", "ptt", None, None),
            media_row("SONG", "audio", None, None),
        ];
        assert_eq!(ours_id(&played, &seen, song).as_deref(), Some("SONG"));
    }

    #[test]
    fn a_planned_id_names_its_row_whatever_its_text() {
        let rows = vec![
            row("false_1@c.us_PLAN", "theirs under our id", ""),
            row("true_1@c.us_OTHER", "same text", "Sent"),
            row("true_1@c.us_PLAN", "shown differently", "Pending"),
        ];
        let (key, status) = planned_row(&rows, "PLAN").expect("the planned row");
        assert_eq!(
            (key.message_id.as_str(), status),
            ("PLAN", Some(Delivery::Pending))
        );
        assert!(planned_row(&rows, "NONE").is_none());
    }

    #[test]
    fn the_snapshot_holds_the_newest_outgoing_ids() {
        let rows: Vec<MessageRow> = (0..MAX_SEEN_ROWS + 10)
            .map(|i| row(&format!("true_1@c.us_M{i}"), "x", "Sent"))
            .chain([row("false_1@c.us_IN", "x", ""), row("junk", "x", "")])
            .collect();
        let ids = outgoing_ids(&rows);
        assert_eq!(ids.len(), MAX_SEEN_ROWS);
        assert_eq!(ids.first().unwrap(), "M10");
        assert_eq!(ids.last().unwrap(), &format!("M{}", MAX_SEEN_ROWS + 9));
    }

    #[test]
    fn each_later_status_of_a_sent_message_is_reported_once() {
        let mut watch = AckWatch::default();
        assert!(
            watch
                .changes(&[row("true_1@c.us_A", "x", "Read")])
                .is_empty()
        );
        watch.watch("A".into(), Delivery::Sent);
        watch.watch("A".into(), Delivery::Sent);
        let other = row("true_1@c.us_B", "y", "Delivered");
        assert!(
            watch
                .changes(&[row("true_1@c.us_A", "x", "Sent"), other.clone()])
                .is_empty()
        );
        let delivered = [row("true_1@c.us_A", "x", "Delivered"), other];
        assert_eq!(
            watch.changes(&delivered),
            vec![("A".to_string(), Ack::Delivered)]
        );
        assert!(watch.changes(&delivered).is_empty());
        assert!(watch.changes(&[]).is_empty());
        let read = [row("true_1@c.us_A", "x", "Read")];
        assert_eq!(watch.changes(&read), vec![("A".to_string(), Ack::Read)]);
        assert!(watch.changes(&read).is_empty());

        watch.watch("C".into(), Delivery::Sent);
        assert_eq!(
            watch.changes(&[row("true_1@c.us_C", "z", "Read")]),
            vec![("C".to_string(), Ack::Read)]
        );
        for i in 0..WATCH_CAPACITY + 1 {
            watch.watch(format!("M{i}"), Delivery::Sent);
        }
        assert!(
            watch
                .changes(&[row("true_1@c.us_M0", "z", "Delivered")])
                .is_empty()
        );
        assert_eq!(
            watch.changes(&[row("true_1@c.us_M1", "z", "Delivered")]),
            vec![("M1".to_string(), Ack::Delivered)]
        );
    }
}
