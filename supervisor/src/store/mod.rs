//! The session registry on disk: SQLite in WAL mode at `DATA_DIR/wamux.db`, or with
//! `--database` PostgreSQL, shared by several nodes (`cluster.rs`).
//!
//! Everything the daemon must remember across a restart or a `kill -9` goes through this one
//! module. Its queries are written once, over [`sql::Conn`], for both. Each write is its own
//! transaction, with `synchronous=FULL` on SQLite: a write that returned is on disk (on
//! PostgreSQL, committed), whatever happens next. On PostgreSQL a connection that broke is
//! replaced before the next job.
//!
//! The connection lives on a thread of its own, fed one job at a time through a channel. The
//! methods stay synchronous: on a multi-thread runtime worker they wait inside
//! `block_in_place`, so an fsync or a database locked by someone else (up to the busy timeout)
//! holds up only the caller, never the other tasks of that worker.
//!
//! Schema changes are numbered migrations applied in order and recorded in `user_version`
//! (SQLite) or `wamux_schema` (PostgreSQL, which reads the same migrations with 64-bit
//! integers, under an advisory lock so that nodes starting together migrate once).

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

mod cluster;
mod events;
mod inbox;
mod outbox;
pub(crate) mod sql;
mod webhooks;

pub use cluster::{Claimed, EVENTS_CHANNEL, Fence, NodeRow, Owner, SESSIONS_CHANNEL};
pub use events::{NewEvent, StoredEvent};
pub use inbox::{IncomingFile, NewIncoming};
pub use outbox::{
    Inserted, MessageQuery, NewMedia, NewMessage, Page, QueueStats, StoredMedia, StoredMessage,
};
pub use webhooks::{
    Attempt, Delivery, DeliveryStats, DeliveryStatus, Endpoint, EndpointChange, Head,
};

use thiserror::Error;

pub use sql::SqlError;
use sql::{Conn, Dialect, Row, Value, params};

