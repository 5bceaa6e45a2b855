//! The outbox's decisions, with no I/O: what a worker's answer means for a message, how sends
//! are paced, and how an idempotency key and a request compare.

use std::time::Duration;

use crate::sessions::session::SendFailure;

/// Attempts of one message (each a worker told to send it) before it is `failed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long an `Idempotency-Key` names its first request.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What becomes of a message after a worker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent(String),
    Failed {
        code: String,
        message: String,
    },
    /// Try again after `after`; `code` and `message` say why it did not go this time.
    Retry {
        code: String,
        message: String,
        after: Duration,
    },
}

/// `attempts` counts the attempt that just ended.
pub fn verdict(outcome: Result<String, SendFailure>, attempts: u32) -> Verdict {
    let failure = match outcome {
        Ok(id) => return Verdict::Sent(id),
        Err(failure) => failure,
    };
    let (code, message) = (failure.code().to_owned(), failure.message());
    match failure {
        SendFailure::NotOnWhatsApp => Verdict::Failed { code, message },
        // The session lost its link meanwhile: the message waits for it, however long.
        SendFailure::NotReady => Verdict::Retry {
            code,
            message,
            after: Duration::ZERO,
        },
        SendFailure::Timeout | SendFailure::WorkerGone | SendFailure::Failed(_) => {
            if attempts >= MAX_ATTEMPTS {
                Verdict::Failed {
                    code,
                    message: format!("gave up after {attempts} attempts: {message}"),
                }
            } else {
                Verdict::Retry {
                    code,
                    message,
                    after: Duration::from_secs(2u64 << attempts.min(5)),
                }
            }
        }
    }
}

/// `--send-interval MIN[-MAX]`: the least time between two sends of a session, drawn anew
/// between MIN and MAX for each send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub min: Duration,
    pub max: Duration,
}

impl Interval {
    pub fn parse(text: &str) -> Result<Interval, String> {
        let parse = crate::daemon::config::parse_duration;
        let (min, max) = match text.split_once('-') {
            Some((min, max)) => (parse(min)?, parse(max)?),
            None => {
                let d = parse(text)?;
                (d, d)
            }
        };
        if max < min {
            return Err(format!("{text:?}: the maximum is below the minimum"));
        }
        Ok(Interval { min, max })
    }

    /// The wait for a draw `unit` in `[0, 1)`.
    pub fn pick(&self, unit: f64) -> Duration {
        self.min + (self.max - self.min).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// The canonical form of a send request, compared under an idempotency key.
pub fn request_body(to: &str, text: &str, ttl: Duration) -> String {
    serde_json::json!({"to": to, "text": text, "ttlSeconds": ttl.as_secs()}).to_string()
}

/// Whether `key` is a usable `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_on_whatsapp_fails_at_once_and_others_retry_a_few_times() {
        assert_eq!(verdict(Ok("ID".into()), 1), Verdict::Sent("ID".into()));
        assert!(matches!(
            verdict(Err(SendFailure::NotOnWhatsApp), 1),
            Verdict::Failed { code, .. } if code == "number_not_on_whatsapp"
        ));
        let Verdict::Retry { after, .. } = verdict(Err(SendFailure::Timeout), 1) else {
            panic!("a timeout is tried again");
        };
        let Verdict::Retry { after: later, .. } = verdict(Err(SendFailure::Timeout), 2) else {
            panic!("a timeout is tried again");
        };
        assert!(later > after, "each retry waits longer");
        assert!(matches!(
            verdict(Err(SendFailure::Failed("x".into())), MAX_ATTEMPTS),
            Verdict::Failed { code, message } if code == "send_failed" && message.contains("gave up")
        ));
        assert!(matches!(
            verdict(Err(SendFailure::NotReady), 50),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn intervals() {
        let fixed = Interval::parse("5s").unwrap();
        assert_eq!(
            (fixed.min, fixed.max),
            (Duration::from_secs(5), Duration::from_secs(5))
        );
        let range = Interval::parse("2s-10s").unwrap();
        assert_eq!(range.pick(0.0), Duration::from_secs(2));
        assert_eq!(range.pick(0.5), Duration::from_secs(6));
        assert!(range.pick(0.999) < Duration::from_secs(10));
        assert!(Interval::parse("10s-2s").is_err());
        assert!(Interval::parse("x").is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(valid_idempotency_key("order-1234"));
        assert!(valid_idempotency_key(&"k".repeat(255)));
        assert!(!valid_idempotency_key(""));
        assert!(!valid_idempotency_key(&"k".repeat(256)));
        assert!(!valid_idempotency_key("with space"));
        assert!(!valid_idempotency_key("ñ"));
        assert_ne!(
            request_body("1", "a", Duration::from_secs(60)),
            request_body("1", "b", Duration::from_secs(60))
        );
    }
}
