//! What happens to sessions, as a stream for `/api/events`, the dashboard and `wamux events`.
//!
//! A broadcast channel: publishing never waits on a slow reader; a reader that falls more than
//! [`CAPACITY`] events behind is told how many it missed and goes on from the newest.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::messaging::status::MessageStatus;
use crate::sessions::session::{FailureBody, Status, now_ms};

const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EventKind {
    #[serde(rename_all = "camelCase")]
    Created,
    #[serde(rename_all = "camelCase")]
    Deleted,
    #[serde(rename_all = "camelCase")]
    Status {
        status: Status,
        last_error: Option<String>,
    },
    /// A new QR code is on show (fetch it from `/api/sessions/{id}/qr`).
    Qr,
    #[serde(rename_all = "camelCase")]
    Ready { phone_number: String },
    /// A message was accepted into the outbox (`id` is wamux's id for it).
    #[serde(rename_all = "camelCase")]
    MessageQueued { id: String, phone_number: String },
    #[serde(rename_all = "camelCase")]
    MessageSent {
        id: String,
        message_id: String,
        phone_number: String,
    },
    /// A message ended unsent: `failed` or `expired`, with the error's code and message.
    #[serde(rename_all = "camelCase")]
    MessageFailed {
        id: String,
        phone_number: String,
        status: MessageStatus,
        error: FailureBody,
    },
    /// WhatsApp shows a later status of a sent message: `delivered` or `read`.
    #[serde(rename_all = "camelCase")]
    MessageAck {
        id: String,
        message_id: String,
        status: MessageStatus,
    },
    /// A number of the Laravel application now points at this session.
    #[serde(rename_all = "camelCase")]
    Assignment {
        assignment_type: String,
        phone_number: String,
        reason: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    MessageReceived {
        message_id: String,
        chat_id: String,
        sender: String,
        text: String,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub session_id: String,
    pub at: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The SSE event name: the `type` field.
    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::Created => "created",
            EventKind::Deleted => "deleted",
            EventKind::Status { .. } => "status",
            EventKind::Qr => "qr",
            EventKind::Ready { .. } => "ready",
            EventKind::MessageQueued { .. } => "messageQueued",
            EventKind::MessageSent { .. } => "messageSent",
            EventKind::MessageAck { .. } => "messageAck",
            EventKind::MessageFailed { .. } => "messageFailed",
            EventKind::MessageReceived { .. } => "messageReceived",
            EventKind::Assignment { .. } => "assignment",
        }
    }
}

/// Cheap to clone: every clone publishes to the same readers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, session_id: &str, kind: EventKind) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(Event {
            session_id: session_id.to_owned(),
            at: now_ms(),
            kind,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_their_type() {
        let bus = EventBus::default();
        let mut rx = bus.subscribe();
        bus.publish(
            "s1",
            EventKind::Status {
                status: Status::Working,
                last_error: None,
            },
        );
        let event = rx.try_recv().unwrap();
        assert_eq!(event.name(), "status");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "status");
        assert_eq!(json["sessionId"], "s1");
        assert_eq!(json["status"], "WORKING");
        assert!(json["at"].as_i64().unwrap() > 0);
        let ready = serde_json::to_value(Event {
            session_id: "s".into(),
            at: 1,
            kind: EventKind::Ready {
                phone_number: "1".into(),
            },
        })
        .unwrap();
        assert_eq!(ready["phoneNumber"], "1");
        assert_eq!(ready["type"], "ready");
    }
}
