//! The files of media messages: where their bytes are kept, what they are named, and how a file
//! to send is fetched from a URL without letting that URL reach inside the network.
//!
//! Files live in `DATA_DIR/media/`, each named by the SHA-256 of its bytes (lowercase hex), so
//! messages with the same file share it. A file becomes a message's in three steps, so that no
//! stored message names a missing file:
//! 1. [`MediaFiles::stage`]: the bytes go to a new name in `media/.tmp/`, fsynced. (An incoming
//!    file is staged by the worker, in its session's `media-in/` folder.)
//! 2. [`MediaFiles::place`], on the store's thread inside the transaction that inserts the
//!    message: renamed to `media/SHA256` and the folder fsynced, then the row is committed.
//! 3. The store removes the file with the last message that names it (retention, or the
//!    session's deletion), on the same thread, so a file is never placed and removed at once.
//!
//! The outbox's housekeeping removes what no message came to own: staged files after an hour,
//! kept files no message names after an hour (placed for a message whose commit then failed;
//! on the store's thread too), and what workers left in `sessions/*/media-in/` after a day.
//!
//! A URL ([`fetch`]) is fetched over `http` only (this build has no TLS), within the size limit
//! and [`FETCH_TIMEOUT`]. Unless private addresses are allowed, its host is resolved first,
//! every address it resolves to must be public ([`is_public`]), and the request connects to
//! one of those very addresses: a DNS answer that changes in between (rebinding) is never
//! asked. Redirects are followed by hand, each one checked the same way.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reqwest::Url;
use sha2::{Digest, Sha256};
use thiserror::Error;
use wamux_proto::MediaKind;

use crate::daemon::config::MEDIA_IN;

/// `--max-media-size` and `--allow-private-media-urls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// The largest file wamux accepts, fetches or keeps, in bytes.
    pub max_size: u64,
    /// Whether a URL may name a loopback or private address (for tests and closed networks).
    pub allow_private_urls: bool,
}

/// How long fetching one URL may take, redirects included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed before a URL is given up.
const MAX_REDIRECTS: usize = 5;
/// Staged files older than this belong to no request still running.
const STAGED_MAX_AGE: Duration = Duration::from_secs(3600);
/// A kept file no message names, older than this, was placed for a message never committed:
/// a file placed for a message being stored is named once its transaction commits.
pub const UNUSED_MAX_AGE: Duration = Duration::from_secs(3600);
/// A worker's file older than this in its `media-in/` is no report still to come: a worker
/// reports a file as soon as it is written, and again until it is stored.
pub const WORKER_FILE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The longest file name kept, in bytes.
const MAX_FILENAME: usize = 200;

/// The media folder of a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFiles {
    dir: PathBuf,
}

