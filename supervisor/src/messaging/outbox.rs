//! The outbox service: the one way into and through the stored messages, for the API (accept,
//! wait, ask) and for each session's driver (next, dispatching, attempt, settle, ack).
//!
//! A message's steps:
//! 1. `accept` (a text) or `accept_media` (a file, staged first: `messaging::media`): stored
//!    `queued`, durably, before the request is answered (or found again under its
//!    `Idempotency-Key`); a `messageQueued` event.
//! 2. `next` + `dispatching`: when its session is WORKING and it is the oldest pending message,
//!    it is marked `sending` (one more attempt) before the worker is told.
//! 3. `attempt`: what identifies the message (the id it is sent under, or the worker's snapshot
//!    of the chat) is stored before it may go out, so that after a crash the next worker,
//!    handed it back as `resume` ([`send_command`]), can tell whether it went out.
//! 4. `settle`: `sent` with WhatsApp's id, `failed`, or back in line for another attempt; `ack`
//!    records `delivered` and `read` later.
//!
//! A message past its time to live while pending is `expired` and never sent; finished
//! messages are pruned after the retention, with the files no other message uses. Every change
//! is an event with the message's id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::oneshot;
use wamux_proto::{Attempt, MediaKind, OutgoingMedia, SupervisorCommand};

use crate::daemon::metrics::Metrics;
use crate::messaging::media::{MediaConfig, MediaFiles};
use crate::messaging::policy::{self, IDEMPOTENCY_WINDOW, Interval, Verdict};
use crate::messaging::status::MessageStatus;
use crate::sessions::events::{EventBus, EventKind};
use crate::sessions::session::{FailureBody, SendFailure, now_ms};
use crate::store::{
    Inserted, MessageQuery, NewMedia, NewMessage, Page, QueueStats, Store, StoreError,
    StoredMessage,
};

/// The outbox's settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How long a send request waits for the message to go out before answering 202.
    pub send_wait: Duration,
    /// A message's default time to live.
    pub ttl: Duration,
    /// Finished messages are kept this long.
    pub retention: Duration,
    pub interval: Option<Interval>,
    /// `--max-media-size`, `--allow-private-media-urls`.
    pub media: MediaConfig,
}

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to send a text.
#[derive(Debug, Clone)]
pub struct Request {
    pub session_id: String,
    pub to: String,
    pub text: String,
    pub ttl: Option<Duration>,
    pub idempotency_key: Option<String>,
}

/// A request to send a file, staged already, with `caption` (may be empty).
#[derive(Debug, Clone)]
pub struct MediaRequest {
    pub session_id: String,
    pub to: String,
    pub caption: String,
    pub media: NewMedia,
    pub ttl: Option<Duration>,
    pub idempotency_key: Option<String>,
    /// The request's canonical form (`media::request_body`).
    pub request_body: String,
}

pub struct Outbox {
    store: Arc<Store>,
    events: EventBus,
    metrics: Arc<Metrics>,
    config: OutboxConfig,
    /// Requests waiting for a message to be done with (sent, failed or expired).
    waiters: Mutex<HashMap<i64, Vec<oneshot::Sender<()>>>>,
}

/// Done with: nothing will change it but acknowledgements.
fn settled(status: MessageStatus) -> bool {
    !status.is_pending()
}

/// Since when an idempotency key stored at `now` still names its message.
fn key_since(now: i64) -> i64 {
    now - IDEMPOTENCY_WINDOW.as_millis() as i64
}

/// The message a reused idempotency key names, when the request is the same one again.
fn same_request(found: StoredMessage, body: &str) -> Result<StoredMessage, OutboxError> {
    if found.request_body.as_deref() == Some(body) {
        Ok(found)
    } else {
        Err(OutboxError::KeyReused)
    }
}

