//! `wamux qr ID`: the session's QR code drawn with Unicode half blocks, two module rows per
//! line, so a phone can scan it from a terminal over ssh.

use std::process::ExitCode;

use qrcode::{Color, QrCode};
use reqwest::Method;

use super::DaemonArgs;
use super::client::{Client, escape, fail};

/// Quiet zone around the code, in modules; phones need some.
const QUIET: usize = 2;

pub async fn run(daemon: &DaemonArgs, id: &str, invert: bool) -> ExitCode {
    let path = format!("/api/sessions/{}/qr?format=raw", escape(id));
    let body = match Client::new(daemon).json(Method::GET, &path, None).await {
        Ok(body) => body,
        Err(e) => return fail(e),
    };
    if daemon.json {
        println!("{body}");
        return ExitCode::SUCCESS;
    }
    let Some(payload) = body["qr"].as_str() else {
        eprintln!("wamux: the daemon answered without a QR payload");
        return ExitCode::from(65);
    };
    match draw(payload, invert) {
        Some(text) => {
            print!("{text}");
            println!(
                "Scan with WhatsApp > Linked devices > Link a device. It rotates: run again if it expired."
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("wamux: the payload cannot be drawn as a QR code");
            ExitCode::from(65)
        }
    }
}

/// The code as text. By default light modules are blocks, which shows right on the dark
/// background most terminals have.
pub fn draw(payload: &str, invert: bool) -> Option<String> {
    let code = QrCode::new(payload.as_bytes()).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let side = width + 2 * QUIET;
    let block = |x: usize, y: usize| -> bool {
        let dark = x >= QUIET
            && y >= QUIET
            && x < QUIET + width
            && y < QUIET + width
            && colors[(y - QUIET) * width + (x - QUIET)] == Color::Dark;
        dark == invert
    };
    let mut out = String::new();
    for y in (0..side).step_by(2) {
        for x in 0..side {
            let top = block(x, y);
            let bottom = y + 1 < side && block(x, y + 1);
            out.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_square_with_a_quiet_zone() {
        let text = draw("2@abc,def", false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let side = lines[0].chars().count();
        assert_eq!(lines.len(), side.div_ceil(2));
        assert!(
            lines[0].chars().all(|c| c == '█'),
            "the quiet zone is light"
        );
        let inverted = draw("2@abc,def", true).unwrap();
        assert!(inverted.lines().next().unwrap().chars().all(|c| c == ' '));
    }
}
