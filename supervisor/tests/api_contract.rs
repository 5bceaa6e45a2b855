//! The API's edges, in process and without a browser: every route answers its documented
//! errors and never a 500, the API key guards every `/api` route, and the OpenAPI document
//! matches the router. The daemon is assembled as `wamux serve` assembles it and served on a
//! loopback port (`common`); its sessions have no worker binary to start, so nothing is spawned.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wamux::messaging::inbox::Inbox;
use wamux_proto::{EnginePath, Engines, IncomingMessage};

mod common;
use common::{Api, Options, raw};

impl Api {
    async fn start(api_key: Option<&'static str>) -> Api {
        Api::launch(Options {
            api_key,
            ..Options::default()
        })
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        raw(self, Method::GET, path, None, None).await
    }

    async fn create(&self, id: &str) {
        let body = json!({"sessionId": id}).to_string();
        let (status, answer) = raw(self, Method::POST, "/api/sessions", Some(&body), None).await;
        assert_eq!(status, 201, "creating {id}: {answer}");
    }
}

/// A request with exactly these headers and body, through reqwest.
async fn with_headers(
    api: &Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", api.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Writes `head` (request line and headers, as given: no Host unless it says so) and `body` on
/// a new connection, as a client that sets every header itself can; answers the status and the
/// JSON body, if the answer has a length (an event stream has none and is not read).
async fn by_hand(api: &Api, head: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let header_end = loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "the connection closed before the headers: {answer:?}"
        );
        answer.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&answer[..header_end]).to_lowercase();
    let status: u16 = head[9..12].parse().unwrap();
    let Some(length) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|n| n.trim().parse::<usize>().unwrap())
    else {
        return (status, Value::Null);
    };
    while answer.len() < header_end + length {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("the body in time")
            .unwrap();
        assert!(n > 0, "the connection closed inside the body");
        answer.extend_from_slice(&buf[..n]);
    }
    let body = &answer[header_end..header_end + length];
    (status, serde_json::from_slice(body).unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_its_documented_errors() {
    let daemon = Api::start(None).await;
    daemon.create("known").await;
    let doc = daemon.get("/api/openapi.json").await.1;

    for (path, methods) in doc["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            if path.contains("{id}") {
                for (bad, expected) in [
                    ("nobody", (404, "session_not_found")),
                    ("..%2Fx", (400, "invalid_session_id")),
                    (&"a".repeat(65)[..], (400, "invalid_session_id")),
                    ("%C3%B1and%C3%BA", (400, "invalid_session_id")),
                ] {
                    let concrete = path.replace("{id}", bad);
                    let (status, body) =
                        raw(&daemon, method.clone(), &concrete, Some("{}"), None).await;
                    assert_eq!(
                        (status, code(&body)),
                        expected,
                        "{method} {concrete}: {body}"
                    );
                }
            }
        }
    }

    let send = "/api/sessions/known/send-message";
    for (body, expected) in [
        (
            json!({"phoneNumber": "12ab", "message": "x"}).to_string(),
            (400, "invalid_phone_number"),
        ),
        (
            json!({"phoneNumber": "123", "message": "x"}).to_string(),
            (400, "invalid_phone_number"),
        ),
        (
            json!({"phoneNumber": "+52 1 55 1234 5678", "message": ""}).to_string(),
            (400, "invalid_message"),
        ),
        (
            json!({"phoneNumber": "5215512345678", "message": "x".repeat(4097)}).to_string(),
            (400, "invalid_message"),
        ),
        (
            json!({"phoneNumber": "5215512345678"}).to_string(),
            (400, "invalid_body"),
        ),
        ("{not json".to_owned(), (400, "invalid_json")),
        (
            format!(
                "{{\"phoneNumber\": \"1\", \"message\": \"{}\"}}",
                "x".repeat(70_000)
            ),
            (413, "body_too_large"),
        ),
        (
            json!({"phoneNumber": "5215512345678", "message": "hola"}).to_string(),
            (409, "session_not_ready"),
        ),
    ] {
        let (status, answer) = raw(&daemon, Method::POST, send, Some(&body), None).await;
        assert_eq!(
            (status, code(&answer)),
            expected,
            "{}: {answer}",
            &body[..body.len().min(60)]
        );
    }
    for (body, expected) in [
        ("{\"sessionId\": \"../x\"}", (400, "invalid_session_id")),
        ("{\"sessionId\": \"ñandú\"}", (400, "invalid_session_id")),
        ("{\"sessionId\": 5}", (400, "invalid_body")),
        ("{\"sessionId\": \"known\"}", (409, "session_exists")),
        ("[1,", (400, "invalid_json")),
    ] {
        let (status, answer) = raw(&daemon, Method::POST, "/api/sessions", Some(body), None).await;
        assert_eq!((status, code(&answer)), expected, "{body}: {answer}");
    }
    let (status, body) = raw(&daemon, Method::PUT, "/api/sessions", None, None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"));
    let (status, body) = raw(&daemon, Method::GET, "/api/nothing-here", None, None).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) = raw(
        &daemon,
        Method::GET,
        "/api/sessions/known/qr?format=gif",
        None,
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "invalid_format"));
    let (status, body) = raw(&daemon, Method::GET, "/api/events?session=..", None, None).await;
    assert_eq!((status, code(&body)), (400, "invalid_session_id"));
    let (status, body) = raw(
        &daemon,
        Method::GET,
        "/api/events?session=nobody",
        None,
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (404, "session_not_found"));
    let (status, _) = raw(
        &daemon,
        Method::GET,
        "/api/events?session=known",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Still serving after all of that.
    let (status, _) = daemon.get("/health").await;
    assert_eq!(status, 200);
    let (status, body) = daemon.get("/api/sessions/known/status").await;
    assert_eq!((status, &body["sessionId"]), (200, &json!("known")));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_guards_every_api_route() {
    let daemon = Api::start(Some("s3cret")).await;
    let (status, doc) = raw(
        &daemon,
        Method::GET,
        "/api/openapi.json",
        None,
        Some("s3cret"),
    )
    .await;
    assert_eq!(status, 200);
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let guarded = !operation["security"].as_array().unwrap().is_empty();
            assert!(
                guarded || !path.starts_with("/api"),
                "{method} {path} must be guarded"
            );
            let method: Method = method.to_uppercase().parse().unwrap();
            let concrete = path.replace("{id}", "someone");
            for key in [None, Some("wrong"), Some("s3cre"), Some("S3CRET")] {
                let (status, body) = raw(&daemon, method.clone(), &concrete, Some("{}"), key).await;
                if guarded {
                    assert_eq!(
                        (status, code(&body)),
                        (401, "unauthorized"),
                        "{method} {path} with {key:?}"
                    );
                } else {
                    assert_ne!(status, 401, "{method} {path} stays open");
                }
            }
        }
    }
    for open in ["/health", "/ready"] {
        let (status, _) = raw(&daemon, Method::GET, open, None, None).await;
        assert_ne!(status, 401, "{open} stays open");
    }
    let key = Some("s3cret");
    let (status, body) = raw(
        &daemon,
        Method::POST,
        "/api/sessions",
        Some("{\"sessionId\": \"k\"}"),
        key,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for path in [
        "/api/sessions",
        "/api/sessions/k",
        "/api/sessions/k/status",
        "/api/stats",
        "/api/events",
    ] {
        let (status, body) = raw(&daemon, Method::GET, path, None, key).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
    }
    let response = reqwest::Client::new()
        .get(format!("{}/api/sessions", daemon.url()))
        .header("x-api-key", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "X-Api-Key works too");
    let (status, _) = raw(&daemon, Method::DELETE, "/api/sessions/k", None, key).await;
    assert_eq!(status, 200);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let daemon = Api::start(None).await;
    let (status, doc) = daemon.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            documented.push(format!("{} {path}", method.to_uppercase()));
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty())
            );
            // The router serves it: neither the unknown-route nor the wrong-method fallback.
            let concrete = path.replace("{id}", "nobody");
            let (status, body) = raw(
                &daemon,
                method.to_uppercase().parse().unwrap(),
                &concrete,
                Some("{}"),
                None,
            )
            .await;
            assert!(
                !matches!(code(&body), "not_found" | "method_not_allowed"),
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    let mut expected = vec![
        "GET /api/nodes",
        "POST /api/nodes/{nodeId}/drain",
        "GET /api/sessions",
        "POST /api/sessions",
        "POST /api/sessions/restore",
        "GET /api/sessions/{id}",
        "DELETE /api/sessions/{id}",
        "GET /api/sessions/{id}/status",
        "GET /api/sessions/{id}/qr",
        "GET /api/sessions/{id}/messages",
        "GET /api/sessions/{id}/messages/{messageId}",
        "POST /api/sessions/{id}/send-message",
        "POST /api/sessions/{id}/send-media",
        "GET /api/sessions/{id}/messages/{messageId}/media",
        "POST /api/sessions/{id}/pairing-code",
        "POST /api/sessions/{id}/start",
        "POST /api/sessions/{id}/stop",
        "POST /api/sessions/{id}/restart",
        "POST /api/sessions/{id}/kill",
        "POST /api/sessions/{id}/logout",
        "GET /api/stats",
        "GET /api/events",
        "GET /api/openapi.json",
        "GET /health",
        "GET /ready",
        "GET /metrics",
        "POST /api/assign-number",
        "GET /api/current-assignments",
        "GET /",
        "GET /sessions",
        "GET /assets/{name}",
        "POST /api/webhooks",
        "GET /api/webhooks",
        "GET /api/webhooks/{webhookId}",
        "PATCH /api/webhooks/{webhookId}",
        "DELETE /api/webhooks/{webhookId}",
        "GET /api/webhooks/{webhookId}/deliveries",
        "POST /api/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
    ];
    expected.sort();
    documented.sort();
    assert_eq!(documented, expected);
    // And what it does not document, it does not serve.
    for (method, path) in [
        (Method::GET, "/api/session"),
        (Method::POST, "/api/sessions/x/unknown"),
        (Method::GET, "/api"),
    ] {
        let (_, body) = raw(&daemon, method, path, None, None).await;
        assert_eq!(code(&body), "not_found", "{path}");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_hosts_wamux_serves_are_answered() {
    for api_key in [None, Some("s3cret")] {
        let daemon = Api::launch(Options {
            api_key,
            public_url: Some("https://wamux.example.com/base"),
            allowed_hosts: &["proxy.example", "lan.example:9000"],
            ..Options::default()
        })
        .await;
        let port = daemon.addr.port();
        let key = api_key
            .map(|k| format!("\r\nX-Api-Key: {k}"))
            .unwrap_or_default();
        for host in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("LocalHost:{port}"),
            format!("[::1]:{port}"),
            "wamux.example.com".into(),
            "wamux.example.com:443".into(),
            "proxy.example".into(),
            "proxy.example:8443".into(),
            "lan.example:9000".into(),
        ] {
            let head = format!("GET /api/sessions HTTP/1.1\r\nHost: {host}{key}");
            let (status, body) = by_hand(&daemon, &head, "").await;
            assert_eq!(status, 200, "{host}: {body}");
        }
        let other_port = if port == u16::MAX { 1 } else { port + 1 };
        for host in [
            "rebind.example".to_owned(),
            format!("rebind.example:{port}"),
            format!("127.0.0.1:{port}.rebind.example"),
            format!("localhost:{other_port}"),
            "localhost".into(),
            "127.0.0.1".into(),
            "lan.example".into(),
            "wamux.example.com:80".into(),
        ] {
            for path in [
                "/health",
                "/ready",
                "/",
                "/sessions",
                "/assets/api.js",
                "/api/sessions",
                "/api/sessions/someone/qr",
                "/api/events",
                "/api/openapi.json",
                "/metrics",
                "/api/nothing-here",
            ] {
                let head = format!("GET {path} HTTP/1.1\r\nHost: {host}{key}");
                let (status, body) = by_hand(&daemon, &head, "").await;
                assert_eq!(
                    (status, code(&body)),
                    (421, "misdirected_request"),
                    "GET {path} for {host}: {body}"
                );
            }
            let head = format!(
                "POST /api/sessions HTTP/1.1\r\nHost: {host}{key}\r\nContent-Type: application/json"
            );
            let (status, body) = by_hand(&daemon, &head, r#"{"sessionId": "rebound"}"#).await;
            assert_eq!(
                (status, code(&body)),
                (421, "misdirected_request"),
                "{host}"
            );
        }
        for head in [
            "GET /health HTTP/1.1".to_owned(),
            format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: rebind.example"),
            format!("GET http://rebind.example/health HTTP/1.1\r\nHost: 127.0.0.1:{port}"),
        ] {
            let (status, body) = by_hand(&daemon, &head, "").await;
            assert_eq!(
                (status, code(&body)),
                (421, "misdirected_request"),
                "{head}: {body}"
            );
        }
        assert!(
            daemon.parts.sessions.list().is_empty(),
            "nothing was created"
        );
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_requests_from_other_sites_are_refused() {
    for api_key in [None, Some("s3cret")] {
        let daemon = Api::launch(Options {
            api_key,
            public_url: Some("https://wamux.example.com"),
            ..Options::default()
        })
        .await;
        let port = daemon.addr.port();
        let mut key = vec![];
        if let Some(k) = api_key {
            key.push(("x-api-key", k));
        }
        let json = ("content-type", "application/json");
        let post = |origin: Option<&'static str>, path: &'static str| {
            let mut headers = key.clone();
            headers.push(json);
            headers.extend(origin.map(|o| ("origin", o)));
            (path, headers)
        };
        let (status, body) = with_headers(
            &daemon,
            Method::POST,
            "/api/sessions",
            &post(None, "").1,
            Some(r#"{"sessionId": "known"}"#),
        )
        .await;
        assert_eq!(
            status, 201,
            "without Origin, as curl and Laravel send: {body}"
        );

        let other = format!("http://127.0.0.1:{}", if port == 1 { 2 } else { port - 1 });
        let other: &'static str = Box::leak(other.into_boxed_str());
        for origin in [
            "http://evil.example",
            "null",
            other,
            "http://wamux.example.com",
            "https://evil.example",
        ] {
            for (method, path, body) in [
                (Method::POST, "/api/sessions", Some(r#"{"sessionId": "x"}"#)),
                (Method::POST, "/api/sessions/known/logout", None),
                (Method::POST, "/api/sessions/known/stop", Some("{}")),
                (
                    Method::POST,
                    "/api/sessions/known/send-message",
                    Some(r#"{"phoneNumber": "5215512345678", "message": "hola"}"#),
                ),
                (Method::DELETE, "/api/sessions/known", None),
                (Method::PUT, "/api/sessions", None),
            ] {
                let (_, headers) = post(Some(origin), "");
                let (status, answer) =
                    with_headers(&daemon, method.clone(), path, &headers, body).await;
                assert_eq!(
                    (status, code(&answer)),
                    (403, "cross_origin"),
                    "{method} {path} from {origin}: {answer}"
                );
            }
            let (_, headers) = post(Some(origin), "");
            let (status, _) =
                with_headers(&daemon, Method::GET, "/api/sessions", &headers, None).await;
            assert_eq!(
                status, 200,
                "reads are the Host check's and CORS's to guard"
            );
        }
        let ids: Vec<String> = daemon
            .parts
            .sessions
            .list()
            .iter()
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(ids, ["known"]);
        let auth = api_key
            .map(|k| format!("\r\nX-Api-Key: {k}"))
            .unwrap_or_default();
        let head = format!(
            "POST /api/sessions/known/stop HTTP/1.1\r\nHost: 127.0.0.1:{port}{auth}\r\n\
             Origin: http://127.0.0.1:{port}\r\nOrigin: http://evil.example"
        );
        let (status, body) = by_hand(&daemon, &head, "").await;
        assert_eq!(
            (status, code(&body)),
            (403, "cross_origin"),
            "two origins: {body}"
        );

        let own = format!("http://127.0.0.1:{port}");
        let localhost = format!("http://localhost:{port}");
        for (origin, id) in [
            (own.as_str(), "own"),
            (localhost.as_str(), "local"),
            ("https://wamux.example.com", "public"),
        ] {
            let mut headers = key.clone();
            headers.extend([json, ("origin", origin)]);
            let body = json!({"sessionId": id}).to_string();
            let (status, answer) = with_headers(
                &daemon,
                Method::POST,
                "/api/sessions",
                &headers,
                Some(&body),
            )
            .await;
            assert_eq!(status, 201, "from {origin}: {answer}");
            let (status, answer) = with_headers(
                &daemon,
                Method::POST,
                &format!("/api/sessions/{id}/stop"),
                &headers[..headers.len() - 2]
                    .iter()
                    .chain([&("origin", origin)])
                    .copied()
                    .collect::<Vec<_>>(),
                None,
            )
            .await;
            assert_eq!(
                status, 200,
                "the dashboard's body-less POST from {origin}: {answer}"
            );
        }
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_json_and_say_so() {
    let daemon = Api::start(None).await;
    daemon.create("known").await;
    let create = r#"{"sessionId": "typed"}"#;
    let send = r#"{"phoneNumber": "5215512345678", "message": "hola"}"#;
    let assign = r#"{"sessionId": "known", "type": "sells"}"#;
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/json"),
        Some("application/jsonp"),
    ] {
        let headers: Vec<_> = content_type
            .map(|c| ("content-type", c))
            .into_iter()
            .collect();
        for (path, body) in [
            ("/api/sessions", create),
            ("/api/sessions/known/send-message", send),
            ("/api/assign-number", assign),
        ] {
            let (status, answer) =
                with_headers(&daemon, Method::POST, path, &headers, Some(body)).await;
            assert_eq!(
                (status, code(&answer)),
                (415, "unsupported_media_type"),
                "{path} as {content_type:?}: {answer}"
            );
        }
    }
    let (status, answer) = with_headers(
        &daemon,
        Method::POST,
        "/api/sessions",
        &[("content-type", "text/plain")],
        None,
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (415, "unsupported_media_type"),
        "an empty body that says it is not JSON: {answer}"
    );
    let ids = |d: &Api| d.parts.sessions.list().len();
    assert_eq!(ids(&daemon), 1, "nothing was created");

    for (content_type, id) in [
        ("application/json; charset=utf-8", "typed"),
        ("Application/JSON", "capital"),
    ] {
        let body = json!({"sessionId": id}).to_string();
        let (status, answer) = with_headers(
            &daemon,
            Method::POST,
            "/api/sessions",
            &[("content-type", content_type)],
            Some(&body),
        )
        .await;
        assert_eq!(status, 201, "{content_type}: {answer}");
    }
    // No body and no Content-Type: the optional body is left out, as the dashboard leaves it.
    let (status, answer) = with_headers(&daemon, Method::POST, "/api/sessions", &[], None).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = with_headers(
        &daemon,
        Method::POST,
        "/api/sessions/known/send-message",
        &[],
        None,
    )
    .await;
    assert_eq!((status, code(&answer)), (400, "invalid_body"), "{answer}");
    // Routes without a body, as the CLI (`{}`) and the dashboard (nothing) post to them.
    for (headers, body) in [
        (&[][..], None),
        (&[("content-type", "application/json")][..], Some("{}")),
    ] {
        let (status, answer) = with_headers(
            &daemon,
            Method::POST,
            "/api/sessions/known/stop",
            headers,
            body,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_do_not_show_paths() {
    let daemon = Api::launch(Options {
        chromium: Some("/opt/private-tools/chromium"),
        ..Options::default()
    })
    .await;
    let (status, body) = daemon.get("/ready").await;
    assert_eq!((status, code(&body)), (503, "not_ready"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Chromium"), "{message}");
    assert!(!message.contains("/opt/private-tools"), "{message}");
    daemon.stop().await;
}

async fn post_send(api: &Api, path: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", api.url()))
        .json(&body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_is_stored_before_the_answer_and_a_retry_with_its_key_stores_nothing() {
    let api = Api::launch(Options {
        linked: &["ventas"],
        ..Options::default()
    })
    .await;
    let send = "/api/sessions/ventas/send-message";
    let hola = json!({"phoneNumber": "+52 1 55 1234 5678", "message": "hola"});
    // Stopped by a person: accepted and kept, it goes out once the session works.
    let (status, first) = post_send(&api, send, hola.clone(), Some("order-1")).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["status"], "queued");
    assert_eq!(first["messageId"], Value::Null);
    let id = first["id"].as_str().unwrap().to_owned();
    let (status, again) = post_send(&api, send, hola.clone(), Some("order-1")).await;
    assert_eq!(
        (status, &again["id"]),
        (202, &json!(id)),
        "the same message: {again}"
    );
    let other = json!({"phoneNumber": "5215512345678", "message": "adios"});
    let (status, reused) = post_send(&api, send, other, Some("order-1")).await;
    assert_eq!((status, code(&reused)), (422, "idempotency_key_reused"));
    let (status, bad) = post_send(&api, send, hola.clone(), Some("with space")).await;
    assert_eq!((status, code(&bad)), (400, "invalid_idempotency_key"));
    let (status, bad) = post_send(&api, &format!("{send}?wait=maybe"), hola.clone(), None).await;
    assert_eq!((status, code(&bad)), (400, "invalid_query"), "{bad}");
    let (status, bad) = post_send(
        &api,
        send,
        json!({"phoneNumber": "5215512345678", "message": "x", "ttlSeconds": 0}),
        None,
    )
    .await;
    assert_eq!((status, code(&bad)), (400, "invalid_ttl"));
    let (status, second) = post_send(&api, &format!("{send}?wait=false"), hola, None).await;
    assert_eq!(status, 202);
    assert_ne!(second["id"], first["id"], "no key, a new message");

    let (status, message) = api
        .get(&format!("/api/sessions/ventas/messages/{id}"))
        .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["to"], "5215512345678");
    assert_eq!(message["text"], "hola");
    assert_eq!(message["status"], "queued");
    assert_eq!(message["direction"], "out");
    let (status, list) = api.get("/api/sessions/ventas/messages?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(list["messages"][0]["id"], second["id"], "newest first");
    let before = list["nextBefore"].as_str().unwrap().to_owned();
    let (_, older) = api
        .get(&format!(
            "/api/sessions/ventas/messages?limit=1&before={before}"
        ))
        .await;
    assert_eq!(older["messages"][0]["id"], json!(id));
    for (path, expected) in [
        (
            "/api/sessions/ventas/messages/999999",
            (404, "message_not_found"),
        ),
        (
            "/api/sessions/ventas/messages?status=lost",
            (400, "invalid_status"),
        ),
        (
            "/api/sessions/ventas/messages?limit=0",
            (400, "invalid_limit"),
        ),
        (
            "/api/sessions/ventas/messages?limit=x",
            (400, "invalid_limit"),
        ),
        (
            "/api/sessions/ventas/messages?before=x",
            (400, "invalid_cursor"),
        ),
        ("/api/sessions/nobody/messages", (404, "session_not_found")),
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!((status, code(&body)), expected, "{path}: {body}");
    }
    let (_, stats) = api.get("/api/stats").await;
    assert_eq!(stats["messages"]["queued"], 2, "{stats}");
    assert_eq!(stats["messages"]["perSession"]["ventas"]["queued"], 2);
    let metrics = reqwest::get(format!("{}/metrics", api.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wamux_outbox_queued{session=\"ventas\"} 2"),
        "{metrics}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_time_runs_out_unsent_is_expired() {
    let api = Api::launch(Options {
        linked: &["ventas"],
        ..Options::default()
    })
    .await;
    let (status, body) = post_send(
        &api,
        "/api/sessions/ventas/send-message?wait=false",
        json!({"phoneNumber": "5215512345678", "message": "pronto", "ttlSeconds": 1}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let path = format!(
        "/api/sessions/ventas/messages/{}",
        body["id"].as_str().unwrap()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        api.parts.ctx.outbox.housekeeping().unwrap();
        let (_, message) = api.get(&path).await;
        if message["status"] == "expired" {
            assert_eq!(message["error"]["code"], "message_expired");
            break;
        }
        assert_eq!(message["status"], "queued");
        assert!(
            std::time::Instant::now() < deadline,
            "never expired: {message}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_no_linked_phone_stores_nothing() {
    let api = Api::start(None).await;
    api.create("fresh").await;
    let (status, body) = post_send(
        &api,
        "/api/sessions/fresh/send-message",
        json!({"phoneNumber": "5215512345678", "message": "hola"}),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (409, "session_not_ready"));
    let (_, list) = api.get("/api/sessions/fresh/messages").await;
    assert_eq!(list["messages"], json!([]));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_messages_are_listed_once_with_the_sent_ones() {
    let api = Api::launch(Options {
        linked: &["ventas"],
        ..Options::default()
    })
    .await;
    let (status, sent) = post_send(
        &api,
        "/api/sessions/ventas/send-message?wait=false",
        json!({"phoneNumber": "5215512345678", "message": "hola"}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let inbox = Inbox::new(&api.parts.ctx.store, &api.parts.ctx.events);
    let incoming = |id: &str, chat: &str, sender: &str| IncomingMessage {
        message_id: id.into(),
        chat_id: chat.into(),
        sender: sender.into(),
        text: format!("texto {id}"),
        kind: "chat".into(),
        ..IncomingMessage::default()
    };
    let ana = incoming("WA-A", "5215550002222@c.us", "[10:05, 3/2/2026] Ana: ");
    assert!(
        inbox
            .receive("ventas", "ventas", ana.clone())
            .unwrap()
            .is_some()
    );
    assert!(
        inbox.receive("ventas", "ventas", ana).unwrap().is_none(),
        "reported again"
    );
    let group = incoming(
        "WA-G",
        "120363@g.us",
        "[10:06, 3/2/2026] +52 1 55 5000 3333: ",
    );
    inbox.receive("ventas", "ventas", group).unwrap();

    // Read through the page's modules: nothing shown, WhatsApp's name, author, type and time.
    let modules = IncomingMessage {
        name: Some("Beto".into()),
        author: Some("5215550004444@c.us".into()),
        kind: "image".into(),
        timestamp: Some(1_767_225_600),
        ..incoming("WA-M", "120363@g.us", "")
    };
    inbox.receive("ventas", "ventas", modules).unwrap();

    let (status, list) = api.get("/api/sessions/ventas/messages?direction=in").await;
    assert_eq!(status, 200, "{list}");
    let messages = list["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{list}");
    let (m, g, a) = (&messages[0], &messages[1], &messages[2]);
    assert_eq!(m["messageId"], "WA-M", "newest first");
    assert_eq!(m["type"], "image");
    assert_eq!(m["from"], "5215550004444", "the author's number");
    assert_eq!(m["fromName"], "Beto");
    assert_eq!(m["author"], "5215550004444@c.us");
    assert_eq!(m["sentAt"], 1_767_225_600_000_i64);
    assert_eq!(m["shownAt"], Value::Null);
    let (_, detail) = api.get("/api/sessions/ventas/messages/WA-M").await;
    assert_eq!(&detail, m);
    assert_eq!(g["messageId"], "WA-G");
    assert_eq!(g["from"], "5215550003333");
    assert_eq!(g["chatId"], "120363@g.us");
    assert_eq!(g["author"], Value::Null, "the DOM does not tell");
    assert_eq!(a["messageId"], "WA-A");
    assert_eq!(a["direction"], "in");
    assert_eq!(a["chatId"], "5215550002222@c.us");
    assert_eq!(a["from"], "5215550002222");
    assert_eq!(a["fromName"], "Ana");
    assert_eq!(a["text"], "texto WA-A");
    assert_eq!(a["status"], "received");
    assert_eq!(a["shownAt"], "10:05, 3/2/2026");
    assert_eq!(a["type"], "chat");
    assert_eq!(a["sentAt"], Value::Null, "the DOM shows only minutes");
    assert!(a["receivedAt"].as_i64().unwrap() > 0);
    assert_eq!(a["createdAt"], a["receivedAt"]);

    let directions = |list: &Value| -> Vec<String> {
        list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["direction"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, both) = api.get("/api/sessions/ventas/messages").await;
    assert_eq!(directions(&both), ["in", "in", "in", "out"]);
    let out = &both["messages"][3];
    assert_eq!(
        (&out["type"], &out["author"], &out["sentAt"]),
        (&json!("chat"), &Value::Null, &Value::Null),
        "{out}"
    );
    let (_, first) = api.get("/api/sessions/ventas/messages?limit=3").await;
    let before = first["nextBefore"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!(
            "/api/sessions/ventas/messages?limit=3&before={before}"
        ))
        .await;
    assert_eq!(rest["messages"][0]["id"], sent["id"], "one cursor for both");
    let (_, out) = api.get("/api/sessions/ventas/messages?direction=out").await;
    assert_eq!(directions(&out), ["out"]);
    let (_, detail) = api.get("/api/sessions/ventas/messages/WA-A").await;
    assert_eq!(detail["fromName"], "Ana");

    let (_, past) = api
        .get("/api/sessions/ventas/messages?direction=in&since=2020-01-01T00:00:00%2B01:00")
        .await;
    assert_eq!(directions(&past), ["in", "in", "in"]);
    let (_, future) = api
        .get("/api/sessions/ventas/messages?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future["messages"], json!([]));
    for (path, expected) in [
        ("?since=yesterday", (400, "invalid_since")),
        ("?since=2026-02-30T00:00:00Z", (400, "invalid_since")),
        ("?direction=sideways", (400, "invalid_direction")),
    ] {
        let (status, body) = api
            .get(&format!("/api/sessions/ventas/messages{path}"))
            .await;
        assert_eq!((status, code(&body)), expected, "{path}: {body}");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_shows_its_engine_once_the_worker_tells() {
    let api = Api::start(None).await;
    api.create("motor").await;
    let (status, before) = api.get("/api/sessions/motor").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["engine"], Value::Null, "unknown yet: {before}");
    assert!(before.as_object().unwrap().contains_key("engine"));
    let (_, list) = api.get("/api/sessions").await;
    assert_eq!(list["sessions"][0]["engine"], Value::Null, "{list}");

    let session = api.parts.sessions.get("motor").unwrap();
    session.engines_reported(Engines {
        send: EnginePath::Dom,
        ..Engines {
            state: EnginePath::Modules,
            incoming: EnginePath::Modules,
            acks: EnginePath::Modules,
            send: EnginePath::Modules,
        }
    });
    let engine =
        json!({"state": "modules", "incoming": "modules", "acks": "modules", "send": "dom"});
    let (_, after) = api.get("/api/sessions/motor").await;
    assert_eq!(after["engine"], engine, "{after}");
    let (_, list) = api.get("/api/sessions").await;
    assert_eq!(list["sessions"][0]["engine"], engine, "{list}");

    session.engines_reported(Engines::DOM);
    let (_, dom) = api.get("/api/sessions/motor").await;
    assert_eq!(
        dom["engine"],
        json!({"state": "dom", "incoming": "dom", "acks": "dom", "send": "dom"}),
        "a later report replaces it"
    );
    // The list is kept between requests only while nothing changes.
    let (_, list) = api.get("/api/sessions").await;
    assert_eq!(list["sessions"][0]["engine"], dom["engine"], "{list}");
    api.stop().await;
}
