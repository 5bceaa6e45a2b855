//! Webhooks end to end, through the built `wamux serve`: a test receiver on a loopback port
//! checks every signature as the Standard Webhooks specification says (HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}` with the secret's decoded bytes) and can be told
//! to answer 500.
//!
//! - An incoming message sent through the fake WhatsApp Web, read by real Chromium, reaches
//!   the receiver once as `message.received` (issue 12, test 1).
//! - `session.status` arrives in order STARTING, SCAN_QR_CODE, WORKING (test 4), and a
//!   `kill -9` of wamux with deliveries pending loses none and repeats none (test 3); both on
//!   the fake worker, since what is tested is the daemon's log and delivery, not the browser.

use serde_json::json;
use wamux_e2e::fake_worker::{restart_daemon, start_daemon};
use wamux_e2e::webhook_receiver::{Received, Receiver};
use wamux_e2e::*;

fn statuses(received: &[Received], session: &str) -> Vec<String> {
    received
        .iter()
        .filter(|r| r.body["data"]["session"] == session)
        .map(|r| r.body["data"]["status"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Issue test 1: a message arriving on the phone reaches the receiver once, with its text,
/// sender and id.
#[tokio::test(flavor = "multi_thread")]
async fn an_incoming_message_reaches_the_receiver_once_and_signed() {
    let receiver = Receiver::start().await;
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &receiver.flags());
    let phone = "5215512340121";
    daemon.create("hooked").await;
    daemon.link(&fake, "hooked", phone).await;

    let mut ids = Vec::new();
    for text in ["hola webhook", "and the next one"] {
        let (code, sent) = fake_post(
            &fake,
            "/__fake/incoming",
            json!({"to": phone, "from": "5215500000777", "name": "Ana", "text": text}),
        )
        .await;
        assert_eq!(code, 200, "{sent}");
        ids.push(sent["id"].as_str().unwrap().to_owned());
    }
    let received = eventually("both messages at the receiver", DEADLINE, || async {
        let got = receiver.delivered(Some("message.received"));
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(received.len(), 2, "each once: {received:#?}");
    let data = &received[0].body["data"];
    assert_eq!(data["session"], "hooked");
    assert_eq!(data["text"], "hola webhook");
    // The sender's name as WhatsApp gives it (read through the page's modules), and the chat
    // is the sender's number.
    assert_eq!(data["name"], "Ana", "{data}");
    assert!(
        data["chatId"]
            .as_str()
            .unwrap()
            .starts_with("5215500000777"),
        "{data}"
    );
    assert!(
        data["messageId"].as_str().unwrap().contains(&ids[0]),
        "{data} has the id {}",
        ids[0]
    );
    assert_eq!(received[1].body["data"]["text"], "and the next one");
    assert_ne!(received[0].id, received[1].id);

    let statuses = statuses(&receiver.delivered(Some("session.status")), "hooked");
    assert_eq!(statuses, ["STARTING", "SCAN_QR_CODE", "WORKING"]);
}

/// Issue test 4: a session's statuses arrive in order, WORKING with the phone number.
#[tokio::test(flavor = "multi_thread")]
async fn session_status_webhooks_arrive_in_order() {
    let receiver = Receiver::start().await;
    let daemon = start_daemon(
        json!({"st": {"mode": "qr", "linkAfterMs": 500, "phone": "5215512340122"}}),
        &receiver.flags(),
    );
    daemon.create("st").await;
    daemon.wait_status("st", "WORKING").await;
    let received = eventually("three statuses", DEADLINE, || async {
        let got = receiver.delivered(Some("session.status"));
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert_eq!(
        statuses(&received, "st"),
        ["STARTING", "SCAN_QR_CODE", "WORKING"]
    );
    assert_eq!(received[2].body["data"]["phoneNumber"], "5215512340122");
    let qr = receiver.delivered(Some("session.qr"));
    assert!(
        qr.iter().all(|r| r.body["data"]["payload"].is_string()) && !qr.is_empty(),
        "{qr:#?}"
    );
}

/// Issue test 3: deliveries pending at a `kill -9` are sent after the restart, each once.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_with_deliveries_pending_loses_and_repeats_none() {
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let flags = receiver.flags();
    let mut daemon = start_daemon(
        json!({"k9": {"mode": "qr", "linkAfterMs": 300, "phone": "5215512340123"}}),
        &flags,
    );
    daemon.create("k9").await;
    daemon.wait_status("k9", "WORKING").await;
    let pending: Vec<String> = eventually("the statuses pending", DEADLINE, || async {
        let (_, body) = daemon
            .get("/api/webhooks/wh_default/deliveries?status=pending")
            .await;
        let ids: Vec<String> = body["deliveries"]
            .as_array()?
            .iter()
            .filter(|d| d["type"] == "session.status")
            .map(|d| d["webhookMessageId"].as_str().unwrap().to_owned())
            .collect();
        (ids.len() >= 3).then_some(ids)
    })
    .await;
    daemon.kill9();

    receiver.answer(200);
    restart_daemon(&mut daemon, &flags);
    let delivered = eventually("the pending ones delivered", DEADLINE, || async {
        let got = receiver.delivered(None);
        pending
            .iter()
            .all(|id| got.iter().any(|r| r.id == *id))
            .then_some(got)
    })
    .await;
    let mut ids: Vec<_> = delivered.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        ids.len(),
        before,
        "a webhook-id delivered twice: {delivered:#?}"
    );
    let before_kill: Vec<_> = delivered
        .iter()
        .filter(|r| pending.contains(&r.id))
        .map(|r| r.body["data"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        &before_kill[..3],
        ["STARTING", "SCAN_QR_CODE", "WORKING"],
        "in order, after the restart"
    );
}
