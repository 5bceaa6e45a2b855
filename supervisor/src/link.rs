//! The Unix socket workers connect back to, and the handshake that admits them.
//!
//! 1. Before spawning a worker, its supervising task calls [`WorkerLink::expect`] with the
//!    session id and the worker's pid, and waits on the returned receiver.
//! 2. A connecting worker sends `Hello`. It is admitted only if it speaks our protocol version,
//!    names a session that is waiting, and is the very process that was spawned for it (a stale
//!    or foreign worker is refused, so two workers can never drive one session).
//! 3. The admitted stream is answered `Welcome` and handed to the waiting task.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use wamux_proto::{Hello, HelloReply, read_frame, write_frame};

/// A worker must say hello this soon after connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

struct Expected {
    pid: u32,
    admit: oneshot::Sender<UnixStream>,
}

#[derive(Default)]
pub struct WorkerLink {
    expected: Mutex<HashMap<String, Expected>>,
}

impl WorkerLink {
    /// Binds the socket, replacing a stale one left by a previous daemon; only the service
    /// user may connect.
    pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    }

    /// Waits for worker `pid` of session `id`; replaces any earlier expectation for the id.
    pub fn expect(&self, id: &str, pid: u32) -> oneshot::Receiver<UnixStream> {
        let (admit, rx) = oneshot::channel();
        self.lock().insert(id.to_owned(), Expected { pid, admit });
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

    async fn admit(&self, mut stream: UnixStream) -> anyhow::Result<()> {
        use anyhow::Context;
        let hello: Hello = tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut stream))
            .await
            .context("no hello in time")??
            .context("closed before hello")?;
        let verdict = {
            let mut expected = self.lock();
            match expected.get(&hello.session_id) {
                None => Err(format!(
                    "session {:?} is not waiting for a worker",
                    hello.session_id
                )),
                Some(e) if e.pid != hello.worker_pid => Err(format!(
                    "pid {} is not the worker spawned for session {:?}",
                    hello.worker_pid, hello.session_id
                )),
                Some(_) => match hello.check(&hello.session_id) {
                    Err(e) => Err(e.to_string()),
                    Ok(()) => Ok(expected.remove(&hello.session_id).map(|e| e.admit)),
                },
            }
        };
        match verdict {
            Ok(Some(admit)) => {
                write_frame(&mut stream, &HelloReply::Welcome).await?;
                // The waiting task may have given up meanwhile; dropping the stream tells the
                // worker so.
                let _ = admit.send(stream);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(reason) => {
                let _ = write_frame(
                    &mut stream,
                    &HelloReply::Refused {
                        reason: reason.clone(),
                    },
                )
                .await;
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
        let link = Arc::new(WorkerLink::default());
        let stop = CancellationToken::new();
        tokio::spawn(
            link.clone()
                .serve(WorkerLink::bind(&path).unwrap(), stop.clone()),
        );

        let unknown = handshake(&path, &Hello::new("nobody")).await;
        assert!(matches!(unknown, HelloReply::Refused { .. }));

        let admitted = link.expect("s1", 4242);
        let mut wrong_pid = Hello::new("s1");
        wrong_pid.worker_pid = 1;
        assert!(matches!(
            handshake(&path, &wrong_pid).await,
            HelloReply::Refused { .. }
        ));
        let mut old = Hello::new("s1");
        old.worker_pid = 4242;
        old.protocol_version = 0;
        assert!(matches!(
            handshake(&path, &old).await,
            HelloReply::Refused { .. }
        ));

        let mut good = Hello::new("s1");
        good.worker_pid = 4242;
        assert_eq!(handshake(&path, &good).await, HelloReply::Welcome);
        admitted.await.expect("the stream reaches the waiting task");

        stop.cancel();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
