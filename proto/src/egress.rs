//! The egress socket: how an isolated worker's browser reaches the web.
//!
//! A worker runs in a network namespace of its own, with nothing but a loopback, so its
//! chromedriver's and Chromium's TCP ports cannot be reached from outside. Its browser reaches
//! the web through a SOCKS5 proxy the worker serves on that loopback, which hands each
//! connection to the supervisor over a Unix socket on the file system:
//!
//! 1. The worker connects to the supervisor's egress socket and sends one [`EgressRequest`]
//!    frame: its session and the host and port the browser asked for.
//! 2. The supervisor checks that the connecting process is that session's worker, connects
//!    (directly or through the session's upstream proxy) and answers one [`EgressReply`] frame.
//! 3. After [`EgressReply::Connected`] the socket carries the connection's bytes both ways,
//!    unframed, until either side closes; after [`EgressReply::Failed`] it is closed.

use serde::{Deserialize, Serialize};

/// The worker's one frame on a new egress connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRequest {
    pub session_id: String,
    /// A host name (resolved by the supervisor) or an IP address in text form.
    pub host: String,
    pub port: u16,
}

/// The supervisor's answer to [`EgressRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EgressReply {
    Connected,
    Failed(EgressFailure),
}

/// Why a connection was not made, as precise as a SOCKS5 reply can tell the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EgressFailure {
    /// The request did not come from the named session's worker.
    NotAllowed,
    /// The host name did not resolve, or no route led to it.
    HostUnreachable,
    ConnectionRefused,
    /// The session's upstream proxy failed or refused.
    ProxyFailed,
    Other,
}
