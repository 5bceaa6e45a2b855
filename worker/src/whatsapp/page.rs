//! Everything the worker knows about WhatsApp Web's page: selectors, page scripts, and how a
//! snapshot of the page is read. A change of the real site is a change of this file and of its
//! page scripts in `scripts/` only.
//!
//! One poll is one WebDriver round trip: [`SNAPSHOT_SCRIPT`] gathers every fact the worker needs
//! into one JSON object ([`Snapshot`]); [`Screen::of`] then decides, in Rust where it is tested,
//! which screen that is. Every variant the site has shipped is accepted (aria-labels, dialog
//! texts, send buttons, own-number keys); the QR payload is passed on whole, never parsed.
//! Elements to act on are found by [`FIND_SCRIPT`] and acted on with real WebDriver input.
//! Media (contract §11): a snapshot's rows tell their file ([`RowMedia`]), the attach button,
//! its menu's file inputs and the media editor are [`Target`]s, and a row's file is read from
//! inside the page by [`open_blob`] and [`read_blob`].

use std::time::Duration;

use fantoccini::elements::Element;
use serde::Deserialize;
use serde_json::{Value, json};

use super::modules::ModuleFacts;
use crate::browser::webdriver::{Driver, DriverError};

/// How often the session looks at its page while nothing is expected of it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often a flow looks at the page while it waits for the answer to what it did (a send, a
/// pairing code, the first screen after a load): that wait is what a person sees.
pub const FLOW_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Gathers the page's facts: first what its own modules tell (`scripts/hook.js`, which installs
/// itself once per page load), then the DOM (`scripts/snapshot.js`). `arguments[0]` is how many
/// of the open chat's last rows to read, `arguments[1]` `{unread, drain}` (see [`Reading`]).
/// `bodyText` is read only when no known element is on the page: the boot and refusal screens
/// are small, the app is not.
const SNAPSHOT_SCRIPT: &str = concat!(
    include_str!("scripts/hook.js"),
    include_str!("scripts/snapshot.js")
);

/// Sends a text through the page's modules, one step at a time (`scripts/module_send.js`, an
/// asynchronous script).
const MODULE_SEND_SCRIPT: &str = include_str!("scripts/module_send.js");

/// One call into the page's modules (`scripts/module_call.js`): see [`ModuleCall`].
const MODULE_CALL_SCRIPT: &str = include_str!("scripts/module_call.js");

/// The open chat's rows a poll reads: new rows come last, and the page renders few at a time.
const ROWS_PER_POLL: usize = 100;

/// Finds one element to act on (`scripts/find.js`): `arguments[0]` names it (see [`Target`]),
/// `arguments[1]` is an index where one is needed. Returns the element or null.
const FIND_SCRIPT: &str = include_str!("scripts/find.js");

/// The DOM's own click, for an element that a pointer cannot reach (covered by an overlay or
/// an animation): the page's handlers run just the same.
const DOM_CLICK_SCRIPT: &str = "arguments[0].click();";

/// An element's text as shown.
const ELEMENT_TEXT_SCRIPT: &str = "return (arguments[0].innerText || '').replace(/\\u00a0/g, ' ');";

/// Types into the focused editable element as the browser's own text input does, for what
/// WebDriver key input cannot type (chromedriver types characters of the BMP only).
const INSERT_TEXT_SCRIPT: &str =
    "arguments[0].focus(); return document.execCommand('insertText', false, arguments[1]);";

/// Reads the file of a media row from inside the page (`scripts/media_read.js`, an
/// asynchronous script): see [`BlobOpened`].
const MEDIA_READ_SCRIPT: &str = include_str!("scripts/media_read.js");

/// WhatsApp's `type` of the messages that carry a file (contract §10, §11).
pub const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "ptt", "document"];

