//! Starting a worker process for a session.
//!
//! The worker leads a new process group, which its chromedriver and Chromium inherit, so the
//! whole tree can be killed with one signal. Its stderr (its log) is re-emitted line by line
//! under the session's span, so one `grep ID` over the daemon's log tells a session's story.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tracing::Instrument;

use crate::daemon::config::ServeConfig;

pub fn spawn_worker(
    config: &ServeConfig,
    session_id: &str,
    profile: &Path,
    socket: &Path,
) -> std::io::Result<Child> {
    let mut command = Command::new(&config.worker_bin);
    command
        .arg("--session-id")
        .arg(session_id)
        .arg("--profile-dir")
        .arg(profile)
        .arg("--web-url")
        .arg(&config.web_url)
        .arg("--socket")
        .arg(socket)
        .arg("--chromedriver")
        .arg(&config.chromedriver)
        .arg("--chromium")
        .arg(&config.chromium)
        .arg("--browser-start-timeout-secs")
        .arg(config.browser_start_timeout.as_secs().to_string())
        .arg("--webdriver-timeout-secs")
        .arg(config.webdriver_timeout.as_secs().to_string())
        .arg("--send-timeout-secs")
        .arg(config.send_timeout.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
    if let Some(stderr) = child.stderr.take() {
        let span = tracing::info_span!("worker", session = %session_id);
        tokio::spawn(
            async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(target: "wamux::worker", "{line}");
                }
            }
            .instrument(span),
        );
    }
    Ok(child)
}
