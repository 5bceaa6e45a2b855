//! Media messages through the outbox. `POST /api/sessions/{id}/send-media` takes a file and a
//! caption, keeps the file and stores the message as send-message stores a text, and answers
//! the same way; `GET /api/sessions/{id}/messages/{messageId}/media` serves a message's file.
//!
//! A send's steps:
//! 1. The session must exist (404). A body whose Content-Length is past `--max-media-size` in
//!    base64 plus 64 KiB is 413 `media_too_large` at once. Then the request waits for one of
//!    [`UPLOADS_AT_ONCE`] turns, so that memory holds that many bodies at most, and its body
//!    is read whole, up to that size (413 past it, before the rest is read): JSON
//!    `{"phoneNumber", "caption"?, "ttlSeconds"?, "media": {"mimetype", "filename"?, "url" |
//!    "base64"}}`, or `multipart/form-data` with the fields `phoneNumber`, `caption`?,
//!    `ttlSeconds`? and a `file` part (its Content-Type is the file's type); anything else
//!    is 415.
//! 2. Every field is checked (400, or 413 for a file past the size, 422 for an https URL this
//!    build cannot fetch) and the session must have a linked phone (409), before anything is
//!    fetched or written.
//! 3. An `Idempotency-Key` used within 24 hours for the same request answers its message at
//!    once, with nothing fetched or stored; for another request, 422 `idempotency_key_reused`.
//! 4. A URL is fetched (`messaging::media::fetch`: 422 `media_unavailable` with the reason, 413
//!    past the size); the bytes are staged and fsynced, and the message is stored with its
//!    file placed under its hash (`Outbox::accept_media`).
//! 5. The turn is given back, every copy of the bytes dropped (each one as soon as it is no
//!    longer needed: the body once parsed, the base64 once decoded). The answer is
//!    send-message's: 200 once WhatsApp shows it sent, 202 while it waits.
//!
//! A served file is an attachment with `nosniff` and a sandboxing CSP: a page uploaded as
//! `text/html` must not run as one of wamux's own.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use wamux_proto::MediaKind;

use super::body;
use super::messages::{self, MAX_MESSAGE_CHARS, SendQuery};
use super::multipart::{self, Part};
use super::query::Query;
use super::sessions::session;
use super::{ApiError, AppState, MAX_BODY};
use crate::messaging::media::{self, FetchError, MediaConfig, Origin};
use crate::messaging::outbox::MediaRequest;
use crate::sessions::session::Session;
use crate::store::{NewMedia, StoredMessage};

/// Standard base64, padded or not; whitespace (line breaks) is dropped before.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest {
    phone_number: String,
    caption: Option<String>,
    ttl_seconds: Option<u64>,
    media: Option<JsonMedia>,
}

#[derive(Debug, Deserialize)]
struct JsonMedia {
    mimetype: Option<String>,
    filename: Option<String>,
    url: Option<String>,
    base64: Option<String>,
}

/// A send request in either form, before its checks.
struct Submitted {
    phone_number: String,
    caption: Option<String>,
    ttl_seconds: Option<u64>,
    mimetype: Option<String>,
    filename: Option<String>,
    file: File,
}

enum File {
    Url(String),
    Bytes(Vec<u8>),
}

/// Send requests whose bodies are read, decoded and stored at once. Each holds up to a few
/// times `--max-media-size` in memory (the body, then the file it carries) until its file is
/// staged; the others wait their turn before reading theirs.
const UPLOADS_AT_ONCE: usize = 4;
static UPLOADS: Semaphore = Semaphore::const_new(UPLOADS_AT_ONCE);

pub async fn send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<SendQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let session = session(&state, &id)?;
    let config = state.outbox.config().media;
    let limit = body_limit(config.max_size);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused at once, without waiting for a turn to read what will not be read.
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(config.max_size));
    }
    let turn = UPLOADS
        .acquire()
        .await
        .expect("the uploads semaphore is never closed");
    let bytes = read_body(body, limit, declared, config.max_size).await?;
    let (message, new) = store(&state, &session, id, &headers, bytes, config).await?;
    // Stored, its bytes dropped: the wait for the send takes no turn.
    drop(turn);
    messages::respond(&state, &session, message, new, query.wait).await
}

