//! Everything the fake knows: page loads, QR payloads, pairing codes, linked accounts, messages.
//!
//! The server, not the page, owns the truth: a page load registers itself (`hello`), then polls
//! its [`View`], a description of the screen it must show. Timed behaviour (boot screen, "Starting
//! chat", QR rotation, pairing-code lifetime, " Pending " → " Sent ") is computed from timestamps
//! whenever asked, with the caller's `now`, so no timer task exists and unit tests can move time
//! by hand. One `std::sync::Mutex` guards the whole state; no lock is held across an `.await`.
//!
//! Times handed out over HTTP (`at` of a message) are Unix epoch milliseconds.
//!
//! Messages live here, not in the page: a page loaded later (another browser on the same
//! profile) shows the chat's rows with their ids, texts and statuses. A message counts as
//! received by "WhatsApp" (it is in [`State::sent`]) as soon as the page sends it, however long
//! its " Pending " lasts.
//!
//! For the page's own modules (contract section 10) every app view also carries the account's
//! message feed. Each message has a global sequence number; each linked device remembers the
//! highest one it was shown (`delivered_seq`), and a page records that value when its first app
//! view is served (`history_upto`). A message is new for a page iff its sequence number is
//! above the page's `history_upto`: what arrived while no browser was up is new for the next
//! page load, as WhatsApp's offline messages are, and what an earlier page load showed is
//! history.
//!
//! Media messages (contract section 11) are messages with a [`Media`]: their text is the
//! caption, their bytes stay here and pages fetch them by id ([`State::media`]).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rand::Rng;
use serde::Serialize;

use axum::body::Bytes;

use crate::{
    config::{
        Attach, CaptionLabel, FakeConfig, MODULE_NAMES, MediaSend, Modules, PhotoAccept, Variant,
    },
    ids,
    media::{Media, MediaView},
    schedule::{QrCycle, QrPhase, QrTiming},
};

/// A page that has not polled for this long is no longer on show (its browser died or moved on
/// without saying goodbye).
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// A page that has not polled for this long is forgotten.
const PAGE_FORGET: Duration = Duration::from_secs(600);
/// How many of the account's latest messages an app view's feed carries.
const FEED_LEN: usize = 500;
/// Longest message id a page may choose for its own send.
const CLIENT_ID_MAX: usize = 64;

/// Why a request could not be honoured; the HTTP layer maps each kind to a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 400: the request is malformed.
    BadRequest(String),
    /// 404: nothing known by that name.
    NotFound(String),
    /// 409: the page is not in a state that allows the action.
    Conflict(String),
    /// 410: it existed, but is no longer on show.
    Gone(String),
}

/// A result of the state's operations.
pub type Outcome<T> = Result<T, Failure>;

/// A dialog over the main app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialog {
    /// "Phone number shared via url is invalid."
    Invalid,
    /// "WhatsApp is open in another window…"
    Conflict,
}

/// The status of a message we sent, as its icon's `aria-label` shows it (without the padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Status {
    Pending,
    Sent,
    Delivered,
    Read,
}

impl Status {
    /// The `ack` of a message model: 0 pending, 1 server (Sent), 2 device (Delivered), 3 read.
    fn ack(self) -> u8 {
        match self {
            Status::Pending => 0,
            Status::Sent => 1,
            Status::Delivered => 2,
            Status::Read => 3,
        }
    }

    fn lowercase(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
        }
    }
}

/// What a page load must show: the answer to its poll.
#[derive(Debug, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum View {
    /// The boot screen.
    Loading,
    /// The device was unlinked: clear the storage and reload with `post_logout=1`.
    Logout,
    /// "Starting chat" of `/send`; `app` is there when the page is linked.
    Starting { app: Option<AppView> },
    /// Not linked.
    Landing { landing: LandingView },
    /// Linked and ready.
    Main { app: AppView },
}

/// The landing screen's content.
#[derive(Debug, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum LandingView {
    /// A QR payload; `expired` means it is dead and the reload button is on show.
    Qr { payload: String, expired: bool },
    /// The phone-number form of the pairing-code flow.
    Phone,
    /// The pairing code on show.
    Code { code: String },
}

/// The main app of a linked page.
#[derive(Debug, Serialize)]
pub struct AppView {
    session: SessionView,
    /// The account's number, digits only (the `user` of the page's own wid).
    me: String,
    chats: Vec<ChatView>,
    open: Option<OpenChatView>,
    dialog: Option<Dialog>,
    /// The account's last [`FEED_LEN`] messages, oldest first, for the page's modules.
    feed: Vec<FeedItem>,
}

/// One message of an app view's feed.
#[derive(Debug, Serialize)]
struct FeedItem {
    id: String,
    /// The chat's jid: `DIGITS@c.us` or `GROUP@g.us`.
    chat: String,
    from_me: bool,
    /// The text, or a media message's caption.
    text: String,
    /// The message model's `type`: `chat` or a media kind.
    kind: &'static str,
    /// The file of a media message.
    media: Option<MediaView>,
    /// The sender's jid in a group chat.
    author: Option<String>,
    /// The sender's name of an incoming message.
    name: Option<String>,
    /// Unix epoch milliseconds.
    at: u64,
    /// 0 pending, 1 sent, 2 delivered, 3 read; always 0 for incoming messages.
    ack: u8,
    seq: u64,
    /// Arrived after this page load's history ([`State`]'s module doc).
    new: bool,
}

/// What a linked page keeps in its storage.
#[derive(Debug, Serialize)]
struct SessionView {
    token: String,
    /// The localStorage key of the own number (`last-wid-md` or `last-wid`).
    key: &'static str,
    /// Its value before `JSON.stringify`.
    wid: String,
}

/// One row of the chat list.
#[derive(Debug, Serialize)]
struct ChatView {
    jid: String,
    name: String,
    unread: u32,
    last: Option<String>,
    at: Option<u64>,
}

/// The chat open in `#main`.
#[derive(Debug, Serialize)]
struct OpenChatView {
    jid: String,
    name: String,
    messages: Vec<MessageView>,
}

/// One message row in `#main`.
#[derive(Debug, Serialize)]
pub struct MessageView {
    /// The whole `data-id`: `true_JID_MSGID` or `false_JID_MSGID`.
    data_id: String,
    from_me: bool,
    /// The text, or a media message's caption.
    text: String,
    sender: String,
    at: u64,
    status: Option<Status>,
    /// The file of a media message.
    media: Option<MediaView>,
}

/// One message in the answer of `GET /__fake/sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentView {
    pub id: String,
    pub to: String,
    /// The text, or a media message's caption.
    pub text: String,
    /// Unix epoch milliseconds of the moment the fake received the message.
    pub at: u64,
    /// `pending`, `sent`, `delivered` or `read`, as its row shows now.
    pub status: &'static str,
    /// `chat` for a text, else the media kind (`image`, `video`, `audio`, `document`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The fields below are there for media messages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mimetype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Lowercase hex SHA-256 of the bytes received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The answer to a page's send: the message's id, and the rows the chat shows before it
/// ([`State::late_row`]).
#[derive(Debug, Serialize)]
pub struct SendAnswer {
    pub id: String,
    pub before: Vec<MessageView>,
    /// The stored message's file, when it has one (a media send).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaView>,
}

/// An outgoing row to show in a chat right when the account's next message to it is sent.
#[derive(Debug)]
struct LateRow {
    id: String,
    account: String,
    jid: String,
    text: String,
}

/// The answer to a page's `hello`.
#[derive(Debug, Serialize)]
pub struct Hello {
    pub page: String,
    pub variant: Variant,
    /// The page brought a token that is no longer linked: it must log out.
    pub stale_token: bool,
    /// Which build of the page's own modules to offer.
    pub modules: Modules,
    /// Module names dropped at runtime ([`State::set_modules`]): `window.require` throws for them.
    pub missing: Vec<String>,
    /// How long an arriving message stays a `ciphertext` model.
    pub decrypt_delay_ms: u64,
    /// The selectors of contract section 11.
    pub media: MediaUi,
}

/// The media selectors a page load uses ([`FakeConfig`]'s knobs).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MediaUi {
    pub attach: Attach,
    pub photo_accept: PhotoAccept,
    pub caption_label: CaptionLabel,
    pub send: MediaSend,
}

/// Counters of what pages did, for `GET /__fake/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Page loads (hellos).
    pub page_loads: u64,
    /// Calls of `sendSeen` (`/__fake/page/seen`).
    pub send_seen: u64,
    /// Chats opened in `#main`, by a click or by a `/send` link.
    pub chats_opened: u64,
}

/// One chat in the answer of `GET /__fake/chats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatSummary {
    pub jid: String,
    pub name: String,
    pub unread: u32,
    /// How often a page opened the chat in `#main`.
    pub opened: u32,
    /// How often a page called `sendSeen` for the chat.
    pub seen: u32,
}

/// What a message says: its text (a media message's caption, may be empty) and its file.
#[derive(Debug)]
pub struct Content {
    pub text: String,
    pub media: Option<Media>,
}

impl Content {
    /// A text message.
    pub fn text(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            media: None,
        }
    }

    /// A media message; the caption is trimmed.
    pub fn media(caption: &str, media: Media) -> Self {
        Self {
            text: caption.trim().to_owned(),
            media: Some(media),
        }
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

/// The group of an incoming group message.
#[derive(Debug, Clone, Copy)]
pub struct GroupRef<'a> {
    /// `120363…` (digits, optionally `CREATOR-TIME`), with or without `@g.us`.
    pub id: &'a str,
    /// The group's name; a new group without one is called `Group ID`.
    pub name: Option<&'a str>,
}

