//! Rewriting keys of a Laravel application's `.env`, atomically.
//!
//! Every other line stays as it was: comments, blank lines, unrelated keys, their order and
//! quoting. A key already present is replaced where it stands (keeping an `export ` prefix);
//! a missing one is appended. The new content goes to a temporary file beside the original,
//! which is given the original's owner, group and mode, flushed to disk, and renamed over it,
//! so a reader sees the old file or the new one, never a torn one. Callers serialise rewrites
//! of one file, so that concurrent ones cannot interleave their read and write.
//!
//! A symlinked `.env` (Envoyer and Deployer link each release's `.env` to `shared/.env`) is
//! rewritten at its target, which is where the temporary file goes: the link stays a link, and
//! the next release sees the change. A file that this user cannot give back its owner and group
//! (wamux runs as another user, not root) is not rewritten at all: the application could no
//! longer read it, or its owner no longer edit it.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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
    #[error(
        "cannot rewrite the Laravel .env file {path} keeping its owner and group {uid}:{gid} \
         ({source}): wamux runs as another user; give the file to the user wamux runs as (its \
         group may stay, if that user belongs to it) or run wamux as its owner; nothing was \
         changed"
    )]
    Owner {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },
}

/// Sets each `(key, value)` in the file at `path`, or at the file it links to.
pub fn rewrite(path: &Path, updates: &[(&str, &str)]) -> Result<(), EnvError> {
    let unreadable = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            EnvError::Missing(path.to_owned())
        } else {
            EnvError::Read {
                path: path.to_owned(),
                source,
            }
        }
    };
    let target = std::fs::canonicalize(path).map_err(unreadable)?;
    let original = std::fs::read_to_string(&target).map_err(unreadable)?;
    let metadata = std::fs::metadata(&target).map_err(unreadable)?;
    let updated = apply(&original, updates);
    write_atomically(&target, &updated, &metadata)
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