/// Bytes written and fsynced under a temporary name, not yet any message's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl MediaFiles {
    pub fn new(dir: PathBuf) -> Self {
        MediaFiles { dir }
    }

    /// Where the file of these bytes is (or would be) kept.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    fn staging(&self) -> PathBuf {
        self.dir.join(".tmp")
    }

    /// Writes `bytes`, whose SHA-256 is `sha256`, under a new temporary name and fsyncs them.
    pub fn stage(&self, bytes: &[u8], sha256: String) -> io::Result<Staged> {
        let staging = self.staging();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&staging)?;
        let path = staging.join(format!("{:016x}", rand::random::<u64>()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Staged {
            path,
            sha256,
            size: bytes.len() as u64,
        })
    }

    /// Makes the file at `from` (staged, or a worker's, with these bytes) the kept file of
    /// `sha256`, durably: its bytes fsynced, renamed into place and the folder fsynced. When
    /// that file is kept already, `from` is a copy of it and is removed.
    pub fn place(&self, from: &Path, sha256: &str) -> io::Result<PathBuf> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let to = self.path(sha256);
        if to.is_file() {
            std::fs::remove_file(from)?;
            return Ok(to);
        }
        // A worker writes its files without fsync: were only the rename durable, a power cut
        // right after the row commits could leave the message naming an empty file. (A staged
        // file is fsynced already; syncing it again costs next to nothing.)
        File::open(from)?.sync_all()?;
        std::fs::rename(from, &to)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(to)
    }

    /// Removes the kept file of `sha256`; one already gone is fine.
    pub fn remove(&self, sha256: &str) {
        match std::fs::remove_file(self.path(sha256)) {
            Ok(()) => tracing::info!(sha256, "removed a media file no message uses"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(error = %e, sha256, "could not remove a media file"),
        }
    }

    /// Removes staged files that no request took: left by a daemon that died mid-request.
    pub fn sweep_staged(&self) {
        for file in remove_old(&self.staging(), STAGED_MAX_AGE, |_| true) {
            tracing::info!(file = %file.display(), "removed a staged media file left behind");
        }
    }

    /// Removes kept files that no message names (`in_use` holds every SHA-256 a message
    /// names) and that are older than [`UNUSED_MAX_AGE`]: placed for a message whose commit
    /// then failed. Run on the store's thread, where files are placed, so that none is placed
    /// for a message between the question of what is in use and the removal.
    pub fn sweep_unused(&self, in_use: &BTreeSet<String>) {
        let unused = |name: &str| valid_sha256(name) && !in_use.contains(name);
        for file in remove_old(&self.dir, UNUSED_MAX_AGE, unused) {
            tracing::info!(file = %file.display(), "removed a media file no message names");
        }
    }
}

/// Removes what workers left in every `sessions/*/media-in/` for longer than
/// [`WORKER_FILE_MAX_AGE`]: files whose message was never stored, and `.part` files of
/// downloads a worker did not finish.
pub fn sweep_worker_files(sessions: &Path) {
    let Ok(entries) = std::fs::read_dir(sessions) else {
        return;
    };
    for entry in entries.flatten() {
        let folder = entry.path().join(MEDIA_IN);
        for file in remove_old(&folder, WORKER_FILE_MAX_AGE, |_| true) {
            tracing::info!(file = %file.display(), "removed a worker's media file left behind");
        }
    }
}

