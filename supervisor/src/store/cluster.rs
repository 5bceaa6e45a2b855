//! What nodes sharing one PostgreSQL database keep there beside the sessions: their
//! heartbeats, each session's lease (owner, expiry, fencing generation) and saved profiles.
//!
//! Every time is the database's clock, so that nodes whose clocks disagree still agree on
//! when a lease lapsed. A claim is one statement (`FOR UPDATE SKIP LOCKED`): two nodes can
//! never both win one session. The fence ([`Fence`]) makes the writes an owner does for a
//! session (its status, its outbox, its inbox) check, in their transaction, that the lease
//! with that generation is still this node's and still running; a node that lost a session
//! has its writes refused ([`StoreError::Fenced`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::sql::{Conn, Dialect, params};
use super::{Store, StoreError, StoredSession, row_to_session};

/// What a session that changes hands shows until its new node runs it: no browser runs it now,
/// whatever its last node reported; one a person stopped, or that failed, stays so.
const STARTING: &str = "CASE WHEN status IN ('STOPPED', 'FAILED') THEN status ELSE 'STARTING' END";

/// The database's clock, in ms.
pub(super) fn now(conn: &Conn) -> &'static str {
    match conn.dialect() {
        Dialect::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        Dialect::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    }
}

/// Row locks, which only PostgreSQL takes.
fn lock(conn: &Conn, clause: &'static str) -> &'static str {
    match conn.dialect() {
        Dialect::Postgres => clause,
        Dialect::Sqlite => "",
    }
}

/// What `LISTEN` hears: an event was appended, or a session wants a node.
pub const EVENTS_CHANNEL: &str = "wamux_events";
pub const SESSIONS_CHANNEL: &str = "wamux_sessions";

/// Wakes the nodes listening on `channel` (PostgreSQL; SQLite has one node to wake).
pub(super) fn notify(conn: &Conn, channel: &str) -> Result<(), super::SqlError> {
    if conn.dialect() == Dialect::Postgres {
        conn.execute_batch(&format!("NOTIFY {channel}"))?;
    }
    Ok(())
}

/// The leases this node holds, by session: what its writes are fenced with.
#[derive(Debug)]
pub struct Fence {
    pub node: String,
    /// How long a lease lasts, which is also how long a silent node counts as alive.
    pub ttl_ms: i64,
    held: Mutex<HashMap<String, i64>>,
}

impl Fence {
    pub fn new(node: String, ttl_ms: i64) -> Arc<Fence> {
        Arc::new(Fence {
            node,
            ttl_ms,
            held: Mutex::new(HashMap::new()),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn hold(&self, session: &str, generation: i64) {
        self.held().insert(session.to_owned(), generation);
    }

    pub fn drop_session(&self, session: &str) {
        self.held().remove(session);
    }

    pub fn generation(&self, session: &str) -> Option<i64> {
        self.held().get(session).copied()
    }

    /// Every lease held, with its generation.
    pub fn all(&self) -> Vec<(String, i64)> {
        self.held().iter().map(|(s, g)| (s.clone(), *g)).collect()
    }
}

/// Checks, inside the caller's transaction, that `fence` still holds `session`; the row
/// stays locked until the transaction ends, so no claim slips in between.
pub(super) fn check(conn: &Conn, fence: &Fence, session: &str) -> Result<(), StoreError> {
    let Some(generation) = fence.generation(session) else {
        return Err(StoreError::Fenced(session.to_owned()));
    };
    let held = conn.query_opt(
        &format!(
            "SELECT 1 FROM sessions WHERE id = ?1 AND owner = ?2 AND generation = ?3 \
             AND lease_expires_at > {} {}",
            now(conn),
            lock(conn, "FOR SHARE")
        ),
        params![session, fence.node, generation],
        |row| row.get::<i64>(0),
    )?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced(session.to_owned())),
    }
}

/// A node as the others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub advertise_url: String,
    pub capacity: u32,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub draining: bool,
    /// Its heartbeat is younger than a lease.
    pub alive: bool,
    /// The sessions it holds a live lease on.
    pub sessions: Vec<String>,
}

/// Who runs a session now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub node: String,
    pub advertise_url: String,
}

/// A claim won: the session and the generation of its new lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub session: StoredSession,
    pub generation: i64,
}

