//! Media (contract section 11) with a real chromedriver and Chromium against the in-process fake
//! WhatsApp Web, the test acting as the supervisor: files sent through every form of the attach
//! button and media editor, incoming files read into `--media-dir`, and a resumed media send.
//! Each test runs one browser at a time.

// Each test binary uses a part of the helpers the binaries share.
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Fake, Launch, Outcome, PHONE, TempDir, Worker, killed_while_pending, linked_worker};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wamux_fake_web::{Attach, CaptionLabel, FakeConfig, MediaSend, Modules, PhotoAccept, Variant};
use wamux_proto::{
    Attempt, IncomingMessage, MediaKind, OutgoingMedia, SendError, SupervisorCommand, WorkerEvent,
};

const FRIEND: &str = "5215550001111";
const SENDER: &str = "5215550002222";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `len` bytes that do not repeat (xorshift), starting with `magic`.
fn bytes(magic: &[u8], len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = magic.to_vec();
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file as the supervisor keeps it: in its store under its hash, without an extension.
fn stored(dir: &Path, filename: &str, mimetype: &str, content: &[u8]) -> OutgoingMedia {
    let sha256 = sha256(content);
    let path = dir.join(&sha256);
    std::fs::write(&path, content).unwrap();
    OutgoingMedia {
        path: path.display().to_string(),
        filename: filename.into(),
        mimetype: mimetype.into(),
        kind: MediaKind::of(mimetype),
        size: content.len() as u64,
        sha256,
    }
}

fn send_media(
    request_id: u64,
    to: &str,
    caption: &str,
    media: &OutgoingMedia,
    resume: Option<Attempt>,
) -> SupervisorCommand {
    SupervisorCommand::SendMedia {
        request_id,
        phone_number: to.into(),
        caption: caption.into(),
        media: media.clone(),
        resume,
    }
}

async fn media_send(
    worker: &mut Worker,
    request_id: u64,
    caption: &str,
    media: &OutgoingMedia,
) -> Outcome {
    let command = send_media(request_id, FRIEND, caption, media, None);
    worker.run_send(request_id, command).await.0
}

/// One form of each media selector, and the rest of the fake's build.
struct Build {
    attach: Attach,
    photo_accept: PhotoAccept,
    caption_label: CaptionLabel,
    media_send: MediaSend,
    variant: Variant,
    modules: Modules,
    caption: &'static str,
    document_caption: &'static str,
    /// The real site's slower loads, "Starting chat" and " Pending ".
    slow: bool,
}

/// The four attach buttons, each with other forms of the other selectors, both generations of
/// the site, with and without modules, fast and slow, captions with emoji, line breaks and
/// formatting marks.
const BUILDS: [Build; 4] = [
    Build {
        attach: Attach::PlusRounded,
        photo_accept: PhotoAccept::Full,
        caption_label: CaptionLabel::AriaLabel,
        media_send: MediaSend::Label,
        variant: Variant::Modern,
        modules: Modules::Current,
        caption: "Vacaciones en la playa \u{1F30A}",
        document_caption: "",
        slow: false,
    },
    Build {
        attach: Attach::AttachMenuPlus,
        photo_accept: PhotoAccept::Image,
        caption_label: CaptionLabel::AriaPlaceholder,
        media_send: MediaSend::Send,
        variant: Variant::Modern,
        modules: Modules::None,
        caption: "Línea uno\nlínea dos",
        document_caption: "el informe",
        slow: false,
    },
    Build {
        attach: Attach::Clip,
        photo_accept: PhotoAccept::Full,
        caption_label: CaptionLabel::AriaPlaceholder,
        media_send: MediaSend::Wds,
        variant: Variant::Legacy,
        modules: Modules::Older,
        caption: "ñandú & co? 100% \"sure\"",
        document_caption: "",
        slow: true,
    },
    Build {
        attach: Attach::TitleAttach,
        photo_accept: PhotoAccept::Image,
        caption_label: CaptionLabel::AriaLabel,
        media_send: MediaSend::Wds,
        variant: Variant::Legacy,
        modules: Modules::None,
        caption: "*muy* importante",
        document_caption: "léelo",
        slow: false,
    },
];

#[tokio::test]
async fn every_attach_button_sends_a_photo_with_its_caption_and_a_document() {
    let store = TempDir::new("store");
    let photo_bytes = bytes(b"\x89PNG\r\n\x1a\n", 300_000, 7);
    let photo = stored(store.path(), "vacaciones.png", "image/png", &photo_bytes);
    let pdf_bytes = bytes(b"%PDF-1.4\n", 120_000, 11);
    let pdf = stored(
        store.path(),
        "informe final.pdf",
        "application/pdf",
        &pdf_bytes,
    );
    let video = stored(
        store.path(),
        "clip",
        "video/mp4",
        &bytes(b"\0\0\0\x18ftypmp42", 80_000, 17),
    );
    for (i, build) in BUILDS.iter().enumerate() {
        eprintln!("attach {}", build.attach);
        let timings = if build.slow {
            FakeConfig {
                boot_min: Duration::from_millis(1000),
                boot_max: Duration::from_millis(2500),
                starting_chat: secs(1),
                ack_delay: secs(1),
                ..FakeConfig::default()
            }
        } else {
            FakeConfig::default()
        };
        let fake = Fake::start(FakeConfig {
            attach: build.attach,
            photo_accept: build.photo_accept,
            caption_label: build.caption_label,
            media_send: build.media_send,
            variant: build.variant,
            modules: build.modules,
            ..timings
        })
        .await;
        let url = fake.url();
        let mut worker = linked_worker(&fake, Launch::new(&url)).await;

        let sent_photo = media_send(&mut worker, 1, build.caption, &photo)
            .await
            .unwrap_or_else(|err| panic!("the photo through {}: {err}", build.attach));
        let sent_pdf = media_send(&mut worker, 2, build.document_caption, &pdf)
            .await
            .unwrap_or_else(|err| panic!("the document through {}: {err}", build.attach));
        assert_ne!(sent_photo.message_id, sent_pdf.message_id);

        let log = fake.sent(PHONE).await;
        assert_eq!(log.len(), 2, "each once: {log:?}");
        let (image, document) = (&log[0], &log[1]);
        assert_eq!(image["id"], json!(sent_photo.message_id));
        assert_eq!(image["to"], json!(FRIEND));
        assert_eq!(image["type"], "image", "{image}");
        assert_eq!(image["caption"], json!(build.caption));
        assert_eq!(image["filename"], "vacaciones.png");
        assert_eq!(image["mimetype"], "image/png");
        assert_eq!(image["sha256"], json!(photo.sha256));
        assert_eq!(image["size"], json!(photo.size));
        assert_eq!(document["id"], json!(sent_pdf.message_id));
        assert_eq!(document["type"], "document", "{document}");
        assert_eq!(document["caption"], json!(build.document_caption));
        assert_eq!(document["filename"], "informe final.pdf");
        assert_eq!(document["sha256"], json!(pdf.sha256));
        assert_eq!(document["size"], json!(pdf.size));
        let upload = worker.profile.parent().unwrap().join("upload");
        let left: Vec<PathBuf> = std::fs::read_dir(&upload)
            .map(|dir| dir.map(|entry| entry.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "files left to upload: {left:?}");

        if build.photo_accept == PhotoAccept::Image || i == 0 {
            // The photos input of a build that accepts only images does not take a video: it
            // goes out as a document.
            let sent_video = media_send(&mut worker, 5, "un video", &video)
                .await
                .unwrap_or_else(|err| panic!("the video through {}: {err}", build.attach));
            let log = fake.sent(PHONE).await;
            let entry = log.last().unwrap();
            assert_eq!(entry["id"], json!(sent_video.message_id));
            let kind = if build.photo_accept == PhotoAccept::Image {
                "document"
            } else {
                "video"
            };
            assert_eq!(entry["type"], kind, "{entry}");
            assert_eq!(entry["filename"], "clip.mp4");
            assert_eq!(entry["sha256"], json!(video.sha256));
        }
        if i == 0 {
            let missing = OutgoingMedia {
                path: store.path().join("gone").display().to_string(),
                ..photo.clone()
            };
            let outcome = media_send(&mut worker, 3, "", &missing).await;
            assert!(
                matches!(&outcome, Err(SendError::Failed(reason)) if reason.contains("missing")),
                "{outcome:?}"
            );
            let stranger = "5215559999999";
            fake.post("/__fake/invalid-numbers", json!({"numbers": [stranger]}))
                .await;
            let command = send_media(4, stranger, "", &photo, None);
            let (outcome, attempt) = worker.run_send(4, command).await;
            assert_eq!(outcome, Err(SendError::NotOnWhatsApp));
            assert_eq!(attempt, None);
            assert_eq!(fake.sent(PHONE).await.len(), 3, "nothing more went out");
        }
        worker.shut_down().await;
        fake.server.shutdown().await;
    }
}

/// Posts an incoming media message from [`SENDER`]; its MSGID.
async fn incoming_media(
    fake: &Fake,
    kind: &str,
    mimetype: &str,
    content: &[u8],
    caption: &str,
) -> String {
    fake.incoming(json!({"to": PHONE, "from": SENDER, "name": "Ana", "caption": caption,
                         "media": {"type": kind, "mimetype": mimetype, "base64": BASE64.encode(content)}}))
        .await
}

async fn expect_incoming(worker: &mut Worker, id: &str) -> IncomingMessage {
    worker
        .expect("the Incoming", secs(60), |e| match e {
            WorkerEvent::Incoming(message) if message.message_id == id => Some((**message).clone()),
            _ => None,
        })
        .await
}

/// Through the page's modules and through the DOM: a photo's bytes end up under --media-dir,
/// whole (more than one piece of the page's answers); one larger than --max-media-size is
/// reported without its file, as is a document, which the page does not give.
#[tokio::test]
async fn incoming_photos_are_read_into_the_media_dir_unless_too_large() {
    const MAX: u64 = 3 * 1024 * 1024;
    for modules in [Modules::Current, Modules::None] {
        eprintln!("modules {modules}");
        let fake = Fake::start(FakeConfig {
            modules,
            ..FakeConfig::default()
        })
        .await;
        let url = fake.url();
        let media_dir = TempDir::new("media-in");
        let dir = media_dir.path().join("session").join("media-in");
        let mut launch = Launch::new(&url);
        launch.media_dir = Some(&dir);
        launch.max_media_size = Some(MAX);
        let mut worker = linked_worker(&fake, launch).await;
        let mode = std::fs::metadata(&dir).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );

        let photo = bytes(b"\xff\xd8\xff\xe0", 2_600_000, 3);
        let id = incoming_media(&fake, "image", "image/jpeg", &photo, "mira esto").await;
        let message = expect_incoming(&mut worker, &id).await;
        assert_eq!(message.kind, "image");
        assert_eq!(message.text, "mira esto");
        assert_eq!(message.chat_id, format!("{SENDER}@c.us"));
        let media = message.media.expect("a photo has a file");
        assert_eq!(media.missing, None);
        assert_eq!(media.mimetype.as_deref(), Some("image/jpeg"));
        assert_eq!(media.size, Some(photo.len() as u64));
        assert_eq!(media.sha256.as_deref(), Some(&*sha256(&photo)));
        let path = PathBuf::from(media.path.expect("a path"));
        assert_eq!(path.parent(), Some(&*dir));
        assert_eq!(std::fs::read(&path).unwrap(), photo);

        let big = bytes(b"\xff\xd8\xff\xe0", MAX as usize + 1, 5);
        let id = incoming_media(&fake, "image", "image/jpeg", &big, "").await;
        let message = expect_incoming(&mut worker, &id).await;
        assert_eq!(
            (message.kind.as_str(), message.text.as_str()),
            ("image", "")
        );
        let media = message.media.expect("a photo has a file");
        assert_eq!(
            media.missing.as_deref(),
            Some(&*format!("larger than --max-media-size ({MAX} bytes)"))
        );
        assert_eq!((media.path, media.sha256), (None, None));
        assert_eq!(
            media.size,
            Some(big.len() as u64),
            "from the model or the page"
        );

        let pdf = bytes(b"%PDF-1.4\n", 10_000, 9);
        let id = fake
            .incoming(json!({"to": PHONE, "from": SENDER, "name": "Ana",
                             "media": {"type": "document", "mimetype": "application/pdf",
                                       "filename": "factura.pdf", "base64": BASE64.encode(&pdf)}}))
            .await;
        let message = expect_incoming(&mut worker, &id).await;
        assert_eq!(message.kind, "document");
        let media = message.media.expect("a document has a file");
        assert_eq!(media.filename.as_deref(), Some("factura.pdf"));
        assert_eq!(
            media.missing.as_deref(),
            Some("the page does not give this file")
        );
        let files: Vec<Value> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| json!(entry.unwrap().file_name().to_string_lossy()))
            .collect();
        assert_eq!(files, [json!(path.file_name().unwrap().to_string_lossy())]);

        worker.shut_down().await;
        fake.server.shutdown().await;
    }
}

