//! What happens to sessions, as a stream for `/api/events`, the dashboard, `wamux events` and
//! the webhooks.
//!
//! Each event is first appended to the store's event log, which gives it its id and makes the
//! webhook deliveries it needs, in one transaction; then it is broadcast, in the order of the
//! ids. The broadcast never waits on a slow reader; a reader that falls more than [`CAPACITY`]
//! events behind is told how many it missed and goes on from the newest (and can catch up from
//! the log, by id).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Notify, broadcast};

use crate::store::StoredEvent;

/// How many ids of events logged here are remembered for the feed to skip.
const LOGGED_HERE_KEPT: usize = 10_000;

use crate::messaging::inbox::ReceivedMedia;
use crate::messaging::status::MessageStatus;
use crate::messaging::webhooks::webhook_type;
use crate::sessions::pairing::PairingCode;
use crate::sessions::session::{FailureBody, Status, now_ms};
use crate::store::{NewEvent, Store};

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
        /// The linked number, once known.
        phone_number: Option<String>,
    },
    /// A new QR code is on show, with its payload (as `/api/sessions/{id}/qr?format=raw`).
    Qr { payload: String },
    /// A new pairing code is on show: asked for, or replacing an expired one.
    PairingCode(PairingCode),
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
    /// A message arrived. `sender` is what the DOM shows (`[HH:MM, D/M/YYYY] Name: `), empty
    /// when read through the page's modules; `name` is the sender's name either way.
    /// `messageType` is WhatsApp's type (`chat`, `image`, ...): `type` names the event. A media
    /// message also has its `caption` (its `text`), `mimetype`, `filename`, the `mediaUrl` its
    /// file is served at when its bytes are kept, or `mediaMissing`, why they are not; all are
    /// null for a text.
    #[serde(rename_all = "camelCase")]
    MessageReceived {
        message_id: String,
        chat_id: String,
        sender: String,
        name: Option<String>,
        /// In a group, who sent it (`DIGITS@c.us` or `ID@lid`).
        author: Option<String>,
        message_type: String,
        /// When it was sent, Unix seconds, when WhatsApp tells.
        timestamp: Option<i64>,
        text: String,
        /// Boxed: a text's event should not be as large as a file's.
        #[serde(flatten)]
        media: Box<ReceivedMedia>,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The event log's id: `/api/events` sends it as the SSE `id`, not in the data.
    #[serde(skip)]
    pub id: i64,
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
            EventKind::Qr { .. } => "qr",
            EventKind::PairingCode(_) => "pairingCode",
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

/// Cheap to clone: every clone publishes to the same log and readers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    /// Events other nodes logged, as logged (`cluster::feed`).
    remote: broadcast::Sender<StoredEvent>,
    /// The ids of the events this node logged lately, which the feed leaves out.
    logged_here: Arc<std::sync::Mutex<std::collections::BTreeSet<i64>>>,
    store: Arc<Store>,
    /// Told when an event made webhook deliveries.
    deliveries: Arc<Notify>,
}

impl EventBus {
    pub fn new(store: Arc<Store>) -> Self {
        EventBus {
            tx: broadcast::channel(CAPACITY).0,
            remote: broadcast::channel(CAPACITY).0,
            logged_here: Default::default(),
            store,
            deliveries: Arc::new(Notify::new()),
        }
    }

    /// What the webhook delivery task waits on.
    pub fn deliveries(&self) -> Arc<Notify> {
        self.deliveries.clone()
    }

    /// Appends the event to the log, then broadcasts it. Should the store fail, the event is
    /// still broadcast, without an id, and the webhooks miss it.
    pub fn publish(&self, session_id: &str, kind: EventKind) {
        let event = Event {
            id: 0,
            session_id: session_id.to_owned(),
            at: now_ms(),
            kind,
        };
        let new = NewEvent {
            session_id: event.session_id.clone(),
            kind: event.name(),
            webhook_type: webhook_type(event.name()),
            at: event.at,
            data: serde_json::to_string(&event).unwrap_or_else(|_| "{}".into()),
        };
        let (tx, deliveries) = (self.tx.clone(), self.deliveries.clone());
        let logged = event.clone();
        let here = self.logged_here.clone();
        let appended = self.store.append_event(new, move |id, made| {
            let mut here = here.lock().unwrap_or_else(|e| e.into_inner());
            here.insert(id);
            while here.len() > LOGGED_HERE_KEPT {
                here.pop_first();
            }
            drop(here);
            // No subscriber is not an error: nobody is watching.
            let _ = tx.send(Event { id, ..logged });
            if made > 0 {
                deliveries.notify_one();
            }
        });
        if let Err(e) = appended {
            tracing::error!(error = %e, event = event.name(), "could not record an event");
            let _ = self.tx.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The events other nodes log, as the feed finds them.
    pub fn subscribe_remote(&self) -> broadcast::Receiver<StoredEvent> {
        self.remote.subscribe()
    }

    /// Hands on an event from the log unless this node logged it; answers whether it was
    /// another node's. Webhook deliveries it made are looked at again.
    pub fn from_log(&self, event: StoredEvent) -> bool {
        if self
            .logged_here
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&event.id)
        {
            return false;
        }
        let _ = self.remote.send(event);
        self.deliveries.notify_one();
        true
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_with_their_type() {
        let bus = EventBus::new(Arc::new(Store::open_in_memory().unwrap()));
        let mut rx = bus.subscribe();
        bus.publish(
            "s1",
            EventKind::Status {
                status: Status::Working,
                last_error: None,
                phone_number: Some("5215512345678".into()),
            },
        );
        bus.publish("s1", EventKind::Created);
        let event = rx.try_recv().unwrap();
        assert_eq!(event.name(), "status");
        assert_eq!((event.id, rx.try_recv().unwrap().id), (1, 2));
        let logged = bus.store().events_after(0, None, 10).unwrap();
        assert_eq!(logged.len(), 2);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&logged[0].data).unwrap()["phoneNumber"],
            "5215512345678"
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "status");
        assert_eq!(json["sessionId"], "s1");
        assert_eq!(json["status"], "WORKING");
        assert!(json["at"].as_i64().unwrap() > 0);
        assert!(
            json.get("id").is_none(),
            "the id is the SSE id, not a field"
        );
        let ready = serde_json::to_value(Event {
            id: 3,
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