/// Texts of a page that refuses the browser ("WhatsApp works with Google Chrome 85+").
const REFUSAL_TEXTS: [&str; 8] = [
    "works with google chrome",
    "works with chrome",
    "whatsapp works with",
    "update google chrome",
    "update chrome",
    "unsupported browser",
    "browser is not supported",
    "browser isn't supported",
];
const INVALID_NUMBER_TEXTS: [&str; 3] = [
    "shared via url is invalid",
    "isn't on whatsapp",
    "is not on whatsapp",
];
const CONFLICT_TEXT: &str = "open in another window";
const USE_HERE: &str = "use here";
const STARTING_CHAT_TEXT: &str = "starting chat";
/// The dialog shown between "Use here" and the reload that follows it.
const CONNECTING_TEXT: &str = "connecting";
const LOADING_TEXT: &str = "loading your chats";
const PHONE_LOGIN_TEXTS: [&str; 2] = ["log in with phone number", "link with phone number"];

/// The facts of one poll, as [`SNAPSHOT_SCRIPT`] returns them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Snapshot {
    pub url: String,
    pub progress: bool,
    pub body_text: Option<String>,
    pub qr: Option<QrBox>,
    pub landing: bool,
    pub pane_side: bool,
    pub dialogs: Vec<Dialog>,
    pub compose: Option<String>,
    pub messages: Vec<MessageRow>,
    pub unread: Vec<UnreadChat>,
    pub link_code: Option<String>,
    pub phone_input: bool,
    pub wid_md: Option<String>,
    pub wid: Option<String>,
    /// What the page's own modules tell; `None` on a page without them, or still loading.
    pub modules: Option<ModuleFacts>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct QrBox {
    #[serde(rename = "ref")]
    pub payload: String,
    pub reload: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Dialog {
    pub text: String,
    pub buttons: Vec<String>,
}

/// One message of the open chat (`#main`), oldest first.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct MessageRow {
    /// `data-id`: `FROMME_CHATJID_MSGID`.
    pub id: String,
    /// The aria-labels inside the row, the status icon's among them.
    pub labels: Vec<String>,
    /// The text (`span.selectable-text`, emoji included), in and out.
    pub text: Option<String>,
    /// The row shows only the start of its text, with a "Read more" button.
    pub more: bool,
    /// Incoming rows only: `data-pre-plain-text`.
    pub sender: Option<String>,
    /// The file of a media message's row (contract §11).
    pub media: Option<RowMedia>,
}

/// The file a media row shows: an `img`, `video` or `audio` (its `src` a `blob:` URL once the
/// page has the file), or a document's name.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RowMedia {
    /// WhatsApp's type as the row shows it: `image`, `video`, `audio`, `ptt` or `document`.
    pub kind: String,
    /// The `blob:` URL the file can be read from, while the row is shown.
    pub blob: Option<String>,
    /// A document's file name.
    pub name: Option<String>,
}

/// A chat-list row showing an unread badge; `index` among `#pane-side div[role="row"]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct UnreadChat {
    pub index: usize,
    pub label: String,
}

/// Which screen the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Booting, or nothing recognisable yet.
    Loading,
    /// The page refuses this browser; the text it shows.
    Refused(String),
    /// The landing screen with a live QR code: its payload.
    Qr(String),
    /// The landing screen with a dead QR code and its reload button.
    QrExpired,
    /// The landing screen without a QR code on show (one being drawn, or the phone-number form).
    Landing,
    /// A pairing code on show, without its commas.
    PairingCode(String),
    /// The linked app with its chat list.
    App,
    /// An open chat: the text in its compose box.
    Chat { compose: String },
    /// "WhatsApp is open in another window".
    Conflict,
    /// "Starting chat" while a `/send` link is opening a chat.
    StartingChat,
    /// The number of a `/send` link is not on WhatsApp.
    InvalidNumber,
}

