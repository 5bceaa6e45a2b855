//! `wamux events`: follows `/api/events` and prints one line per event until the daemon
//! stops (exit 0) or cannot be reached.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::Value;

use super::DaemonArgs;
use super::client::{Client, escape, fail};
use super::output::{cell, printable};

pub async fn run(daemon: &DaemonArgs, session: Option<&str>) -> ExitCode {
    let path = match session {
        Some(id) => format!("/api/events?session={}", escape(id)),
        None => "/api/events".to_owned(),
    };
    let mut response = match Client::new(daemon).send(Method::GET, &path, None).await {
        Ok(response) => response,
        Err(e) => return fail(e),
    };
    let mut stream = Stream::default();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                for data in stream.feed(&bytes) {
                    print_event(&data, daemon.json);
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wamux: the event stream broke: {e}");
                return ExitCode::from(75);
            }
        }
    }
}

/// The event stream as it arrives: bytes are kept until an event is complete, so a character
/// split between two chunks is decoded whole.
#[derive(Default)]
struct Stream {
    buffer: Vec<u8>,
}

impl Stream {
    /// Takes the next chunk; answers the data of each event it completes.
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        // SSE events end with a blank line; each `data:` line holds one event's JSON. No byte
        // of a multi-byte UTF-8 character is a newline, so a block ends on a character's end.
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let block = String::from_utf8_lossy(&block);
            for data in block.lines().filter_map(|l| l.strip_prefix("data:")) {
                events.push(data.trim().to_owned());
            }
        }
        events
    }
}

/// A JSON event as printed with `--json`: the same JSON, with every control character that
/// JSON lets through raw (DEL and C1, which some terminals obey) written as a `\\u` escape.
fn json_line(data: &str) -> String {
    let mut out = String::with_capacity(data.len());
    for c in data.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn print_event(data: &str, json: bool) {
    if json {
        println!("{}", json_line(data));
        return;
    }
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        println!("{}", printable(data));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_arrives_whole() {
        let event = "data: {\"text\":\"año 🙂\"}\n\n".as_bytes();
        let emoji = event.len() - 6;
        for split in [emoji - 3, emoji - 1, emoji + 1, emoji + 2] {
            let mut stream = Stream::default();
            assert_eq!(stream.feed(&event[..split]), Vec::<String>::new());
            assert_eq!(
                stream.feed(&event[split..]),
                vec!["{\"text\":\"año 🙂\"}".to_owned()],
                "split at {split}"
            );
        }
    }

    #[test]
    fn events_come_out_one_by_one_whatever_the_chunks() {
        let mut stream = Stream::default();
        assert_eq!(stream.feed(b"data: 1\n\nda"), vec!["1"]);
        assert_eq!(stream.feed(b"ta: 2\n"), Vec::<String>::new());
        assert_eq!(stream.feed(b"\n: ping\n\ndata: 3\n\n"), vec!["2", "3"]);
    }

    #[test]
    fn json_output_escapes_c1_controls_and_keeps_its_meaning() {
        let data = "{\"text\":\"a\u{9b}31mb\"}";
        let shown = json_line(data);
        assert!(!shown.contains('\u{9b}'), "{shown}");
        let parsed: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(parsed["text"], "a\u{9b}31mb");
    }
}
