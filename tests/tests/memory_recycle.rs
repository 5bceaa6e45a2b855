//! A session whose processes pass `--max-session-memory`, or that ran past `--recycle-after`,
//! is recycled and comes back linked. The fake worker stands in for the browser: it holds as
//! much memory as it is told.

use serde_json::json;
use wamux_e2e::fake_worker::start_daemon;
use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_session_over_its_memory_limit_is_recycled_and_comes_back_linked() {
    let daemon = start_daemon(
        json!({"gordo": {"mode": "ready", "phone": "5215512340021", "memoryMb": 80}}),
        &["--max-session-memory", "50M", "--watch-interval", "1s"],
    );
    daemon.create("gordo").await;
    daemon.wait_status("gordo", "WORKING").await;
    let after = back_to_working_without_qr(&daemon, "gordo", 0).await;
    assert_eq!(after["phoneNumber"], "5215512340021");
    assert!(after["memoryBytes"].as_u64().is_some(), "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_recycled_on_schedule_and_comes_back_linked() {
    let daemon = start_daemon(
        json!({"viejo": {"mode": "ready", "phone": "5215512340022"}}),
        &["--recycle-after", "3s", "--watch-interval", "1s"],
    );
    daemon.create("viejo").await;
    daemon.wait_status("viejo", "WORKING").await;
    let after = back_to_working_without_qr(&daemon, "viejo", 0).await;
    assert_eq!(after["phoneNumber"], "5215512340022");
}
