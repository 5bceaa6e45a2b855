//! The `wamux` command line: `serve` runs the daemon; the other subcommands talk to a running
//! daemon over its HTTP API.

mod client;
mod list;
mod serve;

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

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The daemon's address.
    #[arg(
        long,
        env = "WAMUX_URL",
        default_value = "http://127.0.0.1:8083",
        global = true
    )]
    url: String,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Serve(Box<ServeArgs>),
    /// List the sessions.
    List {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Kill a session's worker and browsers at once; the session stays, STOPPED.
    Kill {
        /// The session id.
        id: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
}

impl Cli {
    pub async fn run(self) -> ExitCode {
        match self.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::List { daemon } => list::list(&daemon).await,
            Command::Kill { id, daemon } => list::kill(&daemon, &id).await,
        }
    }
}
