//! Five sessions created at once with `--max-starting 2` queue at the start gate and all come
//! up with their own QR codes. The fake worker stands in for the browser: the gate's
//! queueing does not depend on what a page shows.

use std::collections::HashSet;

use serde_json::json;
use wamux_e2e::fake_worker::start_daemon;

#[tokio::test(flavor = "multi_thread")]
async fn five_sessions_at_once_all_reach_the_qr() {
    // No entry: every session shows a QR code of its own.
    let daemon = start_daemon(json!({}), &["--max-starting", "2", "--max-sessions", "5"]);
    let create = |id: &'static str| daemon.post("/api/sessions", json!({"sessionId": id}));
    let created = tokio::join!(
        create("s1"),
        create("s2"),
        create("s3"),
        create("s4"),
        create("s5")
    );
    for (code, body) in [created.0, created.1, created.2, created.3, created.4] {
        assert_eq!(code, 201, "{body}");
    }
    let (code, body) = daemon
        .post("/api/sessions", json!({"sessionId": "s6"}))
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (429, Some("session_limit_reached"))
    );

    let mut payloads = HashSet::new();
    for id in ["s1", "s2", "s3", "s4", "s5"] {
        daemon.wait_status(id, "SCAN_QR_CODE").await;
        payloads.insert(daemon.qr_payload(id).await);
    }
    assert_eq!(payloads.len(), 5, "each session has its own QR code");
}
