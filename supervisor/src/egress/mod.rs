//! The egress: the only way out for the browsers of isolated workers.
//!
//! Each worker runs in a network namespace of its own ([`isolation`]), where nobody else can
//! reach its chromedriver's and Chromium's unauthenticated TCP ports. Its browser's connections
//! come here, over a Unix socket in the data directory (0600, in a 0700 directory), through the
//! SOCKS5 proxy the worker serves in its namespace. For each connection:
//!
//! 1. Read the [`EgressRequest`]: the session, the host and the port.
//! 2. Refuse it unless the connecting process (`SO_PEERCRED`) is the named session's current
//!    worker (or the named warm spare's): a session's traffic goes through that session's
//!    upstream proxy only.
//! 3. Connect from the daemon's network namespace, directly or through the session's upstream
//!    proxy ([`upstream`]), within [`upstream::CONNECT_TIMEOUT`]; answer an [`EgressReply`].
//! 4. Relay bytes both ways until either side closes.
//!
//! Relays end with their connections, or all at once when the egress stops.

pub mod isolation;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wamux_proto::{EgressFailure, EgressReply, EgressRequest, read_frame, write_frame};

use crate::sessions::registry::Registry;
use crate::store::Store;
use upstream::ProxyUrl;

/// The socket's name, beside the worker socket.
const SOCKET_NAME: &str = "egress.sock";
/// Bound on a worker sending its request once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the egress listens, given where the worker socket is.
pub fn socket_beside(worker_socket: &Path) -> PathBuf {
    worker_socket.with_file_name(SOCKET_NAME)
}

/// What a connection needs to be judged and made.
#[derive(Clone)]
pub struct Egress {
    pub sessions: Arc<Registry>,
    pub store: Arc<Store>,
}

impl Egress {
    /// Serves `listener` until `stop`, then ends every relay.
    pub async fn serve(self, listener: UnixListener, stop: CancellationToken) {
        let mut relays = JoinSet::new();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let egress = self.clone();
                        relays.spawn(async move { egress.relay(stream).await });
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot accept an egress connection"),
                },
                Some(_) = relays.join_next() => {}
            }
        }
    }

    async fn relay(self, mut stream: UnixStream) {
        let peer = stream.peer_cred().ok().and_then(|c| c.pid());
        let request = match tokio::time::timeout(
            REQUEST_TIMEOUT,
            read_frame::<_, EgressRequest>(&mut stream),
        )
        .await
        {
            Ok(Ok(Some(request))) => request,
            _ => return,
        };
        let span = tracing::info_span!("egress", session = %request.session_id);
        self.answer(stream, request, peer).instrument(span).await;
    }

    /// Steps 2 to 4.
    async fn answer(&self, mut stream: UnixStream, request: EgressRequest, peer: Option<i32>) {
        let connected = match self.proxy_for(&request, peer) {
            Ok(proxy) => tokio::time::timeout(
                upstream::CONNECT_TIMEOUT,
                upstream::connect(proxy.as_ref(), &request.host, request.port),
            )
            .await
            .unwrap_or(Err(EgressFailure::HostUnreachable)),
            Err(failure) => Err(failure),
        };
        match connected {
            Ok(mut target) => {
                if write_frame(&mut stream, &EgressReply::Connected)
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut target).await;
                }
            }
            Err(failure) => {
                tracing::debug!(host = %request.host, port = request.port, ?failure, "not connected");
                let _ = write_frame(&mut stream, &EgressReply::Failed(failure)).await;
            }
        }
    }

    /// Step 2: the session's upstream proxy, if it has one, once the peer is its worker.
    fn proxy_for(
        &self,
        request: &EgressRequest,
        peer: Option<i32>,
    ) -> Result<Option<ProxyUrl>, EgressFailure> {
        // A warm spare's worker (and a session's that took one) connects under the spare's
        // name; a spare goes direct, and only sessions without a proxy take spares.
        let named = self.sessions.worker_named(&request.session_id);
        let worker = named.as_ref().map(|(_, pid)| *pid);
        let is_its_worker =
            matches!((worker, peer), (Some(w), Some(p)) if i64::from(w) == i64::from(p));
        if !is_its_worker {
            tracing::warn!(?peer, ?worker, "egress refused: not this session's worker");
            return Err(EgressFailure::NotAllowed);
        }
        let Some((Some(session), _)) = named else {
            return Ok(None);
        };
        match self.store.proxy(&session) {
            Ok(None) => Ok(None),
            Ok(Some(text)) => ProxyUrl::parse(&text).map(Some).map_err(|e| {
                tracing::error!(error = %e, "the session's stored proxy is unusable");
                EgressFailure::ProxyFailed
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the session's proxy");
                Err(EgressFailure::Other)
            }
        }
    }
}
