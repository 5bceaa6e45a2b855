//! Media messages (contract section 11): their kinds, their bytes with size and SHA-256, and
//! the rules that make a media message of a page's upload or of an incoming description.
//!
//! An upload names the attach-menu item whose file input it came through ([`Via`]): the
//! "Photos & videos" input takes images and videos only (as the real picker filters), and
//! what it takes is an `image` or a `video`; the "Document" input takes anything, and what it
//! takes is a `document`, except audio, which is an `audio` message. Decoding and hashing
//! happen in the handlers, outside the state's lock: a 16 MiB file takes a while to hash.

use axum::body::Bytes;
use base64::{
    Engine as _, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::state::{Failure, Outcome};

/// Largest body of the endpoints that carry media (`/__fake/incoming`, `/__fake/page/send-media`):
/// 16 MiB and more of media, base64-encoded in JSON.
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Longest mimetype or file name accepted.
const NAME_MAX: usize = 255;

/// Base64 as people and browsers write it: the standard alphabet, padded or not.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The `type` of a media message's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    /// An audio file.
    Audio,
    /// A voice note ("push to talk"); its row shows an `audio` element as well.
    Ptt,
    Document,
}

impl MediaKind {
    /// The model's `type` and the `type` of `/__fake/sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Ptt => "ptt",
            MediaKind::Document => "document",
        }
    }

    /// What a phone sends when it does not say.
    fn default_mimetype(self) -> &'static str {
        match self {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video => "video/mp4",
            MediaKind::Audio => "audio/mpeg",
            MediaKind::Ptt => "audio/ogg; codecs=opus",
            MediaKind::Document => "application/octet-stream",
        }
    }

    /// The top-level mimetype this kind needs, if any.
    fn needs(self) -> Option<&'static str> {
        match self {
            MediaKind::Image => Some("image"),
            MediaKind::Video => Some("video"),
            MediaKind::Audio | MediaKind::Ptt => Some("audio"),
            MediaKind::Document => None,
        }
    }

    /// The chat list's line for a message of this kind without a caption.
    fn label(self) -> &'static str {
        match self {
            MediaKind::Image => "\u{1F4F7} Photo",
            MediaKind::Video => "\u{1F3A5} Video",
            MediaKind::Audio => "\u{1F3B5} Audio",
            MediaKind::Ptt => "\u{1F3A4} Voice message",
            MediaKind::Document => "\u{1F4C4} Document",
        }
    }
}

/// The attach-menu item whose file input an upload came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// "Photos & videos".
    Photos,
    /// "Document".
    Document,
}

/// The file of a media message.
#[derive(Debug, Clone)]
pub struct Media {
    pub kind: MediaKind,
    pub mimetype: String,
    pub filename: Option<String>,
    pub bytes: Bytes,
    /// Lowercase hex.
    pub sha256: String,
}

/// What a media message's row, feed item and send answer say of its file (not the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaView {
    /// The MSGID, for `GET /__fake/page/media`.
    pub id: String,
    pub kind: MediaKind,
    pub mimetype: String,
    pub filename: Option<String>,
    pub size: u64,
}

impl Media {
    /// A file the page sent through the input of `via`, as `mimetype` (empty: unknown).
    pub fn upload(via: Via, mimetype: &str, filename: &str, bytes: Bytes) -> Outcome<Media> {
        let mimetype = mimetype_or(mimetype, "application/octet-stream")?;
        let filename = file_name(filename)?
            .ok_or_else(|| Failure::BadRequest("filename is required for an upload".into()))?;
        let top = top_level(&mimetype);
        let kind = match via {
            Via::Photos => match top {
                "image" => MediaKind::Image,
                "video" => MediaKind::Video,
                _ => {
                    return Err(Failure::BadRequest(format!(
                        "the photos and videos input takes images and videos, not {mimetype}"
                    )));
                }
            },
            Via::Document if top == "audio" => MediaKind::Audio,
            Via::Document => MediaKind::Document,
        };
        Media::new(kind, mimetype, Some(filename), bytes)
    }

