//! When a node renews, when it must give its sessions up, and how many it may claim: the
//! arithmetic of leases, apart from the database.
//!
//! A lease granted at the database's time T lapses at T + ttl. The node measures from the
//! moment it *sent* the renewal, which is before T, so its own deadline is never later than
//! the lapse. It stops its browsers at 5/6 of the ttl after its last good renewal: with the
//! default 30 s, renewals at 10 s and 20 s may both fail and the browsers are gone at 25 s,
//! five seconds before any other node may claim the session.

use std::time::Duration;

/// How often leases are renewed: a third of their life, so two renewals may fail in a row.
pub fn renew_every(ttl: Duration) -> Duration {
    ttl / 3
}

/// How long after the start of the last good renewal the node stops its browsers.
pub fn give_up_after(ttl: Duration) -> Duration {
    ttl * 5 / 6
}

/// How many sessions this node should hold: its fair share of `sessions` over the `nodes`
/// that claim (rounded up, so that they are all held), never more than `capacity`.
pub fn fair_share(sessions: u32, nodes: u32, capacity: u32) -> u32 {
    sessions.div_ceil(nodes.max(1)).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browsers_stop_before_the_lease_can_lapse_with_two_renewals_missed() {
        let ttl = Duration::from_secs(30);
        assert_eq!(renew_every(ttl), Duration::from_secs(10));
        assert_eq!(give_up_after(ttl), Duration::from_secs(25));
        assert!(
            give_up_after(ttl) > renew_every(ttl) * 2,
            "two misses are tolerated"
        );
        assert!(give_up_after(ttl) < ttl);
    }

    #[test]
    fn sessions_spread_evenly_within_capacity() {
        assert_eq!(fair_share(6, 3, 10), 2);
        assert_eq!(fair_share(7, 3, 10), 3);
        assert_eq!(fair_share(6, 3, 1), 1);
        assert_eq!(fair_share(6, 0, 10), 6, "no other node counted yet");
        assert_eq!(fair_share(0, 3, 10), 0);
    }
}