use crate::daemon::config::DataDir;
use crate::messaging::media::MediaFiles;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] SqlError),
    #[error("database schema version {found} is newer than this wamux understands ({known})")]
    TooNew { found: u32, known: u32 },
    #[error("the database thread is gone")]
    Closed,
    /// This node no longer holds the session's lease: another may run it now.
    #[error("this node no longer holds session {0:?}")]
    Fenced(String),
    /// A media file could not be placed or found, or this store keeps none (in memory).
    #[error("media file: {0}")]
    Media(#[from] std::io::Error),
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
    /// The folder under `sessions/` of its profile; `None` means the id.
    pub profile_dir: Option<String>,
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
    // The outbox (`outbox.rs`). `seen` is the JSON snapshot of the outgoing rows the chat
    // showed before the last attempt was pressed; a message with one may have gone out.
    "CREATE TABLE messages (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id      TEXT NOT NULL,
        to_number       TEXT NOT NULL,
        text            TEXT NOT NULL,
        status          TEXT NOT NULL,
        wa_id           TEXT,
        error_code      TEXT,
        error_message   TEXT,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        sent_at         INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        seen            TEXT,
        idempotency_key TEXT,
        request_body    TEXT
    );
    CREATE INDEX messages_by_session ON messages (session_id, id);
    CREATE INDEX messages_pending ON messages (session_id, id) WHERE status IN ('queued', 'sending');
    CREATE INDEX messages_by_wa_id ON messages (session_id, wa_id);
    CREATE UNIQUE INDEX messages_by_key ON messages (session_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;",
    // The session's upstream proxy URL, credentials included (never shown by the API).
    "ALTER TABLE sessions ADD COLUMN proxy TEXT;",
    // The event log (`events.rs`) and the webhooks (`webhooks.rs`). `events` and `sessions`
    // of an endpoint are JSON arrays; a delivery's `started_at` is since when it is tried.
    "CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        type       TEXT NOT NULL,
        at         INTEGER NOT NULL,
        data       TEXT NOT NULL
    );
    CREATE INDEX events_by_at ON events (at);
    CREATE TABLE webhooks (
        id              TEXT PRIMARY KEY NOT NULL,
        url             TEXT NOT NULL,
        secret          TEXT NOT NULL,
        events          TEXT NOT NULL,
        sessions        TEXT NOT NULL,
        enabled         INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_at      INTEGER NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id      TEXT NOT NULL,
        event_id        INTEGER NOT NULL,
        session_id      TEXT NOT NULL,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        started_at      INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        last_attempt_at INTEGER,
        last_status     INTEGER,
        last_body       TEXT,
        last_error      TEXT,
        finished_at     INTEGER
    );
    CREATE INDEX deliveries_pending ON webhook_deliveries (webhook_id, session_id, id)
        WHERE status = 'pending';
    CREATE INDEX deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
    CREATE INDEX deliveries_by_event ON webhook_deliveries (event_id);",
    // Incoming messages (`inbox.rs`), in the outbox's table so that one cursor pages both
    // directions: status `received`, `wa_id` unique per session, `created_at` the time received.
    "ALTER TABLE messages ADD COLUMN direction TEXT NOT NULL DEFAULT 'out';
    ALTER TABLE messages ADD COLUMN chat_id TEXT;
    ALTER TABLE messages ADD COLUMN sender_number TEXT;
    ALTER TABLE messages ADD COLUMN sender_name TEXT;
    ALTER TABLE messages ADD COLUMN shown_at TEXT;
    CREATE UNIQUE INDEX messages_incoming ON messages (session_id, wa_id) WHERE direction = 'in';",
    // Proto v5. `planned_wa_id` is the id a modules attempt sends under, recorded with `seen`
    // before it may go out. `kind` is WhatsApp's type (`chat` for every outgoing message and
    // every one stored before), `author` a group message's sender; an incoming message's
    // `sent_at` is when it was sent, as WhatsApp tells.
    "ALTER TABLE messages ADD COLUMN planned_wa_id TEXT;
    ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat';
    ALTER TABLE messages ADD COLUMN author TEXT;",
    // The folder under `sessions/` that holds the session's profile, when it is not the id:
    // a session that took a warm spare keeps the spare's folder, its browser already open on it.
    "ALTER TABLE sessions ADD COLUMN profile_dir TEXT;",
    // Media messages (`outbox.rs`, `inbox.rs`): the file's type, name and size, and the
    // SHA-256 that names its bytes in `media/` (NULL when they are not kept, and
    // `media_missing` says why). Texts, and every message stored before, have `has_media` 0.
    "ALTER TABLE messages ADD COLUMN has_media INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN media_mimetype TEXT;
    ALTER TABLE messages ADD COLUMN media_filename TEXT;
    ALTER TABLE messages ADD COLUMN media_size INTEGER;
    ALTER TABLE messages ADD COLUMN media_sha256 TEXT;
    ALTER TABLE messages ADD COLUMN media_missing TEXT;
    CREATE INDEX messages_by_media ON messages (media_sha256) WHERE media_sha256 IS NOT NULL;",
    // Several nodes on one database (`cluster.rs`). A session's `owner` holds it until
    // `lease_expires_at` (ms, the database's clock); `generation` grows at every claim and
    // fences the writes of an owner that lost it. A node's row is its heartbeat; a profile
    // is the archive of what keeps a session linked, as a clean close left it.
    "ALTER TABLE sessions ADD COLUMN owner TEXT;
    ALTER TABLE sessions ADD COLUMN lease_expires_at INTEGER;
    ALTER TABLE sessions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX sessions_by_owner ON sessions (owner);
    CREATE TABLE nodes (
        id            TEXT PRIMARY KEY NOT NULL,
        advertise_url TEXT NOT NULL,
        capacity      INTEGER NOT NULL,
        started_at    INTEGER NOT NULL,
        heartbeat_at  INTEGER NOT NULL,
        draining      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE profiles (
        session_id TEXT PRIMARY KEY NOT NULL,
        generation INTEGER NOT NULL,
        saved_at   INTEGER NOT NULL,
        data       BLOB NOT NULL
    );",
];