impl Screen {
    pub fn of(snap: &Snapshot) -> Screen {
        for dialog in &snap.dialogs {
            let text = normalize(&dialog.text);
            if text.contains(CONFLICT_TEXT)
                || dialog.buttons.iter().any(|b| normalize(b) == USE_HERE)
            {
                return Screen::Conflict;
            }
            if INVALID_NUMBER_TEXTS.iter().any(|t| text.contains(t)) {
                return Screen::InvalidNumber;
            }
            if text.contains(STARTING_CHAT_TEXT) {
                return Screen::StartingChat;
            }
            if text.starts_with(CONNECTING_TEXT) {
                return Screen::Loading;
            }
        }
        if let Some(code) = &snap.link_code {
            return Screen::PairingCode(code.chars().filter(|c| c.is_alphanumeric()).collect());
        }
        if let Some(compose) = &snap.compose {
            return Screen::Chat {
                compose: compose.clone(),
            };
        }
        if snap.pane_side {
            return Screen::App;
        }
        if let Some(qr) = snap.qr.as_ref().filter(|qr| !qr.payload.is_empty()) {
            return if qr.reload {
                Screen::QrExpired
            } else {
                Screen::Qr(qr.payload.clone())
            };
        }
        if snap.landing || snap.phone_input {
            return Screen::Landing;
        }
        let body = normalize(snap.body_text.as_deref().unwrap_or_default());
        if PHONE_LOGIN_TEXTS.iter().any(|t| body.contains(t)) {
            return Screen::Landing;
        }
        if body.contains(STARTING_CHAT_TEXT) {
            return Screen::StartingChat;
        }
        if snap.progress || body.contains(LOADING_TEXT) {
            return Screen::Loading;
        }
        if REFUSAL_TEXTS.iter().any(|t| body.contains(t)) {
            let shown = snap.body_text.as_deref().unwrap_or_default();
            return Screen::Refused(shown.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        Screen::Loading
    }

    /// A screen of a linked session.
    pub fn is_linked(&self) -> bool {
        matches!(
            self,
            Screen::App | Screen::Chat { .. } | Screen::Conflict | Screen::StartingChat
        )
    }

    /// A screen of a session that is not linked: the landing screen in any of its forms.
    pub fn is_landing(&self) -> bool {
        matches!(
            self,
            Screen::Qr(_) | Screen::QrExpired | Screen::Landing | Screen::PairingCode(_)
        )
    }
}

impl Snapshot {
    /// The account's own number, from `last-wid-md` or else the older `last-wid`.
    pub fn own_number(&self) -> Option<String> {
        [&self.wid_md, &self.wid]
            .into_iter()
            .flatten()
            .find_map(|raw| parse_own_number(raw))
    }
}

fn normalize(text: &str) -> String {
    text.replace('\u{2019}', "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Digits of a stored wid: `"5215512345678:12@c.us"` or `"5215512345678@c.us"`, JSON quotes
/// included (or not).
pub fn parse_own_number(raw: &str) -> Option<String> {
    let wid = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned());
    let user = wid.split('@').next()?.split(':').next()?;
    is_digits(user).then(|| user.to_owned())
}

/// The digits of a person's chat (`DIGITS@c.us`), which a `/send` link opens; `None` for a
/// group's or a `@lid` chat.
pub fn phone_of_chat(chat_id: &str) -> Option<&str> {
    chat_id
        .strip_suffix("@c.us")
        .filter(|digits| is_digits(digits))
}

/// Whether `text` is a phone number's digits: at least one, and nothing else.
pub fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The parts of a message row's `data-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKey {
    pub from_me: bool,
    pub chat_id: String,
    pub message_id: String,
}

impl MessageKey {
    /// `FROMME_CHATJID_MSGID`, where group messages append `_PARTICIPANT` (which holds an `@`).
    pub fn parse(data_id: &str) -> Option<MessageKey> {
        let mut parts = data_id.splitn(3, '_');
        let from_me = match parts.next()? {
            "true" => true,
            "false" => false,
            _ => return None,
        };
        let chat_id = parts.next()?;
        let mut message_id = parts.next()?;
        if let Some((id, participant)) = message_id.rsplit_once('_')
            && participant.contains('@')
        {
            message_id = id;
        }
        if !chat_id.contains('@') || message_id.is_empty() {
            return None;
        }
        Some(MessageKey {
            from_me,
            chat_id: chat_id.to_owned(),
            message_id: message_id.to_owned(),
        })
    }
}

/// A sent message's status, in the order the page moves through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    Pending,
    Sent,
    Delivered,
    Read,
}

impl Delivery {
    /// The status among a row's aria-labels, which carry padding spaces (`" Sent "`).
    pub fn of(labels: &[String]) -> Option<Delivery> {
        labels
            .iter()
            .find_map(|label| match label.trim().to_lowercase().as_str() {
                "pending" => Some(Delivery::Pending),
                "sent" => Some(Delivery::Sent),
                "delivered" => Some(Delivery::Delivered),
                "read" => Some(Delivery::Read),
                _ => None,
            })
    }

