//! HTTP-level tests of the fake against an in-process server on port 0. The page script is
//! played by the tests through the same private endpoints it uses (`/__fake/page/...`); no
//! browser is started here.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::{Binary, DEADLINE, assert_bad_request, eventually, send_json};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wamux_fake_web::{FakeConfig, FakeServer, Modules, Variant};

const DESKTOP_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const HEADLESS_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";

fn fast() -> FakeConfig {
    FakeConfig {
        boot_min: Duration::from_millis(10),
        boot_max: Duration::from_millis(50),
        // Long enough that a test scans a payload it just saw even on a busy machine.
        qr_first: Duration::from_millis(1500),
        qr_next: Duration::from_millis(300),
        qr_count: 3,
        starting_chat: Duration::from_millis(50),
        ack_delay: Duration::from_millis(100),
        variant: Variant::Modern,
        modules: Modules::Current,
        decrypt_delay: Duration::from_millis(50),
        ..FakeConfig::default()
    }
}

async fn start(config: FakeConfig) -> (FakeServer, Client) {
    let server = FakeServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the fake starts");
    (server, Client::new())
}

async fn post(
    client: &Client,
    server: &FakeServer,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    send_json(client.post(format!("{}{path}", server.url())).json(&body)).await
}

async fn get(client: &Client, server: &FakeServer, path: &str) -> (StatusCode, Value) {
    send_json(client.get(format!("{}{path}", server.url()))).await
}

