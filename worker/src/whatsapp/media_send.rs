//! Sending one file with a caption through the open chat's attach menu (contract §11), on the
//! DOM (the page's modules of §10 offer no media send), so that it goes out once even when a
//! worker dies in the middle of it. Opening the chat, finding an earlier attempt and telling
//! our row among the others are [`super::send`]'s, as for a text.
//!
//! 1. With `resume`: open the chat (`BASE/send?phone=DIGITS`, nothing typed) and look for an
//!    outgoing media row of our file's kind, with our caption (and, for a document, our file
//!    name), whose id is not in the snapshot ([`send::find_earlier`]; without a caption, see
//!    [`Content::Media`] for what stays ambiguous). Found: once it shows Sent, its id is the
//!    answer and nothing is sent. Not found: go on as a fresh send.
//! 2. The file must be there (`Failed` otherwise). The page is given it under the name the
//!    recipient sees: hard-linked (copied where a link cannot be made) as
//!    `<upload>/<request_id>/<name>`, the name made safe ([`upload_name`]). The folder goes
//!    when the send ends; what a killed worker left in `<upload>` goes when the next one
//!    starts.
//! 3. Open the chat; click the attach button (any of its forms) and give the file's absolute
//!    path, as WebDriver keys, to the hidden file input of "Photos & videos" (an image or a
//!    video that its `accept` takes) or of "Document" (anything else, audio included, which
//!    goes out as a file). No input shows a while after the click: click again.
//! 4. Wait for the media editor's caption box ("Add a caption"), type the caption, and check
//!    that the box shows it.
//! 5. Take the ids of the outgoing rows shown, report them as `SendAttempt` and wait for the
//!    supervisor's `AttemptRecorded` ([`Link`]). No answer: `Timeout`, nothing pressed.
//! 6. Click the editor's send button. Should the editor still show a while later, the click
//!    was lost, and Enter is pressed in its caption box instead.
//! 7. Ours is the outgoing media row of our file's kind that is not in the snapshot and shows
//!    our caption (and, for a document, our file name) ([`send::ours`]). Once it shows Sent,
//!    its id is the answer.
//!
//! All of it runs under the send's one deadline (`Timeout`), polling, never sleeping for an
//! assumed time. The caller checks that the session is linked and runs one send at a time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::elements::Element;
use tokio::time::{Instant, sleep};
use tracing::{debug, info, warn};
use wamux_proto::{Attempt, MAX_SEEN_ROWS, MediaKind, OutgoingMedia, SendError};

use super::incoming::Inbox;
use super::page::{self, FLOW_POLL_INTERVAL, Target};
use super::send::{self, Content, Fallback, Link, Outcome};
use crate::browser::webdriver::{Driver, DriverError};

/// How long the attach menu may take to show its file inputs before the button is clicked
/// again, and how long the editor may stay after its send button was clicked before Enter is
/// pressed in it.
const RETRY_GRACE: Duration = Duration::from_secs(3);
/// How long the caption box may take to show the caption typed into it.
const CAPTION_GRACE: Duration = Duration::from_secs(2);
/// The longest file name most file systems take, in bytes.
const MAX_NAME_BYTES: usize = 255;
/// The longest extension kept whole when a name is cut to [`MAX_NAME_BYTES`].
const MAX_EXTENSION_BYTES: usize = 16;
/// What a name that is nothing once made safe becomes.
const FALLBACK_NAME: &str = "file";

pub struct MediaMessage<'a> {
    pub base_url: &'a str,
    pub request_id: u64,
    pub phone_number: &'a str,
    pub caption: &'a str,
    pub media: &'a OutgoingMedia,
    /// What an earlier attempt of this message recorded, if there was one.
    pub resume: Option<&'a Attempt>,
    pub timeout: Duration,
    /// The session's folder for files on their way to the page: absolute, emptied and created
    /// at start-up.
    pub upload_dir: &'a Path,
}

/// Sends `message`; `Err` only when the browser is gone, every other failure is an [`Outcome`].
pub async fn send(
    driver: &Driver,
    message: &MediaMessage<'_>,
    inbox: &mut Inbox,
    link: &mut Link<'_>,
) -> Result<Outcome, DriverError> {
    send::bounded(message.timeout, send_within(driver, message, inbox, link)).await
}

