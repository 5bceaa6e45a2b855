//! Webhooks and the event stream's replay, in process: a daemon assembled as `wamux serve`
//! assembles it, its delivery task running, and a test receiver on a loopback port that
//! checks every signature itself (HMAC-SHA256 as the Standard Webhooks specification says,
//! not wamux's code) and can be told what to answer. Events are published on the daemon's
//! bus as its sessions publish them; no worker runs.
//!
//! The retries run on a 20 ms base instead of 5 s: the schedule is the same, 250 times faster,
//! so the outage of the ordering test (3 s) spans as many retries as a 12-minute one would.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use wamux::messaging::webhooks::WebhookConfig;
use wamux::messaging::webhooks::signing::Secret;
use wamux::sessions::events::EventKind;
use wamux_e2e::webhook_receiver::{Received, Receiver, SECRET};

mod common;
use common::{Api, Options, raw};

const DEADLINE: Duration = Duration::from_secs(20);

fn fast(max_age: Duration) -> WebhookConfig {
    WebhookConfig {
        max_age,
        retry_base: Duration::from_millis(20),
        ..WebhookConfig::default()
    }
}

impl Api {
    async fn with_webhooks(webhooks: WebhookConfig) -> Api {
        Api::launch(Options {
            webhooks,
            ..Options::default()
        })
        .await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        raw(self, method, path, body.as_deref(), None).await
    }

    /// Adds an endpoint for `events` at the receiver, with the test's secret.
    async fn subscribe(&self, receiver: &Receiver, events: &[&str]) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/webhooks",
                Some(json!({"url": receiver.url, "events": events, "secret": SECRET})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    fn incoming(&self, session: &str, text: &str) {
        self.parts.ctx.events.publish(
            session,
            EventKind::MessageReceived {
                message_id: format!("false_5215500000002@c.us_{text}"),
                chat_id: "5215500000002@c.us".into(),
                sender: "5215500000002".into(),
                name: None,
                author: None,
                message_type: "chat".into(),
                timestamp: None,
                text: text.into(),
                media: Default::default(),
            },
        );
    }
}

fn texts(received: &[Received]) -> Vec<&str> {
    received
        .iter()
        .map(|r| r.body["data"]["text"].as_str().unwrap_or(""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_a_resource_whose_secret_shows_once() {
    let api = Api::with_webhooks(fast(Duration::from_secs(60))).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/api/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["message.received"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    Secret::parse(secret).expect("a whsec_ secret of 24 to 64 bytes");
    assert_eq!(created["sessions"], json!(["*"]));
    let id = created["id"].as_str().unwrap();

    let (_, list) = api.call(Method::GET, "/api/webhooks", None).await;
    assert_eq!(list["webhooks"][0]["id"], id);
    assert!(!list.to_string().contains(secret), "{list}");
    let path = format!("/api/webhooks/{id}");
    let (status, changed) = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"events": ["*"], "sessions": ["a", "b"]})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["events"].clone(), changed["sessions"].clone()),
        (json!(["*"]), json!(["a", "b"]))
    );
    assert!(!changed.to_string().contains(secret));

    for (body, code) in [
        (json!({"url": "https://example.com/hook"}), "invalid_url"),
        (json!({"url": "ftp://example.com/"}), "invalid_url"),
        (
            json!({"url": "http://x/", "secret": "whsec_c2hvcnQ="}),
            "invalid_secret",
        ),
        (
            json!({"url": "http://x/", "secret": "plain"}),
            "invalid_secret",
        ),
        (
            json!({"url": "http://x/", "events": ["message.nope"]}),
            "invalid_events",
        ),
        (
            json!({"url": "http://x/", "sessions": ["../x"]}),
            "invalid_sessions",
        ),
        (json!({"events": ["*"]}), "invalid_body"),
    ] {
        let (status, answer) = api
            .call(Method::POST, "/api/webhooks", Some(body.clone()))
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    let (status, answer) = api
        .call(Method::GET, &format!("{path}/deliveries?status=lost"), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_status"))
    );
    for (method, missing) in [
        (Method::GET, "/api/webhooks/wh_nope".to_owned()),
        (Method::DELETE, "/api/webhooks/wh_nope".to_owned()),
        (Method::GET, "/api/webhooks/wh_nope/deliveries".to_owned()),
        (Method::POST, format!("{path}/deliveries/999/retry")),
    ] {
        let (status, _) = api.call(method.clone(), &missing, None).await;
        assert_eq!(status, 404, "{method} {missing}");
    }
    let (status, _) = api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    let (status, _) = api.call(Method::GET, &path, None).await;
    assert_eq!(status, 404);
    api.stop().await;

    let configured = Api::with_webhooks(WebhookConfig {
        url: Some("http://127.0.0.1:9/configured".into()),
        secret: Some(Secret::parse(SECRET).unwrap()),
        ..fast(Duration::from_secs(60))
    })
    .await;
    let (status, kept) = configured
        .call(Method::GET, "/api/webhooks/wh_default", None)
        .await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(
        (kept["events"].clone(), kept["sessions"].clone()),
        (json!(["*"]), json!(["*"]))
    );
    configured.stop().await;
}

/// Issue test 2: the receiver answers 500 while three messages arrive; once it recovers it
/// has all three, in order, each `webhook-id` delivered once, and while it was down only the
/// first was tried: the ones behind it waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_deliveries_but_loses_or_reorders_none() {
    let api = Api::with_webhooks(fast(Duration::from_secs(3600))).await;
    let receiver = Receiver::start().await;
    let id = api.subscribe(&receiver, &["message.received"]).await;
    receiver.answer(500);
    let down = Instant::now();
    for text in ["one", "two", "three"] {
        api.incoming("s1", text);
    }
    api.parts.ctx.events.publish("s1", EventKind::Created);
    let refused = receiver
        .until("several refused attempts", DEADLINE, |got| got.len() >= 4)
        .await;
    let first = refused[0].id.clone();
    assert!(
        refused.iter().all(|r| r.id == first),
        "only the first delivery is tried while it fails: {refused:#?}"
    );
    let (_, pending) = api
        .call(
            Method::GET,
            &format!("/api/webhooks/{id}/deliveries?status=pending"),
            None,
        )
        .await;
    assert_eq!(
        pending["deliveries"].as_array().unwrap().len(),
        3,
        "{pending}"
    );
    assert_eq!(pending["deliveries"][2]["lastResponse"]["status"], 500);
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", api.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "wamux_webhook_deliveries_pending{{webhook=\"{id}\"}} 3"
        )),
        "{metrics}"
    );
    while down.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.answer(200);

