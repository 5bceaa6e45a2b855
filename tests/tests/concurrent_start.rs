//! Two sessions created at the same instant both come up with their own QR codes and both
//! link: the system wamux replaces failed exactly here.

use serde_json::json;
use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_started_together_both_link() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);

    let (a, b) = tokio::join!(
        daemon.post("/api/sessions", json!({"sessionId": "ventas"})),
        daemon.post("/api/sessions", json!({"sessionId": "coordinacion"})),
    );
    assert_eq!(a.0, 201, "{}", a.1);
    assert_eq!(b.0, 201, "{}", b.1);

    let (qa, qb) = tokio::join!(
        daemon.qr_payload("ventas"),
        daemon.qr_payload("coordinacion")
    );
    assert_ne!(qa, qb, "each session has its own QR code");
    for id in ["ventas", "coordinacion"] {
        assert_eq!(daemon.status(id).await["status"], "SCAN_QR_CODE");
    }

    let (sa, sb) = tokio::join!(
        daemon.link(&fake, "ventas", "5215510000001"),
        daemon.link(&fake, "coordinacion", "5215510000002"),
    );
    assert_eq!(sa["phoneNumber"], "5215510000001");
    assert_eq!(sb["phoneNumber"], "5215510000002");

    let (code, list) = daemon.get("/api/sessions").await;
    assert_eq!(code, 200);
    assert_eq!(list["stats"]["byStatus"]["WORKING"], 2, "{list}");
}