/// What `/__fake/phone` shows.
#[derive(Debug, Serialize)]
pub struct PhoneView {
    qrs: Vec<QrOnShow>,
    codes: Vec<CodeOnShow>,
    accounts: Vec<AccountSummary>,
    invalid_numbers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct QrOnShow {
    payload: String,
    expires_in_ms: u64,
}

#[derive(Debug, Serialize)]
struct CodeOnShow {
    code: String,
    phone: String,
    expires_in_ms: u64,
}

#[derive(Debug, Serialize)]
struct AccountSummary {
    phone: String,
    devices: Vec<String>,
    pages_on_show: usize,
    chats: Vec<ChatView>,
    sent: Vec<SentSummary>,
}

#[derive(Debug, Serialize)]
struct SentSummary {
    id: String,
    to: String,
    text: String,
    status: Status,
}

#[derive(Debug)]
enum Route {
    Home,
    Send { phone: String, resolved: bool },
}

#[derive(Debug)]
enum Landing {
    Qr(QrCycle),
    Phone,
    Code {
        code: String,
        phone: String,
        expires: Instant,
    },
}

/// One page load in some browser.
#[derive(Debug)]
struct Page {
    last_seen: Instant,
    token: Option<String>,
    route: Route,
    boot_until: Instant,
    /// End of "Starting chat" (equal to `boot_until` when there is none).
    ready_at: Instant,
    landing: Option<Landing>,
    cycles: u32,
    open_chat: Option<String>,
    dialog: Option<Dialog>,
    /// The device's `delivered_seq` when this page's first app view was served.
    history_upto: Option<u64>,
}

impl Page {
    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) < LIVE_TIMEOUT
    }

    fn start_cycle(&mut self, start: Instant) {
        self.cycles += 1;
        self.landing = Some(Landing::Qr(QrCycle::new(self.cycles, start)));
    }
}

#[derive(Debug, Clone)]
struct PayloadRef {
    page: String,
    cycle: u32,
    index: u32,
}

#[derive(Debug, Clone)]
struct CodeRef {
    page: String,
    expires: Instant,
}

/// A linked device: what a token stands for.
#[derive(Debug)]
struct Device {
    phone: String,
    number: u32,
    /// The highest message sequence number an app view served to this device carried.
    delivered_seq: u64,
}

#[derive(Debug, Default)]
struct Account {
    /// Most recent activity first, as the chat list shows them.
    chats: Vec<Chat>,
    /// Ids of all the account's messages, in sequence order.
    log: Vec<String>,
}

impl Account {
    /// The chat with `jid`, moved to the top of the list (created if new).
    fn bump_chat(&mut self, jid: &str, name: &str) -> &mut Chat {
        let chat = match self.chats.iter().position(|chat| chat.jid == jid) {
            Some(at) => self.chats.remove(at),
            None => Chat {
                jid: jid.to_owned(),
                name: name.to_owned(),
                unread: 0,
                messages: Vec::new(),
                opened: 0,
                seen: 0,
            },
        };
        self.chats.insert(0, chat);
        &mut self.chats[0]
    }

    fn chat_mut(&mut self, jid: &str) -> Option<&mut Chat> {
        self.chats.iter_mut().find(|chat| chat.jid == jid)
    }
}

#[derive(Debug)]
struct Chat {
    jid: String,
    name: String,
    unread: u32,
    messages: Vec<String>,
    opened: u32,
    seen: u32,
}

impl Chat {
    fn opened_by_a_page(&mut self, stats: &mut Stats) {
        self.unread = 0;
        self.opened += 1;
        stats.chats_opened += 1;
    }
}

#[derive(Debug)]
struct Message {
    id: String,
    account: String,
    chat: String,
    from_me: bool,
    text: String,
    sender: String,
    created: Instant,
    /// Unix ms when created.
    at: u64,
    /// The best acknowledgement received, with its Unix ms.
    ack: Option<(Status, u64)>,
    /// The global sequence number, set by [`State::record`].
    seq: u64,
    /// The sender's jid of a group message.
    author: Option<String>,
    /// The file of a media message.
    media: Option<Media>,
}

impl Message {
    fn kind(&self) -> &'static str {
        self.media
            .as_ref()
            .map_or("chat", |media| media.kind.as_str())
    }

    /// The chat list's line for the message.
    fn summary(&self) -> String {
        match &self.media {
            Some(media) => media.summary(&self.text),
            None => self.text.clone(),
        }
    }

    fn media_view(&self) -> Option<MediaView> {
        self.media.as_ref().map(|media| media.view(&self.id))
    }

    fn status(&self, now: Instant, ack_delay: Duration) -> Status {
        match self.ack {
            Some((status, _)) => status,
            None if now.saturating_duration_since(self.created) >= ack_delay => Status::Sent,
            None => Status::Pending,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// The phone number of a request: digits, an optional leading `+` is dropped.
pub fn digits(field: &str, value: &str) -> Outcome<String> {
    let trimmed = value.trim();
    let number = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::BadRequest(format!(
            "{field} must be a phone number in digits, got {value:?}"
        )));
    }
    Ok(number.to_owned())
}

/// Whether `/send?phone=` names something WhatsApp could open at all.
fn plausible_number(phone: &str) -> bool {
    (5..=15).contains(&phone.len()) && phone.bytes().all(|b| b.is_ascii_digit())
}

fn person_jid(phone: &str) -> String {
    format!("{phone}@c.us")
}

/// A group's id: digits, optionally `CREATOR-TIME`; a trailing `@g.us` is dropped.
fn group_id(value: &str) -> Outcome<String> {
    let trimmed = value.trim();
    let id = trimmed.strip_suffix("@g.us").unwrap_or(trimmed);
    let part = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let valid = match id.split_once('-') {
        Some((creator, time)) => part(creator) && part(time),
        None => part(id),
    };
    if !valid {
        return Err(Failure::BadRequest(format!(
            "group must be digits, optionally with one dash, got {value:?}"
        )));
    }
    Ok(id.to_owned())
}

/// A message id a page chose for its send: what a real id is made of (letters and digits).
fn client_id(value: &str) -> Outcome<String> {
    if value.is_empty()
        || value.len() > CLIENT_ID_MAX
        || !value.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(Failure::BadRequest(format!(
            "id must be 1 to {CLIENT_ID_MAX} letters and digits, got {value:?}"
        )));
    }
    Ok(value.to_owned())
}

/// The whole state of the fake server.
#[derive(Debug)]
pub struct State {
    config: FakeConfig,
    timing: QrTiming,
    link_code_ttl: Duration,
    pages: HashMap<String, Page>,
    payloads: HashMap<String, PayloadRef>,
    codes: HashMap<String, CodeRef>,
    accounts: BTreeMap<String, Account>,
    devices: HashMap<String, Device>,
    messages: HashMap<String, Message>,
    /// Ids of the messages we sent, in the order they were sent.
    outgoing: Vec<String>,
    /// Rows waiting for the next send to their chat.
    late: Vec<LateRow>,
    invalid: HashSet<String>,
    /// The last sequence number given to a message.
    seq: u64,
    stats: Stats,
    /// Module names the page script must not offer ([`State::set_modules`]).
    dropped: BTreeSet<String>,
}

impl State {
    /// An empty state.
    pub fn new(config: FakeConfig) -> Self {
        Self {
            timing: QrTiming::from_config(&config),
            link_code_ttl: config.link_code_ttl,
            config,
            pages: HashMap::new(),
            payloads: HashMap::new(),
            codes: HashMap::new(),
            accounts: BTreeMap::new(),
            devices: HashMap::new(),
            messages: HashMap::new(),
            outgoing: Vec::new(),
            late: Vec::new(),
            invalid: HashSet::new(),
            seq: 0,
            stats: Stats::default(),
            dropped: BTreeSet::new(),
        }
    }

    // ----- the page's side -----

    /// A page load registers itself. `token` is what it found in its storage, `send_phone` the
    /// `phone` parameter of a `/send` URL.
    pub fn hello(&mut self, token: Option<&str>, send_phone: Option<&str>, now: Instant) -> Hello {
        self.pages
            .retain(|_, page| now.saturating_duration_since(page.last_seen) < PAGE_FORGET);
        self.stats.page_loads += 1;
        let (token, stale_token) = match token {
            Some(token) if self.devices.contains_key(token) => (Some(token.to_owned()), false),
            Some(_) => (None, true),
            None => (None, false),
        };
        let boot = if self.config.boot_max > self.config.boot_min {
            rand::rng().random_range(self.config.boot_min..=self.config.boot_max)
        } else {
            self.config.boot_min
        };
        let boot_until = now + boot;
        let route = match send_phone {
            Some(phone) => Route::Send {
                phone: phone.to_owned(),
                resolved: false,
            },
            None => Route::Home,
        };
        let starting = matches!(route, Route::Send { .. })
            && (token.is_some() || self.config.variant == Variant::Legacy);
        let ready_at = if starting {
            boot_until + self.config.starting_chat
        } else {
            boot_until
        };
        let id = loop {
            let id = ids::page_id();
            if !self.pages.contains_key(&id) {
                break id;
            }
        };
        self.pages.insert(
            id.clone(),
            Page {
                last_seen: now,
                token,
                route,
                boot_until,
                ready_at,
                landing: None,
                cycles: 0,
                open_chat: None,
                dialog: None,
                history_upto: None,
            },
        );
        Hello {
            page: id,
            variant: self.config.variant,
            stale_token,
            modules: self.config.modules,
            missing: self.dropped.iter().cloned().collect(),
            decrypt_delay_ms: millis(self.config.decrypt_delay),
            media: MediaUi {
                attach: self.config.attach,
                photo_accept: self.config.photo_accept,
                caption_label: self.config.caption_label,
                send: self.config.media_send,
            },
        }
    }