impl Store {
    /// Records that `node` is alive (and whether it drains); answers the database's time.
    pub fn heartbeat(
        &self,
        node: &str,
        advertise_url: &str,
        capacity: u32,
        draining: bool,
    ) -> Result<i64, StoreError> {
        let (node, url) = (node.to_owned(), advertise_url.to_owned());
        self.call(move |conn| {
            let now = now(conn);
            Ok(conn.query_row(
                &format!(
                    "INSERT INTO nodes (id, advertise_url, capacity, started_at, heartbeat_at, draining) \
                     VALUES (?1, ?2, ?3, {now}, {now}, ?4) ON CONFLICT (id) DO UPDATE SET \
                     advertise_url = ?2, capacity = ?3, heartbeat_at = {now}, draining = ?4 \
                     RETURNING heartbeat_at"
                ),
                params![node, url, capacity, draining],
                |row| row.get(0),
            )?)
        })
    }

    /// Every node, oldest first, with the sessions it holds; alive when it beat within `ttl_ms`.
    pub fn nodes(&self, ttl_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
        self.call(move |conn| {
            let now = now(conn);
            let mut nodes = conn.query(
                &format!(
                    "SELECT id, advertise_url, capacity, started_at, heartbeat_at, draining, \
                     heartbeat_at > {now} - ?1 FROM nodes ORDER BY started_at, id"
                ),
                params![ttl_ms],
                |row| {
                    Ok(NodeRow {
                        id: row.get(0)?,
                        advertise_url: row.get(1)?,
                        capacity: row.get(2)?,
                        started_at: row.get(3)?,
                        heartbeat_at: row.get(4)?,
                        draining: row.get(5)?,
                        alive: row.get(6)?,
                        sessions: Vec::new(),
                    })
                },
            )?;
            let held: Vec<(String, String)> = conn.query(
                &format!(
                    "SELECT owner, id FROM sessions WHERE owner IS NOT NULL \
                     AND lease_expires_at > {now} ORDER BY created_at, id"
                ),
                params![],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            for (owner, session) in held {
                if let Some(node) = nodes.iter_mut().find(|n| n.id == owner) {
                    node.sessions.push(session);
                }
            }
            Ok(nodes)
        })
    }

    /// How many sessions there are, and how many live nodes that are not draining.
    pub fn cluster_load(&self, ttl_ms: i64) -> Result<(u32, u32), StoreError> {
        self.call(move |conn| {
            let now = now(conn);
            Ok(conn.query_row(
                &format!(
                    "SELECT (SELECT COUNT(*) FROM sessions), \
                     (SELECT COUNT(*) FROM nodes WHERE draining = 0 AND heartbeat_at > {now} - ?1)"
                ),
                params![ttl_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?)
        })
    }

    /// Takes one session nobody holds (never held, released, or lapsed), oldest first, for
    /// `ttl_ms`, with a new generation; `None` when there is none.
    pub fn claim(&self, node: &str, ttl_ms: i64) -> Result<Option<Claimed>, StoreError> {
        let node = node.to_owned();
        self.call(move |conn| {
            let now = now(conn);
            let tx = conn.transaction()?;
            let claimed: Option<(String, i64)> = tx.query_opt(
                &format!(
                    "UPDATE sessions SET owner = ?1, generation = generation + 1, \
                     lease_expires_at = {now} + ?2, status = {STARTING} \
                     WHERE id = (SELECT id FROM sessions \
                                 WHERE owner IS NULL OR lease_expires_at IS NULL \
                                    OR lease_expires_at <= {now} \
                                 ORDER BY created_at, id LIMIT 1 {}) \
                     RETURNING id, generation",
                    lock(&tx, "FOR UPDATE SKIP LOCKED")
                ),
                params![node, ttl_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let Some((id, generation)) = claimed else {
                return Ok(None);
            };
            let session = tx.query_row(
                "SELECT id, created_at, status, phone_number, restarts, last_error, desired, profile_dir \
                 FROM sessions WHERE id = ?1",
                params![id],
                row_to_session,
            )?;
            tx.commit()?;
            Ok(Some(Claimed {
                session,
                generation,
            }))
        })
    }

    /// Extends every live lease of `node` by `ttl_ms`; answers the leases it still holds
    /// (a lapsed one is not renewed: another node may have it by now).
    pub fn renew(&self, node: &str, ttl_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let node = node.to_owned();
        self.call(move |conn| {
            let now = now(conn);
            Ok(conn.query(
                &format!(
                    "UPDATE sessions SET lease_expires_at = {now} + ?2 \
                     WHERE owner = ?1 AND lease_expires_at > {now} RETURNING id, generation"
                ),
                params![node, ttl_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?)
        })
    }

    /// Gives a lease back, so that another node may take the session at once.
    pub fn release(&self, node: &str, session: &str, generation: i64) -> Result<(), StoreError> {
        let values = params![session, node, generation];
        self.call(move |conn| {
            conn.execute(
                &format!(
                    "UPDATE sessions SET owner = NULL, lease_expires_at = NULL, status = {STARTING} \
                     WHERE id = ?1 AND owner = ?2 AND generation = ?3"
                ),
                values,
            )?;
            notify(conn, SESSIONS_CHANNEL)?;
            Ok(())
        })
    }

    /// Gives back what a node of this name held before it restarted: none of it runs.
    pub fn release_all(&self, node: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE sessions SET owner = NULL, lease_expires_at = NULL WHERE owner = ?1",
            params![node],
        )
    }

    /// Who holds a live lease on `session`, and where it is reached.
    pub fn owner(&self, session: &str) -> Result<Option<Owner>, StoreError> {
        let session = session.to_owned();
        self.call(move |conn| {
            Ok(conn.query_opt(
                &format!(
                    "SELECT s.owner, n.advertise_url FROM sessions s JOIN nodes n ON n.id = s.owner \
                     WHERE s.id = ?1 AND s.lease_expires_at > {}",
                    now(conn)
                ),
                params![session],
                |row| {
                    Ok(Owner {
                        node: row.get(0)?,
                        advertise_url: row.get(1)?,
                    })
                },
            )?)
        })
    }

    /// Every session's owner with a live lease.
    pub fn owners(&self) -> Result<HashMap<String, String>, StoreError> {
        self.call(move |conn| {
            let rows: Vec<(String, String)> = conn.query(
                &format!(
                    "SELECT id, owner FROM sessions WHERE owner IS NOT NULL AND lease_expires_at > {}",
                    now(conn)
                ),
                params![],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok(rows.into_iter().collect())
        })
    }

    /// Saves the archive of a session's profile, if `fence` still holds the session.
    pub fn save_profile(
        &self,
        fence: Arc<Fence>,
        session: &str,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let session = session.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            check(&tx, &fence, &session)?;
            let generation = fence.generation(&session).unwrap_or_default();
            tx.execute(
                &format!(
                    "INSERT INTO profiles (session_id, generation, saved_at, data) \
                     VALUES (?1, ?2, {now}, ?3) ON CONFLICT (session_id) DO UPDATE SET \
                     generation = ?2, saved_at = {now}, data = ?3",
                    now = now(&tx)
                ),
                params![session, generation, data],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The last saved archive of a session's profile.
    pub fn load_profile(&self, session: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let session = session.to_owned();
        self.call(move |conn| {
            Ok(conn.query_opt(
                "SELECT data FROM profiles WHERE session_id = ?1",
                params![session],
                |row| row.get(0),
            )?)
        })
    }

    /// Forgets a deleted session's saved profile.
    pub fn delete_profile(&self, session: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM profiles WHERE session_id = ?1",
            params![session],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 60_000;

    fn store_with(sessions: &[&str]) -> Store {
        let store = Store::open_in_memory().unwrap();
        for (i, id) in sessions.iter().enumerate() {
            store.insert(id, i as i64, "STARTING").unwrap();
        }
        store
    }

    #[test]
    fn each_session_is_claimed_once_oldest_first_with_a_new_generation() {
        let store = store_with(&["a", "b"]);
        store.set_status("a", "WORKING", None).unwrap();
        store.set_status("b", "STOPPED", None).unwrap();
        let first = store.claim("n1", TTL).unwrap().unwrap();
        let second = store.claim("n2", TTL).unwrap().unwrap();
        assert_eq!(
            (
                first.session.status.as_str(),
                second.session.status.as_str()
            ),
            ("STARTING", "STOPPED"),
            "not WORKING before it runs; a stopped one stays so"
        );
        assert_eq!((first.session.id.as_str(), first.generation), ("a", 1));
        assert_eq!((second.session.id.as_str(), second.generation), ("b", 1));
        assert!(store.claim("n3", TTL).unwrap().is_none(), "both are held");
        assert_eq!(store.renew("n1", TTL).unwrap(), [("a".to_owned(), 1)]);

        store.release("n1", "a", 1).unwrap();
        let again = store.claim("n2", TTL).unwrap().unwrap();
        assert_eq!((again.session.id.as_str(), again.generation), ("a", 2));
        assert_eq!(
            again.session.status, "STARTING",
            "not WORKING before it runs"
        );
        assert!(
            store.renew("n1", TTL).unwrap().is_empty(),
            "n1 holds nothing now"
        );
        assert_eq!(
            store.owner("a").unwrap().map(|o| o.node),
            None,
            "n2 has no node row yet"
        );
        store.heartbeat("n2", "http://n2:1", 5, false).unwrap();
        assert_eq!(
            store.owner("a").unwrap().map(|o| o.node).as_deref(),
            Some("n2")
        );
    }

    #[test]
    fn nodes_racing_for_sessions_never_win_the_same_one() {
        let (one, two) = super::super::two_connections();
        for i in 0..20 {
            one.insert(&format!("s{i:02}"), i, "STARTING").unwrap();
        }
        let (one, two) = (Arc::new(one), Arc::new(two));
        let racers: Vec<_> = (0..6)
            .map(|k| {
                let store = if k % 2 == 0 { one.clone() } else { two.clone() };
                std::thread::spawn(move || {
                    let mut won = Vec::new();
                    while let Some(claimed) = store.claim(&format!("n{k}"), TTL).unwrap() {
                        won.push(claimed.session.id);
                    }
                    won
                })
            })
            .collect();
        let mut won: Vec<String> = racers.into_iter().flat_map(|r| r.join().unwrap()).collect();
        won.sort();
        let all: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
        assert_eq!(won, all, "every session once, none twice");
    }

    #[test]
    fn a_lapsed_lease_is_not_renewed_and_goes_to_the_next_claim() {
        let store = store_with(&["a"]);
        store.claim("n1", 0).unwrap().unwrap();
        assert!(store.renew("n1", TTL).unwrap().is_empty(), "lapsed at once");
        let taken = store.claim("n2", TTL).unwrap().unwrap();
        assert_eq!(taken.generation, 2);
    }

    #[test]
    fn writes_of_a_node_that_lost_the_session_are_refused() {
        let mut store = store_with(&["a"]);
        let fence = Fence::new("n1".into(), TTL);
        store.set_fence(fence.clone());
        assert!(
            matches!(
                store.set_status("a", "WORKING", None),
                Err(StoreError::Fenced(_))
            ),
            "not claimed yet"
        );
        let claimed = store.claim("n1", TTL).unwrap().unwrap();
        fence.hold("a", claimed.generation);
        store.set_status("a", "WORKING", None).unwrap();

        // The lease lapses and n2 takes the session: n1 still thinks it holds generation 1.
        store.release("n1", "a", claimed.generation).unwrap();
        store.claim("n2", TTL).unwrap().unwrap();
        assert!(matches!(
            store.set_status("a", "FAILED", Some("stale")),
            Err(StoreError::Fenced(_))
        ));
        assert_eq!(
            store.get("a").unwrap().unwrap().status,
            "STARTING",
            "as n2's claim left it, not as the stale write would"
        );
    }

    #[test]
    fn nodes_list_their_live_sessions_and_whether_they_beat_lately() {
        let store = store_with(&["a", "b"]);
        store.heartbeat("n1", "http://n1:1", 5, false).unwrap();
        store.heartbeat("n2", "http://n2:1", 3, true).unwrap();
        store.claim("n1", TTL).unwrap().unwrap();
        store.claim("n1", TTL).unwrap().unwrap();
        let nodes = store.nodes(TTL).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(
            (nodes[0].id.as_str(), nodes[0].sessions.clone()),
            ("n1", vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(nodes[0].alive && nodes[1].draining && nodes[1].sessions.is_empty());
        assert_eq!(
            store.cluster_load(TTL).unwrap(),
            (2, 1),
            "the draining node claims nothing"
        );
        assert!(
            store.nodes(-TTL).unwrap().iter().all(|n| !n.alive),
            "a heartbeat in the future only"
        );
    }
}
