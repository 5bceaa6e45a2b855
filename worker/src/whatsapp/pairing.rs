//! Asking the landing screen for a pairing code instead of a QR ("log in with phone number").
//!
//! 1. Click "Log in with phone number" (older: "Link with phone number") until the phone-number
//!    input shows.
//! 2. Type the number into it and click "Next".
//! 3. Poll until `div[data-link-code]` shows the code; it is returned without its commas.
//!
//! A code already on show is returned at once, whichever number it was asked for: the caller
//! ([`super::session`]) opens the landing page again first when it may be another number's.
//! Should the page draw a part of the flow again under our feet (a stale element), the flow
//! starts over after [`FLOW_POLL_INTERVAL`].
//!
//! Entering the code on the phone links the page, which the session's poll loop then sees as
//! it would after a QR scan. The poll loop also reports each new code the page shows in place of
//! an expired one.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use tokio::time::{sleep, timeout};
use tracing::debug;

use super::page::{self, FLOW_POLL_INTERVAL, Screen, Target};
use crate::browser::webdriver::{Driver, DriverError};

/// Only codes of this length are taken: a partly drawn code is not one.
const CODE_LEN: usize = 8;

/// Whether `code` (without its commas) is a whole pairing code.
pub fn is_whole(code: &str) -> bool {
    code.len() == CODE_LEN
}

/// Runs the flow under `limit`. A [`crate::browser::webdriver::DriverError`] inside the error
/// tells that the browser is gone.
pub async fn request_code(driver: &Driver, phone_number: &str, limit: Duration) -> Result<String> {
    let attempts = async {
        loop {
            match request_within(driver, phone_number).await {
                // The page drew a part of the flow again under our feet: start the flow over.
                Err(err)
                    if err
                        .downcast_ref::<DriverError>()
                        .is_some_and(|e| !e.is_fatal()) =>
                {
                    debug!("asking for the pairing code again: {err:#}");
                    sleep(FLOW_POLL_INTERVAL).await;
                }
                result => return result,
            }
        }
    };
    match timeout(limit, attempts).await {
        Ok(result) => result,
        Err(_) => bail!("no pairing code appeared within {} s", limit.as_secs()),
    }
}

async fn request_within(driver: &Driver, phone_number: &str) -> Result<String> {
    loop {
        let Some(snap) = page::poll(driver).await? else {
            continue;
        };
        let screen = Screen::of(&snap);
        if let Screen::PairingCode(code) = &screen
            && is_whole(code)
        {
            return Ok(code.clone());
        }
        if screen.is_linked() {
            bail!("the session is already linked");
        }
        if snap.phone_input {
            break;
        }
        if !page::click(driver, Target::PhoneLogin).await? {
            debug!(?screen, "waiting for the phone-number login link");
        }
    }

    let input = page::find(driver, Target::PhoneInput)
        .await?
        .ok_or_else(|| anyhow!("the phone-number input vanished"))?;
    driver.clear(&input).await?;
    driver.send_keys(&input, phone_number).await?;
    let mut submitted = false;
    loop {
        if !submitted {
            submitted = page::click(driver, Target::Next).await?;
        }
        let Some(snap) = page::poll(driver).await? else {
            continue;
        };
        if let Screen::PairingCode(code) = Screen::of(&snap)
            && is_whole(&code)
        {
            return Ok(code);
        }
    }
}
