//! The message types: the handshake, the worker's events and the supervisor's commands.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bumped whenever a message changes shape: postcard is not self-describing, so a worker and a
/// supervisor of different versions must refuse each other rather than misread frames.
pub const PROTOCOL_VERSION: u32 = 6;

/// The worker's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u32,
    pub session_id: String,
    pub worker_pid: u32,
}

impl Hello {
    pub fn new(session_id: impl Into<String>) -> Self {
        Hello {
            protocol_version: PROTOCOL_VERSION,
            session_id: session_id.into(),
            worker_pid: std::process::id(),
        }
    }

    /// The supervisor's side of the handshake: is this the worker it expects?
    pub fn check(&self, expected_session_id: &str) -> Result<(), HandshakeError> {
        if self.protocol_version != PROTOCOL_VERSION {
            return Err(HandshakeError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: self.protocol_version,
            });
        }
        if self.session_id != expected_session_id {
            return Err(HandshakeError::WrongSession {
                expected: expected_session_id.to_owned(),
                got: self.session_id.clone(),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    #[error("protocol version mismatch: supervisor speaks {ours}, worker speaks {theirs}")]
    VersionMismatch { ours: u32, theirs: u32 },
    #[error("worker announced session {got:?}, expected {expected:?}")]
    WrongSession { expected: String, got: String },
    #[error("refused by the supervisor: {0}")]
    Refused(String),
}

/// The supervisor's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Welcome,
    Refused { reason: String },
}

/// What a worker reports. Every event concerns the worker's own session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerEvent {
    /// The browser is being launched or the page is loading: no screen is known yet.
    Starting,
    /// A step of the worker's start that only the worker sees, for the start's timings.
    StartStep(StartStep),
    /// chromedriver and Chromium run; their pids, for observability and memory sampling.
    BrowserStarted {
        chromedriver_pid: u32,
        browser_pid: Option<u32>,
    },
    /// A new live QR payload is on show. Sent once per payload, never for a dead one.
    Qr { payload: String },
    /// The QR on show expired; the worker is asking the page for a fresh cycle.
    QrExpired,
    /// A pairing code is on show (8 characters, without the dash). Sent once per code: again
    /// when the page replaces an expired one.
    PairingCode { code: String },
    /// The answer to [`SupervisorCommand::RequestPairingCode`] when no code could be had.
    PairingCodeFailed { reason: String },
    /// The session is linked and the chat list is loaded.
    Ready { phone_number: String },
    /// The page said the account is open in another window; the worker takes it back.
    Conflict,
    /// The phone unlinked this device; the page is back on the landing screen.
    LoggedOut,
    /// The worker is about to send, and this is what identifies the message afterwards. The
    /// worker sends nothing until the supervisor answers [`SupervisorCommand::AttemptRecorded`],
    /// so a send that went out always has its attempt in the store.
    SendAttempt { request_id: u64, attempt: Attempt },
    /// The answer to [`SupervisorCommand::SendText`] with the same `request_id`.
    SendResult {
        request_id: u64,
        outcome: Result<SentMessage, SendError>,
    },
    /// The page shows a later status of a message this account sent.
    Ack { message_id: String, ack: Ack },
    /// Which path, the page's own modules or its DOM, each capability uses now. Sent after
    /// each page load once the page has shown what it offers, and whenever that changes.
    Engine(Engines),
    /// A message that arrived for this account; reported again until the supervisor answers
    /// [`SupervisorCommand::IncomingStored`].
    Incoming(Box<IncomingMessage>),
    /// The worker cannot go on; it exits after sending this.
    Fatal { reason: String },
}

impl WorkerEvent {
    /// The variant's name, for a log line that should not hold the whole event.
    pub fn name(&self) -> &'static str {
        match self {
            WorkerEvent::Starting => "Starting",
            WorkerEvent::StartStep(_) => "StartStep",
            WorkerEvent::BrowserStarted { .. } => "BrowserStarted",
            WorkerEvent::Qr { .. } => "Qr",
            WorkerEvent::QrExpired => "QrExpired",
            WorkerEvent::PairingCode { .. } => "PairingCode",
            WorkerEvent::PairingCodeFailed { .. } => "PairingCodeFailed",
            WorkerEvent::Ready { .. } => "Ready",
            WorkerEvent::Conflict => "Conflict",
            WorkerEvent::LoggedOut => "LoggedOut",
            WorkerEvent::SendAttempt { .. } => "SendAttempt",
            WorkerEvent::SendResult { .. } => "SendResult",
            WorkerEvent::Ack { .. } => "Ack",
            WorkerEvent::Engine(_) => "Engine",
            WorkerEvent::Incoming(_) => "Incoming",
            WorkerEvent::Fatal { .. } => "Fatal",
        }
    }
}