/// How long a write waits for a lock another connection holds before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

pub struct Store {
    /// `None` only while dropping, so that the thread sees its channel close.
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// The data directory the database is in (`DATA_DIR/wamux.db`), whose `media/` holds the
    /// files of media messages; `None` in memory, which keeps no files.
    data_dir: Option<PathBuf>,
    /// On a database shared by nodes, the leases this node holds: the writes it makes for a
    /// session go through only while it holds that session (`cluster.rs`).
    fence: Option<Arc<Fence>>,
}

/// What a write for one session names it by.
enum SessionRef {
    Id(String),
    /// A message of the session.
    Message(i64),
}

/// Where the connection comes from, opened on the store's thread.
enum Source {
    File(PathBuf),
    Memory,
    /// A PostgreSQL URL, shared by every node.
    Postgres(String),
    #[cfg(test)]
    Connection(rusqlite::Connection),
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::start(Source::File(path.to_owned()), BUSY_TIMEOUT)
    }

    /// A database of its own that keeps no files. Unit tests run with `WAMUX_TEST_STORE` set
    /// to a PostgreSQL URL get a fresh database on that server instead, so that the same tests
    /// check both backends.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        #[cfg(test)]
        if let Ok(url) = std::env::var("WAMUX_TEST_STORE") {
            // The synchronous client runs a runtime of its own, which cannot start on a test's.
            let database = std::thread::spawn(move || test_database(&url))
                .join()
                .map_err(|_| StoreError::Closed)??;
            return Self::start(Source::Postgres(database), BUSY_TIMEOUT);
        }
        Self::start(Source::Memory, BUSY_TIMEOUT)
    }

    /// Opens the PostgreSQL database at `url`, shared with the other nodes, migrating it if
    /// needed; media files stay in the node's own `data_dir`.
    pub fn open_postgres(url: &str, data_dir: &Path) -> Result<Store, StoreError> {
        let mut store = Self::start(Source::Postgres(url.to_owned()), BUSY_TIMEOUT)?;
        store.data_dir = Some(data_dir.to_owned());
        Ok(store)
    }

    /// Starts the thread, which opens and migrates the database before taking jobs.
    fn start(source: Source, busy_timeout: Duration) -> Result<Store, StoreError> {
        let data_dir = match &source {
            Source::File(path) => path.parent().map(Path::to_path_buf),
            _ => None,
        };
        let reconnect = match &source {
            Source::Postgres(url) => Some(url.clone()),
            _ => None,
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, opened) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("wamux-store".into())
            .spawn(move || {
                let mut conn = match init(source, busy_timeout) {
                    Ok(conn) => {
                        let _ = ready.send(Ok(()));
                        conn
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                for job in queue {
                    // A PostgreSQL connection that broke is replaced before the next job; if
                    // the database is still out of reach, that job fails on the closed one.
                    if let Some(url) = &reconnect
                        && conn.is_closed()
                    {
                        match connect_postgres(url) {
                            Ok(client) => conn = Conn::postgres(client),
                            Err(e) => tracing::warn!(error = %e, "the database is out of reach"),
                        }
                    }
                    // A panicking job drops its reply, so its caller gets `Closed`; the
                    // database is not left half-written (each job is one statement or
                    // transaction, rolled back as it unwinds), and the next jobs still run.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|_| StoreError::Closed)?;
        let store = Store {
            jobs: Some(jobs),
            thread: Some(thread),
            data_dir,
            fence: None,
        };
        wait(|| opened.recv()).map_err(|_| StoreError::Closed)??;
        Ok(store)
    }

    /// Runs `job` on the store's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Box::new(move |conn| {
                let _ = reply.send(job(conn));
            }))
            .map_err(|_| StoreError::Closed)?;
        wait(|| answer.recv()).map_err(|_| StoreError::Closed)?
    }

    /// The leases this store fences writes with, on a shared database.
    pub fn fence(&self) -> Option<&Arc<Fence>> {
        self.fence.as_ref()
    }

    /// Fences every write made for a session with the leases `fence` holds.
    pub fn set_fence(&mut self, fence: Arc<Fence>) {
        self.fence = Some(fence);
    }

    /// Runs `job` in a transaction that first checks, when this store is fenced, that this
    /// node still holds the session `session` names.
    fn call_fenced<T: Send + 'static>(
        &self,
        session: SessionRef,
        job: impl FnOnce(&Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(fence) = self.fence.clone() else {
            return self.call(move |conn| job(conn));
        };
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let id = match session {
                SessionRef::Id(id) => Some(id),
                SessionRef::Message(message) => tx.query_opt(
                    "SELECT session_id FROM messages WHERE id = ?1",
                    params![message],
                    |row| row.get(0),
                )?,
            };
            if let Some(id) = id {
                cluster::check(&tx, &fence, &id)?;
            }
            let answer = job(&tx)?;
            tx.commit()?;
            Ok(answer)
        })
    }

    /// The data directory the database is in; `None` for a database in memory.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Where media files are kept: `media/` beside the database; `None` in memory.
    pub fn media_files(&self) -> Option<MediaFiles> {
        let root = self.data_dir()?;
        Some(MediaFiles::new(DataDir::new(root.to_path_buf()).media()))
    }

    /// Whether a write could go through now: takes the write lock and gives it back.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.call(|conn| {
            // SQLite takes its write lock at an IMMEDIATE begin, PostgreSQL at the insert.
            let begin = match conn.dialect() {
                Dialect::Sqlite => "BEGIN IMMEDIATE",
                Dialect::Postgres => "BEGIN",
            };
            conn.execute_batch(&format!(
                "{begin};
                 INSERT INTO sessions (id, created_at, status) VALUES (' probe', 0, '');
                 ROLLBACK;"
            ))?;
            Ok(())
        })
    }

    /// Adds a session; `Ok(false)` when the id is taken.
    pub fn insert(&self, id: &str, created_at: i64, status: &str) -> Result<bool, StoreError> {
        let (id, status) = (id.to_owned(), status.to_owned());
        self.call(move |conn| {
            let n = conn.execute(
                "INSERT INTO sessions (id, created_at, status) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![id, created_at, status],
            )?;
            Ok(n == 1)
        })
    }

    /// Adds a session whose traffic goes through the upstream proxy `proxy` when given, and
    /// whose profile is under `sessions/PROFILE_DIR` when given (a warm spare's, adopted)
    /// rather than under `sessions/ID`; `Ok(false)` when the id is taken.
    pub fn insert_with(
        &self,
        id: &str,
        created_at: i64,
        status: &str,
        proxy: Option<&str>,
        profile_dir: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (id, status) = (id.to_owned(), status.to_owned());
        let (proxy, profile_dir) = (proxy.map(str::to_owned), profile_dir.map(str::to_owned));
        self.call(move |conn| {
            let n = conn.execute(
                "INSERT INTO sessions (id, created_at, status, proxy, profile_dir)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![id, created_at, status, proxy, profile_dir],
            )?;
            cluster::notify(conn, cluster::SESSIONS_CHANNEL)?;
            Ok(n == 1)
        })
    }

    /// The session's upstream proxy; `None` for a session without one, or an unknown one.
    pub fn proxy(&self, id: &str) -> Result<Option<String>, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| {
            Ok(conn
                .query_opt(
                    "SELECT proxy FROM sessions WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )?
                .flatten())
        })
    }

    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM sessions WHERE id = ?1", params![id])
    }

    /// Records the status with the session's whole `last_error` (`None` clears it).
    pub fn set_status(
        &self,
        id: &str,
        status: &str,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        let session = SessionRef::Id(id.to_owned());
        let values = params![id, status, last_error];
        self.call_fenced(session, move |conn| {
            conn.execute(
                "UPDATE sessions SET status = ?2, last_error = ?3 WHERE id = ?1",
                values,
            )?;
            Ok(())
        })
    }

    pub fn set_phone_number(&self, id: &str, phone: Option<&str>) -> Result<(), StoreError> {
        let session = SessionRef::Id(id.to_owned());
        let values = params![id, phone];
        self.call_fenced(session, move |conn| {
            conn.execute(
                "UPDATE sessions SET phone_number = ?2 WHERE id = ?1",
                values,
            )?;
            Ok(())
        })
    }

    pub fn set_restarts(&self, id: &str, restarts: u32) -> Result<(), StoreError> {
        let session = SessionRef::Id(id.to_owned());
        let values = params![id, restarts];
        self.call_fenced(session, move |conn| {
            conn.execute("UPDATE sessions SET restarts = ?2 WHERE id = ?1", values)?;
            Ok(())
        })
    }

    pub fn set_desired(&self, id: &str, desired: Desired) -> Result<(), StoreError> {
        self.execute(
            "UPDATE sessions SET desired = ?2 WHERE id = ?1",
            params![id, desired.as_str()],
        )
    }

    /// Points assignment `kind` (`sells`, `coordination`) at a session.
    pub fn set_assignment(&self, kind: &str, session_id: &str, at: i64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO assignments (kind, session_id, assigned_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(kind) DO UPDATE SET session_id = ?2, assigned_at = ?3",
            params![kind, session_id, at],
        )
    }

    pub fn assignment(&self, kind: &str) -> Result<Option<String>, StoreError> {
        let kind = kind.to_owned();
        self.call(move |conn| {
            Ok(conn.query_opt(
                "SELECT session_id FROM assignments WHERE kind = ?1",
                params![kind],
                |r| r.get(0),
            )?)
        })
    }

    /// Forgets the assignments of a deleted session.
    pub fn unassign_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM assignments WHERE session_id = ?1",
            params![session_id],
        )
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredSession>, StoreError> {
        let id = id.to_owned();
        self.call(move |conn| {
            Ok(conn
                .query_opt(
                    "SELECT id, created_at, status, phone_number, restarts, last_error, desired, profile_dir
                     FROM sessions WHERE id = ?1",
                    params![id],
                    row_to_session,
                )?)
        })
    }

    /// Every session, oldest first.
    pub fn all(&self) -> Result<Vec<StoredSession>, StoreError> {
        self.call(|conn| {
            Ok(conn.query(
                "SELECT id, created_at, status, phone_number, restarts, last_error, desired, profile_dir
                 FROM sessions ORDER BY created_at, id",
                params![],
                row_to_session,
            )?)
        })
    }

    /// One statement with owned parameters, its row count ignored.
    fn execute(&self, sql: &'static str, params: Vec<Value>) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute(sql, params)?;
            Ok(())
        })
    }
}

