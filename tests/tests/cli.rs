//! The `wamux` CLI against a real daemon, for people and for scripts, and `wamux sweep`.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use wamux_e2e::*;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{:?}\n{}\n{}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON expected ({e}): {}", stdout(out)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_drives_a_session_from_creation_to_deletion() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);

    let out = ok(daemon.cli(&["create", "cli1"]));
    assert!(stdout(&out).contains("created cli1"));
    let created = json_of(&ok(daemon.cli(&["create", "--json"])));
    let generated = created["sessionId"].as_str().unwrap().to_owned();
    ok(daemon.cli(&["delete", &generated]));

    let table = stdout(&ok(daemon.cli(&["list"])));
    assert!(
        table.lines().next().unwrap().starts_with("SESSION"),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("cli1 ")), "{table}");
    let listed = json_of(&ok(daemon.cli(&["list", "--json"])));
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);

    // The QR in the terminal, then as JSON to scan it.
    let drawn = eventually("a QR in the terminal", DEADLINE, || async {
        let out = daemon.cli(&["qr", "cli1"]);
        out.status.success().then(|| stdout(&out))
    })
    .await;
    assert!(drawn.contains('█') && drawn.contains('▀'), "{drawn}");
    let payload = json_of(&ok(daemon.cli(&["qr", "cli1", "--json"])))["qr"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _) = fake_post(
        &fake,
        "/__fake/scan",
        json!({"qr": payload, "phone": "5215512340041"}),
    )
    .await;
    if code != 200 {
        daemon.link(&fake, "cli1", "5215512340041").await;
    }
    daemon.wait_status("cli1", "WORKING").await;
    let status = stdout(&ok(daemon.cli(&["status", "cli1"])));
    assert!(
        status.contains("WORKING") && status.contains("5215512340041"),
        "{status}"
    );
    assert_eq!(
        json_of(&ok(daemon.cli(&["status", "cli1", "--json"])))["status"],
        "WORKING"
    );

    let sent = stdout(&ok(daemon.cli(&[
        "send",
        "cli1",
        "+52 155 1234 0042",
        "hola desde la terminal",
    ])));
    // The message's id, its status and WhatsApp's id.
    let words: Vec<&str> = sent.split_whitespace().collect();
    assert_eq!(words.get(1), Some(&"sent"), "{sent}");
    let sent = json_of(&ok(daemon.cli(&[
        "send",
        "cli1",
        "5215512340042",
        "otra",
        "--json",
    ])));
    assert!(sent["messageId"].as_str().is_some_and(|id| !id.is_empty()));
    let queued = stdout(&ok(daemon.cli(&[
        "send",
        "cli1",
        "5215512340042",
        "sin esperar",
        "--no-wait",
    ])));
    let id = queued.split_whitespace().next().unwrap().to_owned();
    assert!(
        queued.contains("queued") || queued.contains("sending") || queued.contains("sent"),
        "{queued}"
    );
    eventually("the third message to be sent", DEADLINE, || async {
        let list = stdout(&ok(daemon.cli(&["messages", "cli1"])));
        list.lines()
            .any(|l| l.split_whitespace().next() == Some(id.as_str()) && l.contains(" sent "))
            .then_some(())
    })
    .await;
    let log = fake_get(&fake, "/__fake/sent?from=5215512340041").await;
    assert_eq!(log.as_array().unwrap().len(), 3);

    // Exit codes scripts can trust.
    assert_eq!(
        daemon.cli(&["send", "cli1", "12ab", "x"]).status.code(),
        Some(65)
    );
    assert_eq!(daemon.cli(&["status", "nobody"]).status.code(), Some(66));
    let down = Command::new(bin("wamux"))
        .args(["list", "--url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&down.stderr).contains("not answering"));

    // Logout unlinks: the number is forgotten and a fresh QR follows.
    let old_payload = payload.clone();
    ok(daemon.cli(&["logout", "cli1"]));
    let fresh = daemon.qr_payload("cli1").await;
    assert_ne!(fresh, old_payload);
    let status = daemon.status("cli1").await;
    assert_eq!(status["phoneNumber"], serde_json::Value::Null, "{status}");
    assert_eq!(status["status"], "SCAN_QR_CODE");

    let killed = ok(daemon.cli(&["kill", "cli1"]));
    assert!(stdout(&killed).contains("STOPPED"), "{}", stdout(&killed));
    assert_eq!(daemon.processes_of("cli1"), vec![]);
    assert_eq!(
        json_of(&ok(daemon.cli(&["kill", "cli1", "--json"])))["status"],
        "STOPPED"
    );
    ok(daemon.cli(&["delete", "cli1"]));
    assert_eq!(
        json_of(&ok(daemon.cli(&["list", "--json"])))["sessions"],
        json!([])
    );

    // sweep refuses while a daemon serves the directory.
    let refused = Command::new(bin("wamux"))
        .arg("sweep")
        .arg("--data-dir")
        .arg(daemon.data_dir.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(75));
}

/// A real Chromium on `profile`, in its own process group so the test can always end it.
fn plant_browser(profile: &std::path::Path) -> std::process::Child {
    let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("Chromium is installed");
    Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("starting Chromium")
}

struct Planted(std::process::Child);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_kills_a_planted_orphan_and_nothing_else() {
    let data = TempDir::new("sweep");
    let elsewhere = TempDir::new("elsewhere");
    let orphan_profile = data.path().join("sessions/lost/profile");
    let other_profile = elsewhere.path().join("sessions/lost/profile");
    let _orphan = Planted(plant_browser(&orphan_profile));
    let _other = Planted(plant_browser(&other_profile));
    let needle = |p: &std::path::Path| format!("--user-data-dir={}", p.display());
    eventually("both browsers running", DEADLINE, || async {
        (!processes_mentioning(&needle(&orphan_profile)).is_empty()
            && !processes_mentioning(&needle(&other_profile)).is_empty())
        .then_some(())
    })
    .await;

    let out = ok(Command::new(bin("wamux"))
        .arg("sweep")
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap());
    assert!(stdout(&out).starts_with("killed "), "{}", stdout(&out));
    assert_eq!(
        processes_mentioning(&needle(&orphan_profile)),
        vec![],
        "the orphan is gone"
    );
    assert!(
        !processes_mentioning(&needle(&other_profile)).is_empty(),
        "the other browser lives"
    );
}
