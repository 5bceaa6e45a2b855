//! The outbox end to end, with real Chromium against the fake WhatsApp Web: a message wamux
//! accepted is sent exactly once, whatever dies when, and its status tells what became of it.

use std::time::Duration;

use serde_json::{Value, json};
use wamux_e2e::*;

const PHONE: &str = "5215560000001";
const TO: &str = "5215560000002";

async fn send(daemon: &Daemon, text: &str, query: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/sessions/s/send-message{query}", daemon.url))
        .json(&json!({"phoneNumber": TO, "message": text}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("the daemon answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What the fake's account sent, oldest first: (id, text).
async fn sent(fake: &FakeServer) -> Vec<(String, String)> {
    fake_get(fake, &format!("/__fake/sent?from={PHONE}"))
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or("").to_owned(),
                m["text"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn worker_pid(detail: &Value) -> u32 {
    detail["workerPid"].as_u64().expect("a worker") as u32
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_right_after_a_202_sends_the_message_once_after_its_restart() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::linked(&fake, &[], "s", PHONE).await;
    let pid = worker_pid(&daemon.detail("s").await);
    let (code, body) = send(&daemon, "uno tras el 202", "?wait=false", None).await;
    assert_eq!(code, 202, "{body}");
    kill9(pid);
    let id = body["id"].as_str().unwrap();
    let m = daemon.wait_sent("s", id).await;
    let sent = sent(&fake).await;
    let ours: Vec<_> = sent
        .iter()
        .filter(|(_, t)| t == "uno tras el 202")
        .collect();
    assert_eq!(ours.len(), 1, "exactly once: {sent:?}");
    assert_eq!(m["messageId"], json!(ours[0].0), "with WhatsApp's id");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_queued_on_a_stopped_session_survive_a_kill_9_of_the_daemon_in_order() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::linked(&fake, &[], "s", PHONE).await;
    let (code, body) = daemon.post("/api/sessions/s/stop", json!({})).await;
    assert_eq!(code, 200, "{body}");
    let mut ids = Vec::new();
    for text in ["primero", "segundo", "tercero"] {
        let (code, body) = send(&daemon, text, "", None).await;
        assert_eq!((code, &body["status"]), (202, &json!("queued")), "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    daemon.kill9();
    daemon.restart(&fake.url(), &[]);
    assert_eq!(daemon.status("s").await["status"], "STOPPED");
    for id in &ids {
        assert_eq!(daemon.message("s", id).await["status"], "queued");
    }
    let (code, body) = daemon.post("/api/sessions/s/start", json!({})).await;
    assert_eq!(code, 200, "{body}");
    daemon.wait_status("s", "WORKING").await;
    for id in &ids {
        daemon.wait_sent("s", id).await;
    }
    let texts: Vec<String> = sent(&fake).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        texts,
        ["primero", "segundo", "tercero"],
        "each once, in order"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_while_sending_after_whatsapp_got_it_sends_no_second_copy() {
    // " Pending " for a while: the fake has the message, the page does not show it sent yet.
    let fake = fake(FakeConfig {
        ack_delay: Duration::from_secs(6),
        ..FakeConfig::default()
    })
    .await;
    let daemon = Daemon::linked(&fake, &["--send-wait", "1s"], "s", PHONE).await;
    let pid = worker_pid(&daemon.detail("s").await);
    let (code, body) = send(&daemon, "una sola vez", "", None).await;
    assert_eq!((code, &body["status"]), (202, &json!("sending")), "{body}");
    eventually("WhatsApp to have the message", DEADLINE, || async {
        (!sent(&fake).await.is_empty()).then_some(())
    })
    .await;
    kill9(pid);
    let m = daemon.wait_sent("s", body["id"].as_str().unwrap()).await;
    let sent = sent(&fake).await;
    assert_eq!(sent.len(), 1, "no second copy: {sent:?}");
    assert_eq!(m["messageId"], json!(sent[0].0));
    assert!(m["attempts"].as_u64().unwrap() >= 2, "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_sends_one_message() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::linked(&fake, &[], "s", PHONE).await;
    let (code, first) = send(&daemon, "pedido 42 listo", "", Some("pedido-42")).await;
    assert_eq!(code, 200, "{first}");
    let (code, again) = send(&daemon, "pedido 42 listo", "", Some("pedido-42")).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["messageId"], first["messageId"]);
    let (code, other) = send(&daemon, "otro texto", "", Some("pedido-42")).await;
    assert_eq!(
        (code, other["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{other}"
    );
    assert_eq!(sent(&fake).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_slower_than_the_wait_is_202_then_sent_with_whatsapps_id() {
    let fake = fake(FakeConfig {
        ack_delay: Duration::from_secs(3),
        ..FakeConfig::default()
    })
    .await;
    let daemon = Daemon::linked(&fake, &["--send-wait", "1s"], "s", PHONE).await;
    let (code, body) = send(&daemon, "despacio", "", None).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["messageId"], Value::Null);
    let m = daemon.wait_sent("s", body["id"].as_str().unwrap()).await;
    let sent = sent(&fake).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(m["messageId"], json!(sent[0].0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_whose_time_runs_out_while_stopped_is_expired_and_never_sent() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::linked(&fake, &["--watch-interval", "1s"], "s", PHONE).await;
    daemon.post("/api/sessions/s/stop", json!({})).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/sessions/s/send-message", daemon.url))
        .json(&json!({"phoneNumber": TO, "message": "caduca", "ttlSeconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    let expired = eventually("the message to expire", DEADLINE, || async {
        let m = daemon.message("s", &id).await;
        (m["status"] == "expired").then_some(m)
    })
    .await;
    assert_eq!(expired["error"]["code"], "message_expired");
    daemon.post("/api/sessions/s/start", json!({})).await;
    daemon.wait_status("s", "WORKING").await;
    // Messages go out in order: once a later one is sent, the expired one was not.
    let (code, later) = send(&daemon, "después", "", None).await;
    assert_eq!(code, 200, "{later}");
    let texts: Vec<String> = sent(&fake).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["después"]);
    assert_eq!(daemon.message("s", &id).await["status"], "expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_that_shows_up_late_with_other_text_is_never_taken_for_ours() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::linked(&fake, &[], "s", PHONE).await;
    let (code, _) = fake_post(
        &fake,
        "/__fake/late-row",
        json!({"from": PHONE, "to": TO, "text": "escrito en el teléfono"}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, body) = send(&daemon, "el nuestro", "", None).await;
    assert_eq!(code, 200, "{body}");
    let ours = sent(&fake)
        .await
        .into_iter()
        .find(|(_, t)| t == "el nuestro")
        .expect("ours was sent");
    assert_eq!(
        body["messageId"],
        json!(ours.0),
        "our row, not the late one"
    );
}
