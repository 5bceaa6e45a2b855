//! The QR code rotates in place, and after the last payload expires the worker presses the
//! page's reload button so that a fresh cycle of payloads follows.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_qr_rotates_and_is_reloaded_after_expiry() {
    const PER_CYCLE: u32 = 3;
    let fake = fake(FakeConfig {
        qr_first: Duration::from_millis(2500),
        qr_next: Duration::from_millis(1500),
        qr_count: PER_CYCLE,
        ..FakeConfig::default()
    })
    .await;
    let daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("rota").await;

    // More distinct payloads than one cycle holds can only come from a reload after expiry.
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while seen.len() <= PER_CYCLE as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for a second cycle of QR payloads; saw {seen:?}"
        );
        let (code, body) = daemon.get("/api/sessions/rota/qr?format=raw").await;
        if code == 200 {
            let payload = body["qr"].as_str().unwrap().to_owned();
            if seen.last() != Some(&payload) {
                assert!(
                    !seen.contains(&payload),
                    "a payload never comes back: {payload}"
                );
                seen.push(payload);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len());

    // The first payload is long dead: the phone cannot scan it.
    let (code, _) = fake_post(
        &fake,
        "/__fake/scan",
        json!({"qr": seen[0], "phone": "5215512345678"}),
    )
    .await;
    assert_eq!(code, 410);
    // The current one links.
    let status = daemon.link(&fake, "rota", "5215512345678").await;
    assert_eq!(status["phoneNumber"], "5215512345678");
}