/// The steps of a start that happen inside the worker, each reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartStep {
    /// chromedriver answers on its port.
    ChromedriverReady,
    /// The first navigation to WhatsApp Web returned.
    FirstNavigation,
    /// The page first showed a screen other than the loading one.
    FirstScreen,
}

/// What identifies a message after a crash, recorded before it may go out.
///
/// - `seen` (the DOM path): the chat is open with the text in its compose box, and these are
///   the ids of the outgoing rows already shown (newest last, at most [`MAX_SEEN_ROWS`]). Our
///   message is then the outgoing row with our text that is not among them.
/// - `planned` (the modules path): the id the message is sent under, chosen before sending. It
///   is looked up by that id and, when WhatsApp never got it, sent again under the same id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub seen: Vec<String>,
    pub planned: Option<String>,
}

/// How a capability reads or drives the page (contract §10 against §§2–8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnginePath {
    /// The page's own modules (`window.require`).
    Modules,
    /// The DOM, as a person would see and click it.
    Dom,
}

impl EnginePath {
    pub fn as_str(self) -> &'static str {
        match self {
            EnginePath::Modules => "modules",
            EnginePath::Dom => "dom",
        }
    }
}

/// The path of each capability: the session's state (QR, linked, conflict, own number),
/// incoming messages, acknowledgements of sent messages, and sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engines {
    pub state: EnginePath,
    pub incoming: EnginePath,
    pub acks: EnginePath,
    pub send: EnginePath,
}

impl Engines {
    /// Everything through the DOM: a page without modules.
    pub const DOM: Engines = Engines {
        state: EnginePath::Dom,
        incoming: EnginePath::Dom,
        acks: EnginePath::Dom,
        send: EnginePath::Dom,
    };

    /// Some capabilities on the page's modules and others on the DOM: the page offers modules
    /// but lacks some that wamux looks for, so WhatsApp Web has changed under it.
    pub fn mixed(&self) -> bool {
        let paths = [self.state, self.incoming, self.acks, self.send];
        paths.contains(&EnginePath::Modules) && paths.contains(&EnginePath::Dom)
    }
}

/// How many outgoing row ids a [`WorkerEvent::SendAttempt`] carries at most.
pub const MAX_SEEN_ROWS: usize = 500;

