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
    /// The path would not reach what it names: a `.` or `..` session id, which URLs resolve
    /// away (`/api/sessions/..` is `/api`), so no request is sent.
    Unaddressable { path: String },
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
            ClientError::Unaddressable { .. } => 66,
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
            ClientError::Unaddressable { path } => write!(
                f,
                "no session can be named in {path}: a session id is never `.` or `..`"
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
        let url = self.url(path)?;
        let mut request = self.http.request(method, url);
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

    /// `path` (built with [`escape`]) on the daemon's URL, exactly: never a path the URL
    /// parser resolved into another one.
    fn url(&self, path: &str) -> Result<reqwest::Url, ClientError> {
        let text = format!("{}{path}", self.daemon.url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&text).map_err(|e| ClientError::Unreachable {
            url: self.daemon.url.clone(),
            reason: e.to_string(),
        })?;
        let asked = path.split(['?', '#']).next().unwrap_or_default();
        if !url.path().ends_with(asked) {
            return Err(ClientError::Unaddressable {
                path: path.to_owned(),
            });
        }
        Ok(url)
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

/// `id` as one path segment or query value: every byte but the unreserved ones of RFC 3986
/// percent-encoded, so `x/../ventas` stays one segment and `x&session=y` one value.
pub fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(url: &str) -> DaemonArgs {
        DaemonArgs {
            url: url.to_owned(),
            api_key: None,
            json: false,
        }
    }

    #[test]
    fn an_id_stays_one_path_segment() {
        let args = daemon("http://127.0.0.1:8083/");
        let client = Client::new(&args);
        let path = format!("/api/sessions/{}", escape("x/../ventas"));
        assert_eq!(
            client.url(&path).unwrap().as_str(),
            "http://127.0.0.1:8083/api/sessions/x%2F..%2Fventas"
        );
        assert_eq!(escape("ventas-1_A"), "ventas-1_A");
        assert_eq!(escape("a?b#c d%"), "a%3Fb%23c%20d%25");
        assert_eq!(escape("x&session=y"), "x%26session%3Dy");
    }

    #[test]
    fn a_dot_segment_is_refused_before_any_request() {
        let args = daemon("http://127.0.0.1:8083");
        let client = Client::new(&args);
        for id in [".", ".."] {
            let path = format!("/api/sessions/{}/logout", escape(id));
            let error = client.url(&path).unwrap_err();
            assert_eq!(error.exit_code(), 66, "{id}: {error}");
        }
    }
}