impl Outbox {
    pub fn new(
        store: Arc<Store>,
        events: EventBus,
        metrics: Arc<Metrics>,
        config: OutboxConfig,
    ) -> Outbox {
        Outbox {
            store,
            events,
            metrics,
            config,
            waiters: Mutex::default(),
        }
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Stores a message; `false` with the first request's message when its idempotency key was
    /// used already (then nothing is stored).
    pub fn accept(&self, request: Request) -> Result<(StoredMessage, bool), OutboxError> {
        let ttl = request.ttl.unwrap_or(self.config.ttl);
        let body = policy::request_body(&request.to, &request.text, ttl);
        let message = self.new_message(
            request.session_id,
            request.to,
            request.text,
            ttl,
            request.idempotency_key,
            body.clone(),
        );
        self.store_new(message, None, &body)
    }

    /// Stores a media message with its staged file, as [`Outbox::accept`] a text; the staged
    /// file is placed in `media/` or, for a request answered by an earlier message, dropped.
    pub fn accept_media(
        &self,
        request: MediaRequest,
    ) -> Result<(StoredMessage, bool), OutboxError> {
        let ttl = request.ttl.unwrap_or(self.config.ttl);
        let message = self.new_message(
            request.session_id,
            request.to,
            request.caption,
            ttl,
            request.idempotency_key,
            request.request_body.clone(),
        );
        self.store_new(message, Some(request.media), &request.request_body)
    }

    /// The message stored under `key` within the idempotency window, when `body` is what it
    /// was stored for: what a retry answers without fetching or storing anything again.
    pub fn find_by_key(
        &self,
        session_id: &str,
        key: &str,
        body: &str,
    ) -> Result<Option<StoredMessage>, OutboxError> {
        self.store
            .message_by_key(session_id, key, key_since(now_ms()))?
            .map(|found| same_request(found, body))
            .transpose()
    }

    /// Where media files are kept; `None` for a store in memory, which keeps none.
    pub fn media_files(&self) -> Option<MediaFiles> {
        self.store.media_files()
    }

    fn new_message(
        &self,
        session_id: String,
        to: String,
        text: String,
        ttl: Duration,
        idempotency_key: Option<String>,
        body: String,
    ) -> NewMessage {
        let now = now_ms();
        NewMessage {
            session_id,
            to,
            text,
            created_at: now,
            expires_at: now.saturating_add(ttl.as_millis() as i64),
            request_body: idempotency_key.is_some().then_some(body),
            idempotency_key,
        }
    }

    /// Stores `message` (with its file), or finds the one its idempotency key names; `body` is
    /// the request it answers, which a reused key must repeat.
    fn store_new(
        &self,
        message: NewMessage,
        media: Option<NewMedia>,
        body: &str,
    ) -> Result<(StoredMessage, bool), OutboxError> {
        let since = key_since(message.created_at);
        let inserted = match media {
            None => self.store.insert_message(message, since)?,
            Some(media) => self.store.insert_media_message(message, media, since)?,
        };
        match inserted {
            Inserted::New(message) => {
                tracing::info!(
                    session = %message.session_id,
                    message = message.id,
                    kind = %message.kind,
                    "message queued"
                );
                self.events.publish(
                    &message.session_id,
                    EventKind::MessageQueued {
                        id: message.id.to_string(),
                        phone_number: message.to.clone(),
                    },
                );
                Ok((message, true))
            }
            Inserted::Existing(message) => Ok((same_request(message, body)?, false)),
        }
    }

    /// Waits up to `limit` for message `id` to be done with; returns it as it is then.
    pub async fn wait(
        &self,
        id: i64,
        limit: Duration,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(id).or_default().push(tx);
        // Registered first, then read: a change in between still wakes this wait.
        let now = self.store.message_by_id(id)?;
        if now.as_ref().is_none_or(|m| settled(m.status)) || limit.is_zero() {
            return Ok(now);
        }
        let _ = tokio::time::timeout(limit, rx).await;
        self.store.message_by_id(id)
    }

    pub fn get(&self, session_id: &str, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.store.message(session_id, id)
    }

    /// A session's messages, of both directions unless `query` says which.
    pub fn list(&self, session_id: &str, query: MessageQuery) -> Result<Page, StoreError> {
        self.store.messages(session_id, query)
    }

    pub fn queues(&self) -> Result<Vec<QueueStats>, StoreError> {
        self.store.queues()
    }

    /// The session's next message to send; those whose time ran out are expired on the way.
    pub fn next(&self, session_id: &str) -> Result<Option<StoredMessage>, StoreError> {
        loop {
            let Some(message) = self.store.next_pending(session_id)? else {
                return Ok(None);
            };
            if message.expires_at > now_ms() {
                return Ok(Some(message));
            }
            self.expire(message.id)?;
        }
    }

    /// Marks the message `sending` before its worker is told; `None` if it is no longer pending.
    pub fn dispatching(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.store.mark_sending(id)
    }

    /// Stores what identifies the attempt about to go out.
    pub fn attempt(&self, id: i64, attempt: &Attempt) -> Result<(), StoreError> {
        self.store.record_send_attempt(id, attempt)
    }

    /// The worker's answer for message `id`; returns how long to wait before the next attempt
    /// when there will be one.
    pub fn settle(
        &self,
        id: i64,
        outcome: Result<String, SendFailure>,
        took: Duration,
    ) -> Result<Option<Duration>, StoreError> {
        let Some(message) = self.store.message_by_id(id)? else {
            return Ok(None);
        };
        let verdict = policy::verdict(outcome, message.attempts);
        let (changed, retry) = match verdict {
            Verdict::Sent(wa_id) => {
                self.metrics.record_send(true, took);
                (self.store.mark_sent(id, &wa_id, now_ms())?, None)
            }
            Verdict::Failed { code, message } => {
                self.metrics.record_send(false, took);
                (
                    self.store
                        .mark_ended(id, MessageStatus::Failed, &code, &message)?,
                    None,
                )
            }
            Verdict::Retry {
                code,
                message,
                after,
            } => {
                tracing::warn!(message = id, %code, reason = %message, ?after, "message not sent; trying again");
                (self.store.retry_later(id, &code, &message)?, Some(after))
            }
        };
        if let Some(changed) = changed {
            self.changed(&changed);
        }
        Ok(retry)
    }

    /// The page shows a later status of a message it sent.
    pub fn ack(
        &self,
        session_id: &str,
        wa_id: &str,
        ack: wamux_proto::Ack,
    ) -> Result<(), StoreError> {
        let status = match ack {
            wamux_proto::Ack::Delivered => MessageStatus::Delivered,
            wamux_proto::Ack::Read => MessageStatus::Read,
        };
        if let Some(message) = self.store.record_ack(session_id, wa_id, status)? {
            self.changed(&message);
        }
        Ok(())
    }

    /// Expires every pending message whose time ran out, prunes finished ones past the
    /// retention, and removes media files no message came to own (staged, kept or a
    /// worker's: `messaging::media`). Run periodically, so that a stopped session's messages
    /// expire on time.
    pub fn housekeeping(&self) -> Result<(), StoreError> {
        for id in self.store.due_to_expire(now_ms())? {
            self.expire(id)?;
        }
        let pruned = self
            .store
            .prune_messages(now_ms() - self.config.retention.as_millis() as i64)?;
        if pruned > 0 {
            tracing::info!(pruned, "pruned finished messages past the retention");
        }
        if let Some(files) = self.store.media_files() {
            files.sweep_staged();
        }
        self.store.sweep_media()
    }

    pub fn forget_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.store.delete_messages_of(session_id)
    }

