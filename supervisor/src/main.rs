//! The `wamux` binary: the daemon and the CLI in one.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wamux::daemon::notify::Notifier;

fn main() -> ExitCode {
    // Before any thread exists: reading it also removes it from the environment.
    let notifier = Notifier::from_env();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // A closed stderr (a log pipe whose reader died) must not panic whoever logs.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = wamux::cli::Cli::parse();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(cli.run(notifier)),
        Err(e) => {
            eprintln!("wamux: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
