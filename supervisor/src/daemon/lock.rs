//! The data directory's lock: at most one daemon, or one offline `wamux sweep`, per directory.
//!
//! An exclusive `flock(2)` on `DATA_DIR/wamux.lock`, held for as long as the value lives. The
//! kernel drops it when the process dies however it dies, so a `kill -9` leaves no stale lock,
//! and two daemons started at the same moment cannot both get it (probing the worker socket
//! could not tell them apart: both saw nothing answer, then both bound it). The descriptor is
//! close-on-exec, so workers do not inherit it and an orphan worker never blocks a restart.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use thiserror::Error;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "wamux.lock";

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "another wamux daemon or `wamux sweep` is using {}; stop it first",
        dir.display()
    )]
    Held { dir: PathBuf },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Proof that this process alone uses the data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

impl DataDirLock {
    /// Takes the lock on `dir` (which must exist) without waiting.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => Ok(DataDirLock { _file: file }),
            Err((_, Errno::EWOULDBLOCK)) => Err(LockError::Held {
                dir: dir.to_path_buf(),
            }),
            Err((_, errno)) => Err(LockError::Io {
                path,
                source: errno.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("wamux-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DataDirLock::acquire(&dir).unwrap();
        let mode = std::fs::metadata(dir.join(LOCK_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        match DataDirLock::acquire(&dir) {
            Err(e @ LockError::Held { .. }) => {
                assert!(e.to_string().contains(&dir.display().to_string()), "{e}")
            }
            other => panic!("a second lock while the first is held: {other:?}"),
        }
        drop(first);
        let again = DataDirLock::acquire(&dir).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
