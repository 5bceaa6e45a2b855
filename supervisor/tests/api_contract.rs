//! The API's edges, in process and without a browser: every route answers its documented
//! errors and never a 500, the API key guards every `/api` route, and the OpenAPI document
//! matches the router. The daemon is assembled as `wamux serve` assembles it and served on a
//! loopback port; its sessions have no worker binary to start, so nothing is spawned.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wamux::api::app;
use wamux::daemon::config::{DataDir, ServeConfig};
use wamux::daemon::serve::{Parts, assemble};
use wamux::store::Store;
use wamux::supervision::link::WorkerLink;

/// A daemon's API served in this process, on its own data directory.
struct Api {
    url: String,
    parts: Parts,
    dir: std::path::PathBuf,
}

impl Api {
    async fn start(api_key: Option<&str>) -> Api {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("wamux-api-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sessions")).unwrap();
        let dir = dir.canonicalize().unwrap();
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.clone(),
            web_url: "http://127.0.0.1:9".into(),
            max_sessions: 5,
            chromedriver: "/bin/false".into(),
            chromium: "/bin/false".into(),
            // Nothing to spawn: each start fails at once and the session stays STARTING.
            worker_bin: dir.join("no-such-worker"),
            browser_start_timeout: Duration::from_secs(120),
            webdriver_timeout: Duration::from_secs(180),
            send_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(1),
            max_starting: 2,
            max_session_memory: 800 << 20,
            recycle_after: None,
            watch_interval: Duration::from_secs(10),
            api_key: api_key.map(str::to_owned),
            laravel_env: None,
            public_url: None,
            auto_switch: None,
        };
        let parts = assemble(
            config,
            DataDir::new(dir.clone()),
            Store::open_in_memory().unwrap(),
            Arc::new(WorkerLink::default()),
            CancellationToken::new(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = app(parts.state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Api { url, parts, dir }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        raw(self, Method::GET, path, None, None).await
    }

    async fn create(&self, id: &str) {
        let body = json!({"sessionId": id}).to_string();
        let (status, answer) = raw(self, Method::POST, "/api/sessions", Some(&body), None).await;
        assert_eq!(status, 201, "creating {id}: {answer}");
    }

    async fn stop(self) {
        self.parts.state.shutdown.cancel();
        self.parts.sessions.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn raw(
    api: &Api,
    method: Method,
    path: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", api.url));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
    if is_stream {
        return (status, Value::Null);
    }
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
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
        .get(format!("{}/api/sessions", daemon.url))
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
        "GET /api/sessions",
        "POST /api/sessions",
        "POST /api/sessions/restore",
        "GET /api/sessions/{id}",
        "DELETE /api/sessions/{id}",
        "GET /api/sessions/{id}/status",
        "GET /api/sessions/{id}/qr",
        "POST /api/sessions/{id}/send-message",
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
