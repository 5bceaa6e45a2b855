//! A message's status and direction, as stored and as the API shows them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Accepted and stored; waiting for its session to be WORKING and for its turn.
    Queued,
    /// Handed to a worker. It may have gone out if the worker died: the next worker checks the
    /// chat before sending it again.
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    /// Its time to live ran out before it was sent; it is never sent late.
    Expired,
    /// An incoming message, stored. The only status of the direction `in`: never pending, so
    /// the outbox never picks it, and pruned after the retention like a finished one.
    Received,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
        MessageStatus::Expired,
        MessageStatus::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
            MessageStatus::Expired => "expired",
            MessageStatus::Received => "received",
        }
    }

    pub fn parse(text: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still to be sent: the outbox holds it.
    pub fn is_pending(self) -> bool {
        matches!(self, MessageStatus::Queued | MessageStatus::Sending)
    }

    /// WhatsApp has it: sent, or later.
    pub fn went_out(self) -> bool {
        matches!(
            self,
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read
        )
    }

    /// How far along the acknowledgements a sent message is, so that a late `delivered` never
    /// undoes a `read`.
    pub fn ack_rank(self) -> u8 {
        match self {
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            _ => 0,
        }
    }
}

/// Whether wamux sent the message or received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Out,
    In,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }

    pub fn parse(text: &str) -> Option<Direction> {
        [Direction::Out, Direction::In]
            .into_iter()
            .find(|d| d.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageStatus::parse("SENT"), None);
        assert!(MessageStatus::Read.ack_rank() > MessageStatus::Delivered.ack_rank());
        assert!(!MessageStatus::Received.is_pending() && !MessageStatus::Received.went_out());
        for d in [Direction::Out, Direction::In] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Direction::parse("IN"), None);
    }
}
