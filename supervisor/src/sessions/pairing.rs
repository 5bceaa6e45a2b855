//! Linking by pairing code instead of a QR (contract section 8): the code as people see it, how
//! long it lives, and why a request for one fails.
//!
//! 1. `POST /api/sessions/{id}/pairing-code` reaches the session's task, which asks its worker
//!    (`RequestPairingCode`) while the page shows the landing screen (SCAN_QR_CODE).
//! 2. The worker types the number and answers with the code on show (`PairingCode`) or why
//!    there is none (`PairingCodeFailed`); the request is answered with it.
//! 3. While the session waits, the page replaces an expired code with a new one: the worker
//!    reports each, and each is the session's current code and a `pairingCode` event.
//! 4. Entering the code on the phone links the session as a scan would; the code is forgotten
//!    once the session leaves SCAN_QR_CODE.

use std::time::Duration;

use serde::Serialize;

use super::session::Status;

/// How long a code lives on the real site ("about 3 minutes"): its `expiresAt`.
pub const LIFETIME: Duration = Duration::from_secs(180);

/// The code on show, as the API and the events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingCode {
    /// `ABCD-EFGH`, as the phone asks for it.
    pub code: String,
    /// When it stops working, in milliseconds since the Unix epoch.
    pub expires_at: i64,
}

impl PairingCode {
    /// The page's code (`ABCDEFGH`) shown at `shown_at` (milliseconds since the epoch).
    pub fn shown(raw: &str, shown_at: i64) -> PairingCode {
        let code = match raw.char_indices().nth(4) {
            Some((at, _)) if raw.len() == 8 => format!("{}-{}", &raw[..at], &raw[at..]),
            _ => raw.to_owned(),
        };
        PairingCode {
            code,
            expires_at: shown_at + LIFETIME.as_millis() as i64,
        }
    }
}

/// Why no pairing code came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingFailure {
    AlreadyLinked,
    /// The page shows no landing screen yet (or the session does not run).
    NotReady(Status),
    /// The page did not show a code.
    Failed(String),
    /// The worker stopped before it answered.
    Gone,
}

impl PairingFailure {
    /// Which failure the session's status makes a request for a code, if any.
    pub fn for_status(status: Status) -> Option<PairingFailure> {
        match status {
            Status::ScanQrCode => None,
            Status::Working => Some(PairingFailure::AlreadyLinked),
            other => Some(PairingFailure::NotReady(other)),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            PairingFailure::AlreadyLinked => "session_already_linked",
            PairingFailure::NotReady(_) => "session_not_ready",
            PairingFailure::Failed(_) => "pairing_code_unavailable",
            PairingFailure::Gone => "session_unavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            PairingFailure::AlreadyLinked => "the session is already linked to a phone".into(),
            PairingFailure::NotReady(status) => format!(
                "the session is {}: a pairing code can be asked for once it shows a QR code \
                 (SCAN_QR_CODE)",
                status.as_str()
            ),
            PairingFailure::Failed(reason) => {
                format!("WhatsApp Web showed no pairing code: {reason}")
            }
            PairingFailure::Gone => {
                "the session's browser stopped before it showed a code; ask again once it shows \
                 a QR code"
                    .into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_shown_as_two_halves_and_lives_three_minutes() {
        let code = PairingCode::shown("ABCD1234", 1_000);
        assert_eq!(code.code, "ABCD-1234");
        assert_eq!(code.expires_at, 181_000);
    }

    #[test]
    fn only_a_session_on_its_landing_screen_can_have_a_code() {
        assert_eq!(PairingFailure::for_status(Status::ScanQrCode), None);
        assert_eq!(
            PairingFailure::for_status(Status::Working),
            Some(PairingFailure::AlreadyLinked)
        );
        assert_eq!(
            PairingFailure::for_status(Status::Starting).map(|f| f.code()),
            Some("session_not_ready")
        );
    }
}
