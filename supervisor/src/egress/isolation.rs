//! Whether workers can run in network namespaces of their own, probed once at daemon start.
//!
//! The probe is the worker binary itself (`wamux-worker --probe-isolation`): it enters a
//! namespace exactly as a worker would and exits, so what is probed is what will run, under
//! the same user, capabilities and systemd restrictions. Where it fails (a container without
//! user namespaces, say), workers run in the daemon's network namespace and without the
//! egress; everything else works as before, and `/ready` and `/api/stats` say so.
//!
//! The answer is a property of the host and of the daemon's credentials, hence kept once per
//! process rather than threaded through every part that spawns or reports.

use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

/// Bound on the probe: it runs two system calls and exits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Each worker, with its chromedriver and Chromium, in a network namespace of its own.
    NetworkNamespace,
    /// Workers share the daemon's network namespace.
    None { reason: String },
}

impl Isolation {
    /// As `/ready` and `/api/stats` name it.
    pub fn name(&self) -> &'static str {
        match self {
            Isolation::NetworkNamespace => "network-namespace",
            Isolation::None { .. } => "none",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Isolation::NetworkNamespace => None,
            Isolation::None { reason } => Some(reason),
        }
    }
}

static CURRENT: OnceLock<Isolation> = OnceLock::new();

/// The isolation in force: the daemon's probe, or none where nothing probed (a daemon
/// assembled in process by tests).
pub fn current() -> Isolation {
    CURRENT.get().cloned().unwrap_or_else(|| Isolation::None {
        reason: "not probed".into(),
    })
}

/// Probes with `worker_bin`, records the answer for [`current`] and logs it once.
pub async fn probe_and_record(worker_bin: &Path) -> Isolation {
    let found = probe(worker_bin).await;
    match &found {
        Isolation::NetworkNamespace => {
            tracing::info!("each worker runs in a network namespace of its own")
        }
        Isolation::None { reason } => tracing::warn!(
            reason = %reason,
            "workers cannot get network namespaces of their own: their browsers' debugging \
             ports are reachable by every local user"
        ),
    }
    let _ = CURRENT.set(found.clone());
    found
}

async fn probe(worker_bin: &Path) -> Isolation {
    let none = |reason: String| Isolation::None { reason };
    let child = tokio::process::Command::new(worker_bin)
        .arg("--probe-isolation")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => return none(format!("cannot run {}: {e}", worker_bin.display())),
    };
    match tokio::time::timeout(PROBE_TIMEOUT, child.wait_with_output()).await {
        Err(_) => none(format!("the probe did not finish within {PROBE_TIMEOUT:?}")),
        Ok(Err(e)) => none(format!("cannot wait for the probe: {e}")),
        Ok(Ok(output)) if output.status.success() => Isolation::NetworkNamespace,
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            match stderr.lines().rev().find(|l| !l.trim().is_empty()) {
                Some(line) => none(line.trim().to_owned()),
                None => none(format!("the probe failed ({})", output.status)),
            }
        }
    }
}
