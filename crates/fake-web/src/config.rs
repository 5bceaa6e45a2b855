//! Timings, the selector/text variant, the page-module build (contract section 10) and the
//! media selectors (contract section 11) of the fake site.
//!
//! Every timing the contract calls "variable" is configurable, so that the worker can be tested
//! against fast and slow fakes alike: [`FakeConfig::default`] is quick enough for tests,
//! [`FakeConfig::realistic`] copies what the real site does. Every selector of section 11 that
//! moved over the years has its own knob ([`Attach`], [`PhotoAccept`], [`CaptionLabel`],
//! [`MediaSend`]), independent of [`Variant`], so that a test can pick each form of each.

use std::{fmt, str::FromStr, time::Duration};

/// How the fake behaves: timings and which generation of the real site it imitates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Shortest loading screen shown on each page load.
    pub boot_min: Duration,
    /// Longest loading screen shown on each page load (the time is drawn in `boot_min..=boot_max`).
    pub boot_max: Duration,
    /// Lifetime of the first QR payload of a cycle (real site: 60 s).
    pub qr_first: Duration,
    /// Lifetime of each later QR payload of a cycle (real site: 20 s).
    pub qr_next: Duration,
    /// Payloads per cycle (real site: 6); after the last one the QR expires.
    pub qr_count: u32,
    /// How long `/send` shows its "Starting chat" screen.
    pub starting_chat: Duration,
    /// How long a sent message shows " Pending " before " Sent ".
    pub ack_delay: Duration,
    /// Which selectors and texts the pages use.
    pub variant: Variant,
    /// Which of the page's own modules (contract section 10) the page script offers.
    pub modules: Modules,
    /// How long an arriving message stays a `ciphertext` model before its real type and body.
    pub decrypt_delay: Duration,
    /// How long a pairing code lives before the page shows a new one (real site: about 3 min).
    pub link_code_ttl: Duration,
    /// The chat's attach button (contract section 11). [`Variant::Legacy`] does not change it:
    /// the binary picks [`Attach::Clip`] for `--variant legacy` unless `--attach` says otherwise.
    pub attach: Attach,
    /// The `accept` of the "Photos & videos" file input.
    pub photo_accept: PhotoAccept,
    /// How the media editor's caption box is labelled.
    pub caption_label: CaptionLabel,
    /// The media editor's send button.
    pub media_send: MediaSend,
}

impl Default for FakeConfig {
    /// Fast-ish timings for tests: boot 200–800 ms, QR 20 s then 10 s (6 in all), "Starting chat"
    /// 300 ms, " Pending " 300 ms, modern selectors, the current modules, decryption 200 ms, the
    /// current media selectors (`plus-rounded`, the full photo `accept`, `aria-label="Add a
    /// caption"`, `div[role="button"][aria-label="Send"]`).
    fn default() -> Self {
        Self {
            boot_min: Duration::from_millis(200),
            boot_max: Duration::from_millis(800),
            qr_first: Duration::from_secs(20),
            qr_next: Duration::from_secs(10),
            qr_count: 6,
            starting_chat: Duration::from_millis(300),
            ack_delay: Duration::from_millis(300),
            variant: Variant::Modern,
            modules: Modules::Current,
            decrypt_delay: Duration::from_millis(200),
            link_code_ttl: Duration::from_secs(180),
            attach: Attach::default(),
            photo_accept: PhotoAccept::default(),
            caption_label: CaptionLabel::default(),
            media_send: MediaSend::default(),
        }
    }
}

impl FakeConfig {
    /// The real site's timings: boot 1–4 s, QR 60 s then 20 s (6 in all), 1 s "Starting chat",
    /// 1 s " Pending ", the current modules, decryption 500 ms, the current media selectors.
    pub fn realistic() -> Self {
        Self {
            boot_min: Duration::from_secs(1),
            boot_max: Duration::from_secs(4),
            qr_first: Duration::from_secs(60),
            qr_next: Duration::from_secs(20),
            qr_count: 6,
            starting_chat: Duration::from_secs(1),
            ack_delay: Duration::from_secs(1),
            variant: Variant::Modern,
            modules: Modules::Current,
            decrypt_delay: Duration::from_millis(500),
            ..Self::default()
        }
    }
}