    /// What the page must show now; `None` if the page is unknown (it must reload).
    pub fn view(&mut self, page_id: &str, now: Instant) -> Option<View> {
        let page = self.pages.get_mut(page_id)?;
        page.last_seen = now;
        if now < page.boot_until {
            return Some(View::Loading);
        }
        if let Some(token) = &page.token
            && !self.devices.contains_key(token)
        {
            return Some(View::Logout);
        }
        let linked = page.token.is_some();
        if now < page.ready_at {
            let app = linked.then(|| {
                self.deliver(page_id);
                self.app_view(page_id, now)
            });
            return Some(View::Starting { app });
        }
        if linked {
            self.resolve_route(page_id);
            self.deliver(page_id);
            return Some(View::Main {
                app: self.app_view(page_id, now),
            });
        }
        Some(View::Landing {
            landing: self.landing_view(page_id, now),
        })
    }

    /// An app view is about to be served to a linked page: the page's history ends where its
    /// device's did when the page got its first one, and the device has now been shown every
    /// message of the account.
    fn deliver(&mut self, page_id: &str) {
        let Some(page) = self.pages.get_mut(page_id) else {
            return;
        };
        let Some(device) = page.token.as_ref().and_then(|t| self.devices.get_mut(t)) else {
            return;
        };
        let highest = self
            .accounts
            .get(&device.phone)
            .and_then(|account| account.log.last())
            .map_or(0, |id| self.messages[id].seq);
        page.history_upto.get_or_insert(device.delivered_seq);
        device.delivered_seq = device.delivered_seq.max(highest);
    }

    /// After "Starting chat" of a linked `/send` page: open the chat or show the invalid dialog.
    fn resolve_route(&mut self, page_id: &str) {
        let Some(Route::Send {
            phone,
            resolved: false,
        }) = self.pages.get(page_id).map(|page| &page.route)
        else {
            return;
        };
        let jid = self.on_whatsapp(phone).then(|| person_jid(phone));
        // `view` resolves the route of a linked page only.
        let Ok(account) = self.page_phone(page_id).map(str::to_owned) else {
            return;
        };
        let page = self.pages.get_mut(page_id).expect("found above");
        if let Route::Send { resolved, .. } = &mut page.route {
            *resolved = true;
        }
        let Some(jid) = jid else {
            page.dialog = Some(Dialog::Invalid);
            return;
        };
        page.open_chat = Some(jid.clone());
        self.chat_opened(&account, &jid);
    }

    /// A page of the account `phone` opened the chat `jid`: counted even for a chat the server
    /// does not know.
    fn chat_opened(&mut self, phone: &str, jid: &str) {
        match self
            .accounts
            .get_mut(phone)
            .and_then(|account| account.chat_mut(jid))
        {
            Some(chat) => chat.opened_by_a_page(&mut self.stats),
            None => self.stats.chats_opened += 1,
        }
    }

    /// Whether `phone` is on WhatsApp: the rule of the invalid-number dialog of `/send` and of
    /// `queryWidExists`.
    fn on_whatsapp(&self, phone: &str) -> bool {
        plausible_number(phone) && !self.invalid.contains(phone)
    }

