//! Length-prefixed frames: a big-endian `u32` byte count, then that many bytes of postcard.
//!
//! The count is checked against [`MAX_FRAME_LEN`] before anything is allocated, so a corrupt or
//! hostile peer cannot make the other side reserve gigabytes. A message too large to send is
//! refused ([`FrameError::TooLarge`]) before any byte of it is written, so the stream stays
//! usable for the next one. A read distinguishes a clean end of
//! stream between frames (`Ok(None)`) from one inside a frame ([`FrameError::Truncated`]).

use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Large enough for any QR payload or error text, with room. A message text can be longer (a
/// WhatsApp message holds up to about 65k characters, 4 bytes each at worst): the worker cuts
/// it to fit rather than send a frame this would refuse.
pub const MAX_FRAME_LEN: usize = 256 * 1024;

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("the stream ended inside a frame")]
    Truncated,
    #[error("undecodable frame: {0}")]
    Decode(#[source] postcard::Error),
    #[error("unencodable message: {0}")]
    Encode(#[source] postcard::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes one frame and flushes it.
pub async fn write_frame<W, T>(writer: &mut W, message: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = postcard::to_stdvec(message).map_err(FrameError::Encode)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    writer.write_all(&buf).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame: `Ok(None)` on a clean end of stream before its first byte.
///
/// Not cancel-safe: use it from one task that owns the reader, not inside `select!` branches
/// that may be dropped mid-read.
pub async fn read_frame<R, T>(reader: &mut R) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < len_buf.len() {
        let n = reader.read(&mut len_buf[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len_buf) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(FrameError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Attempt, EnginePath, Engines, Hello, HelloReply, IncomingMedia, IncomingMessage, MediaKind,
        OutgoingMedia, SendError, SentMessage, StartStep, SupervisorCommand, WorkerEvent,
    };

    async fn encode<T: Serialize>(message: &T) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, message).await.unwrap();
        out
    }

    #[tokio::test]
    async fn every_message_round_trips() {
        let events = vec![
            WorkerEvent::Starting,
            WorkerEvent::BrowserStarted {
                chromedriver_pid: 10,
                browser_pid: Some(11),
            },
            WorkerEvent::Qr {
                payload: "2@abc,def,ghi,jkl".into(),
            },
            WorkerEvent::QrExpired,
            WorkerEvent::PairingCode {
                code: "ABCDEFGH".into(),
            },
            WorkerEvent::Ready {
                phone_number: "5215512345678".into(),
            },
            WorkerEvent::Conflict,
            WorkerEvent::LoggedOut,
            WorkerEvent::SendResult {
                request_id: 7,
                outcome: Ok(SentMessage {
                    message_id: "3EB0ABC".into(),
                }),
            },
            WorkerEvent::SendResult {
                request_id: 8,
                outcome: Err(SendError::Failed("ünïcode ✓".into())),
            },
            WorkerEvent::Incoming(Box::new(IncomingMessage {
                message_id: "X".into(),
                chat_id: "1@c.us".into(),
                sender: "[10:00, 1/2/2026] Ana: ".into(),
                text: "hola".into(),
                kind: "chat".into(),
                ..IncomingMessage::default()
            })),
            WorkerEvent::Incoming(Box::new(IncomingMessage {
                message_id: "Y".into(),
                chat_id: "1@c.us".into(),
                sender: "[10:00, 1/2/2026] Ana: ".into(),
                text: "cut…".into(),
                original_len: Some(300_000),
                name: Some("Ana".into()),
                author: Some("5215512345678@c.us".into()),
                kind: "image".into(),
                timestamp: Some(1_767_225_600),
                media: Some(IncomingMedia {
                    mimetype: Some("image/jpeg".into()),
                    path: Some("/data/sessions/s/media/Y".into()),
                    size: Some(12),
                    sha256: Some("ab".repeat(32)),
                    ..IncomingMedia::default()
                }),
            })),
            WorkerEvent::PairingCodeFailed {
                reason: "no code".into(),
            },
            WorkerEvent::SendAttempt {
                request_id: 9,
                attempt: Attempt {
                    seen: vec!["A".into()],
                    planned: Some("3EB0PLANNED".into()),
                },
            },
            WorkerEvent::StartStep(StartStep::FirstScreen),
            WorkerEvent::Engine(Engines {
                send: EnginePath::Modules,
                ..Engines::DOM
            }),
            WorkerEvent::Fatal {
                reason: "boom".into(),
            },
        ];
        let mut stream = Vec::new();
        for event in &events {
            stream.extend(encode(event).await);
        }
        let mut reader = stream.as_slice();
        for event in &events {
            let got: WorkerEvent = read_frame(&mut reader).await.unwrap().unwrap();
            assert_eq!(&got, event);
        }
        assert!(
            read_frame::<_, WorkerEvent>(&mut reader)
                .await
                .unwrap()
                .is_none()
        );

        for command in [
            SupervisorCommand::SendText {
                request_id: 1,
                phone_number: "123".into(),
                text: "hi".into(),
                resume: Some(Attempt {
                    seen: vec!["A".into()],
                    planned: None,
                }),
            },
            SupervisorCommand::SendMedia {
                request_id: 2,
                phone_number: "123".into(),
                caption: "look".into(),
                media: OutgoingMedia {
                    path: "/data/media/ab".into(),
                    filename: "a.pdf".into(),
                    mimetype: "application/pdf".into(),
                    kind: MediaKind::of("application/pdf"),
                    size: 3,
                    sha256: "ab".repeat(32),
                },
                resume: None,
            },
            SupervisorCommand::AttemptRecorded { request_id: 1 },
            SupervisorCommand::IncomingStored {
                message_id: "B".into(),
            },
            SupervisorCommand::RequestPairingCode {
                phone_number: "123".into(),
            },
            SupervisorCommand::Shutdown,
        ] {
            let bytes = encode(&command).await;
            let got: SupervisorCommand = read_frame(&mut bytes.as_slice()).await.unwrap().unwrap();
            assert_eq!(got, command);
        }
        let hello = Hello::new("s1");
        let got: Hello = read_frame(&mut encode(&hello).await.as_slice())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, hello);
        let reply = HelloReply::Refused {
            reason: "no".into(),
        };
        let got: HelloReply = read_frame(&mut encode(&reply).await.as_slice())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, reply);
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_both_ways() {
        let huge = WorkerEvent::Fatal {
            reason: "x".repeat(MAX_FRAME_LEN + 1),
        };
        let mut out = Vec::new();
        assert!(matches!(
            write_frame(&mut out, &huge).await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(out.is_empty(), "nothing is written for a refused frame");

        let header = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let err = read_frame::<_, WorkerEvent>(&mut header.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len, .. } if len == MAX_FRAME_LEN + 1));
    }

    /// A sender that gets `TooLarge` may go on using the stream: the refused frame left no byte
    /// in it, so the next frame is read as if the refused one had never been tried.
    #[tokio::test]
    async fn a_refused_frame_leaves_the_stream_usable() {
        let mut out = Vec::new();
        let long = WorkerEvent::Incoming(Box::new(IncomingMessage {
            message_id: "3EB0".into(),
            chat_id: "1@c.us".into(),
            sender: "[10:00, 1/2/2026] Ana: ".into(),
            text: "\u{1F600}".repeat(MAX_FRAME_LEN / 4 + 1),
            ..IncomingMessage::default()
        }));
        let err = write_frame(&mut out, &long).await.unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len, max } if len > max && max == MAX_FRAME_LEN),
            "{err}"
        );
        assert!(out.is_empty(), "nothing is written for a refused frame");
        write_frame(&mut out, &WorkerEvent::Starting).await.unwrap();
        let mut reader = out.as_slice();
        let next: WorkerEvent = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(next, WorkerEvent::Starting);
        assert!(
            read_frame::<_, WorkerEvent>(&mut reader)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_end_inside_a_frame_is_not_a_clean_end() {
        let bytes = encode(&WorkerEvent::Qr {
            payload: "2@payload".into(),
        })
        .await;
        for cut in 1..bytes.len() {
            let err = read_frame::<_, WorkerEvent>(&mut &bytes[..cut])
                .await
                .unwrap_err();
            assert!(matches!(err, FrameError::Truncated), "cut at {cut}: {err}");
        }
        assert!(
            read_frame::<_, WorkerEvent>(&mut &[][..])
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn garbage_is_a_decode_error() {
        let mut bytes = 3u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0xff, 0xff, 0xff]);
        let err = read_frame::<_, WorkerEvent>(&mut bytes.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)), "{err}");
    }

    #[test]
    fn handshake_refuses_other_versions_and_sessions() {
        let mut hello = Hello::new("a");
        assert!(hello.check("a").is_ok());
        assert!(matches!(
            hello.check("b"),
            Err(crate::HandshakeError::WrongSession { .. })
        ));
        hello.protocol_version += 1;
        assert!(matches!(
            hello.check("a"),
            Err(crate::HandshakeError::VersionMismatch { .. })
        ));
    }
}
