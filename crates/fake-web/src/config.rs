//! Timings, the selector/text variant and the page-module build (contract section 10) of the
//! fake site.
//!
//! Every timing the contract calls "variable" is configurable, so that the worker can be tested
//! against fast and slow fakes alike: [`FakeConfig::default`] is quick enough for tests,
//! [`FakeConfig::realistic`] copies what the real site does.

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
}

impl Default for FakeConfig {
    /// Fast-ish timings for tests: boot 200–800 ms, QR 20 s then 10 s (6 in all), "Starting chat"
    /// 300 ms, " Pending " 300 ms, modern selectors, the current modules, decryption 200 ms.
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
        }
    }
}

impl FakeConfig {
    /// The real site's timings: boot 1–4 s, QR 60 s then 20 s (6 in all), 1 s "Starting chat",
    /// 1 s " Pending ", the current modules, decryption 500 ms.
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
        }
    }
}

/// The generation of the real site the pages imitate (contract: "older builds" vs "newer").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Current selectors and texts; QR payloads sometimes carry a fifth field or a URL prefix.
    #[default]
    Modern,
    /// Older selectors and texts ("Scan me!", `last-wid`, `msg-check` icons, …).
    Legacy,
}

impl Variant {
    /// The lowercase name used on the command line and sent to the page script.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Modern => "modern",
            Variant::Legacy => "legacy",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Variant {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "modern" => Ok(Variant::Modern),
            "legacy" => Ok(Variant::Legacy),
            other => anyhow::bail!("unknown variant {other:?} (expected \"modern\" or \"legacy\")"),
        }
    }
}

/// Which build of the page's own modules (contract section 10) the page script offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

impl Modules {
    /// The lowercase name used on the command line and sent to the page script.
    pub fn as_str(self) -> &'static str {
        match self {
            Modules::Current => "current",
            Modules::Older => "older",
            Modules::None => "none",
        }
    }
}

impl fmt::Display for Modules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Modules {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "current" => Ok(Modules::Current),
            "older" => Ok(Modules::Older),
            "none" => Ok(Modules::None),
            other => anyhow::bail!(
                "unknown modules {other:?} (expected \"current\", \"older\" or \"none\")"
            ),
        }
    }
}

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
    fn variant_parses_both_names() {
        assert_eq!("modern".parse::<Variant>().unwrap(), Variant::Modern);
        assert_eq!("Legacy".parse::<Variant>().unwrap(), Variant::Legacy);
        assert!("new".parse::<Variant>().is_err());
        assert_eq!(Variant::Legacy.to_string(), "legacy");
    }
}