impl Drop for Store {
    /// Closes the channel and waits for the thread, so the connection is closed (and the WAL
    /// checkpointed) when the store is gone.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = wait(|| thread.join());
        }
    }
}

/// Runs a blocking wait without stalling the runtime: on a multi-thread runtime worker, the
/// worker's other tasks move to another thread meanwhile. A current-thread runtime cannot do
/// that, so there (and outside any runtime) it simply blocks.
fn wait<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A connection to PostgreSQL that notices a dead peer within seconds, so that a node cut off
/// from the database finds out while its leases still hold.
pub fn connect_postgres(url: &str) -> Result<postgres::Client, SqlError> {
    let mut config: postgres::Config = url.parse()?;
    config
        .application_name("wamux")
        .connect_timeout(Duration::from_secs(5))
        .tcp_user_timeout(Duration::from_secs(5))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5));
    Ok(config.connect(postgres::NoTls)?)
}

/// A connection of its own, for `LISTEN`.
pub fn connect_listener(url: &str) -> Result<postgres::Client, StoreError> {
    Ok(connect_postgres(url)?)
}

/// A migration as PostgreSQL reads it: 64-bit integers, identity keys and byte arrays.
fn for_postgres(migration: &str) -> String {
    migration
        .replace(
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
        .replace("INTEGER", "BIGINT")
        .replace("BLOB", "BYTEA")
}

/// Every node migrates at start; the advisory lock lets one do it while the others wait.
const MIGRATION_LOCK: i64 = 0x0077_616d_7578;

fn init(source: Source, busy_timeout: Duration) -> Result<Conn, StoreError> {
    let conn = match source {
        Source::File(path) => rusqlite::Connection::open(path).map_err(SqlError::from)?,
        Source::Memory => rusqlite::Connection::open_in_memory().map_err(SqlError::from)?,
        Source::Postgres(url) => return init_postgres(Conn::postgres(connect_postgres(&url)?)),
        #[cfg(test)]
        Source::Connection(conn) => conn,
    };
    let conn = Conn::sqlite(conn);
    let version = conn
        .with_sqlite(|c| {
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            c.busy_timeout(busy_timeout)?;
            c.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))
        })
        .expect("a SQLite connection")?;
    migrate(&conn, version, |tx, sql, version| {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))
    })?;
    Ok(conn)
}

