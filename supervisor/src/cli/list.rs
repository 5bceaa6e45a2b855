//! `wamux list` and `wamux kill ID`.

use std::process::ExitCode;

use serde_json::Value;

use super::DaemonArgs;
use super::client::{ClientError, request};

fn fail(e: ClientError) -> ExitCode {
    eprintln!("wamux: {e}");
    ExitCode::from(e.exit_code())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn list(daemon: &DaemonArgs) -> ExitCode {
    let body = match request(daemon, reqwest::Method::GET, "/api/sessions").await {
        Ok(body) => body,
        Err(e) => return fail(e),
    };
    if daemon.json {
        println!("{body}");
        return ExitCode::SUCCESS;
    }
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();
    let rows: Vec<[String; 4]> = sessions
        .iter()
        .map(|s| {
            [
                text(&s["sessionId"]),
                text(&s["status"]),
                text(&s["phoneNumber"]),
                text(&s["restarts"]),
            ]
        })
        .collect();
    print_table(["SESSION", "STATUS", "PHONE", "RESTARTS"], &rows);
    ExitCode::SUCCESS
}

pub async fn kill(daemon: &DaemonArgs, id: &str) -> ExitCode {
    let path = format!("/api/sessions/{id}/kill");
    match request(daemon, reqwest::Method::POST, &path).await {
        Ok(body) if daemon.json => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Ok(body) => {
            println!("killed {id}: {}", text(&body["status"]));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