/// Replaces the regular file at `path` (no link) with `content`, keeping its owner, group
/// and mode.
fn write_atomically(
    path: &Path,
    content: &str,
    metadata: &std::fs::Metadata,
) -> Result<(), EnvError> {
    let write_error = |source| EnvError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.wamux-{}-{}", std::process::id(), unique()));
    let result = (|| {
        // Private until it has the original's owner and mode.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write_error)?;
        let (uid, gid) = (metadata.uid(), metadata.gid());
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(|source| {
            EnvError::Owner {
                path: path.to_owned(),
                uid,
                gid,
                source,
            }
        })?;
        // After the chown, which clears the set-id bits.
        file.set_permissions(std::fs::Permissions::from_mode(metadata.mode() & 0o7777))
            .map_err(write_error)?;
        file.write_all(content.as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&tmp, path).map_err(write_error)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_error)
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

    fn fresh_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wamux-env-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_symlinked_env_is_rewritten_at_its_target_and_stays_a_link() {
        let dir = fresh_dir("link");
        let (shared, release) = (dir.join("shared"), dir.join("releases/7"));
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::create_dir_all(&release).unwrap();
        std::fs::write(shared.join(".env"), ORIGINAL).unwrap();
        let link = release.join(".env");
        std::os::unix::fs::symlink("../../shared/.env", &link).unwrap();

        rewrite(&link, &[("WHATSAPP_SELLS_NUMBER", "1")]).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../shared/.env")
        );
        let shared_text = std::fs::read_to_string(shared.join(".env")).unwrap();
        assert!(shared_text.contains("export WHATSAPP_SELLS_NUMBER=1\n"));
        assert_eq!(names(&release), [".env"], "no temporary file is left");
        assert_eq!(names(&shared), [".env"], "no temporary file is left");

        let dangling = release.join("gone.env");
        std::os::unix::fs::symlink("../../shared/gone.env", &dangling).unwrap();
        assert!(matches!(
            rewrite(&dangling, &[("A", "1")]),
            Err(EnvError::Missing(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_keeps_its_owner_and_group() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root can make a file of another user to rewrite");
            return;
        }
        let dir = fresh_dir("owner");
        let path = dir.join(".env");
        std::fs::write(&path, ORIGINAL).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        rewrite(&path, &[("WHATSAPP_SELLS_NUMBER", "1")]).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!((metadata.uid(), metadata.gid()), (65534, 65534));
        assert_eq!(metadata.mode() & 0o777, 0o640);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Where the test, run again as another user, finds the file it must fail to rewrite.
    const ANOTHER_USERS_FILE: &str = "WAMUX_TEST_ANOTHER_USERS_ENV";

    /// A user who may write another's `.env` but not give it back its owner changes nothing:
    /// this test runs itself again, as `nobody`, in a process of its own.
    #[test]
    fn a_rewrite_that_cannot_keep_the_owner_changes_nothing() {
        use std::os::unix::process::CommandExt;
        if let Some(path) = std::env::var_os(ANOTHER_USERS_FILE) {
            let error = rewrite(Path::new(&path), &[("WHATSAPP_SELLS_NUMBER", "1")]).unwrap_err();
            assert!(matches!(error, EnvError::Owner { .. }), "{error}");
            let said = error.to_string();
            assert!(said.contains("keeping its owner and group 0:0"), "{said}");
            assert!(said.contains("nothing was changed"), "{said}");
            return;
        }
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root can run the rewrite as another user");
            return;
        }
        let dir = fresh_dir("not-mine");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, ORIGINAL).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();

        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "laravel::env_file::tests::a_rewrite_that_cannot_keep_the_owner_changes_nothing",
                "--nocapture",
            ])
            .env(ANOTHER_USERS_FILE, &path)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(said.contains("1 passed"), "{said}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ORIGINAL);
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!((metadata.uid(), metadata.gid()), (0, 0));
        assert_eq!(names(&dir), [".env"], "no temporary file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Where the test, run again in the unit's sandbox, finds the link to rewrite, and what it
    /// must get.
    const UNIT_LINK: &str = "WAMUX_TEST_UNIT_ENV_LINK";
    const UNIT_EXPECT: &str = "WAMUX_TEST_UNIT_EXPECT";

    /// The systemd unit's restrictions that matter to a rewrite, without systemd (which CI
    /// and containers do not run, so `systemd-run -p ...` cannot be used): a mount namespace
    /// where the application is read-only (`ProtectSystem=strict`) but for one directory
    /// (`ReadWritePaths=`), and a user without capabilities (`User=`,
    /// `CapabilityBoundingSet=`). Naming the real file's directory is enough; naming the
    /// link's is not, and then nothing changes.
    #[test]
    fn under_the_units_restrictions_the_real_files_directory_must_be_writable() {
        if let Some(link) = std::env::var_os(UNIT_LINK) {
            let result = rewrite(Path::new(&link), &[("WHATSAPP_SELLS_NUMBER", "1")]);
            match std::env::var(UNIT_EXPECT).expect("what to expect").as_str() {
                "ok" => result.unwrap(),
                _ => assert!(matches!(result, Err(EnvError::Write { .. })), "{result:?}"),
            }
            return;
        }
        let tools = ["/usr/bin/unshare", "/usr/bin/setpriv"];
        if !nix::unistd::geteuid().is_root() || !tools.iter().all(|t| Path::new(t).exists()) {
            eprintln!("skipped: needs root, unshare and setpriv to build the unit's sandbox");
            return;
        }
        let app = fresh_dir("unit");
        let (shared, release) = (app.join("shared"), app.join("releases/7"));
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::create_dir_all(&release).unwrap();
        std::os::unix::fs::chown(&shared, Some(65534), Some(65534)).unwrap();
        std::fs::write(shared.join(".env"), ORIGINAL).unwrap();
        std::os::unix::fs::chown(shared.join(".env"), Some(65534), Some(65534)).unwrap();
        let link = release.join(".env");
        std::os::unix::fs::symlink("../../shared/.env", &link).unwrap();

        let run = |writable: &Path, expect: &str| {
            let script = r#"mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"
                mount --bind "$2" "$2"; mount -o remount,bind,rw "$2"
                shift 2; exec setpriv --reuid 65534 --regid 65534 --clear-groups \
                    --bounding-set=-all --inh-caps=-all "$@""#;
            let out = std::process::Command::new("/usr/bin/unshare")
                .args([
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-ec",
                    script,
                    "sh",
                ])
                .arg(&app)
                .arg(writable)
                .arg(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "laravel::env_file::tests::under_the_units_restrictions_the_real_files_directory_must_be_writable",
                    "--nocapture",
                ])
                .env(UNIT_LINK, &link)
                .env(UNIT_EXPECT, expect)
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && said.contains("1 passed"), "{said}");
        };

        run(&release, "write");
        assert_eq!(
            std::fs::read_to_string(shared.join(".env")).unwrap(),
            ORIGINAL
        );
        run(&shared, "ok");
        let text = std::fs::read_to_string(shared.join(".env")).unwrap();
        assert!(text.contains("export WHATSAPP_SELLS_NUMBER=1\n"), "{text}");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(names(&shared), [".env"], "no temporary file is left");
        std::fs::remove_dir_all(&app).unwrap();
    }
}
