//! Sending one text message through a `/send` link, as a person clicking `wa.me` would.
//!
//! 1. Navigate to `BASE/send?phone=DIGITS&text=URLENCODED`.
//! 2. Poll until the page settles: the chat with the text in its compose box; the
//!    invalid-number dialog (click OK, `NotOnWhatsApp`); or the landing screen (`NotLinked`).
//! 3. Note the message rows already in the chat, then press Enter in the compose box with real
//!    key input. Should the text still sit there a while later, the Enter was lost, and the send
//!    button (in whichever form the page has) is clicked instead.
//! 4. Poll until a new row of ours (`true_…`) carries the status Sent, Delivered or Read: its
//!    message id is the answer.
//!
//! All of it runs under one deadline (`Timeout`). The caller checks that the session is linked
//! before calling, and runs one send at a time.

use std::time::Duration;

use tokio::time::{Instant, timeout_at};
use tracing::{debug, info};
use wamux_proto::{SendError, SentMessage};

use super::incoming::Inbox;
use super::page::{self, Delivery, MessageKey, Screen, Target};
use crate::browser::webdriver::{Driver, DriverError};

/// How long an Enter may go unanswered (text still in the box, no new row) before the send
/// button is clicked.
const ENTER_GRACE: Duration = Duration::from_secs(3);

pub type Outcome = Result<SentMessage, SendError>;

pub struct Message<'a> {
    pub base_url: &'a str,
    pub phone_number: &'a str,
    pub text: &'a str,
    pub timeout: Duration,
}

/// Sends `message`; `Err` only when the browser is gone, every other failure is an [`Outcome`].
pub async fn send(
    driver: &Driver,
    message: &Message<'_>,
    inbox: &mut Inbox,
) -> Result<Outcome, DriverError> {
    if message.text.trim().is_empty() {
        return Ok(Err(SendError::Failed("the text is empty".into())));
    }
    let deadline = Instant::now() + message.timeout;
    match timeout_at(deadline, send_within(driver, message, inbox)).await {
        Ok(Err(err)) if !err.is_fatal() => Ok(Err(SendError::Failed(err.to_string()))),
        Ok(result) => result,
        Err(_) => Ok(Err(SendError::Timeout)),
    }
}

async fn send_within(
    driver: &Driver,
    message: &Message<'_>,
    inbox: &mut Inbox,
) -> Result<Outcome, DriverError> {
    let url = format!(
        "{}/send?phone={}&text={}",
        message.base_url,
        message.phone_number,
        urlencoding::encode(message.text)
    );
    driver.goto(&url).await?;
    let chat = loop {
        let Some(snap) = page::poll(driver).await? else {
            continue;
        };
        match Screen::of(&snap) {
            Screen::Chat { compose } if !compose.trim().is_empty() => break snap,
            Screen::InvalidNumber => {
                page::click(driver, Target::DialogOk).await?;
                return Ok(Err(SendError::NotOnWhatsApp));
            }
            Screen::Conflict => {
                return Ok(Err(SendError::Failed(
                    "WhatsApp Web is open in another window".into(),
                )));
            }
            Screen::Refused(text) => return Ok(Err(SendError::Failed(text))),
            screen if screen.is_landing() => return Ok(Err(SendError::NotLinked)),
            screen => debug!(?screen, "waiting for the chat"),
        }
    };
    let rows_before: Vec<String> = chat.messages.iter().map(|row| row.id.clone()).collect();
    inbox.mark_seen(&chat);

    let compose = page::find(driver, Target::Compose)
        .await?
        .ok_or_else(|| DriverError::Page("the compose box vanished".into()))?;
    driver
        .send_keys(
            &compose,
            &char::from(fantoccini::key::Key::Enter).to_string(),
        )
        .await?;
    let entered = Instant::now();
    let mut clicked_button = false;
    loop {
        let Some(snap) = page::poll(driver).await? else {
            continue;
        };
        let screen = Screen::of(&snap);
        if screen.is_landing() {
            return Ok(Err(SendError::NotLinked));
        }
        let ours = snap.messages.iter().find_map(|row| {
            let key = MessageKey::parse(&row.id)?;
            (key.from_me && !rows_before.contains(&row.id))
                .then(|| (key, Delivery::of(&row.labels)))
        });
        match ours {
            Some((key, Some(status))) if status.is_sent() => {
                info!(message_id = %key.message_id, ?status, "message sent");
                return Ok(Ok(SentMessage {
                    message_id: key.message_id,
                }));
            }
            Some((key, status)) => {
                debug!(message_id = %key.message_id, ?status, "waiting for the message to leave")
            }
            None if !clicked_button && entered.elapsed() >= ENTER_GRACE => {
                if matches!(&screen, Screen::Chat { compose } if !compose.trim().is_empty()) {
                    info!("Enter did not send the message, clicking the send button");
                    clicked_button = page::click(driver, Target::SendButton).await?;
                }
            }
            None => {}
        }
    }
}
