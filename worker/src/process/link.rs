//! The worker's end of the supervisor socket.
//!
//! 1. Connect to the Unix socket and send `Hello` with the session id.
//! 2. Read `HelloReply`: `Welcome` goes on; `Refused`, an error or the end of the socket ends the
//!    worker with an error before anything is started.
//! 3. A reader task owns the read half (frame reads are not cancel-safe): `Shutdown` and the end
//!    of the socket become a stop ([`super::stop`]), every other command is queued for the
//!    session, which runs them one at a time.
//! 4. Events are written by the session through [`EventSink`]; a failed write means the
//!    supervisor is gone, which also stops the worker. An event too large for a frame is not a
//!    failed write: nothing of it reached the socket, so it is logged and dropped and the link
//!    goes on (incoming texts are cut to fit beforehand, see [`crate::whatsapp::incoming`]).

use std::path::Path;

use anyhow::{Context, Result, bail};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use wamux_proto::{
    FrameError, Hello, HelloReply, SupervisorCommand, WorkerEvent, read_frame, write_frame,
};

use super::stop::{StopCause, StopSender};

/// The session's way to report events; see step 4 above.
pub struct EventSink {
    writer: OwnedWriteHalf,
    stop: StopSender,
    broken: bool,
}

impl EventSink {
    pub async fn send(&mut self, event: WorkerEvent) {
        if self.broken {
            return;
        }
        debug!(?event, "event");
        match write_frame(&mut self.writer, &event).await {
            Ok(()) => {}
            // Refused before any byte was written: the link is intact, only this event is lost.
            Err(err @ (FrameError::TooLarge { .. } | FrameError::Encode(_))) => {
                warn!(event = event.name(), "event not sent: {err}");
            }
            Err(err) => {
                warn!("cannot write to the supervisor: {err}");
                self.broken = true;
                self.stop.stop(StopCause::SupervisorGone);
            }
        }
    }
}

/// Connects and shakes hands; returns the event sink and the queue of commands.
pub async fn connect(
    socket: &Path,
    session_id: &str,
    stop: StopSender,
) -> Result<(EventSink, mpsc::UnboundedReceiver<SupervisorCommand>)> {
    let stream = UnixStream::connect(socket)
        .await
        .with_context(|| format!("cannot connect to {}", socket.display()))?;
    let (mut reader, mut writer) = stream.into_split();
    write_frame(&mut writer, &Hello::new(session_id))
        .await
        .context("cannot send the handshake")?;
    match read_frame::<_, HelloReply>(&mut reader)
        .await
        .context("cannot read the handshake reply")?
    {
        Some(HelloReply::Welcome) => info!("connected to the supervisor"),
        Some(HelloReply::Refused { reason }) => {
            bail!("the supervisor refused this worker: {reason}")
        }
        None => bail!("the supervisor closed the socket during the handshake"),
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let reader_stop = stop.clone();
    tokio::spawn(async move {
        loop {
            match read_frame::<_, SupervisorCommand>(&mut reader).await {
                Ok(Some(SupervisorCommand::Shutdown)) => {
                    info!("shutdown requested by the supervisor");
                    reader_stop.stop(StopCause::ShutdownCommand);
                    return;
                }
                Ok(Some(command)) => {
                    if tx.send(command).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    info!("the supervisor closed the socket");
                    reader_stop.stop(StopCause::SupervisorGone);
                    return;
                }
                Err(err) => {
                    warn!("cannot read from the supervisor: {err}");
                    reader_stop.stop(StopCause::SupervisorGone);
                    return;
                }
            }
        }
    });
    let sink = EventSink {
        writer,
        stop,
        broken: false,
    };
    Ok((sink, rx))
}

#[cfg(test)]
mod tests {
    use tokio::net::UnixStream;
    use wamux_proto::MAX_FRAME_LEN;

    use super::*;
    use crate::process::stop;

    /// An event too large for a frame is dropped; the link goes on and the worker keeps running.
    #[tokio::test]
    async fn an_oversized_event_is_skipped_not_taken_for_a_gone_supervisor() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (_reader, writer) = ours.into_split();
        let (stop_tx, stop_rx) = stop::channel();
        let mut sink = EventSink {
            writer,
            stop: stop_tx,
            broken: false,
        };
        sink.send(WorkerEvent::Fatal {
            reason: "x".repeat(MAX_FRAME_LEN + 1),
        })
        .await;
        sink.send(WorkerEvent::Starting).await;

        assert_eq!(*stop_rx.borrow(), None, "no stop was asked for");
        let (mut reader, _writer) = theirs.into_split();
        let next: WorkerEvent = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(next, WorkerEvent::Starting);
    }

    /// A supervisor that closed its end is gone: the write fails and the worker stops.
    #[tokio::test]
    async fn a_closed_socket_stops_the_worker() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        let (_reader, writer) = ours.into_split();
        let (stop_tx, stop_rx) = stop::channel();
        let mut sink = EventSink {
            writer,
            stop: stop_tx,
            broken: false,
        };
        sink.send(WorkerEvent::Starting).await;
        assert_eq!(*stop_rx.borrow(), Some(StopCause::SupervisorGone));
    }
}
