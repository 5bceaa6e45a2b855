//! The phone unlinks the device: the session's profile is wiped, it goes back to
//! SCAN_QR_CODE with a fresh QR code, and it can be linked again, to another phone even.

use serde_json::{Value, json};
use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_session_unlinked_from_the_phone_starts_over_on_a_wiped_profile() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("baja").await;
    let first_qr = daemon.qr_payload("baja").await;
    daemon.link(&fake, "baja", "5215512340051").await;
    // Anything in the profile belongs to the old link and must go with it.
    let marker = daemon.profile("baja").join("left-by-the-old-link");
    std::fs::write(&marker, "x").unwrap();

    let (code, body) = fake_post(&fake, "/__fake/unlink", json!({"phone": "5215512340051"})).await;
    assert_eq!(code, 200, "{body}");
    let status = eventually("a fresh QR after the unlink", DEADLINE, || async {
        let s = daemon.status("baja").await;
        (s["status"] == "SCAN_QR_CODE" && s["qrAvailable"] == true).then_some(s)
    })
    .await;
    assert_eq!(status["phoneNumber"], Value::Null);
    assert!(!marker.exists(), "the profile was wiped");
    assert_ne!(daemon.qr_payload("baja").await, first_qr);

    let relinked = daemon.link(&fake, "baja", "5215512340052").await;
    assert_eq!(relinked["phoneNumber"], "5215512340052");
}
