//! The WebDriver client as the worker uses it: every call bounded in time, and every error sorted
//! into "the browser is gone" (fatal: the worker reports `Fatal` and exits) or "the page did not
//! cooperate this time" (the caller retries on its next poll or fails one command).

use std::future::Future;
use std::time::Duration;

use fantoccini::Client;
use fantoccini::elements::{Element, ElementRef};
use fantoccini::error::{CmdError, ErrorStatus};
use serde_json::Value;

/// How WebDriver marks an element reference in JSON (W3C WebDriver, "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Messages chromedriver gives when Chromium crashed, closed or cannot be reached any more.
const GONE_MESSAGES: [&str; 7] = [
    "chrome not reachable",
    "disconnected",
    "session deleted",
    "target window already closed",
    "tab crashed",
    "not connected to devtools",
    "cannot connect to chrome",
];

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("the browser is gone: {0}")]
    Gone(String),
    #[error("the WebDriver call {call} did not answer within {secs} s")]
    Hung { call: &'static str, secs: u64 },
    #[error("{0}")]
    Page(String),
}

impl DriverError {
    pub fn is_fatal(&self) -> bool {
        !matches!(self, DriverError::Page(_))
    }
}

impl From<CmdError> for DriverError {
    fn from(err: CmdError) -> Self {
        let text = err.to_string();
        let gone = match &err {
            CmdError::Lost(_) | CmdError::Failed(_) | CmdError::FailedC(_) => true,
            CmdError::Standard(wd) => {
                matches!(
                    wd.error,
                    ErrorStatus::InvalidSessionId
                        | ErrorStatus::SessionNotCreated
                        | ErrorStatus::NoSuchWindow
                ) || {
                    let message = wd.message.to_lowercase();
                    GONE_MESSAGES.iter().any(|m| message.contains(m))
                }
            }
            _ => false,
        };
        if gone {
            DriverError::Gone(text)
        } else {
            DriverError::Page(text)
        }
    }
}

pub struct Driver {
    client: Client,
    timeout: Duration,
}

impl Driver {
    pub fn new(client: Client, timeout: Duration) -> Self {
        Driver { client, timeout }
    }

    async fn bounded<T>(
        &self,
        call: &'static str,
        fut: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, DriverError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map_err(DriverError::from),
            Err(_) => Err(DriverError::Hung {
                call,
                secs: self.timeout.as_secs(),
            }),
        }
    }

    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, DriverError> {
        self.bounded("execute", self.client.execute(script, args))
            .await
    }

    /// Runs `script` with a callback as its last argument, and answers what it passes to it.
    pub async fn execute_async(
        &self,
        script: &str,
        args: Vec<Value>,
    ) -> Result<Value, DriverError> {
        self.bounded("execute_async", self.client.execute_async(script, args))
            .await
    }

    pub async fn goto(&self, url: &str) -> Result<(), DriverError> {
        self.bounded("goto", self.client.goto(url)).await
    }

    /// The element a script returned, if it returned one.
    pub fn element(&self, value: &Value) -> Option<Element> {
        let id = value.as_object()?.get(ELEMENT_KEY)?.as_str()?;
        Some(Element::from_element_id(
            self.client.clone(),
            ElementRef::from(id.to_owned()),
        ))
    }

    /// A real pointer click.
    pub async fn click(&self, element: &Element) -> Result<(), DriverError> {
        self.bounded("click", element.click()).await
    }

    /// Runs `script` with `element` as `arguments[0]` and `rest` after it.
    pub async fn execute_on(
        &self,
        script: &str,
        element: &Element,
        rest: Vec<Value>,
    ) -> Result<Value, DriverError> {
        let arg =
            serde_json::to_value(element).map_err(|err| DriverError::Page(err.to_string()))?;
        self.execute(script, std::iter::once(arg).chain(rest).collect())
            .await
    }

    pub async fn clear(&self, element: &Element) -> Result<(), DriverError> {
        self.bounded("clear", element.clear()).await
    }

    /// Real key input: the browser gets trusted key events, as from a keyboard.
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<(), DriverError> {
        self.bounded("send_keys", element.send_keys(text)).await
    }
}
