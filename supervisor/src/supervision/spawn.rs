//! Starting a worker process for a session.
//!
//! The worker leads a new process group, which its chromedriver and Chromium inherit, so the
//! whole tree can be killed with one signal; where workers can be isolated, it is told the
//! egress socket, and its tree then runs in a network namespace of its own. Its stderr (its
//! log) is re-emitted line by line under the session's span, so one `grep ID` over the
//! daemon's log tells a session's story.
//! It gets only the few environment variables it needs ([`PASSED_ON`]), never the daemon's
//! secrets. It writes the files of incoming media messages in `media-in/` beside its profile
//! (created here), no larger than `--max-media-size`; the inbox takes them from there.
//!
//! The worker logs with tracing-subscriber's default format, ANSI off on a pipe:
//! `2026-12-01T21:49:03.837050Z ERROR worker{session=s1}: wamux_worker: message k=v`. Each
//! line is split into level, target and message and re-emitted at the worker's level, without
//! its timestamp, level and spans (its one span names the session, as the daemon's do); the
//! worker's target goes in a `from` field. A line in any other form (a panic message, something
//! chromedriver printed) goes out at INFO as it is.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tracing::{Instrument, Level};

use crate::daemon::config::{MEDIA_IN, ServeConfig};
use crate::egress::isolation::Isolation;

/// Spawns the worker that connects as `session_id` (a session's id, or a warm spare's name) on
/// `profile`. Returns it with the span its log is re-emitted under, whose empty `session`
/// field names the session that adopts a warm spare.
pub fn spawn_worker(
    config: &ServeConfig,
    session_id: &str,
    profile: &Path,
    socket: &Path,
) -> std::io::Result<(Child, tracing::Span)> {
    let media_in = profile.with_file_name(MEDIA_IN);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&media_in)?;
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
        .arg("--media-dir")
        .arg(&media_in)
        .arg("--max-media-size")
        .arg(config.outbox.media.max_size.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    // With isolation, the worker enters a network namespace of its own and its browser reaches
    // the web only through the egress (crate::egress).
    if crate::egress::isolation::current() == Isolation::NetworkNamespace {
        command
            .arg("--egress-socket")
            .arg(crate::egress::socket_beside(socket));
    }
    command
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| passed_on(name)));
    let mut child = crate::process::forker::spawn(command)?;
    // A child of the caller's span, the session's (which names the session already) or the
    // spare's; the pid tells one run of the worker from the next.
    let span = tracing::info_span!("worker", pid = child.id(), session = tracing::field::Empty);
    if let Some(stderr) = child.stderr.take() {
        let span = span.clone();
        tokio::spawn(
            async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    reemit(&line);
                }
            }
            .instrument(span),
        );
    }
    Ok((child, span))
}

/// What a worker, its chromedriver and its Chromium see of the daemon's environment, which
/// holds `WAMUX_API_KEY` and whatever else the service file or the shell put there: a page
/// that escapes Chromium's sandbox, or anyone reading `/proc/PID/environ` of a process running
/// as the service user, must find no secret. Nothing else is needed:
/// - `PATH`: the tools that chromedriver and Chromium start by name (and what `exec` searches);
/// - `HOME`, `XDG_CONFIG_HOME`, `XDG_CACHE_HOME`: where Chromium keeps its NSS database, font
///   cache and crash reports, as the operator placed them;
/// - `TMPDIR`: where Chromium makes its `org.chromium.*` folders, which the daemon looks for
///   under its own temporary directory when it cleans up after a killed browser;
/// - `LANG`, `LANGUAGE`, `LC_*`: the browser's locale, hence WhatsApp Web's language;
/// - `TZ`: the clock of the worker's log and of the page;
/// - `RUST_LOG`, `RUST_BACKTRACE`: the worker's log level, and its panics' backtraces.
///
/// Proxy variables (`https_proxy` and the like, which may carry a password) stay behind too:
/// the browser reaches the web the way the daemon sets up for it.
const PASSED_ON: &[&str] = &[
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "TZ",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

fn passed_on(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|name| PASSED_ON.contains(&name) || name.starts_with("LC_"))
}

/// One line of the worker's log, split.
#[derive(Debug, PartialEq, Eq)]
struct WorkerLine<'a> {
    level: Level,
    target: &'a str,
    message: &'a str,
}

fn reemit(line: &str) {
    // The level of an event is part of its static callsite, hence one macro call per level.
    macro_rules! emit {
        ($level:expr, $parsed:expr) => {
            tracing::event!(
                target: "wamux::worker",
                $level,
                from = $parsed.target,
                "{}",
                $parsed.message
            )
        };
    }
    match parse_line(line) {
        Some(p) if p.level == Level::ERROR => emit!(Level::ERROR, p),
        Some(p) if p.level == Level::WARN => emit!(Level::WARN, p),
        Some(p) if p.level == Level::INFO => emit!(Level::INFO, p),
        Some(p) if p.level == Level::DEBUG => emit!(Level::DEBUG, p),
        Some(p) => emit!(Level::TRACE, p),
        None => tracing::info!(target: "wamux::worker", "{line}"),
    }
}