/// Steps 1 to 4 of a send whose body is read: the message stored with its file, and whether
/// it is new (`false` for an earlier request's, under the same `Idempotency-Key`).
async fn store(
    state: &AppState,
    session: &Session,
    id: String,
    headers: &HeaderMap,
    bytes: Vec<u8>,
    config: MediaConfig,
) -> Result<(StoredMessage, bool), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default());
    let essence = body::declared_media_type(headers);
    // Each form takes the body and drops it once parsed.
    let submitted = match (essence.as_deref(), content_type) {
        (Some("application/json"), _) => from_json(bytes)?,
        (Some("multipart/form-data"), Some(content_type)) => from_form(content_type, bytes)?,
        (None, _) if bytes.is_empty() => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "send-media takes a body: JSON or multipart/form-data",
            ));
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send-media bodies are JSON (Content-Type: application/json) or multipart/form-data",
            ));
        }
    };

    let phone = messages::phone_number(&submitted.phone_number)?;
    let caption = submitted.caption.unwrap_or_default();
    if caption.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_request(
            "invalid_caption",
            format!("captions are at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let ttl = messages::ttl(submitted.ttl_seconds)?;
    let idempotency_key = messages::idempotency_key(headers)?;
    let mimetype = submitted
        .mimetype
        .ok_or_else(|| invalid_media("media.mimetype is required, such as image/jpeg"))?;
    let mimetype = media::essence(&mimetype).ok_or_else(|| {
        invalid_media(format!(
            "{mimetype:?} is not a MIME type: it must look like type/subtype, such as image/jpeg"
        ))
    })?;
    let filename = submitted
        .filename
        .as_deref()
        .and_then(media::clean_filename);
    match &submitted.file {
        File::Url(url) => {
            media::check_url(url).map_err(|e| fetch_error(e, config))?;
        }
        File::Bytes(bytes) => check_size(bytes.len(), config)?,
    }
    messages::linked(session)?;

    // Bytes at hand are hashed once, for the key's comparison and for their file; a URL's
    // are hashed once fetched.
    let sha256 = match &submitted.file {
        File::Bytes(bytes) => Some(media::sha256_hex(bytes)),
        File::Url(_) => None,
    };
    let origin = match &submitted.file {
        File::Url(url) => Origin::Url(url),
        File::Bytes(_) => Origin::Bytes {
            sha256: sha256.as_deref().unwrap_or_default(),
        },
    };
    let request_body = media::request_body(
        &phone,
        &caption,
        ttl.unwrap_or(state.outbox.config().ttl),
        &mimetype,
        filename.as_deref(),
        origin,
    );
    if let Some(key) = &idempotency_key
        && let Some(first) = state
            .outbox
            .find_by_key(&id, key, &request_body)
            .map_err(messages::outbox_error)?
    {
        return Ok((first, false));
    }

    let bytes = match submitted.file {
        File::Bytes(bytes) => bytes,
        File::Url(url) => {
            let bytes = media::fetch(&url, config)
                .await
                .map_err(|e| fetch_error(e, config))?;
            if bytes.is_empty() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "media_unavailable",
                    format!("{url} gave an empty file"),
                ));
            }
            bytes
        }
    };
    let files = state.outbox.media_files().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "this daemon keeps no media files",
        )
    })?;
    // The bytes go with the closure: dropped once staged.
    let staged = tokio::task::spawn_blocking(move || {
        let sha256 = sha256.unwrap_or_else(|| media::sha256_hex(&bytes));
        files.stage(&bytes, sha256)
    })
    .await
    .map_err(|e| media_store_failed(&e))?
    .map_err(|e| media_store_failed(&e))?;
    let staged_path = staged.path.clone();
    let accepted = state.outbox.accept_media(MediaRequest {
        session_id: id,
        to: phone,
        caption,
        media: NewMedia {
            kind: MediaKind::of(&mimetype).as_str().to_owned(),
            filename: filename.unwrap_or_else(|| media::default_filename(&mimetype)),
            mimetype,
            staged,
        },
        ttl,
        idempotency_key,
        request_body,
    });
    let (message, new) = accepted.map_err(|e| {
        // Not stored: its staged file is no message's. Placed, it is gone from there already.
        let _ = std::fs::remove_file(&staged_path);
        messages::outbox_error(e)
    })?;
    Ok((message, new))
}