    pub fn is_sent(self) -> bool {
        self != Delivery::Pending
    }
}

/// How many messages an unread badge announces ("3 unread messages"), if it says.
pub fn unread_count(label: &str) -> Option<usize> {
    let digits: String = label
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok().filter(|&n| n > 0)
}

/// An element the worker acts on.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    QrReload,
    UseHere,
    DialogOk,
    PhoneLogin,
    PhoneInput,
    Next,
    Compose,
    SendButton,
    UnreadChat(usize),
    /// The open chat's attach button, in any of its forms (contract §11).
    Attach,
    /// The hidden file input of an attach-menu item: with `photos_for`, the "Photos & videos"
    /// item's when its `accept` takes that MIME type, else the "Document" item's.
    FileInput {
        photos_for: Option<&'a str>,
    },
    /// The media editor's caption box ("Add a caption").
    Caption,
    /// The media editor's send button.
    MediaSend,
}

impl Target<'_> {
    fn args(self) -> Vec<Value> {
        let (name, arg) = match self {
            Target::QrReload => ("qr-reload", json!(0)),
            Target::UseHere => ("use-here", json!(0)),
            Target::DialogOk => ("dialog-ok", json!(0)),
            Target::PhoneLogin => ("phone-login", json!(0)),
            Target::PhoneInput => ("phone-input", json!(0)),
            Target::Next => ("next", json!(0)),
            Target::Compose => ("compose", json!(0)),
            Target::SendButton => ("send-button", json!(0)),
            Target::UnreadChat(index) => ("unread-chat", json!(index)),
            Target::Attach => ("attach", json!(0)),
            Target::FileInput { photos_for } => ("file-input", json!(photos_for)),
            Target::Caption => ("caption", json!(0)),
            Target::MediaSend => ("media-send", json!(0)),
        };
        vec![json!(name), arg]
    }
}

/// What a snapshot reads besides the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// How many of the open chat's last rows (0: none, when nothing needs them).
    pub rows: usize,
    /// Whether the chat list's unread badges (the DOM's way to notice incoming messages).
    pub unread: bool,
    /// Whether to take the events the modules hook queued: only the session's own poll
    /// handles them, so flows that poll in between leave them queued.
    pub drain: bool,
}

impl Reading {
    /// Everything the DOM shows, the events left queued.
    pub const DOM: Reading = Reading {
        rows: ROWS_PER_POLL,
        unread: true,
        drain: false,
    };
}

pub async fn read(driver: &Driver, reading: Reading) -> Result<Snapshot, DriverError> {
    let args = vec![
        json!(reading.rows),
        json!({"unread": reading.unread, "drain": reading.drain}),
    ];
    let value = driver.execute(SNAPSHOT_SCRIPT, args).await?;
    serde_json::from_value(value)
        .map_err(|err| DriverError::Page(format!("unreadable page snapshot: {err}")))
}

/// A snapshot that reads up to `rows` of the open chat's last rows.
pub async fn snapshot_with_rows(driver: &Driver, rows: usize) -> Result<Snapshot, DriverError> {
    read(
        driver,
        Reading {
            rows,
            ..Reading::DOM
        },
    )
    .await
}

/// One snapshot after a pause of [`FLOW_POLL_INTERVAL`]; `None` when the page could not be read
/// this time (a page in the middle of loading), which callers treat as "not yet".
pub async fn poll(driver: &Driver) -> Result<Option<Snapshot>, DriverError> {
    poll_with_rows(driver, ROWS_PER_POLL).await
}

