//! `wamux pair ID PHONE`: links a session with a pairing code instead of a QR.
//!
//! 1. Wait until the session shows its landing screen (SCAN_QR_CODE), then ask the daemon for
//!    a code for PHONE (`POST /api/sessions/{id}/pairing-code`).
//! 2. Print it in large type, with where to type it on the phone.
//! 3. Follow the session: print each code that replaces an expired one, and exit 0 once the
//!    session is WORKING (75 if it stops or fails on the way).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::DaemonArgs;
use super::client::{Client, ClientError, escape, fail};

/// How often the session is looked at while it waits.
const POLL: Duration = Duration::from_secs(1);
/// How long the session may take to show its landing screen before a code is asked for.
const LANDING_WAIT: Duration = Duration::from_secs(180);

pub async fn run(daemon: &DaemonArgs, id: &str, phone: &str) -> ExitCode {
    let client = Client::new(daemon);
    let base = format!("/api/sessions/{}", escape(id));
    let deadline = Instant::now() + LANDING_WAIT;
    loop {
        let session = match client.json(Method::GET, &base, None).await {
            Ok(session) => session,
            Err(e) => return fail(e),
        };
        match session["status"].as_str() {
            Some("SCAN_QR_CODE") => break,
            Some("WORKING") => {
                eprintln!("wamux: {id} is already linked to a phone");
                return ExitCode::from(65);
            }
            Some("STOPPED" | "FAILED") => {
                eprintln!("wamux: {id} is not running: start it first");
                return ExitCode::from(65);
            }
            _ if Instant::now() >= deadline => {
                eprintln!("wamux: {id} did not show its landing screen in time");
                return ExitCode::from(75);
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
    let body = json!({ "phoneNumber": phone });
    let code = match client
        .json(Method::POST, &format!("{base}/pairing-code"), Some(body))
        .await
    {
        Ok(code) => code,
        Err(e) => return fail(e),
    };
    let mut shown = code["code"].as_str().unwrap_or_default().to_owned();
    show(daemon, &code);
    loop {
        tokio::time::sleep(POLL).await;
        let session = match client.json(Method::GET, &base, None).await {
            Ok(session) => session,
            Err(ClientError::Unreachable { .. }) => continue,
            Err(e) => return fail(e),
        };
        match session["status"].as_str() {
            Some("WORKING") => {
                if daemon.json {
                    println!("{session}");
                } else {
                    let number = session["phoneNumber"].as_str().unwrap_or("?");
                    println!("Linked: {id} is WORKING as +{number}");
                }
                return ExitCode::SUCCESS;
            }
            Some(status @ ("STOPPED" | "FAILED")) => {
                let why = session["lastError"].as_str().unwrap_or("no reason given");
                eprintln!("wamux: {id} is {status} ({why})");
                return ExitCode::from(75);
            }
            _ => {}
        }
        if let Some(code) = session["pairingCode"].as_str()
            && code != shown
        {
            shown = code.to_owned();
            let replaced = json!({
                "code": code,
                "expiresAt": session["pairingCodeExpiresAt"],
            });
            show(daemon, &replaced);
        }
    }
}

fn show(daemon: &DaemonArgs, code: &Value) {
    if daemon.json {
        println!("{code}");
        return;
    }
    let text = code["code"].as_str().unwrap_or_default();
    println!("{}", big(text));
    println!("  {text}");
    if let Some(left) = code["expiresAt"].as_i64().map(seconds_left) {
        println!("  valid for about {left} s; a new code is printed when it expires");
    }
    println!(
        "On the phone: WhatsApp > Linked devices > Link a device > Link with phone number \
         instead, then type the code. Waiting for the link..."
    );
}

/// Seconds from now until `at` (milliseconds since the epoch), at least 0.
fn seconds_left(at: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    ((at - now) / 1000).max(0)
}

/// Five rows of five columns for each character a pairing code holds.
fn glyph(c: char) -> [&'static str; 5] {
    match c.to_ascii_uppercase() {
        'A' => [".###.", "#...#", "#####", "#...#", "#...#"],
        'B' => ["####.", "#...#", "####.", "#...#", "####."],
        'C' => [".####", "#....", "#....", "#....", ".####"],
        'D' => ["####.", "#...#", "#...#", "#...#", "####."],
        'E' => ["#####", "#....", "####.", "#....", "#####"],
        'F' => ["#####", "#....", "####.", "#....", "#...."],
        'G' => [".####", "#....", "#..##", "#...#", ".####"],
        'H' => ["#...#", "#...#", "#####", "#...#", "#...#"],
        'I' => ["#####", "..#..", "..#..", "..#..", "#####"],
        'J' => ["..###", "...#.", "...#.", "#..#.", ".##.."],
        'K' => ["#...#", "#..#.", "###..", "#..#.", "#...#"],
        'L' => ["#....", "#....", "#....", "#....", "#####"],
        'M' => ["#...#", "##.##", "#.#.#", "#...#", "#...#"],
        'N' => ["#...#", "##..#", "#.#.#", "#..##", "#...#"],
        'O' => [".###.", "#...#", "#...#", "#...#", ".###."],
        'P' => ["####.", "#...#", "####.", "#....", "#...."],
        'Q' => [".###.", "#...#", "#.#.#", "#..#.", ".##.#"],
        'R' => ["####.", "#...#", "####.", "#..#.", "#...#"],
        'S' => [".####", "#....", ".###.", "....#", "####."],
        'T' => ["#####", "..#..", "..#..", "..#..", "..#.."],
        'U' => ["#...#", "#...#", "#...#", "#...#", ".###."],
        'V' => ["#...#", "#...#", "#...#", ".#.#.", "..#.."],
        'W' => ["#...#", "#...#", "#.#.#", "##.##", "#...#"],
        'X' => ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
        'Y' => ["#...#", ".#.#.", "..#..", "..#..", "..#.."],
        'Z' => ["#####", "...#.", "..#..", ".#...", "#####"],
        '0' => [".###.", "#..##", "#.#.#", "##..#", ".###."],
        '1' => ["..#..", ".##..", "..#..", "..#..", ".###."],
        '2' => [".###.", "#...#", "..##.", ".#...", "#####"],
        '3' => ["####.", "....#", ".###.", "....#", "####."],
        '4' => ["#...#", "#...#", "#####", "....#", "....#"],
        '5' => ["#####", "#....", "####.", "....#", "####."],
        '6' => [".###.", "#....", "####.", "#...#", ".###."],
        '7' => ["#####", "....#", "...#.", "..#..", "..#.."],
        '8' => [".###.", "#...#", ".###.", "#...#", ".###."],
        '9' => [".###.", "#...#", ".####", "....#", ".###."],
        '-' => [".....", ".....", "#####", ".....", "....."],
        _ => [".....", ".....", "..#..", ".....", "....."],
    }
}

/// `text` in large type: block characters, five lines high.
fn big(text: &str) -> String {
    let glyphs: Vec<_> = text.chars().map(glyph).collect();
    (0..5)
        .map(|row| {
            let line: Vec<String> = glyphs
                .iter()
                .map(|g| g[row].replace('#', "█").replace('.', " "))
                .collect();
            format!("  {}", line.join(" ").trim_end())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_five_lines_of_blocks() {
        let text = big("AB-1");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[2], "  █████ ████  █████   █");
        assert!(text.chars().all(|c| matches!(c, '█' | ' ' | '\n')));
    }

    #[test]
    fn every_code_character_has_its_own_glyph() {
        let unknown = glyph('?');
        for c in ('A'..='Z').chain('0'..='9').chain(['-']) {
            assert_ne!(glyph(c), unknown, "{c}");
        }
    }
}