/// A worker killed after the fake received a file, while its row still shows " Pending ": the
/// next worker, told to resume, finds the row and sends nothing; with that row in the snapshot
/// it sends anew.
#[tokio::test]
async fn a_resumed_media_send_whose_first_attempt_went_out_does_not_send_again() {
    let fake = Fake::start(FakeConfig {
        ack_delay: secs(4),
        ..FakeConfig::default()
    })
    .await;
    let url = fake.url();
    let store = TempDir::new("store");
    let photo = stored(
        store.path(),
        "foto.jpg",
        "image/jpeg",
        &bytes(b"\xff\xd8\xff\xe0", 50_000, 13),
    );
    let profile_dir = TempDir::new("profile");
    let profile = profile_dir.path().join("session");
    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let worker = linked_worker(&fake, launch).await;

    let caption = "solo una vez";
    let command = send_media(1, FRIEND, caption, &photo, None);
    let (mut worker, attempt, first_id) =
        killed_while_pending(&fake, worker, &url, 1, command).await;
    assert_eq!(attempt, Attempt::default(), "a new chat, through the DOM");
    // The earlier attempt is looked for before the file: one that went out needs none.
    let gone = OutgoingMedia {
        path: store.path().join("gone").display().to_string(),
        ..photo.clone()
    };
    let command = send_media(1, FRIEND, caption, &gone, Some(attempt));
    let (outcome, again) = worker.run_send(1, command).await;
    assert_eq!(outcome.expect("found").message_id, first_id);
    assert_eq!(again, None, "nothing was sent");
    assert_eq!(fake.sent(PHONE).await.len(), 1, "no second copy");

    let snapshot = Attempt {
        seen: vec![first_id.clone()],
        planned: None,
    };
    let command = send_media(2, FRIEND, caption, &photo, Some(snapshot.clone()));
    let (outcome, attempt) = worker.run_send(2, command).await;
    let second_id = outcome.expect("sent anew").message_id;
    assert_ne!(second_id, first_id);
    assert_eq!(attempt, Some(snapshot));
    let sent = fake.sent(PHONE).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["id"], json!(second_id));
    assert_eq!(sent[1]["sha256"], json!(photo.sha256));

    worker.shut_down().await;
    fake.server.shutdown().await;
}
