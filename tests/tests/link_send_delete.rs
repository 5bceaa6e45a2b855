//! The whole path with real Chromium: create, QR, scan, WORKING, send, and the end of a
//! session by delete and by `wamux kill`, after which no process of it remains.

use serde_json::json;
use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_session_links_sends_and_leaves_nothing_behind() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);

    let created = daemon.create("alpha").await;
    assert_eq!(created["sessionId"], "alpha");
    assert_eq!(created["qrUrl"], "/api/sessions/alpha/qr");
    assert_eq!(created["statusUrl"], "/api/sessions/alpha/status");

    // The PNG encodes exactly the raw payload (read twice around it to rule out a rotation).
    let (payload, png) = eventually("a stable QR", DEADLINE, || async {
        let before = daemon.qr_payload("alpha").await;
        let response = reqwest::get(format!("{}/api/sessions/alpha/qr", daemon.url))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        let png = response.bytes().await.unwrap();
        let after = daemon.qr_payload("alpha").await;
        (before == after).then_some((before, png))
    })
    .await;
    assert!(
        payload.contains("2@"),
        "a WhatsApp-shaped payload: {payload}"
    );
    assert_eq!(decode_qr_png(&png).expect("the PNG decodes"), payload);
    assert_eq!(daemon.status("alpha").await["status"], "SCAN_QR_CODE");

    // The profile holds the account's keys: only the service user may read it.
    use std::os::unix::fs::PermissionsExt;
    for dir in [daemon.data_dir.path().to_owned(), daemon.profile("alpha")] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }

    let status = daemon.link(&fake, "alpha", "5215511111111").await;
    assert_eq!(status["phoneNumber"], "5215511111111");
    assert_eq!(status["qrAvailable"], false);
    let (code, body) = daemon.get("/api/sessions/alpha/qr").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("qr_not_available"))
    );

    // A send: 200 with the id, and the fake saw it exactly once.
    let (code, body) = daemon
        .post(
            "/api/sessions/alpha/send-message",
            json!({"phoneNumber": "+52 155-2222-2222", "message": "hola desde wamux ✓"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let message_id = body["messageId"].as_str().expect("a message id").to_owned();
    let sent = fake_get(&fake, "/__fake/sent?from=5215511111111").await;
    let sent = sent.as_array().expect("a list");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], message_id.as_str());
    assert_eq!(sent[0]["to"], "5215522222222");
    assert_eq!(sent[0]["text"], "hola desde wamux ✓");

    // A number that is not on WhatsApp, and a malformed one.
    let (code, _) = fake_post(
        &fake,
        "/__fake/invalid-numbers",
        json!({"numbers": ["5215533333333"]}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, body) = daemon
        .post(
            "/api/sessions/alpha/send-message",
            json!({"phoneNumber": "5215533333333", "message": "¿hay alguien?"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("number_not_on_whatsapp")),
        "{body}"
    );
    let (code, body) = daemon
        .post(
            "/api/sessions/alpha/send-message",
            json!({"phoneNumber": "55-12ab", "message": "x"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (400, Some("invalid_phone_number"))
    );
    assert_eq!(
        fake_get(&fake, "/__fake/sent?from=5215511111111")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The session still works after the refused sends.
    let (code, body) = daemon
        .post(
            "/api/sessions/alpha/send-message",
            json!({"phoneNumber": "5215544444444", "message": "segundo"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");

    // A session that is not linked yet refuses sends with 409.
    daemon.create("beta").await;
    daemon.wait_status("beta", "SCAN_QR_CODE").await;
    let (code, body) = daemon
        .post(
            "/api/sessions/beta/send-message",
            json!({"phoneNumber": "5215522222222", "message": "hola"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("session_not_ready"))
    );

    // Delete: when the answer comes, nothing of the session runs and its profile is gone.
    assert!(
        !daemon.processes_of("alpha").is_empty(),
        "alpha's browser runs before the delete"
    );
    let profile = daemon.profile("alpha");
    assert!(profile.is_dir());
    let (code, body) = daemon
        .call(reqwest::Method::DELETE, "/api/sessions/alpha", None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        daemon.processes_of("alpha"),
        vec![],
        "processes of alpha after delete"
    );
    assert!(!profile.exists(), "the profile is removed");
    let (code, body) = daemon.get("/api/sessions/alpha/status").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );

    // `wamux kill`: the worker and its browsers are gone at once, the session shows STOPPED.
    assert!(
        !daemon.processes_of("beta").is_empty(),
        "beta's browser runs before the kill"
    );
    let out = daemon.cli(&["kill", "beta"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        daemon.processes_of("beta"),
        vec![],
        "processes of beta after kill"
    );
    assert_eq!(daemon.status("beta").await["status"], "STOPPED");
    let out = daemon.cli(&["list"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("beta") && l.contains("STOPPED")),
        "{table}"
    );
    let out = daemon.cli(&["list", "--json"]);
    let listed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON from list --json");
    assert_eq!(listed["sessions"][0]["sessionId"], "beta");
    let out = daemon.cli(&["kill", "nobody"]);
    assert!(!out.status.success(), "killing an unknown session fails");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
