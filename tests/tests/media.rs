//! Media end to end, with real Chromium against the fake WhatsApp Web: files sent by base64,
//! multipart and URL reach WhatsApp once with their bytes and caption, a URL wamux may not
//! fetch is refused before anything is fetched, a received image is stored and served with the
//! bytes the phone sent, and a media message whose worker dies mid-send goes out once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wamux_e2e::webhook_receiver::Receiver;
use wamux_e2e::*;

const PHONE: &str = "5215570000001";
const TO: &str = "5215570000002";

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small PNG, different for each `seed`.
fn png(seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 4, 4);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let pixels: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(seed)).collect();
        writer.write_image_data(&pixels).unwrap();
    }
    out
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// What the fake's account sent, oldest first.
async fn sent(fake: &FakeServer) -> Vec<Value> {
    fake_get(fake, &format!("/__fake/sent?from={PHONE}"))
        .await
        .as_array()
        .expect("a list")
        .clone()
}

async fn send_json(daemon: &Daemon, body: Value, query: &str) -> (u16, Value) {
    daemon
        .post(&format!("/api/sessions/m/send-media{query}"), body)
        .await
}

/// A `multipart/form-data` POST of `phoneNumber`, `caption` and a `file` part.
async fn send_multipart(
    daemon: &Daemon,
    caption: &str,
    filename: &str,
    mimetype: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let boundary = "----wamux-test-7d1f";
    let mut body = Vec::new();
    for (name, value) in [("phoneNumber", TO), ("caption", caption)] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {mimetype}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/api/sessions/m/send-media", daemon.url))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("the daemon answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A loopback HTTP server with one file at `/file.pdf`; counts the requests it got.
async fn file_server(bytes: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/file.pdf",
        axum::routing::get(move || {
            let bytes = bytes.clone();
            let hits = counted.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/pdf")], bytes)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/file.pdf", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn files_by_base64_multipart_and_url_reach_whatsapp_once_with_their_bytes() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::linked(&fake, &["--allow-private-media-urls"], "m", PHONE).await;
    let image = png(7);
    let document = pdf();
    let (url, hits) = file_server(pdf().repeat(3)).await;

    let (code, by_base64) = send_json(
        &daemon,
        json!({"phoneNumber": TO, "caption": "una foto",
               "media": {"mimetype": "image/png", "filename": "foto.png", "base64": B64.encode(&image)}}),
        "",
    )
    .await;
    assert!(code == 200 || code == 202, "{code} {by_base64}");
    let (code, by_multipart) = send_multipart(
        &daemon,
        "el contrato",
        "contrato.pdf",
        "application/pdf",
        &document,
    )
    .await;
    assert!(code == 200 || code == 202, "{code} {by_multipart}");
    let (code, by_url) = send_json(
        &daemon,
        json!({"phoneNumber": TO, "caption": "desde una URL",
               "media": {"mimetype": "application/pdf", "filename": "remoto.pdf", "url": url}}),
        "",
    )
    .await;
    assert!(code == 200 || code == 202, "{code} {by_url}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the URL fetched once");

    for m in [&by_base64, &by_multipart, &by_url] {
        daemon
            .wait_sent("m", m["id"].as_str().expect("an id"))
            .await;
    }
    let sent = sent(&fake).await;
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let expect = [
        ("image", "una foto", "foto.png", sha256(&image)),
        ("document", "el contrato", "contrato.pdf", sha256(&document)),
        (
            "document",
            "desde una URL",
            "remoto.pdf",
            sha256(&pdf().repeat(3)),
        ),
    ];
    for (entry, (kind, caption, filename, hash)) in sent.iter().zip(expect) {
        assert_eq!(entry["type"], kind, "{entry}");
        assert_eq!(entry["caption"], caption, "{entry}");
        assert_eq!(entry["filename"], filename, "{entry}");
        assert_eq!(entry["sha256"], hash.as_str(), "{entry}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_url_is_refused_without_a_fetch_and_a_large_file_is_413() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::linked(&fake, &["--max-media-size", "1K"], "m", PHONE).await;
    let (url, hits) = file_server(pdf()).await;
    let (code, body) = send_json(
        &daemon,
        json!({"phoneNumber": TO, "media": {"mimetype": "application/pdf", "url": url}}),
        "",
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["code"], "media_unavailable", "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing fetched");

    let big = vec![7u8; 2048];
    let (code, body) = send_json(
        &daemon,
        json!({"phoneNumber": TO, "media": {"mimetype": "image/png", "base64": B64.encode(&big)}}),
        "",
    )
    .await;
    assert_eq!(code, 413, "{body}");
    assert_eq!(body["error"]["code"], "media_too_large", "{body}");
    let (code, body) =
        send_multipart(&daemon, "", "big.bin", "application/octet-stream", &big).await;
    assert_eq!(code, 413, "{body}");
    assert!(sent(&fake).await.is_empty(), "nothing went out");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_received_image_is_delivered_with_its_caption_and_served_with_its_bytes() {
    let fake = fake(FakeConfig::default()).await;
    let receiver = Receiver::start().await;
    let daemon = Daemon::linked(&fake, &receiver.flags(), "m", PHONE).await;
    let image = png(11);
    let (code, body) = fake_post(
        &fake,
        "/__fake/incoming",
        json!({"to": PHONE, "from": TO, "name": "Ana", "caption": "mira esto",
               "media": {"type": "image", "mimetype": "image/png", "filename": "mira.png", "base64": B64.encode(&image)}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let got = receiver
        .until("the image delivered", DEADLINE, |got| {
            got.iter().any(|r| r.body["type"] == "message.received")
        })
        .await;
    let event = &got
        .iter()
        .find(|r| r.body["type"] == "message.received")
        .expect("delivered")
        .body["data"];
    assert_eq!(event["messageType"], "image", "{event}");
    assert_eq!(event["caption"], "mira esto", "{event}");
    assert_eq!(event["mimetype"], "image/png", "{event}");
    let media_url = event["mediaUrl"].as_str().expect("a media URL");
    let response = reqwest::get(format!("{}{media_url}", daemon.url))
        .await
        .expect("the daemon answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "image/png"
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(sha256(&bytes), sha256(&image), "the bytes the phone sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_while_a_file_is_sending_sends_it_once_after_its_restart() {
    // " Pending " for a while: WhatsApp has the file, the page does not show it sent yet.
    let fake = fake(FakeConfig {
        ack_delay: Duration::from_secs(6),
        ..FakeConfig::default()
    })
    .await;
    let daemon = Daemon::linked(&fake, &["--send-wait", "1s"], "m", PHONE).await;
    let pid = daemon.detail("m").await["workerPid"]
        .as_u64()
        .expect("a worker") as u32;
    let image = png(23);
    let (code, body) = send_json(
        &daemon,
        json!({"phoneNumber": TO, "caption": "una vez",
               "media": {"mimetype": "image/png", "filename": "una.png", "base64": B64.encode(&image)}}),
        "",
    )
    .await;
    assert_eq!((code, &body["status"]), (202, &json!("sending")), "{body}");
    eventually("WhatsApp to have the file", DEADLINE, || async {
        (!sent(&fake).await.is_empty()).then_some(())
    })
    .await;
    kill9(pid);
    let m = daemon.wait_sent("m", body["id"].as_str().unwrap()).await;
    let sent = sent(&fake).await;
    assert_eq!(sent.len(), 1, "no second copy: {sent:#?}");
    assert_eq!(sent[0]["sha256"], sha256(&image).as_str());
    assert_eq!(m["messageId"], sent[0]["id"]);
}