/// The most a send-media body may be: a file of `max_size` in base64 and a JSON or form's
/// worth more.
fn body_limit(max_size: u64) -> u64 {
    max_size
        .div_ceil(3)
        .saturating_mul(4)
        .saturating_add(MAX_BODY as u64)
}

/// The body, whole, at most `limit` bytes (`declared` by its Content-Length, when it is).
async fn read_body(
    body: Body,
    limit: u64,
    declared: Option<u64>,
    max_size: u64,
) -> Result<Vec<u8>, ApiError> {
    // Room for all of it at once, rather than growing (and copying) it to twice its size.
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n.min(limit) as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("invalid_body", format!("could not read the body: {e}"))
        })?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large(max_size));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn from_json(bytes: Vec<u8>) -> Result<Submitted, ApiError> {
    let value = body::json_value(&bytes)?;
    // Its strings are in `value` now, which hands them on to the request without a copy.
    drop(bytes);
    let request: JsonRequest = body::shaped(value)?;
    let media = request.media.ok_or_else(|| {
        invalid_media(r#"media is required: {"mimetype", "url" or "base64", "filename"?}"#)
    })?;
    let file = match (media.url, media.base64) {
        (Some(_), Some(_)) => {
            return Err(invalid_media(
                "media has both a url and base64: give one of them",
            ));
        }
        (None, None) => return Err(invalid_media("media needs its url or its base64")),
        (Some(url), None) => File::Url(url),
        (None, Some(text)) => File::Bytes(decode_base64(text)?),
    };
    Ok(Submitted {
        phone_number: request.phone_number,
        caption: request.caption,
        ttl_seconds: request.ttl_seconds,
        mimetype: media.mimetype,
        filename: media.filename,
        file,
    })
}

/// The bytes of `text`; its whitespace (line breaks) is dropped in place first, and `text`
/// once decoded.
fn decode_base64(mut text: String) -> Result<Vec<u8>, ApiError> {
    text.retain(|c| !c.is_ascii_whitespace());
    BASE64
        .decode(&text)
        .map_err(|e| invalid_media(format!("media.base64 is not base64: {e}")))
}

/// The form's fields: `phoneNumber`, `caption`, `ttlSeconds` and the `file` part; others are
/// ignored, and a field given twice is refused. The file's bytes are moved to the front of
/// the body, which becomes them, rather than copied.
fn from_form(content_type: &str, mut bytes: Vec<u8>) -> Result<Submitted, ApiError> {
    let malformed = |e: multipart::Malformed| ApiError::bad_request("invalid_body", e.to_string());
    let boundary = multipart::boundary(content_type).map_err(malformed)?;
    let (mut submitted, file) = {
        let parts = multipart::parse(&bytes, &boundary).map_err(malformed)?;
        let mut fields: HashMap<&str, &Part<'_>> = HashMap::new();
        for part in &parts {
            if fields.insert(part.name.as_str(), part).is_some() {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("the form has {:?} twice", part.name),
                ));
            }
        }
        let text = |name: &str| -> Result<Option<String>, ApiError> {
            fields
                .get(name)
                .map(|part| {
                    std::str::from_utf8(part.body)
                        .map(str::to_owned)
                        .map_err(|_| {
                            ApiError::bad_request(
                                "invalid_body",
                                format!("the field {name} is not UTF-8"),
                            )
                        })
                })
                .transpose()
        };
        let phone_number = text("phoneNumber")?
            .ok_or_else(|| ApiError::bad_request("invalid_body", "the form needs phoneNumber"))?;
        let ttl_seconds = text("ttlSeconds")?
            .map(|t| {
                t.trim().parse::<u64>().map_err(|_| {
                    ApiError::bad_request("invalid_ttl", "ttlSeconds is a whole number of seconds")
                })
            })
            .transpose()?;
        let file = fields.get("file").ok_or_else(|| {
            ApiError::bad_request("invalid_body", "the form needs a part named \"file\"")
        })?;
        let submitted = Submitted {
            phone_number,
            caption: text("caption")?,
            ttl_seconds,
            // A file part without a type is bytes of no known kind: a document.
            mimetype: Some(
                file.content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
            filename: file.filename.clone(),
            file: File::Bytes(Vec::new()),
        };
        let start = file.body.as_ptr().addr() - bytes.as_ptr().addr();
        (submitted, start..start + file.body.len())
    };
    let len = file.len();
    bytes.copy_within(file, 0);
    bytes.truncate(len);
    submitted.file = File::Bytes(bytes);
    Ok(submitted)
}

