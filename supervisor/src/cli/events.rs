//! `wamux events`: follows `/api/events` and prints one line per event until the daemon
//! stops (exit 0) or cannot be reached.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::Value;

use super::DaemonArgs;
use super::client::{Client, fail};
use super::output::cell;

pub async fn run(daemon: &DaemonArgs, session: Option<&str>) -> ExitCode {
    let path = match session {
        Some(id) => format!("/api/events?session={id}"),
        None => "/api/events".to_owned(),
    };
    let mut response = match Client::new(daemon).send(Method::GET, &path, None).await {
        Ok(response) => response,
        Err(e) => return fail(e),
    };
    let mut buffer = String::new();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => buffer.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wamux: the event stream broke: {e}");
                return ExitCode::from(75);
            }
        }
        // SSE events end with a blank line; each `data:` line holds one event's JSON.
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for data in block.lines().filter_map(|l| l.strip_prefix("data:")) {
                print_event(data.trim(), daemon.json);
            }
        }
    }
}

fn print_event(data: &str, json: bool) {
    if json {
        println!("{data}");
        return;
    }
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        println!("{data}");
        return;
    };
    let detail = match event["type"].as_str() {
        Some("status") => cell(&event["status"]),
        Some("ready") => format!("linked to {}", cell(&event["phoneNumber"])),
        Some("messageSent") => format!(
            "{} to {}",
            cell(&event["messageId"]),
            cell(&event["phoneNumber"])
        ),
        Some("messageFailed") => format!(
            "to {}: {}",
            cell(&event["phoneNumber"]),
            cell(&event["error"])
        ),
        Some("messageReceived") => {
            format!("from {}: {}", cell(&event["chatId"]), cell(&event["text"]))
        }
        _ => String::new(),
    };
    println!(
        "{}  {:<16}  {:<15}  {detail}",
        cell(&event["at"]),
        cell(&event["sessionId"]),
        cell(&event["type"]),
    );
}
