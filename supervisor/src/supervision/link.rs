//! The Unix socket workers connect back to, and the handshake that admits them.
//!
//! 1. Before spawning a worker, its supervising task calls [`WorkerLink::expect`] with the
//!    session id and the worker's pid, and waits on the returned receiver.
//! 2. A connecting worker sends `Hello`. It is admitted only if it speaks our protocol version,
//!    names a session that is waiting, and is the very process that was spawned for it (a stale
//!    or foreign worker is refused, so two workers can never drive one session). Which process
//!    connected is asked of the kernel (`SO_PEERCRED`), never taken from the hello, which any
//!    local process could fill in with the expected pid. A worker can
//!    say hello before its task has registered it (the pid is known only after the spawn), so
//!    an unknown hello waits for a registration until [`HELLO_TIMEOUT`].
//! 3. The admitted stream is answered `Welcome` and handed to the waiting task.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wamux_proto::{Hello, HelloReply, read_frame, write_frame};

/// A worker must be admitted this soon after connecting.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

struct Expected {
    pid: u32,
    admit: oneshot::Sender<UnixStream>,
}

enum Verdict {
    Unknown,
    Refused(String),
    Admitted(oneshot::Sender<UnixStream>),
}

pub struct WorkerLink {
    expected: Mutex<HashMap<String, Expected>>,
    registered: Notify,
    hello_timeout: Duration,
}

impl Default for WorkerLink {
    fn default() -> Self {
        Self::with_hello_timeout(HELLO_TIMEOUT)
    }
}

/// Listens on the Unix socket `path` (the workers' or the egress's), replacing a stale one
/// left by a previous daemon; only the service user may connect.
pub fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

impl WorkerLink {
    pub fn with_hello_timeout(hello_timeout: Duration) -> Self {
        WorkerLink {
            expected: Mutex::default(),
            registered: Notify::new(),
            hello_timeout,
        }
    }

    /// Waits for worker `pid` of session `id`; replaces any earlier expectation for the id.
    pub fn expect(&self, id: &str, pid: u32) -> oneshot::Receiver<UnixStream> {
        let (admit, rx) = oneshot::channel();
        self.lock().insert(id.to_owned(), Expected { pid, admit });
        self.registered.notify_waiters();
        rx
    }

    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Expected>> {
        self.expected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts workers until `shutdown` is cancelled.
    pub async fn serve(self: Arc<Self>, listener: UnixListener, shutdown: CancellationToken) {
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a worker connection failed");
                        continue;
                    }
                },
            };
            let link = self.clone();
            tokio::spawn(async move {
                if let Err(error) = link.admit(stream).await {
                    tracing::warn!(%error, "worker connection refused");
                }
            });
        }
    }

    /// `peer` is the connecting process's pid as the kernel reports it.
    fn verdict(&self, hello: &Hello, peer: u32) -> Verdict {
        let mut expected = self.lock();
        match expected.get(&hello.session_id) {
            None => Verdict::Unknown,
            Some(e) if e.pid != peer => Verdict::Refused(format!(
                "pid {peer} is not the worker spawned for session {:?}",
                hello.session_id
            )),
            Some(_) => match hello.check(&hello.session_id) {
                Err(e) => Verdict::Refused(e.to_string()),
                Ok(()) => match expected.remove(&hello.session_id) {
                    Some(e) => Verdict::Admitted(e.admit),
                    None => Verdict::Unknown,
                },
            },
        }
    }

    async fn admit(&self, mut stream: UnixStream) -> anyhow::Result<()> {
        let peer = stream
            .peer_cred()
            .context("cannot read the worker's credentials")?
            .pid()
            .context("the kernel did not report the worker's pid")?;
        let peer = u32::try_from(peer).context("the worker's pid is not a pid")?;
        let deadline = Instant::now() + self.hello_timeout;
        let hello: Hello = tokio::time::timeout_at(deadline, read_frame(&mut stream))
            .await
            .context("no hello in time")??
            .context("closed before hello")?;
        let verdict = loop {
            // Listen before looking, so that a registration in between is not missed.
            let registered = self.registered.notified();
            match self.verdict(&hello, peer) {
                Verdict::Unknown if Instant::now() < deadline => {
                    let _ = tokio::time::timeout_at(deadline, registered).await;
                }
                Verdict::Unknown => {
                    break Err(format!(
                        "session {:?} is not waiting for a worker",
                        hello.session_id
                    ));
                }
                Verdict::Refused(reason) => break Err(reason),
                Verdict::Admitted(admit) => break Ok(admit),
            }
        };
        match verdict {
            Ok(admit) => {
                write_frame(&mut stream, &HelloReply::Welcome).await?;
                // The waiting task may have given up meanwhile; dropping the stream tells the
                // worker so.
                let _ = admit.send(stream);
                Ok(())
            }
            Err(reason) => {
                let refusal = HelloReply::Refused {
                    reason: reason.clone(),
                };
                let _ = write_frame(&mut stream, &refusal).await;
                anyhow::bail!(reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn handshake(path: &Path, hello: &Hello) -> HelloReply {
        let mut s = UnixStream::connect(path).await.unwrap();
        write_frame(&mut s, hello).await.unwrap();
        read_frame(&mut s).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn admits_only_the_expected_worker() {
        let dir = std::env::temp_dir().join(format!("wamux-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.sock");
        let link = Arc::new(WorkerLink::with_hello_timeout(Duration::from_millis(300)));
        let stop = CancellationToken::new();
        tokio::spawn(
            link.clone()
                .serve(bind_private(&path).unwrap(), stop.clone()),
        );

        // Nobody registers "nobody": refused once the wait runs out.
        let unknown = handshake(&path, &Hello::new("nobody")).await;
        assert!(matches!(unknown, HelloReply::Refused { .. }));

        // The pid a client claims in its hello counts for nothing: this client names the
        // expected pid, but the kernel says the connecting process is this test.
        let me = std::process::id();
        let _waiting = link.expect("s1", 4242);
        let mut liar = Hello::new("s1");
        liar.worker_pid = 4242;
        assert!(matches!(
            handshake(&path, &liar).await,
            HelloReply::Refused { .. }
        ));

        let admitted = link.expect("s1", me);
        let mut old = Hello::new("s1");
        old.protocol_version = 0;
        assert!(matches!(
            handshake(&path, &old).await,
            HelloReply::Refused { .. }
        ));

        // The spawned process is admitted whatever pid it reports.
        let mut good = Hello::new("s1");
        good.worker_pid = 1;
        assert_eq!(handshake(&path, &good).await, HelloReply::Welcome);
        admitted.await.expect("the stream reaches the waiting task");

        stop.cancel();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