async fn send_within(
    driver: &Driver,
    message: &MediaMessage<'_>,
    inbox: &mut Inbox,
    link: &mut Link<'_>,
) -> Result<Outcome, DriverError> {
    let media = message.media;
    let name = upload_name(&media.filename, media.kind, &media.mimetype);
    let content = Content::Media {
        caption: message.caption,
        kind: media.kind,
        filename: Some(&name),
    };
    let url = send::chat_url(message.base_url, message.phone_number);
    if let Some(earlier) = message.resume {
        if let Some(outcome) = send::find_earlier(driver, &url, content, earlier).await? {
            return Ok(outcome);
        }
        info!(
            request_id = message.request_id,
            "the earlier attempt did not go out, sending"
        );
    }
    let upload = match Upload::prepare(message, &name).await {
        Ok(upload) => upload,
        Err(reason) => return Ok(Err(SendError::Failed(reason))),
    };
    debug!(path = %upload.path.display(), "the file to give the page");
    let chat = match send::open_chat(driver, &url, false).await? {
        Ok(chat) => chat,
        Err(failure) => return Ok(Err(failure)),
    };
    inbox.mark_seen(&chat);

    let input = file_input(driver, message.media).await?;
    let path = upload.path.to_str().ok_or_else(|| {
        DriverError::Page(format!("the path {} is not UTF-8", upload.path.display()))
    })?;
    driver.send_keys(&input, path).await?;
    let caption_box = wait_for(driver, Target::Caption).await?;
    debug!("the media editor is open");
    if !message.caption.trim().is_empty() {
        type_caption(driver, &caption_box, message.caption).await?;
    }

    let snap = page::poll_until_read(driver, MAX_SEEN_ROWS).await?;
    let seen = send::outgoing_ids(&snap.messages);
    let attempt = Attempt {
        seen: seen.clone(),
        planned: None,
    };
    if !link.record_attempt(message.request_id, attempt).await {
        return Ok(Err(SendError::Timeout));
    }
    if !page::click(driver, Target::MediaSend).await? {
        return Ok(Err(SendError::Failed(
            "the media editor shows no send button".into(),
        )));
    }
    send::await_sent(
        driver,
        &seen,
        content,
        RETRY_GRACE,
        Fallback::EnterInCaption,
    )
    .await
}

/// Step 3: the attach menu's file input for `media`, clicking the attach button until it shows.
async fn file_input(driver: &Driver, media: &OutgoingMedia) -> Result<Element, DriverError> {
    let essence = essence(&media.mimetype);
    let photos_for = matches!(media.kind, MediaKind::Image | MediaKind::Video).then_some(&*essence);
    let mut clicked: Option<Instant> = None;
    loop {
        if clicked.is_none_or(|at| at.elapsed() >= RETRY_GRACE) {
            if page::click(driver, Target::Attach).await? {
                debug!(again = clicked.is_some(), "clicked the attach button");
                clicked = Some(Instant::now());
            } else {
                debug!("no attach button yet");
            }
        }
        sleep(FLOW_POLL_INTERVAL).await;
        if clicked.is_some()
            && let Some(input) = page::find(driver, Target::FileInput { photos_for }).await?
        {
            return Ok(input);
        }
    }
}

/// Polls until `target` is on the page.
async fn wait_for(driver: &Driver, target: Target<'_>) -> Result<Element, DriverError> {
    loop {
        if let Some(element) = page::find(driver, target).await? {
            return Ok(element);
        }
        sleep(FLOW_POLL_INTERVAL).await;
    }
}

/// Step 4: types `caption` and waits until the box shows it; an `Err` (nothing sent) when it
/// shows something else.
async fn type_caption(
    driver: &Driver,
    caption_box: &Element,
    caption: &str,
) -> Result<(), DriverError> {
    page::type_text(driver, caption_box, caption).await?;
    let typed = Instant::now();
    let wanted = send::normalize(caption);
    loop {
        let shown = page::text_of(driver, caption_box).await?;
        if send::normalize(&shown) == wanted {
            return Ok(());
        }
        if typed.elapsed() >= CAPTION_GRACE {
            return Err(DriverError::Page(format!(
                "the caption box shows {shown:?}, not the caption"
            )));
        }
        sleep(FLOW_POLL_INTERVAL).await;
    }
}

/// The file as the page is given it; its folder is removed on drop, however the send ends.
struct Upload {
    folder: PathBuf,
    /// Absolute.
    path: PathBuf,
}

impl Upload {
    /// Step 2, the file named `name`; `Err` is why it cannot be sent.
    async fn prepare(message: &MediaMessage<'_>, name: &str) -> Result<Upload, String> {
        let media = message.media;
        let source = Path::new(&media.path);
        match tokio::fs::metadata(source).await {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(format!("{} is not a file", source.display())),
            Err(err) => {
                return Err(format!(
                    "the file to send is missing ({}): {err}",
                    source.display()
                ));
            }
        }
        let folder = message.upload_dir.join(message.request_id.to_string());
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&folder)
            .await
            .map_err(|err| format!("cannot create {}: {err}", folder.display()))?;
        let path = folder.join(name);
        let upload = Upload { folder, path };
        if let Err(err) = tokio::fs::hard_link(source, &upload.path).await {
            debug!("cannot hard-link the file ({err}), copying it");
            tokio::fs::copy(source, &upload.path)
                .await
                .map_err(|err| format!("cannot copy {}: {err}", source.display()))?;
        }
        Ok(upload)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.folder) {
            warn!(dir = %self.folder.display(), "cannot remove the uploaded file: {err}");
        }
    }
}

