//! The data directory is private: the directory, the database and its journal, the lock, the
//! worker socket and whatever the workers write there are the service user's alone. A
//! `--data-dir` that holds other things is refused and left as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wamux_e2e::fake_worker::{self, start_daemon};
use wamux_e2e::*;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every entry under `dir` but symbolic links (whose mode means nothing), with its mode.
fn walk(dir: &Path, found: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        if path.is_symlink() {
            continue;
        }
        found.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            walk(&path, found);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_and_everything_in_it_is_private() {
    let daemon = start_daemon(json!({"s": {"mode": "qr"}}), &[]);
    daemon.create("s").await;
    daemon.wait_status("s", "SCAN_QR_CODE").await;

    let root = daemon.data_dir.path();
    assert_eq!(mode(root), 0o700);
    for name in [
        "wamux.db",
        "wamux.db-wal",
        "wamux.db-shm",
        "wamux.lock",
        "wamux.sock",
    ] {
        assert_eq!(mode(&root.join(name)), 0o600, "{name}");
    }
    let mut found = Vec::new();
    walk(root, &mut found);
    // The test itself wrote the fake worker's behaviour; the fake worker's own files count.
    let readable: Vec<_> = found
        .into_iter()
        .filter(|(path, mode)| mode & 0o077 != 0 && !path.ends_with("/fake-worker.json"))
        .collect();
    assert_eq!(readable, vec![], "readable by others");
}

#[test]
fn a_data_dir_holding_other_things_is_refused_and_left_as_it_was() {
    let app = TempDir::new("laravel-app");
    std::fs::write(app.path().join(".env"), "APP_KEY=x\n").unwrap();
    std::fs::create_dir(app.path().join("public")).unwrap();
    std::fs::set_permissions(app.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let worker = fake_worker::path();
    let mut child = Command::new(bin("wamux"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--web-url", fake_worker::NO_WEB])
        .arg("--data-dir")
        .arg(app.path())
        .args(fake_worker::args(&worker, &[]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning wamux serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wamux serve took a directory of other things as its data directory");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("not wamux's"), "{stderr}");
    let suggested = format!("--data-dir {}/wamux", app.path().display());
    assert!(stderr.contains(&suggested), "{stderr}");

    assert_eq!(mode(app.path()), 0o755, "left as it was");
    let mut names: Vec<String> = std::fs::read_dir(app.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".env", "public"]);
}