/// Removes the regular files of `dir` (not what links point to, not folders) last modified
/// longer than `max_age` ago whose names `remove` picks; answers those removed.
fn remove_old(dir: &Path, max_age: Duration, remove: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let old = entry.metadata().is_ok_and(|m| {
            m.is_file()
                && m.modified()
                    .is_ok_and(|at| now.duration_since(at).unwrap_or_default() > max_age)
        });
        let path = entry.path();
        if old
            && entry.file_name().to_str().is_some_and(&remove)
            && std::fs::remove_file(&path).is_ok()
        {
            removed.push(path);
        }
    }
    removed
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 and size of a file, read in pieces.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Whether `text` can name a kept file: 64 lowercase hex digits, nothing that walks a path.
pub fn valid_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where the API serves the file of message `id` (wamux's id) of a session.
pub fn url(session_id: &str, id: i64) -> String {
    format!("/api/sessions/{session_id}/messages/{id}/media")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A MIME type's `type/subtype`, lowercase and without parameters, when it is one (RFC 6838
/// names: a letter or digit, then letters, digits and `!#$&^_.+-`, at most 127 each).
pub fn essence(mimetype: &str) -> Option<String> {
    let essence = mimetype.split(';').next()?.trim();
    let (kind, subtype) = essence.split_once('/')?;
    let name = |s: &str| {
        (1..=127).contains(&s.len())
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    (name(kind) && name(subtype)).then(|| essence.to_ascii_lowercase())
}

/// The name the recipient sees, as given: its last path segment, without control characters,
/// at most [`MAX_FILENAME`] bytes; `None` when nothing is left.
pub fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean = String::new();
    for c in base.chars().filter(|c| !c.is_control()) {
        if clean.len() + c.len_utf8() > MAX_FILENAME {
            break;
        }
        clean.push(c);
    }
    let clean = clean.trim();
    (!clean.is_empty() && clean != "." && clean != "..").then(|| clean.to_owned())
}

/// A name for a file sent without one: its kind and its type's usual extension
/// (`image.jpg`, `document.pdf`), or `file.bin` for a type without a known one.
pub fn default_filename(mimetype: &str) -> String {
    let extension = match mimetype {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "audio/mp4" => "m4a",
        "audio/aac" => "aac",
        "audio/wav" | "audio/x-wav" => "wav",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        _ => return "file.bin".to_owned(),
    };
    format!("{}.{extension}", MediaKind::of(mimetype).as_str())
}

/// What names the file of a send request, for comparing requests under one idempotency key:
/// the URL it is fetched from, or the hash of the bytes sent.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Url(&'a str),
    Bytes { sha256: &'a str },
}

/// The canonical form of a media send request, compared under an idempotency key.
pub fn request_body(
    to: &str,
    caption: &str,
    ttl: Duration,
    mimetype: &str,
    filename: Option<&str>,
    origin: Origin<'_>,
) -> String {
    let (url, sha256) = match origin {
        Origin::Url(url) => (Some(url), None),
        Origin::Bytes { sha256 } => (None, Some(sha256)),
    };
    serde_json::json!({
        "to": to, "caption": caption, "ttlSeconds": ttl.as_secs(),
        "media": {"mimetype": mimetype, "filename": filename, "url": url, "sha256": sha256},
    })
    .to_string()
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), "this network", documentation, benchmarking, multicast or reserved. An IPv6
/// address must be global unicast (`2000::/3`) and in none of its special blocks; one that
/// reaches an IPv4 address (IPv4-mapped, IPv4-translated, NAT64's `64:ff9b::/96`, 6to4) is
/// judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0 // 0/8, "this network"
        || a == 10 // 10/8
        || a == 127 // 127/8
        || (a == 100 && (64..128).contains(&b)) // 100.64/10, shared (CGNAT)
        || (a == 169 && b == 254) // 169.254/16, link-local
        || (a == 172 && (16..32).contains(&b)) // 172.16/12
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24, IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // 192.0.2/24, documentation
        || (a == 192 && b == 88 && c == 99) // 192.88.99/24, 6to4 relay anycast
        || (a == 192 && b == 168) // 192.168/16
        || (a == 198 && (b == 18 || b == 19)) // 198.18/15, benchmarking
        || (a == 198 && b == 51 && c == 100) // 198.51.100/24, documentation
        || (a == 203 && b == 0 && c == 113) // 203.0.113/24, documentation
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast 255.255.255.255
    !blocked
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let octets = ip.octets();
    let v4_at =
        |at: usize| Ipv4Addr::new(octets[at], octets[at + 1], octets[at + 2], octets[at + 3]);
    // Forms that reach the IPv4 address they hold: ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d
    // (translated, RFC 2765) and NAT64's well-known prefix 64:ff9b::/96.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    if segments[..6] == [0, 0, 0, 0, 0xffff, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return public_v4(v4_at(12));
    }
    // 6to4, 2002:AABB:CCDD::/48, reaches AA.BB.CC.DD through a relay.
    if segments[0] == 0x2002 {
        return public_v4(v4_at(2));
    }
    // Outside 2000::/3 nothing is global unicast: ::/128, ::1, IPv4-compatible ::a.b.c.d,
    // 64:ff9b:1::/48 (local NAT64), 100::/64 (discard), fc00::/7, fe80::/10, ff00::/8, ...
    // Inside, 2001::/23 holds Teredo (2001::/32), benchmarking and ORCHID.
    let global_unicast = (segments[0] & 0xe000) == 0x2000;
    let blocked = !global_unicast
        || (segments[0] == 0x2001 && segments[1] < 0x0200) // 2001::/23, IETF protocol assignments
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // 2001:db8::/32, documentation
        || (segments[0] == 0x3fff && segments[1] < 0x1000); // 3fff::/20, documentation
    !blocked
}