/// `filename` as the name of a file the page is given: no path separators or control
/// characters, no leading dots, only characters WebDriver can type, not empty, at most
/// [`MAX_NAME_BYTES`]. An image or a video gets the extension of its MIME type when its name
/// has another: the browser takes a file's type from its extension, and WhatsApp shows no name
/// for those.
pub fn upload_name(filename: &str, kind: MediaKind, mimetype: &str) -> String {
    let safe: String = filename
        .chars()
        .map(|c| {
            let unsafe_char = c == '/' || c == '\\' || c.is_control() || u32::from(c) > 0xFFFF;
            if unsafe_char { '_' } else { c }
        })
        .collect();
    let trimmed = safe
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let mut name = if trimmed.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        trimmed.to_owned()
    };
    if matches!(kind, MediaKind::Image | MediaKind::Video) {
        let wanted = extensions(mimetype);
        let current = name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        if let Some(first) = wanted.first()
            && !current.is_some_and(|ext| wanted.contains(&ext.as_str()))
        {
            name.push('.');
            name.push_str(first);
        }
    }
    cut_name(name)
}

/// `name` cut to [`MAX_NAME_BYTES`] on a character boundary, its extension kept: also what
/// becomes of an incoming file's name too long for a frame ([`super::incoming::fit`]).
pub fn cut_name(name: String) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= MAX_EXTENSION_BYTES => {
            (stem, Some(ext))
        }
        _ => (name.as_str(), None),
    };
    let room = MAX_NAME_BYTES - extension.map_or(0, |ext| ext.len() + 1);
    let end = stem.floor_char_boundary(room);
    match extension {
        Some(ext) => format!("{}.{ext}", &stem[..end]),
        None => stem[..end].to_owned(),
    }
}

/// The essence of `mimetype` (`type/subtype`, lower case), without its parameters.
fn essence(mimetype: &str) -> String {
    mimetype
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The extensions browsers give the MIME types WhatsApp sends as photos and videos, the usual
/// one first; none for the others.
fn extensions(mimetype: &str) -> &'static [&'static str] {
    match essence(mimetype).as_str() {
        "image/jpeg" | "image/jpg" => &["jpg", "jpeg", "jfif", "jpe"],
        "image/png" => &["png"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "image/bmp" => &["bmp"],
        "video/mp4" => &["mp4", "m4v"],
        "video/3gpp" => &["3gp", "3gpp"],
        "video/quicktime" => &["mov", "qt"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe_and_never_empty() {
        let doc = |name| upload_name(name, MediaKind::Document, "application/pdf");
        assert_eq!(doc("report.pdf"), "report.pdf");
        assert_eq!(doc("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(doc("..hidden.txt"), "hidden.txt");
        assert_eq!(doc(" a\nb\u{0}c.txt "), "a_b_c.txt");
        assert_eq!(doc("back\\slash"), "back_slash");
        assert_eq!(doc("Año ñandú.pdf"), "Año ñandú.pdf");
        assert_eq!(doc("smile \u{1F600}.pdf"), "smile _.pdf");
        for empty in ["", "   ", "...", ". ."] {
            assert_eq!(doc(empty), FALLBACK_NAME, "{empty:?}");
        }
    }

    #[test]
    fn photos_and_videos_get_the_extension_of_their_type() {
        assert_eq!(
            upload_name("photo", MediaKind::Image, "image/jpeg"),
            "photo.jpg"
        );
        assert_eq!(
            upload_name("photo.JPEG", MediaKind::Image, "image/jpeg"),
            "photo.JPEG"
        );
        assert_eq!(
            upload_name("shot.bin", MediaKind::Image, "image/png"),
            "shot.bin.png"
        );
        assert_eq!(
            upload_name("clip.mov", MediaKind::Video, "video/quicktime"),
            "clip.mov"
        );
        assert_eq!(
            upload_name("x", MediaKind::Image, "image/x-unknown"),
            "x",
            "no extension known"
        );
        assert_eq!(
            upload_name("song", MediaKind::Audio, "audio/mpeg"),
            "song",
            "a file keeps its name"
        );
    }

    #[test]
    fn long_names_are_cut_keeping_their_extension() {
        let long = format!("{}.pdf", "ñ".repeat(200));
        let cut = upload_name(&long, MediaKind::Document, "application/pdf");
        assert!(cut.len() <= MAX_NAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with("ñ.pdf"), "{cut}");
        let no_extension = "x".repeat(300);
        assert_eq!(cut_name(no_extension).len(), MAX_NAME_BYTES);
        let odd_extension = format!("a.{}", "e".repeat(300));
        assert_eq!(cut_name(odd_extension).len(), MAX_NAME_BYTES);
    }
}