fn check_size(size: usize, config: MediaConfig) -> Result<(), ApiError> {
    if size == 0 {
        return Err(invalid_media("the file is empty"));
    }
    if size as u64 > config.max_size {
        return Err(too_large(config.max_size));
    }
    Ok(())
}

fn invalid_media(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_media", message)
}

fn too_large(max_size: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "media_too_large",
        format!("media files are at most {max_size} bytes (--max-media-size)"),
    )
}

fn fetch_error(e: FetchError, config: MediaConfig) -> ApiError {
    match e {
        FetchError::BadUrl(reason) => invalid_media(reason),
        FetchError::TooLarge { .. } => too_large(config.max_size),
        FetchError::Unavailable(reason) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "media_unavailable",
            reason,
        ),
    }
}

fn media_store_failed(cause: &dyn std::error::Error) -> ApiError {
    ApiError::internal(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the media store failed; the daemon's log says why",
        cause,
    )
}

/// A message's file: its type, an attachment's name, and the bytes.
pub async fn download(
    State(state): State<AppState>,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let message = messages::message(&state, &id, &message_id)?;
    let not_found = |why: String| ApiError::new(StatusCode::NOT_FOUND, "media_not_found", why);
    let file = message
        .media
        .ok_or_else(|| not_found("this message carries no file".into()))?;
    let path = file.path.ok_or_else(|| {
        not_found(match &file.missing {
            Some(reason) => format!("this message's file was not kept: {reason}"),
            None => "this message's file was not kept".into(),
        })
    })?;
    let handle = match tokio::fs::File::open(&path).await {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_found("this message's file is gone".into()));
        }
        Err(e) => return Err(media_store_failed(&e)),
    };
    let length = handle
        .metadata()
        .await
        .map_err(|e| media_store_failed(&e))?
        .len();
    let content_type = file
        .mimetype
        .as_deref()
        .and_then(media::essence)
        .and_then(|m| HeaderValue::from_str(&m).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let name = file
        .filename
        .unwrap_or_else(|| media::default_filename(file.mimetype.as_deref().unwrap_or_default()));
    // In pieces: a file may be as large as --max-media-size, and many may be asked for at once.
    let body = futures_util::stream::unfold(handle, |mut handle| async move {
        let mut chunk = vec![0u8; 64 * 1024];
        match handle.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(Bytes::from(chunk)), handle))
            }
            Err(e) => Some((Err(e), handle)),
        }
    });
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_LENGTH, HeaderValue::from(length)),
        (header::CONTENT_DISPOSITION, attachment(&name)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("private")),
    ];
    Ok((headers, Body::from_stream(body)).into_response())
}

/// `attachment` with the name in ASCII (others as `_`) and whole in UTF-8 (RFC 6266, 8187).
fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let encoded: String =
        name.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|'
                | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_names_its_file_in_ascii_and_utf8() {
        assert_eq!(
            attachment("factura 1.pdf"),
            "attachment; filename=\"factura 1.pdf\"; filename*=UTF-8''factura%201.pdf"
        );
        assert_eq!(
            attachment("año \"x\".jpg"),
            "attachment; filename=\"a_o _x_.jpg\"; filename*=UTF-8''a%C3%B1o%20%22x%22.jpg"
        );
    }

    #[test]
    fn base64_may_be_unpadded_or_wrapped() {
        assert_eq!(decode_base64("aG9sYQ==".into()).unwrap(), b"hola");
        assert_eq!(decode_base64("aG9sYQ".into()).unwrap(), b"hola");
        assert_eq!(decode_base64("aG9s\r\nYQ==\n".into()).unwrap(), b"hola");
        for bad in ["aG9sYQ===", "a", "aG9s*A==", "ñ"] {
            let e = decode_base64(bad.into()).unwrap_err();
            assert_eq!(e.code, "invalid_media", "{bad}");
        }
    }
}
