//! One session as the daemon sees it: its status, what its worker last reported, and the
//! channel through which the API asks its supervising task for things.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use wamux_proto::Engines;

use super::pairing::{PairingCode, PairingFailure};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Starting,
    ScanQrCode,
    Working,
    Stopped,
    Failed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Starting,
        Status::ScanQrCode,
        Status::Working,
        Status::Stopped,
        Status::Failed,
    ];

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "STARTING",
            Status::ScanQrCode => "SCAN_QR_CODE",
            Status::Working => "WORKING",
            Status::Stopped => "STOPPED",
            Status::Failed => "FAILED",
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct SessionState {
    pub status: Status,
    pub status_since: i64,
    /// The live QR payload, if one is on show.
    pub qr: Option<String>,
    /// The pairing code on show, when the page was asked for one.
    pub pairing_code: Option<PairingCode>,
    pub phone_number: Option<String>,
    pub last_error: Option<String>,
    pub restarts: u32,
    pub worker_pid: Option<u32>,
    pub chromedriver_pid: Option<u32>,
    pub browser_pid: Option<u32>,
    /// The last sample of the whole process group's memory (PSS).
    pub memory_bytes: Option<u64>,
    /// The session's upstream proxy as the API shows it, its password masked.
    pub proxy: Option<String>,
    /// Which path each capability of the running worker uses; `None` until it tells.
    pub engine: Option<Engines>,
    /// With several nodes, the node that runs it.
    pub node: Option<String>,
}

/// Which path each capability uses, as the API shows it: `"modules"` or `"dom"` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EngineView {
    pub state: &'static str,
    pub incoming: &'static str,
    pub acks: &'static str,
    pub send: &'static str,
}

impl From<Engines> for EngineView {
    fn from(e: Engines) -> Self {
        EngineView {
            state: e.state.as_str(),
            incoming: e.incoming.as_str(),
            acks: e.acks.as_str(),
            send: e.send.as_str(),
        }
    }
}

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    NotReady,
    NotOnWhatsApp,
    Timeout,
    WorkerGone,
    Failed(String),
}

impl SendFailure {
    /// The error code, the same in the HTTP answer and in the `messageFailed` event.
    pub fn code(&self) -> &'static str {
        match self {
            SendFailure::NotReady => "session_not_ready",
            SendFailure::NotOnWhatsApp => "number_not_on_whatsapp",
            SendFailure::Timeout => "send_timeout",
            SendFailure::WorkerGone => "session_unavailable",
            SendFailure::Failed(_) => "send_failed",
        }
    }

    /// What a person reads, the same in the HTTP answer and in the event.
    pub fn message(&self) -> String {
        match self {
            SendFailure::NotReady => {
                "the session is not linked to a phone yet (status must be WORKING)".into()
            }
            SendFailure::NotOnWhatsApp => "the number is not on WhatsApp".into(),
            SendFailure::Timeout => "WhatsApp Web did not confirm the message in time".into(),
            SendFailure::WorkerGone => {
                "the session's browser stopped during the send; it is being restarted".into()
            }
            SendFailure::Failed(reason) => format!("WhatsApp Web did not send it: {reason}"),
        }
    }
}

impl From<wamux_proto::SendError> for SendFailure {
    fn from(e: wamux_proto::SendError) -> Self {
        use wamux_proto::SendError;
        match e {
            SendError::NotOnWhatsApp => SendFailure::NotOnWhatsApp,
            SendError::NotLinked => SendFailure::NotReady,
            SendError::Timeout => SendFailure::Timeout,
            SendError::Busy => SendFailure::Failed(e.to_string()),
            SendError::Failed(reason) => SendFailure::Failed(reason),
        }
    }
}

/// A send failure as the API and the event stream show it: `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureBody {
    pub code: String,
    pub message: String,
}

impl From<&SendFailure> for FailureBody {
    fn from(failure: &SendFailure) -> Self {
        FailureBody {
            code: failure.code().to_owned(),
            message: failure.message(),
        }
    }
}