/// Why a URL gave no file.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FetchError {
    /// Not a URL wamux fetches at all: the request is wrong.
    #[error("{0}")]
    BadUrl(String),
    #[error("the file is larger than --max-media-size ({limit} bytes)")]
    TooLarge { limit: u64 },
    /// A good URL that gave no file, and why.
    #[error("{0}")]
    Unavailable(String),
}

/// Fetches `url` as [`MediaConfig`] allows: its bytes, or why not.
pub async fn fetch(url: &str, config: MediaConfig) -> Result<Vec<u8>, FetchError> {
    let mut current = check_url(url)?;
    let fetched = async {
        for _ in 0..=MAX_REDIRECTS {
            let client = client_for(&current, config.allow_private_urls).await?;
            let mut response = client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| unavailable(&current, &e))?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        FetchError::Unavailable(format!(
                            "{} answered {} without a Location",
                            current,
                            response.status()
                        ))
                    })?;
                let next = current.join(location).map_err(|e| {
                    FetchError::Unavailable(format!("{current} redirected to a bad URL: {e}"))
                })?;
                current = check_url(next.as_str()).map_err(|e| {
                    FetchError::Unavailable(format!("{url} redirected to {next}: {e}"))
                })?;
                continue;
            }
            if !response.status().is_success() {
                return Err(FetchError::Unavailable(format!(
                    "{current} answered {}",
                    response.status()
                )));
            }
            if response
                .content_length()
                .is_some_and(|n| n > config.max_size)
            {
                return Err(FetchError::TooLarge {
                    limit: config.max_size,
                });
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| unavailable(&current, &e))?
            {
                if (bytes.len() + chunk.len()) as u64 > config.max_size {
                    return Err(FetchError::TooLarge {
                        limit: config.max_size,
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(bytes);
        }
        Err(FetchError::Unavailable(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetched)
        .await
        .unwrap_or_else(|_| {
            Err(FetchError::Unavailable(format!(
                "{url} took longer than {} seconds",
                FETCH_TIMEOUT.as_secs()
            )))
        })
}

/// `http` is fetched; `https` is a good URL this build cannot fetch; anything else is wrong.
pub fn check_url(url: &str) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|e| FetchError::BadUrl(format!("{url:?}: {e}")))?;
    match parsed.scheme() {
        "http" if parsed.host().is_some() => Ok(parsed),
        "https" => Err(FetchError::Unavailable(
            "this build of wamux has no TLS, so it cannot fetch https URLs: serve the file over \
             http, or send its bytes (base64 or multipart)"
                .into(),
        )),
        _ => Err(FetchError::BadUrl(format!(
            "media URLs are http:// (or https://), not {url:?}"
        ))),
    }
}

/// A client that reaches `url`'s host only at an address that passed the check: resolved
/// here, every address checked, and the connection pinned to the first of them.
async fn client_for(url: &Url, allow_private: bool) -> Result<reqwest::Client, FetchError> {
    let port = url.port_or_known_default().unwrap_or(80);
    let builder = reqwest::Client::builder()
        // A proxy would resolve the host itself, past the check.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    let refuse = |ip: IpAddr| {
        FetchError::Unavailable(format!(
            "{} is at {ip}, a loopback or private address, which wamux does not fetch from \
             (--allow-private-media-urls allows it)",
            url.host_str().unwrap_or_default()
        ))
    };
    let host = url
        .host_str()
        .ok_or_else(|| FetchError::BadUrl(format!("{url} names no host")))?;
    // The URL parser writes every IPv4 form (`0x7f.1`, `2130706433`) as dotted decimal, and
    // an IPv6 address in brackets.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let builder = if let Ok(ip) = literal.parse::<IpAddr>() {
        if !allow_private && !is_public(ip) {
            return Err(refuse(ip));
        }
        builder
    } else {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| FetchError::Unavailable(format!("cannot resolve {host}: {e}")))?
            .collect();
        let first = *addresses
            .first()
            .ok_or_else(|| FetchError::Unavailable(format!("{host} resolves to no address")))?;
        if !allow_private && let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(refuse(private.ip()));
        }
        builder.resolve(host, first)
    };
    builder
        .build()
        .map_err(|e| FetchError::Unavailable(format!("cannot make an HTTP client: {e}")))
}

