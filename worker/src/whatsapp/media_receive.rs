//! Reading the file of an incoming media message (contract §11) into `--media-dir`, before the
//! message is reported.
//!
//! The page gives a file only while its row is shown, by a `fetch` of the row's `blob:` URL from
//! inside the page (`scripts/media_read.js`), passed back base64-encoded in pieces of
//! [`CHUNK_BYTES`].
//!
//! 1. A file already there under the message's name ([`file_name`]: the message is reported
//!    again, or an earlier worker read it) is reused: hashed again, not read again.
//! 2. Without `--media-dir`, or when the message's model says it is larger than
//!    `--max-media-size`, nothing is read: the media is reported with `missing`.
//! 3. The row: a message read through the DOM is on show already. For one the modules told of,
//!    the open chat is looked at, and otherwise the chat is opened by its `/send` link (a
//!    person's chat, `DIGITS@c.us`; a group's cannot be opened so, and its file is `missing`).
//!    Reading a media file that way opens its chat, so WhatsApp marks the chat read on the
//!    phone, which the modules alone never do. The row is then polled until it shows its
//!    `blob:` URL.
//! 4. Documents: the contract promises only image and voice-note rows readable. A document row
//!    with a `blob:` link is read like the others; without one it is `missing`.
//! 5. A file larger than `--max-media-size` once opened is not passed back (the size the page
//!    tells is checked here too, before anything is reserved for it). The bytes go to a
//!    temporary name in `--media-dir`, synced to disk, then renamed: the supervisor takes the
//!    file once it has the message, so a power cut must not leave it empty or partial. Size and
//!    SHA-256 are reported.
//!
//! Steps 3 to 5 are bounded by [`MediaStore::timeout`]: past it the media is `missing` and the
//! session goes on. Only the browser's end is an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::time::timeout;
use tracing::{debug, info, warn};
use wamux_proto::{IncomingMedia, IncomingMessage, MAX_SEEN_ROWS};

use super::page::{self, MessageKey};
use super::send;
use crate::browser::webdriver::{Driver, DriverError};

/// Bytes of a file passed back per WebDriver call (a third more once base64-encoded).
const CHUNK_BYTES: u64 = 2 * 1024 * 1024;
/// Hex digits of a file's name under `--media-dir` ([`file_name`]): 128 bits of the hash.
const FILE_NAME_LEN: usize = 32;
pub const NO_MEDIA_DIR: &str = "no --media-dir";
pub const NOT_GIVEN: &str = "the page does not give this file";

/// Where incoming files go, and which are kept.
#[derive(Debug, Clone)]
pub struct MediaStore {
    /// `--media-dir`, absolute; `None`: no file is read.
    pub dir: Option<PathBuf>,
    /// `--max-media-size`.
    pub max_size: u64,
    /// Bound on reading one file from the page, opening its chat included.
    pub timeout: Duration,
}

/// What became of a file.
#[derive(Debug, PartialEq, Eq)]
enum Fetched {
    Kept {
        path: PathBuf,
        size: u64,
        sha256: String,
        /// The type the page gave the file, when the message did not say.
        mimetype: Option<String>,
    },
    Missing(String),
    /// Larger than `--max-media-size`, as the page showed once it had the file: its size.
    TooLarge(u64),
}

/// Fills in `message.media` (if any): its file under the media dir, or why it is missing. A
/// chat may be opened on the way (see the module's doc); `base_url` is the web URL.
pub async fn fetch(
    driver: &Driver,
    store: &MediaStore,
    base_url: &str,
    message: &mut IncomingMessage,
) -> Result<(), DriverError> {
    let Some(media) = message.media.as_mut() else {
        return Ok(());
    };
    let row = RowRef {
        base_url,
        chat: &message.chat_id,
        id: &message.message_id,
        kind: &message.kind,
    };
    let fetched = fetch_file(driver, store, &row, media.size).await?;
    match fetched {
        Fetched::Kept {
            path,
            size,
            sha256,
            mimetype,
        } => {
            info!(id = %message.message_id, path = %path.display(), size, "media file kept");
            media.path = Some(path.display().to_string());
            media.size = Some(size);
            media.sha256 = Some(sha256);
            if media.mimetype.is_none() {
                media.mimetype = mimetype;
            }
            media.missing = None;
        }
        Fetched::Missing(reason) => {
            warn!(id = %message.message_id, chat = %message.chat_id, reason, "media file not kept");
            media.missing = Some(reason);
        }
        Fetched::TooLarge(size) => {
            warn!(id = %message.message_id, chat = %message.chat_id, size, "media file too large, not kept");
            media.size = Some(size);
            media.missing = Some(too_large(store.max_size));
        }
    }
    Ok(())
}

fn too_large(max: u64) -> String {
    format!("larger than --max-media-size ({max} bytes)")
}