/// Requests to a session's supervising task.
#[derive(Debug)]
pub enum Control {
    /// The outbox may hold messages for this session: send them if it can.
    Outbox,
    /// Start a stopped or failed session; answered once it is STARTING (or was running).
    Start { reply: oneshot::Sender<()> },
    /// Stop the worker: cleanly, or with SIGKILL to its group at once when `kill` is set.
    Stop {
        kill: bool,
        reply: oneshot::Sender<()>,
    },
    /// Unlink the device: stop the worker, wipe the profile, start afresh with a new QR.
    Logout { reply: oneshot::Sender<()> },
    /// Stop the worker and remove everything of the session; the task ends.
    Delete { reply: oneshot::Sender<()> },
    /// The daemon is exiting: stop the worker cleanly and keep the session for the next start.
    Shutdown { reply: oneshot::Sender<()> },
    /// Ask the page for a pairing code for `phone_number` (digits); answered with the code
    /// once it shows.
    PairingCode {
        phone_number: String,
        reply: oneshot::Sender<Result<PairingCode, PairingFailure>>,
    },
}

pub struct Session {
    pub id: String,
    pub created_at: i64,
    /// The folder under `sessions/` that holds its profile: the id, or the folder of the warm
    /// spare it took.
    pub dir: String,
    state: Mutex<SessionState>,
    /// Counts the changes of `state`, so that what is built from it can be kept until then.
    revision: AtomicU64,
    control: mpsc::UnboundedSender<Control>,
    /// Its lease went to another node: nothing this node still does for it is news.
    evicted: std::sync::atomic::AtomicBool,
}

/// The JSON shape of a session in the API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session_id: String,
    pub status: Status,
    pub status_since: i64,
    pub qr_available: bool,
    pub pairing_code: Option<String>,
    pub pairing_code_expires_at: Option<i64>,
    pub phone_number: Option<String>,
    pub last_error: Option<String>,
    pub restarts: u32,
    pub created_at: i64,
    pub worker_pid: Option<u32>,
    pub chromedriver_pid: Option<u32>,
    pub browser_pid: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub proxy: Option<String>,
    pub engine: Option<EngineView>,
    /// With several nodes, the one running it (absent while none does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Session {
    /// A session whose profile is under `sessions/DIR` (`None`: under `sessions/ID`).
    pub fn new(
        id: String,
        dir: Option<String>,
        created_at: i64,
        initial: SessionState,
    ) -> (Session, mpsc::UnboundedReceiver<Control>) {
        let (control, rx) = mpsc::unbounded_channel();
        let session = Session {
            dir: dir.unwrap_or_else(|| id.clone()),
            id,
            created_at,
            state: Mutex::new(initial),
            revision: AtomicU64::new(0),
            control,
            evicted: std::sync::atomic::AtomicBool::new(false),
        };
        (session, rx)
    }

    pub fn state(&self) -> SessionState {
        self.lock().clone()
    }

    /// Changes the state under the lock; the closure must not block.
    pub fn update<R>(&self, f: impl FnOnce(&mut SessionState) -> R) -> R {
        let mut state = self.lock();
        let result = f(&mut state);
        self.revision.fetch_add(1, Ordering::Release);
        result
    }

    /// How many times the state has changed: equal revisions, equal views.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The worker says which path each capability uses (the worker's own log line says it,
    /// with WhatsApp Web's build): shown until the worker ends.
    pub fn engines_reported(&self, engines: Engines) {
        self.update(|s| s.engine = Some(engines));
    }

    /// Marks the session as another node's from now on.
    pub fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
    }

    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Hands a request to the supervising task; `false` once that task has ended.
    pub fn control(&self, control: Control) -> bool {
        self.control.send(control).is_ok()
    }

    pub fn view(&self) -> SessionView {
        let s = self.lock();
        SessionView {
            session_id: self.id.clone(),
            status: s.status,
            status_since: s.status_since,
            qr_available: s.qr.is_some(),
            pairing_code: s.pairing_code.as_ref().map(|p| p.code.clone()),
            pairing_code_expires_at: s.pairing_code.as_ref().map(|p| p.expires_at),
            phone_number: s.phone_number.clone(),
            last_error: s.last_error.clone(),
            restarts: s.restarts,
            created_at: self.created_at,
            worker_pid: s.worker_pid,
            chromedriver_pid: s.chromedriver_pid,
            browser_pid: s.browser_pid,
            memory_bytes: s.memory_bytes,
            proxy: s.proxy.clone(),
            engine: s.engine.map(EngineView::from),
            node: s.node.clone(),
        }
    }
}

