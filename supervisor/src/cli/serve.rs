//! `wamux serve`: flags (each also an environment variable), logging and signals.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::config::{self, ServeConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTP API and dashboard.
    #[arg(long, env = "WAMUX_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// Where the registry and the browser profiles live.
    #[arg(long, env = "WAMUX_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The WhatsApp Web address (a fake one for tests and demos).
    #[arg(long, env = "WAMUX_WEB_URL", default_value = "https://web.whatsapp.com")]
    web_url: String,
    /// How many sessions may exist at once.
    #[arg(long, env = "WAMUX_MAX_SESSIONS", default_value_t = 5)]
    max_sessions: usize,
    /// chromedriver [default: found on PATH or in /usr/lib/chromium/]
    #[arg(long, env = "WAMUX_CHROMEDRIVER")]
    chromedriver: Option<PathBuf>,
    /// Chromium [default: /usr/lib/chromium/chromium, else found on PATH]
    #[arg(long, env = "WAMUX_CHROMIUM")]
    chromium: Option<PathBuf>,
    /// The worker binary [default: wamux-worker beside wamux, else on PATH]
    #[arg(long, env = "WAMUX_WORKER")]
    worker: Option<PathBuf>,
    /// Seconds a browser may take to start.
    #[arg(long, env = "WAMUX_BROWSER_START_TIMEOUT", default_value_t = 120)]
    browser_start_timeout: u64,
    /// Seconds one WebDriver call may take.
    #[arg(long, env = "WAMUX_WEBDRIVER_TIMEOUT", default_value_t = 180)]
    webdriver_timeout: u64,
    /// Seconds a send may take before it is reported as timed out.
    #[arg(long, env = "WAMUX_SEND_TIMEOUT", default_value_t = 60)]
    send_timeout: u64,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<ServeConfig> {
        let chromedriver = self
            .chromedriver
            .or_else(config::default_chromedriver)
            .context("chromedriver not found: install chromium-driver or pass --chromedriver")?;
        let chromium = self
            .chromium
            .or_else(config::default_chromium)
            .context("Chromium not found: install chromium or pass --chromium")?;
        let worker_bin = self
            .worker
            .or_else(config::default_worker)
            .context("wamux-worker not found beside wamux nor on PATH: pass --worker")?;
        Ok(ServeConfig {
            listen: self.listen,
            data_dir: self.data_dir,
            web_url: self.web_url,
            max_sessions: self.max_sessions,
            chromedriver,
            chromium,
            worker_bin,
            browser_start_timeout: Duration::from_secs(self.browser_start_timeout),
            webdriver_timeout: Duration::from_secs(self.webdriver_timeout),
            send_timeout: Duration::from_secs(self.send_timeout),
            stop_grace: Duration::from_secs(10),
        })
    }
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

pub async fn run(args: ServeArgs) -> ExitCode {
    let result = async {
        let config = args.into_config()?;
        crate::serve::run(config, shutdown_signal(), |addr| {
            // Scripts and tests wait for this line to know the API answers.
            println!("wamux listening on http://{addr}");
            let _ = std::io::stdout().flush();
        })
        .await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("wamux: {e:#}");
            ExitCode::FAILURE
        }
    }
}