/// Registers a page load as the page script does; `send_phone` makes it a `/send` page.
async fn hello(
    client: &Client,
    server: &FakeServer,
    token: Option<&str>,
    send_phone: Option<&str>,
) -> String {
    let (status, body) = post(
        client,
        server,
        "/__fake/page/hello",
        json!({ "token": token, "send_phone": send_phone }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["page"].as_str().expect("page id").to_owned()
}

async fn poll(client: &Client, server: &FakeServer, page: &str) -> Value {
    let (status, view) = get(client, server, &format!("/__fake/page/poll?page={page}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

/// Polls the page until its view satisfies `pick`.
async fn view_until<T>(
    client: &Client,
    server: &FakeServer,
    page: &str,
    what: &str,
    pick: impl Fn(&Value) -> Option<T>,
) -> T {
    eventually(what, || async { pick(&poll(client, server, page).await) }).await
}

fn qr_of(view: &Value) -> Option<(String, bool)> {
    (view["screen"] == "landing" && view["landing"]["mode"] == "qr").then(|| {
        (
            view["landing"]["payload"].as_str().unwrap().to_owned(),
            view["landing"]["expired"].as_bool().unwrap(),
        )
    })
}

/// A page linked to `phone` by a QR scan; returns the page id and its token.
async fn linked_page(client: &Client, server: &FakeServer, phone: &str) -> (String, String) {
    let page = hello(client, server, None, None).await;
    let (payload, _) = view_until(client, server, &page, "a QR", qr_of).await;
    let (status, _) = post(
        client,
        server,
        "/__fake/scan",
        json!({ "qr": payload, "phone": phone }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = view_until(client, server, &page, "the main app", |view| {
        (view["screen"] == "main")
            .then(|| view["app"]["session"]["token"].as_str().unwrap().to_owned())
    })
    .await;
    (page, token)
}

#[tokio::test]
async fn headless_user_agent_is_refused_and_desktop_gets_the_app() {
    let (server, client) = start(fast()).await;
    for path in ["/", "/send?phone=123456&text=hi"] {
        let headless = client
            .get(format!("{}{path}", server.url()))
            .header("user-agent", HEADLESS_UA)
            .send()
            .await
            .unwrap();
        assert_eq!(headless.status(), StatusCode::OK);
        let body = headless.text().await.unwrap();
        assert!(body.contains("WhatsApp works with Google Chrome 85+"));
        assert!(
            !body.contains("<script") && !body.contains("canvas") && !body.contains("progress")
        );

        let desktop = client
            .get(format!("{}{path}", server.url()))
            .header("user-agent", DESKTOP_UA)
            .send()
            .await
            .unwrap();
        assert_eq!(desktop.status(), StatusCode::OK);
        let body = desktop.text().await.unwrap();
        assert!(body.contains("<progress") && body.contains("Loading your chats"));
        assert!(body.contains("/__fake/assets/app.js"));
        assert!(!body.contains("Google Chrome 85+"));
    }
    let script = client
        .get(format!("{}/__fake/assets/app.js", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().await.unwrap().contains("HeadlessChrome"));
    server.shutdown().await;
}

#[tokio::test]
async fn health_answers_and_url_is_loopback() {
    let (server, client) = start(fast()).await;
    assert!(server.url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.url(), format!("http://{}", server.addr()));
    let (status, _) = get(&client, &server, "/__fake/health").await;
    assert_eq!(status, StatusCode::OK);
    let url = server.url();
    server.shutdown().await;
    assert!(
        client
            .get(format!("{url}/__fake/health"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn loading_screen_comes_first() {
    let (server, client) = start(FakeConfig {
        boot_min: Duration::from_secs(30),
        boot_max: Duration::from_secs(30),
        ..fast()
    })
    .await;
    let page = hello(&client, &server, None, None).await;
    assert_eq!(poll(&client, &server, &page).await["screen"], "loading");
    let (status, _) = get(&client, &server, "/__fake/page/poll?page=nosuchpage").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test]
async fn scan_of_an_unknown_payload_is_404() {
    let (server, client) = start(fast()).await;
    let (status, body) = post(
        &client,
        &server,
        "/__fake/scan",
        json!({ "qr": "2@unknown,a,b,c", "phone": "5215512345678" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    server.shutdown().await;
}

#[tokio::test]
async fn payloads_rotate_expire_and_reload() {
    let (server, client) = start(fast()).await;
    let page = hello(&client, &server, None, None).await;
    let (first, expired) = view_until(&client, &server, &page, "a QR", qr_of).await;
    assert!(!expired);
    let body = first
        .strip_prefix("https://wa.me/settings/linked_devices#")
        .unwrap_or(&first);
    assert!(body.starts_with("2@"), "{first}");

    let (second, _) = view_until(&client, &server, &page, "a rotation", |view| {
        qr_of(view).filter(|(payload, _)| *payload != first)
    })
    .await;
    let (status, _) = post(
        &client,
        &server,
        "/__fake/scan",
        json!({ "qr": first, "phone": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "a rotated payload is gone");

    let (dead, _) = view_until(&client, &server, &page, "expiry", |view| {
        qr_of(view).filter(|(_, expired)| *expired)
    })
    .await;
    assert_ne!(dead, first);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/scan",
        json!({ "qr": dead, "phone": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "an expired payload is gone");
    let (still, expired) = qr_of(&poll(&client, &server, &page).await).unwrap();
    assert!(expired);
    assert_eq!(still, dead, "the dead data-ref stays");

    let (status, _) = post(
        &client,
        &server,
        "/__fake/page/restart-qr",
        json!({ "page": page }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (fresh, expired) = qr_of(&poll(&client, &server, &page).await).unwrap();
    assert!(!expired);
    assert!(![&first, &second, &dead].contains(&&fresh));
    let (status, _) = get(
        &client,
        &server,
        &format!("/__fake/page/qr?payload={}", urlencode(&fresh)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = post(
        &client,
        &server,
        "/__fake/scan",
        json!({ "qr": fresh, "phone": "+5215512345678" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let wid = view_until(&client, &server, &page, "the main app", |view| {
        (view["screen"] == "main").then(|| view["app"]["session"].clone())
    })
    .await;
    assert_eq!(wid["key"], "last-wid-md");
    let wid = wid["wid"].as_str().unwrap();
    assert!(
        wid.starts_with("5215512345678:") && wid.ends_with("@c.us"),
        "{wid}"
    );
    let (status, _) = post(
        &client,
        &server,
        "/__fake/scan",
        json!({ "qr": fresh, "phone": "5215512345678" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "a page that is linked no longer shows its QR"
    );
    server.shutdown().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn payloads_are_unique_across_pages() {
    let (server, client) = start(fast()).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let page = hello(&client, &server, None, None).await;
        let (payload, _) = view_until(&client, &server, &page, "a QR", qr_of).await;
        assert!(seen.insert(payload));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_token_brings_a_new_page_load_back_linked_until_unlinked() {
    let (server, client) = start(fast()).await;
    let (page, token) = linked_page(&client, &server, "111222333").await;
    let again = hello(&client, &server, Some(&token), None).await;
    view_until(&client, &server, &again, "the main app", |view| {
        (view["screen"] == "main").then_some(())
    })
    .await;

    let (status, _) = post(
        &client,
        &server,
        "/__fake/unlink",
        json!({ "phone": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(poll(&client, &server, &page).await["screen"], "logout");
    let (status, body) = post(
        &client,
        &server,
        "/__fake/page/hello",
        json!({ "token": token, "send_phone": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["stale_token"], true);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/unlink",
        json!({ "phone": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_numbers_and_sent_messages() {
    let (server, client) = start(fast()).await;
    let (_, token) = linked_page(&client, &server, "5215512345678").await;

    let (status, _) = post(
        &client,
        &server,
        "/__fake/invalid-numbers",
        json!({ "numbers": ["5215500000000"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let invalid = hello(&client, &server, Some(&token), Some("5215500000000")).await;
    let app = view_until(&client, &server, &invalid, "the invalid dialog", |view| {
        (view["screen"] == "main").then(|| view["app"].clone())
    })
    .await;
    assert_eq!(app["dialog"], "invalid");
    assert!(app["open"].is_null());

    let page = hello(&client, &server, Some(&token), Some("5215587654321")).await;
    let app = view_until(&client, &server, &page, "the chat", |view| {
        (view["screen"] == "main").then(|| view["app"].clone())
    })
    .await;
    assert_eq!(app["open"]["jid"], "5215587654321@c.us");
    assert!(app["dialog"].is_null());

    let (status, sent) = get(&client, &server, "/__fake/sent?from=5215512345678").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sent, json!([]));
    let mut ids = Vec::new();
    for text in ["first", "second"] {
        let (status, answer) = post(
            &client,
            &server,
            "/__fake/page/send",
            json!({ "page": page, "jid": "5215587654321@c.us", "text": text }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let id = answer["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("3EB0") && id.len() == 20, "{id}");
        ids.push(id);
    }
    let sent = eventually("both messages sent", || async {
        let (_, sent) = get(&client, &server, "/__fake/sent?from=5215512345678").await;
        (sent.as_array().unwrap().len() == 2).then_some(sent)
    })
    .await;
    for (entry, (id, text)) in sent
        .as_array()
        .unwrap()
        .iter()
        .zip(ids.iter().zip(["first", "second"]))
    {
        assert_eq!(entry["id"], id.as_str());
        assert_eq!(entry["to"], "5215587654321");
        assert_eq!(entry["text"], text);
        assert!(
            entry["at"].as_u64().unwrap() > 1_600_000_000_000,
            "at is Unix ms"
        );
        assert!(
            ["pending", "sent"].contains(&entry["status"].as_str().unwrap()),
            "{entry}"
        );
    }
    let app = view_until(&client, &server, &page, "the Sent labels", |view| {
        let messages = view["app"]["open"]["messages"].as_array()?;
        messages
            .iter()
            .all(|m| m["status"] == "Sent")
            .then(|| view["app"].clone())
    })
    .await;
    assert_eq!(
        app["open"]["messages"][0]["data_id"],
        format!("true_5215587654321@c.us_{}", ids[0])
    );
    let (_, other) = get(&client, &server, "/__fake/sent?from=999999").await;
    assert_eq!(other, json!([]));

    let (status, _) = post(
        &client,
        &server,
        "/__fake/ack",
        json!({ "id": ids[0], "status": "delivered" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/ack",
        json!({ "id": ids[1], "status": "read" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let statuses = poll(&client, &server, &page).await["app"]["open"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].clone())
        .collect::<Vec<_>>();
    assert_eq!(statuses, vec![json!("Delivered"), json!("Read")]);
    server.shutdown().await;
}

/// A slow " Pending " does not hide a message from `/__fake/sent`, and a late row shows in the
/// chat right before the next send, already " Sent ", and survives a new page load.
#[tokio::test]
async fn received_messages_are_listed_while_pending_and_late_rows_come_first() {
    let (server, client) = start(FakeConfig {
        ack_delay: Duration::from_secs(60),
        ..fast()
    })
    .await;
    let (_, token) = linked_page(&client, &server, "111222333").await;
    let (status, _) = post(
        &client,
        &server,
        "/__fake/late-row",
        json!({ "from": "999", "to": "444555666", "text": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/late-row",
        json!({ "from": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, late) = post(
        &client,
        &server,
        "/__fake/late-row",
        json!({ "from": "111222333", "to": 444555666, "text": "typed on the phone" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let late = late["id"].as_str().unwrap().to_owned();

    let page = hello(&client, &server, Some(&token), Some("444555666")).await;
    view_until(&client, &server, &page, "the chat", |view| {
        (view["app"]["open"]["jid"] == "444555666@c.us").then_some(())
    })
    .await;
    let (status, answer) = post(
        &client,
        &server,
        "/__fake/page/send",
        json!({ "page": page, "jid": "444555666@c.us", "text": "ours" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ours = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(answer["before"].as_array().unwrap().len(), 1);
    assert_eq!(
        answer["before"][0]["data_id"],
        format!("true_444555666@c.us_{late}")
    );
    let (_, sent) = get(&client, &server, "/__fake/sent?from=111222333").await;
    let sent: Vec<(String, String)> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap().into(),
                m["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("typed on the phone".to_string(), "sent".to_string()),
            ("ours".to_string(), "pending".to_string())
        ]
    );

    let reloaded = hello(&client, &server, Some(&token), Some("444555666")).await;
    let rows = view_until(&client, &server, &reloaded, "the chat again", |view| {
        view["app"]["open"]["messages"].as_array().cloned()
    })
    .await;
    let rows: Vec<(String, String)> = rows
        .iter()
        .map(|m| {
            (
                m["data_id"].as_str().unwrap().into(),
                m["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (format!("true_444555666@c.us_{late}"), "Sent".to_string()),
            (format!("true_444555666@c.us_{ours}"), "Pending".to_string())
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn incoming_needs_a_linked_account() {
    let (server, client) = start(fast()).await;
    let incoming = json!({ "to": "111222333", "from": "444555666", "name": "Ann", "text": "hi" });
    let (status, _) = post(&client, &server, "/__fake/incoming", incoming.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (page, _) = linked_page(&client, &server, "111222333").await;
    let (status, answer) = post(&client, &server, "/__fake/incoming", incoming).await;
    assert_eq!(status, StatusCode::OK);
    let id = answer["id"].as_str().unwrap().to_owned();
    let chats = poll(&client, &server, &page).await["app"]["chats"].clone();
    assert_eq!(chats[0]["jid"], "444555666@c.us");
    assert_eq!(chats[0]["name"], "Ann");
    assert_eq!(chats[0]["unread"], 1);

    let (status, _) = post(
        &client,
        &server,
        "/__fake/page/open",
        json!({ "page": page, "jid": "444555666@c.us" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let app = poll(&client, &server, &page).await["app"].clone();
    assert_eq!(app["chats"][0]["unread"], 0);
    assert_eq!(
        app["open"]["messages"][0]["data_id"],
        format!("false_444555666@c.us_{id}")
    );
    assert_eq!(app["open"]["messages"][0]["sender"], "Ann");
    server.shutdown().await;
}

#[tokio::test]
async fn ack_conflict_and_link_code_of_unknowns_are_404() {
    let (server, client) = start(fast()).await;
    let (status, _) = post(
        &client,
        &server,
        "/__fake/ack",
        json!({ "id": "3EB0000000000000FFFF", "status": "read" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/ack",
        json!({ "id": "3EB0000000000000FFFF", "status": "seen" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/conflict",
        json!({ "phone": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &client,
        &server,
        "/__fake/link-code",
        json!({ "code": "ABCDEFGH", "phone": "111222333" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test]
async fn conflict_reaches_the_linked_page() {
    let (server, client) = start(fast()).await;
    let (page, _) = linked_page(&client, &server, "111222333").await;
    let (status, _) = post(
        &client,
        &server,
        "/__fake/conflict",
        json!({ "phone": 111222333 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        poll(&client, &server, &page).await["app"]["dialog"],
        "conflict"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pairing_code_links_the_page() {
    let (server, client) = start(fast()).await;
    let page = hello(&client, &server, None, None).await;
    view_until(&client, &server, &page, "a QR", qr_of).await;
    let (status, _) = post(
        &client,
        &server,
        "/__fake/page/phone-login",
        json!({ "page": page }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        poll(&client, &server, &page).await["landing"]["mode"],
        "phone"
    );
    let (status, answer) = post(
        &client,
        &server,
        "/__fake/page/request-code",
        json!({ "page": page, "phone": "5215512345678" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = answer["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    assert_eq!(
        poll(&client, &server, &page).await["landing"]["code"],
        code.as_str()
    );
    let (status, _) = post(
        &client,
        &server,
        "/__fake/link-code",
        json!({ "code": code, "phone": "5215512345678" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    view_until(&client, &server, &page, "the main app", |view| {
        (view["screen"] == "main").then_some(())
    })
    .await;
    let (status, _) = post(
        &client,
        &server,
        "/__fake/link-code",
        json!({ "code": code, "phone": "5215512345678" }),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_json_is_400_everywhere() {
    let (server, client) = start(fast()).await;
    for path in [
        "/__fake/scan",
        "/__fake/link-code",
        "/__fake/unlink",
        "/__fake/conflict",
        "/__fake/incoming",
        "/__fake/invalid-numbers",
        "/__fake/ack",
        "/__fake/page/send",
        "/__fake/page/seen",
    ] {
        for body in ["{not json", "[]", r#"{"unexpected": true}"#] {
            let response = client
                .post(format!("{}{path}", server.url()))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{path} with {body}"
            );
            let answer: Value = response.json().await.unwrap();
            assert!(answer["error"].is_string(), "{path}: {answer}");
        }
    }
    let (status, _) = post(
        &client,
        &server,
        "/__fake/scan",
        json!({ "qr": "2@x", "phone": "not digits" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&client, &server, "/__fake/sent").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

#[tokio::test]
async fn stats_chats_seen_and_exists() {
    let (server, client) = start(fast()).await;
    let (page, _) = linked_page(&client, &server, "111222333").await;
    for from in ["444555666", "555666777"] {
        let (status, _) = post(
            &client,
            &server,
            "/__fake/incoming",
            json!({ "to": "111222333", "from": from, "name": "Ann", "text": "hi" }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, stats) = get(&client, &server, "/__fake/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stats,
        json!({ "page_loads": 1, "send_seen": 0, "chats_opened": 0 })
    );

    let (status, answer) = post(
        &client,
        &server,
        "/__fake/page/seen",
        json!({ "page": page, "jid": "444555666@c.us" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = post(
        &client,
        &server,
        "/__fake/page/open",
        json!({ "page": page, "jid": "555666777@c.us" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, chats) = get(&client, &server, "/__fake/chats?phone=111222333").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        chats,
        json!([
            { "jid": "555666777@c.us", "name": "Ann", "unread": 0, "opened": 1, "seen": 0 },
            { "jid": "444555666@c.us", "name": "Ann", "unread": 0, "opened": 0, "seen": 1 },
        ])
    );
    let (_, stats) = get(&client, &server, "/__fake/stats").await;
    assert_eq!(
        stats,
        json!({ "page_loads": 1, "send_seen": 1, "chats_opened": 1 })
    );
    let (status, _) = get(&client, &server, "/__fake/chats?phone=999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(&client, &server, "/__fake/chats?phone=12ab").await;
    assert_bad_request(status, &body, "a bad number");
    let (status, body) = get(&client, &server, "/__fake/chats").await;
    assert_bad_request(status, &body, "no number");

    let (status, _) = post(
        &client,
        &server,
        "/__fake/invalid-numbers",
        json!({ "numbers": ["999888777"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for (phone, exists) in [
        ("444555666", true),
        ("777888999", true),
        ("999888777", false),
        ("1234", false),
    ] {
        let (status, answer) = get(
            &client,
            &server,
            &format!("/__fake/page/exists?page={page}&phone={phone}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, json!({ "exists": exists }), "{phone}");
    }
    let (status, _) = get(
        &client,
        &server,
        "/__fake/page/exists?page=nosuchpage&phone=444555666",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(
        &client,
        &server,
        &format!("/__fake/page/exists?page={page}"),
    )
    .await;
    assert_bad_request(status, &body, "exists without a phone");
    server.shutdown().await;
}

#[tokio::test]
async fn modules_drop_and_restore_for_later_page_loads() {
    let (server, client) = start(FakeConfig {
        modules: Modules::Older,
        ..fast()
    })
    .await;
    let (status, hello) = post(
        &client,
        &server,
        "/__fake/page/hello",
        json!({ "token": null, "send_phone": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hello["modules"], "older");
    assert_eq!(hello["missing"], json!([]));
    assert_eq!(hello["decrypt_delay_ms"], 50);

    let (status, answer) = post(
        &client,
        &server,
        "/__fake/modules",
        json!({ "drop": ["WAWebQueryExistsJob", "WAWebCollections"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({ "missing": ["WAWebCollections", "WAWebQueryExistsJob"] })
    );
    let (_, hello) = post(
        &client,
        &server,
        "/__fake/page/hello",
        json!({ "token": null, "send_phone": null }),
    )
    .await;
    assert_eq!(hello["missing"], answer["missing"]);
    let (status, answer) = post(
        &client,
        &server,
        "/__fake/modules",
        json!({ "restore": ["WAWebCollections"] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "missing": ["WAWebQueryExistsJob"] }));

    for body in [
        json!({ "drop": ["WAWebNoSuchModule"] }),
        json!({ "drop": "WAWebCmd" }),
        json!({ "unexpected": true }),
    ] {
        let (status, answer) = post(&client, &server, "/__fake/modules", body.clone()).await;
        assert_bad_request(status, &answer, &body.to_string());
    }
    let response = client
        .post(format!("{}/__fake/modules", server.url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, answer) = post(&client, &server, "/__fake/modules", json!({})).await;
    assert_eq!(answer, json!({ "missing": ["WAWebQueryExistsJob"] }));
    let (_, stats) = get(&client, &server, "/__fake/stats").await;
    assert_eq!(stats["page_loads"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn group_messages_arrive_in_the_group_chat() {
    let (server, client) = start(fast()).await;
    let (page, _) = linked_page(&client, &server, "111222333").await;
    let (status, answer) = post(
        &client,
        &server,
        "/__fake/incoming",
        json!({
            "to": "111222333", "from": "444555666", "name": "Ann", "text": "hi all",
            "group": "120363000000000001", "group_name": "Friends",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = answer["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        &client,
        &server,
        "/__fake/page/open",
        json!({ "page": page, "jid": "120363000000000001@g.us" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let app = poll(&client, &server, &page).await["app"].clone();
    assert_eq!(app["chats"][0]["jid"], "120363000000000001@g.us");
    assert_eq!(app["chats"][0]["name"], "Friends");
    assert_eq!(
        app["open"]["messages"][0]["data_id"],
        format!("false_120363000000000001@g.us_{id}_444555666@c.us")
    );
    assert_eq!(app["open"]["messages"][0]["sender"], "Ann");
    let item = &app["feed"][0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["chat"], "120363000000000001@g.us");
    assert_eq!(item["author"], "444555666@c.us");
    assert_eq!(item["name"], "Ann");
    assert_eq!(item["kind"], "chat");
    assert_eq!(item["from_me"], false);
    assert_eq!(item["ack"], 0);
    assert_eq!(item["new"], true);
    assert!(item["seq"].as_u64().unwrap() > 0);
    assert!(item["at"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(app["me"], "111222333");

    let (status, _) = post(
        &client,
        &server,
        "/__fake/incoming",
        json!({ "to": "111222333", "from": "444555666", "text": "plain" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let app = poll(&client, &server, &page).await["app"].clone();
    assert_eq!(app["chats"][0]["jid"], "444555666@c.us");
    assert!(app["feed"][1]["author"].is_null());

    for body in [
        json!({ "to": "111222333", "from": "444555666", "text": "x", "group": "12ab" }),
        json!({ "to": "111222333", "from": "444555666", "text": "x", "group_name": "No group" }),
    ] {
        let (status, answer) = post(&client, &server, "/__fake/incoming", body.clone()).await;
        assert_bad_request(status, &answer, &body.to_string());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_send_with_a_client_id_is_listed_once() {
    let (server, client) = start(fast()).await;
    let (page, _) = linked_page(&client, &server, "111222333").await;
    let send = json!({
        "page": page, "jid": "444555666@c.us", "text": "only once", "id": "3EB00123456789ABCDEF",
    });
    for _ in 0..2 {
        let (status, answer) = post(&client, &server, "/__fake/page/send", send.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer,
            json!({ "id": "3EB00123456789ABCDEF", "before": [] })
        );
    }
    let (_, sent) = get(&client, &server, "/__fake/sent?from=111222333").await;
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], "3EB00123456789ABCDEF");
    assert_eq!(sent[0]["text"], "only once");
    let feed = eventually("the Sent ack in the feed", || async {
        let feed = poll(&client, &server, &page).await["app"]["feed"].clone();
        (feed[0]["ack"] == 1).then_some(feed)
    })
    .await;
    assert_eq!(feed.as_array().unwrap().len(), 1);
    assert_eq!(feed[0]["from_me"], true);
    assert!(feed[0]["name"].is_null());

    let (status, answer) = post(
        &client,
        &server,
        "/__fake/page/send",
        json!({ "page": page, "jid": "444555666@c.us", "text": "x", "id": "not_an_id" }),
    )
    .await;
    assert_bad_request(status, &answer, "an id with an underscore");
    server.shutdown().await;
}

#[tokio::test]
async fn phone_page_lists_the_qr_on_show() {
    let (server, client) = start(fast()).await;
    let html = client
        .get(format!("{}/__fake/phone", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        html.text()
            .await
            .unwrap()
            .contains("/__fake/assets/phone.js")
    );
    let page = hello(&client, &server, None, None).await;
    let (payload, _) = view_until(&client, &server, &page, "a QR", qr_of).await;
    let (status, state) = get(&client, &server, "/__fake/phone/state").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["qrs"][0]["payload"], payload.as_str());
    server.shutdown().await;
}

#[test]
fn binary_prints_its_address_and_stops_on_sigterm() {
    let mut binary = Binary::start(&[
        "--boot-min-ms",
        "0",
        "--variant",
        "legacy",
        "--modules",
        "none",
        "--decrypt-delay-ms",
        "0",
    ]);
    let url = &binary.url;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let health = runtime.block_on(async {
        reqwest::get(format!("{url}/__fake/health"))
            .await
            .map(|r| r.status())
    });
    assert_eq!(health.unwrap(), StatusCode::OK);
    let killed = Command::new("kill")
        .args(["-TERM", &binary.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = binary.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "the binary did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}
