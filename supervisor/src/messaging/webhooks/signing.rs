//! Standard Webhooks signatures: `whsec_` secrets and the `webhook-signature` header.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is `v1,` and
//! the base64 of its HMAC-SHA256, keyed with the secret's base64-decoded bytes (after
//! `whsec_`). Receivers can check it with any Standard Webhooks library.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// The key lengths a secret may have, in bytes.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// A generated secret's key length.
const GENERATED_BYTES: usize = 32;

/// A secret that is not `whsec_` and the base64 of 24 to 64 bytes.
#[derive(Debug, thiserror::Error)]
#[error("a secret is \"whsec_\" followed by the base64 of 24 to 64 bytes")]
pub struct InvalidSecret;

/// A secret's key, checked. Its `Debug` hides it, so it never reaches a log.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn parse(text: &str) -> Result<Secret, InvalidSecret> {
        let encoded = text.strip_prefix(PREFIX).ok_or(InvalidSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(InvalidSecret);
        }
        Ok(Secret { key })
    }

    /// The secret as text: `whsec_` and the base64 of its key.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// A new random secret, as text.
    pub fn generate() -> String {
        let mut key = [0u8; GENERATED_BYTES];
        rand::rng().fill_bytes(&mut key);
        format!("{PREFIX}{}", STANDARD.encode(key))
    }

    /// The `webhook-signature` header of `body` sent as `id` at `timestamp` (Unix seconds).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The reference libraries' vector: a receiver's library computes exactly this.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_24_to_64_bytes() {
        let generated = Secret::generate();
        assert!(generated.starts_with("whsec_"), "{generated}");
        assert_eq!(Secret::parse(&generated).unwrap().key.len(), 32);
        assert_eq!(Secret::parse(&generated).unwrap().to_text(), generated);
        let of = |n: usize| format!("whsec_{}", STANDARD.encode(vec![7u8; n]));
        for good in [of(24), of(64)] {
            Secret::parse(&good).unwrap();
        }
        for bad in [
            of(23),
            of(65),
            STANDARD.encode([1u8; 32]),
            "whsec_not base64!".into(),
            String::new(),
        ] {
            assert!(Secret::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", Secret::parse(&of(24)).unwrap()),
            "Secret(…)"
        );
    }
}
