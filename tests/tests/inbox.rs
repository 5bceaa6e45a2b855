//! The inbox end to end, with real Chromium against the fake WhatsApp Web: a message that
//! arrives for a linked session is stored once, whatever restarts, and listed with its fields.

use serde_json::{Value, json};
use wamux_e2e::*;

const PHONE: &str = "5215560000011";
const FROM: &str = "5215560000012";

/// The session's received messages, newest first.
async fn received(daemon: &Daemon) -> Vec<Value> {
    let (code, body) = daemon
        .get("/api/sessions/s/messages?direction=in&limit=200")
        .await;
    assert_eq!(code, 200, "{body}");
    body["messages"].as_array().expect("a list").clone()
}

/// A message from Ana through the fake phone; its WhatsApp id.
async fn arrive(fake: &FakeServer, text: &str) -> String {
    let (code, answer) = fake_post(
        fake,
        "/__fake/incoming",
        json!({"to": PHONE, "from": FROM, "name": "Ana", "text": text}),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    answer["id"].as_str().expect("an id").to_owned()
}

async fn wait_received(daemon: &Daemon, id: &str) {
    eventually(&format!("message {id} to be stored"), DEADLINE, || async {
        received(daemon)
            .await
            .iter()
            .any(|m| m["messageId"] == id)
            .then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incoming_message_is_stored_once_across_restarts_of_the_daemon_and_its_worker() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("s").await;
    daemon.link(&fake, "s", PHONE).await;

    let first = arrive(&fake, "hola, ¿tienen envío?").await;
    wait_received(&daemon, &first).await;

    daemon.terminate();
    // Arrived while wamux was down: the next worker finds it unread.
    let second = arrive(&fake, "¿siguen ahí?").await;
    daemon.restart(&fake.url(), &[]);
    daemon.wait_status("s", "WORKING").await;
    wait_received(&daemon, &second).await;

    let detail = daemon.detail("s").await;
    let restarts = detail["restarts"].as_u64().unwrap_or(0);
    kill9(detail["workerPid"].as_u64().expect("a worker") as u32);
    back_to_working_without_qr(&daemon, "s", restarts).await;
    // Stored after everything the new worker read on its way up.
    let third = arrive(&fake, "gracias").await;
    wait_received(&daemon, &third).await;

    let messages = received(&daemon).await;
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m["messageId"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, [&third, &second, &first], "each once, newest first");
    let m = &messages[2];
    assert_eq!(m["direction"], "in", "{m}");
    assert_eq!(m["status"], "received", "{m}");
    assert_eq!(m["chatId"], format!("{FROM}@c.us"), "{m}");
    assert_eq!(m["from"], FROM, "{m}");
    assert_eq!(m["fromName"], "Ana", "{m}");
    assert_eq!(m["text"], "hola, ¿tienen envío?", "{m}");
    // Read through the page's modules: WhatsApp's own time, not the one the chat shows.
    let sent_at = m["sentAt"].as_i64().expect("the time it was sent");
    assert!(sent_at > 1_700_000_000_000, "Unix ms: {m}");
    assert_eq!(m["type"], "chat", "{m}");
    assert!(m["receivedAt"].as_i64().unwrap() > 0, "{m}");
    assert!(
        messages[0]["receivedAt"].as_i64() >= m["receivedAt"].as_i64(),
        "{messages:?}"
    );

    let (_, both) = daemon.get("/api/sessions/s/messages").await;
    assert_eq!(both["messages"].as_array().unwrap().len(), 3, "{both}");
    let (_, sent) = daemon.get("/api/sessions/s/messages?direction=out").await;
    assert_eq!(sent["messages"], json!([]), "{sent}");
    daemon.terminate();
}