/// Implements `as_str` (the command-line name, also sent to the page script), `Display` and
/// `FromStr` (any case) for a knob whose names are listed once here.
macro_rules! named_knob {
    ($knob:ident, $what:literal, { $($value:ident => $name:literal),+ $(,)? }) => {
        impl $knob {
            /// The name used on the command line and sent to the page script.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($knob::$value => $name,)+
                }
            }
        }

        impl fmt::Display for $knob {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $knob {
            type Err = anyhow::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.to_ascii_lowercase().as_str() {
                    $($name => Ok($knob::$value),)+
                    other => anyhow::bail!(
                        "unknown {} {other:?} (expected one of: {})",
                        $what,
                        [$($name),+].join(", ")
                    ),
                }
            }
        }

        impl serde::Serialize for $knob {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

/// The generation of the real site the pages imitate (contract: "older builds" vs "newer").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Variant {
    /// Current selectors and texts; QR payloads sometimes carry a fifth field or a URL prefix.
    #[default]
    Modern,
    /// Older selectors and texts ("Scan me!", `last-wid`, `msg-check` icons, …).
    Legacy,
}

named_knob!(Variant, "variant", {
    Modern => "modern",
    Legacy => "legacy",
});

/// Which build of the page's own modules (contract section 10) the page script offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Modules {
    /// `window.require` with every module of [`MODULE_NAMES`]; `WAWebUserPrefsMeUser` has
    /// `getMaybeMePnUser` only.
    #[default]
    Current,
    /// The same, but `WAWebUserPrefsMeUser` has only the older `getMaybeMeUser`.
    Older,
    /// The DOM-only site: no `window.require` and no `window.Debug` at all.
    None,
}

named_knob!(Modules, "modules", {
    Current => "current",
    Older => "older",
    None => "none",
});

/// The attach button of an open chat (contract section 11), by the years of the real site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Attach {
    /// 2025–26: a `button` around `span[data-icon="plus-rounded"]`.
    #[default]
    PlusRounded,
    /// 2023–24: a `div[role="button"]` around `span[data-icon="attach-menu-plus"]`.
    AttachMenuPlus,
    /// Older: a `div[role="button"]` around `span[data-icon="clip"]`.
    Clip,
    /// The oldest: `div[title="Attach"]`, no `data-icon`.
    #[value(name = "title")]
    TitleAttach,
}

named_knob!(Attach, "attach button", {
    PlusRounded => "plus-rounded",
    AttachMenuPlus => "attach-menu-plus",
    Clip => "clip",
    TitleAttach => "title",
});

/// The `accept` of the "Photos & videos" file input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PhotoAccept {
    /// `image/*,video/mp4,video/3gpp,video/quicktime`.
    #[default]
    Full,
    /// `image/*` (some recent builds): videos are refused by the photo input.
    Image,
}

named_knob!(PhotoAccept, "photo accept", {
    Full => "full",
    Image => "image",
});

/// How the media editor labels its caption box, `div[contenteditable="true"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CaptionLabel {
    /// `aria-label="Add a caption"`.
    #[default]
    AriaLabel,
    /// `aria-placeholder="Add a caption"` (and no `aria-label`).
    AriaPlaceholder,
}

named_knob!(CaptionLabel, "caption label", {
    AriaLabel => "aria-label",
    AriaPlaceholder => "aria-placeholder",
});

/// The media editor's send button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MediaSend {
    /// `div[role="button"][aria-label="Send"]` (its icon has no `data-icon`).
    #[default]
    Label,
    /// A `button` around `span[data-icon="send"]`, no label.
    Send,
    /// A `button` around `span[data-icon="wds-ic-send-filled"]`, no label.
    Wds,
}

named_knob!(MediaSend, "media send button", {
    Label => "label",
    Send => "send",
    Wds => "wds",
});