    /// A file arriving from a phone; the mimetype and a document's file name have defaults.
    pub fn incoming(
        kind: MediaKind,
        mimetype: Option<&str>,
        filename: Option<&str>,
        bytes: Bytes,
    ) -> Outcome<Media> {
        let mimetype = mimetype_or(mimetype.unwrap_or(""), kind.default_mimetype())?;
        if let Some(needed) = kind.needs()
            && top_level(&mimetype) != needed
        {
            return Err(Failure::BadRequest(format!(
                "a media of type {} needs a {needed}/* mimetype, got {mimetype}",
                kind.as_str()
            )));
        }
        let mut filename = file_name(filename.unwrap_or(""))?;
        if kind == MediaKind::Document && filename.is_none() {
            filename = Some("file".to_owned());
        }
        Media::new(kind, mimetype, filename, bytes)
    }

    fn new(
        kind: MediaKind,
        mimetype: String,
        filename: Option<String>,
        bytes: Bytes,
    ) -> Outcome<Media> {
        if bytes.is_empty() {
            return Err(Failure::BadRequest("the media has no bytes".into()));
        }
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(Media {
            kind,
            mimetype,
            filename,
            bytes,
            sha256,
        })
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        u64::try_from(self.bytes.len()).unwrap_or(u64::MAX)
    }

    /// The file as a row or a feed item describes it.
    pub fn view(&self, id: &str) -> MediaView {
        MediaView {
            id: id.to_owned(),
            kind: self.kind,
            mimetype: self.mimetype.clone(),
            filename: self.filename.clone(),
            size: self.size(),
        }
    }

    /// The chat list's line for the message: its caption, else its file name or its kind.
    pub fn summary(&self, caption: &str) -> String {
        if !caption.trim().is_empty() {
            return caption.to_owned();
        }
        match (&self.filename, self.kind) {
            (Some(name), MediaKind::Document) => format!("\u{1F4C4} {name}"),
            _ => self.kind.label().to_owned(),
        }
    }
}

/// The bytes of a base64 field (standard alphabet, padding optional, surrounding white space
/// ignored).
pub fn decode_base64(field: &str, text: &str) -> Outcome<Bytes> {
    BASE64
        .decode(text.trim())
        .map(Bytes::from)
        .map_err(|error| Failure::BadRequest(format!("{field} is not base64: {error}")))
}

fn top_level(mimetype: &str) -> &str {
    mimetype.split('/').next().unwrap_or("")
}

/// A mimetype as `type/subtype` with optional parameters, lowercased in its type; `fallback`
/// when empty.
fn mimetype_or(mimetype: &str, fallback: &str) -> Outcome<String> {
    let mimetype = mimetype.trim();
    if mimetype.is_empty() {
        return Ok(fallback.to_owned());
    }
    let essence = mimetype.split(';').next().unwrap_or("").trim();
    let valid = mimetype.len() <= NAME_MAX
        && !mimetype.chars().any(char::is_control)
        && essence.split_once('/').is_some_and(|(top, sub)| {
            let token = |part: &str| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            token(top) && token(sub)
        });
    if !valid {
        return Err(Failure::BadRequest(format!(
            "mimetype must look like type/subtype, got {mimetype:?}"
        )));
    }
    let (top, rest) = mimetype.split_once('/').expect("checked above");
    Ok(format!("{}/{rest}", top.to_ascii_lowercase()))
}