/// Applies the migrations after `version`, each in a transaction with `apply`, which runs it
/// and records the version it reached; refuses a schema newer than this wamux.
fn migrate(
    conn: &Conn,
    version: u32,
    apply: impl Fn(&Conn, &str, u32) -> Result<(), SqlError>,
) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as u32;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        apply(&tx, sql, i as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The same migrations as SQLite's, their version in `wamux_schema`.
fn init_postgres(conn: Conn) -> Result<Conn, StoreError> {
    conn.execute("SELECT pg_advisory_lock(?1)", params![MIGRATION_LOCK])?;
    let migrated = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS wamux_schema (version BIGINT NOT NULL);
             INSERT INTO wamux_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM wamux_schema);",
        )?;
        let version: u32 =
            conn.query_row("SELECT version FROM wamux_schema", params![], |r| r.get(0))?;
        migrate(&conn, version, |tx, sql, version| {
            tx.execute_batch(&for_postgres(sql))?;
            tx.execute(
                "UPDATE wamux_schema SET version = ?1",
                params![i64::from(version)],
            )?;
            Ok(())
        })
    })();
    conn.execute("SELECT pg_advisory_unlock(?1)", params![MIGRATION_LOCK])?;
    migrated.map(|()| conn)
}

/// Two stores on one new database, each with its connection: as two nodes see it.
#[cfg(test)]
pub(crate) fn two_connections() -> (Store, Store) {
    match std::env::var("WAMUX_TEST_STORE") {
        Ok(url) => {
            let database = std::thread::spawn(move || test_database(&url))
                .join()
                .unwrap()
                .unwrap();
            let first = Store::start(Source::Postgres(database.clone()), BUSY_TIMEOUT).unwrap();
            let second = Store::start(Source::Postgres(database), BUSY_TIMEOUT).unwrap();
            (first, second)
        }
        Err(_) => {
            let dir = std::env::temp_dir().join(format!(
                "wamux-two-{}-{}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("wamux.db");
            (Store::open(&path).unwrap(), Store::open(&path).unwrap())
        }
    }
}

/// A new, empty database on the PostgreSQL server at `url`; answers its URL.
#[cfg(test)]
fn test_database(url: &str) -> Result<String, StoreError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "wamux_unit_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut admin = connect_postgres(url)?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .map_err(SqlError::from)?;
    let mut config: postgres::Config = url.parse().map_err(SqlError::from)?;
    config.dbname(&name);
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    Ok(format!("postgres://{user}@{host}:{port}/{name}"))
}

fn row_to_session(row: &Row) -> Result<StoredSession, SqlError> {
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
        profile_dir: row.get(7)?,
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
        store.set_status("a", "WORKING", Some("old")).unwrap();
        store.set_status("a", "WORKING", None).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().last_error, None, "cleared");
        store.set_status("a", "STARTING", Some("boom")).unwrap();
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
                profile_dir: None,
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

    /// A database of proto v4 keeps its messages: their snapshots come back as DOM attempts,
    /// and they are all texts.
    #[test]
    fn the_v5_migration_keeps_earlier_messages() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let before = MIGRATIONS.len() - 1;
        for sql in &MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as u32)
            .unwrap();
        conn.execute(
            "INSERT INTO messages (session_id, to_number, text, status, created_at, expires_at, \
             attempts, seen) VALUES ('s', '5215512345678', 'hola', 'sending', 1, 2, 1, '[\"X1\"]')",
            [],
        )
        .unwrap();
        let store = Store::start(Source::Connection(conn), BUSY_TIMEOUT).unwrap();
        let message = store.next_pending("s").unwrap().unwrap();
        assert_eq!(
            message.attempt,
            Some(wamux_proto::Attempt {
                seen: vec!["X1".into()],
                planned: None
            })
        );
        assert_eq!((message.kind.as_str(), message.author), ("chat", None));
        assert_eq!(message.media, None, "and texts");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            Store::start(Source::Connection(conn), BUSY_TIMEOUT),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    /// A database locked by someone else holds up the caller for the busy timeout; the other
    /// tasks on the same (single) runtime worker must keep running meanwhile.
    #[test]
    fn a_locked_database_does_not_stall_the_runtime() {
        let dir = std::env::temp_dir().join(format!("wamux-store-busy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wamux.db");
        let busy = Duration::from_millis(500);
        let store = std::sync::Arc::new(Store::start(Source::File(path.clone()), busy).unwrap());
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE;").unwrap();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (result, during) = runtime.block_on(async {
            let ticker = {
                let ticks = ticks.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
            };
            let probe = {
                let (store, ticks) = (store.clone(), ticks.clone());
                tokio::spawn(async move {
                    let before = ticks.load(std::sync::atomic::Ordering::SeqCst);
                    let result = store.check_writable();
                    let after = ticks.load(std::sync::atomic::Ordering::SeqCst);
                    (result, after - before)
                })
            };
            let out = probe.await.unwrap();
            ticker.abort();
            out
        });
        assert!(result.is_err(), "the probe got the write lock: {result:?}");
        assert!(
            during >= 5,
            "only {during} ticks of 10 ms during a {busy:?} wait: the store blocked the worker"
        );

        other.execute_batch("ROLLBACK;").unwrap();
        store.check_writable().unwrap();
        drop((store, other));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_session_keeps_its_upstream_proxy() {
        let store = Store::open_in_memory().unwrap();
        let url = "http://user:secret@127.0.0.1:3128";
        assert!(
            store
                .insert_with("p", 1, "STARTING", Some(url), None)
                .unwrap()
        );
        assert!(
            !store
                .insert_with("p", 2, "STARTING", Some(url), None)
                .unwrap()
        );
        assert!(store.insert("direct", 3, "STARTING").unwrap());
        assert_eq!(store.proxy("p").unwrap().as_deref(), Some(url));
        assert_eq!(store.proxy("direct").unwrap(), None);
        assert_eq!(store.proxy("unknown").unwrap(), None);
    }

    #[test]
    fn a_session_that_took_a_spare_keeps_its_profile_folder() {
        let store = Store::open_in_memory().unwrap();
        assert!(
            store
                .insert_with("s", 1, "STARTING", None, Some("spare.0a"))
                .unwrap()
        );
        store.insert("own", 2, "STARTING").unwrap();
        let dirs: Vec<_> = store
            .all()
            .unwrap()
            .into_iter()
            .map(|s| s.profile_dir)
            .collect();
        assert_eq!(dirs, [Some("spare.0a".to_owned()), None]);
    }
}
