//! How the daemon supervises its workers, with the fake worker in place of the real one (no
//! browser): crashes and their backoff, FAILED after five failed starts and a person's start,
//! restart counting, stop, kill, logout, the daemon's own stop, send results as HTTP answers, and
//! the environment a worker gets.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wamux_e2e::fake_worker::{
    restart_daemon, set_behaviour, start_daemon, start_daemon_with_env, starts,
};
use wamux_e2e::*;

/// The worker process of session `id` as the daemon reports it.
async fn worker_of(daemon: &Daemon, id: &str) -> Proc {
    let pid = daemon.detail(id).await["workerPid"]
        .as_u64()
        .expect("a worker pid") as u32;
    Proc::of(pid).expect("the worker runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_worker_is_restarted_after_a_growing_backoff() {
    let daemon = start_daemon(
        json!({"s": {"mode": "ready", "crashFirst": 2, "phone": "5215512349001"}}),
        &[],
    );
    let since = Instant::now();
    daemon.create("s").await;
    daemon.wait_status("s", "WORKING").await;
    // Two crashes, then backoffs of 1 s and 2 s before the third start.
    assert!(
        since.elapsed() >= Duration::from_secs(3),
        "three starts within {:?}",
        since.elapsed()
    );
    assert_eq!(starts(&daemon, "s"), 3);
    let d = daemon.detail("s").await;
    assert_eq!(d["restarts"], 2, "{d}");
    assert_eq!(d["phoneNumber"], "5215512349001", "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failed_starts_fail_the_session_until_a_person_starts_it() {
    let mut daemon = start_daemon(
        json!({"broken": {"mode": "crash"}, "fine": {"mode": "qr"}}),
        &[],
    );
    daemon.create("broken").await;
    daemon.create("fine").await;
    let failed = daemon.wait_status("broken", "FAILED").await;
    let reason = failed["lastError"].as_str().expect("a reason");
    assert!(reason.contains("gave up after 5"), "{reason}");
    assert!(reason.contains("exit status: 3"), "{reason}");
    assert_eq!(starts(&daemon, "broken"), 5);
    let detail = daemon.detail("broken").await;
    assert!(detail["restarts"].as_u64().unwrap() >= 4, "{detail}");
    assert_eq!(detail["workerPid"], Value::Null, "{detail}");
    assert_eq!(daemon.processes_of("broken"), vec![]);

    // The rest of the daemon is unaffected, and a FAILED session takes no message.
    daemon.wait_status("fine", "SCAN_QR_CODE").await;
    let (code, body) = daemon
        .post(
            "/api/sessions/broken/send-message",
            json!({"phoneNumber": "5215512345678", "message": "x"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("session_not_ready")),
        "{body}"
    );

    // A person fixed the cause and starts it: a fresh count of failed starts.
    set_behaviour(
        &daemon,
        json!({"broken": {"mode": "ready"}, "fine": {"mode": "qr"}}),
    );
    let (code, body) = daemon.post("/api/sessions/broken/start", json!({})).await;
    assert_eq!(code, 200, "{body}");
    daemon.wait_status("broken", "WORKING").await;
    assert_eq!(starts(&daemon, "broken"), 6);
    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");
    restart_daemon(&mut daemon, &[]);
    daemon.wait_status("broken", "WORKING").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_are_counted_and_kept_and_a_stopped_session_stays_stopped() {
    let mut daemon = start_daemon(
        json!({
            "flaky": {"mode": "ready", "crashAfterMs": 300},
            "steady": {"mode": "ready"},
        }),
        &[],
    );
    daemon.create("flaky").await;
    daemon.create("steady").await;
    // Each incarnation got as far as the app, so no crash is a failed start: it never FAILs.
    let before_stop = eventually("six restarts of flaky", DEADLINE, || async {
        let d = daemon.detail("flaky").await;
        assert_ne!(d["status"], "FAILED", "{d}");
        (d["restarts"].as_u64().unwrap() >= 6).then_some(d)
    })
    .await;
    assert!(starts(&daemon, "flaky") >= 6, "{before_stop}");

    let (code, body) = daemon.post("/api/sessions/flaky/stop", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "STOPPED", "{body}");
    assert_eq!(daemon.processes_of("flaky"), vec![]);
    let stopped = daemon.detail("flaky").await;
    let restarts = stopped["restarts"].as_u64().unwrap();
    let started = starts(&daemon, "flaky");
    assert!(restarts + 1 >= started && restarts <= started, "{stopped}");

    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");
    restart_daemon(&mut daemon, &[]);
    // Once the other session is back, the restore is over: flaky was left alone.
    daemon.wait_status("steady", "WORKING").await;
    let kept = daemon.detail("flaky").await;
    assert_eq!(kept["status"], "STOPPED", "{kept}");
    assert_eq!(kept["restarts"], restarts, "the count is kept: {kept}");
    assert_eq!(starts(&daemon, "flaky"), started, "no worker was started");

    set_behaviour(
        &daemon,
        json!({"flaky": {"mode": "ready"}, "steady": {"mode": "ready"}}),
    );
    let (code, body) = daemon.post("/api/sessions/flaky/start", json!({})).await;
    assert_eq!(code, 200, "{body}");
    daemon.wait_status("flaky", "WORKING").await;
    assert_eq!(starts(&daemon, "flaky"), started + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_ends_at_once_a_worker_that_ignores_shutdown_and_sigterm() {
    let daemon = start_daemon(
        json!({"stubborn": {"mode": "ready", "exitOnShutdown": false, "ignoreSigterm": true}}),
        &[],
    );
    daemon.create("stubborn").await;
    daemon.wait_status("stubborn", "WORKING").await;
    let worker = worker_of(&daemon, "stubborn").await;

    let since = Instant::now();
    let (code, body) = daemon.post("/api/sessions/stubborn/kill", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "STOPPED", "{body}");
    // Well within the 10 s a clean stop grants a worker.
    assert!(
        since.elapsed() < Duration::from_secs(8),
        "{:?}",
        since.elapsed()
    );
    assert!(!alive(worker), "the worker outlived the kill");
    assert_eq!(daemon.processes_of("stubborn"), vec![]);
    assert_eq!(
        starts(&daemon, "stubborn"),
        1,
        "a killed session stays down"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_every_worker_and_the_daemon_exits_0() {
    let mut daemon = start_daemon(
        json!({"uno": {"mode": "ready"}, "dos": {"mode": "qr"}}),
        &[],
    );
    daemon.create("uno").await;
    daemon.create("dos").await;
    daemon.wait_status("uno", "WORKING").await;
    daemon.wait_status("dos", "SCAN_QR_CODE").await;
    let workers = [
        worker_of(&daemon, "uno").await,
        worker_of(&daemon, "dos").await,
    ];

    let status = daemon.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let dir = daemon.data_dir.path().to_string_lossy().into_owned();
    assert_eq!(processes_mentioning(&dir), vec![], "processes left");
    assert!(workers.iter().all(|w| !alive(*w)), "{workers:?}");

    restart_daemon(&mut daemon, &[]);
    daemon.wait_status("uno", "WORKING").await;
    daemon.wait_status("dos", "SCAN_QR_CODE").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_forces_the_stop_of_a_worker_that_would_not_stop() {
    let mut daemon = start_daemon(
        json!({"stubborn": {"mode": "qr", "exitOnShutdown": false, "ignoreSigterm": true}}),
        &[],
    );
    daemon.create("stubborn").await;
    daemon.wait_status("stubborn", "SCAN_QR_CODE").await;
    let worker = worker_of(&daemon, "stubborn").await;

    let since = Instant::now();
    let status = daemon.signal_twice();
    assert_eq!(
        status.code(),
        Some(130),
        "a forced stop says so: {status:?}"
    );
    assert!(
        since.elapsed() < Duration::from_secs(8),
        "the forced stop waited for the worker: {:?}",
        since.elapsed()
    );
    all_gone("the forced stop to take the worker", &[worker]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_wipes_the_profile_and_a_fresh_qr_follows() {
    let daemon = start_daemon(
        json!({"baja": {"mode": "ready", "phone": "5215512349002"}}),
        &[],
    );
    daemon.create("baja").await;
    let working = daemon.wait_status("baja", "WORKING").await;
    assert_eq!(working["phoneNumber"], "5215512349002");
    let marker = daemon.profile("baja").join("left-by-the-old-link");
    std::fs::write(&marker, "x").unwrap();

    // Unlinked, the next page shows a QR code.
    set_behaviour(&daemon, json!({"baja": {"mode": "qr"}}));
    let (code, body) = daemon.post("/api/sessions/baja/logout", json!({})).await;
    assert_eq!(code, 200, "{body}");
    let status = daemon.wait_status("baja", "SCAN_QR_CODE").await;
    assert_eq!(status["phoneNumber"], Value::Null, "{status}");
    assert!(!marker.exists(), "the profile was wiped");
    assert_eq!(starts(&daemon, "baja"), 2);
    assert_eq!(
        daemon.qr_payload("baja").await,
        "2@fake-baja-2,key,id,secret"
    );
}

async fn send(daemon: &Daemon, id: &str) -> (u16, Value) {
    daemon
        .post(
            &format!("/api/sessions/{id}/send-message"),
            json!({"phoneNumber": "+52 155 1234 9003", "message": "hola"}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn send_results_become_http_answers() {
    let daemon = start_daemon(
        json!({
            "ok": {"mode": "ready"},
            "nope": {"mode": "ready", "sendResult": "not_on_whatsapp"},
            "slow": {"mode": "ready", "sendResult": "timeout"},
            "unlinked": {"mode": "qr"},
        }),
        &["--max-sessions", "4", "--send-wait", "3s"],
    );
    for id in ["ok", "nope", "slow", "unlinked"] {
        daemon.create(id).await;
    }
    for id in ["ok", "nope", "slow"] {
        daemon.wait_status(id, "WORKING").await;
    }
    daemon.wait_status("unlinked", "SCAN_QR_CODE").await;

    let (code, body) = send(&daemon, "ok").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["messageId"], "fake-ok-1-1", "{body}");
    assert_eq!(body["status"], "sent", "{body}");
    for (id, http, error) in [
        ("nope", 422, "number_not_on_whatsapp"),
        ("unlinked", 409, "session_not_ready"),
    ] {
        let (code, body) = send(&daemon, id).await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (http, Some(error)),
            "{id}: {body}"
        );
    }
    // Not confirmed within --send-wait: 202, and the message goes on being tried.
    let (code, body) = send(&daemon, "slow").await;
    assert_eq!(code, 202, "{body}");
    let path = format!(
        "/api/sessions/slow/messages/{}",
        body["id"].as_str().unwrap()
    );
    let (code, message) = daemon.get(&path).await;
    assert_eq!(code, 200, "{message}");
    assert!(message["attempts"].as_u64().unwrap() >= 1, "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_gets_none_of_the_daemons_secrets() {
    const KEY: &str = "the-api-key-itself";
    const OTHER: &str = "an-unrelated-secret";
    let daemon = start_daemon_with_env(
        json!({"s": {"mode": "qr"}}),
        &[],
        &[
            ("WAMUX_API_KEY", KEY),
            ("AWS_SECRET_ACCESS_KEY", OTHER),
            ("LANG", "C.UTF-8"),
        ],
    );
    let http = reqwest::Client::new();
    let call = |request: reqwest::RequestBuilder| async move {
        let response = request
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("the daemon answers");
        let code = response.status().as_u16();
        (code, response.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (code, body) = call(
        http.post(format!("{}/api/sessions", daemon.url))
            .json(&json!({"sessionId": "s"})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let pid = eventually("a worker for s", DEADLINE, || async {
        let (_, body) = call(http.get(format!("{}/api/sessions/s", daemon.url))).await;
        (body["status"] == "SCAN_QR_CODE").then(|| body["workerPid"].as_u64())?
    })
    .await;

    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the worker's environment");
    let vars: Vec<String> = environ
        .split(|&b| b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        !vars
            .iter()
            .any(|v| v.starts_with("WAMUX_") || v.contains(KEY) || v.contains(OTHER)),
        "{vars:?}"
    );
    // What a worker does need still reaches it.
    assert!(vars.iter().any(|v| v.starts_with("PATH=")), "{vars:?}");
    assert!(vars.iter().any(|v| v == "LANG=C.UTF-8"), "{vars:?}");
}
