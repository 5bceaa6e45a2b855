//! Media messages in process, without a browser: a file sent as base64, as multipart or by URL
//! is kept under its hash before the answer, once per Idempotency-Key, and shown and served
//! with its message; a URL on a private address is never asked unless allowed; files past
//! `--max-media-size` are 413; a file goes with the last message that uses it; an incoming
//! file is taken from the session's `media-in/` only when it is there and hashes right, and
//! a later report brings the file of a message stored without one; housekeeping removes the
//! files no message came to own; only a few bodies are read at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wamux::messaging::inbox::Inbox;
use wamux::messaging::media::{MediaConfig, UNUSED_MAX_AGE, WORKER_FILE_MAX_AGE};
use wamux::messaging::outbox::{OutboxConfig, send_command};
use wamux::messaging::status::MessageStatus;
use wamux_proto::{IncomingMedia, IncomingMessage, MediaKind, SupervisorCommand};

mod common;
use common::{Api, DEFAULT_MEDIA, Options, raw};

/// Bytes that look like a PNG, and differ by `seed`.
fn png(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len.saturating_sub(8)).map(|i| (i as u8).wrapping_mul(31) ^ seed));
    bytes.truncate(len);
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn launch(media: MediaConfig) -> Api {
    Api::launch(Options {
        linked: &["ventas"],
        media: Some(media),
        ..Options::default()
    })
    .await
}

async fn post(
    api: &Api,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", api.url()))
        .header("content-type", content_type)
        .body(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send_json(api: &Api, body: Value, key: Option<&str>) -> (u16, Value) {
    post(
        api,
        "/api/sessions/ventas/send-media?wait=false",
        "application/json",
        body.to_string().into_bytes(),
        key,
    )
    .await
}

fn base64_image(bytes: &[u8], caption: &str) -> Value {
    json!({
        "phoneNumber": "+52 1 55 1234 5678",
        "caption": caption,
        "media": {
            "mimetype": "image/png",
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        },
    })
}

/// A `multipart/form-data` body of text fields and one file part.
fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----wamux-test-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .into_bytes(),
        );
    }
    if let Some((filename, content_type, bytes)) = file {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .into_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").into_bytes());
    (
        format!("multipart/form-data; boundary=\"{boundary}\""),
        body,
    )
}

/// The files kept in `media/`, by name, staged ones aside.
fn kept(api: &Api) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(api.dir.join("media")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".tmp")
        .collect();
    names.sort();
    names
}

fn staged(api: &Api) -> usize {
    std::fs::read_dir(api.dir.join("media/.tmp")).map_or(0, |e| e.count())
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<wamux::sessions::events::Event>,
) -> Value {
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event in time")
        .unwrap();
    serde_json::to_value(event).unwrap()
}

async fn get(api: &Api, path: &str) -> (u16, Value) {
    raw(api, Method::GET, path, None, None).await
}

