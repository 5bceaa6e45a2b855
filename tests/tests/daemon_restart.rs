//! The daemon's own end: `kill -9` leaves no browser past the next start's sweep, SIGTERM
//! leaves none at all, and either way the next start restores the linked sessions.

use wamux_e2e::*;

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_the_daemon_then_a_restart_restores_both_sessions() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("uno").await;
    daemon.create("dos").await;
    daemon.link(&fake, "uno", "5215512340011").await;
    daemon.link(&fake, "dos", "5215512340012").await;
    let mut old_browsers = Vec::new();
    let mut old_trees = Vec::new();
    for id in ["uno", "dos"] {
        old_browsers.extend(
            daemon
                .processes_of(id)
                .into_iter()
                .filter(|(_, cmdline)| cmdline.contains("--user-data-dir="))
                .filter_map(|(pid, _)| Proc::of(pid)),
        );
        old_trees.extend(daemon.worker_tree(id).await);
    }
    assert!(!old_browsers.is_empty());
    let restarts: Vec<u64> = vec![
        daemon.detail("uno").await["restarts"].as_u64().unwrap(),
        daemon.detail("dos").await["restarts"].as_u64().unwrap(),
    ];

    daemon.kill9();
    daemon.restart(&fake.url(), &[]);
    // The new daemon answers only after its start-up sweep.
    let survivors: Vec<_> = old_browsers.iter().filter(|p| alive(**p)).collect();
    assert!(
        survivors.is_empty(),
        "old browsers outlived the sweep: {survivors:?}"
    );
    all_gone("the old workers and chromedrivers to be gone", &old_trees).await;

    // A restored session is a first start for the new daemon: its count starts from the store.
    for (id, phone, before) in [
        ("uno", "5215512340011", restarts[0]),
        ("dos", "5215512340012", restarts[1]),
    ] {
        let d = eventually(&format!("{id} restored WORKING"), DEADLINE, || async {
            let d = daemon.detail(id).await;
            assert_ne!(d["status"], "SCAN_QR_CODE", "{id} asked for a new QR: {d}");
            (d["status"] == "WORKING").then_some(d)
        })
        .await;
        assert_eq!(d["phoneNumber"], phone);
        assert!(d["restarts"].as_u64().unwrap() >= before);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_and_the_next_start_restores() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("tres").await;
    daemon.link(&fake, "tres", "5215512340013").await;
    let tree = daemon.worker_tree("tres").await;

    let status = daemon.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let dir = daemon.data_dir.path().to_string_lossy().into_owned();
    assert_eq!(
        processes_mentioning(&dir),
        vec![],
        "processes left after SIGTERM"
    );
    let survivors: Vec<_> = tree.iter().filter(|p| alive(**p)).collect();
    assert!(survivors.is_empty(), "{survivors:?}");

    daemon.restart(&fake.url(), &[]);
    let d = eventually("tres restored WORKING", DEADLINE, || async {
        let d = daemon.detail("tres").await;
        assert_ne!(d["status"], "SCAN_QR_CODE", "a new QR was asked for: {d}");
        (d["status"] == "WORKING").then_some(d)
    })
    .await;
    assert_eq!(d["phoneNumber"], "5215512340013");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_dies_with_its_daemon_and_takes_its_browsers_along() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("cuatro").await;
    daemon.link(&fake, "cuatro", "5215512340014").await;
    let tree = daemon.worker_tree("cuatro").await;
    assert!(tree.len() >= 3, "{tree:?}");

    // No next start to sweep: the worker must notice on its own, whatever its log pipe does.
    daemon.kill9();
    all_gone("the worker's whole tree to end with the daemon", &tree).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_forces_the_stop_and_still_leaves_no_browser() {
    let fake = fake(FakeConfig::default()).await;
    let mut daemon = Daemon::start(&fake.url(), &[]);
    daemon.create("cinco").await;
    daemon.wait_status("cinco", "SCAN_QR_CODE").await;
    let tree = daemon.worker_tree("cinco").await;

    let status = daemon.signal_twice();
    assert_eq!(
        status.code(),
        Some(130),
        "a forced stop says so: {status:?}"
    );
    all_gone("the forced stop to take every browser", &tree).await;
}
