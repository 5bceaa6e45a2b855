//! The inbox service: every message that arrives for a session is stored once, durably, and
//! told of once.
//!
//! 1. The worker reports a message it read (`Incoming`), and again until it is answered.
//! 2. [`Inbox::receive`] takes apart what the page showed (the sender's number and name, the
//!    time shown) and stores the message, idempotent on the session and WhatsApp id.
//! 3. Once stored, now or before, the session driver answers `IncomingStored`, so the worker
//!    stops reporting it; only a newly stored message is published as `MessageReceived`.
//!
//! Stored messages are listed with the outbox's (`GET .../messages?direction=in`) and pruned
//! with them after the retention.

use wamux_proto::IncomingMessage;

use crate::sessions::events::{EventBus, EventKind};
use crate::sessions::session::now_ms;
use crate::store::{NewIncoming, Store, StoreError, StoredMessage};

/// Over the store and the event bus it is given; cheap to make where they are at hand.
pub struct Inbox<'a> {
    store: &'a Store,
    events: &'a EventBus,
}

impl<'a> Inbox<'a> {
    pub fn new(store: &'a Store, events: &'a EventBus) -> Self {
        Inbox { store, events }
    }

    /// Stores a message the worker reported; `Some` when it is new, `None` when it was stored
    /// already. Either way it is stored when this returns `Ok`.
    pub fn receive(
        &self,
        session_id: &str,
        message: IncomingMessage,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let shown = Shown::parse(&message.sender);
        let sender_number = sender_number(&message.chat_id, shown.name.as_deref());
        let stored = self.store.insert_incoming(NewIncoming {
            session_id: session_id.to_owned(),
            wa_id: message.message_id.clone(),
            chat_id: message.chat_id.clone(),
            sender_number,
            sender_name: shown.name,
            text: message.text.clone(),
            shown_at: shown.at,
            received_at: now_ms(),
        })?;
        if stored.is_some() {
            self.events.publish(
                session_id,
                EventKind::MessageReceived {
                    message_id: message.message_id,
                    chat_id: message.chat_id,
                    sender: message.sender,
                    text: message.text,
                },
            );
        }
        Ok(stored)
    }
}

/// What the page's `data-pre-plain-text` shows: `[HH:MM, D/M/YYYY] Name: `.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    /// The time as shown, `HH:MM, D/M/YYYY` (its order of day and month is the phone's).
    at: Option<String>,
    name: Option<String>,
}

impl Shown {
    fn parse(pre: &str) -> Shown {
        let pre = pre.trim();
        let (at, rest) = match pre.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((at, rest)) => (Some(at.trim()), rest.trim()),
            None => (None, pre),
        };
        let name = rest.strip_suffix(':').unwrap_or(rest).trim();
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Shown {
            at: at.and_then(some),
            name: some(name),
        }
    }
}

/// The sender's number: a person's chat (`DIGITS@c.us`) is named by it; in a group or a chat by
/// `@lid`, the page shows it only as the name of a sender who is not a contact.
fn sender_number(chat_id: &str, name: Option<&str>) -> Option<String> {
    let digits = |s: &str| {
        let d: String = s.chars().filter(char::is_ascii_digit).collect();
        (8..=15).contains(&d.len()).then_some(d)
    };
    if let Some(user) = chat_id.strip_suffix("@c.us")
        && !user.is_empty()
        && user.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(user.to_owned());
    }
    let name = name?;
    if name
        .chars()
        .all(|c| c.is_ascii_digit() || "+ -()".contains(c))
    {
        return digits(name);
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::messaging::status::{Direction, MessageStatus};

    #[test]
    fn the_time_and_name_are_taken_from_what_the_page_shows() {
        assert_eq!(
            Shown::parse("[10:05, 3/2/2026] Ana María: "),
            Shown {
                at: Some("10:05, 3/2/2026".into()),
                name: Some("Ana María".into())
            }
        );
        assert_eq!(
            Shown::parse("[10:05, 3/2/2026] Re: sí: "),
            Shown {
                at: Some("10:05, 3/2/2026".into()),
                name: Some("Re: sí".into())
            },
            "only the colon at the end ends the name"
        );
        assert_eq!(
            Shown::parse(""),
            Shown {
                at: None,
                name: None
            }
        );
        assert_eq!(
            Shown::parse("Ana:"),
            Shown {
                at: None,
                name: Some("Ana".into())
            }
        );
    }

    #[test]
    fn the_number_comes_from_a_person_chat_or_a_name_that_is_one() {
        assert_eq!(
            sender_number("5215550002222@c.us", Some("Ana")).as_deref(),
            Some("5215550002222")
        );
        assert_eq!(sender_number("1203630@g.us", Some("Ana")), None);
        assert_eq!(
            sender_number("1203630@g.us", Some("+52 1 55 5000 2222")).as_deref(),
            Some("5215550002222")
        );
        assert_eq!(sender_number("99887766@lid", None), None);
        assert_eq!(
            sender_number("99887766@lid", Some("+1 (555) 010-0199")).as_deref(),
            Some("15550100199")
        );
        assert_eq!(
            sender_number("1203630@g.us", Some("123")),
            None,
            "too short"
        );
    }

    #[tokio::test]
    async fn a_message_is_stored_and_told_of_once() {
        let store = Arc::new(Store::open_in_memory().unwrap());
        let events = EventBus::new(store.clone());
        let mut live = events.subscribe();
        let inbox = Inbox::new(&store, &events);
        let message = IncomingMessage {
            message_id: "WA1".into(),
            chat_id: "5215550002222@c.us".into(),
            sender: "[10:05, 3/2/2026] Ana: ".into(),
            text: "hola".into(),
            original_len: None,
        };
        let stored = inbox.receive("s", message.clone()).unwrap().expect("new");
        assert_eq!(stored.direction, Direction::In);
        assert_eq!(stored.status, MessageStatus::Received);
        assert_eq!(stored.sender_number.as_deref(), Some("5215550002222"));
        assert_eq!(stored.sender_name.as_deref(), Some("Ana"));
        assert_eq!(stored.shown_at.as_deref(), Some("10:05, 3/2/2026"));
        assert_eq!(inbox.receive("s", message).unwrap(), None, "reported again");

        let event = live.try_recv().expect("one event");
        assert!(
            matches!(&event.kind, EventKind::MessageReceived { message_id, .. } if message_id == "WA1"),
            "{event:?}"
        );
        assert!(live.try_recv().is_err(), "and only one");
    }
}