/// The modules `window.require` knows (contract section 10); `POST /__fake/modules` can drop
/// any of them for later page loads.
pub const MODULE_NAMES: &[&str] = &[
    "WAWebSocketModel",
    "WAWebConnModel",
    "WAWebCmd",
    "WAWebUserPrefsMeUser",
    "WAWebCollections",
    "WAWebWidFactory",
    "WAWebFindChatAction",
    "WAWebMsgKey",
    "WAWebSendMsgChatAction",
    "WAWebQueryExistsJob",
    "WAWebUpdateUnreadChatAction",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_parse_every_name() {
        for modules in [Modules::Current, Modules::Older, Modules::None] {
            assert_eq!(modules.as_str().parse::<Modules>().unwrap(), modules);
            assert_eq!(modules.to_string(), modules.as_str());
        }
        assert_eq!("OLDER".parse::<Modules>().unwrap(), Modules::Older);
        assert!("newest".parse::<Modules>().is_err());
        assert_eq!(FakeConfig::default().modules, Modules::Current);
    }

    /// The page script and the server agree on the module names.
    #[test]
    fn the_page_script_offers_every_module_name() {
        let script = include_str!("../assets/app.js");
        for name in MODULE_NAMES {
            assert!(script.contains(&format!("{name}: ")), "app.js lacks {name}");
        }
    }

    #[test]
    fn media_knobs_parse_their_names_and_default_to_the_current_site() {
        for attach in [
            Attach::PlusRounded,
            Attach::AttachMenuPlus,
            Attach::Clip,
            Attach::TitleAttach,
        ] {
            assert_eq!(attach.as_str().parse::<Attach>().unwrap(), attach);
            assert_eq!(attach.to_string(), attach.as_str());
        }
        assert_eq!("title".parse::<Attach>().unwrap(), Attach::TitleAttach);
        assert_eq!("CLIP".parse::<Attach>().unwrap(), Attach::Clip);
        assert!("paperclip".parse::<Attach>().is_err());
        for accept in [PhotoAccept::Full, PhotoAccept::Image] {
            assert_eq!(accept.as_str().parse::<PhotoAccept>().unwrap(), accept);
        }
        for label in [CaptionLabel::AriaLabel, CaptionLabel::AriaPlaceholder] {
            assert_eq!(label.as_str().parse::<CaptionLabel>().unwrap(), label);
        }
        for send in [MediaSend::Label, MediaSend::Send, MediaSend::Wds] {
            assert_eq!(send.as_str().parse::<MediaSend>().unwrap(), send);
        }
        assert!("button".parse::<MediaSend>().is_err());
        for config in [FakeConfig::default(), FakeConfig::realistic()] {
            assert_eq!(
                (
                    config.attach,
                    config.photo_accept,
                    config.caption_label,
                    config.media_send
                ),
                (
                    Attach::PlusRounded,
                    PhotoAccept::Full,
                    CaptionLabel::AriaLabel,
                    MediaSend::Label
                )
            );
        }
        assert_eq!(
            serde_json::to_value(Attach::AttachMenuPlus).unwrap(),
            "attach-menu-plus"
        );
    }

    /// clap's names are the ones `FromStr` and the page script know.
    #[test]
    fn clap_names_match_the_knob_names() {
        use clap::ValueEnum as _;
        fn check<T: clap::ValueEnum + Copy + fmt::Display>() {
            for value in T::value_variants() {
                let name = value.to_possible_value().expect("not skipped");
                assert_eq!(name.get_name(), value.to_string());
            }
        }
        check::<Attach>();
        check::<PhotoAccept>();
        check::<CaptionLabel>();
        check::<MediaSend>();
        assert_eq!(Attach::value_variants().len(), 4);
    }

    /// The page script compares the knobs' names it gets in the hello answer.
    #[test]
    fn the_page_script_knows_the_media_knob_names() {
        let script = include_str!("../assets/app.js");
        for name in [
            Attach::PlusRounded.as_str(),
            Attach::TitleAttach.as_str(),
            PhotoAccept::Image.as_str(),
            CaptionLabel::AriaPlaceholder.as_str(),
            MediaSend::Send.as_str(),
            MediaSend::Wds.as_str(),
        ] {
            assert!(
                script.contains(&format!("=== \"{name}\"")),
                "app.js lacks {name}"
            );
        }
    }

    #[test]
    fn variant_parses_both_names() {
        assert_eq!("modern".parse::<Variant>().unwrap(), Variant::Modern);
        assert_eq!("Legacy".parse::<Variant>().unwrap(), Variant::Legacy);
        assert!("new".parse::<Variant>().is_err());
        assert_eq!(Variant::Legacy.to_string(), "legacy");
    }
}
