//! A session whose browser can never start ends FAILED with a readable reason while the rest
//! of the daemon carries on; a stale profile lock from another host does not block a session.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use wamux_e2e::*;

fn real_chromium() -> &'static str {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("Chromium is installed")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_keeps_crashing_fails_and_the_daemon_carries_on() {
    let fake = fake(FakeConfig::default()).await;
    let tools = TempDir::new("tools");
    // A Chromium that dies at once on the profile of session "broken", and only there.
    let wrapper = tools.path().join("chromium");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *sessions/broken/profile*) echo 'simulated crash' >&2; exit 3;; esac\nexec {} \"$@\"\n",
            real_chromium()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let daemon = Daemon::start(&fake.url(), &["--chromium", wrapper.to_str().unwrap()]);

    daemon.create("broken").await;
    daemon.create("fine").await;
    let failed = daemon.wait_status("broken", "FAILED").await;
    let reason = failed["lastError"].as_str().expect("a reason");
    assert!(reason.contains("gave up after"), "{reason}");
    assert!(failed["restarts"].as_u64().unwrap() >= 4, "{failed}");
    assert_eq!(daemon.processes_of("broken"), vec![]);

    // The rest of the daemon is unaffected.
    daemon.wait_status("fine", "SCAN_QR_CODE").await;
    let (code, body) = daemon.get("/api/sessions").await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = daemon
        .post(
            "/api/sessions/broken/send-message",
            json!({"phoneNumber": "5215512345678", "message": "x"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("session_not_ready"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_lock_from_another_host_does_not_block_a_session() {
    let fake = fake(FakeConfig::default()).await;
    let data = TempDir::new("data");
    let profile = data.path().join("sessions/locked/profile");
    std::fs::create_dir_all(&profile).unwrap();
    std::os::unix::fs::symlink("another-host-4242", profile.join("SingletonLock")).unwrap();
    std::os::unix::fs::symlink("1234567890", profile.join("SingletonCookie")).unwrap();
    std::os::unix::fs::symlink(
        "/tmp/gone-4242/SingletonSocket",
        profile.join("SingletonSocket"),
    )
    .unwrap();

    let daemon = Daemon::start_in(data, &fake.url(), &[]);
    daemon.create("locked").await;
    daemon.wait_status("locked", "SCAN_QR_CODE").await;
    daemon.qr_payload("locked").await;
}
