//! The `wamux` command line: `serve` runs the daemon, `sweep` cleans a data directory with no
//! daemon running, and the other subcommands talk to a running daemon over its HTTP API.
//!
//! Exit codes follow the BSD sysexits convention: 0 success, 2 bad usage, 65 the daemon
//! refused the request, 66 no such session, 69 the daemon is not running, 75 a temporary
//! failure (the daemon or WhatsApp could not do it now), 76 the API key was refused.

mod client;
mod events;
mod messages;
mod output;
mod pair;
mod qr;
mod serve;
mod sessions;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "wamux",
    version,
    about = "Many WhatsApp Web sessions behind one HTTP API"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How to reach the daemon, and how to print.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// The daemon's address.
    #[arg(long, env = "WAMUX_URL", default_value = "http://127.0.0.1:8083")]
    url: String,
    /// The daemon's API key, when it has one.
    #[arg(long, env = "WAMUX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Serve(Box<ServeArgs>),
    /// List the sessions.
    List(DaemonArgs),
    /// Show everything known of a session.
    Status(WithId),
    /// Create a session (with a generated id when none is given).
    Create {
        id: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Delete a session: its processes and its profile are gone when this returns.
    Delete(WithId),
    /// Stop a session's worker cleanly and start a new one.
    Restart(WithId),
    /// Stop a session cleanly; it stays stopped until started.
    Stop(WithId),
    /// Start a stopped or failed session.
    Start(WithId),
    /// Kill a session's worker and browsers at once; the session stays, STOPPED.
    Kill(WithId),
    /// Unlink the phone: the profile is wiped and a new QR code follows.
    Logout(WithId),
    /// Send a text message: prints its id and status, `sent` once WhatsApp shows it sent, or
    /// `queued`/`sending` when it is still on its way (it goes on; `wamux messages` follows it).
    Send {
        id: String,
        /// The recipient, with the country code (`+`, spaces and dashes are ignored).
        phone: String,
        text: String,
        /// Answer as soon as the message is stored, without waiting for it to go out.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// List a session's messages, newest first, with their status.
    Messages {
        id: String,
        /// Only messages with this status (queued, sending, sent, delivered, read, failed,
        /// expired).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Link a session with a pairing code for the phone's number instead of a QR: prints the
    /// code in large type (and each one that replaces an expired one) and waits until the
    /// session is WORKING.
    Pair {
        id: String,
        /// The phone's own number, with the country code.
        phone: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Draw the session's QR code in the terminal, to link a phone over ssh.
    Qr {
        id: String,
        /// Dark modules as blocks, for terminals with a light background.
        #[arg(long)]
        invert: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Follow the daemon's events (of one session with --session).
    Events {
        #[arg(long)]
        session: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Kill browsers left on the profiles of a data directory, with no daemon running.
    Sweep {
        #[arg(long, env = "WAMUX_DATA_DIR", default_value = "./data")]
        data_dir: std::path::PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct WithId {
    /// The session id.
    id: String,
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl Cli {
    /// Runs the subcommand; `notifier` reaches systemd when the daemon runs under it.
    pub async fn run(self, notifier: crate::daemon::notify::Notifier) -> ExitCode {
        use sessions::Action;
        match self.command {
            Command::Serve(args) => serve::run(*args, notifier).await,
            Command::Sweep { data_dir } => sweep::run(&data_dir).await,
            Command::List(daemon) => sessions::list(&daemon).await,
            Command::Status(w) => sessions::status(&w.daemon, &w.id).await,
            Command::Create { id, daemon } => sessions::create(&daemon, id.as_deref()).await,
            Command::Delete(w) => sessions::act(&w.daemon, &w.id, Action::Delete).await,
            Command::Restart(w) => sessions::act(&w.daemon, &w.id, Action::Restart).await,
            Command::Stop(w) => sessions::act(&w.daemon, &w.id, Action::Stop).await,
            Command::Start(w) => sessions::act(&w.daemon, &w.id, Action::Start).await,
            Command::Kill(w) => sessions::act(&w.daemon, &w.id, Action::Kill).await,
            Command::Logout(w) => sessions::act(&w.daemon, &w.id, Action::Logout).await,
            Command::Send {
                id,
                phone,
                text,
                no_wait,
                daemon,
            } => messages::send(&daemon, &id, &phone, &text, !no_wait).await,
            Command::Messages {
                id,
                status,
                limit,
                daemon,
            } => messages::list(&daemon, &id, status.as_deref(), limit).await,
            Command::Qr { id, invert, daemon } => qr::run(&daemon, &id, invert).await,
            Command::Pair { id, phone, daemon } => pair::run(&daemon, &id, &phone).await,
            Command::Events { session, daemon } => events::run(&daemon, session.as_deref()).await,
        }
    }
}
