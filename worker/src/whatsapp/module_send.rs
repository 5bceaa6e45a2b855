//! Sending one text through WhatsApp Web's own modules (contract §10): no navigation, no chat
//! opened on screen, nothing marked read, and a message goes out once even when a worker dies
//! in the middle of it.
//!
//! 1. `prepare`: the app is connected and synced. With an earlier attempt's planned id, our
//!    message under that id may be in the page already: then straight to step 4, sending
//!    nothing. Otherwise `queryWidExists` (`NotOnWhatsApp` when it says no) and the id to send
//!    under: the planned one, or a fresh one from `WAWebMsgKey.newId()`.
//! 2. Report the attempt with that planned id and wait for the supervisor's `AttemptRecorded`
//!    ([`Link`]): a message that may have gone out always has its id in the store.
//! 3. `send`: add the message under that id to its chat and hand it to WhatsApp
//!    (`addAndSendMsgToChat`), unless the page holds one with that id already.
//! 4. Poll its ack: 1 (the server has it) or more is sent, with that id. Should the page stop
//!    holding it for [`RESEND_AFTER`] (it reloaded), step 3 runs again under the same id, which
//!    WhatsApp takes once.
//!
//! A piece the send needs that is missing before step 3 hands the send to the DOM path
//! ([`send`] answers `None`): nothing has gone out yet. All of it runs under the send's one
//! deadline (`Timeout`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::time::{Instant, sleep};
use tracing::{debug, info, warn};
use wamux_proto::{Attempt, SendError, SentMessage};

use super::page::{self, FLOW_POLL_INTERVAL, ModuleCall};
use super::send::{self, Link, Message, Outcome};
use crate::browser::webdriver::{Driver, DriverError};

/// How long the page may lack a message it was handed before it is handed over again.
const RESEND_AFTER: Duration = Duration::from_secs(5);

/// What a step of `scripts/module_send.js` answers.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Answer {
    not_ready: Option<String>,
    missing: Option<String>,
    not_on_whats_app: bool,
    id: Option<String>,
    serialized: Option<String>,
    ack: Option<i64>,
    error: Option<String>,
}

/// What became of a step.
enum Step {
    /// The message's ids, and its ack when the page holds it.
    Done {
        id: String,
        serialized: Option<String>,
        ack: Option<i64>,
    },
    /// The number is not on WhatsApp.
    NotOnWhatsApp,
    /// A piece is missing: the name of the first one.
    Missing(String),
}

/// Sends `message` through the modules; `None` when a piece is missing and the DOM path must
/// send it instead; `Err` only when the browser is gone.
pub async fn send(
    driver: &Driver,
    message: &Message<'_>,
    link: &mut Link<'_>,
) -> Result<Option<Outcome>, DriverError> {
    if message.text.trim().is_empty() {
        return Ok(Some(Err(SendError::Failed("the text is empty".into()))));
    }
    send::bounded(message.timeout, send_within(driver, message, link)).await
}

async fn send_within(
    driver: &Driver,
    message: &Message<'_>,
    link: &mut Link<'_>,
) -> Result<Option<Outcome>, DriverError> {
    let planned = message
        .resume
        .and_then(|attempt| attempt.planned.as_deref());
    let (id, serialized, ack) = match step(driver, "prepare", message, planned).await? {
        Step::Done {
            id,
            serialized,
            ack,
        } => (id, serialized, ack),
        Step::NotOnWhatsApp => return Ok(Some(Err(SendError::NotOnWhatsApp))),
        Step::Missing(piece) => {
            warn!(piece, "the page's modules cannot send, the DOM will");
            return Ok(None);
        }
    };
    let (serialized, ack) = match (serialized, ack) {
        (Some(serialized), Some(ack)) => {
            info!(message_id = %id, ack, "the earlier attempt is in the page, not sending again");
            (serialized, ack)
        }
        _ => {
            let attempt = Attempt {
                seen: Vec::new(),
                planned: Some(id.clone()),
            };
            if !link.record_attempt(message.request_id, attempt).await {
                return Ok(Some(Err(SendError::Timeout)));
            }
            hand_over(driver, message, &id).await?
        }
    };
    Ok(Some(wait_sent(driver, message, id, serialized, ack).await?))
}

/// Step 3: the message's serialized id and ack once the page holds it.
async fn hand_over(
    driver: &Driver,
    message: &Message<'_>,
    id: &str,
) -> Result<(String, i64), DriverError> {
    match step(driver, "send", message, Some(id)).await? {
        Step::Done {
            serialized: Some(serialized),
            ack,
            ..
        } => {
            debug!(message_id = id, "handed to WhatsApp");
            Ok((serialized, ack.unwrap_or(0)))
        }
        Step::Done { .. } | Step::NotOnWhatsApp => Err(DriverError::Page(
            "the page took the message without holding it".into(),
        )),
        // Handed over or not, the attempt is recorded: the DOM could send a second copy.
        Step::Missing(piece) => Err(DriverError::Page(format!(
            "the page lost {piece} in the middle of a send"
        ))),
    }
}

/// Step 4.
async fn wait_sent(
    driver: &Driver,
    message: &Message<'_>,
    id: String,
    serialized: String,
    mut ack: i64,
) -> Result<Outcome, DriverError> {
    let mut held_at = Instant::now();
    loop {
        match ack {
            sent if sent >= 1 => {
                info!(message_id = %id, ack = sent, "message sent");
                return Ok(Ok(SentMessage { message_id: id }));
            }
            -1 => {
                return Ok(Err(SendError::Failed(
                    "WhatsApp did not take the message".into(),
                )));
            }
            _ => {}
        }
        sleep(FLOW_POLL_INTERVAL).await;
        match page::call(driver, ModuleCall::Ack(&serialized)).await {
            Ok(Value::Number(n)) => {
                held_at = Instant::now();
                ack = n.as_i64().unwrap_or(0);
            }
            Ok(_) if held_at.elapsed() >= RESEND_AFTER => {
                info!(message_id = %id, "the page no longer holds the message, handing it over again");
                ack = hand_over(driver, message, &id).await?.1;
                held_at = Instant::now();
            }
            Ok(_) => {}
            Err(err) if !err.is_fatal() => debug!("cannot read the ack yet: {err}"),
            Err(err) => return Err(err),
        }
    }
}

/// Runs one step, waiting while the app is not ready.
async fn step(
    driver: &Driver,
    name: &str,
    message: &Message<'_>,
    id: Option<&str>,
) -> Result<Step, DriverError> {
    loop {
        let value =
            match page::module_send(driver, name, message.phone_number, message.text, id).await {
                Ok(value) => value,
                Err(err) if !err.is_fatal() => {
                    debug!("the page cannot run the send yet: {err}");
                    sleep(FLOW_POLL_INTERVAL).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
        let answer: Answer = serde_json::from_value(value)
            .map_err(|err| DriverError::Page(format!("unreadable send answer: {err}")))?;
        if let Some(state) = answer.not_ready {
            debug!(state, "waiting for the app before sending");
            sleep(FLOW_POLL_INTERVAL).await;
            continue;
        }
        if let Some(piece) = answer.missing {
            return Ok(Step::Missing(piece));
        }
        if answer.not_on_whats_app {
            return Ok(Step::NotOnWhatsApp);
        }
        if let Some(error) = answer.error {
            return Err(DriverError::Page(error));
        }
        let id = answer
            .id
            .ok_or_else(|| DriverError::Page("the send answered no id".into()))?;
        return Ok(Step::Done {
            id,
            serialized: answer.serialized,
            ack: answer.ack,
        });
    }
}
