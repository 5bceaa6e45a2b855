//! Rewriting keys of a Laravel application's `.env`, atomically.
//!
//! Every other line stays as it was: comments, blank lines, unrelated keys, their order and
//! quoting. A key already present is replaced where it stands (keeping an `export ` prefix);
//! a missing one is appended. The new content goes to a temporary file beside the original,
//! which is flushed to disk, given the original's mode (and owner, when allowed), and renamed
//! over it, so a reader sees the old file or the new one, never a torn one. Callers serialise
//! rewrites of one file, so that concurrent ones cannot interleave their read and write.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EnvError {
    #[error("the Laravel .env file {0} does not exist")]
    Missing(PathBuf),
    #[error("cannot read the Laravel .env file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the Laravel .env file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Sets each `(key, value)` in the file at `path`.
pub fn rewrite(path: &Path, updates: &[(&str, &str)]) -> Result<(), EnvError> {
    let original = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            EnvError::Missing(path.to_owned())
        } else {
            EnvError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let metadata = std::fs::metadata(path).map_err(|source| EnvError::Read {
        path: path.to_owned(),
        source,
    })?;
    let updated = apply(&original, updates);
    write_atomically(path, &updated, &metadata).map_err(|source| EnvError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The new content of a file holding `original`.
pub fn apply(original: &str, updates: &[(&str, &str)]) -> String {
    let mut done = vec![false; updates.len()];
    let mut out = String::with_capacity(original.len() + 256);
    for line in original.split_inclusive('\n') {
        let (body, ending) = match line.strip_suffix('\n') {
            Some(body) => match body.strip_suffix('\r') {
                Some(body) => (body, "\r\n"),
                None => (body, "\n"),
            },
            None => (line, ""),
        };
        match updates
            .iter()
            .position(|(key, _)| key_of(body) == Some(*key))
        {
            Some(i) => {
                let export = if body.trim_start().starts_with("export ") {
                    "export "
                } else {
                    ""
                };
                let (key, value) = updates[i];
                out.push_str(&format!("{export}{key}={}{ending}", quote(value)));
                done[i] = true;
            }
            None => out.push_str(line),
        }
    }
    for ((key, value), done) in updates.iter().zip(done) {
        if !done {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{key}={}\n", quote(value)));
        }
    }
    out
}

/// The key a line sets, if it is an assignment (`KEY=…` or `export KEY=…`).
fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let (key, _) = line.split_once('=')?;
    let key = key.trim_end();
    (!key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(key)
}

/// A value as phpdotenv reads it back unchanged: bare when it is plain, else single-quoted
/// (literal, no interpolation), else double-quoted with escapes.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:/@+,".contains(&b));
    if plain {
        value.to_owned()
    } else if !value.contains('\'') && !value.contains('\n') {
        format!("'{value}'")
    } else {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('\n', "\\n");
        format!("\"{escaped}\"")
    }
}

fn write_atomically(
    path: &Path,
    content: &str,
    metadata: &std::fs::Metadata,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.wamux-{}-{}", std::process::id(), unique()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(metadata.mode() & 0o7777))?;
        // Keep the owner when we may (as root); otherwise the file becomes ours, as any
        // rewrite by this user would make it.
        let _ = std::os::unix::fs::fchown(&file, Some(metadata.uid()), Some(metadata.gid()));
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "# Laravel\nAPP_NAME=\"My App\"\n\nexport WHATSAPP_SELLS_NUMBER=old\nDB_PASSWORD='s3cr#t'\n  # indented comment\nWHATSAPP_SELLS_URL = http://old\n";

    #[test]
    fn replaces_in_place_and_keeps_everything_else() {
        let out = apply(
            ORIGINAL,
            &[
                ("WHATSAPP_SELLS_NUMBER", "5215512345678"),
                (
                    "WHATSAPP_SELLS_URL",
                    "http://127.0.0.1:8083/api/sessions/v/send-message",
                ),
                ("WHATSAPP_SELLS_SESSION_ID", "v"),
            ],
        );
        assert_eq!(
            out,
            "# Laravel\nAPP_NAME=\"My App\"\n\nexport WHATSAPP_SELLS_NUMBER=5215512345678\nDB_PASSWORD='s3cr#t'\n  # indented comment\nWHATSAPP_SELLS_URL=http://127.0.0.1:8083/api/sessions/v/send-message\nWHATSAPP_SELLS_SESSION_ID=v\n"
        );
    }

    #[test]
    fn appends_after_a_last_line_without_newline_and_keeps_crlf() {
        assert_eq!(apply("A=1", &[("B", "2")]), "A=1\nB=2\n");
        assert_eq!(apply("B=1\r\nC=3\r\n", &[("B", "2")]), "B=2\r\nC=3\r\n");
        assert_eq!(apply("", &[("B", "2")]), "B=2\n");
    }

    #[test]
    fn does_not_touch_lookalikes() {
        let text = "# WHATSAPP_SELLS_NUMBER=commented\nWHATSAPP_SELLS_NUMBER_OLD=1\nXWHATSAPP_SELLS_NUMBER=2\n";
        let out = apply(text, &[("WHATSAPP_SELLS_NUMBER", "9")]);
        assert_eq!(out, format!("{text}WHATSAPP_SELLS_NUMBER=9\n"));
    }

    #[test]
    fn quotes_what_needs_it() {
        assert_eq!(quote("5215512345678"), "5215512345678");
        assert_eq!(quote("http://h:1/a-b_c"), "http://h:1/a-b_c");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b#c$d"), "'a b#c$d'");
        assert_eq!(quote("it's \"x\" $HOME"), "\"it's \\\"x\\\" \\$HOME\"");
    }

    #[test]
    fn rewrites_files_keeping_their_mode_and_refuses_missing_ones() {
        let dir = std::env::temp_dir().join(format!("wamux-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, ORIGINAL).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        rewrite(&path, &[("WHATSAPP_SELLS_NUMBER", "1")]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("export WHATSAPP_SELLS_NUMBER=1\n")
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file is left"
        );
        let missing = dir.join("nope.env");
        assert!(matches!(
            rewrite(&missing, &[("A", "1")]),
            Err(EnvError::Missing(_))
        ));
        assert!(!missing.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
