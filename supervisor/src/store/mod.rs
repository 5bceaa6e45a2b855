//! The session registry on disk: SQLite in WAL mode at `DATA_DIR/wamux.db`.
//!
//! Everything the daemon must remember across a restart or a `kill -9` goes through this one
//! module, so that another database could take its place. Each write is its own transaction
//! with `synchronous=FULL`: a write that returned is on disk, whatever happens next.
//!
//! Schema changes are numbered migrations applied in order and recorded in `user_version`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this wamux understands ({known})")]
    TooNew { found: u32, known: u32 },
}

/// Whether a person wants the session running; restored at start when `Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desired {
    Running,
    Stopped,
}

impl Desired {
    fn as_str(self) -> &'static str {
        match self {
            Desired::Running => "running",
            Desired::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id: String,
    pub created_at: i64,
    pub status: String,
    pub phone_number: Option<String>,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub desired: Desired,
}

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE sessions (
        id           TEXT PRIMARY KEY NOT NULL,
        created_at   INTEGER NOT NULL,
        status       TEXT NOT NULL,
        phone_number TEXT,
        restarts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        desired      TEXT NOT NULL DEFAULT 'running'
    );",
    "CREATE TABLE assignments (
        kind        TEXT PRIMARY KEY NOT NULL,
        session_id  TEXT NOT NULL,
        assigned_at INTEGER NOT NULL
    );",
];

pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as u32;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as u32)?;
            tx.commit()?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (each call is one
        // statement or transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a write could go through now: takes the write lock and gives it back.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.conn().execute_batch(
            "BEGIN IMMEDIATE;
                 INSERT INTO sessions (id, created_at, status) VALUES (' probe', 0, '');
                 ROLLBACK;",
        )?;
        Ok(())
    }

    /// Adds a session; `Ok(false)` when the id is taken.
    pub fn insert(&self, id: &str, created_at: i64, status: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO sessions (id, created_at, status) VALUES (?1, ?2, ?3)",
            params![id, created_at, status],
        )?;
        Ok(n == 1)
    }

    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn set_status(
        &self,
        id: &str,
        status: &str,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET status = ?2, last_error = COALESCE(?3, last_error) WHERE id = ?1",
            params![id, status, last_error],
        )?;
        Ok(())
    }

    pub fn set_phone_number(&self, id: &str, phone: Option<&str>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET phone_number = ?2 WHERE id = ?1",
            params![id, phone],
        )?;
        Ok(())
    }

    pub fn set_restarts(&self, id: &str, restarts: u32) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET restarts = ?2 WHERE id = ?1",
            params![id, restarts],
        )?;
        Ok(())
    }

    pub fn set_desired(&self, id: &str, desired: Desired) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET desired = ?2 WHERE id = ?1",
            params![id, desired.as_str()],
        )?;
        Ok(())
    }

    /// Points assignment `kind` (`sells`, `coordination`) at a session.
    pub fn set_assignment(&self, kind: &str, session_id: &str, at: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO assignments (kind, session_id, assigned_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(kind) DO UPDATE SET session_id = ?2, assigned_at = ?3",
            params![kind, session_id, at],
        )?;
        Ok(())
    }

    pub fn assignment(&self, kind: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT session_id FROM assignments WHERE kind = ?1",
                params![kind],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Forgets the assignments of a deleted session.
    pub fn unassign_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM assignments WHERE session_id = ?1",
            params![session_id],
        )?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredSession>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, created_at, status, phone_number, restarts, last_error, desired
                 FROM sessions WHERE id = ?1",
                params![id],
                row_to_session,
            )
            .optional()?)
    }

    /// Every session, oldest first.
    pub fn all(&self) -> Result<Vec<StoredSession>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, created_at, status, phone_number, restarts, last_error, desired
             FROM sessions ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], row_to_session)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn row_to_session(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSession> {
    let desired: String = row.get(6)?;
    Ok(StoredSession {
        id: row.get(0)?,
        created_at: row.get(1)?,
        status: row.get(2)?,
        phone_number: row.get(3)?,
        restarts: row.get(4)?,
        last_error: row.get(5)?,
        desired: if desired == "stopped" {
            Desired::Stopped
        } else {
            Desired::Running
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_ids_are_unique() {
        let store = Store::open_in_memory().unwrap();
        assert!(store.insert("a", 10, "STARTING").unwrap());
        assert!(!store.insert("a", 11, "STARTING").unwrap());
        store.set_status("a", "FAILED", Some("boom")).unwrap();
        store.set_status("a", "STARTING", None).unwrap();
        store.set_phone_number("a", Some("5215512345678")).unwrap();
        store.set_restarts("a", 3).unwrap();
        store.set_desired("a", Desired::Stopped).unwrap();
        let got = store.get("a").unwrap().unwrap();
        assert_eq!(
            got,
            StoredSession {
                id: "a".into(),
                created_at: 10,
                status: "STARTING".into(),
                phone_number: Some("5215512345678".into()),
                restarts: 3,
                last_error: Some("boom".into()),
                desired: Desired::Stopped,
            }
        );
        store.insert("b", 5, "STARTING").unwrap();
        let ids: Vec<_> = store.all().unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["b", "a"]);
        store.delete("a").unwrap();
        assert!(store.get("a").unwrap().is_none());
    }

    #[test]
    fn assignments_are_one_per_kind() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.assignment("sells").unwrap(), None);
        store.set_assignment("sells", "a", 1).unwrap();
        store.set_assignment("sells", "b", 2).unwrap();
        store.set_assignment("coordination", "b", 3).unwrap();
        assert_eq!(store.assignment("sells").unwrap().as_deref(), Some("b"));
        store.unassign_session("b").unwrap();
        assert_eq!(store.assignment("sells").unwrap(), None);
        assert_eq!(store.assignment("coordination").unwrap(), None);
    }

    #[test]
    fn reopening_a_file_keeps_data_and_skips_applied_migrations() {
        let dir = std::env::temp_dir().join(format!("wamux-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wamux.db");
        {
            let store = Store::open(&path).unwrap();
            store.insert("kept", 1, "WORKING").unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get("kept").unwrap().unwrap().status, "WORKING");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            Store::init(conn),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
