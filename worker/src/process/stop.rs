//! Why and when the worker stops: the supervisor's `Shutdown` command, the supervisor going away
//! (end of the socket), or SIGTERM/SIGINT.
//!
//! All three end up in one `watch` channel that keeps the first cause, so the main task waits on
//! a single future whatever it is doing (starting the browser, polling, sending) and drops that
//! work at once.

use anyhow::Result;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::info;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    ShutdownCommand,
    SupervisorGone,
    Signal(&'static str),
}

#[derive(Clone)]
pub struct StopSender(watch::Sender<Option<StopCause>>);

impl StopSender {
    /// Records `cause` unless an earlier cause is already recorded.
    pub fn stop(&self, cause: StopCause) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(cause);
            true
        });
    }
}

pub fn channel() -> (StopSender, watch::Receiver<Option<StopCause>>) {
    let (tx, rx) = watch::channel(None);
    (StopSender(tx), rx)
}

/// Resolves with the first stop cause.
pub async fn stopped(rx: &mut watch::Receiver<Option<StopCause>>) -> StopCause {
    loop {
        if let Some(cause) = *rx.borrow_and_update() {
            return cause;
        }
        if rx.changed().await.is_err() {
            // Every sender is gone, which only happens while the process is exiting anyway.
            return StopCause::SupervisorGone;
        }
    }
}

/// SIGTERM (also what PDEATHSIG sends when the supervisor dies) and SIGINT stop the worker like
/// the `Shutdown` command.
pub fn spawn_signal_listener(stop: StopSender) -> Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!("received {name}");
        stop.stop(StopCause::Signal(name));
    });
    Ok(())
}
