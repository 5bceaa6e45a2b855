//! Reading and driving WhatsApp Web through the page's own modules, with the DOM as the
//! fallback (contract §10), end to end through `wamux serve` and real Chromium, against each
//! variant of the fake: with the modules, with only the older `getMaybeMeUser`, and DOM only.
//!
//! The same scenario runs on each: link; the engine the API shows; a send answered with the id
//! the fake received once (through the modules without loading a page); delivered then read
//! acks followed by the message's status and signed `message.ack` webhooks (before anything
//! else opens another chat: the DOM sees acks of the open chat only); a number not on WhatsApp;
//! an incoming message stored, left unread on the phone through the modules (and read, as the
//! DOM must, otherwise).

use serde_json::{Value, json};
use wamux_e2e::webhook_receiver::Receiver;
use wamux_e2e::*;
use wamux_fake_web::Modules;

const PHONE: &str = "5215560000101";
const TO: &str = "5215560000102";
const FROM: &str = "5215560000103";

async fn stats(fake: &FakeServer) -> Value {
    fake_get(fake, "/__fake/stats").await
}

async fn chat(fake: &FakeServer, jid: &str) -> Value {
    let chats = fake_get(fake, &format!("/__fake/chats?phone={PHONE}")).await;
    chats
        .as_array()
        .and_then(|chats| chats.iter().find(|c| c["jid"] == jid).cloned())
        .unwrap_or_else(|| panic!("no chat {jid}: {chats}"))
}

async fn scenario(modules: Modules) {
    let receiver = Receiver::start().await;
    let fake = fake(FakeConfig {
        modules,
        ..FakeConfig::default()
    })
    .await;
    let mut daemon = Daemon::linked(&fake, &receiver.flags(), "m", PHONE).await;

    let path = if modules == Modules::None {
        "dom"
    } else {
        "modules"
    };
    let engine = eventually("the engine in the session", DEADLINE, || async {
        let detail = daemon.detail("m").await;
        (!detail["engine"].is_null()).then(|| detail["engine"].clone())
    })
    .await;
    assert_eq!(
        engine,
        json!({"state": path, "incoming": path, "acks": path, "send": path}),
        "{modules:?}"
    );

    let loads = stats(&fake).await["page_loads"].as_u64().unwrap();
    let (code, body) = daemon
        .post(
            "/api/sessions/m/send-message",
            json!({"phoneNumber": TO, "message": "hola, una vez"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let wa_id = body["messageId"]
        .as_str()
        .expect("a WhatsApp id")
        .to_owned();
    let id = body["id"].to_string().trim_matches('"').to_owned();
    let sent = fake_get(&fake, &format!("/__fake/sent?from={PHONE}")).await;
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], wa_id.as_str());
    assert_eq!(sent[0]["text"], "hola, una vez");
    let loads_after = stats(&fake).await["page_loads"].as_u64().unwrap();
    if modules == Modules::None {
        assert!(loads_after > loads, "the DOM path navigates");
    } else {
        assert_eq!(loads_after, loads, "no navigation through the modules");
    }

    for status in ["delivered", "read"] {
        let (code, body) =
            fake_post(&fake, "/__fake/ack", json!({"id": wa_id, "status": status})).await;
        assert_eq!(code, 200, "{body}");
        eventually(&format!("the message {status}"), DEADLINE, || async {
            (daemon.message("m", &id).await["status"] == status).then_some(())
        })
        .await;
    }
    let acks = eventually("two message.ack webhooks", DEADLINE, || async {
        let acks = receiver.delivered(Some("message.ack"));
        (acks.len() >= 2).then_some(acks)
    })
    .await;
    let statuses: Vec<&Value> = acks.iter().map(|a| &a.body["data"]["status"]).collect();
    assert_eq!(statuses, [&json!("delivered"), &json!("read")], "{acks:#?}");
    assert!(acks.iter().all(|a| a.verified), "signed");
    assert_eq!(
        fake_get(&fake, &format!("/__fake/sent?from={PHONE}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1,
        "still sent once"
    );
    fake_post(
        &fake,
        "/__fake/invalid-numbers",
        json!({"numbers": ["5215560000999"]}),
    )
    .await;
    let (code, body) = daemon
        .post(
            "/api/sessions/m/send-message",
            json!({"phoneNumber": "5215560000999", "message": "¿hay alguien?"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("number_not_on_whatsapp")),
        "{body}"
    );

    let (code, answer) = fake_post(
        &fake,
        "/__fake/incoming",
        json!({"to": PHONE, "from": FROM, "name": "Ana", "text": "¿tienen envío?"}),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    let incoming = answer["id"].as_str().unwrap().to_owned();
    let stored = eventually("the incoming message stored", DEADLINE, || async {
        let (_, body) = daemon.get("/api/sessions/m/messages?direction=in").await;
        body["messages"].as_array().and_then(|all| {
            all.iter()
                .find(|m| m["messageId"] == incoming.as_str())
                .cloned()
        })
    })
    .await;
    assert_eq!(stored["text"], "¿tienen envío?", "{stored}");
    assert_eq!(stored["fromName"], "Ana", "{stored}");
    assert_eq!(stored["from"], FROM, "{stored}");
    let phone_side = chat(&fake, &format!("{FROM}@c.us")).await;
    if modules == Modules::None {
        assert_eq!(
            phone_side["unread"], 0,
            "the DOM opens the chat: {phone_side}"
        );
    } else {
        assert_eq!(
            (
                &phone_side["unread"],
                &phone_side["opened"],
                &phone_side["seen"]
            ),
            (&json!(1), &json!(0), &json!(0)),
            "still unread on the phone: {phone_side}"
        );
    }

    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_page_modules() {
    scenario(Modules::Current).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_older_module_names() {
    scenario(Modules::Older).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_dom_only() {
    scenario(Modules::None).await;
}
