//! `kill -9` of any process of a session's tree: the worker, chromedriver, or the Chromium
//! browser. The session comes back WORKING with the same number and no new QR code, and no
//! process of the old tree remains.

use serde_json::Value;
use wamux_e2e::*;

async fn survives_the_death_of(victim: fn(&Value) -> u32) {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("s").await;
    daemon.link(&fake, "s", "5215512340001").await;

    let before = daemon.detail("s").await;
    let old_tree = daemon.worker_tree("s").await;
    assert!(
        old_tree.len() >= 3,
        "worker, chromedriver and browsers: {old_tree:?}"
    );
    let pid = victim(&before);
    assert!(
        old_tree.iter().any(|p| p.pid == pid),
        "the victim {pid} belongs to the tree {old_tree:?}"
    );
    kill9(pid);

    let after =
        back_to_working_without_qr(&daemon, "s", before["restarts"].as_u64().unwrap()).await;
    assert_eq!(after["phoneNumber"], "5215512340001");
    assert_ne!(after["workerPid"], before["workerPid"]);
    all_gone("the old tree to be gone", &old_tree).await;
}

fn pid_of(detail: &Value, field: &str) -> u32 {
    detail[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {detail}")) as u32
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_is_replaced() {
    survives_the_death_of(|d| pid_of(d, "workerPid")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_chromedriver_is_replaced() {
    survives_the_death_of(|d| pid_of(d, "chromedriverPid")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_browser_is_replaced() {
    survives_the_death_of(|d| pid_of(d, "browserPid")).await;
}