fn unavailable(url: &Url, error: &reqwest::Error) -> FetchError {
    // reqwest's own message names only the URL; its source says what went wrong.
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    FetchError::Unavailable(format!("fetching {url}: {reason}"))
}

/// Runs blocking file work without stalling the runtime: on a multi-thread runtime the
/// worker's other tasks move elsewhere meanwhile; elsewhere it simply blocks.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for blocked in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(!is_public(ip(blocked)), "{blocked}");
        }
        for (blocked, why) in [
            ("192.0.0.1", "192.0.0/24, IETF protocol assignments"),
            ("192.0.0.255", "192.0.0/24"),
            ("192.0.2.10", "192.0.2/24, documentation"),
            ("198.18.0.1", "198.18/15, benchmarking"),
            ("198.19.255.255", "198.18/15"),
            ("198.51.100.7", "198.51.100/24, documentation"),
            ("203.0.113.9", "203.0.113/24, documentation"),
            ("192.88.99.1", "192.88.99/24, 6to4 relays"),
            ("240.0.0.1", "240/4, reserved"),
            ("254.255.255.255", "240/4"),
            ("255.255.255.255", "broadcast"),
            ("64:ff9b:1::1", "64:ff9b:1::/48, local NAT64"),
            (
                "64:ff9b:1:ffff::808:808",
                "64:ff9b:1::/48, whatever it holds",
            ),
            ("64:ff9b::192.168.0.1", "NAT64 of a private address"),
            ("64:ff9b::198.18.0.1", "NAT64 of a benchmarking address"),
            ("2002:7f00:1::", "6to4 of 127.0.0.1"),
            ("2002:a00:1::1", "6to4 of 10.0.0.1"),
            ("2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"),
            ("2002:c058:6301::", "6to4 of a 6to4 relay"),
            ("2001::1", "Teredo"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("::ffff:0:7f00:1", "IPv4-translated 127.0.0.1"),
            ("::ffff:0:a00:1", "IPv4-translated 10.0.0.1"),
            ("::8.8.8.8", "IPv4-compatible, deprecated"),
            ("100::1", "discard"),
            ("4000::1", "not global unicast"),
            ("e000::1", "not global unicast"),
        ] {
            assert!(!is_public(ip(blocked)), "{blocked}: {why}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "169.253.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "192.0.1.1",
            "192.88.98.1",
            "198.17.255.255",
            "198.20.0.1",
            "2002:808:808::1",
            "::ffff:0:808:808",
            "2001:200::1",
            "2a00:1450:4001::200e",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn only_http_is_fetched() {
        assert!(check_url("http://example.com/a.jpg").is_ok());
        assert!(matches!(
            check_url("https://example.com/a.jpg"),
            Err(FetchError::Unavailable(reason)) if reason.contains("no TLS")
        ));
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com/a",
            "gopher://x",
            "not a url",
            "http:/",
            "",
        ] {
            assert!(
                matches!(check_url(bad), Err(FetchError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_private_host_is_refused_before_any_connection() {
        let config = MediaConfig {
            max_size: 1024,
            allow_private_urls: false,
        };
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://0x7f.1:9/x",
            "http://localhost:9/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            match fetch(url, config).await {
                Err(FetchError::Unavailable(reason)) => {
                    assert!(reason.contains("private"), "{url}: {reason}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn mimetypes_are_type_slash_subtype() {
        assert_eq!(essence("image/jpeg").as_deref(), Some("image/jpeg"));
        assert_eq!(
            essence(" Application/PDF ; name=x").as_deref(),
            Some("application/pdf")
        );
        assert_eq!(
            essence("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
                .as_deref(),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        );
        for bad in [
            "",
            "image",
            "image/",
            "/jpeg",
            "image/jp eg",
            "im@ge/x",
            "a/b/c",
            "-a/b",
        ] {
            assert_eq!(essence(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn file_names_are_cleaned_or_made_up() {
        assert_eq!(
            clean_filename("factura.pdf").as_deref(),
            Some("factura.pdf")
        );
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_filename("C:\\Users\\ana\\foto 1.jpg").as_deref(),
            Some("foto 1.jpg")
        );
        assert_eq!(clean_filename("a\u{0}b\nc").as_deref(), Some("abc"));
        for none in ["", "  ", "dir/", "..", "."] {
            assert_eq!(clean_filename(none), None, "{none:?}");
        }
        let long = clean_filename(&"ñ".repeat(300)).unwrap();
        assert!(long.len() <= MAX_FILENAME && long.chars().all(|c| c == 'ñ'));

        assert_eq!(default_filename("image/jpeg"), "image.jpg");
        assert_eq!(default_filename("application/pdf"), "document.pdf");
        assert_eq!(default_filename("video/mp4"), "video.mp4");
        assert_eq!(default_filename("audio/ogg"), "audio.ogg");
        assert_eq!(default_filename("application/x-unknown"), "file.bin");
    }

    #[test]
    fn files_are_staged_then_placed_once_by_their_hash() {
        let dir = std::env::temp_dir().join(format!("wamux-media-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = MediaFiles::new(dir.join("media"));
        let staged = files.stage(b"hola", sha256_hex(b"hola")).unwrap();
        assert_eq!(staged.size, 4);
        assert_eq!(
            staged.sha256,
            "b221d9dbb083a7f33428d7c2a3c3198ae925614d70210e28716ccaa7cd4ddb79"
        );
        assert_eq!(hash_file(&staged.path).unwrap(), (staged.sha256.clone(), 4));
        assert!(valid_sha256(&staged.sha256));
        for bad in [
            "",
            "../../etc/passwd",
            &staged.sha256.to_uppercase(),
            &staged.sha256[1..],
        ] {
            assert!(!valid_sha256(bad), "{bad}");
        }
        let kept = files.place(&staged.path, &staged.sha256).unwrap();
        assert_eq!(kept, files.path(&staged.sha256));
        assert_eq!(std::fs::read(&kept).unwrap(), b"hola");
        assert!(!staged.path.exists());

        let again = files.stage(b"hola", sha256_hex(b"hola")).unwrap();
        assert_ne!(again.path, staged.path, "a new name each time");
        files.place(&again.path, &again.sha256).unwrap();
        assert!(!again.path.exists(), "the copy of a kept file is dropped");
        assert_eq!(std::fs::read(&kept).unwrap(), b"hola");

        files.sweep_staged();
        let fresh = files.stage(b"x", sha256_hex(b"x")).unwrap();
        files.sweep_staged();
        assert!(
            fresh.path.exists(),
            "a recent staged file may be a request's"
        );
        files.remove(&staged.sha256);
        assert!(!kept.exists());
        files.remove(&staged.sha256);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_idempotent_form_tells_files_apart() {
        let ttl = Duration::from_secs(60);
        let body = |origin| request_body("1", "c", ttl, "image/png", None, origin);
        assert_eq!(
            body(Origin::Bytes { sha256: "aa" }),
            body(Origin::Bytes { sha256: "aa" })
        );
        assert_ne!(
            body(Origin::Bytes { sha256: "aa" }),
            body(Origin::Bytes { sha256: "bb" })
        );
        assert_ne!(
            body(Origin::Url("http://x/a")),
            body(Origin::Url("http://x/b"))
        );
    }
}