/// [`poll`] reading up to `rows` of the open chat's last rows.
pub async fn poll_with_rows(driver: &Driver, rows: usize) -> Result<Option<Snapshot>, DriverError> {
    tokio::time::sleep(FLOW_POLL_INTERVAL).await;
    match snapshot_with_rows(driver, rows).await {
        Ok(snap) => Ok(Some(snap)),
        Err(err) if !err.is_fatal() => {
            tracing::debug!("page not readable yet: {err}");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// [`poll_with_rows`] until the page reads.
pub async fn poll_until_read(driver: &Driver, rows: usize) -> Result<Snapshot, DriverError> {
    loop {
        if let Some(snap) = poll_with_rows(driver, rows).await? {
            return Ok(snap);
        }
    }
}

/// A call into the page's own modules.
#[derive(Debug, Clone, Copy)]
pub enum ModuleCall<'a> {
    /// `Cmd.refreshQR()`: a new QR cycle after the last one expired.
    RefreshQr,
    /// `Socket.takeover()`: "Use here".
    Takeover,
    /// The ack of our message with this serialized id (`null` when the page lacks it).
    Ack(&'a str),
}

/// Makes `call`; `Ok(Value::Null)` when the piece it needs is missing.
pub async fn call(driver: &Driver, call: ModuleCall<'_>) -> Result<Value, DriverError> {
    let args = match call {
        ModuleCall::RefreshQr => vec![json!("refresh-qr")],
        ModuleCall::Takeover => vec![json!("takeover")],
        ModuleCall::Ack(id) => vec![json!("ack"), json!(id)],
    };
    driver.execute(MODULE_CALL_SCRIPT, args).await
}

/// One step of a send through the modules (`prepare` or `send`); the script's answer.
pub async fn module_send(
    driver: &Driver,
    step: &str,
    phone: &str,
    text: &str,
    id: Option<&str>,
) -> Result<Value, DriverError> {
    let args = vec![json!({"step": step, "phone": phone, "text": text, "id": id})];
    driver.execute_async(MODULE_SEND_SCRIPT, args).await
}

pub async fn find(driver: &Driver, target: Target<'_>) -> Result<Option<Element>, DriverError> {
    let value = driver.execute(FIND_SCRIPT, target.args()).await?;
    tracing::debug!(?target, found = !value.is_null(), "looked for an element");
    Ok(driver.element(&value))
}

/// Clicks `target`; `Ok(false)` when it is not on the page.
pub async fn click(driver: &Driver, target: Target<'_>) -> Result<bool, DriverError> {
    let Some(element) = find(driver, target).await? else {
        return Ok(false);
    };
    match driver.click(&element).await {
        Err(DriverError::Page(reason)) => {
            tracing::debug!(
                ?target,
                "pointer click refused ({reason}), clicking through the DOM"
            );
            match driver.execute_on(DOM_CLICK_SCRIPT, &element, vec![]).await {
                Ok(_) => {}
                // Drawn again meanwhile (a stale element): not clicked, the caller looks again.
                Err(err) if !err.is_fatal() => {
                    tracing::debug!(?target, "the element went away before the click ({err})");
                    return Ok(false);
                }
                Err(err) => return Err(err),
            }
        }
        other => other?,
    }
    Ok(true)
}

/// The text `element` shows, non-breaking spaces as spaces.
pub async fn text_of(driver: &Driver, element: &Element) -> Result<String, DriverError> {
    let value = driver
        .execute_on(ELEMENT_TEXT_SCRIPT, element, vec![])
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

/// Types `text` into `element`: real key input where WebDriver can type every character,
/// the browser's own text insertion otherwise.
pub async fn type_text(driver: &Driver, element: &Element, text: &str) -> Result<(), DriverError> {
    if text.chars().all(|c| u32::from(c) <= 0xFFFF) {
        return driver.send_keys(element, &keys_for(text)).await;
    }
    driver
        .execute_on(INSERT_TEXT_SCRIPT, element, vec![json!(text)])
        .await
        .map(drop)
}

/// `text` as WebDriver keys: a line break is Shift+Enter (Enter alone would send), the
/// modifier released after it.
fn keys_for(text: &str) -> String {
    let shift_enter = [
        char::from(fantoccini::key::Key::Shift),
        char::from(fantoccini::key::Key::Enter),
        char::from(fantoccini::key::Key::Null),
    ];
    text.replace("\r\n", "\n")
        .chars()
        .flat_map(|c| match c {
            '\n' | '\r' => shift_enter.to_vec(),
            c => vec![c],
        })
        .collect()
}

/// What opening a media row's `blob:` URL in the page answered.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BlobOpened {
    /// Names the file kept in the page for [`read_blob`]; absent when it was not kept.
    pub key: Option<String>,
    pub size: u64,
    /// The blob's MIME type, empty when the page does not say.
    #[serde(rename = "type")]
    pub mimetype: String,
    /// Larger than the limit asked for: not kept.
    pub too_large: bool,
    pub error: Option<String>,
}

/// Fetches `url` (a row's `blob:` URL) inside the page and keeps the file there, unless it is
/// larger than `max` bytes.
pub async fn open_blob(driver: &Driver, url: &str, max: u64) -> Result<BlobOpened, DriverError> {
    let request = json!({"op": "open", "url": url, "max": max});
    let value = driver
        .execute_async(MEDIA_READ_SCRIPT, vec![request])
        .await?;
    serde_json::from_value(value)
        .map_err(|err| DriverError::Page(format!("unreadable media answer: {err}")))
}

/// `length` bytes from `offset` of the file kept under `key`, base64-encoded.
pub async fn read_blob(
    driver: &Driver,
    key: &str,
    offset: u64,
    length: u64,
) -> Result<String, DriverError> {
    let request = json!({"op": "read", "key": key, "offset": offset, "length": length});
    let value = driver
        .execute_async(MEDIA_READ_SCRIPT, vec![request])
        .await?;
    match value.get("base64").and_then(Value::as_str) {
        Some(base64) => Ok(base64.to_owned()),
        None => Err(DriverError::Page(format!(
            "the page did not give the file: {}",
            value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no answer")
        ))),
    }
}

/// Drops the file kept under `key`.
pub async fn close_blob(driver: &Driver, key: &str) -> Result<(), DriverError> {
    let request = json!({"op": "close", "key": key});
    driver
        .execute_async(MEDIA_READ_SCRIPT, vec![request])
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(value: Value) -> Snapshot {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_empty_or_booting_page_is_loading() {
        assert_eq!(Screen::of(&snap(json!({}))), Screen::Loading);
        assert_eq!(
            Screen::of(&snap(json!({"progress": true, "bodyText": ""}))),
            Screen::Loading
        );
        assert_eq!(
            Screen::of(&snap(
                json!({"bodyText": "WhatsApp\n  Loading your chats  [42%]"})
            )),
            Screen::Loading
        );
    }

    #[test]
    fn a_page_that_refuses_the_browser_is_recognised() {
        let s = snap(
            json!({"bodyText": "WhatsApp works with Google Chrome 85+\n\nUPDATE GOOGLE CHROME"}),
        );
        assert_eq!(
            Screen::of(&s),
            Screen::Refused("WhatsApp works with Google Chrome 85+ UPDATE GOOGLE CHROME".into())
        );
    }

    #[test]
    fn a_live_qr_is_passed_whole_and_a_dead_one_is_expired() {
        for payload in [
            "2@abc==,def=,ghi=,jkl=",
            "2@abc==,def=,ghi=,jkl=,1",
            "https://wa.me/settings/linked_devices#2@abc,def,ghi,jkl",
            "2@abc,def,ghi,jkl,https://example.invalid/x?y=1",
        ] {
            let s = snap(json!({"landing": true, "qr": {"ref": payload, "reload": false}}));
            assert_eq!(Screen::of(&s), Screen::Qr(payload.into()));
        }
        let dead = snap(json!({"landing": true, "qr": {"ref": "2@old", "reload": true}}));
        assert_eq!(Screen::of(&dead), Screen::QrExpired);
        let blank = snap(json!({"landing": true, "qr": null}));
        assert_eq!(Screen::of(&blank), Screen::Landing);
        let landing_text = snap(json!({"bodyText": "Steps to log in\nLink with phone number"}));
        assert_eq!(Screen::of(&landing_text), Screen::Landing);
        assert!(Screen::of(&snap(json!({"phoneInput": true}))).is_landing());
    }

    #[test]
    fn dialogs_win_over_the_app_under_them() {
        let conflict = snap(json!({"paneSide": true, "dialogs": [{
            "text": "WhatsApp is open in another window. Click \"Use here\" to use WhatsApp in this window.",
            "buttons": ["Close", "Use here"]}]}));
        assert_eq!(Screen::of(&conflict), Screen::Conflict);
        let by_button = snap(json!({"dialogs": [{"text": "…", "buttons": ["USE HERE"]}]}));
        assert_eq!(Screen::of(&by_button), Screen::Conflict);
        for text in [
            "Phone number shared via url is invalid.",
            "The phone number +1 555 isn't on WhatsApp.",
            "The phone number +1 555 isn\u{2019}t on WhatsApp.",
            "This number is not on WhatsApp",
        ] {
            let s = snap(json!({"paneSide": true, "dialogs": [{"text": text, "buttons": ["OK"]}]}));
            assert_eq!(Screen::of(&s), Screen::InvalidNumber, "{text}");
        }
        let connecting =
            snap(json!({"paneSide": true, "dialogs": [{"text": "Connecting\u{2026}"}]}));
        assert_eq!(Screen::of(&connecting), Screen::Loading);
        let starting = snap(json!({"paneSide": true, "dialogs": [{"text": "Starting chat"}]}));
        assert_eq!(Screen::of(&starting), Screen::StartingChat);
        let plain = snap(json!({"bodyText": "Starting chat…"}));
        assert_eq!(Screen::of(&plain), Screen::StartingChat);
    }

    #[test]
    fn the_app_and_an_open_chat() {
        assert_eq!(Screen::of(&snap(json!({"paneSide": true}))), Screen::App);
        let chat = snap(json!({"paneSide": true, "compose": "hola"}));
        assert_eq!(
            Screen::of(&chat),
            Screen::Chat {
                compose: "hola".into()
            }
        );
        assert!(Screen::of(&chat).is_linked());
        assert!(!Screen::of(&chat).is_landing());
    }

    #[test]
    fn a_pairing_code_loses_its_commas() {
        let s = snap(json!({"linkCode": "A,B,C,D,1,2,3,4"}));
        assert_eq!(Screen::of(&s), Screen::PairingCode("ABCD1234".into()));
    }

    #[test]
    fn own_number_from_either_key() {
        assert_eq!(
            parse_own_number("\"5215512345678:12@c.us\"").as_deref(),
            Some("5215512345678")
        );
        assert_eq!(
            parse_own_number("\"5215512345678@c.us\"").as_deref(),
            Some("5215512345678")
        );
        assert_eq!(
            parse_own_number("5215512345678@c.us").as_deref(),
            Some("5215512345678")
        );
        for junk in [
            "",
            "\"\"",
            "null",
            "\"abc@c.us\"",
            "\"+52155@c.us\"",
            "{}",
            "\"@c.us\"",
        ] {
            assert_eq!(parse_own_number(junk), None, "{junk}");
        }
        let md_first = snap(json!({"widMd": "\"111:3@c.us\"", "wid": "\"222@c.us\""}));
        assert_eq!(md_first.own_number().as_deref(), Some("111"));
        let legacy = snap(json!({"widMd": null, "wid": "\"222@c.us\""}));
        assert_eq!(legacy.own_number().as_deref(), Some("222"));
        let junk_md = snap(json!({"widMd": "garbage", "wid": "\"222@c.us\""}));
        assert_eq!(junk_md.own_number().as_deref(), Some("222"));
        assert_eq!(snap(json!({})).own_number(), None);
    }

    #[test]
    fn message_ids_come_out_of_data_ids() {
        assert_eq!(
            MessageKey::parse("true_5215512345678@c.us_3EB0C767D26A1B"),
            Some(MessageKey {
                from_me: true,
                chat_id: "5215512345678@c.us".into(),
                message_id: "3EB0C767D26A1B".into(),
            })
        );
        let group = MessageKey::parse("false_120363@g.us_ABC123_5215512345678@c.us").unwrap();
        assert_eq!(group.chat_id, "120363@g.us");
        assert_eq!(group.message_id, "ABC123");
        assert!(!group.from_me);
        assert_eq!(phone_of_chat("5215512345678@c.us"), Some("5215512345678"));
        for other in ["120363@g.us", "987654@lid", "@c.us", "abc@c.us", "1@c.us.x"] {
            assert_eq!(phone_of_chat(other), None, "{other}");
        }
        let lid = MessageKey::parse("false_987654@lid_XYZ").unwrap();
        assert_eq!(lid.chat_id, "987654@lid");
        for junk in [
            "",
            "true",
            "true_x@c.us",
            "maybe_1@c.us_X",
            "true_nochat_X",
            "true_1@c.us_",
        ] {
            assert_eq!(MessageKey::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn status_labels_are_compared_trimmed() {
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Delivery::of(&labels(&[" Pending "])),
            Some(Delivery::Pending)
        );
        assert_eq!(
            Delivery::of(&labels(&["Reply", " Sent "])),
            Some(Delivery::Sent)
        );
        assert_eq!(
            Delivery::of(&labels(&[" Delivered "])),
            Some(Delivery::Delivered)
        );
        assert_eq!(Delivery::of(&labels(&["  read"])), Some(Delivery::Read));
        assert_eq!(Delivery::of(&labels(&["Read more", "Sentinel"])), None);
        assert!(!Delivery::Pending.is_sent());
        assert!(Delivery::Sent.is_sent() && Delivery::Read.is_sent());
        assert!(Delivery::Pending < Delivery::Sent && Delivery::Delivered < Delivery::Read);
    }

    #[test]
    fn line_breaks_are_typed_as_shift_enter() {
        assert_eq!(keys_for("plain"), "plain");
        assert_eq!(
            keys_for("one\ntwo\r\nthree"),
            "one\u{e008}\u{e007}\u{e000}two\u{e008}\u{e007}\u{e000}three"
        );
    }

    #[test]
    fn unread_badges_tell_how_many() {
        assert_eq!(unread_count("3 unread messages"), Some(3));
        assert_eq!(unread_count(" 1 unread message"), Some(1));
        assert_eq!(unread_count("unread messages"), None);
        assert_eq!(unread_count("0 unread messages"), None);
    }

    #[test]
    fn a_full_snapshot_parses() {
        let s = snap(json!({
            "url": "http://127.0.0.1:1/send?phone=1",
            "progress": false,
            "bodyText": null,
            "qr": null,
            "landing": false,
            "paneSide": true,
            "dialogs": [],
            "compose": "",
            "messages": [
                {"id": "true_1@c.us_A", "labels": [" Read "], "text": "mine", "more": true},
                {"id": "false_1@c.us_B", "labels": [], "text": "hi", "sender": "[10:00, 1/2/2026] Ana: "},
                {"id": "false_1@c.us_C", "labels": [], "text": null, "sender": null,
                 "media": {"kind": "image", "blob": "blob:http://127.0.0.1:1/x", "name": null}}
            ],
            "unread": [{"index": 2, "label": "1 unread message"}],
            "linkCode": null,
            "phoneInput": false,
            "widMd": "\"1:2@c.us\"",
            "wid": null,
            "somethingNew": 1
        }));
        assert_eq!(s.messages.len(), 3);
        assert_eq!(s.messages[0].media, None);
        let media = s.messages[2].media.as_ref().expect("a media row");
        assert_eq!(media.kind, "image");
        assert_eq!(media.blob.as_deref(), Some("blob:http://127.0.0.1:1/x"));
        assert_eq!(s.messages[1].text.as_deref(), Some("hi"));
        assert_eq!(s.messages[0].text.as_deref(), Some("mine"));
        assert!(s.messages[0].more && !s.messages[1].more);
        assert_eq!(s.unread[0].index, 2);
        assert_eq!(Screen::of(&s), Screen::Chat { compose: "".into() });
    }
}