async fn fetch_file(
    driver: &Driver,
    store: &MediaStore,
    row: &RowRef<'_>,
    size: Option<u64>,
) -> Result<Fetched, DriverError> {
    let Some(dir) = &store.dir else {
        return Ok(Fetched::Missing(NO_MEDIA_DIR.into()));
    };
    let path = dir.join(file_name(row.chat, row.id));
    if let Some(kept) = already_kept(&path).await {
        debug!(path = %path.display(), "media file already there");
        return Ok(kept);
    }
    if size.is_some_and(|size| size > store.max_size) {
        return Ok(Fetched::Missing(too_large(store.max_size)));
    }
    match timeout(store.timeout, read_into(driver, store, row, &path)).await {
        Ok(Ok(fetched)) => Ok(fetched),
        Ok(Err(err)) if err.is_fatal() => Err(err),
        Ok(Err(err)) => Ok(Fetched::Missing(format!(
            "cannot read the file from the page: {err}"
        ))),
        Err(_) => Ok(Fetched::Missing(format!(
            "the page did not give the file within {} s",
            store.timeout.as_secs()
        ))),
    }
}

/// The file of an earlier read, if it is there whole. Only [`write`]'s rename of a synced
/// temporary file puts a file under this name, so one found there is whole; an empty one is
/// read again all the same (no media file is empty, but a crash of a worker that did not sync
/// could leave one), as is anything but a plain file.
async fn already_kept(path: &Path) -> Option<Fetched> {
    let meta = tokio::fs::symlink_metadata(path).await.ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    let bytes = tokio::fs::read(path).await.ok()?;
    let size = bytes.len() as u64;
    let sha256 = hash(bytes).await;
    Some(Fetched::Kept {
        path: path.to_owned(),
        size,
        sha256,
        mimetype: None,
    })
}

/// The message whose row is looked for.
struct RowRef<'a> {
    base_url: &'a str,
    chat: &'a str,
    id: &'a str,
    kind: &'a str,
}

/// Steps 3 to 5.
async fn read_into(
    driver: &Driver,
    store: &MediaStore,
    row: &RowRef<'_>,
    path: &Path,
) -> Result<Fetched, DriverError> {
    let Some(url) = blob_url(driver, row).await? else {
        return Ok(Fetched::Missing(NOT_GIVEN.into()));
    };
    let opened = page::open_blob(driver, &url, store.max_size).await?;
    if let Some(error) = opened.error {
        return Err(DriverError::Page(error));
    }
    // The page's word on the size is checked here too: it sizes what is reserved for the file.
    if opened.too_large || opened.size > store.max_size {
        if let Some(key) = &opened.key {
            drop_kept(driver, key).await;
        }
        return Ok(Fetched::TooLarge(opened.size));
    }
    let key = opened
        .key
        .ok_or_else(|| DriverError::Page("the page kept no file".into()))?;
    let read = read_kept(driver, &key, opened.size).await;
    drop_kept(driver, &key).await;
    let bytes = read?;
    let size = bytes.len() as u64;
    write(path, &bytes)
        .await
        .map_err(|err| DriverError::Page(format!("cannot write {}: {err}", path.display())))?;
    let mimetype = Some(opened.mimetype).filter(|m| !m.is_empty());
    Ok(Fetched::Kept {
        path: path.to_owned(),
        size,
        sha256: hash(bytes).await,
        mimetype,
    })
}

/// Step 3: the row's `blob:` URL once it shows one; `None` when the page will not give one.
async fn blob_url(driver: &Driver, row: &RowRef<'_>) -> Result<Option<String>, DriverError> {
    let mut opened = false;
    loop {
        let snap = page::poll_until_read(driver, MAX_SEEN_ROWS).await?;
        let shown = snap.messages.iter().find(|shown| {
            MessageKey::parse(&shown.id).is_some_and(|key| {
                !key.from_me && key.chat_id == row.chat && key.message_id == row.id
            })
        });
        match shown.map(|shown| &shown.media) {
            Some(Some(media)) if media.blob.is_some() => return Ok(media.blob.clone()),
            Some(Some(media)) if media.kind == "document" => return Ok(None),
            Some(_) if row.kind == "document" => return Ok(None),
            Some(_) => debug!(id = row.id, "the row does not show its file yet"),
            None if !opened => {
                let Some(digits) = page::phone_of_chat(row.chat) else {
                    debug!(chat = row.chat, "its chat cannot be opened by a link");
                    return Ok(None);
                };
                info!(
                    chat = row.chat,
                    id = row.id,
                    "opening the chat to read a file"
                );
                driver.goto(&send::chat_url(row.base_url, digits)).await?;
                opened = true;
            }
            None => debug!(id = row.id, "waiting for the row"),
        }
    }
}

/// The `size` bytes of the file kept in the page under `key`. `size` is at most
/// `--max-media-size` (the caller checks), and no piece the page answers is decoded past the
/// bytes asked for, so the page cannot make the worker reserve more than that.
async fn read_kept(driver: &Driver, key: &str, size: u64) -> Result<Vec<u8>, DriverError> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    let mut offset = 0;
    while offset < size {
        let length = CHUNK_BYTES.min(size - offset);
        let encoded = page::read_blob(driver, key, offset, length).await?;
        let encoded = encoded.trim();
        if encoded.len() as u64 > length.div_ceil(3) * 4 {
            return Err(DriverError::Page(format!(
                "the page gave {} base64 characters for {length} bytes",
                encoded.len()
            )));
        }
        let chunk = BASE64
            .decode(encoded)
            .map_err(|err| DriverError::Page(format!("the page gave bad base64: {err}")))?;
        if chunk.len() as u64 != length {
            return Err(DriverError::Page(format!(
                "the page gave {} bytes for {length}",
                chunk.len()
            )));
        }
        bytes.extend_from_slice(&chunk);
        offset += length;
    }
    Ok(bytes)
}

