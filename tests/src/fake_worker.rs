//! The daemon on `wamux-fake-worker` (see its source in `src/bin/`) instead of the real worker:
//! no chromedriver, no Chromium, no WhatsApp Web, so a session shows its QR or the app within
//! milliseconds and tests of supervision run in seconds on any machine.
//!
//! A test gives each session a behaviour (a JSON object per session id, camelCase keys: `mode`
//! `qr` | `ready` | `silent` | `crash`, `crashFirst`, `crashAfterMs`, `linkAfterMs`, `phone`, `memoryMb`,
//! `sendResult` `sent` | `not_on_whatsapp` | `not_linked` | `timeout` | `hang`,
//! `exitOnShutdown`, `ignoreSigterm`); every worker start reads it anew and is counted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Daemon, TempDir, bin};

/// Where the daemon believes WhatsApp Web is: nothing listens there, and the fake never looks.
pub const NO_WEB: &str = "http://127.0.0.1:9";

pub fn path() -> PathBuf {
    bin("wamux-fake-worker")
}

/// The flags that make `wamux serve` run the fake worker, followed by `extra`. chromedriver and
/// Chromium are never started, so any existing file stands in for them.
pub fn args<'a>(worker: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--worker",
        worker.to_str().expect("a UTF-8 path"),
        "--chromedriver",
        "/bin/false",
        "--chromium",
        "/bin/false",
    ];
    args.extend_from_slice(extra);
    args
}

/// Starts `wamux serve` on a fresh data directory whose sessions run the fake worker as
/// `behaviour` says.
pub fn start_daemon(behaviour: Value, extra: &[&str]) -> Daemon {
    start_daemon_with_env(behaviour, extra, &[])
}

/// [`start_daemon`] with `env` added to the daemon's environment.
pub fn start_daemon_with_env(behaviour: Value, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
    let data = TempDir::new("data");
    // The behaviour file alone would make the directory look like someone else's, which the
    // daemon refuses to take; with `sessions` in it, it is a data directory of wamux's.
    std::fs::create_dir(data.path().join("sessions")).expect("creating the sessions directory");
    write_behaviour(data.path(), &behaviour);
    let worker = path();
    Daemon::start_in_with_env(data, NO_WEB, &args(&worker, extra), env)
}

/// Starts a new `wamux serve` on the fake worker and the same data directory.
pub fn restart_daemon(daemon: &mut Daemon, extra: &[&str]) {
    let worker = path();
    daemon.restart(NO_WEB, &args(&worker, extra));
}

/// Replaces every session's behaviour; the next worker start of each session follows it.
pub fn set_behaviour(daemon: &Daemon, behaviour: Value) {
    write_behaviour(daemon.data_dir.path(), &behaviour);
}

/// How many times a worker of session `id` has started.
pub fn starts(daemon: &Daemon, id: &str) -> u64 {
    counter(daemon, id, "starts")
}

/// How many sends the workers of session `id` have received.
pub fn sends(daemon: &Daemon, id: &str) -> u64 {
    counter(daemon, id, "sends")
}

fn counter(daemon: &Daemon, id: &str, what: &str) -> u64 {
    let path = daemon
        .data_dir
        .path()
        .join(format!("fake-worker.{id}.{what}"));
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().expect("a start count"),
        Err(_) => 0,
    }
}

/// Written aside and renamed, so a worker starting meanwhile never reads half a file.
fn write_behaviour(data: &Path, behaviour: &Value) {
    let path = data.join("fake-worker.json");
    let aside = data.join("fake-worker.json.new");
    std::fs::write(&aside, behaviour.to_string()).expect("writing the fake worker's behaviour");
    std::fs::rename(&aside, &path).expect("renaming the fake worker's behaviour");
}
