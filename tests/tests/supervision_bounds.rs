//! Bounds on supervision, with the fake worker (no browser): a start whose page never loads
//! times out and counts as a failed start, and never holds the start gate for good; memory
//! recycles back off and say why; FAILED stays FAILED across a daemon restart and can be
//! stopped, while a recovered session carries no stale error; and the daemon's stop answers a
//! send that hangs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wamux_e2e::fake_worker::{restart_daemon, sends, set_behaviour, start_daemon, starts};
use wamux_e2e::*;

/// Five starts of 3 s each and backoffs of 1, 2, 4 and 8 s: about 30 s, with room.
const FIVE_TIMED_OUT_STARTS: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_never_loads_is_a_failed_start_and_the_session_ends_failed() {
    let daemon = start_daemon(
        json!({"mute": {"mode": "silent"}}),
        &["--browser-start-timeout", "3"],
    );
    daemon.create("mute").await;
    let failed = eventually("mute to be FAILED", FIVE_TIMED_OUT_STARTS, || async {
        let s = daemon.status("mute").await;
        (s["status"] == "FAILED").then_some(s)
    })
    .await;
    let reason = failed["lastError"]
        .as_str()
        .expect("a reason")
        .to_lowercase();
    assert!(
        reason.contains("timed out") || reason.contains("timeout"),
        "the reason names the timeout: {reason}"
    );
    assert_eq!(starts(&daemon, "mute"), 5, "{failed}");
    assert_eq!(daemon.processes_of("mute"), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_that_never_load_do_not_keep_others_from_starting() {
    let daemon = start_daemon(
        json!({
            "mute1": {"mode": "silent"},
            "mute2": {"mode": "silent"},
            "live": {"mode": "ready"},
        }),
        &["--max-starting", "2", "--browser-start-timeout", "3"],
    );
    daemon.create("mute1").await;
    daemon.create("mute2").await;
    eventually("both silent workers started", DEADLINE, || async {
        (starts(&daemon, "mute1") == 1 && starts(&daemon, "mute2") == 1).then_some(())
    })
    .await;
    daemon.create("live").await;
    // The silent ones give their places up when their start times out, 3 s in.
    eventually("live to be WORKING", Duration::from_secs(30), || async {
        (daemon.status("live").await["status"] == "WORKING").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_recycles_back_off_and_say_why() {
    let daemon = start_daemon(
        json!({"gordo": {"mode": "ready", "memoryMb": 120}}),
        &["--max-session-memory", "50M", "--watch-interval", "1s"],
    );
    daemon.create("gordo").await;
    // When each recycle was seen: the restart count going up.
    let mut seen = Vec::new();
    let mut last = 0;
    let deadline = Instant::now() + DEADLINE;
    while seen.len() < 4 {
        assert!(
            Instant::now() < deadline,
            "four memory recycles, seen {seen:?}"
        );
        let d = daemon.detail("gordo").await;
        assert_ne!(d["status"], "FAILED", "{d}");
        let restarts = d["restarts"].as_u64().unwrap();
        if restarts > last {
            last = restarts;
            seen.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    // Without a backoff every gap is one watch interval; with one they grow.
    assert!(
        gaps[2] >= gaps[0] + Duration::from_millis(1500),
        "successive memory recycles do not back off: gaps {gaps:?}"
    );
    let detail = daemon.detail("gordo").await;
    let reason = detail["lastError"]
        .as_str()
        .unwrap_or_else(|| panic!("no lastError after repeated memory recycles: {detail}"));
    assert!(
        reason.to_lowercase().contains("memory"),
        "the reason says memory: {reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_recovered_shows_no_stale_error() {
    let daemon = start_daemon(json!({"s": {"mode": "ready", "crashFirst": 1}}), &[]);
    daemon.create("s").await;
    let working = daemon.wait_status("s", "WORKING").await;
    assert_eq!(starts(&daemon, "s"), 2);
    assert_eq!(
        working["lastError"],
        Value::Null,
        "WORKING again, the crash is history: {working}"
    );
    assert_eq!(daemon.detail("s").await["lastError"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_session_that_a_person_stops_is_stopped() {
    let daemon = start_daemon(json!({"broken": {"mode": "crash"}}), &[]);
    daemon.create("broken").await;
    daemon.wait_status("broken", "FAILED").await;
    let (code, body) = daemon.post("/api/sessions/broken/stop", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "STOPPED", "{body}");
    assert_eq!(daemon.status("broken").await["status"], "STOPPED");
    assert_eq!(starts(&daemon, "broken"), 5, "stopping started nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_session_stays_failed_across_a_daemon_restart() {
    let mut daemon = start_daemon(
        json!({"broken": {"mode": "crash"}, "fine": {"mode": "ready"}}),
        &[],
    );
    daemon.create("broken").await;
    daemon.create("fine").await;
    let failed = daemon.wait_status("broken", "FAILED").await;
    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");

    // Fixed meanwhile: a start now would succeed, so only a start that did not happen passes.
    set_behaviour(
        &daemon,
        json!({"broken": {"mode": "ready"}, "fine": {"mode": "ready"}}),
    );
    restart_daemon(&mut daemon, &[]);
    daemon.wait_status("fine", "WORKING").await;
    let after = daemon.status("broken").await;
    assert_eq!(
        after["status"], "FAILED",
        "restarted by the daemon: {after}"
    );
    assert_eq!(after["lastError"], failed["lastError"], "{after}");
    assert_eq!(starts(&daemon, "broken"), 5, "a worker was started");

    let (code, body) = daemon.post("/api/sessions/broken/start", json!({})).await;
    assert_eq!(code, 200, "{body}");
    daemon.wait_status("broken", "WORKING").await;
}

/// The daemon's stop within this, even with a send that the worker never answers.
const STOP_BOUND: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_answers_a_hanging_send_and_stops_in_bounded_time() {
    let mut daemon = start_daemon(
        json!({"s": {"mode": "ready", "sendResult": "hang"}}),
        &["--send-timeout", "2"],
    );
    daemon.create("s").await;
    daemon.wait_status("s", "WORKING").await;
    let url = format!("{}/api/sessions/s/send-message", daemon.url);
    let send = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"phoneNumber": "5215512349004", "message": "nunca"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    eventually("the worker to get the send", DEADLINE, || async {
        (sends(&daemon, "s") == 1).then_some(())
    })
    .await;

    let since = Instant::now();
    let status = tokio::task::block_in_place(|| daemon.terminate());
    let took = since.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < STOP_BOUND, "the daemon took {took:?} to stop");
    let answer = tokio::time::timeout(Duration::from_secs(5), send)
        .await
        .expect("the send is answered once the daemon is gone")
        .unwrap();
    let code = answer.expect("an HTTP answer, not a dropped connection");
    assert_eq!(
        code, 202,
        "a send never confirmed is kept for after the restart, and says so"
    );
}