/// A file name without control characters, at most [`NAME_MAX`] bytes; `None` when empty.
fn file_name(name: &str) -> Outcome<Option<String>> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.len() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(Failure::BadRequest(format!(
            "filename must be at most {NAME_MAX} bytes without control characters"
        )));
    }
    Ok(Some(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(data: &'static [u8]) -> Bytes {
        Bytes::from_static(data)
    }

    #[test]
    fn the_input_decides_the_kind() {
        let upload =
            |via, mimetype| Media::upload(via, mimetype, "f.bin", bytes(b"x")).map(|m| m.kind);
        assert_eq!(upload(Via::Photos, "image/png"), Ok(MediaKind::Image));
        assert_eq!(upload(Via::Photos, "video/mp4"), Ok(MediaKind::Video));
        assert!(matches!(
            upload(Via::Photos, "application/pdf"),
            Err(Failure::BadRequest(_))
        ));
        assert!(matches!(
            upload(Via::Photos, ""),
            Err(Failure::BadRequest(_))
        ));
        assert_eq!(upload(Via::Document, "image/png"), Ok(MediaKind::Document));
        assert_eq!(upload(Via::Document, "video/mp4"), Ok(MediaKind::Document));
        assert_eq!(upload(Via::Document, "audio/mpeg"), Ok(MediaKind::Audio));
        assert_eq!(upload(Via::Document, ""), Ok(MediaKind::Document));
        let unknown = Media::upload(Via::Document, "", "f", bytes(b"x")).unwrap();
        assert_eq!(unknown.mimetype, "application/octet-stream");
        assert!(matches!(
            Media::upload(Via::Document, "text/plain", " ", bytes(b"x")),
            Err(Failure::BadRequest(_))
        ));
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_bytes() {
        let media = Media::upload(Via::Document, "text/plain", "abc.txt", bytes(b"abc")).unwrap();
        assert_eq!(
            media.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(media.size(), 3);
        assert!(matches!(
            Media::upload(Via::Document, "text/plain", "empty", Bytes::new()),
            Err(Failure::BadRequest(_))
        ));
    }

    #[test]
    fn incoming_media_get_defaults_and_must_fit_their_type() {
        let image = Media::incoming(MediaKind::Image, None, None, bytes(b"x")).unwrap();
        assert_eq!(
            (image.mimetype.as_str(), image.filename),
            ("image/jpeg", None)
        );
        let document = Media::incoming(MediaKind::Document, None, None, bytes(b"x")).unwrap();
        assert_eq!(document.filename.as_deref(), Some("file"));
        let voice = Media::incoming(
            MediaKind::Ptt,
            Some("audio/ogg; codecs=opus"),
            None,
            bytes(b"x"),
        );
        assert_eq!(voice.unwrap().mimetype, "audio/ogg; codecs=opus");
        for (kind, mimetype) in [
            (MediaKind::Image, "application/pdf"),
            (MediaKind::Audio, "video/mp4"),
            (MediaKind::Video, "nonsense"),
            (MediaKind::Document, "a/b c"),
        ] {
            assert!(
                matches!(
                    Media::incoming(kind, Some(mimetype), None, bytes(b"x")),
                    Err(Failure::BadRequest(_))
                ),
                "{kind:?} {mimetype}"
            );
        }
        assert_eq!(
            Media::incoming(MediaKind::Image, Some("IMAGE/png"), None, bytes(b"x"))
                .unwrap()
                .mimetype,
            "image/png"
        );
    }

    #[test]
    fn base64_is_read_padded_or_not() {
        assert_eq!(decode_base64("base64", "YWJj").unwrap(), bytes(b"abc"));
        assert_eq!(decode_base64("base64", " YWI=\n").unwrap(), bytes(b"ab"));
        assert_eq!(decode_base64("base64", "YWI").unwrap(), bytes(b"ab"));
        assert!(matches!(
            decode_base64("base64", "not base64!"),
            Err(Failure::BadRequest(_))
        ));
    }

    #[test]
    fn the_summary_prefers_the_caption() {
        let document =
            Media::upload(Via::Document, "application/pdf", "a.pdf", bytes(b"x")).unwrap();
        assert_eq!(document.summary("see this"), "see this");
        assert_eq!(document.summary(""), "\u{1F4C4} a.pdf");
        let image = Media::upload(Via::Photos, "image/png", "a.png", bytes(b"x")).unwrap();
        assert_eq!(image.summary(" "), "\u{1F4F7} Photo");
    }
}
