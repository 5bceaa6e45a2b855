//! The CLI's HTTP client: requests to the daemon, with errors a person can act on and exit
//! codes a script can trust.

use std::fmt;
use std::process::ExitCode;

use serde_json::Value;

use super::DaemonArgs;

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
            ClientError::Api { status: 401, .. } => 76,
            ClientError::Api { status: 404, .. } => 66,
            ClientError::Api { status, .. } if *status >= 500 => 75,
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

/// Prints the error and turns it into the process's exit code.
pub fn fail(e: ClientError) -> ExitCode {
    eprintln!("wamux: {e}");
    ExitCode::from(e.exit_code())
}

pub struct Client<'a> {
    daemon: &'a DaemonArgs,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    pub fn new(daemon: &'a DaemonArgs) -> Self {
        Client {
            daemon,
            http: reqwest::Client::new(),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.daemon.url.clone(),
            reason: e.to_string(),
        }
    }

    /// Sends a request; answers the response when it is a success.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.daemon.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.daemon.api_key {
            request = request.header("x-api-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let field = |k: &str| body["error"][k].as_str().unwrap_or("").to_owned();
        Err(ClientError::Api {
            status,
            code: field("code"),
            message: field("message"),
        })
    }

    /// A request whose answer is JSON.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let response = self.send(method, path, body).await?;
        response.json().await.map_err(|e| self.unreachable(e))
    }
}
