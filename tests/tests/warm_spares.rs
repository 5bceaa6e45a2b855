//! Warm spares (`--warm-spares`): browsers started ahead on fresh profiles, their QR on show.
//! A new session takes one: its QR is the spare's, its worker and profile are the spare's from
//! then on, and a new spare starts behind it. Spares are no sessions, and none outlives the
//! daemon: a clean stop ends them, and the start after a `kill -9` sweeps them and removes
//! the folders no session took.

use std::path::PathBuf;

use serde_json::json;
use wamux_e2e::*;

/// The daemon's warm spares ready to be taken, as `/api/stats` counts them.
async fn ready(daemon: &Daemon) -> u64 {
    let (code, stats) = daemon.get("/api/stats").await;
    assert_eq!(code, 200, "{stats}");
    stats["warmSpares"]["ready"]
        .as_u64()
        .expect("warmSpares.ready")
}

async fn until_ready(daemon: &Daemon, n: u64) {
    eventually(&format!("{n} warm spare(s) ready"), DEADLINE, || async {
        (ready(daemon).await == n).then_some(())
    })
    .await;
}

fn sessions_dir(daemon: &Daemon) -> PathBuf {
    daemon
        .data_dir
        .path()
        .canonicalize()
        .expect("data dir exists")
        .join("sessions")
}

/// The workers that run as warm spares of this daemon (named `spare.HEX`): (pid, name).
fn spare_workers(daemon: &Daemon) -> Vec<(u32, String)> {
    let dir = format!("--profile-dir {}/", sessions_dir(daemon).display());
    processes_mentioning(&dir)
        .into_iter()
        .filter(|(_, line)| line.contains("wamux-worker"))
        .filter_map(|(pid, line)| {
            let name = line.split("--session-id ").nth(1)?.split(' ').next()?;
            name.starts_with("spare.").then(|| (pid, name.to_owned()))
        })
        .collect()
}

/// The folders under `sessions/` named like a spare's.
fn spare_folders(daemon: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sessions_dir(daemon))
        .expect("the sessions folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("spare."))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_session_takes_a_warm_spare_with_its_qr_and_keeps_its_profile() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &["--warm-spares", "1", "--max-sessions", "1"]);
    until_ready(&daemon, 1).await;
    let (_, list) = daemon.get("/api/sessions").await;
    assert_eq!(list["sessions"], json!([]), "a spare is no session");
    let spares = spare_workers(&daemon);
    assert_eq!(spares.len(), 1, "{spares:?}");
    let (spare_pid, spare) = spares[0].clone();

    daemon.create("uno").await;
    let d = eventually("uno's worker", DEADLINE, || async {
        let d = daemon.detail("uno").await;
        d["workerPid"].is_u64().then_some(d)
    })
    .await;
    assert_eq!(
        d["workerPid"], spare_pid,
        "the session runs on the spare's worker: {d}"
    );
    let qr = daemon.qr_payload("uno").await;
    assert!(!qr.is_empty());
    assert_eq!(daemon.status("uno").await["status"], "SCAN_QR_CODE");
    // The spare's page is the session's: its QR links it.
    daemon.link(&fake, "uno", "5215512349001").await;

    // A new spare behind it, and spares count against no limit of sessions.
    until_ready(&daemon, 1).await;
    // The taken worker keeps its name: the spares now are the others.
    let next: Vec<_> = spare_workers(&daemon)
        .into_iter()
        .filter(|(pid, _)| *pid != spare_pid)
        .collect();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_ne!(next[0].1, spare, "a fresh spare, on a fresh profile");
    let (code, body) = daemon
        .post("/api/sessions", json!({"sessionId": "dos"}))
        .await;
    assert_eq!(code, 429, "{body}");

    // The profile the session took is its own: a clean restart comes back linked, on it.
    let (code, body) = daemon.post("/api/sessions/uno/restart", json!({})).await;
    assert_eq!(code, 200, "{body}");
    let d = eventually("uno WORKING on a new worker", DEADLINE, || async {
        let d = daemon.detail("uno").await;
        assert_ne!(d["status"], "SCAN_QR_CODE", "a new QR was asked for: {d}");
        let new_worker = d["workerPid"].is_u64() && d["workerPid"] != spare_pid;
        (new_worker && d["status"] == "WORKING").then_some(d)
    })
    .await;
    assert_eq!(d["phoneNumber"], "5215512349001");
    let profile = daemon.profile(&spare);
    let on_it = processes_mentioning(&format!("--user-data-dir={}", profile.display()));
    assert!(
        !on_it.is_empty(),
        "the restarted browser runs on the spare's profile"
    );

    // Deleting the session removes the folder it took.
    let (code, body) = daemon
        .call(reqwest::Method::DELETE, "/api/sessions/uno", None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(!sessions_dir(&daemon).join(&spare).exists());

    // A clean stop ends the spare and removes its folder.
    assert!(daemon.terminate().success());
    let dir = format!("{}/", daemon.data_dir.path().display());
    assert_eq!(
        processes_mentioning(&dir),
        vec![],
        "processes left after SIGTERM"
    );
    assert_eq!(spare_folders(&daemon), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_kill_9_spares_are_swept_and_only_a_taken_one_is_kept() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &["--warm-spares", "1"]);
    until_ready(&daemon, 1).await;
    let (taken_pid, taken) = spare_workers(&daemon)[0].clone();
    daemon.create("uno").await;
    daemon.qr_payload("uno").await;
    until_ready(&daemon, 1).await;
    let waiting: Vec<_> = spare_workers(&daemon)
        .into_iter()
        .filter(|(pid, _)| *pid != taken_pid)
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let left = waiting[0].1.clone();
    let mut old = vec![taken.clone(), left.clone()];
    old.sort();
    assert_eq!(spare_folders(&daemon), old);

    daemon.kill9();
    daemon.restart(&fake.url(), &[]);
    // The new daemon answers only after its start-up sweep and its restore.
    let spares: Vec<_> = spare_workers(&daemon)
        .into_iter()
        .filter(|(_, name)| *name == left)
        .collect();
    assert_eq!(spares, vec![], "no spare without --warm-spares");
    assert_eq!(
        spare_folders(&daemon),
        vec![taken.clone()],
        "the untaken spare's folder is gone"
    );
    daemon.qr_payload("uno").await;
    let profile = daemon.profile(&taken);
    let on_it = processes_mentioning(&format!("--user-data-dir={}", profile.display()));
    assert!(
        !on_it.is_empty(),
        "the restored session runs on the profile it took"
    );
    assert_eq!(ready(&daemon).await, 0);
}
