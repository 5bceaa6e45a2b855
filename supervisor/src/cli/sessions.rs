//! `wamux list`, `status`, `create`, and the actions on one session: `delete`,
//! `restart`, `stop`, `start`, `kill`, `logout`.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};

use super::DaemonArgs;
use super::client::{Client, escape, fail};
use super::output::{cell, mib, print_table};

/// `--json` prints the daemon's answer as it came; people get `text`.
pub(super) fn show(daemon: &DaemonArgs, body: &Value, text: impl FnOnce(&Value)) -> ExitCode {
    if daemon.json {
        println!("{body}");
    } else {
        text(body);
    }
    ExitCode::SUCCESS
}

pub async fn list(daemon: &DaemonArgs) -> ExitCode {
    match Client::new(daemon)
        .json(Method::GET, "/api/sessions", None)
        .await
    {
        Ok(body) => show(daemon, &body, |body| {
            let rows: Vec<[String; 5]> = body["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    [
                        cell(&s["sessionId"]),
                        cell(&s["status"]),
                        cell(&s["phoneNumber"]),
                        mib(&s["memoryBytes"]),
                        cell(&s["restarts"]),
                    ]
                })
                .collect();
            print_table(["SESSION", "STATUS", "PHONE", "MEMORY", "RESTARTS"], &rows);
        }),
        Err(e) => fail(e),
    }
}

pub async fn status(daemon: &DaemonArgs, id: &str) -> ExitCode {
    let path = format!("/api/sessions/{}", escape(id));
    match Client::new(daemon).json(Method::GET, &path, None).await {
        Ok(body) => show(daemon, &body, |s| {
            for (label, key) in [
                ("session", "sessionId"),
                ("status", "status"),
                ("phone", "phoneNumber"),
                ("qr on show", "qrAvailable"),
                ("pairing code", "pairingCode"),
                ("last error", "lastError"),
                ("restarts", "restarts"),
                ("worker pid", "workerPid"),
                ("browser pid", "browserPid"),
            ] {
                println!("{label:<13} {}", cell(&s[key]));
            }
            println!("{:<13} {}", "memory", mib(&s["memoryBytes"]));
        }),
        Err(e) => fail(e),
    }
}

pub async fn create(daemon: &DaemonArgs, id: Option<&str>) -> ExitCode {
    let body = id.map(|id| json!({"sessionId": id}));
    match Client::new(daemon)
        .json(Method::POST, "/api/sessions", body)
        .await
    {
        Ok(body) => show(daemon, &body, |b| {
            println!(
                "created {}: link it with `wamux qr {}`",
                cell(&b["sessionId"]),
                cell(&b["sessionId"])
            );
        }),
        Err(e) => fail(e),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Delete,
    Restart,
    Stop,
    Start,
    Kill,
    Logout,
}

pub async fn act(daemon: &DaemonArgs, id: &str, action: Action) -> ExitCode {
    let segment = escape(id);
    let (method, path, done) = match action {
        Action::Delete => (
            Method::DELETE,
            format!("/api/sessions/{segment}"),
            "deleted",
        ),
        Action::Restart => (
            Method::POST,
            format!("/api/sessions/{segment}/restart"),
            "restarted",
        ),
        Action::Stop => (
            Method::POST,
            format!("/api/sessions/{segment}/stop"),
            "stopped",
        ),
        Action::Start => (
            Method::POST,
            format!("/api/sessions/{segment}/start"),
            "started",
        ),
        Action::Kill => (
            Method::POST,
            format!("/api/sessions/{segment}/kill"),
            "killed",
        ),
        Action::Logout => (
            Method::POST,
            format!("/api/sessions/{segment}/logout"),
            "logged out",
        ),
    };
    match Client::new(daemon).json(method, &path, None).await {
        Ok(body) => show(daemon, &body, |b| match b.get("status") {
            Some(status) => println!("{done} {id}: {}", cell(status)),
            None => println!("{done} {id}"),
        }),
        Err(e) => fail(e),
    }
}
