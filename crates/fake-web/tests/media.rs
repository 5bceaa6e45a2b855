//! HTTP-level tests of contract section 11 (media) against an in-process fake on port 0: incoming
//! media through the control API, the page's media send and media fetch through the private
//! endpoints the page script uses, `/__fake/sent` for media, and the media flags of the binary.
//! No browser is started here.

mod common;

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use common::{Binary, assert_bad_request, eventually, send_json};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wamux_fake_web::{FakeConfig, FakeServer};

const ME: &str = "111222333";
const ANN: &str = "444555666";

fn fast() -> FakeConfig {
    FakeConfig {
        boot_min: Duration::ZERO,
        boot_max: Duration::ZERO,
        qr_first: Duration::from_secs(30),
        starting_chat: Duration::ZERO,
        ack_delay: Duration::from_millis(100),
        decrypt_delay: Duration::ZERO,
        ..FakeConfig::default()
    }
}

struct Fake {
    server: FakeServer,
    client: Client,
}

impl Fake {
    async fn start() -> Fake {
        let server = FakeServer::start(fast(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the fake starts");
        Fake {
            server,
            client: Client::new(),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        post_to(&self.client, &self.server.url(), path, body).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        send_json(self.client.get(format!("{}{path}", self.server.url()))).await
    }

    /// The bytes and the `Content-Type` of a page's media fetch, or the error status.
    async fn media(&self, page: &str, id: &str) -> Result<(Vec<u8>, String), StatusCode> {
        let response = self
            .client
            .get(format!(
                "{}/__fake/page/media?page={page}&id={id}",
                self.server.url()
            ))
            .send()
            .await
            .expect("request");
        if !response.status().is_success() {
            return Err(response.status());
        }
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        Ok((response.bytes().await.unwrap().to_vec(), content_type))
    }

    async fn poll(&self, page: &str) -> Value {
        let (status, view) = self.get(&format!("/__fake/page/poll?page={page}")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        view
    }

    /// A page load linked to `phone` by a QR scan, showing the main app.
    async fn linked_page(&self, phone: &str) -> String {
        let page = hello(&self.client, &self.server.url()).await["page"]
            .as_str()
            .unwrap()
            .to_owned();
        let payload = eventually("a QR", || async {
            let view = self.poll(&page).await;
            view["landing"]["payload"].as_str().map(str::to_owned)
        })
        .await;
        let (status, answer) = self
            .post("/__fake/scan", &json!({ "qr": payload, "phone": phone }))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        eventually("the main app", || async {
            (self.poll(&page).await["screen"] == "main").then_some(())
        })
        .await;
        page
    }

    /// The page opens its chat with Ann.
    async fn open_chat(&self, page: &str) {
        let (status, answer) = self
            .post(
                "/__fake/page/open",
                &json!({ "page": page, "jid": format!("{ANN}@c.us") }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    async fn sent(&self, from: &str) -> Vec<Value> {
        let (status, sent) = self.get(&format!("/__fake/sent?from={from}")).await;
        assert_eq!(status, StatusCode::OK, "{sent}");
        sent.as_array().expect("a list").clone()
    }
}

async fn post_to(client: &Client, base: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    send_json(client.post(format!("{base}{path}")).json(body)).await
}

async fn hello(client: &Client, base: &str) -> Value {
    let (status, hello) = post_to(
        client,
        base,
        "/__fake/page/hello",
        &json!({ "token": null, "send_phone": null }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hello}");
    hello
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Bytes that are not all alike, so that a shifted or truncated copy shows.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// What the page script posts once the media editor's send is pressed.
fn upload(
    page: &str,
    id: Option<&str>,
    via: &str,
    file: (&str, &str, &[u8]),
    caption: &str,
) -> Value {
    let (filename, mimetype, bytes) = file;
    json!({
        "page": page,
        "jid": format!("{ANN}@c.us"),
        "id": id,
        "via": via,
        "filename": filename,
        "mimetype": mimetype,
        "caption": caption,
        "base64": STANDARD.encode(bytes),
    })
}

#[tokio::test]
async fn incoming_media_arrive_with_their_bytes_for_the_page() {
    let fake = Fake::start().await;
    let page = fake.linked_page(ME).await;
    let photo = noise(5000);
    let (status, answer) = fake
        .post(
            "/__fake/incoming",
            &json!({
                "to": ME, "from": ANN, "name": "Ann", "caption": "look",
                "media": {
                    "type": "image", "mimetype": "image/png", "filename": "cat.png",
                    "base64": STANDARD.encode(&photo),
                },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["id"].as_str().expect("an id").to_owned();

    fake.open_chat(&page).await;
    let app = fake.poll(&page).await["app"].clone();
    let row = &app["open"]["messages"][0];
    assert_eq!(row["data_id"], format!("false_{ANN}@c.us_{id}"));
    assert_eq!(row["text"], "look");
    assert_eq!(
        row["media"],
        json!({ "id": id, "kind": "image", "mimetype": "image/png", "filename": "cat.png", "size": 5000 })
    );
    let item = &app["feed"][0];
    assert_eq!(
        (&item["kind"], &item["text"]),
        (&json!("image"), &json!("look"))
    );
    assert_eq!(item["media"]["mimetype"], "image/png");
    assert_eq!(app["chats"][0]["last"], "look");
    assert_eq!(
        fake.media(&page, &id).await,
        Ok((photo.clone(), "image/png".to_owned()))
    );

    // A voice note without a caption, a document with its name and `text` as its caption.
    let (status, voice) = fake
        .post(
            "/__fake/incoming",
            &json!({ "to": ME, "from": ANN, "media": { "type": "ptt", "base64": "T2dnUw" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{voice}");
    let voice = voice["id"].as_str().unwrap().to_owned();
    assert_eq!(
        fake.media(&page, &voice).await,
        Ok((b"OggS".to_vec(), "audio/ogg; codecs=opus".to_owned()))
    );
    let (status, document) = fake
        .post(
            "/__fake/incoming",
            &json!({
                "to": ME, "from": ANN, "text": "the contract",
                "media": { "type": "document", "mimetype": "application/pdf", "filename": "contract.pdf", "base64": "JVBERi0=" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{document}");
    let rows = fake.poll(&page).await["app"]["open"]["messages"].clone();
    assert_eq!(rows[1]["media"]["kind"], "ptt");
    assert_eq!(rows[1]["text"], "");
    assert_eq!(rows[2]["media"]["kind"], "document");
    assert_eq!(rows[2]["media"]["filename"], "contract.pdf");
    assert_eq!(rows[2]["text"], "the contract");

    // Media fetches are for the account's own pages and media messages.
    let other = fake.linked_page("777888999").await;
    assert_eq!(fake.media(&other, &id).await, Err(StatusCode::NOT_FOUND));
    assert_eq!(
        fake.media(&page, "3A0000").await,
        Err(StatusCode::NOT_FOUND)
    );
    let (status, _) = fake.get(&format!("/__fake/page/media?page={page}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    fake.server.shutdown().await;
}

#[tokio::test]
async fn bad_incoming_media_get_a_json_400_and_unknown_accounts_a_404() {
    let fake = Fake::start().await;
    fake.linked_page(ME).await;
    let media = |kind: &str, mimetype: &str, base64: &str| json!({ "to": ME, "from": ANN, "media": { "type": kind, "mimetype": mimetype, "base64": base64 } });
    for (what, body) in [
        ("bad base64", media("image", "image/png", "not base64!")),
        ("empty bytes", media("image", "image/png", "")),
        (
            "an image that is a pdf",
            media("image", "application/pdf", "YWJj"),
        ),
        (
            "a voice note that is a video",
            media("ptt", "video/mp4", "YWJj"),
        ),
        ("a broken mimetype", media("document", "pdf", "YWJj")),
        ("an unknown type", media("sticker", "image/webp", "YWJj")),
        ("no text and no media", json!({ "to": ME, "from": ANN })),
        (
            "a caption without media",
            json!({ "to": ME, "from": ANN, "text": "x", "caption": "y" }),
        ),
    ] {
        let (status, answer) = fake.post("/__fake/incoming", &body).await;
        assert_bad_request(status, &answer, what);
    }
    let (status, answer) = fake
        .post(
            "/__fake/incoming",
            &json!({ "to": "999", "from": ANN, "media": { "type": "image", "base64": "YWJj" } }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    fake.server.shutdown().await;
}

#[tokio::test]
async fn a_page_send_of_media_is_listed_with_its_hash_once() {
    let fake = Fake::start().await;
    let page = fake.linked_page(ME).await;
    let photo = noise(3000);
    let id = "3EB0AAAABBBBCCCCDDDD";
    let send = upload(
        &page,
        Some(id),
        "photos",
        ("cat.png", "image/png", &photo),
        " a cat ",
    );
    for _ in 0..2 {
        let (status, answer) = fake.post("/__fake/page/send-media", &send).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer,
            json!({
                "id": id, "before": [],
                "media": { "id": id, "kind": "image", "mimetype": "image/png", "filename": "cat.png", "size": 3000 },
            })
        );
    }
    let sent = fake.sent(ME).await;
    assert_eq!(sent.len(), 1, "the same id is taken once: {sent:?}");
    let entry = &sent[0];
    assert_eq!(entry["id"], id);
    assert_eq!(entry["to"], ANN);
    assert_eq!(entry["type"], "image");
    assert_eq!(entry["caption"], "a cat");
    assert_eq!(entry["text"], "a cat");
    assert_eq!(entry["filename"], "cat.png");
    assert_eq!(entry["mimetype"], "image/png");
    assert_eq!(entry["size"], 3000);
    assert_eq!(entry["sha256"], sha256_hex(&photo));
    assert_eq!(
        fake.media(&page, id).await,
        Ok((photo, "image/png".to_owned()))
    );

    // Through the document input an image is a document; a page-less id comes from the fake.
    let (status, answer) = fake
        .post(
            "/__fake/page/send-media",
            &upload(
                &page,
                None,
                "document",
                ("cat.png", "image/png", b"png"),
                "",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["media"]["kind"], "document");
    let document = answer["id"].as_str().unwrap().to_owned();
    assert!(document.starts_with("3EB0"), "{document}");
    let (status, _) = fake
        .post(
            "/__fake/page/send",
            &json!({ "page": page, "jid": format!("{ANN}@c.us"), "text": "and a text" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sent = fake.sent(ME).await;
    assert_eq!(sent[1]["type"], "document");
    assert_eq!(sent[1]["caption"], "");
    assert_eq!(sent[1]["sha256"], sha256_hex(b"png"));
    assert_eq!(sent[2]["type"], "chat");
    assert_eq!(sent[2]["text"], "and a text");
    for field in ["caption", "filename", "size", "sha256"] {
        assert!(
            sent[2].get(field).is_none(),
            "a text has no {field}: {}",
            sent[2]
        );
    }

    // The rows show the files and go " Sent " as texts do; the feed gives the models' types.
    fake.open_chat(&page).await;
    let app = eventually("the Sent labels", || async {
        let app = fake.poll(&page).await["app"].clone();
        let rows = app["open"]["messages"].as_array()?.clone();
        rows.iter().all(|m| m["status"] == "Sent").then_some(app)
    })
    .await;
    let rows = &app["open"]["messages"];
    assert_eq!(rows[0]["data_id"], format!("true_{ANN}@c.us_{id}"));
    assert_eq!(rows[0]["media"]["kind"], "image");
    assert_eq!(rows[1]["media"]["filename"], "cat.png");
    assert!(rows[2]["media"].is_null());
    let kinds: Vec<&Value> = app["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["kind"])
        .collect();
    assert_eq!(kinds, [&json!("image"), &json!("document"), &json!("chat")]);
    assert_eq!(app["feed"][0]["ack"], 1);
    let (status, _) = fake
        .post("/__fake/ack", &json!({ "id": id, "status": "read" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fake.sent(ME).await[0]["status"], "read");
    fake.server.shutdown().await;
}

#[tokio::test]
async fn a_bad_page_upload_is_refused_with_a_json_400() {
    let fake = Fake::start().await;
    let page = fake.linked_page(ME).await;
    let mut no_base64 = upload(&page, None, "photos", ("a.png", "image/png", b"x"), "");
    no_base64.as_object_mut().unwrap().remove("base64");
    for (what, body) in [
        (
            "a pdf through the photos input",
            upload(
                &page,
                None,
                "photos",
                ("a.pdf", "application/pdf", b"%PDF"),
                "",
            ),
        ),
        (
            "an unknown type through the photos input",
            upload(&page, None, "photos", ("a", "", b"x"), ""),
        ),
        (
            "an unknown input",
            upload(&page, None, "camera", ("a.png", "image/png", b"x"), ""),
        ),
        (
            "an empty file",
            upload(&page, None, "document", ("a.txt", "text/plain", b""), ""),
        ),
        (
            "no file name",
            upload(&page, None, "document", ("", "text/plain", b"x"), ""),
        ),
        (
            "a bad id",
            upload(
                &page,
                Some("3EB0_X"),
                "document",
                ("a.txt", "text/plain", b"x"),
                "",
            ),
        ),
        ("no bytes", no_base64),
    ] {
        let (status, answer) = fake.post("/__fake/page/send-media", &body).await;
        assert_bad_request(status, &answer, what);
    }
    let mut bad = upload(&page, None, "document", ("a.txt", "text/plain", b"x"), "");
    bad["base64"] = json!("***");
    let (status, answer) = fake.post("/__fake/page/send-media", &bad).await;
    assert_bad_request(status, &answer, "bad base64");
    assert!(fake.sent(ME).await.is_empty(), "nothing was taken");
    let (status, _) = fake
        .post(
            "/__fake/page/send-media",
            &upload(
                "nopage",
                None,
                "document",
                ("a.txt", "text/plain", b"x"),
                "",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    fake.server.shutdown().await;
}

/// A file above WhatsApp's old 16 MiB media limit goes both ways whole.
#[tokio::test]
async fn files_above_16_mib_go_through() {
    let fake = Fake::start().await;
    let page = fake.linked_page(ME).await;
    let video = noise(17 * 1024 * 1024);
    let (status, answer) = fake
        .post(
            "/__fake/page/send-media",
            &upload(
                &page,
                None,
                "photos",
                ("big.mp4", "video/mp4", &video),
                "big",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sent = fake.sent(ME).await;
    assert_eq!(sent[0]["type"], "video");
    assert_eq!(sent[0]["size"], video.len());
    assert_eq!(sent[0]["sha256"], sha256_hex(&video));

    let (status, answer) = fake
        .post(
            "/__fake/incoming",
            &json!({
                "to": ME, "from": ANN,
                "media": { "type": "document", "filename": "big.bin", "base64": STANDARD.encode(&video) },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let (bytes, _) = fake.media(&page, id).await.expect("the bytes");
    assert!(bytes == video, "the bytes came back changed");
    fake.server.shutdown().await;
}

/// The binary's media flags reach the page script (its hello answer).
#[tokio::test]
async fn media_flags_reach_the_page() {
    let client = Client::new();
    for (args, expected) in [
        (
            vec![],
            json!({ "attach": "plus-rounded", "photo_accept": "full", "caption_label": "aria-label", "send": "label" }),
        ),
        (
            vec![
                "--attach",
                "title",
                "--photo-accept",
                "image",
                "--caption-label",
                "aria-placeholder",
                "--media-send",
                "wds",
            ],
            json!({ "attach": "title", "photo_accept": "image", "caption_label": "aria-placeholder", "send": "wds" }),
        ),
        (
            vec!["--variant", "legacy", "--media-send", "send"],
            json!({ "attach": "clip", "photo_accept": "full", "caption_label": "aria-label", "send": "send" }),
        ),
        (
            vec!["--attach", "attach-menu-plus"],
            json!({ "attach": "attach-menu-plus", "photo_accept": "full", "caption_label": "aria-label", "send": "label" }),
        ),
    ] {
        let binary = Binary::start(&args);
        assert_eq!(
            hello(&client, &binary.url).await["media"],
            expected,
            "{args:?}"
        );
    }
}