async fn download(api: &Api, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::get(format!("{}{path}", api.url())).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base64_image_is_kept_by_its_hash_and_a_retry_stores_nothing() {
    let api = launch(DEFAULT_MEDIA).await;
    let bytes = png(1, 3000);
    let request = base64_image(&bytes, "la foto");
    let (status, first) = send_json(&api, request.clone(), Some("photo-1")).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["status"], "queued");
    let id = first["id"].as_str().unwrap().to_owned();
    let sha = sha256(&bytes);
    assert_eq!(kept(&api), [sha.as_str()], "kept under its hash");
    assert_eq!(
        std::fs::read(api.dir.join("media").join(&sha)).unwrap(),
        bytes
    );

    let (status, again) = send_json(&api, request, Some("photo-1")).await;
    assert_eq!((status, &again["id"]), (202, &json!(id)), "{again}");
    let (status, reused) = send_json(&api, base64_image(&bytes, "otra"), Some("photo-1")).await;
    assert_eq!((status, code(&reused)), (422, "idempotency_key_reused"));
    let (_, list) = get(&api, "/api/sessions/ventas/messages").await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(kept(&api), [sha.as_str()], "one file");
    assert_eq!(staged(&api), 0, "nothing left staged");

    let (status, message) = get(&api, &format!("/api/sessions/ventas/messages/{id}")).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["type"], "image");
    assert_eq!(message["direction"], "out");
    assert_eq!(message["to"], "5215512345678");
    assert_eq!(message["text"], "la foto");
    assert_eq!(message["caption"], "la foto");
    assert_eq!(message["mimetype"], "image/png");
    assert_eq!(message["filename"], "image.png", "made up from the type");
    assert_eq!(message["size"], 3000);
    assert_eq!(message["mediaMissing"], Value::Null);
    let url = message["mediaUrl"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/api/sessions/ventas/messages/{id}/media"));
    assert_eq!(&list["messages"][0], &message, "the list shows the same");

    let (status, headers, served) = download(&api, &url).await;
    assert_eq!(status, 200);
    assert_eq!(served, bytes);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"image.png\""),
        "{disposition}"
    );

    // What the worker is handed for it.
    let stored = api
        .parts
        .ctx
        .store
        .message_by_id(id.parse().unwrap())
        .unwrap()
        .unwrap();
    let SupervisorCommand::SendMedia {
        request_id,
        phone_number,
        caption,
        media,
        resume,
    } = send_command(stored)
    else {
        panic!("a media message is sent as one");
    };
    assert_eq!(request_id, id.parse::<u64>().unwrap());
    assert_eq!(
        (phone_number.as_str(), caption.as_str()),
        ("5215512345678", "la foto")
    );
    assert_eq!(
        media.path,
        api.dir.join("media").join(&sha).display().to_string()
    );
    assert_eq!(
        (media.kind, media.size, media.sha256.as_str()),
        (MediaKind::Image, 3000, sha.as_str())
    );
    assert_eq!(
        (media.mimetype.as_str(), media.filename.as_str()),
        ("image/png", "image.png")
    );
    assert_eq!(resume, None);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_pdf_is_accepted_and_a_malformed_form_is_not() {
    let api = launch(DEFAULT_MEDIA).await;
    let send = "/api/sessions/ventas/send-media?wait=false";
    let pdf = b"%PDF-1.4\r\n--not the boundary\r\n%%EOF".to_vec();
    let (content_type, body) = form(
        &[("phoneNumber", "5215512345678"), ("caption", "su factura")],
        Some(("factura marzo.pdf", "application/pdf", &pdf)),
    );
    let (status, sent) = post(&api, send, &content_type, body.clone(), Some("f-1")).await;
    assert_eq!(status, 202, "{sent}");
    let (status, again) = post(&api, send, &content_type, body, Some("f-1")).await;
    assert_eq!((status, &again["id"]), (202, &sent["id"]), "{again}");
    let (_, message) = get(
        &api,
        &format!(
            "/api/sessions/ventas/messages/{}",
            sent["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(message["type"], "document");
    assert_eq!(message["mimetype"], "application/pdf");
    assert_eq!(message["filename"], "factura marzo.pdf");
    assert_eq!(message["caption"], "su factura");
    assert_eq!(kept(&api), [sha256(&pdf)]);
    let (_, headers, served) = download(&api, message["mediaUrl"].as_str().unwrap()).await;
    assert_eq!(served, pdf);
    assert_eq!(headers["content-type"], "application/pdf");

    let (_, without_type) = form(
        &[("phoneNumber", "5215512345678")],
        Some(("notes", "", b"x")),
    );
    let untyped = String::from_utf8(without_type)
        .unwrap()
        .replace("Content-Type: \r\n", "");
    let (status, sent) = post(&api, send, &content_type, untyped.into_bytes(), None).await;
    assert_eq!(status, 202, "a file of no type is a document: {sent}");

    let (_, good) = form(
        &[("phoneNumber", "5215512345678")],
        Some(("a.pdf", "application/pdf", b"x")),
    );
    let good = String::from_utf8(good).unwrap();
    let (no_file_type, no_file) = form(&[("phoneNumber", "5215512345678")], None);
    let (_, empty) = form(
        &[("phoneNumber", "5215512345678")],
        Some(("a.pdf", "application/pdf", b"")),
    );
    let (_, no_phone) = form(&[], Some(("a.pdf", "application/pdf", b"x")));
    for (content_type, body, expected) in [
        (
            content_type.as_str(),
            good.replace("--\r\n", "\r\n").into_bytes(),
            (400, "invalid_body"),
        ),
        (
            content_type.as_str(),
            good.replace("\r\n", "\n").into_bytes(),
            (400, "invalid_body"),
        ),
        (
            content_type.as_str(),
            good.replace("form-data; name=\"file\"", "form-data")
                .into_bytes(),
            (400, "invalid_body"),
        ),
        (no_file_type.as_str(), no_file, (400, "invalid_body")),
        (content_type.as_str(), no_phone, (400, "invalid_body")),
        (content_type.as_str(), empty, (400, "invalid_media")),
        (
            "multipart/form-data",
            good.clone().into_bytes(),
            (400, "invalid_body"),
        ),
        (
            "multipart/form-data; boundary=other",
            good.clone().into_bytes(),
            (400, "invalid_body"),
        ),
        (
            content_type.as_str(),
            good.replace("5215512345678", "12ab").into_bytes(),
            (400, "invalid_phone_number"),
        ),
        (
            content_type.as_str(),
            good.replace("application/pdf", "pdf").into_bytes(),
            (400, "invalid_media"),
        ),
    ] {
        let (status, answer) = post(&api, send, content_type, body, None).await;
        assert_eq!(
            (status, code(&answer)),
            expected,
            "{content_type}: {answer}"
        );
    }
    let (_, list) = get(&api, "/api/sessions/ventas/messages").await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(staged(&api), 0);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let api = launch(DEFAULT_MEDIA).await;
    let image = |media: Value| json!({"phoneNumber": "5215512345678", "media": media});
    let hola = base64::engine::general_purpose::STANDARD.encode("hola");
    for (body, expected) in [
        (
            json!({"phoneNumber": "5215512345678"}),
            (400, "invalid_media"),
        ),
        (
            image(json!({"mimetype": "image/png"})),
            (400, "invalid_media"),
        ),
        (
            image(
                json!({"mimetype": "image/png", "base64": hola, "url": "http://example.com/a.png"}),
            ),
            (400, "invalid_media"),
        ),
        (
            image(json!({"mimetype": "image/png", "base64": "not base64!"})),
            (400, "invalid_media"),
        ),
        (
            image(json!({"mimetype": "image/png", "base64": ""})),
            (400, "invalid_media"),
        ),
        (image(json!({"base64": hola})), (400, "invalid_media")),
        (
            image(json!({"mimetype": "png", "base64": hola})),
            (400, "invalid_media"),
        ),
        (
            image(json!({"mimetype": "image/png", "url": "ftp://example.com/a.png"})),
            (400, "invalid_media"),
        ),
        (
            image(json!({"mimetype": "image/png", "url": "file:///etc/passwd"})),
            (400, "invalid_media"),
        ),
        (
            image(json!({"mimetype": "image/png", "url": "https://example.com/a.png"})),
            (422, "media_unavailable"),
        ),
        (
            json!({"phoneNumber": "123", "media": {"mimetype": "image/png", "base64": hola}}),
            (400, "invalid_phone_number"),
        ),
        (
            json!({"phoneNumber": "5215512345678", "caption": "x".repeat(4097),
                   "media": {"mimetype": "image/png", "base64": hola}}),
            (400, "invalid_caption"),
        ),
        (
            json!({"phoneNumber": "5215512345678", "ttlSeconds": 0,
                   "media": {"mimetype": "image/png", "base64": hola}}),
            (400, "invalid_ttl"),
        ),
        (json!({"media": {}}), (400, "invalid_body")),
    ] {
        let (status, answer) = send_json(&api, body.clone(), None).await;
        assert_eq!(
            (status, code(&answer)),
            expected,
            "{}: {answer}",
            &body.to_string()[..body.to_string().len().min(100)]
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let send = "/api/sessions/ventas/send-media";
    for (content_type, body, expected) in [
        ("application/json", "{not json", (400, "invalid_json")),
        ("text/plain", "hola", (415, "unsupported_media_type")),
        (
            "application/x-www-form-urlencoded",
            "phoneNumber=1",
            (415, "unsupported_media_type"),
        ),
    ] {
        let (status, answer) = post(&api, send, content_type, body.into(), None).await;
        assert_eq!(
            (status, code(&answer)),
            expected,
            "{content_type}: {answer}"
        );
    }
    let (status, answer) = raw(&api, Method::POST, send, None, None).await;
    assert_eq!((status, code(&answer)), (400, "invalid_body"), "{answer}");

    let good = base64_image(b"hola", "");
    let (status, answer) = post(
        &api,
        "/api/sessions/nobody/send-media",
        "application/json",
        good.to_string().into(),
        None,
    )
    .await;
    assert_eq!((status, code(&answer)), (404, "session_not_found"));
    let (status, answer) = raw(
        &api,
        Method::POST,
        "/api/sessions",
        Some(r#"{"sessionId": "fresh"}"#),
        None,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = post(
        &api,
        "/api/sessions/fresh/send-media",
        "application/json",
        good.to_string().into(),
        None,
    )
    .await;
    assert_eq!((status, code(&answer)), (409, "session_not_ready"));

    let (_, list) = get(&api, "/api/sessions/ventas/messages").await;
    assert_eq!(list["messages"], json!([]));
    assert!(kept(&api).is_empty(), "{:?}", kept(&api));
    assert_eq!(staged(&api), 0);
    api.stop().await;
}

/// A web server on loopback with a few files; counts every connection made to it.
struct Files {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Files {
    async fn serve(photo: Vec<u8>, big: Vec<u8>) -> Files {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (photo, big) = (photo.clone(), big.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let (status, extra, body) = match path.as_str() {
                        "/photo.jpg" => ("200 OK", "", photo),
                        "/big.jpg" => ("200 OK", "", big),
                        "/moved" => ("302 Found", "Location: /photo.jpg\r\n", Vec::new()),
                        _ => ("404 Not Found", "", Vec::new()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: image/jpeg\r\n{extra}\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        Files { url, connections }
    }
}

fn by_url(url: &str) -> Value {
    json!({
        "phoneNumber": "5215512345678",
        "caption": "desde la web",
        "media": {"mimetype": "image/jpeg", "url": url, "filename": "foto.jpg"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_is_fetched_only_where_allowed() {
    let max = 1000;
    let photo = png(2, 700);
    let files = Files::serve(photo.clone(), png(3, max + 1)).await;

    let closed = launch(MediaConfig {
        max_size: max as u64,
        allow_private_urls: false,
    })
    .await;
    let port = files.url.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("{}/photo.jpg", files.url),
        format!("http://localhost:{port}/photo.jpg"),
        format!("http://[::ffff:127.0.0.1]:{port}/photo.jpg"),
        format!("http://2130706433:{port}/photo.jpg"),
    ] {
        let (status, answer) = send_json(&closed, by_url(&url), None).await;
        assert_eq!(
            (status, code(&answer)),
            (422, "media_unavailable"),
            "{url}: {answer}"
        );
        let reason = answer["error"]["message"].as_str().unwrap();
        assert!(reason.contains("private"), "{reason}");
    }
    assert_eq!(
        files.connections.load(Ordering::SeqCst),
        0,
        "the server was never reached"
    );
    let (_, list) = get(&closed, "/api/sessions/ventas/messages").await;
    assert_eq!(list["messages"], json!([]));
    closed.stop().await;

    let open = launch(MediaConfig {
        max_size: max as u64,
        allow_private_urls: true,
    })
    .await;
    let (status, sent) = send_json(&open, by_url(&format!("{}/photo.jpg", files.url)), None).await;
    assert_eq!(status, 202, "{sent}");
    assert!(files.connections.load(Ordering::SeqCst) >= 1);
    let (_, message) = get(
        &open,
        &format!(
            "/api/sessions/ventas/messages/{}",
            sent["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(message["filename"], "foto.jpg");
    assert_eq!(message["size"], 700);
    assert_eq!(message["type"], "image");
    assert_eq!(kept(&open), [sha256(&photo)]);

    let (status, moved) = send_json(&open, by_url(&format!("{}/moved", files.url)), None).await;
    assert_eq!(status, 202, "a redirect is followed: {moved}");
    for (path, expected) in [
        ("/big.jpg", (413, "media_too_large")),
        ("/missing.jpg", (422, "media_unavailable")),
    ] {
        let (status, answer) =
            send_json(&open, by_url(&format!("{}{path}", files.url)), None).await;
        assert_eq!((status, code(&answer)), expected, "{path}: {answer}");
    }
    let (status, answer) = send_json(&open, by_url("http://127.0.0.1:9/nothing.jpg"), None).await;
    assert_eq!(
        (status, code(&answer)),
        (422, "media_unavailable"),
        "{answer}"
    );
    assert_eq!(kept(&open), [sha256(&photo)], "one file for both");
    assert_eq!(staged(&open), 0);
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_past_the_limit_are_413_in_every_form() {
    let max = 1000;
    let api = launch(MediaConfig {
        max_size: max as u64,
        allow_private_urls: false,
    })
    .await;
    let (status, sent) = send_json(&api, base64_image(&png(4, max), ""), None).await;
    assert_eq!(status, 202, "exactly the limit: {sent}");
    let (status, answer) = send_json(&api, base64_image(&png(5, max + 1), ""), None).await;
    assert_eq!(
        (status, code(&answer)),
        (413, "media_too_large"),
        "{answer}"
    );
    let (content_type, body) = form(
        &[("phoneNumber", "5215512345678")],
        Some(("a.png", "image/png", &png(6, max + 1))),
    );
    let (status, answer) = post(
        &api,
        "/api/sessions/ventas/send-media",
        &content_type,
        body,
        None,
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (413, "media_too_large"),
        "{answer}"
    );
    // Far past what any form of the largest file takes: refused before it is read whole.
    let (status, answer) = send_json(&api, base64_image(&png(7, 56_000), ""), None).await;
    assert_eq!(
        (status, code(&answer)),
        (413, "media_too_large"),
        "{answer}"
    );
    assert_eq!(kept(&api).len(), 1);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_with_the_last_message_that_uses_it() {
    let api = Api::launch(Options {
        linked: &["ventas"],
        media: Some(DEFAULT_MEDIA),
        outbox: Some(OutboxConfig {
            send_wait: Duration::from_secs(1),
            ttl: Duration::from_secs(3600),
            retention: Duration::from_millis(1),
            interval: None,
            media: DEFAULT_MEDIA,
        }),
        ..Options::default()
    })
    .await;
    let shared = png(8, 500);
    let other = png(9, 500);
    let mut ids = Vec::new();
    for bytes in [&shared, &shared, &other] {
        let (status, sent) = send_json(&api, base64_image(bytes, ""), None).await;
        assert_eq!(status, 202, "{sent}");
        ids.push(sent["id"].as_str().unwrap().parse::<i64>().unwrap());
    }
    let mut expected = vec![sha256(&shared), sha256(&other)];
    expected.sort();
    assert_eq!(kept(&api), expected);

    let store = &api.parts.ctx.store;
    let outbox = &api.parts.ctx.outbox;
    let end = |id: i64| {
        store
            .mark_ended(id, MessageStatus::Failed, "send_failed", "test")
            .unwrap()
            .unwrap();
    };
    // Pruned only once past the retention: poll until the first message is gone.
    end(ids[0]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.message_by_id(ids[0]).unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "never pruned");
        outbox.housekeeping().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(kept(&api), expected, "the second message still uses it");
    end(ids[1]);
    while store.message_by_id(ids[1]).unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "never pruned");
        outbox.housekeeping().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(kept(&api), [sha256(&other)], "gone with its last message");
    assert!(
        store.message_by_id(ids[2]).unwrap().is_some(),
        "a pending message is kept"
    );
    outbox.forget_session("ventas").unwrap();
    assert!(
        kept(&api).is_empty(),
        "a deleted session's files go with it"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_file_is_taken_only_from_its_session_folder_and_when_it_hashes_right() {
    let api = launch(DEFAULT_MEDIA).await;
    let media_in = api.dir.join("sessions/ventas/media-in");
    std::fs::create_dir_all(&media_in).unwrap();
    let inbox = Inbox::new(&api.parts.ctx.store, &api.parts.ctx.events);
    let mut events = api.parts.ctx.events.subscribe();
    let photo = png(10, 2048);
    let write = |name: &str, bytes: &[u8]| {
        let path = media_in.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let incoming = |id: &str, media: IncomingMedia| IncomingMessage {
        message_id: id.into(),
        chat_id: "5215550002222@c.us".into(),
        kind: "image".into(),
        text: "mira".into(),
        media: Some(media),
        ..IncomingMessage::default()
    };
    let reported = |path: &std::path::Path, bytes: &[u8]| IncomingMedia {
        mimetype: Some("image/jpeg".into()),
        filename: Some("foto.jpg".into()),
        path: Some(path.display().to_string()),
        size: Some(bytes.len() as u64),
        sha256: Some(sha256(bytes)),
        missing: None,
    };

    let first = write("in-1", &photo);
    let stored = inbox
        .receive(
            "ventas",
            "ventas",
            incoming("WA-1", reported(&first, &photo)),
        )
        .unwrap()
        .expect("new");
    assert!(!first.exists(), "moved out of media-in");
    assert_eq!(kept(&api), [sha256(&photo)]);
    let event = next_event(&mut events).await;
    assert_eq!(event["type"], "messageReceived");
    assert_eq!(event["caption"], "mira");
    assert_eq!(event["mimetype"], "image/jpeg");
    assert_eq!(event["filename"], "foto.jpg");
    let url = format!("/api/sessions/ventas/messages/{}/media", stored.id);
    assert_eq!(event["mediaUrl"], json!(url));
    assert_eq!(event["mediaMissing"], Value::Null);

    let again = write("in-1-again", &photo);
    assert!(
        inbox
            .receive(
                "ventas",
                "ventas",
                incoming("WA-1", reported(&again, &photo))
            )
            .unwrap()
            .is_none()
    );
    assert!(
        !again.exists(),
        "the copy of a stored message's file is removed"
    );
    let (status, headers, served) = download(&api, &url).await;
    assert_eq!(status, 200);
    assert_eq!(served, photo);
    assert_eq!(headers["content-type"], "image/jpeg");
    let (_, detail) = get(&api, "/api/sessions/ventas/messages/WA-1").await;
    assert_eq!(
        (&detail["type"], &detail["mediaUrl"], &detail["size"]),
        (&json!("image"), &json!(url), &json!(2048))
    );

    let outside_dir = std::env::temp_dir().join(format!("wamux-outside-{}", std::process::id()));
    std::fs::create_dir_all(&outside_dir).unwrap();
    let outside = outside_dir.join("secret");
    std::fs::write(&outside, b"not the worker's").unwrap();
    let link = media_in.join("link");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let forged = write("forged", b"forged bytes");
    for (id, media, why) in [
        ("WA-OUT", reported(&outside, b"not the worker's"), "outside"),
        ("WA-LINK", reported(&link, b"not the worker's"), "outside"),
        (
            "WA-HASH",
            IncomingMedia {
                sha256: Some(sha256(b"other bytes")),
                ..reported(&forged, b"forged bytes")
            },
            "SHA-256",
        ),
        (
            "WA-BIG",
            IncomingMedia {
                path: None,
                sha256: None,
                missing: Some("larger than --max-media-size (16777216 bytes)".into()),
                ..reported(&first, &photo)
            },
            "larger",
        ),
    ] {
        let stored = inbox
            .receive("ventas", "ventas", incoming(id, media))
            .unwrap()
            .expect("stored, without its file");
        let file = stored.media.unwrap();
        assert_eq!(file.path, None, "{id}");
        assert!(
            file.missing.as_deref().unwrap_or("").contains(why),
            "{id}: {:?}",
            file.missing
        );
        let event = next_event(&mut events).await;
        assert_eq!(event["mediaUrl"], Value::Null, "{id}");
        assert!(
            event["mediaMissing"].as_str().unwrap().contains(why),
            "{event}"
        );
        let (status, answer) = get(
            &api,
            &format!("/api/sessions/ventas/messages/{}/media", stored.id),
        )
        .await;
        assert_eq!((status, code(&answer)), (404, "media_not_found"), "{id}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
    assert!(outside.exists(), "a file outside media-in is never removed");
    assert!(!forged.exists(), "a file of the wrong bytes is removed");
    assert_eq!(kept(&api), [sha256(&photo)]);

    let (status, text) = raw(
        &api,
        Method::POST,
        "/api/sessions/ventas/send-message?wait=false",
        Some(r#"{"phoneNumber": "5215512345678", "message": "hola"}"#),
        None,
    )
    .await;
    assert_eq!(status, 202, "{text}");
    let (status, answer) = get(
        &api,
        &format!(
            "/api/sessions/ventas/messages/{}/media",
            text["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!((status, code(&answer)), (404, "media_not_found"));
    let (_, text) = get(
        &api,
        &format!(
            "/api/sessions/ventas/messages/{}",
            text["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(text.get("mediaUrl"), None, "a text has no media fields");
    let (status, answer) = get(&api, "/api/sessions/ventas/messages/WA-NONE/media").await;
    assert_eq!((status, code(&answer)), (404, "message_not_found"));
    std::fs::remove_dir_all(&outside_dir).unwrap();
    api.stop().await;
}

/// Sets the time `path` was last modified to `ago` before now.
fn age(path: &std::path::Path, ago: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - ago)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_removes_the_files_no_message_came_to_own() {
    let api = launch(DEFAULT_MEDIA).await;
    let bytes = png(11, 400);
    let (status, sent) = send_json(&api, base64_image(&bytes, ""), None).await;
    assert_eq!(status, 202, "{sent}");
    let media = api.dir.join("media");
    let past_unused = UNUSED_MAX_AGE + Duration::from_secs(60);
    let used = media.join(sha256(&bytes));
    age(&used, past_unused);
    let write = |path: std::path::PathBuf, ago: Option<Duration>| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"bytes").unwrap();
        if let Some(ago) = ago {
            age(&path, ago);
        }
        path
    };
    // Placed for a message whose commit then failed.
    let orphan = write(media.join(sha256(b"orphan")), Some(past_unused));
    let recent = write(media.join(sha256(b"recent")), None);
    let not_ours = write(media.join("notes.txt"), Some(past_unused));
    let staged_recently = write(media.join(".tmp/0123456789abcdef"), None);

    let past_worker = WORKER_FILE_MAX_AGE + Duration::from_secs(60);
    let within_a_day = WORKER_FILE_MAX_AGE - Duration::from_secs(3600);
    let sessions = api.dir.join("sessions");
    let old_in = write(sessions.join("ventas/media-in/3EB0OLD"), Some(past_worker));
    let old_part = write(
        sessions.join("spare-1/media-in/.3EB0HALF.part"),
        Some(past_worker),
    );
    let new_in = write(sessions.join("ventas/media-in/3EB0NEW"), Some(within_a_day));
    let new_part = write(sessions.join("spare-1/media-in/.3EB0NOW.part"), None);
    let profile = write(sessions.join("ventas/profile/Cookies"), Some(past_worker));

    api.parts.ctx.outbox.housekeeping().unwrap();

    assert!(!orphan.exists(), "a file no message names, placed long ago");
    assert!(
        !old_in.exists() && !old_part.exists(),
        "a worker's, a day old"
    );
    for kept in [
        &used,
        &recent,
        &not_ours,
        &staged_recently,
        &new_in,
        &new_part,
        &profile,
    ] {
        assert!(kept.exists(), "{}", kept.display());
    }
    let mut expected = vec![sha256(&bytes), sha256(b"recent"), "notes.txt".to_owned()];
    expected.sort();
    assert_eq!(kept(&api), expected);
    let (status, _, served) = download(
        &api,
        &format!(
            "/api/sessions/ventas/messages/{}/media",
            sent["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        (status, served),
        (200, bytes),
        "a message's file, however old"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_report_brings_the_file_of_a_message_stored_without_it() {
    let api = launch(DEFAULT_MEDIA).await;
    let media_in = api.dir.join("sessions/ventas/media-in");
    std::fs::create_dir_all(&media_in).unwrap();
    let inbox = Inbox::new(&api.parts.ctx.store, &api.parts.ctx.events);
    let mut events = api.parts.ctx.events.subscribe();
    let photo = png(12, 1500);
    let report = |media: IncomingMedia| IncomingMessage {
        message_id: "WA-LATE".into(),
        chat_id: "5215550002222@c.us".into(),
        kind: "image".into(),
        text: "mira".into(),
        media: Some(media),
        ..IncomingMessage::default()
    };
    let without_bytes = IncomingMedia {
        mimetype: Some("image/jpeg".into()),
        filename: Some("foto.jpg".into()),
        path: None,
        size: Some(1500),
        sha256: None,
        missing: Some("the worker stopped before it had the file".into()),
    };
    let stored = inbox
        .receive("ventas", "ventas", report(without_bytes))
        .unwrap()
        .expect("new");
    assert_eq!(stored.media.as_ref().unwrap().path, None);
    let event = next_event(&mut events).await;
    assert_eq!(event["mediaUrl"], Value::Null);
    let (status, _) = get(
        &api,
        &format!("/api/sessions/ventas/messages/{}/media", stored.id),
    )
    .await;
    assert_eq!(status, 404);

    let with_bytes = |name: &str| {
        let path = media_in.join(name);
        std::fs::write(&path, &photo).unwrap();
        let media = IncomingMedia {
            mimetype: Some("image/jpeg".into()),
            filename: Some("foto.jpg".into()),
            path: Some(path.display().to_string()),
            size: Some(photo.len() as u64),
            sha256: Some(sha256(&photo)),
            missing: None,
        };
        (path, media)
    };
    let (file, media) = with_bytes("late-1");
    assert_eq!(
        inbox.receive("ventas", "ventas", report(media)).unwrap(),
        None,
        "stored before"
    );
    assert!(!file.exists(), "moved out of media-in");
    assert_eq!(kept(&api), [sha256(&photo)]);
    let url = format!("/api/sessions/ventas/messages/{}/media", stored.id);
    let (_, detail) = get(&api, "/api/sessions/ventas/messages/WA-LATE").await;
    assert_eq!(detail["mediaUrl"], json!(url), "{detail}");
    assert_eq!(detail["mediaMissing"], Value::Null);
    assert_eq!(detail["size"], 1500);
    let (status, _, served) = download(&api, &url).await;
    assert_eq!((status, served), (200, photo.clone()));

    let (copy, media) = with_bytes("late-2");
    assert_eq!(
        inbox.receive("ventas", "ventas", report(media)).unwrap(),
        None
    );
    assert!(!copy.exists(), "a copy of the file it has now is removed");
    assert_eq!(kept(&api), [sha256(&photo)]);
    assert!(events.try_recv().is_err(), "told of once, when it came");
    api.stop().await;
}

/// A send-media request on a connection of its own, its body sent but for its last byte.
async fn half_sent(api: &Api, body: &[u8]) -> (tokio::net::TcpStream, u8) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /api/sessions/ventas/send-media?wait=false HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        api.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (last, rest) = body.split_last().unwrap();
    stream.write_all(rest).await.unwrap();
    (stream, *last)
}

/// Sends the last byte of a [`half_sent`] request; answers its status.
async fn finish(mut stream: tokio::net::TcpStream, last: u8) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(&[last]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_few_bodies_are_read_at_once_and_the_others_wait_their_turn() {
    let api = launch(DEFAULT_MEDIA).await;
    // Read whole, each is 400 for its number: nothing is stored.
    let request = |seed| {
        let mut body = base64_image(&png(seed, 2000), "");
        body["phoneNumber"] = json!("12ab");
        body.to_string().into_bytes()
    };
    let mut held = Vec::new();
    for seed in 0..4 {
        held.push(half_sent(&api, &request(20 + seed)).await);
    }
    let probe = || {
        let (url, body) = (api.url(), request(30));
        tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/api/sessions/ventas/send-media?wait=false"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("the API answers");
            response.status().as_u16()
        })
    };
    // The four take their turns as their handlers start; until then a probe may be read.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut waiting = loop {
        let mut next = probe();
        match tokio::time::timeout(Duration::from_millis(300), &mut next).await {
            Ok(status) => {
                assert_eq!(status.unwrap(), 400);
                assert!(
                    std::time::Instant::now() < deadline,
                    "a fifth body is read while four are being read"
                );
            }
            Err(_) => break next,
        }
    };
    let (stream, last) = held.remove(0);
    assert_eq!(finish(stream, last).await, 400);
    let status = tokio::time::timeout(Duration::from_secs(20), &mut waiting)
        .await
        .expect("the waiting request takes the turn given back");
    assert_eq!(status.unwrap(), 400);
    for (stream, last) in held {
        assert_eq!(finish(stream, last).await, 400);
    }
    let (_, list) = get(&api, "/api/sessions/ventas/messages").await;
    assert_eq!(list["messages"], json!([]));
    assert!(kept(&api).is_empty());
    api.stop().await;
}
