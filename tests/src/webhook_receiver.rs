//! A webhook receiver for tests, on a loopback port: it checks every signature itself, as the
//! Standard Webhooks specification says (HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`
//! with the secret's decoded bytes, and a recent timestamp) rather than with wamux's code, keeps
//! every request, and answers what it is told. Used by the end-to-end tests and by the
//! supervisor's in-process ones.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The secret every test endpoint is given.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub body: Value,
    pub verified: bool,
    pub answered: u16,
}

/// A webhook receiver on a loopback port: answers what it is told and keeps every request.
pub struct Receiver {
    pub url: String,
    answer: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
}

/// What the Standard Webhooks specification asks of a receiver: the signature of
/// `{id}.{timestamp}.{body}` with the secret's decoded bytes, and a recent timestamp.
fn verify(headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let key = STANDARD.decode(&SECRET["whsec_".len()..]).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    (now - ts).abs() <= 300 && signatures.split(' ').any(|s| s == expected)
}

impl Receiver {
    /// Serves `/hook` on a free loopback port, answering 200 until told otherwise.
    pub async fn start() -> Receiver {
        let answer = Arc::new(AtomicU16::new(200));
        let got = Arc::new(Mutex::new(Vec::new()));
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post({
                let (answer, got) = (answer.clone(), got.clone());
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let code = answer.load(Ordering::SeqCst);
                    got.lock().unwrap().push(Received {
                        id: headers["webhook-id"].to_str().unwrap().to_owned(),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        verified: verify(&headers, &body),
                        answered: code,
                    });
                    (
                        axum::http::StatusCode::from_u16(code).unwrap(),
                        format!("answered {code}"),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, answer, got }
    }

    /// Answers `code` (with the body `answered {code}`) from now on.
    pub fn answer(&self, code: u16) {
        self.answer.store(code, Ordering::SeqCst);
    }

    /// Every request so far, in arrival order.
    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// What was answered 2xx, of `type` when given, in arrival order; fails the test if any
    /// request so far had a bad signature.
    pub fn delivered(&self, kind: Option<&str>) -> Vec<Received> {
        let got = self.got();
        assert!(got.iter().all(|r| r.verified), "a bad signature: {got:#?}");
        got.into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .filter(|r| kind.is_none_or(|k| r.body["type"] == k))
            .collect()
    }

    /// Waits up to `limit` until `check` holds of what the receiver got.
    pub async fn until(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.got();
            if check(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "{what}; got {got:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `wamux serve` flags that configure this receiver as the daemon's endpoint.
    pub fn flags(&self) -> [&str; 6] {
        [
            "--webhook-url",
            &self.url,
            "--webhook-secret",
            SECRET,
            "--webhook-retry-base",
            "50ms",
        ]
    }
}
