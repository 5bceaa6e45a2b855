//! `wamux-fake-web`: the fake WhatsApp Web as a program, for demos and for tests that want it
//! in a process of its own. Prints `listening on http://ADDR` once it accepts connections and
//! exits 0 on SIGTERM or ctrl-c.

use std::{io::Write as _, net::SocketAddr, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use tokio::net::TcpListener;
use wamux_fake_web::{Attach, CaptionLabel, FakeConfig, MediaSend, Modules, PhotoAccept, Variant};

/// A fake WhatsApp Web honouring the wamux contract.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "WAMUX_FAKE_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Start from the real site's timings instead of the fast test defaults.
    #[arg(long)]
    realistic: bool,
    /// Shortest loading screen, ms.
    #[arg(long)]
    boot_min_ms: Option<u64>,
    /// Longest loading screen, ms.
    #[arg(long)]
    boot_max_ms: Option<u64>,
    /// Lifetime of the first QR payload, ms.
    #[arg(long)]
    qr_first_ms: Option<u64>,
    /// Lifetime of each later QR payload, ms.
    #[arg(long)]
    qr_next_ms: Option<u64>,
    /// QR payloads per cycle before the reload button.
    #[arg(long)]
    qr_count: Option<u32>,
    /// "Starting chat" screen time of /send, ms.
    #[arg(long)]
    starting_chat_ms: Option<u64>,
    /// Time a sent message shows " Pending " before " Sent ", ms.
    #[arg(long, alias = "sent-delay-ms")]
    ack_delay_ms: Option<u64>,
    /// Selector and text variant.
    #[arg(long, value_enum)]
    variant: Option<Variant>,
    /// The page's own modules (contract section 10): current, older (getMaybeMeUser) or none.
    #[arg(long, value_enum)]
    modules: Option<Modules>,
    /// Time an arriving message stays a `ciphertext` model before its body, ms.
    #[arg(long)]
    decrypt_delay_ms: Option<u64>,
    /// Time a pairing code lives before the page shows a new one, ms.
    #[arg(long)]
    link_code_ttl_ms: Option<u64>,
    /// The chat's attach button (contract section 11); default plus-rounded, or clip with
    /// `--variant legacy`.
    #[arg(long, value_enum)]
    attach: Option<Attach>,
    /// The `accept` of the photos and videos input: full (images and three video types) or image.
    #[arg(long, value_enum)]
    photo_accept: Option<PhotoAccept>,
    /// How the media editor's caption box says "Add a caption".
    #[arg(long, value_enum)]
    caption_label: Option<CaptionLabel>,
    /// The media editor's send button: label (`aria-label="Send"`), send or wds (its icon).
    #[arg(long, value_enum)]
    media_send: Option<MediaSend>,
}

impl Args {
    fn config(&self) -> FakeConfig {
        let mut config = if self.realistic {
            FakeConfig::realistic()
        } else {
            FakeConfig::default()
        };
        let ms = Duration::from_millis;
        let set = |field: &mut Duration, value: Option<u64>| {
            if let Some(value) = value {
                *field = ms(value);
            }
        };
        set(&mut config.boot_min, self.boot_min_ms);
        set(&mut config.boot_max, self.boot_max_ms);
        set(&mut config.qr_first, self.qr_first_ms);
        set(&mut config.qr_next, self.qr_next_ms);
        set(&mut config.starting_chat, self.starting_chat_ms);
        set(&mut config.ack_delay, self.ack_delay_ms);
        set(&mut config.decrypt_delay, self.decrypt_delay_ms);
        set(&mut config.link_code_ttl, self.link_code_ttl_ms);
        if let Some(count) = self.qr_count {
            config.qr_count = count;
        }
        if let Some(variant) = self.variant {
            config.variant = variant;
        }
        if let Some(modules) = self.modules {
            config.modules = modules;
        }
        config.attach = match (self.attach, config.variant) {
            (Some(attach), _) => attach,
            (None, Variant::Legacy) => Attach::Clip,
            (None, Variant::Modern) => config.attach,
        };
        if let Some(accept) = self.photo_accept {
            config.photo_accept = accept;
        }
        if let Some(label) = self.caption_label {
            config.caption_label = label;
        }
        if let Some(send) = self.media_send {
            config.media_send = send;
        }
        config
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = args.config();
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(?config, "fake WhatsApp Web ready");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;
    drop(stdout);
    wamux_fake_web::run(config, listener, stop_signal()).await
}

/// Completes on SIGTERM or ctrl-c.
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("stopping");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> FakeConfig {
        Args::try_parse_from(std::iter::once("wamux-fake-web").chain(args.iter().copied()))
            .expect("the flags parse")
            .config()
    }

    #[test]
    fn media_flags_set_their_knobs() {
        let defaults = config(&[]);
        assert_eq!(defaults, FakeConfig::default());
        let set = config(&[
            "--attach",
            "title",
            "--photo-accept",
            "image",
            "--caption-label",
            "aria-placeholder",
            "--media-send",
            "wds",
        ]);
        assert_eq!(set.attach, Attach::TitleAttach);
        assert_eq!(set.photo_accept, PhotoAccept::Image);
        assert_eq!(set.caption_label, CaptionLabel::AriaPlaceholder);
        assert_eq!(set.media_send, MediaSend::Wds);
        for (name, attach) in [
            ("plus-rounded", Attach::PlusRounded),
            ("attach-menu-plus", Attach::AttachMenuPlus),
            ("clip", Attach::Clip),
            ("title", Attach::TitleAttach),
        ] {
            assert_eq!(config(&["--attach", name]).attach, attach);
        }
        assert_eq!(
            config(&["--media-send", "send"]).media_send,
            MediaSend::Send
        );
        assert_eq!(
            config(&["--caption-label", "aria-label"]).caption_label,
            CaptionLabel::AriaLabel
        );
        assert_eq!(
            config(&["--photo-accept", "full"]).photo_accept,
            PhotoAccept::Full
        );
    }

    #[test]
    fn legacy_picks_the_clip_unless_told() {
        assert_eq!(config(&["--variant", "legacy"]).attach, Attach::Clip);
        assert_eq!(
            config(&["--variant", "legacy", "--attach", "plus-rounded"]).attach,
            Attach::PlusRounded
        );
        assert_eq!(config(&["--realistic"]).attach, Attach::PlusRounded);
    }

    #[test]
    fn unknown_media_flag_values_are_refused() {
        for args in [
            ["--attach", "paperclip"],
            ["--photo-accept", "video"],
            ["--caption-label", "title"],
            ["--media-send", "enter"],
        ] {
            let parsed =
                Args::try_parse_from(std::iter::once("wamux-fake-web").chain(args.iter().copied()));
            assert!(parsed.is_err(), "{args:?}");
        }
    }
}
