//! The CLI's HTTP client: one request to the daemon, with errors a person can act on.

use std::fmt;

use serde_json::Value;

use super::DaemonArgs;

/// Why a request failed; `exit_code` follows the BSD sysexits convention scripts know.
#[derive(Debug)]
pub enum ClientError {
    /// The daemon did not answer at all.
    Unreachable { url: String, reason: String },
    /// The daemon answered with an error body.
    Api {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClientError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => 69,
            ClientError::Api { status: 404, .. } => 66,
            ClientError::Api { .. } => 65,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { url, reason } => write!(
                f,
                "the wamux daemon is not answering at {url} ({reason}); is `wamux serve` running? (--url / WAMUX_URL)"
            ),
            ClientError::Api {
                status,
                code,
                message,
            } => write!(f, "{message} ({code}, HTTP {status})"),
        }
    }
}

pub async fn request(
    daemon: &DaemonArgs,
    method: reqwest::Method,
    path: &str,
) -> Result<Value, ClientError> {
    let url = format!("{}{path}", daemon.url.trim_end_matches('/'));
    let unreachable = |e: reqwest::Error| ClientError::Unreachable {
        url: daemon.url.clone(),
        reason: e.to_string(),
    };
    let response = reqwest::Client::new()
        .request(method, &url)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let field = |k: &str| body["error"][k].as_str().unwrap_or("").to_owned();
    Err(ClientError::Api {
        status,
        code: field("code"),
        message: field("message"),
    })
}