    receiver
        .until("all three delivered", DEADLINE, |_| {
            receiver.delivered(None).len() >= 3
        })
        .await;
    let delivered = receiver.delivered(None);
    assert_eq!(texts(&delivered), ["one", "two", "three"]);
    let mut ids: Vec<_> = delivered.iter().map(|r| r.id.clone()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "each webhook-id delivered once: {delivered:#?}"
    );
    assert!(
        receiver.got().iter().all(|r| r.verified),
        "every signature verifies"
    );
    let body = &delivered[0].body;
    assert_eq!(body["type"], "message.received");
    assert_eq!(body["data"]["session"], "s1");
    assert_eq!(body["data"]["sender"], "5215500000002");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let (_, done) = api
        .call(
            Method::GET,
            &format!("/api/webhooks/{id}/deliveries?status=delivered"),
            None,
        )
        .await;
    assert_eq!(done["deliveries"].as_array().unwrap().len(), 3, "{done}");
    assert_eq!(
        done["deliveries"][0]["lastResponse"]["body"],
        "answered 200"
    );
    api.stop().await;
}

/// Past `--webhook-max-age` a delivery fails and the one behind it goes; 410 disables the
/// endpoint; a retry through the API sends a failed one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_deliveries_let_the_next_go_and_410_disables() {
    let api = Api::with_webhooks(fast(Duration::from_millis(400))).await;
    let receiver = Receiver::start().await;
    let id = api.subscribe(&receiver, &["*"]).await;
    receiver.answer(500);
    api.incoming("s1", "first");
    api.incoming("s1", "second");
    let got = receiver
        .until("the second tried once the first failed", DEADLINE, |got| {
            texts(got).contains(&"second")
        })
        .await;
    let (_, failed) = api
        .call(
            Method::GET,
            &format!("/api/webhooks/{id}/deliveries?status=failed"),
            None,
        )
        .await;
    // Newest first: the oldest failed is the first message's.
    let failed = failed["deliveries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        failed["webhookMessageId"].as_str(),
        Some(got[0].id.as_str())
    );
    assert_eq!(failed["lastResponse"]["status"], 500, "{failed}");
    let first = failed["id"].as_str().unwrap().to_owned();

    receiver.answer(410);
    api.incoming("s1", "third");
    receiver
        .until("a 410", DEADLINE, |got| {
            got.iter().any(|r| r.answered == 410)
        })
        .await;
    // The receiver has answered; wamux records the 410 just after.
    let deadline = std::time::Instant::now() + DEADLINE;
    let endpoint = loop {
        let (_, endpoint) = api
            .call(Method::GET, &format!("/api/webhooks/{id}"), None)
            .await;
        if endpoint["enabled"] == false {
            break endpoint;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never disabled: {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(endpoint["disabledReason"].as_str().unwrap().contains("410"));

    receiver.answer(200);
    let (status, _) = api
        .call(
            Method::PATCH,
            &format!("/api/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, retried) = api
        .call(
            Method::POST,
            &format!("/api/webhooks/{id}/deliveries/{first}/retry"),
            None,
        )
        .await;
    assert_eq!((status, retried["status"].as_str()), (202, Some("pending")));
    receiver
        .until("the retried one delivered", DEADLINE, |_| {
            texts(&receiver.delivered(None)).contains(&"first")
        })
        .await;
    api.stop().await;
}

/// One event read off an SSE stream.
#[derive(Debug, PartialEq)]
struct Sse {
    id: i64,
    name: String,
    data: Value,
}

/// Opens `/api/events` (with `Last-Event-ID` when given) and reads `n` events, skipping
/// keep-alive comments.
async fn read_events(api: &Api, last: Option<i64>, n: usize, during: impl FnOnce()) -> Vec<Sse> {
    let mut request = reqwest::Client::new().get(format!("{}/api/events", api.url()));
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    during();
    let (mut text, mut events) = (String::new(), Vec::new());
    while events.len() < n {
        let chunk = tokio::time::timeout(DEADLINE, response.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream goes on");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()))
            };
            if let Some(data) = field("data:") {
                events.push(Sse {
                    id: field("id:")
                        .expect("every event has an id")
                        .parse()
                        .unwrap(),
                    name: field("event:").unwrap(),
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
        }
    }
    events
}

/// Issue test 6: a reader that reconnects with `Last-Event-ID` gets exactly what it missed,
/// then the live stream, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_replays_exactly_the_missed_events() {
    let api = Api::with_webhooks(fast(Duration::from_secs(60))).await;
    let seen = read_events(&api, None, 2, || {
        api.incoming("s1", "a");
        api.incoming("s2", "b");
    })
    .await;
    assert_eq!(seen[0].name, "messageReceived");
    assert!(seen[0].id < seen[1].id);
    for text in ["missed-1", "missed-2", "missed-3"] {
        api.incoming("s1", text);
    }
    let again = read_events(&api, Some(seen[1].id), 4, || api.incoming("s1", "live")).await;
    let got: Vec<_> = again
        .iter()
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["missed-1", "missed-2", "missed-3", "live"]);
    let ids: Vec<_> = again.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(ids[0] > seen[1].id);
    assert_eq!(again[0].data["sessionId"], "s1");

    let (status, body) = {
        let response = reqwest::Client::new()
            .get(format!("{}/api/events", api.url()))
            .header("last-event-id", "yesterday")
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_last_event_id"))
    );
    api.stop().await;
}