impl SessionState {
    pub fn new(status: Status, phone_number: Option<String>) -> Self {
        SessionState {
            status,
            status_since: now_ms(),
            qr: None,
            pairing_code: None,
            phone_number,
            last_error: None,
            restarts: 0,
            worker_pid: None,
            chromedriver_pid: None,
            browser_pid: None,
            memory_bytes: None,
            proxy: None,
            engine: None,
            node: None,
        }
    }

    /// The worker's group is gone: nothing it reported about its processes or its page holds.
    pub fn worker_ended(&mut self) {
        self.worker_pid = None;
        self.chromedriver_pid = None;
        self.browser_pid = None;
        self.qr = None;
        self.pairing_code = None;
        self.engine = None;
    }

    /// Sets the status, restarting its clock only when it really changes.
    pub fn set_status(&mut self, status: Status) {
        if status != Status::ScanQrCode {
            self.pairing_code = None;
        }
        if self.status != status {
            self.status = status;
            self.status_since = now_ms();
        }
    }
}

/// Session ids are used in paths and URLs, so they are restricted to `[A-Za-z0-9_-]{1,64}`.
pub fn valid_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A fresh id: 16 random lowercase hex characters.
pub fn generate_session_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Digits of a phone number as typed by a person (`+52 1 55-1234-5678`), or `None` when it
/// is not 8 to 15 digits after dropping `+`, spaces and dashes.
pub fn normalize_phone(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-'))
        .collect();
    ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wamux_proto::EnginePath;

    #[test]
    fn session_ids() {
        assert!(valid_session_id("abc-DEF_123"));
        assert!(valid_session_id(&"a".repeat(64)));
        assert!(!valid_session_id(&"a".repeat(65)));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("../x"));
        assert!(!valid_session_id("ñ"));
        assert!(!valid_session_id("a b"));
        let id = generate_session_id();
        assert!(valid_session_id(&id));
        assert_ne!(id, generate_session_id());
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(
            normalize_phone("+52 1 55-1234-5678").as_deref(),
            Some("5215512345678")
        );
        assert_eq!(normalize_phone("12345678").as_deref(), Some("12345678"));
        assert_eq!(normalize_phone("1234567"), None);
        assert_eq!(normalize_phone("1234567890123456"), None);
        assert_eq!(normalize_phone("12345678a"), None);
        assert_eq!(normalize_phone("(55) 12345678"), None);
        assert_eq!(normalize_phone("٣٣٣٣٣٣٣٣٣"), None);
    }

    #[test]
    fn the_engine_shows_each_path_and_mixed_paths_are_told_apart() {
        let modules = Engines {
            state: EnginePath::Modules,
            incoming: EnginePath::Modules,
            acks: EnginePath::Modules,
            send: EnginePath::Modules,
        };
        let send_on_dom = Engines {
            send: EnginePath::Dom,
            ..modules
        };
        assert_eq!(
            serde_json::to_value(EngineView::from(send_on_dom)).unwrap(),
            serde_json::json!({"state": "modules", "incoming": "modules", "acks": "modules", "send": "dom"})
        );
        assert!(send_on_dom.mixed());
        assert!(!modules.mixed());
        assert!(!Engines::DOM.mixed(), "a page without modules at all");

        let (session, _control) = Session::new(
            "s".into(),
            None,
            0,
            SessionState::new(Status::Working, None),
        );
        assert_eq!(session.view().engine, None);
        session.engines_reported(send_on_dom);
        assert_eq!(session.view().engine, Some(EngineView::from(send_on_dom)));
    }

    #[test]
    fn what_a_worker_reported_goes_with_it() {
        let mut s = SessionState::new(Status::Working, Some("5215512345678".into()));
        s.worker_pid = Some(10);
        s.chromedriver_pid = Some(11);
        s.browser_pid = Some(12);
        s.qr = Some("2@qr".into());
        s.engine = Some(Engines::DOM);
        s.worker_ended();
        assert_eq!(
            (
                s.worker_pid,
                s.chromedriver_pid,
                s.browser_pid,
                s.qr,
                s.engine
            ),
            (None, None, None, None, None)
        );
        assert_eq!(
            s.phone_number.as_deref(),
            Some("5215512345678"),
            "the link stays"
        );
    }

    #[test]
    fn status_clock_moves_only_on_change() {
        let mut s = SessionState::new(Status::Starting, None);
        s.status_since = 1;
        s.set_status(Status::Starting);
        assert_eq!(s.status_since, 1);
        s.set_status(Status::Working);
        assert!(s.status_since > 1);
    }
}
