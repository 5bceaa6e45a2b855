//! What the fake's HTTP-level test binaries share: polling with a deadline, a request's JSON
//! answer, the check of a JSON 400, and the binary run as a child on a free loopback port.

use std::{
    future::Future,
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `probe` until it gives a value, failing after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `request`; its status and its JSON body (`null` when the body is not JSON).
pub async fn send_json(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts a 400 with a JSON error that says something.
pub fn assert_bad_request(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
}

/// The binary listening on a free loopback port; killed when dropped, however the test ends.
pub struct Binary {
    pub child: Child,
    /// What it printed first: `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Binary {
    pub fn start(args: &[&str]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wamux-fake-web"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        // Owned before the read, so that a failed read kills the child too.
        let mut binary = Binary {
            child,
            url: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        binary.url = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?} for {args:?}"))
            .to_owned();
        binary
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
