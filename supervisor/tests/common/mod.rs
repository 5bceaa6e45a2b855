//! The daemon of the in-process tests: assembled as `wamux serve` assembles it (its webhook
//! delivery running) on its own data directory, its API served on a loopback port. Its
//! sessions have no worker binary to start, so nothing is spawned. Its store is in memory
//! unless a test keeps media files, which live beside a database on disk.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wamux::api::app;
use wamux::daemon::config::{DataDir, ServeConfig};
use wamux::daemon::serve::{Parts, assemble};
use wamux::messaging::media::MediaConfig;
use wamux::messaging::outbox::OutboxConfig;
use wamux::messaging::webhooks::WebhookConfig;
use wamux::store::{Desired, Store};
use wamux::supervision::link::WorkerLink;

/// A daemon's API served in this process, on its own data directory.
pub struct Api {
    pub addr: std::net::SocketAddr,
    pub parts: Parts,
    /// The data directory.
    pub dir: std::path::PathBuf,
}

/// What a test daemon differs in.
#[derive(Default)]
pub struct Options {
    pub api_key: Option<&'static str>,
    pub public_url: Option<&'static str>,
    pub allowed_hosts: &'static [&'static str],
    pub chromium: Option<&'static str>,
    /// Sessions in the store before the daemon starts: linked to a phone, stopped by a person.
    pub linked: &'static [&'static str],
    pub outbox: Option<OutboxConfig>,
    pub webhooks: WebhookConfig,
    /// Media files kept (the store then on disk, in the data directory), with these limits.
    pub media: Option<MediaConfig>,
}

/// `wamux serve`'s media defaults: 16 MiB, no private URLs.
pub const DEFAULT_MEDIA: MediaConfig = MediaConfig {
    max_size: 16 << 20,
    allow_private_urls: false,
};

impl Api {
    pub async fn launch(options: Options) -> Api {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("wamux-api-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sessions")).unwrap();
        let dir = dir.canonicalize().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServeConfig {
            listen: addr,
            data_dir: dir.clone(),
            web_url: "http://127.0.0.1:9".into(),
            max_sessions: 5,
            chromedriver: "/bin/false".into(),
            chromium: options.chromium.unwrap_or("/bin/false").into(),
            // Nothing to spawn: each start fails at once and the session stays STARTING.
            worker_bin: dir.join("no-such-worker"),
            browser_start_timeout: Duration::from_secs(120),
            webdriver_timeout: Duration::from_secs(180),
            send_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(1),
            max_starting: 2,
            warm_spares: 0,
            max_session_memory: 800 << 20,
            recycle_after: None,
            watch_interval: Duration::from_secs(10),
            api_key: options.api_key.map(str::to_owned),
            laravel_env: None,
            public_url: options.public_url.map(str::to_owned),
            allowed_hosts: options
                .allowed_hosts
                .iter()
                .map(|h| h.to_string())
                .collect(),
            auto_switch: None,
            cluster: None,
            outbox: options.outbox.unwrap_or(OutboxConfig {
                send_wait: Duration::from_secs(1),
                ttl: Duration::from_secs(3600),
                retention: Duration::from_secs(86400),
                interval: None,
                media: options.media.unwrap_or(DEFAULT_MEDIA),
            }),
            webhooks: options.webhooks,
        };
        let store = match options.media {
            Some(_) => Store::open(&dir.join("wamux.db")).unwrap(),
            None => Store::open_in_memory().unwrap(),
        };
        for id in options.linked {
            store.insert(id, 0, "STOPPED").unwrap();
            store.set_phone_number(id, Some("5215500000001")).unwrap();
            store.set_desired(id, Desired::Stopped).unwrap();
        }
        let parts = assemble(
            config,
            DataDir::new(dir.clone()),
            store,
            Arc::new(WorkerLink::default()),
            CancellationToken::new(),
        );
        parts.sessions.restore().unwrap();
        parts.ctx.webhooks.configure().unwrap();
        tokio::spawn(
            parts
                .ctx
                .webhooks
                .clone()
                .deliver(parts.state.shutdown.clone()),
        );
        let router = app(parts.state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Api { addr, parts, dir }
    }

    /// The API's base URL, `http://` and the loopback address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(self) {
        self.parts.state.shutdown.cancel();
        self.parts.sessions.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A request with `body` as JSON and `key` as its bearer token; answers the status and the
/// JSON body (`null` for none, and for an event stream, which is not read).
pub async fn raw(
    api: &Api,
    method: Method,
    path: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", api.url()));
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
