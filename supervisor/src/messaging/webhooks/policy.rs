//! What a webhook attempt's answer means, and when the next attempt is: pure, in
//! milliseconds, so it is tested without a clock or a network.
//!
//! Any 2xx is delivered; 410 disables the endpoint; anything else (no answer, a timeout
//! included) is retried with exponential backoff and jitter: with the default 5 s base about
//! 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly, or after `Retry-After` on 429 and 503,
//! until the delivery has been tried for `max_age`: the last attempt is at that deadline, and
//! if it fails too the delivery has failed.

use std::time::Duration;

/// Each retry's delay in multiples of the base: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h.
const STEPS: [u64; 6] = [1, 6, 24, 120, 360, 720];

/// A delay is drawn between these fractions of its step.
const JITTER: (f64, f64) = (0.8, 1.2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's delay (5 s); the later ones are multiples of it.
    pub base: Duration,
    /// How long a delivery is tried before it fails.
    pub max_age: Duration,
}

/// What an attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: refused, reset or timed out.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    Failed,
    /// 410 Gone: the receiver wants no more; this delivery failed and the endpoint is off.
    Disable,
}

/// The verdict on an attempt answered `answer` at `now`, the `attempts`th (this one counted)
/// of a delivery tried since `started_at`. `jitter` is a random number in [0, 1).
pub fn judge(
    answer: Answer,
    attempts: u32,
    now: i64,
    started_at: i64,
    backoff: Backoff,
    jitter: f64,
) -> Verdict {
    let retry_after = match answer {
        Answer::Status { code, .. } if (200..300).contains(&code) => return Verdict::Delivered,
        Answer::Status { code: 410, .. } => return Verdict::Disable,
        Answer::Status {
            code: 429 | 503,
            retry_after,
        } => retry_after,
        _ => None,
    };
    let deadline = started_at.saturating_add(millis(backoff.max_age));
    if now >= deadline {
        return Verdict::Failed;
    }
    let delay = retry_after.unwrap_or_else(|| delay(backoff.base, attempts, jitter));
    Verdict::RetryAt(now.saturating_add(millis(delay)).min(deadline))
}

/// The delay after the `attempts`th failed attempt, jittered.
fn delay(base: Duration, attempts: u32, jitter: f64) -> Duration {
    let step = STEPS[(attempts.max(1) as usize - 1).min(STEPS.len() - 1)];
    let factor = JITTER.0 + (JITTER.1 - JITTER.0) * jitter.clamp(0.0, 1.0);
    base.saturating_mul(step as u32).mul_f64(factor)
}

/// `Retry-After` in seconds; an HTTP date (rare from webhook receivers) falls back to the
/// backoff.
pub fn retry_after(header: &str) -> Option<Duration> {
    header.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(5),
        max_age: Duration::from_secs(24 * 3600),
    };

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn any_2xx_is_delivered_and_410_disables() {
        for code in [200, 201, 204, 299] {
            assert_eq!(
                judge(status(code), 1, 0, 0, BACKOFF, 0.5),
                Verdict::Delivered
            );
        }
        assert_eq!(judge(status(410), 1, 0, 0, BACKOFF, 0.5), Verdict::Disable);
    }

    #[test]
    fn failures_back_off_5s_30s_2m_10m_30m_1h_then_hourly() {
        let secs = [5, 30, 120, 600, 1800, 3600, 3600, 3600];
        for (i, expected) in secs.into_iter().enumerate() {
            let attempts = i as u32 + 1;
            for answer in [status(500), status(404), status(301), Answer::None] {
                assert_eq!(
                    judge(answer, attempts, 1_000, 0, BACKOFF, 0.5),
                    Verdict::RetryAt(1_000 + expected * 1000),
                    "attempt {attempts}, {answer:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_a_delay_by_a_fifth_either_way() {
        assert_eq!(
            judge(status(500), 2, 0, 0, BACKOFF, 0.0),
            Verdict::RetryAt(24_000)
        );
        assert_eq!(
            judge(status(500), 2, 0, 0, BACKOFF, 1.0),
            Verdict::RetryAt(36_000)
        );
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let asked = |code| Answer::Status {
            code,
            retry_after: Some(Duration::from_secs(90)),
        };
        for code in [429, 503] {
            assert_eq!(
                judge(asked(code), 1, 0, 0, BACKOFF, 0.5),
                Verdict::RetryAt(90_000)
            );
        }
        assert_eq!(
            judge(asked(500), 1, 0, 0, BACKOFF, 0.5),
            Verdict::RetryAt(5_000)
        );
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn the_last_attempt_is_at_the_deadline_and_then_it_fails() {
        let day = 24 * 3600 * 1000;
        assert_eq!(
            judge(status(500), 30, day - 1_000, 0, BACKOFF, 0.5),
            Verdict::RetryAt(day)
        );
        assert_eq!(
            judge(status(500), 31, day, 0, BACKOFF, 0.5),
            Verdict::Failed
        );
        assert_eq!(
            judge(status(500), 31, day, 10, BACKOFF, 0.5),
            Verdict::RetryAt(day + 10),
            "a retry through the API starts the clock again"
        );
    }

    #[test]
    fn the_base_scales_every_step() {
        let fast = Backoff {
            base: Duration::from_millis(20),
            ..BACKOFF
        };
        assert_eq!(
            judge(status(500), 3, 0, 0, fast, 0.5),
            Verdict::RetryAt(480)
        );
    }
}