/// Splits `TIMESTAMP LEVEL SPANS: TARGET: MESSAGE`, where the level is padded to five columns
/// and each span is `name` or `name{fields}` followed by `:`; `None` for any other line.
fn parse_line(line: &str) -> Option<WorkerLine<'_>> {
    let (timestamp, rest) = line.split_once(' ')?;
    if !looks_like_timestamp(timestamp) {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    let (level, rest) = rest.split_once(' ')?;
    let level: Level = level.parse().ok()?;
    let (spans, rest) = split_spans(rest);
    let rest = if spans { rest.strip_prefix(' ')? } else { rest };
    let (target, message) = rest.split_once(": ")?;
    if !is_path(target) {
        return None;
    }
    Some(WorkerLine {
        level,
        target,
        message,
    })
}

/// RFC 3339 as tracing-subscriber writes it: `2026-12-01T21:49:03.837050Z`.
fn looks_like_timestamp(s: &str) -> bool {
    s.len() >= 20
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && s[4..].starts_with('-')
        && s.as_bytes()[10] == b'T'
}

/// Skips the span list (`a{x=1}:b:`) at the start of `s`: whether there was one, and the rest.
fn split_spans(s: &str) -> (bool, &str) {
    let mut rest = s;
    let mut seen = false;
    loop {
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if name_len == 0 {
            return (seen, rest);
        }
        let after = &rest[name_len..];
        let after = match after.as_bytes().first() {
            Some(b'{') => match closing_brace(after) {
                Some(end) => &after[end + 1..],
                None => return (seen, rest),
            },
            _ => after,
        };
        // A fieldless span is `name:` and then the next span or a space; `name::` is a target
        // path, and `name: ` with no target after it is the target itself.
        match after.strip_prefix(':') {
            Some(next)
                if !next.starts_with(':')
                    && (next.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                        || next.strip_prefix(' ').is_some_and(has_target)) =>
            {
                rest = next;
                seen = true;
            }
            _ => return (seen, rest),
        }
    }
}

/// Whether `s` starts with `path::to::target: `.
fn has_target(s: &str) -> bool {
    s.split_once(": ")
        .is_some_and(|(target, _)| is_path(target))
}

/// The index of the `}` closing the `{` that starts `s`; field values may hold braces.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A Rust module path such as `wamux_worker::browser::launch`.
fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.split("::").all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_worker_line_keeps_its_level_target_and_message() {
        let line = "2026-12-01T21:49:03.837050Z ERROR worker{session=s1}: wamux_worker: cannot \
                    reach the supervisor: cannot connect to /tmp/x.sock: No such file or \
                    directory (os error 2)";
        assert_eq!(
            parse_line(line),
            Some(WorkerLine {
                level: Level::ERROR,
                target: "wamux_worker",
                message: "cannot reach the supervisor: cannot connect to /tmp/x.sock: No such \
                          file or directory (os error 2)",
            })
        );
    }

    #[test]
    fn padded_levels_nested_spans_and_fields_are_understood() {
        let line = "2026-12-01T21:49:03.837050Z  WARN worker{session=a:b {x}}:send: \
                    wamux_worker::whatsapp::session: slow chat=5215512345678 elapsed=3s";
        assert_eq!(
            parse_line(line),
            Some(WorkerLine {
                level: Level::WARN,
                target: "wamux_worker::whatsapp::session",
                message: "slow chat=5215512345678 elapsed=3s",
            })
        );
        let info =
            "2026-12-01T21:49:03.837050Z  INFO worker{session=s1}: wamux_worker::browser: up";
        assert_eq!(parse_line(info).map(|l| l.level), Some(Level::INFO));
    }

    #[test]
    fn a_line_without_spans_or_with_a_fieldless_last_span_still_parses() {
        let bare = "2026-12-01T21:49:03.837050Z DEBUG wamux_worker::link: frame sent";
        assert_eq!(
            parse_line(bare).map(|l| (l.target, l.message)),
            Some(("wamux_worker::link", "frame sent"))
        );
        let fieldless = "2026-12-01T21:49:03.837050Z TRACE send: wamux_worker: hello: there";
        assert_eq!(
            parse_line(fieldless).map(|l| (l.level, l.target, l.message)),
            Some((Level::TRACE, "wamux_worker", "hello: there"))
        );
    }

    #[test]
    fn only_what_a_worker_needs_is_passed_on() {
        for name in [
            "PATH", "HOME", "LANG", "LC_ALL", "LC_TIME", "TZ", "RUST_LOG", "TMPDIR",
        ] {
            assert!(passed_on(name.as_ref()), "{name}");
        }
        for name in [
            "WAMUX_API_KEY",
            "WAMUX_LARAVEL_ENV",
            "AWS_SECRET_ACCESS_KEY",
            "https_proxy",
            "NOTIFY_SOCKET",
            "LD_PRELOAD",
            "path",
        ] {
            assert!(!passed_on(name.as_ref()), "{name}");
        }
    }

    #[test]
    fn other_lines_are_not_parsed() {
        for line in [
            "thread 'main' panicked at worker/src/main.rs:10:5:",
            "Starting ChromeDriver 140.0 on port 9515",
            "2026-12-01T21:49:03.837050Z LOUD worker{session=s1}: wamux_worker: x",
            "2026-12-01T21:49:03.837050Z  INFO worker{session=s1}: no target here",
            "",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }
}
