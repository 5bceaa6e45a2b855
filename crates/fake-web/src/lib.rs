//! A fake WhatsApp Web for end-to-end tests and demos.
//!
//! The server serves pages that honour the WhatsApp Web contract (`shared/whatsapp-web-contract.md`,
//! sections 1–11): a real Chromium loads them as it would load `web.whatsapp.com`, and tests act
//! as the phone through the control API under `/__fake/` (`/__fake/scan`, `/__fake/sent`, …),
//! or through the page for people at `/__fake/phone`.
//!
//! Section 10 (the page's own modules): unless [`FakeConfig::modules`] is [`Modules::None`], the
//! page script defines `window.Debug.VERSION` and `window.require(NAME)` for the modules of
//! [`MODULE_NAMES`], fed from the same state as the DOM (socket states, the QR ref, chats, and
//! the account's messages with ids equal to the rows' `data-id`). [`Modules::Older`] offers
//! `getMaybeMeUser` instead of `getMaybeMePnUser`. Control calls for it (see `control`):
//! `GET /__fake/stats` (`page_loads`, `send_seen`, `chats_opened`), `GET /__fake/chats?phone=`
//! (per chat `unread`, `opened`, `seen`), `POST /__fake/modules {"drop", "restore"}` (modules
//! missing from later page loads), and `POST /__fake/incoming` with `group`/`group_name`.
//!
//! Section 11 (media): an open chat's footer has an attach button ([`FakeConfig::attach`],
//! `--attach plus-rounded|attach-menu-plus|clip|title`; `--variant legacy` alone picks `clip`)
//! whose menu ("Document", "Photos & videos") owns hidden `input[type="file"]`s (the photos
//! `accept` per [`FakeConfig::photo_accept`], `--photo-accept full|image`; documents `*`). A file
//! given to an input opens `div[data-testid="media-editor"]` over the chat, with a caption box
//! labelled per [`FakeConfig::caption_label`] (`--caption-label aria-label|aria-placeholder`)
//! and a send button per [`FakeConfig::media_send`] (`--media-send label|send|wds`). The page
//! posts the file to the fake (`media` module: kinds, size, SHA-256); its row shows an `img`,
//! `video` or `audio` with a `blob:` src, or a document's name, and the caption in
//! `span.selectable-text`. `POST /__fake/incoming` takes a `media` (base64) and `caption`, and
//! `GET /__fake/sent` lists `type`, `caption`, `filename`, `size` and `sha256` of media.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wamux_fake_web::{FakeConfig, FakeServer};
//! let fake = FakeServer::start(FakeConfig::default(), "127.0.0.1:0".parse()?).await?;
//! println!("the site is at {}", fake.url());
//! fake.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Modules: `config` (timings, variant, media selectors), `state` (pages, payload schedule,
//! accounts, messages), `media` (media kinds, bytes and hashes), `schedule` (QR rotation), `ids`
//! (random ids), `pages` (the site and its page script's endpoints), `control` (the control
//! API), `phone` (the page for people), `api` (HTTP plumbing).

mod api;
mod config;
mod control;
mod ids;
mod media;
mod pages;
mod phone;
mod schedule;
mod state;

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use axum::Router;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub use config::{
    Attach, CaptionLabel, FakeConfig, MODULE_NAMES, MediaSend, Modules, PhotoAccept, Variant,
};

/// How long [`FakeServer::shutdown`] waits for open connections before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The whole site: app pages, page-script endpoints, control API and phone page.
pub fn router(config: FakeConfig) -> Router {
    let shared: api::Shared = Arc::new(Mutex::new(state::State::new(config)));
    Router::new()
        .merge(pages::routes())
        .merge(control::routes())
        .merge(phone::routes())
        .with_state(shared)
}

/// Serves the fake on `listener` until `shutdown` completes, then finishes the requests in
/// flight. The binary and [`FakeServer`] both run this.
pub async fn run(
    config: FakeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving the fake WhatsApp Web")
}

/// A fake server running in the current tokio runtime; it stops on [`FakeServer::shutdown`] or
/// when dropped.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl FakeServer {
    /// Binds `listen` (port 0 picks a free port) and starts serving.
    pub async fn start(config: FakeConfig, listen: SocketAddr) -> anyhow::Result<FakeServer> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, listener, async {
            // A dropped sender stops the server as well.
            let _ = stopped.await;
        }));
        tracing::debug!(%addr, "fake WhatsApp Web started");
        Ok(FakeServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The site's base URL, `http://127.0.0.1:PORT` (loopback when bound to every interface).
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// Stops accepting connections and waits (at most a few seconds) for requests in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => tracing::warn!(%error, "fake WhatsApp Web failed"),
                Ok(Err(error)) => tracing::warn!(%error, "fake WhatsApp Web task failed"),
                Err(_) => {
                    tracing::warn!("fake WhatsApp Web still busy after the grace time, aborted");
                    task.abort();
                }
            }
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
