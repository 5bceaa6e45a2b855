//! Counters the daemon keeps for `/api/stats` and `/metrics`: sends, failures, their latency,
//! and how long each phase of a worker's start took ([`StartPhase`], [`StartClock`]).
//!
//! Plain atomics: a send increments two of them, and a scrape reads them without locking.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds of the send-latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0];
/// Upper bounds of the start-phase histogram, in seconds since the worker was spawned.
pub const START_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0];

/// A Prometheus histogram over fixed bounds.
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The samples of one series (cumulative buckets); `labels` such as `phase="first_qr",`.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = |l: &str| {
            let l = l.trim_end_matches(',');
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// The phases of a worker's start, in the order they happen, each timed from the spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPhase {
    /// The worker said hello on the supervisor's socket.
    Connected,
    /// Its chromedriver answers.
    ChromedriverReady,
    /// chromedriver has launched Chromium and opened the WebDriver session.
    BrowserSession,
    /// The first navigation to WhatsApp Web returned.
    FirstNavigation,
    /// The page first showed a screen other than the loading one.
    FirstScreen,
    /// The first QR code is on show.
    FirstQr,
    /// Linked without a QR code (a profile that was linked already) or after one.
    Linked,
}

/// The steps only the worker sees, each the phase of the same name.
impl From<wamux_proto::StartStep> for StartPhase {
    fn from(step: wamux_proto::StartStep) -> Self {
        use wamux_proto::StartStep;
        match step {
            StartStep::ChromedriverReady => StartPhase::ChromedriverReady,
            StartStep::FirstNavigation => StartPhase::FirstNavigation,
            StartStep::FirstScreen => StartPhase::FirstScreen,
        }
    }
}

impl StartPhase {
    pub const ALL: [StartPhase; 7] = [
        StartPhase::Connected,
        StartPhase::ChromedriverReady,
        StartPhase::BrowserSession,
        StartPhase::FirstNavigation,
        StartPhase::FirstScreen,
        StartPhase::FirstQr,
        StartPhase::Linked,
    ];

    pub fn label(self) -> &'static str {
        match self {
            StartPhase::Connected => "connected",
            StartPhase::ChromedriverReady => "chromedriver_ready",
            StartPhase::BrowserSession => "browser_session",
            StartPhase::FirstNavigation => "first_navigation",
            StartPhase::FirstScreen => "first_screen",
            StartPhase::FirstQr => "first_qr",
            StartPhase::Linked => "linked",
        }
    }

    fn index(self) -> usize {
        StartPhase::ALL
            .iter()
            .position(|p| *p == self)
            .expect("every phase is in ALL")
    }
}

/// When one worker was spawned and which phases of its start it has reached: each phase
/// counts once per worker.
#[derive(Debug)]
pub struct StartClock {
    spawned: Instant,
    reached: [bool; StartPhase::ALL.len()],
}

impl StartClock {
    pub fn new(spawned: Instant) -> Self {
        StartClock {
            spawned,
            reached: [false; StartPhase::ALL.len()],
        }
    }

    /// The time since the spawn, the first time `phase` is reached; `None` after.
    pub fn reach(&mut self, phase: StartPhase, now: Instant) -> Option<Duration> {
        let reached = &mut self.reached[phase.index()];
        if *reached {
            return None;
        }
        *reached = true;
        Some(now.saturating_duration_since(self.spawned))
    }
}

pub struct Metrics {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    latency: Histogram,
    start: Vec<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: Histogram::new(&LATENCY_BUCKETS),
            start: StartPhase::ALL
                .iter()
                .map(|_| Histogram::new(&START_BUCKETS))
                .collect(),
        }
    }
}

impl Metrics {
    pub fn record_send(&self, ok: bool, took: Duration) {
        if ok {
            self.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(took);
    }

    /// A worker reached `phase` of its start `took` after its spawn.
    pub fn record_start_phase(&self, phase: StartPhase, took: Duration) {
        self.start[phase.index()].observe(took);
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The send-latency histogram in the Prometheus text format (cumulative buckets).
    pub fn write_latency(&self, out: &mut String) {
        let name = "wamux_send_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a send request to WhatsApp's Sent."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        self.latency.write(out, name, "");
    }

    /// The start-phase histogram, one series per phase.
    pub fn write_start_phases(&self, out: &mut String) {
        let name = "wamux_start_phase_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a worker's spawn to each phase of its start."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (phase, histogram) in StartPhase::ALL.iter().zip(&self.start) {
            histogram.write(out, name, &format!("phase=\"{}\",", phase.label()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.record_send(true, Duration::from_millis(300));
        m.record_send(false, Duration::from_secs(3));
        let mut out = String::new();
        m.write_latency(&mut out);
        assert!(out.contains("wamux_send_duration_seconds_bucket{le=\"0.25\"} 0"));
        assert!(out.contains("wamux_send_duration_seconds_bucket{le=\"0.5\"} 1"));
        assert!(out.contains("wamux_send_duration_seconds_bucket{le=\"5\"} 2"));
        assert!(out.contains("wamux_send_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(out.contains("wamux_send_duration_seconds_count 2"));
        assert_eq!((m.sent(), m.failed()), (1, 1));
    }

    #[test]
    fn each_start_phase_counts_once_per_worker_and_is_a_series() {
        let t0 = Instant::now();
        let mut clock = StartClock::new(t0);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            clock.reach(StartPhase::ChromedriverReady, at(120)),
            Some(Duration::from_millis(120))
        );
        assert_eq!(clock.reach(StartPhase::ChromedriverReady, at(900)), None);
        assert_eq!(
            clock.reach(StartPhase::FirstQr, at(2_400)),
            Some(Duration::from_millis(2_400))
        );
        let m = Metrics::default();
        m.record_start_phase(StartPhase::FirstQr, Duration::from_millis(2_400));
        m.record_start_phase(StartPhase::FirstQr, Duration::from_millis(4_000));
        let mut out = String::new();
        m.write_start_phases(&mut out);
        let series = "wamux_start_phase_seconds";
        assert!(out.contains(&format!("{series}_bucket{{phase=\"first_qr\",le=\"2\"}} 0")));
        assert!(out.contains(&format!("{series}_bucket{{phase=\"first_qr\",le=\"3\"}} 1")));
        assert!(out.contains(&format!(
            "{series}_bucket{{phase=\"first_qr\",le=\"+Inf\"}} 2"
        )));
        assert!(out.contains(&format!("{series}_count{{phase=\"first_qr\"}} 2")));
        assert!(out.contains(&format!("{series}_sum{{phase=\"first_qr\"}} 6.4")));
        assert!(out.contains(&format!("{series}_count{{phase=\"connected\"}} 0")));
        assert_eq!(out.matches("# TYPE").count(), 1);
    }
}