    fn expire(&self, id: i64) -> Result<(), StoreError> {
        if let Some(message) = self.store.mark_ended(
            id,
            MessageStatus::Expired,
            "message_expired",
            "its time to live ran out before it could be sent",
        )? {
            tracing::warn!(session = %message.session_id, message = id, "message expired unsent");
            self.changed(&message);
        }
        Ok(())
    }

    /// Publishes a message's new status and wakes whoever waits for it.
    fn changed(&self, message: &StoredMessage) {
        let id = message.id.to_string();
        let kind = match message.status {
            MessageStatus::Sent => EventKind::MessageSent {
                id,
                message_id: message.wa_id.clone().unwrap_or_default(),
                phone_number: message.to.clone(),
            },
            MessageStatus::Delivered | MessageStatus::Read => EventKind::MessageAck {
                id,
                message_id: message.wa_id.clone().unwrap_or_default(),
                status: message.status,
            },
            MessageStatus::Failed | MessageStatus::Expired => EventKind::MessageFailed {
                id,
                phone_number: message.to.clone(),
                status: message.status,
                error: FailureBody {
                    code: message.error_code.clone().unwrap_or_default(),
                    message: message.error_message.clone().unwrap_or_default(),
                },
            },
            // An incoming message is the inbox's, which tells of it itself.
            MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Received => return,
        };
        self.events.publish(&message.session_id, kind);
        if settled(message.status)
            && let Some(waiters) = self.lock().remove(&message.id)
        {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<oneshot::Sender<()>>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The command that hands a pending message to the worker: a text, or a file with its caption.
/// The attempt an earlier worker recorded goes back whole as `resume`: the planned id to look
/// the message up by (or to send it again under), or the rows the chat showed before it.
pub fn send_command(message: StoredMessage) -> SupervisorCommand {
    let request_id = message.id as u64;
    let Some(media) = message.media else {
        return SupervisorCommand::SendText {
            request_id,
            phone_number: message.to,
            text: message.text,
            resume: message.attempt,
        };
    };
    // An outgoing file is always kept (it is placed before its message is stored), so every
    // field is there; the defaults only keep this total.
    let mimetype = media.mimetype.unwrap_or_default();
    SupervisorCommand::SendMedia {
        request_id,
        phone_number: message.to,
        caption: message.text,
        media: OutgoingMedia {
            path: media
                .path
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            filename: media
                .filename
                .unwrap_or_else(|| crate::messaging::media::default_filename(&mimetype)),
            kind: MediaKind::of(&mimetype),
            size: media.size.unwrap_or_default(),
            sha256: media.sha256.unwrap_or_default(),
            mimetype,
        },
        resume: message.attempt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(store: &Store) -> StoredMessage {
        let inserted = store
            .insert_message(
                NewMessage {
                    session_id: "s".into(),
                    to: "5215512345678".into(),
                    text: "hola".into(),
                    created_at: 10,
                    expires_at: i64::MAX,
                    idempotency_key: None,
                    request_body: None,
                },
                0,
            )
            .unwrap();
        let Inserted::New(message) = inserted else {
            panic!("a new message");
        };
        store.mark_sending(message.id).unwrap().unwrap()
    }

    fn resume(command: SupervisorCommand) -> Option<Attempt> {
        match command {
            SupervisorCommand::SendText { resume, .. } => resume,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_first_send_resumes_nothing() {
        let store = Store::open_in_memory().unwrap();
        let message = pending(&store);
        let command = send_command(message.clone());
        assert_eq!(
            command,
            SupervisorCommand::SendText {
                request_id: message.id as u64,
                phone_number: "5215512345678".into(),
                text: "hola".into(),
                resume: None,
            }
        );
    }

    #[test]
    fn the_recorded_attempt_is_resumed_whole() {
        for attempt in [
            Attempt {
                seen: vec!["A".into(), "B".into()],
                planned: None,
            },
            Attempt {
                seen: Vec::new(),
                planned: Some("3EB0PLANNED".into()),
            },
            Attempt {
                seen: vec!["A".into()],
                planned: Some("3EB0PLANNED".into()),
            },
        ] {
            let store = Store::open_in_memory().unwrap();
            let id = pending(&store).id;
            store.record_send_attempt(id, &attempt).unwrap();
            store
                .retry_later(id, "session_unavailable", "gone")
                .unwrap();
            let next = store.next_pending("s").unwrap().unwrap();
            assert_eq!(resume(send_command(next)), Some(attempt));
        }
    }
}
