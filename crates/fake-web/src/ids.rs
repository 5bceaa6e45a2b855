//! Random identifiers: QR payloads, message ids, tokens, page ids and pairing codes.
//!
//! These functions only draw random values; uniqueness across the whole server is checked by
//! the caller in [`crate::state`], which owns every id already handed out.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use rand::Rng;

use crate::config::Variant;

/// Prefix some newer builds put in front of the QR payload.
const LINKED_DEVICES_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// Characters of a pairing code: no `0`/`O` or `1`/`I` to confuse a human.
const LINK_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn random_base64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill(&mut bytes[..]);
    STANDARD.encode(bytes)
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"0123456789ABCDEF"[rng.random_range(0..16)]))
        .collect()
}

/// A QR payload `2@REF,NOISEKEY,IDENTITYKEY,ADVSECRET`; the modern variant sometimes adds a
/// fifth (platform) field and sometimes the `https://wa.me/settings/linked_devices#` prefix, so
/// that the worker has to pass payloads through whole.
pub fn qr_payload(variant: Variant) -> String {
    let mut payload = format!(
        "2@{},{},{},{}",
        random_base64(48),
        random_base64(32),
        random_base64(32),
        random_base64(32)
    );
    if variant == Variant::Modern {
        let mut rng = rand::rng();
        if rng.random_bool(0.35) {
            payload.push_str(",1");
        }
        if rng.random_bool(0.35) {
            payload.insert_str(0, LINKED_DEVICES_PREFIX);
        }
    }
    payload
}

/// A message id as WhatsApp Web makes them: `3EB0` and 16 uppercase hex digits.
pub fn outgoing_message_id() -> String {
    format!("3EB0{}", random_hex(16))
}

/// A message id as a phone makes them: `3A` and 18 uppercase hex digits.
pub fn incoming_message_id() -> String {
    format!("3A{}", random_hex(18))
}

/// The secret a linked page keeps in its storage.
pub fn token() -> String {
    random_hex(32).to_ascii_lowercase()
}

/// The id of one page load.
pub fn page_id() -> String {
    random_hex(16).to_ascii_lowercase()
}

/// The device number of a new link (the `12` in `5215512345678:12@c.us`).
pub fn device_number() -> u32 {
    rand::rng().random_range(2..=60)
}

/// An 8-character pairing code.
pub fn link_code() -> String {
    let mut rng = rand::rng();
    (0..8)
        .map(|_| char::from(LINK_CODE_ALPHABET[rng.random_range(0..LINK_CODE_ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_payload_has_four_base64_fields() {
        let payload = qr_payload(Variant::Legacy);
        let body = payload.strip_prefix("2@").expect("2@ prefix");
        let fields: Vec<&str> = body.split(',').collect();
        assert_eq!(fields.len(), 4);
        for field in fields {
            assert!(STANDARD.decode(field).is_ok(), "{field} is base64");
        }
    }

    #[test]
    fn modern_payload_keeps_the_shape() {
        for _ in 0..50 {
            let payload = qr_payload(Variant::Modern);
            let body = payload
                .strip_prefix(LINKED_DEVICES_PREFIX)
                .unwrap_or(&payload);
            assert!(body.starts_with("2@"), "{payload}");
            let fields = body.split(',').count();
            assert!(fields == 4 || fields == 5, "{payload}");
        }
    }

    #[test]
    fn ids_have_their_formats() {
        let id = outgoing_message_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("3EB0"));
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_eq!(incoming_message_id().len(), 20);
        let code = link_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| LINK_CODE_ALPHABET.contains(&b)));
    }
}
