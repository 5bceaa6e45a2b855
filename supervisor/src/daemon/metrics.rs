//! Counters the daemon keeps for `/api/stats` and `/metrics`: sends, failures, their latency.
//!
//! Plain atomics: a send increments two of them, and a scrape reads them without locking.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the send-latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0];

#[derive(Default)]
pub struct Metrics {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    pub fn record_send(&self, ok: bool, took: Duration) {
        if ok {
            self.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
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
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
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
}
