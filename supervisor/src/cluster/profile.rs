//! Profiles that travel between nodes: what keeps a session linked (its browser's Local
//! Storage and IndexedDB, contract §1 and §4) packed into one archive after a clean close,
//! saved to the database or to `--profile-store`, and unpacked by the node that takes the
//! session over, before its browser starts.
//!
//! Only a clean close is saved: Chromium writes Local Storage lazily, so the files of a
//! killed browser may be older than what the page knew, or half-written.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::{Fence, Store, StoreError};

/// The folders of a Chromium profile that hold the page's own storage.
const KEPT: [&str; 2] = ["Default/Local Storage", "Default/IndexedDB"];

/// A file of the profile: its path under the profile and its bytes.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    path: String,
    bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the saved profile is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The archive of what keeps `profile` linked; `None` when it holds none of it.
pub fn pack(profile: &Path) -> Result<Option<Vec<u8>>, ProfileError> {
    let mut entries = Vec::new();
    for kept in KEPT {
        collect(profile, &profile.join(kept), &mut entries)?;
    }
    if entries.is_empty() {
        return Ok(None);
    }
    postcard::to_stdvec(&entries)
        .map(Some)
        .map_err(|e| ProfileError::Damaged(e.to_string()))
}

fn collect(root: &Path, dir: &Path, entries: &mut Vec<Entry>) -> std::io::Result<()> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in read {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect(root, &path, entries)?;
        } else if kind.is_file() && entry.file_name() != "LOCK" {
            let relative = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .into_owned();
            entries.push(Entry {
                path: relative,
                bytes: std::fs::read(&path)?,
            });
        }
    }
    Ok(())
}

/// A relative path that stays inside the profile.
fn inside(profile: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    let kept = KEPT.iter().any(|k| relative.starts_with(k));
    (plain && kept).then(|| profile.join(relative))
}

/// Replaces what keeps `profile` linked with the archive's; nothing else of it changes.
pub fn unpack(profile: &Path, archive: &[u8]) -> Result<(), ProfileError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let entries: Vec<Entry> =
        postcard::from_bytes(archive).map_err(|e| ProfileError::Damaged(e.to_string()))?;
    let mut files = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = inside(profile, &entry.path)
            .ok_or_else(|| ProfileError::Damaged(format!("a path outside: {:?}", entry.path)))?;
        files.push((path, entry.bytes));
    }
    for kept in KEPT {
        match std::fs::remove_dir_all(profile.join(kept)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    for (path, bytes) in files {
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        std::io::Write::write_all(&mut file, &bytes)?;
    }
    Ok(())
}

/// Where saved profiles are kept.
#[derive(Clone)]
pub enum Profiles {
    /// In the shared database, beside the sessions.
    Database(Arc<Store>),
    /// One file per session in `--profile-store`, a folder every node mounts.
    Folder(PathBuf),
}

impl Profiles {
    /// Saves `profile`'s archive for `session`, as long as `fence` holds it; answers whether
    /// there was anything to save.
    pub fn save(
        &self,
        fence: &Arc<Fence>,
        session: &str,
        profile: &Path,
    ) -> Result<bool, ProfileError> {
        let Some(archive) = pack(profile)? else {
            return Ok(false);
        };
        match self {
            Profiles::Database(store) => store.save_profile(fence.clone(), session, archive)?,
            Profiles::Folder(dir) => {
                // The lease is checked first: a node that lost the session saves nothing.
                if fence.generation(session).is_none() {
                    return Err(StoreError::Fenced(session.to_owned()).into());
                }
                let path = dir.join(format!("{session}.profile"));
                let partial = dir.join(format!(".{session}.profile.{}", std::process::id()));
                std::fs::write(&partial, archive)?;
                std::fs::File::open(&partial)?.sync_all()?;
                std::fs::rename(&partial, &path)?;
            }
        }
        Ok(true)
    }

    /// Puts the last saved profile of `session` into `profile`; answers whether there was one.
    pub fn restore(&self, session: &str, profile: &Path) -> Result<bool, ProfileError> {
        let archive = match self {
            Profiles::Database(store) => store.load_profile(session)?,
            Profiles::Folder(dir) => match std::fs::read(dir.join(format!("{session}.profile"))) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e.into()),
            },
        };
        let Some(archive) = archive else {
            return Ok(false);
        };
        unpack(profile, &archive)?;
        Ok(true)
    }

    /// Forgets a deleted session's saved profile.
    pub fn forget(&self, session: &str) -> Result<(), ProfileError> {
        match self {
            Profiles::Database(store) => store.delete_profile(session)?,
            Profiles::Folder(dir) => {
                match std::fs::remove_file(dir.join(format!("{session}.profile"))) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wamux-profile-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_page_storage_travels_and_the_rest_stays() {
        let (from, to) = (temp("from"), temp("to"));
        let ls = from.join("Default/Local Storage/leveldb");
        std::fs::create_dir_all(&ls).unwrap();
        std::fs::write(ls.join("000003.log"), b"token").unwrap();
        std::fs::write(ls.join("LOCK"), b"").unwrap();
        std::fs::create_dir_all(from.join("Default/IndexedDB/http_x_0.indexeddb.leveldb")).unwrap();
        std::fs::write(
            from.join("Default/IndexedDB/http_x_0.indexeddb.leveldb/CURRENT"),
            b"keys",
        )
        .unwrap();
        std::fs::write(from.join("Default/Cookies"), b"not kept").unwrap();
        let archive = pack(&from).unwrap().expect("something to keep");

        std::fs::create_dir_all(to.join("Default/Local Storage/leveldb")).unwrap();
        std::fs::write(to.join("Default/Local Storage/leveldb/stale.log"), b"old").unwrap();
        std::fs::write(to.join("Default/Preferences"), b"{}").unwrap();
        unpack(&to, &archive).unwrap();
        assert_eq!(
            std::fs::read(to.join("Default/Local Storage/leveldb/000003.log")).unwrap(),
            b"token"
        );
        assert_eq!(
            std::fs::read(to.join("Default/IndexedDB/http_x_0.indexeddb.leveldb/CURRENT")).unwrap(),
            b"keys"
        );
        assert!(
            !to.join("Default/Local Storage/leveldb/stale.log").exists(),
            "replaced whole"
        );
        assert!(
            !to.join("Default/Local Storage/leveldb/LOCK").exists(),
            "locks stay behind"
        );
        assert!(
            !to.join("Default/Cookies").exists(),
            "only the page's storage travels"
        );
        assert!(
            to.join("Default/Preferences").exists(),
            "the rest of the profile stays"
        );
        for dir in [from, to] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn an_empty_profile_has_nothing_to_save_and_a_path_outside_is_refused() {
        let dir = temp("empty");
        assert!(pack(&dir).unwrap().is_none());
        let evil = postcard::to_stdvec(&vec![Entry {
            path: "Default/Local Storage/../../../etc/passwd".into(),
            bytes: vec![],
        }])
        .unwrap();
        assert!(matches!(unpack(&dir, &evil), Err(ProfileError::Damaged(_))));
        assert!(matches!(
            unpack(&dir, b"\xff\xff"),
            Err(ProfileError::Damaged(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