/// Drops the file kept in the page under `key`: only memory of the page's is at stake.
async fn drop_kept(driver: &Driver, key: &str) {
    if let Err(err) = page::close_blob(driver, key).await {
        debug!("cannot drop the file from the page: {err}");
    }
}

/// Writes `bytes` to `path` whole or not at all, and durably: to a temporary name first,
/// synced to disk, then renamed, and the folder synced so that the rename lasts too. A power
/// cut leaves either no file under `path` or the whole one.
async fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let partial = path.with_file_name(format!(".{name}.part"));
    let written = async {
        let mut file = tokio::fs::File::create(&partial).await?;
        file.write_all(bytes).await?;
        file.flush().await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, path).await
    };
    if let Err(err) = written.await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(err);
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    tokio::fs::File::open(folder).await?.sync_all().await
}

/// Lowercase hex SHA-256, computed off the session's thread: a large file takes a while.
async fn hash(bytes: Vec<u8>) -> String {
    let digest = tokio::task::spawn_blocking(move || Sha256::digest(&bytes))
        .await
        .expect("hashing does not panic");
    hex(&digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The name of a message's file under `--media-dir`: the first [`FILE_NAME_LEN`] hex digits
/// of the SHA-256 of its chat and id (`chat + "\n" + id`). Ids are unique only within a chat,
/// and no two ids (`a_b` and `a/b` included) share a name; never hidden, never a path.
fn file_name(chat: &str, message_id: &str) -> String {
    let mut name = hex(&Sha256::digest(format!("{chat}\n{message_id}")));
    name.truncate(FILE_NAME_LEN);
    name
}

/// The media of a message of WhatsApp's type `kind`, as far as its model or row tells, before
/// its file is read; `None` when that type carries no file.
pub fn media_of(
    kind: &str,
    mimetype: Option<String>,
    filename: Option<String>,
    size: Option<u64>,
) -> Option<IncomingMedia> {
    page::MEDIA_TYPES.contains(&kind).then(|| IncomingMedia {
        mimetype: mimetype.filter(|m| !m.trim().is_empty()),
        filename: filename.filter(|f| !f.trim().is_empty()),
        size,
        ..IncomingMedia::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_has_its_own_plain_file_name() {
        let chat = "5215550001111@c.us";
        let name = file_name(chat, "3EB0C767D26A1B");
        assert_eq!(
            name, "8bebcb6b560d8f74aa34de818813ad1b",
            "the start of its SHA-256"
        );
        assert_eq!(name.len(), FILE_NAME_LEN);
        let names = [
            name,
            file_name(chat, "3EB0C767D26A1C"),
            file_name("5215550002222@c.us", "3EB0C767D26A1B"),
            file_name(chat, "a_b"),
            file_name(chat, "a/b"),
            file_name(chat, "../x/.y"),
            file_name(chat, ""),
            file_name("", chat),
        ];
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert_eq!(
            file_name(chat, "a/b"),
            names[4],
            "the same message, the same file"
        );
    }

    #[test]
    fn only_media_types_carry_a_file() {
        for kind in ["image", "video", "audio", "ptt", "document"] {
            assert!(media_of(kind, None, None, None).is_some(), "{kind}");
        }
        for kind in ["chat", "sticker", "location", "vcard", ""] {
            assert!(media_of(kind, None, None, None).is_none(), "{kind}");
        }
        let media = media_of(
            "document",
            Some("application/pdf".into()),
            Some(" ".into()),
            Some(3),
        )
        .unwrap();
        assert_eq!(media.mimetype.as_deref(), Some("application/pdf"));
        assert_eq!(media.filename, None);
        assert_eq!(media.size, Some(3));
        assert_eq!(
            (media.path, media.sha256, media.missing),
            (None, None, None)
        );
    }

    #[tokio::test]
    async fn a_file_is_written_whole_and_found_again() {
        let dir = std::env::temp_dir().join(format!(
            "wamux-media-receive-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let name = file_name("1@c.us", "ABC");
        let path = dir.join(&name);
        assert_eq!(already_kept(&path).await, None);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            already_kept(&path).await,
            None,
            "an empty file is read again"
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(already_kept(&path).await, None, "not a file");
        std::fs::remove_dir(&path).unwrap();
        write(&path, b"abc").await.unwrap();
        assert!(!dir.join(format!(".{name}.part")).exists());
        assert_eq!(
            already_kept(&path).await,
            Some(Fetched::Kept {
                path: path.clone(),
                size: 3,
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                mimetype: None,
            })
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
