//! The QR payload schedule of one landing screen.
//!
//! A cycle shows its first payload for `qr_first`, then a new one every `qr_next`, `qr_count` in
//! all, then expires. The schedule is computed from the cycle's start time whenever it is asked
//! for, so no timer task is needed and the server answers `/__fake/scan` from the same clock the
//! page is shown.

use std::time::{Duration, Instant};

use crate::config::FakeConfig;

/// Where a cycle stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrPhase {
    /// The payload with this index (0-based) is on show.
    Showing(u32),
    /// All payloads have been shown: the reload button is on show.
    Expired,
}

/// The timings of a cycle, taken from [`FakeConfig`].
#[derive(Debug, Clone, Copy)]
pub struct QrTiming {
    first: Duration,
    next: Duration,
    count: u32,
}

impl QrTiming {
    /// The timings configured for the server (a zero `qr_count` counts as one payload, a zero
    /// `qr_next` as one millisecond).
    pub fn from_config(config: &FakeConfig) -> Self {
        Self {
            first: config.qr_first,
            next: config.qr_next.max(Duration::from_millis(1)),
            count: config.qr_count.max(1),
        }
    }

    /// The number of payloads in a cycle.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The phase of a cycle started at `start`, at time `now`.
    pub fn phase(&self, start: Instant, now: Instant) -> QrPhase {
        let elapsed = now.saturating_duration_since(start);
        let index = match elapsed.checked_sub(self.first) {
            None => 0,
            Some(later) => {
                let steps = later.as_nanos() / self.next.as_nanos();
                u32::try_from(steps).unwrap_or(u32::MAX).saturating_add(1)
            }
        };
        if index >= self.count {
            QrPhase::Expired
        } else {
            QrPhase::Showing(index)
        }
    }

    /// When the payload with this index stops being on show.
    pub fn end_of(&self, start: Instant, index: u32) -> Instant {
        start + self.first + self.next * index
    }
}

/// One cycle of payloads on one page.
#[derive(Debug)]
pub struct QrCycle {
    /// Counts the cycles of a page, so that a payload of an earlier cycle is never current.
    pub number: u32,
    /// When the first payload appeared.
    pub start: Instant,
    /// The payloads handed out so far, with their index. Payloads are drawn only when a page
    /// asks for them, so an index the page never showed has no payload.
    pub shown: Vec<(u32, String)>,
}

impl QrCycle {
    /// A cycle starting at `start`.
    pub fn new(number: u32, start: Instant) -> Self {
        Self {
            number,
            start,
            shown: Vec::new(),
        }
    }

    /// The payload already drawn for this index, if any.
    pub fn payload(&self, index: u32) -> Option<&str> {
        self.shown
            .iter()
            .find(|(shown, _)| *shown == index)
            .map(|(_, payload)| payload.as_str())
    }

    /// The last payload drawn, if any.
    pub fn last(&self) -> Option<&str> {
        self.shown.last().map(|(_, payload)| payload.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> QrTiming {
        QrTiming::from_config(&FakeConfig {
            qr_first: Duration::from_secs(60),
            qr_next: Duration::from_secs(20),
            qr_count: 6,
            ..FakeConfig::default()
        })
    }

    #[test]
    fn first_payload_lives_longer_then_rotates_then_expires() {
        let timing = timing();
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(timing.phase(start, at(0)), QrPhase::Showing(0));
        assert_eq!(timing.phase(start, at(59)), QrPhase::Showing(0));
        assert_eq!(timing.phase(start, at(60)), QrPhase::Showing(1));
        assert_eq!(timing.phase(start, at(79)), QrPhase::Showing(1));
        assert_eq!(timing.phase(start, at(80)), QrPhase::Showing(2));
        assert_eq!(timing.phase(start, at(159)), QrPhase::Showing(5));
        assert_eq!(timing.phase(start, at(160)), QrPhase::Expired);
        assert_eq!(timing.phase(start, at(100_000)), QrPhase::Expired);
        assert_eq!(timing.end_of(start, 0), at(60));
        assert_eq!(timing.end_of(start, 5), at(160));
    }

    #[test]
    fn zero_count_still_shows_one_payload() {
        let timing = QrTiming::from_config(&FakeConfig {
            qr_count: 0,
            qr_next: Duration::ZERO,
            ..FakeConfig::default()
        });
        let start = Instant::now();
        assert_eq!(timing.phase(start, start), QrPhase::Showing(0));
        assert_eq!(
            timing.phase(start, start + Duration::from_secs(20)),
            QrPhase::Expired
        );
    }
}
