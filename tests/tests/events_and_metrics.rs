//! The event stream tells a session's STARTING, SCAN_QR_CODE and WORKING in order, and
//! `/metrics` is Prometheus text whose counters move when a message is sent. The fake worker
//! stands in for the browser and the phone: it shows a QR code, then is linked half a second
//! later.

use std::collections::HashMap;

use serde_json::{Value, json};
use wamux_e2e::fake_worker::start_daemon;
use wamux_e2e::*;

/// Parses the Prometheus text format strictly enough to catch a malformed exposition: every
/// sample belongs to a family declared by `# TYPE` and has a numeric value.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut families = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().expect("family name").to_owned();
            let kind = parts.next().expect("family type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            families.insert(name, kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        let labels = &series[name.len()..];
        assert!(
            labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
            "bad labels: {line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| families.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            families.contains_key(family),
            "sample before its # TYPE: {line}"
        );
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread")]
async fn events_arrive_in_order_and_metrics_count_sends() {
    let daemon = start_daemon(
        json!({"ev": {"mode": "qr", "linkAfterMs": 500, "phone": "5215512340031"}}),
        &[],
    );

    daemon.create("other").await;
    daemon.create("ev").await;
    // A filter names a session that exists; what happened before the stream opened comes
    // from the store, replayed after Last-Event-ID 0.
    let stream = reqwest::Client::new()
        .get(format!("{}/api/events?session=ev", daemon.url))
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let reader = tokio::spawn(async move {
        let mut stream = stream;
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                for data in block.lines().filter_map(|l| l.strip_prefix("data:")) {
                    let _ = tx.send(serde_json::from_str(data.trim()).expect("event JSON"));
                }
            }
        }
    });

    let linked = daemon.wait_status("ev", "WORKING").await;
    assert_eq!(linked["phoneNumber"], "5215512340031");
    let mut statuses = Vec::new();
    let mut kinds = Vec::new();
    let events = eventually("the WORKING event", DEADLINE, || {
        while let Ok(event) = rx.try_recv() {
            assert_eq!(
                event["sessionId"], "ev",
                "the filter lets only ev through: {event}"
            );
            kinds.push(event["type"].as_str().unwrap().to_owned());
            if event["type"] == "status" {
                statuses.push(event["status"].as_str().unwrap().to_owned());
            }
        }
        // `ready` follows the WORKING status.
        let done =
            statuses.last().is_some_and(|s| s == "WORKING") && kinds.iter().any(|k| k == "ready");
        std::future::ready(done.then(|| (statuses.clone(), kinds.clone())))
    })
    .await;
    assert_eq!(events.0, ["STARTING", "SCAN_QR_CODE", "WORKING"]);
    assert_eq!(events.1.first().map(String::as_str), Some("created"));
    assert!(events.1.contains(&"qr".to_owned()) && events.1.contains(&"ready".to_owned()));

    let metrics = |text: String| parse_prometheus(&text);
    let before = metrics(
        reqwest::get(format!("{}/metrics", daemon.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(before["wamux_messages_sent_total"], 0.0);
    assert_eq!(before["wamux_sessions{status=\"WORKING\"}"], 1.0);
    let (code, body) = daemon
        .post(
            "/api/sessions/ev/send-message",
            json!({"phoneNumber": "5215512340032", "message": "métrica"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let response = reqwest::get(format!("{}/metrics", daemon.url))
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let after = metrics(response.text().await.unwrap());
    assert_eq!(after["wamux_messages_sent_total"], 1.0);
    assert_eq!(after["wamux_messages_failed_total"], 0.0);
    assert_eq!(after["wamux_send_duration_seconds_count"], 1.0);
    assert_eq!(
        after["wamux_send_duration_seconds_bucket{le=\"+Inf\"}"],
        1.0
    );
    assert!(after["wamux_session_memory_bytes{session=\"ev\"}"] >= 0.0);
    // Two workers started (ev and other), each phase timed once per worker; only ev linked.
    let phase = |p: &str| after[&format!("wamux_start_phase_seconds_count{{phase=\"{p}\"}}")];
    for p in ["connected", "browser_session", "first_qr"] {
        assert_eq!(phase(p), 2.0, "{p}");
    }
    assert_eq!(phase("linked"), 1.0);
    assert!(
        after["wamux_start_phase_seconds_sum{phase=\"first_qr\"}"]
            >= after["wamux_start_phase_seconds_sum{phase=\"connected\"}"]
    );

    let sent = eventually("the messageSent event", DEADLINE, || {
        std::future::ready(
            std::iter::from_fn(|| rx.try_recv().ok()).find(|e| e["type"] == "messageSent"),
        )
    })
    .await;
    assert_eq!(sent["phoneNumber"], "5215512340032");
    let stats = daemon.get("/api/stats").await.1;
    assert_eq!(stats["messages"]["sent"], 1, "{stats}");
    assert_eq!(stats["sessions"]["byStatus"]["WORKING"], 1, "{stats}");
    reader.abort();
}
