//! Linking with a pairing code instead of a QR (contract section 8): the API asks the page for
//! a code, the page replaces it when it expires and every new code is announced, and the code
//! entered on the fake phone links the session. `wamux pair` does the same from a terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use wamux_e2e::webhook_receiver::Receiver;
use wamux_e2e::*;

/// A child that does not outlive the test, whatever the test's end.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_code(code: &str) -> bool {
    let (a, b) = code.split_once('-').unwrap_or_default();
    [a, b]
        .iter()
        .all(|half| half.len() == 4 && half.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pairing_code_links_and_an_expired_one_is_replaced_by_a_new_one() {
    let fake = fake(FakeConfig {
        link_code_ttl: Duration::from_secs(5),
        ..FakeConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(&fake.url(), &receiver.flags());
    daemon.create("uno").await;
    daemon.wait_status("uno", "SCAN_QR_CODE").await;

    let path = "/api/sessions/uno/pairing-code";
    let (code, body) = daemon.post(path, json!({"phoneNumber": "12"})).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_phone_number");
    let (code, body) = daemon.post(path, json!({"phone": "5215512349002"})).await;
    assert_eq!(code, 400, "{body}");

    let (code, first) = daemon
        .post(path, json!({"phoneNumber": "+52 1 55 1234 9002"}))
        .await;
    assert_eq!(code, 200, "{first}");
    let first_code = first["code"].as_str().expect("code").to_owned();
    assert!(is_code(&first_code), "{first}");
    assert!(first["expiresAt"].as_i64().is_some(), "{first}");
    let d = daemon.detail("uno").await;
    assert_eq!(d["pairingCode"], first_code.as_str());
    assert_eq!(d["qrAvailable"], false, "the page shows the code, not a QR");

    // The page replaces the expired code; the session shows the new one.
    let second = eventually("a new pairing code", DEADLINE, || async {
        let d = daemon.detail("uno").await;
        let code = d["pairingCode"].as_str()?.to_owned();
        (code != first_code).then_some(code)
    })
    .await;
    assert!(is_code(&second), "{second}");
    receiver
        .until("both codes announced", DEADLINE, |got| {
            let codes: Vec<&Value> = got
                .iter()
                .filter(|r| r.body["type"] == "session.pairing_code")
                .map(|r| &r.body["data"]["code"])
                .collect();
            codes.contains(&&json!(first_code)) && codes.contains(&&json!(second))
        })
        .await;

    let (code, _) = fake_post(
        &fake,
        "/__fake/link-code",
        json!({"code": first_code, "phone": "5215512349002"}),
    )
    .await;
    assert_ne!(code, 200, "the expired code links nothing");
    let (code, body) = fake_post(
        &fake,
        "/__fake/link-code",
        json!({"code": second, "phone": "5215512349002"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let status = daemon.wait_status("uno", "WORKING").await;
    assert_eq!(status["phoneNumber"], "5215512349002");
    assert_eq!(daemon.detail("uno").await["pairingCode"], Value::Null);

    let (code, body) = daemon
        .post(path, json!({"phoneNumber": "5215512349002"}))
        .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "session_already_linked");
}

#[tokio::test(flavor = "multi_thread")]
async fn wamux_pair_prints_the_code_and_waits_until_the_session_works() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("dos").await;

    let mut pair = Killed(
        Command::new(bin("wamux"))
            .args(["pair", "dos", "+5215512349003"])
            .env("WAMUX_URL", &daemon.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running wamux pair"),
    );
    let stdout = pair.0.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let code = loop {
        let line = lines
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no code printed: {printed:#?}"));
        printed.push(line.clone());
        if is_code(line.trim()) {
            break line.trim().to_owned();
        }
    };
    assert!(
        printed.iter().filter(|l| l.contains('█')).count() >= 5,
        "the code in large type: {printed:#?}"
    );
    let (status, body) = fake_post(
        &fake,
        "/__fake/link-code",
        json!({"code": code, "phone": "5215512349003"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + DEADLINE;
    let exit = loop {
        if let Some(exit) = pair.0.try_wait().expect("waiting for wamux pair") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "wamux pair did not exit: {printed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    reader.join().expect("the reader thread");
    printed.extend(lines.try_iter());
    assert!(
        printed
            .iter()
            .any(|l| l.contains("WORKING as +5215512349003")),
        "{printed:#?}"
    );
}