    fn app_view(&self, page_id: &str, now: Instant) -> AppView {
        let page = &self.pages[page_id];
        let token = page.token.clone().unwrap_or_default();
        let device = &self.devices[&token];
        let (key, wid) = match self.config.variant {
            Variant::Modern => (
                "last-wid-md",
                format!("{}:{}@c.us", device.phone, device.number),
            ),
            Variant::Legacy => ("last-wid", person_jid(&device.phone)),
        };
        let account = self.accounts.get(&device.phone);
        let chats = account
            .map(|account| account.chats.iter().map(|c| self.chat_view(c)).collect())
            .unwrap_or_default();
        let open = page.open_chat.as_ref().map(|jid| {
            let chat = account.and_then(|a| a.chats.iter().find(|c| &c.jid == jid));
            OpenChatView {
                jid: jid.clone(),
                name: chat.map_or_else(
                    || format!("+{}", jid.trim_end_matches("@c.us")),
                    |c| c.name.clone(),
                ),
                messages: chat
                    .map(|c| {
                        c.messages
                            .iter()
                            .map(|id| self.message_view(&self.messages[id], now))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        });
        let history_upto = page.history_upto.unwrap_or(device.delivered_seq);
        let feed = account
            .map(|account| {
                let start = account.log.len().saturating_sub(FEED_LEN);
                account.log[start..]
                    .iter()
                    .map(|id| self.feed_item(&self.messages[id], history_upto, now))
                    .collect()
            })
            .unwrap_or_default();
        AppView {
            session: SessionView { token, key, wid },
            me: device.phone.clone(),
            chats,
            open,
            dialog: page.dialog,
            feed,
        }
    }

    fn feed_item(&self, message: &Message, history_upto: u64, now: Instant) -> FeedItem {
        FeedItem {
            id: message.id.clone(),
            chat: message.chat.clone(),
            from_me: message.from_me,
            text: message.text.clone(),
            kind: message.kind(),
            media: message.media_view(),
            author: message.author.clone(),
            name: (!message.from_me).then(|| message.sender.clone()),
            at: message.at,
            ack: if message.from_me {
                message.status(now, self.config.ack_delay).ack()
            } else {
                0
            },
            seq: message.seq,
            new: message.seq > history_upto,
        }
    }

    fn chat_view(&self, chat: &Chat) -> ChatView {
        let last = chat.messages.last().map(|id| &self.messages[id]);
        ChatView {
            jid: chat.jid.clone(),
            name: chat.name.clone(),
            unread: chat.unread,
            last: last.map(Message::summary),
            at: last.map(|m| m.at),
        }
    }

    fn message_view(&self, message: &Message, now: Instant) -> MessageView {
        let mut data_id = format!("{}_{}_{}", message.from_me, message.chat, message.id);
        if let Some(author) = &message.author {
            data_id.push('_');
            data_id.push_str(author);
        }
        MessageView {
            data_id,
            from_me: message.from_me,
            text: message.text.clone(),
            sender: message.sender.clone(),
            at: message.at,
            status: message
                .from_me
                .then(|| message.status(now, self.config.ack_delay)),
            media: message.media_view(),
        }
    }

    fn landing_view(&mut self, page_id: &str, now: Instant) -> LandingView {
        let variant = self.config.variant;
        let timing = self.timing;
        let link_code_ttl = self.link_code_ttl;
        let page = self
            .pages
            .get_mut(page_id)
            .expect("the caller found the page");
        if page.landing.is_none() {
            let start = page.ready_at;
            page.start_cycle(start);
        }
        match page.landing.as_mut().expect("just set") {
            Landing::Phone => LandingView::Phone,
            Landing::Code {
                code,
                phone,
                expires,
            } => {
                if now >= *expires {
                    let fresh = new_code(&mut self.codes, page_id, now + link_code_ttl);
                    *code = fresh;
                    *expires = now + link_code_ttl;
                    tracing::debug!(page = page_id, phone = %phone, code = %code, "pairing code renewed");
                }
                LandingView::Code { code: code.clone() }
            }
            Landing::Qr(cycle) => {
                let (index, expired) = match timing.phase(cycle.start, now) {
                    QrPhase::Showing(index) => (index, false),
                    QrPhase::Expired => (timing.count() - 1, true),
                };
                let known = if expired {
                    cycle.last()
                } else {
                    cycle.payload(index)
                };
                let payload = match known {
                    Some(payload) => payload.to_owned(),
                    None => {
                        let payload = new_payload(
                            &mut self.payloads,
                            variant,
                            PayloadRef {
                                page: page_id.to_owned(),
                                cycle: cycle.number,
                                index,
                            },
                        );
                        cycle.shown.push((index, payload.clone()));
                        payload
                    }
                };
                LandingView::Qr { payload, expired }
            }
        }
    }

    /// The page's user clicked "Click to reload QR code" (or "Log in with QR code").
    pub fn restart_qr(&mut self, page_id: &str, now: Instant) -> Outcome<()> {
        let page = self.unlinked_page(page_id)?;
        page.start_cycle(now);
        Ok(())
    }

    /// The page's user clicked "Log in with phone number".
    pub fn phone_login(&mut self, page_id: &str) -> Outcome<()> {
        let page = self.unlinked_page(page_id)?;
        page.landing = Some(Landing::Phone);
        Ok(())
    }

    /// The page's user typed a number and clicked "Next": a pairing code for it.
    pub fn request_code(&mut self, page_id: &str, phone: &str, now: Instant) -> Outcome<String> {
        let phone = digits("phone", phone)?;
        self.unlinked_page(page_id)?;
        let expires = now + self.link_code_ttl;
        let code = new_code(&mut self.codes, page_id, expires);
        let page = self.unlinked_page(page_id)?;
        page.landing = Some(Landing::Code {
            code: code.clone(),
            phone,
            expires,
        });
        Ok(code)
    }

    fn unlinked_page(&mut self, page_id: &str) -> Outcome<&mut Page> {
        let page = self
            .pages
            .get_mut(page_id)
            .ok_or_else(|| Failure::NotFound(format!("no page {page_id}")))?;
        if page.token.is_some() {
            return Err(Failure::Conflict("the page is linked".into()));
        }
        Ok(page)
    }

    /// The phone of the account the page is linked to.
    fn page_phone(&self, page_id: &str) -> Outcome<&str> {
        let page = self
            .pages
            .get(page_id)
            .ok_or_else(|| Failure::NotFound(format!("no page {page_id}")))?;
        page.token
            .as_ref()
            .and_then(|token| self.devices.get(token))
            .map(|device| device.phone.as_str())
            .ok_or_else(|| Failure::Conflict("the page is not linked".into()))
    }

    fn linked_page(&mut self, page_id: &str) -> Outcome<(&mut Page, String)> {
        let phone = self.page_phone(page_id)?.to_owned();
        let page = self
            .pages
            .get_mut(page_id)
            .expect("page_phone found the page");
        Ok((page, phone))
    }

    /// The page's user opened a chat: it shows in `#main` and is marked read.
    pub fn open_chat(&mut self, page_id: &str, jid: &str) -> Outcome<()> {
        let (page, phone) = self.linked_page(page_id)?;
        page.open_chat = Some(jid.to_owned());
        self.chat_opened(&phone, jid);
        Ok(())
    }

    /// The page called `sendSeen` for the chat `jid`: the chat is marked read. Counted even for
    /// a chat the server does not know, since the call is what tests look for.
    pub fn seen(&mut self, page_id: &str, jid: &str) -> Outcome<()> {
        let (_, phone) = self.linked_page(page_id)?;
        self.stats.send_seen += 1;
        if let Some(chat) = self
            .accounts
            .get_mut(&phone)
            .and_then(|account| account.chat_mut(jid))
        {
            chat.unread = 0;
            chat.seen += 1;
        }
        tracing::info!(page = page_id, phone, jid, "sendSeen called");
        Ok(())
    }

    /// Whether `phone` is on WhatsApp, as `queryWidExists` of a linked page asks it.
    pub fn exists(&self, page_id: &str, phone: &str) -> Outcome<bool> {
        self.page_phone(page_id)?;
        Ok(self.on_whatsapp(phone))
    }

    /// The page's user closed a dialog ("OK" of the invalid-number dialog, "Use here").
    pub fn dismiss(&mut self, page_id: &str) -> Outcome<()> {
        let (page, _) = self.linked_page(page_id)?;
        page.dialog = None;
        Ok(())
    }

    /// The page went away (`pagehide`): its QR or code is no longer on show.
    pub fn bye(&mut self, page_id: &str) {
        self.pages.remove(page_id);
    }

    /// The page sent `text` to the chat `jid`: the MSGID, after the late rows waiting for this
    /// chat ([`State::late_row`]), which go into the chat first. With `id` (chosen by the page's
    /// modules) the message is stored under it, once: the same id again from the same account
    /// answers that id and adds nothing.
    pub fn send(
        &mut self,
        page_id: &str,
        jid: &str,
        text: &str,
        id: Option<&str>,
        now: Instant,
    ) -> Outcome<SendAnswer> {
        if text.trim().is_empty() {
            return Err(Failure::BadRequest("empty message".into()));
        }
        self.send_message(page_id, jid, Content::text(text), id, now)
    }

    /// The page sent a file from its media editor, with `caption` (may be empty): as
    /// [`State::send`], the page's `id` is taken once. The answer carries the stored file.
    pub fn send_media(
        &mut self,
        page_id: &str,
        jid: &str,
        caption: &str,
        id: Option<&str>,
        media: Media,
        now: Instant,
    ) -> Outcome<SendAnswer> {
        self.send_message(page_id, jid, Content::media(caption, media), id, now)
    }

    fn send_message(
        &mut self,
        page_id: &str,
        jid: &str,
        content: Content,
        id: Option<&str>,
        now: Instant,
    ) -> Outcome<SendAnswer> {
        let to = jid
            .strip_suffix("@c.us")
            .ok_or_else(|| Failure::BadRequest(format!("{jid} is no person's chat")))?;
        let to = digits("to", to)?;
        let chosen = id.map(client_id).transpose()?;
        let (_, phone) = self.linked_page(page_id)?;
        let jid = person_jid(&to);
        if let Some(chosen) = &chosen {
            if let Some(known) = self.messages.get(chosen) {
                if known.from_me && known.account == phone {
                    tracing::debug!(from = %phone, id = %chosen, "a send repeated, already stored");
                    return Ok(SendAnswer {
                        id: chosen.clone(),
                        before: Vec::new(),
                        media: known.media_view(),
                    });
                }
                return Err(Failure::Conflict(format!("message id {chosen} is taken")));
            }
            if self.late.iter().any(|row| &row.id == chosen) {
                return Err(Failure::Conflict(format!("message id {chosen} is taken")));
            }
        }
        let (late, waiting): (Vec<LateRow>, Vec<LateRow>) = std::mem::take(&mut self.late)
            .into_iter()
            .partition(|row| row.account == phone && row.jid == jid);
        self.late = waiting;
        let mut before = Vec::new();
        for row in late {
            tracing::info!(from = %phone, %to, id = %row.id, "a late row shows before the send");
            let content = Content::text(&row.text);
            self.add_outgoing(row.id.clone(), &phone, &jid, content, now, true);
            before.push(self.message_view(&self.messages[&row.id], now));
        }
        let id = chosen.unwrap_or_else(|| self.new_message_id(ids::outgoing_message_id));
        let media = content.media.as_ref().map(|media| media.view(&id));
        let kind = media.as_ref().map(|media| media.kind.as_str());
        let size = media.as_ref().map(|media| media.size);
        self.add_outgoing(id.clone(), &phone, &jid, content, now, false);
        tracing::info!(from = %phone, %to, id = %id, kind, size, "message sent by a page");
        Ok(SendAnswer { id, before, media })
    }

    /// Puts a message of the account `phone` at the end of its chat `jid`; `sent` shows it
    /// " Sent " at once.
    fn add_outgoing(
        &mut self,
        id: String,
        phone: &str,
        jid: &str,
        content: Content,
        now: Instant,
        sent: bool,
    ) {
        let at = unix_ms();
        let name = format!("+{}", jid.trim_end_matches("@c.us"));
        let chat = self
            .accounts
            .entry(phone.to_owned())
            .or_default()
            .bump_chat(jid, &name);
        chat.unread = 0;
        chat.messages.push(id.clone());
        self.record(Message {
            id: id.clone(),
            account: phone.to_owned(),
            chat: jid.to_owned(),
            from_me: true,
            text: content.text,
            sender: "You".to_owned(),
            created: now,
            at,
            ack: sent.then_some((Status::Sent, at)),
            seq: 0,
            author: None,
            media: content.media,
        });
        self.outgoing.push(id);
    }

    /// Stores a message under the next sequence number, at the end of its account's log (the
    /// caller has put it into its chat).
    fn record(&mut self, mut message: Message) {
        self.seq += 1;
        message.seq = self.seq;
        self.accounts
            .entry(message.account.clone())
            .or_default()
            .log
            .push(message.id.clone());
        self.messages.insert(message.id.clone(), message);
    }

    fn new_message_id(&self, make: fn() -> String) -> String {
        loop {
            let id = make();
            if !self.messages.contains_key(&id) && !self.late.iter().any(|row| row.id == id) {
                return id;
            }
        }
    }

    fn link(&mut self, page_id: &str, phone: &str) {
        let token = loop {
            let token = ids::token();
            if !self.devices.contains_key(&token) {
                break token;
            }
        };
        let number = ids::device_number();
        self.devices.insert(
            token.clone(),
            Device {
                phone: phone.to_owned(),
                number,
                delivered_seq: 0,
            },
        );
        self.accounts.entry(phone.to_owned()).or_default();
        if let Some(page) = self.pages.get_mut(page_id) {
            page.token = Some(token);
            page.landing = None;
        }
        tracing::info!(page = page_id, phone, device = number, "page linked");
    }

    // ----- the phone's side: the control API -----

    /// The phone scans a QR payload.
    pub fn scan(&mut self, payload: &str, phone: &str, now: Instant) -> Outcome<()> {
        let phone = digits("phone", phone)?;
        let reference = self
            .payloads
            .get(payload)
            .cloned()
            .ok_or_else(|| Failure::NotFound("no page shows this QR payload".into()))?;
        let gone = || Failure::Gone("this QR payload has rotated away or expired".into());
        let page = self.pages.get(&reference.page).ok_or_else(gone)?;
        let on_show = page.live(now)
            && page.token.is_none()
            && matches!(&page.landing, Some(Landing::Qr(cycle))
                if cycle.number == reference.cycle
                    && self.timing.phase(cycle.start, now) == QrPhase::Showing(reference.index));
        if !on_show {
            return Err(gone());
        }
        self.link(&reference.page, &phone);
        Ok(())
    }

    /// The phone enters a pairing code (`ABCDEFGH` or `ABCD-EFGH`, any case).
    pub fn enter_code(&mut self, code: &str, phone: &str, now: Instant) -> Outcome<()> {
        let phone = digits("phone", phone)?;
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let reference = self
            .codes
            .get(&code)
            .cloned()
            .ok_or_else(|| Failure::NotFound(format!("no pairing code {code}")))?;
        let gone = || Failure::Gone(format!("pairing code {code} has expired"));
        if now >= reference.expires {
            return Err(gone());
        }
        let page = self.pages.get(&reference.page).ok_or_else(gone)?;
        let on_show = page.live(now)
            && page.token.is_none()
            && matches!(&page.landing, Some(Landing::Code { code: shown, .. }) if *shown == code);
        if !on_show {
            return Err(gone());
        }
        self.link(&reference.page, &phone);
        Ok(())
    }

    /// The phone unlinks its devices: their pages log out.
    pub fn unlink(&mut self, phone: &str) -> Outcome<()> {
        let phone = digits("phone", phone)?;
        if self.accounts.remove(&phone).is_none() {
            return Err(Failure::NotFound(format!("{phone} is not linked")));
        }
        self.devices.retain(|_, device| device.phone != phone);
        self.late.retain(|row| row.account != phone);
        tracing::info!(phone, "devices unlinked");
        Ok(())
    }

    /// Another window opens the account: its pages on show get the "Use here" dialog.
    pub fn conflict(&mut self, phone: &str, now: Instant) -> Outcome<()> {
        let phone = digits("phone", phone)?;
        if !self.accounts.contains_key(&phone) {
            return Err(Failure::NotFound(format!("{phone} is not linked")));
        }
        for page in self.pages.values_mut() {
            let of_phone = page
                .token
                .as_ref()
                .and_then(|token| self.devices.get(token))
                .is_some_and(|device| device.phone == phone);
            if of_phone && page.live(now) {
                page.dialog = Some(Dialog::Conflict);
            }
        }
        tracing::info!(phone, "conflict raised");
        Ok(())
    }

    /// A message from `from` (shown as `name`) arrives for the linked account `to`, in their
    /// chat or, with `group`, in that group's chat: a text or a media message.
    pub fn incoming(
        &mut self,
        to: &str,
        from: &str,
        name: &str,
        content: impl Into<Content>,
        group: Option<GroupRef<'_>>,
        now: Instant,
    ) -> Outcome<String> {
        let content = content.into();
        let to = digits("to", to)?;
        let from = digits("from", from)?;
        let group = group
            .map(|group| group_id(group.id).map(|id| (id, group.name)))
            .transpose()?;
        if !self.accounts.contains_key(&to) {
            return Err(Failure::NotFound(format!("{to} is not linked")));
        }
        let id = self.new_message_id(ids::incoming_message_id);
        let shown_name = if name.trim().is_empty() {
            format!("+{from}")
        } else {
            name.to_owned()
        };
        let account = self.accounts.get_mut(&to).expect("checked above");
        let (jid, author) = match &group {
            Some((group, group_name)) => {
                let jid = format!("{group}@g.us");
                let default_name = format!("Group {group}");
                let chat = account.bump_chat(&jid, group_name.unwrap_or(&default_name));
                if let Some(group_name) = group_name {
                    chat.name = (*group_name).to_owned();
                }
                (jid, Some(person_jid(&from)))
            }
            None => {
                let jid = person_jid(&from);
                account
                    .bump_chat(&jid, &shown_name)
                    .name
                    .clone_from(&shown_name);
                (jid, None)
            }
        };
        let chat = &mut account.chats[0];
        chat.unread += 1;
        chat.messages.push(id.clone());
        self.record(Message {
            id: id.clone(),
            account: to.clone(),
            chat: jid.clone(),
            from_me: false,
            text: content.text,
            sender: shown_name,
            created: now,
            at: unix_ms(),
            ack: None,
            seq: 0,
            author,
            media: content.media,
        });
        let kind = self.messages[&id].kind();
        tracing::info!(%to, %from, chat = %jid, id = %id, kind, "incoming message");
        Ok(id)
    }

    /// These numbers are not on WhatsApp.
    pub fn add_invalid(&mut self, numbers: &[String]) -> Outcome<()> {
        for number in numbers {
            let number = digits("numbers", number)?;
            self.invalid.insert(number);
        }
        Ok(())
    }

    /// What `from` has sent, oldest first: every message the fake received, " Pending " ones
    /// included.
    pub fn sent(&self, from: &str, now: Instant) -> Outcome<Vec<SentView>> {
        let from = digits("from", from)?;
        let ack_delay = self.config.ack_delay;
        Ok(self
            .outgoing
            .iter()
            .map(|id| &self.messages[id])
            .filter(|m| m.account == from)
            .map(|m| {
                let media = m.media.as_ref();
                SentView {
                    id: m.id.clone(),
                    to: m.chat.trim_end_matches("@c.us").to_owned(),
                    text: m.text.clone(),
                    at: m.at,
                    status: m.status(now, ack_delay).lowercase(),
                    kind: m.kind(),
                    caption: media.map(|_| m.text.clone()),
                    filename: media.and_then(|media| media.filename.clone()),
                    mimetype: media.map(|media| media.mimetype.clone()),
                    size: media.map(Media::size),
                    sha256: media.map(|media| media.sha256.clone()),
                }
            })
            .collect())
    }

    /// The file of the media message `id`, as `(mimetype, bytes)`, for a page of its account.
    pub fn media(&self, page_id: &str, id: &str) -> Outcome<(String, Bytes)> {
        let phone = self.page_phone(page_id)?;
        self.messages
            .get(id)
            .filter(|message| message.account == phone)
            .and_then(|message| message.media.as_ref())
            .map(|media| (media.mimetype.clone(), media.bytes.clone()))
            .ok_or_else(|| Failure::NotFound(format!("no media message {id}")))
    }

    /// The account `from` will show an outgoing row with `text` in its chat with `to` right
    /// when its next message to `to` is sent, before that message's row, as a row that
    /// renders late or a message typed on the phone would; the answer is the row's MSGID.
    pub fn late_row(&mut self, from: &str, to: &str, text: &str) -> Outcome<String> {
        let from = digits("from", from)?;
        let to = digits("to", to)?;
        if text.trim().is_empty() {
            return Err(Failure::BadRequest("empty message".into()));
        }
        if !self.accounts.contains_key(&from) {
            return Err(Failure::NotFound(format!("{from} is not linked")));
        }
        let id = self.new_message_id(ids::incoming_message_id);
        self.late.push(LateRow {
            id: id.clone(),
            account: from,
            jid: person_jid(&to),
            text: text.to_owned(),
        });
        Ok(id)
    }

    /// The counters of what pages did.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The chats of the linked account `phone`, most recent first, with their counters.
    pub fn chats(&self, phone: &str) -> Outcome<Vec<ChatSummary>> {
        let phone = digits("phone", phone)?;
        let account = self
            .accounts
            .get(&phone)
            .ok_or_else(|| Failure::NotFound(format!("{phone} is not linked")))?;
        Ok(account
            .chats
            .iter()
            .map(|chat| ChatSummary {
                jid: chat.jid.clone(),
                name: chat.name.clone(),
                unread: chat.unread,
                opened: chat.opened,
                seen: chat.seen,
            })
            .collect())
    }

    /// Drops modules from, or restores them to, the page loads from now on (a build that lacks
    /// them); the answer is every module dropped, sorted. Every name is checked before any
    /// change; a name both dropped and restored ends up restored.
    pub fn set_modules(&mut self, drop: &[String], restore: &[String]) -> Outcome<Vec<String>> {
        if let Some(unknown) = drop
            .iter()
            .chain(restore)
            .find(|name| !MODULE_NAMES.contains(&name.as_str()))
        {
            return Err(Failure::BadRequest(format!(
                "unknown module {unknown:?} (known: {})",
                MODULE_NAMES.join(", ")
            )));
        }
        self.dropped.extend(drop.iter().cloned());
        for name in restore {
            self.dropped.remove(name);
        }
        tracing::info!(missing = ?self.dropped, "page modules changed");
        Ok(self.dropped.iter().cloned().collect())
    }

    /// The recipient's phone acknowledges a message we sent.
    pub fn ack(&mut self, id: &str, status: Status) -> Outcome<()> {
        let message = self
            .messages
            .get_mut(id)
            .filter(|message| message.from_me)
            .ok_or_else(|| Failure::NotFound(format!("no sent message {id}")))?;
        if message.ack.is_none_or(|(best, _)| best < status) {
            message.ack = Some((status, unix_ms()));
        }
        Ok(())
    }

    /// The state summarized for `/__fake/phone`.
    pub fn phone_view(&mut self, now: Instant) -> PhoneView {
        let mut qrs = Vec::new();
        let mut codes = Vec::new();
        let mut live_linked: HashMap<String, usize> = HashMap::new();
        for page in self.pages.values().filter(|page| page.live(now)) {
            if let Some(device) = page.token.as_ref().and_then(|t| self.devices.get(t)) {
                *live_linked.entry(device.phone.clone()).or_default() += 1;
                continue;
            }
            match &page.landing {
                Some(Landing::Qr(cycle)) => {
                    if let QrPhase::Showing(index) = self.timing.phase(cycle.start, now)
                        && let Some(payload) = cycle.payload(index)
                    {
                        let end = self.timing.end_of(cycle.start, index);
                        qrs.push(QrOnShow {
                            payload: payload.to_owned(),
                            expires_in_ms: millis(end.saturating_duration_since(now)),
                        });
                    }
                }
                Some(Landing::Code {
                    code,
                    phone,
                    expires,
                }) if now < *expires => codes.push(CodeOnShow {
                    code: code.clone(),
                    phone: phone.clone(),
                    expires_in_ms: millis(expires.saturating_duration_since(now)),
                }),
                _ => {}
            }
        }
        let ack_delay = self.config.ack_delay;
        let accounts = self
            .accounts
            .iter()
            .map(|(phone, account)| AccountSummary {
                phone: phone.clone(),
                devices: self
                    .devices
                    .values()
                    .filter(|device| &device.phone == phone)
                    .map(|device| format!("{phone}:{}@c.us", device.number))
                    .collect(),
                pages_on_show: live_linked.get(phone).copied().unwrap_or(0),
                chats: account.chats.iter().map(|c| self.chat_view(c)).collect(),
                sent: self
                    .outgoing
                    .iter()
                    .map(|id| &self.messages[id])
                    .filter(|m| &m.account == phone)
                    .map(|m| SentSummary {
                        id: m.id.clone(),
                        to: m.chat.trim_end_matches("@c.us").to_owned(),
                        text: m.summary(),
                        status: m.status(now, ack_delay),
                    })
                    .collect(),
            })
            .collect();
        let mut invalid_numbers: Vec<String> = self.invalid.iter().cloned().collect();
        invalid_numbers.sort();
        PhoneView {
            qrs,
            codes,
            accounts,
            invalid_numbers,
        }
    }

    /// Whether `payload` is a payload the server handed out (the page may draw its QR).
    pub fn knows_payload(&self, payload: &str) -> bool {
        self.payloads.contains_key(payload)
    }
}

fn new_payload(
    payloads: &mut HashMap<String, PayloadRef>,
    variant: Variant,
    reference: PayloadRef,
) -> String {
    loop {
        let payload = ids::qr_payload(variant);
        if !payloads.contains_key(&payload) {
            payloads.insert(payload.clone(), reference);
            return payload;
        }
    }
}

fn new_code(codes: &mut HashMap<String, CodeRef>, page_id: &str, expires: Instant) -> String {
    loop {
        let code = ids::link_code();
        if !codes.contains_key(&code) {
            codes.insert(
                code.clone(),
                CodeRef {
                    page: page_id.to_owned(),
                    expires,
                },
            );
            return code;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaKind, Via};

    fn config() -> FakeConfig {
        FakeConfig {
            boot_min: Duration::ZERO,
            boot_max: Duration::ZERO,
            qr_first: Duration::from_secs(60),
            qr_next: Duration::from_secs(20),
            qr_count: 3,
            starting_chat: Duration::from_secs(1),
            ack_delay: Duration::from_secs(1),
            variant: Variant::Modern,
            modules: Modules::Current,
            decrypt_delay: Duration::from_millis(200),
            ..FakeConfig::default()
        }
    }

    fn qr(view: Option<View>) -> (String, bool) {
        match view {
            Some(View::Landing {
                landing: LandingView::Qr { payload, expired },
            }) => (payload, expired),
            other => panic!("expected a QR, got {other:?}"),
        }
    }

    fn app(view: Option<View>) -> AppView {
        match view {
            Some(View::Main { app }) => app,
            other => panic!("expected the main app, got {other:?}"),
        }
    }

    /// A page linked to `phone` by a QR scan.
    fn linked_page(state: &mut State, phone: &str, now: Instant) -> String {
        let page = state.hello(None, None, now).page;
        let (payload, _) = qr(state.view(&page, now));
        state.scan(&payload, phone, now).expect("scan");
        page
    }

    #[test]
    fn qr_rotates_in_place_then_expires_and_reloads() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let page = state.hello(None, None, t0).page;
        let (first, expired) = qr(state.view(&page, at(0)));
        assert!(!expired);
        assert_eq!(qr(state.view(&page, at(59))).0, first);
        let (second, _) = qr(state.view(&page, at(60)));
        assert_ne!(second, first);
        assert_eq!(
            state.scan(&first, "123456", at(60)),
            Err(Failure::Gone(
                "this QR payload has rotated away or expired".into()
            ))
        );
        let (third, _) = qr(state.view(&page, at(85)));
        let (dead, expired) = qr(state.view(&page, at(100)));
        assert!(expired);
        assert_eq!(dead, third);
        assert!(matches!(
            state.scan(&third, "123456", at(100)),
            Err(Failure::Gone(_))
        ));
        assert!(matches!(
            state.scan("2@nothing", "123456", at(100)),
            Err(Failure::NotFound(_))
        ));
        state.restart_qr(&page, at(101)).unwrap();
        let (fresh, expired) = qr(state.view(&page, at(101)));
        assert!(!expired);
        assert!(![&first, &second, &third].contains(&&fresh));
        state.scan(&fresh, "+5215512345678", at(102)).unwrap();
        let app = app(state.view(&page, at(102)));
        assert_eq!(app.session.key, "last-wid-md");
        assert!(app.session.wid.starts_with("5215512345678:"));
        assert!(app.session.wid.ends_with("@c.us"));
        assert!(matches!(
            state.scan(&fresh, "5215512345678", at(102)),
            Err(Failure::Gone(_))
        ));
    }

    #[test]
    fn a_page_that_stopped_polling_no_longer_shows_its_qr() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        let page = state.hello(None, None, t0).page;
        let (payload, _) = qr(state.view(&page, t0));
        let later = t0 + LIVE_TIMEOUT;
        assert!(matches!(
            state.scan(&payload, "123456", later),
            Err(Failure::Gone(_))
        ));
        let other = state.hello(None, None, t0).page;
        let (payload, _) = qr(state.view(&other, t0));
        state.bye(&other);
        assert!(matches!(
            state.scan(&payload, "123456", t0),
            Err(Failure::Gone(_))
        ));
    }

    #[test]
    fn token_survives_a_new_page_load_and_unlink_logs_out() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let token = app(state.view(&page, now)).session.token;
        let again = state.hello(Some(&token), None, now);
        assert!(!again.stale_token);
        app(state.view(&again.page, now));
        state.unlink("111222333").unwrap();
        assert!(matches!(state.view(&page, now), Some(View::Logout)));
        assert!(state.hello(Some(&token), None, now).stale_token);
        assert!(matches!(
            state.unlink("111222333"),
            Err(Failure::NotFound(_))
        ));
    }

    #[test]
    fn send_route_opens_the_chat_or_the_invalid_dialog() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        let page = linked_page(&mut state, "111222333", t0);
        let token = app(state.view(&page, t0)).session.token;
        state.add_invalid(&["999888777".into()]).unwrap();

        let send = state.hello(Some(&token), Some("444555666"), t0).page;
        match state.view(&send, t0) {
            Some(View::Starting { app: Some(_) }) => {}
            other => panic!("expected Starting chat over the app, got {other:?}"),
        }
        let ready = app(state.view(&send, t0 + Duration::from_secs(1)));
        assert_eq!(ready.open.expect("chat open").jid, "444555666@c.us");
        assert_eq!(ready.dialog, None);

        let invalid = state.hello(Some(&token), Some("999888777"), t0).page;
        let shown = app(state.view(&invalid, t0 + Duration::from_secs(1)));
        assert_eq!(shown.dialog, Some(Dialog::Invalid));
        assert!(shown.open.is_none());
        state.dismiss(&invalid).unwrap();
        assert_eq!(
            app(state.view(&invalid, t0 + Duration::from_secs(2))).dialog,
            None
        );

        let unlinked = state.hello(None, Some("444555666"), t0).page;
        qr(state.view(&unlinked, t0));
    }

