//! The worker's command line, as the supervisor writes it when it spawns a worker.

use std::path::PathBuf;

use clap::Parser;

/// The largest media file the worker keeps by default: 16 MiB, WhatsApp's own limit for
/// photos and videos.
const DEFAULT_MAX_MEDIA_SIZE: u64 = 16 * 1024 * 1024;

/// A desktop Chrome on Linux: the page refuses user agents that say `HeadlessChrome`.
const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

#[derive(Debug, Parser)]
#[command(name = "wamux-worker", version, about)]
pub struct Args {
    /// The session this worker runs; announced in the handshake and in every log line.
    #[arg(long)]
    pub session_id: String,
    /// Chromium's profile for this session: everything that keeps it linked lives there.
    #[arg(long)]
    pub profile_dir: PathBuf,
    /// Where WhatsApp Web is served, e.g. https://web.whatsapp.com.
    #[arg(long)]
    pub web_url: String,
    /// The supervisor's Unix socket.
    #[arg(long)]
    pub socket: PathBuf,
    #[arg(long)]
    pub chromedriver: PathBuf,
    /// The Chromium binary itself (not a wrapper script that execs it).
    #[arg(long)]
    pub chromium: PathBuf,
    /// Bound on chromedriver being up plus the browser session being created.
    #[arg(long, default_value_t = 120)]
    pub browser_start_timeout_secs: u64,
    /// Bound on every single WebDriver call.
    #[arg(long, default_value_t = 180)]
    pub webdriver_timeout_secs: u64,
    /// Bound on one SendText or SendMedia, from the command to the message being sent; also
    /// bounds reading the file of one incoming media message.
    #[arg(long, default_value_t = 60)]
    pub send_timeout_secs: u64,
    #[arg(long, default_value = DEFAULT_USER_AGENT)]
    pub user_agent: String,
    /// Show the browser window instead of running headless.
    #[arg(long)]
    pub headful: bool,
    /// The supervisor's egress socket. Given, the worker runs in a network namespace of its
    /// own and its browser reaches the web only through this socket ([`super::netns`],
    /// [`super::socks`]); absent, it shares the supervisor's network.
    #[arg(long)]
    pub egress_socket: Option<PathBuf>,
    /// Where the files of incoming media messages are written (created 0700 if missing); the
    /// supervisor passes `<data>/sessions/<dir>/media-in`. Absent, incoming media is reported
    /// without its file.
    #[arg(long)]
    pub media_dir: Option<PathBuf>,
    /// Incoming media files larger than this many bytes are not kept, only reported.
    #[arg(long, default_value_t = DEFAULT_MAX_MEDIA_SIZE)]
    pub max_media_size: u64,
}

/// `wamux-worker --probe-isolation`, alone: only enter a network namespace as a worker would,
/// then exit 0, or 1 with the reason on stderr. The supervisor asks this once at start. Not a
/// field of [`Args`], whose session arguments are required.
pub const PROBE_ISOLATION: &str = "--probe-isolation";

/// Whether the command line is [`PROBE_ISOLATION`] alone.
pub fn is_probe() -> bool {
    let mut args = std::env::args_os().skip(1);
    args.next().is_some_and(|a| a == PROBE_ISOLATION) && args.next().is_none()
}