/// A status the page shows for a sent message after "Sent" (contract §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ack {
    Delivered,
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum SendError {
    #[error("the number is not on WhatsApp")]
    NotOnWhatsApp,
    #[error("the session is not linked to a phone")]
    NotLinked,
    #[error("timed out waiting for WhatsApp Web")]
    Timeout,
    #[error("another send is in progress")]
    Busy,
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingMessage {
    pub message_id: String,
    /// The chat, as WhatsApp names it: `DIGITS@c.us`, `ID@g.us` or `ID@lid`.
    pub chat_id: String,
    /// Read from the DOM: the sender's name and the time as the page shows them
    /// (`[HH:MM, D/M/YYYY] Name: `); empty when read through the modules.
    pub sender: String,
    /// The sender's name as WhatsApp gives it (`notifyName`), when read through the modules.
    pub name: Option<String>,
    /// In a group, who sent it (`DIGITS@c.us` or `ID@lid`).
    pub author: Option<String>,
    /// WhatsApp's type: `chat` for a text, `image`, `video`, `ptt`, `document`, ...
    pub kind: String,
    /// When it was sent, Unix seconds, when the page tells (the modules do).
    pub timestamp: Option<i64>,
    /// The text, or a media message's caption; whole unless `original_len` is set.
    pub text: String,
    /// Set when the text was too long for one frame ([`crate::MAX_FRAME_LEN`]): the length in
    /// bytes of the whole text. `text` then holds its start, cut on a character boundary and
    /// ending in `…`.
    pub original_len: Option<usize>,
    /// A media message's file, as far as the page shows it.
    pub media: Option<IncomingMedia>,
}

/// The file of an incoming media message. The worker reads its bytes from the page (contract
/// section 11) into `--media-dir` and names the file here; the supervisor moves it into its
/// store once it has the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingMedia {
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    /// The file the worker wrote under `--media-dir`, when it read the bytes.
    pub path: Option<String>,
    /// Its size in bytes, when known (read or shown).
    pub size: Option<u64>,
    /// SHA-256 of the bytes written, lowercase hex.
    pub sha256: Option<String>,
    /// Why the bytes are not there: larger than `--max-media-size`, or the page would not
    /// give them.
    pub missing: Option<String>,
}

/// What kind of file a media message carries, which says how the page sends it (contract
/// section 11): images and videos through "Photos & videos", anything else as a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    /// The kind of a file of this MIME type.
    pub fn of(mimetype: &str) -> MediaKind {
        let mimetype = mimetype.to_ascii_lowercase();
        if mimetype.starts_with("image/") {
            MediaKind::Image
        } else if mimetype.starts_with("video/") {
            MediaKind::Video
        } else if mimetype.starts_with("audio/") {
            MediaKind::Audio
        } else {
            MediaKind::Document
        }
    }

    /// As the API, the store and WhatsApp's `type` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }
}

/// A file to send, kept by the supervisor in its data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMedia {
    /// The stored file (named by its hash), readable by the worker.
    pub path: String,
    /// The name the recipient sees.
    pub filename: String,
    pub mimetype: String,
    pub kind: MediaKind,
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// What the supervisor asks of a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupervisorCommand {
    /// Send `text` to `phone_number` (digits only); answered by [`WorkerEvent::SendResult`].
    /// `request_id` is the message's id in the supervisor's outbox, the same across workers.
    /// With `resume`, an earlier attempt may have gone out (`resume` is what it recorded): the
    /// worker first looks for that message, by its planned id or, for a DOM attempt, as the
    /// outgoing row with this text whose id is not in `seen`; found, it answers with its id and
    /// sends nothing more.
    SendText {
        request_id: u64,
        phone_number: String,
        text: String,
        resume: Option<Attempt>,
    },
    /// Send a file with `caption` (may be empty) to `phone_number`, through the page's attach
    /// menu (contract section 11); answered by [`WorkerEvent::SendResult`], with a
    /// [`WorkerEvent::SendAttempt`] before it goes out, exactly as [`SupervisorCommand::SendText`].
    /// A DOM attempt is found again as the outgoing media row with this caption whose id is
    /// not in `seen`.
    SendMedia {
        request_id: u64,
        phone_number: String,
        caption: String,
        media: OutgoingMedia,
        resume: Option<Attempt>,
    },
    /// The answer to [`WorkerEvent::SendAttempt`]: its snapshot is stored, the worker may send.
    AttemptRecorded { request_id: u64 },
    /// The answer to [`WorkerEvent::Incoming`]: the message with this id is stored, durably.
    /// Until it comes the worker reports the message again, so none is lost in between.
    IncomingStored { message_id: String },
    /// Ask for a pairing code for `phone_number` instead of a QR.
    RequestPairingCode { phone_number: String },
    /// Close the browser cleanly, kill the process group and exit.
    Shutdown,
}