    #[test]
    fn sent_messages_go_pending_sent_then_acked() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        let page = linked_page(&mut state, "111222333", t0);
        let answer = state
            .send(&page, "444555666@c.us", "hello there", None, t0)
            .unwrap();
        assert!(answer.before.is_empty());
        let id = answer.id;
        let received = state.sent("111222333", t0).unwrap();
        assert_eq!(received.len(), 1, "received while still pending");
        assert_eq!(received[0].status, "pending");
        let view = app(state.view(&page, t0));
        assert_eq!(view.chats[0].jid, "444555666@c.us");
        let t1 = t0 + Duration::from_secs(1);
        let sent = state.sent("111222333", t1).unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].id, id);
        assert_eq!(sent[0].to, "444555666");
        assert_eq!(sent[0].text, "hello there");
        assert_eq!(sent[0].status, "sent");
        assert_eq!(sent[0].at, received[0].at);
        state.open_chat(&page, "444555666@c.us").unwrap();
        let status = |state: &mut State| {
            app(state.view(&page, t1)).open.unwrap().messages[0]
                .status
                .unwrap()
        };
        assert_eq!(status(&mut state), Status::Sent);
        state.ack(&id, Status::Read).unwrap();
        state.ack(&id, Status::Delivered).unwrap();
        assert_eq!(status(&mut state), Status::Read);
        assert!(matches!(
            state.ack("3EB0NOPE", Status::Read),
            Err(Failure::NotFound(_))
        ));
        assert!(matches!(
            state.send(&page, "444555666@c.us", "  ", None, t1),
            Err(Failure::BadRequest(_))
        ));
    }

    #[test]
    fn a_late_row_shows_right_before_the_next_send_to_its_chat() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        let page = linked_page(&mut state, "111222333", t0);
        assert!(matches!(
            state.late_row("999", "444555666", "x"),
            Err(Failure::NotFound(_))
        ));
        let late = state
            .late_row("111222333", "444555666", "typed on the phone")
            .unwrap();
        let other = state
            .send(&page, "777888999@c.us", "elsewhere", None, t0)
            .unwrap();
        assert!(other.before.is_empty(), "another chat's send");
        let answer = state
            .send(&page, "444555666@c.us", "ours", None, t0)
            .unwrap();
        assert_eq!(answer.before.len(), 1);
        assert_eq!(
            answer.before[0].data_id,
            format!("true_444555666@c.us_{late}")
        );
        assert_eq!(answer.before[0].status, Some(Status::Sent));
        let again = state
            .send(&page, "444555666@c.us", "again", None, t0)
            .unwrap();
        assert!(again.before.is_empty(), "a late row shows once");
        state.open_chat(&page, "444555666@c.us").unwrap();
        let rows: Vec<(String, Option<Status>)> = app(state.view(&page, t0))
            .open
            .unwrap()
            .messages
            .into_iter()
            .map(|m| (m.text, m.status))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("typed on the phone".to_string(), Some(Status::Sent)),
                ("ours".to_string(), Some(Status::Pending)),
                ("again".to_string(), Some(Status::Pending)),
            ]
        );
        let texts: Vec<String> = state
            .sent("111222333", t0)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["elsewhere", "typed on the phone", "ours", "again"]);
    }

    #[test]
    fn incoming_messages_count_unread_until_opened() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        assert!(matches!(
            state.incoming("999", "444", "Ann", "hi", None, now),
            Err(Failure::NotFound(_))
        ));
        state
            .incoming("111222333", "444555666", "Ann", "one", None, now)
            .unwrap();
        let id = state
            .incoming("111222333", "444555666", "Ann", "two", None, now)
            .unwrap();
        let view = app(state.view(&page, now));
        assert_eq!(view.chats[0].unread, 2);
        assert_eq!(view.chats[0].name, "Ann");
        state.open_chat(&page, "444555666@c.us").unwrap();
        let view = app(state.view(&page, now));
        assert_eq!(view.chats[0].unread, 0);
        let open = view.open.unwrap();
        assert_eq!(open.messages.len(), 2);
        assert_eq!(
            open.messages[1].data_id,
            format!("false_444555666@c.us_{id}")
        );
        assert_eq!(open.messages[1].sender, "Ann");
    }

    #[test]
    fn pairing_code_links_and_expires() {
        let mut state = State::new(config());
        state.link_code_ttl = Duration::from_secs(5);
        let t0 = Instant::now();
        let page = state.hello(None, None, t0).page;
        qr(state.view(&page, t0));
        state.phone_login(&page).unwrap();
        let code = state.request_code(&page, "+52 155", t0);
        assert!(matches!(code, Err(Failure::BadRequest(_))));
        let code = state.request_code(&page, "5215512345678", t0).unwrap();
        assert!(matches!(
            state.enter_code("ZZZZZZZZ", "5215512345678", t0),
            Err(Failure::NotFound(_))
        ));
        let t5 = t0 + Duration::from_secs(5);
        assert!(matches!(
            state.enter_code(&code, "5215512345678", t5),
            Err(Failure::Gone(_))
        ));
        let renewed = match state.view(&page, t5) {
            Some(View::Landing {
                landing: LandingView::Code { code },
            }) => code,
            other => panic!("expected a code, got {other:?}"),
        };
        assert_ne!(renewed, code);
        let dashed = format!("{}-{}", &renewed[..4], renewed[4..].to_lowercase());
        state.enter_code(&dashed, "5215512345678", t5).unwrap();
        app(state.view(&page, t5));
    }

    #[test]
    fn conflict_reaches_the_pages_of_the_phone() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let other = linked_page(&mut state, "444555666", now);
        assert!(matches!(
            state.conflict("777", now),
            Err(Failure::NotFound(_))
        ));
        state.conflict("111222333", now).unwrap();
        assert_eq!(app(state.view(&page, now)).dialog, Some(Dialog::Conflict));
        assert_eq!(app(state.view(&other, now)).dialog, None);
        state.dismiss(&page).unwrap();
        assert_eq!(app(state.view(&page, now)).dialog, None);
    }

    #[test]
    fn legacy_keeps_the_old_key() {
        let mut state = State::new(FakeConfig {
            variant: Variant::Legacy,
            ..config()
        });
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let session = app(state.view(&page, now)).session;
        assert_eq!(session.key, "last-wid");
        assert_eq!(session.wid, "111222333@c.us");
    }

    fn feed_of(state: &mut State, page: &str, now: Instant) -> Vec<FeedItem> {
        app(state.view(page, now)).feed
    }

    #[test]
    fn a_message_is_new_for_the_page_loads_that_had_not_seen_it() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        let first = linked_page(&mut state, "111222333", t0);
        let token = app(state.view(&first, t0)).session.token;
        let early = state
            .incoming("111222333", "444555666", "Ann", "while up", None, t0)
            .unwrap();
        let feed = feed_of(&mut state, &first, t0);
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].id, early);
        assert!(feed[0].new, "arrived while the page was up");
        assert_eq!(feed[0].chat, "444555666@c.us");
        assert_eq!(feed[0].name.as_deref(), Some("Ann"));
        assert_eq!(feed[0].author, None);
        assert_eq!(
            (feed[0].kind, feed[0].ack, feed[0].from_me),
            ("chat", 0, false)
        );

        let reload = state.hello(Some(&token), None, t0).page;
        let feed = feed_of(&mut state, &reload, t0);
        assert!(!feed[0].new, "an earlier page load showed it: history");
        state.bye(&first);
        state.bye(&reload);

        let offline = state
            .incoming("111222333", "444555666", "Ann", "while down", None, t0)
            .unwrap();
        let next = state.hello(Some(&token), None, t0).page;
        let feed = feed_of(&mut state, &next, t0);
        let flags: Vec<(&str, bool)> = feed.iter().map(|m| (m.id.as_str(), m.new)).collect();
        assert_eq!(flags, [(early.as_str(), false), (offline.as_str(), true)]);
        assert!(feed[0].seq < feed[1].seq);
        assert!(
            feed_of(&mut state, &next, t0)[1].new,
            "new stays new for the page that got it as new"
        );

        let ours = state
            .send(&next, "444555666@c.us", "reply", None, t0)
            .unwrap()
            .id;
        let acks = |state: &mut State, at| -> Vec<u8> {
            feed_of(state, &next, at)
                .iter()
                .filter(|m| m.from_me)
                .map(|m| m.ack)
                .collect()
        };
        assert_eq!(acks(&mut state, t0), [0]);
        assert_eq!(acks(&mut state, t0 + Duration::from_secs(1)), [1]);
        state.ack(&ours, Status::Delivered).unwrap();
        assert_eq!(acks(&mut state, t0), [2]);
        state.ack(&ours, Status::Read).unwrap();
        let feed = feed_of(&mut state, &next, t0);
        let last = feed.last().unwrap();
        assert_eq!(
            (last.id.as_str(), last.ack, last.new),
            (ours.as_str(), 3, true)
        );
        assert_eq!(last.name, None);
    }

    #[test]
    fn the_feed_keeps_the_last_messages_oldest_first() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let mut ids = Vec::new();
        for n in 0..FEED_LEN + 3 {
            let id = state
                .incoming(
                    "111222333",
                    "444555666",
                    "Ann",
                    format!("m{n}").as_str(),
                    None,
                    now,
                )
                .unwrap();
            ids.push(id);
        }
        let feed = feed_of(&mut state, &page, now);
        assert_eq!(feed.len(), FEED_LEN);
        assert_eq!(feed[0].id, ids[3]);
        assert_eq!(feed.last().unwrap().id, *ids.last().unwrap());
    }

    #[test]
    fn a_client_chosen_id_is_stored_once() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let late = state.late_row("111222333", "444555666", "before").unwrap();
        let id = "3EB0AAAABBBBCCCCDDDD";
        let first = state
            .send(&page, "444555666@c.us", "once", Some(id), now)
            .unwrap();
        assert_eq!(first.id, id);
        assert_eq!(first.before.len(), 1, "the late row comes first");
        assert!(first.before[0].data_id.ends_with(&late));
        let again = state
            .send(&page, "444555666@c.us", "once", Some(id), now)
            .unwrap();
        assert_eq!(again.id, id);
        assert!(again.before.is_empty());
        let sent: Vec<String> = state
            .sent("111222333", now)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(sent, [late.as_str(), id]);
        state.open_chat(&page, "444555666@c.us").unwrap();
        let rows = app(state.view(&page, now)).open.unwrap().messages;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].data_id, format!("true_444555666@c.us_{id}"));

        let other = linked_page(&mut state, "777888999", now);
        assert!(matches!(
            state.send(&other, "444555666@c.us", "mine", Some(id), now),
            Err(Failure::Conflict(_))
        ));
        for bad in ["", "3EB0_X", "3EB0 X", &"A".repeat(CLIENT_ID_MAX + 1)] {
            assert!(
                matches!(
                    state.send(&page, "444555666@c.us", "x", Some(bad), now),
                    Err(Failure::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
        let fresh = state
            .send(&page, "444555666@c.us", "no id", None, now)
            .unwrap();
        assert!(fresh.id.starts_with("3EB0") && fresh.id != id);
    }

    #[test]
    fn exists_follows_the_invalid_number_rule() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        state.add_invalid(&["999888777".into()]).unwrap();
        assert_eq!(state.exists(&page, "444555666"), Ok(true));
        assert_eq!(state.exists(&page, "999888777"), Ok(false));
        assert_eq!(state.exists(&page, "1234"), Ok(false));
        assert_eq!(state.exists(&page, "1234567890123456"), Ok(false));
        assert_eq!(state.exists(&page, "44455x666"), Ok(false));
        assert!(matches!(
            state.exists("nosuchpage", "444555666"),
            Err(Failure::NotFound(_))
        ));
        let unlinked = state.hello(None, None, now).page;
        assert!(matches!(
            state.exists(&unlinked, "444555666"),
            Err(Failure::Conflict(_))
        ));
    }

    #[test]
    fn seen_opened_and_page_loads_are_counted() {
        let mut state = State::new(config());
        let t0 = Instant::now();
        assert_eq!(state.stats(), Stats::default());
        let page = linked_page(&mut state, "111222333", t0);
        let token = app(state.view(&page, t0)).session.token;
        state
            .incoming("111222333", "444555666", "Ann", "one", None, t0)
            .unwrap();
        state
            .incoming("111222333", "555666777", "Bob", "two", None, t0)
            .unwrap();
        state.seen(&page, "444555666@c.us").unwrap();
        state.seen(&page, "123456@c.us").unwrap();
        let chat = |state: &State, jid: &str| {
            state
                .chats("111222333")
                .unwrap()
                .into_iter()
                .find(|c| c.jid == jid)
                .unwrap()
        };
        let ann = chat(&state, "444555666@c.us");
        assert_eq!((ann.unread, ann.seen, ann.opened), (0, 1, 0));
        assert_eq!(ann.name, "Ann");
        assert_eq!(chat(&state, "555666777@c.us").unread, 1);
        assert_eq!(
            state.chats("111222333").unwrap()[0].jid,
            "555666777@c.us",
            "most recent first"
        );

        state.open_chat(&page, "555666777@c.us").unwrap();
        let bob = chat(&state, "555666777@c.us");
        assert_eq!((bob.unread, bob.seen, bob.opened), (0, 0, 1));
        let send = state.hello(Some(&token), Some("444555666"), t0).page;
        app(state.view(&send, t0 + Duration::from_secs(1)));
        app(state.view(&send, t0 + Duration::from_secs(2)));
        assert_eq!(chat(&state, "444555666@c.us").opened, 1, "once per link");
        assert_eq!(
            state.stats(),
            Stats {
                page_loads: 2,
                send_seen: 2,
                chats_opened: 2
            }
        );
        assert!(matches!(state.chats("999"), Err(Failure::NotFound(_))));
        assert!(matches!(state.chats("12a"), Err(Failure::BadRequest(_))));
        let unlinked = state.hello(None, None, t0).page;
        assert!(matches!(
            state.seen(&unlinked, "444555666@c.us"),
            Err(Failure::Conflict(_))
        ));
        assert_eq!(state.stats().page_loads, 3);
    }

    #[test]
    fn module_drops_reach_only_later_page_loads() {
        let mut state = State::new(FakeConfig {
            modules: Modules::Older,
            decrypt_delay: Duration::from_millis(750),
            ..config()
        });
        let now = Instant::now();
        let before = state.hello(None, None, now);
        assert_eq!(before.modules, Modules::Older);
        assert_eq!(before.decrypt_delay_ms, 750);
        assert!(before.missing.is_empty());
        let missing = state
            .set_modules(&["WAWebCollections".into(), "WAWebCmd".into()], &[])
            .unwrap();
        assert_eq!(missing, ["WAWebCmd", "WAWebCollections"]);
        assert!(before.missing.is_empty());
        assert_eq!(state.hello(None, None, now).missing, missing);
        assert!(matches!(
            state.set_modules(&["WAWebNope".into()], &["WAWebCmd".into()]),
            Err(Failure::BadRequest(_))
        ));
        assert_eq!(state.hello(None, None, now).missing, missing, "unchanged");
        let missing = state.set_modules(&[], &["WAWebCmd".into()]).unwrap();
        assert_eq!(missing, ["WAWebCollections"]);
        assert_eq!(state.hello(None, None, now).missing, missing);
    }

    #[test]
    fn group_messages_name_their_author() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let group = GroupRef {
            id: "120363000000000001",
            name: None,
        };
        let id = state
            .incoming("111222333", "444555666", "Ann", "hi all", Some(group), now)
            .unwrap();
        let view = app(state.view(&page, now));
        assert_eq!(view.chats[0].jid, "120363000000000001@g.us");
        assert_eq!(view.chats[0].name, "Group 120363000000000001");
        assert_eq!(view.chats[0].unread, 1);
        let item = &view.feed[0];
        assert_eq!(item.chat, "120363000000000001@g.us");
        assert_eq!(item.author.as_deref(), Some("444555666@c.us"));
        assert_eq!(item.name.as_deref(), Some("Ann"));
        state.open_chat(&page, "120363000000000001@g.us").unwrap();
        let row = &app(state.view(&page, now)).open.unwrap().messages[0];
        assert_eq!(
            row.data_id,
            format!("false_120363000000000001@g.us_{id}_444555666@c.us")
        );
        assert_eq!(row.sender, "Ann");

        let named = GroupRef {
            id: "120363000000000001@g.us",
            name: Some("Friends"),
        };
        state
            .incoming("111222333", "555666777", "", "me too", Some(named), now)
            .unwrap();
        let view = app(state.view(&page, now));
        assert_eq!(view.chats.len(), 1);
        assert_eq!(view.chats[0].name, "Friends");
        assert_eq!(view.feed[1].name.as_deref(), Some("+555666777"));
        let old_style = GroupRef {
            id: "5215512345678-1600000000",
            name: None,
        };
        state
            .incoming("111222333", "444555666", "Ann", "old", Some(old_style), now)
            .unwrap();
        for bad in ["", "12a", "1-2-3", "-5", "120363@c.us"] {
            let group = GroupRef {
                id: bad,
                name: None,
            };
            assert!(
                matches!(
                    state.incoming("111222333", "444555666", "Ann", "x", Some(group), now),
                    Err(Failure::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
    }

    fn png(bytes: &'static [u8]) -> Media {
        Media::upload(
            Via::Photos,
            "image/png",
            "cat.png",
            Bytes::from_static(bytes),
        )
        .unwrap()
    }

    #[test]
    fn a_sent_media_message_is_listed_with_its_file_and_taken_once() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let id = "3EB0AAAABBBBCCCCDDDD";
        let answer = state
            .send_media(
                &page,
                "444555666@c.us",
                " a cat ",
                Some(id),
                png(b"\x89PNG"),
                now,
            )
            .unwrap();
        assert_eq!(answer.id, id);
        let media = answer.media.expect("the stored file");
        assert_eq!((media.kind, media.size), (MediaKind::Image, 4));
        assert_eq!(media.filename.as_deref(), Some("cat.png"));
        let again = state
            .send_media(
                &page,
                "444555666@c.us",
                "a cat",
                Some(id),
                png(b"other"),
                now,
            )
            .unwrap();
        assert_eq!(again.media.expect("the first file").size, 4);
        let sent = state.sent("111222333", now).unwrap();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].kind, "image");
        assert_eq!(sent[0].text, "a cat");
        assert_eq!(sent[0].caption.as_deref(), Some("a cat"));
        assert_eq!(sent[0].filename.as_deref(), Some("cat.png"));
        assert_eq!(sent[0].mimetype.as_deref(), Some("image/png"));
        assert_eq!(sent[0].size, Some(4));
        assert_eq!(sent[0].sha256.as_ref().map(String::len), Some(64));

        let document = Media::upload(
            Via::Document,
            "image/png",
            "cat.png",
            Bytes::from_static(b"png"),
        )
        .unwrap();
        state
            .send_media(&page, "444555666@c.us", "", None, document, now)
            .unwrap();
        state
            .send(&page, "444555666@c.us", "and text", None, now)
            .unwrap();
        let sent = state.sent("111222333", now).unwrap();
        let kinds: Vec<&str> = sent.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["image", "document", "chat"]);
        assert_eq!(sent[1].caption.as_deref(), Some(""));
        assert_eq!(
            (sent[2].caption.as_ref(), sent[2].sha256.as_ref()),
            (None, None)
        );

        state.open_chat(&page, "444555666@c.us").unwrap();
        let view = app(state.view(&page, now));
        let rows = &view.open.as_ref().unwrap().messages;
        assert_eq!(rows[0].data_id, format!("true_444555666@c.us_{id}"));
        assert_eq!(rows[0].media.as_ref().unwrap().kind, MediaKind::Image);
        assert_eq!(rows[1].media.as_ref().unwrap().kind, MediaKind::Document);
        assert!(rows[2].media.is_none());
        let kinds: Vec<&str> = view.feed.iter().map(|item| item.kind).collect();
        assert_eq!(kinds, ["image", "document", "chat"]);
        assert_eq!(view.feed[0].text, "a cat");
        assert_eq!(view.feed[0].media.as_ref().unwrap().mimetype, "image/png");
        assert_eq!(view.chats[0].last.as_deref(), Some("and text"));
        let (mimetype, bytes) = state.media(&page, id).unwrap();
        assert_eq!(
            (mimetype.as_str(), &bytes[..]),
            ("image/png", &b"\x89PNG"[..])
        );
    }

    #[test]
    fn media_bytes_are_for_the_pages_of_their_account() {
        let mut state = State::new(config());
        let now = Instant::now();
        let page = linked_page(&mut state, "111222333", now);
        let other = linked_page(&mut state, "777888999", now);
        let voice =
            Media::incoming(MediaKind::Ptt, None, None, Bytes::from_static(b"OggS")).unwrap();
        let id = state
            .incoming(
                "111222333",
                "444555666",
                "Ann",
                Content::media("", voice),
                None,
                now,
            )
            .unwrap();
        let view = app(state.view(&page, now));
        assert_eq!(view.feed[0].kind, "ptt");
        assert_eq!(view.feed[0].text, "");
        assert_eq!(
            view.chats[0].last.as_deref(),
            Some("\u{1F3A4} Voice message")
        );
        assert_eq!(view.chats[0].unread, 1);
        let (mimetype, bytes) = state.media(&page, &id).unwrap();
        assert_eq!(mimetype, "audio/ogg; codecs=opus");
        assert_eq!(&bytes[..], b"OggS");
        assert!(matches!(
            state.media(&other, &id),
            Err(Failure::NotFound(_))
        ));
        assert!(matches!(
            state.media(&page, "3A00"),
            Err(Failure::NotFound(_))
        ));
        assert!(matches!(
            state.media("nopage", &id),
            Err(Failure::NotFound(_))
        ));
        let text = state
            .incoming("111222333", "444555666", "Ann", "plain", None, now)
            .unwrap();
        assert!(matches!(
            state.media(&page, &text),
            Err(Failure::NotFound(_))
        ));
        let unlinked = state.hello(None, None, now).page;
        assert!(matches!(
            state.media(&unlinked, &id),
            Err(Failure::Conflict(_))
        ));
    }

    #[test]
    fn the_hello_carries_the_media_knobs() {
        let mut state = State::new(FakeConfig {
            attach: Attach::TitleAttach,
            photo_accept: PhotoAccept::Image,
            caption_label: CaptionLabel::AriaPlaceholder,
            media_send: MediaSend::Wds,
            ..config()
        });
        let hello = serde_json::to_value(state.hello(None, None, Instant::now())).unwrap();
        assert_eq!(
            hello["media"],
            serde_json::json!({
                "attach": "title",
                "photo_accept": "image",
                "caption_label": "aria-placeholder",
                "send": "wds",
            })
        );
    }
}
