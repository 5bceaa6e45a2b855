//! The task that sends webhook deliveries: the I/O around [`super::policy`].
//!
//! Each turn reads the head of every (endpoint, session) pair, the oldest pending delivery,
//! from the store; sends each due head that is not already in flight, concurrently across
//! pairs; and sleeps until the earliest head is due, an event makes a delivery, or an attempt
//! ends. An attempt is recorded before its pair's next head is read, so a pair never has two
//! in flight, and the order holds across restarts: a `kill -9` mid-attempt leaves the delivery
//! pending and it is sent again, with the same `webhook-id`, after the restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Webhooks;
use super::policy::{self, Answer, Verdict};
use super::signing::Secret;
use crate::sessions::session::now_ms;
use crate::store::{Attempt, DeliveryStatus, Head};

/// How long one attempt may take, answer included.
const TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an answer's body is kept for the API.
const EXCERPT: usize = 256;
/// With nothing due, how long a turn sleeps anyway (a bound, should a wake-up be missed).
const IDLE: Duration = Duration::from_secs(60);
/// After the store failed, how long before the next turn.
const STORE_RETRY: Duration = Duration::from_secs(5);

impl Webhooks {
    /// Sends deliveries until `stop`. Attempts in flight then are dropped: their deliveries
    /// stay pending and go again at the next start.
    pub async fn deliver(self: Arc<Self>, stop: CancellationToken) {
        let http = match reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("wamux/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook HTTP client");
                return;
            }
        };
        let mut attempts = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, (String, String)> = HashMap::new();
        loop {
            let now = now_ms();
            let mut wake_at = now + IDLE.as_millis() as i64;
            match self.store.delivery_heads() {
                Ok(heads) => {
                    for head in heads {
                        let pair = (head.webhook_id.clone(), head.session_id.clone());
                        if in_flight.values().any(|p| *p == pair) {
                            continue;
                        }
                        if head.next_attempt_at > now {
                            wake_at = wake_at.min(head.next_attempt_at);
                            continue;
                        }
                        let task = attempts.spawn(attempt(self.clone(), http.clone(), head));
                        in_flight.insert(task.id(), pair);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook deliveries");
                    wake_at = now + STORE_RETRY.as_millis() as i64;
                }
            }
            let sleep = Duration::from_millis((wake_at - now).max(0) as u64);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                Some(done) = attempts.join_next_with_id() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => e.id(),
                    };
                    in_flight.remove(&id);
                }
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

/// What came back of one POST.
struct Response {
    answer: Answer,
    status: Option<u16>,
    body: Option<String>,
    error: Option<String>,
}

/// Sends one delivery and records what came of it.
async fn attempt(webhooks: Arc<Webhooks>, http: reqwest::Client, head: Head) {
    let webhook_id = format!("msg_{}", head.event_id);
    let prepared = Secret::parse(&head.secret).ok().zip(super::body(
        &head.event_kind,
        &head.session_id,
        head.event_at,
        &head.event_data,
    ));
    let (response, verdict) = match prepared {
        Some((secret, body)) => {
            let response = post(&http, &head.url, &webhook_id, &secret, body).await;
            let verdict = policy::judge(
                response.answer,
                head.attempts + 1,
                now_ms(),
                head.started_at,
                webhooks.backoff(),
                rand::random::<f64>(),
            );
            (response, verdict)
        }
        None => (
            Response {
                answer: Answer::None,
                status: None,
                body: None,
                error: Some("the endpoint's secret or the stored event is unusable".into()),
            },
            Verdict::Failed,
        ),
    };
    let now = now_ms();
    tracing::info!(
        webhook = %head.webhook_id,
        delivery = head.id,
        %webhook_id,
        status = ?response.status,
        error = response.error.as_deref(),
        ?verdict,
        "webhook attempt"
    );
    let (status, next_attempt_at) = match verdict {
        Verdict::Delivered => (DeliveryStatus::Delivered, now),
        Verdict::RetryAt(at) => (DeliveryStatus::Pending, at),
        Verdict::Failed | Verdict::Disable => (DeliveryStatus::Failed, now),
    };
    let recorded = webhooks.store.record_delivery_attempt(
        head.id,
        Attempt {
            at: now,
            status,
            next_attempt_at,
            response_status: response.status,
            response_body: response.body,
            error: response.error,
        },
    );
    if let Err(e) = recorded {
        tracing::error!(error = %e, delivery = head.id, "cannot record a webhook attempt");
    }
    if verdict == Verdict::Disable {
        tracing::warn!(webhook = %head.webhook_id, "the endpoint answered 410 Gone: disabled");
        if let Err(e) = webhooks
            .store
            .disable_webhook(&head.webhook_id, "the endpoint answered 410 Gone")
        {
            tracing::error!(error = %e, "cannot disable a webhook endpoint");
        }
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    webhook_id: &str,
    secret: &Secret,
    body: String,
) -> Response {
    let timestamp = now_ms() / 1000;
    let signature = secret.sign(webhook_id, timestamp, body.as_bytes());
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => {
            return Response {
                answer: Answer::None,
                status: None,
                body: None,
                // Without the URL: it may hold credentials.
                error: Some(e.without_url().to_string()),
            };
        }
    };
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(policy::retry_after);
    let mut excerpt = Vec::new();
    while excerpt.len() < EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt.truncate(EXCERPT);
    Response {
        answer: Answer::Status { code, retry_after },
        status: Some(code),
        body: Some(String::from_utf8_lossy(&excerpt).into_owned()),
        error: None,
    }
}
