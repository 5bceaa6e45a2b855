//! `wamux send` and `wamux messages`: messages through the daemon's outbox.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::json;

use super::DaemonArgs;
use super::client::{Client, escape, fail};
use super::output::{cell, print_table};
use super::sessions::show;

/// Prints the message's id and status: `sent` once WhatsApp shows it, else still on its way.
pub async fn send(daemon: &DaemonArgs, id: &str, phone: &str, text: &str, wait: bool) -> ExitCode {
    let query = if wait { "" } else { "?wait=false" };
    let path = format!("/api/sessions/{}/send-message{query}", escape(id));
    let body = json!({"phoneNumber": phone, "message": text});
    match Client::new(daemon)
        .json(Method::POST, &path, Some(body))
        .await
    {
        Ok(body) => show(daemon, &body, |b| match b["messageId"].as_str() {
            Some(wa_id) => println!("{} {} ({wa_id})", cell(&b["id"]), cell(&b["status"])),
            None => println!("{} {}", cell(&b["id"]), cell(&b["status"])),
        }),
        Err(e) => fail(e),
    }
}

pub async fn list(daemon: &DaemonArgs, id: &str, status: Option<&str>, limit: u32) -> ExitCode {
    let mut path = format!("/api/sessions/{}/messages?limit={limit}", escape(id));
    if let Some(status) = status {
        path.push_str(&format!("&status={}", escape(status)));
    }
    match Client::new(daemon).json(Method::GET, &path, None).await {
        Ok(body) => show(daemon, &body, |b| {
            let rows: Vec<[String; 5]> = b["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let text: String = m["text"].as_str().unwrap_or("").chars().take(40).collect();
                    [
                        cell(&m["id"]),
                        cell(&m["status"]),
                        cell(&m["to"]),
                        cell(&m["messageId"]),
                        text,
                    ]
                })
                .collect();
            print_table(["ID", "STATUS", "TO", "WHATSAPP ID", "TEXT"], &rows);
        }),
        Err(e) => fail(e),
    }
}
