//! The worker's end of the supervisor socket.
//!
//! 1. Connect to the Unix socket and send `Hello` with the session id.
//! 2. Read `HelloReply`: `Welcome` goes on; `Refused`, an error or the end of the socket ends the
//!    worker with an error before anything is started.
//! 3. A reader task owns the read half (frame reads are not cancel-safe): `Shutdown` and the end
//!    of the socket become a stop ([`crate::stop`]), every other command is queued for the
//!    session, which runs them one at a time.
//! 4. Events are written by the session through [`EventSink`]; a failed write means the
//!    supervisor is gone, which also stops the worker.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use wamux_proto::{Hello, HelloReply, SupervisorCommand, WorkerEvent, read_frame, write_frame};

use crate::stop::{StopCause, StopSender};

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
        if let Err(err) = write_frame(&mut self.writer, &event).await {
            warn!("cannot write to the supervisor: {err}");
            self.broken = true;
            self.stop.stop(StopCause::SupervisorGone);
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
