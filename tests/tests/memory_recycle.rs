//! A session whose processes pass `--max-session-memory`, or that ran past `--recycle-after`,
//! is recycled and comes back linked.

use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_session_over_its_memory_limit_is_recycled_and_comes_back_linked() {
    let fake = fake(FakeConfig::default()).await;
    // Chromium alone takes well over 50 MiB, so every linked worker is over the limit.
    let daemon = Daemon::start(
        &fake.url(),
        &["--max-session-memory", "50M", "--watch-interval", "1s"],
    );
    daemon.create("gordo").await;
    daemon.link(&fake, "gordo", "5215512340021").await;
    let after = back_to_working_without_qr(&daemon, "gordo", 0).await;
    assert_eq!(after["phoneNumber"], "5215512340021");
    assert!(after["memoryBytes"].as_u64().is_some(), "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_recycled_on_schedule_and_comes_back_linked() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(
        &fake.url(),
        &["--recycle-after", "3s", "--watch-interval", "1s"],
    );
    daemon.create("viejo").await;
    daemon.link(&fake, "viejo", "5215512340022").await;
    let after = back_to_working_without_qr(&daemon, "viejo", 0).await;
    assert_eq!(after["phoneNumber"], "5215512340022");
}
