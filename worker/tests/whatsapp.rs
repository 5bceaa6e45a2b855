//! The worker with a real chromedriver and Chromium against the in-process fake WhatsApp Web,
//! the test acting as the supervisor. Each test runs one browser at a time, so the default two
//! test threads keep at most two browsers running.

mod common;

use std::time::Duration;

use common::{
    Fake, Launch, PHONE, TempDir, Worker, assert_no_process_on, killed_while_pending,
    linked_worker, text_command,
};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use wamux_fake_web::{FakeConfig, Modules, Variant};
use wamux_proto::{Ack, Attempt, EnginePath, Engines, SendError, SupervisorCommand, WorkerEvent};

const FRIEND: &str = "5215550001111";
const STRANGER: &str = "5215559999999";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn count(events: &[WorkerEvent], which: impl Fn(&WorkerEvent) -> bool) -> usize {
    events.iter().filter(|e| which(e)).count()
}

const ALL_MODULES: Engines = Engines {
    state: EnginePath::Modules,
    incoming: EnginePath::Modules,
    acks: EnginePath::Modules,
    send: EnginePath::Modules,
};

/// The engines the worker last reported.
fn engines(worker: &Worker) -> Option<Engines> {
    worker.events.iter().rev().find_map(|e| match e {
        WorkerEvent::Engine(engines) => Some(*engines),
        _ => None,
    })
}

#[tokio::test]
async fn a_scanned_session_sends_receives_takes_back_a_conflict_and_survives_a_restart() {
    let fake = Fake::start(FakeConfig::default()).await;
    let profile_dir = TempDir::new("profile");
    let profile = profile_dir.path().join("session");
    let url = fake.url();
    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let mut worker = Worker::start(launch).await;

    worker
        .expect("Starting", secs(10), |e| {
            (*e == WorkerEvent::Starting).then_some(())
        })
        .await;
    let browser_pid = worker
        .expect("BrowserStarted", secs(60), |e| match e {
            WorkerEvent::BrowserStarted {
                chromedriver_pid,
                browser_pid,
            } => {
                assert!(*chromedriver_pid > 0);
                *browser_pid
            }
            _ => None,
        })
        .await;
    let browser_cmdline = std::fs::read(format!("/proc/{browser_pid}/cmdline")).unwrap();
    let browser_cmdline = String::from_utf8_lossy(&browser_cmdline);
    assert!(browser_cmdline.contains(&format!("--user-data-dir={}", profile.display())));
    assert!(!browser_cmdline.contains("--type="));

    let payload = worker.next_qr(secs(30)).await;
    fake.scan(&payload, PHONE).await;
    assert_eq!(worker.expect_ready(secs(30)).await, PHONE);
    assert_eq!(engines(&worker), Some(ALL_MODULES), "{:?}", worker.events);
    let loads = fake.page_loads().await;

    let text = "Hola ñandú & co? 100% \"sure\" #1";
    let sent = worker.send_text(1, FRIEND, text).await.expect("sent");
    let log = fake.sent(PHONE).await;
    assert_eq!(log.len(), 1, "sent exactly once: {log:?}");
    assert_eq!(log[0]["id"], json!(sent.message_id));
    assert_eq!(log[0]["to"], json!(FRIEND));
    assert_eq!(log[0]["text"], json!(text));

    let (status, _) = fake
        .post("/__fake/invalid-numbers", json!({"numbers": [STRANGER]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        worker.send_text(2, STRANGER, "anyone?").await,
        Err(SendError::NotOnWhatsApp)
    );
    let second = worker.send_text(3, FRIEND, "second").await.expect("sent");
    assert_ne!(second.message_id, sent.message_id);
    assert_eq!(fake.sent(PHONE).await.len(), 2);
    assert_eq!(
        fake.page_loads().await,
        loads,
        "sends through the modules load no page"
    );

    let sender = "5215550002222";
    let first_id = fake
        .incoming(json!({"to": PHONE, "from": sender, "name": "Ana", "text": "hi there"}))
        .await;
    let incoming = worker
        .expect("Incoming", secs(30), |e| match e {
            WorkerEvent::Incoming(message) => Some((**message).clone()),
            _ => None,
        })
        .await;
    assert_eq!(incoming.message_id, first_id);
    assert_eq!(incoming.chat_id, format!("{sender}@c.us"));
    assert_eq!(incoming.text, "hi there");
    assert_eq!(incoming.name.as_deref(), Some("Ana"));
    assert_eq!(incoming.kind, "chat");
    assert!(incoming.timestamp.is_some_and(|t| t > 1_700_000_000));
    fake.incoming(json!({"to": PHONE, "from": sender, "name": "Ana", "text": "and again"}))
        .await;
    let again = worker
        .expect("a second Incoming", secs(30), |e| match e {
            WorkerEvent::Incoming(message) => Some((**message).clone()),
            _ => None,
        })
        .await;
    assert_eq!(again.text, "and again");
    // Read through the modules: the phone still shows both unread, no chat was opened.
    let chat = fake.chat(PHONE, &format!("{sender}@c.us")).await;
    assert_eq!(
        (&chat["unread"], &chat["opened"], &chat["seen"]),
        (&json!(2), &json!(0), &json!(0)),
        "{chat}"
    );
    fake.incoming(
        json!({"to": PHONE, "from": sender, "name": "Ana", "text": "in the group",
                         "group": "120363000000000001", "group_name": "Ventas"}),
    )
    .await;
    let in_group = worker
        .expect("a group Incoming", secs(30), |e| match e {
            WorkerEvent::Incoming(message) if message.text == "in the group" => {
                Some(message.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(in_group.chat_id, "120363000000000001@g.us");
    assert_eq!(in_group.author.as_deref(), Some(&*format!("{sender}@c.us")));

    let (status, _) = fake.post("/__fake/conflict", json!({"phone": PHONE})).await;
    assert_eq!(status, 200);
    worker
        .expect("Conflict", secs(30), |e| {
            (*e == WorkerEvent::Conflict).then_some(())
        })
        .await;
    assert_eq!(worker.expect_ready(secs(30)).await, PHONE);
    let readies = count(&worker.events, |e| matches!(e, WorkerEvent::Ready { .. }));
    assert_eq!(readies, 2, "once when linked, once after the conflict");
    let incomings = count(&worker.events, |e| matches!(e, WorkerEvent::Incoming(_)));
    assert_eq!(incomings, 3, "each message once");

    worker.shut_down().await;
    drop(worker);

    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let mut worker = Worker::start(launch).await;
    assert_eq!(worker.expect_ready(secs(60)).await, PHONE);
    assert_eq!(
        count(&worker.events, |e| matches!(e, WorkerEvent::Qr { .. })),
        0
    );
    worker.shut_down().await;
    fake.server.shutdown().await;
}

#[tokio::test]
async fn qr_codes_rotate_and_expire_on_a_moved_profile_and_an_unlinked_session_cannot_send() {
    let config = FakeConfig {
        qr_first: secs(3),
        qr_next: secs(1),
        qr_count: 3,
        ..FakeConfig::default()
    };
    let fake = Fake::start(config).await;
    let url = fake.url();
    // A profile last used by a container under another hostname: Chromium refuses its lock.
    let profile_dir = TempDir::new("profile");
    let profile = profile_dir.path().join("moved");
    std::fs::create_dir_all(&profile).unwrap();
    for (name, target) in [
        ("SingletonLock", "some-other-host-4242"),
        (
            "SingletonSocket",
            "/tmp/org.chromium.Chromium.gone/SingletonSocket",
        ),
        ("SingletonCookie", "1234567890"),
    ] {
        std::os::unix::fs::symlink(target, profile.join(name)).unwrap();
    }
    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let mut worker = Worker::start(launch).await;

    let first = worker.next_qr(secs(60)).await;
    assert_eq!(
        worker.send_text(1, FRIEND, "too early").await,
        Err(SendError::NotLinked)
    );
    let second = worker.next_qr(secs(10)).await;
    let third = worker.next_qr(secs(10)).await;
    assert!(first != second && second != third && first != third);
    worker
        .expect("QrExpired", secs(10), |e| match e {
            WorkerEvent::Qr { .. } => panic!("a fourth QR in a cycle of three"),
            WorkerEvent::QrExpired => Some(()),
            _ => None,
        })
        .await;
    let fresh = worker.next_qr(secs(10)).await;
    assert!(![&first, &second, &third].contains(&&fresh));
    assert_eq!(count(&worker.events, |e| *e == WorkerEvent::QrExpired), 1);
    fake.scan(&fresh, PHONE).await;
    assert_eq!(worker.expect_ready(secs(30)).await, PHONE);

    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit(secs(15)).await;
    assert!(status.success(), "{status}");
    assert_no_process_on(&worker.profile, secs(10)).await;
    fake.server.shutdown().await;
}

#[tokio::test]
async fn the_legacy_site_pairs_by_code_sends_and_logs_out() {
    let config = FakeConfig {
        variant: Variant::Legacy,
        modules: Modules::Older,
        boot_min: Duration::from_millis(1000),
        boot_max: Duration::from_millis(2500),
        ..FakeConfig::default()
    };
    let fake = Fake::start(config).await;
    let url = fake.url();
    // A profile last used by a container under another hostname: Chromium refuses its lock.
    let profile_dir = TempDir::new("profile");
    let profile = profile_dir.path().join("moved");
    std::fs::create_dir_all(&profile).unwrap();
    for (name, target) in [
        ("SingletonLock", "some-other-host-4242"),
        (
            "SingletonSocket",
            "/tmp/org.chromium.Chromium.gone/SingletonSocket",
        ),
        ("SingletonCookie", "1234567890"),
    ] {
        std::os::unix::fs::symlink(target, profile.join(name)).unwrap();
    }
    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let mut worker = Worker::start(launch).await;

    let first = worker.next_qr(secs(60)).await;
    worker
        .command(SupervisorCommand::RequestPairingCode {
            phone_number: PHONE.into(),
        })
        .await;
    let code = worker
        .expect("PairingCode", secs(30), |e| match e {
            WorkerEvent::PairingCode { code } => Some(code.clone()),
            _ => None,
        })
        .await;
    assert_eq!(code.len(), 8, "{code}");
    assert!(!code.contains(','));
    let (status, answer) = fake
        .post("/__fake/link-code", json!({"code": code, "phone": PHONE}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(worker.expect_ready(secs(30)).await, PHONE);

    let sent = worker
        .send_text(7, FRIEND, "from the old site")
        .await
        .expect("sent");
    let log = fake.sent(PHONE).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["id"], json!(sent.message_id));
    fake.post("/__fake/invalid-numbers", json!({"numbers": [STRANGER]}))
        .await;
    assert_eq!(
        worker.send_text(8, STRANGER, "hello?").await,
        Err(SendError::NotOnWhatsApp)
    );

    let (status, _) = fake.post("/__fake/unlink", json!({"phone": PHONE})).await;
    assert_eq!(status, 200);
    worker
        .expect("LoggedOut", secs(30), |e| {
            (*e == WorkerEvent::LoggedOut).then_some(())
        })
        .await;
    let after = worker.next_qr(secs(30)).await;
    assert_ne!(after, first);
    assert_eq!(
        worker.send_text(9, FRIEND, "gone").await,
        Err(SendError::NotLinked)
    );

    worker.hang_up();
    let status = worker.wait_exit(secs(15)).await;
    assert!(status.success(), "{status}");
    assert_no_process_on(&worker.profile, secs(10)).await;
    fake.server.shutdown().await;
}

/// Asks for a pairing code for `phone` and returns the code the worker reports.
async fn pairing_code(worker: &mut Worker, phone: &str) -> String {
    worker
        .command(SupervisorCommand::RequestPairingCode {
            phone_number: phone.into(),
        })
        .await;
    worker
        .expect("PairingCode", secs(30), |e| match e {
            WorkerEvent::PairingCode { code } => Some(code.clone()),
            WorkerEvent::PairingCodeFailed { reason } => panic!("no pairing code: {reason}"),
            _ => None,
        })
        .await
}

/// A code asked for again for the same number is the one on show, the page left as it is; one
/// asked for another number is a new code from a page opened again, never the first number's,
/// and it links that number.
#[tokio::test]
async fn a_pairing_code_for_another_number_is_that_numbers_own() {
    let fake = Fake::start(FakeConfig {
        // Codes outlive the test: each one the page shows is the code that was asked for.
        link_code_ttl: secs(600),
        ..FakeConfig::default()
    })
    .await;
    let url = fake.url();
    let mut worker = Worker::start(Launch::new(&url)).await;
    worker.next_qr(secs(60)).await;

    let first = pairing_code(&mut worker, FRIEND).await;
    let loads = fake.page_loads().await;
    assert_eq!(pairing_code(&mut worker, FRIEND).await, first);
    assert_eq!(
        fake.page_loads().await,
        loads,
        "the page was left as it was"
    );

    let second = pairing_code(&mut worker, PHONE).await;
    assert_ne!(second, first, "not the code asked for {FRIEND}");
    assert!(fake.page_loads().await > loads, "the page was opened again");
    let (status, answer) = fake
        .post("/__fake/link-code", json!({"code": first, "phone": FRIEND}))
        .await;
    assert!(
        matches!(status, 404 | 410),
        "the first code went with its page: {status} {answer}"
    );
    let (status, answer) = fake
        .post("/__fake/link-code", json!({"code": second, "phone": PHONE}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(worker.expect_ready(secs(30)).await, PHONE);

    worker.shut_down().await;
    fake.server.shutdown().await;
}

#[tokio::test]
async fn a_refusing_page_or_a_dying_browser_is_fatal_and_leaves_nothing_behind() {
    let fake = Fake::start(FakeConfig::default()).await;
    let url = fake.url();

    let mut launch = Launch::new(&url);
    let agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
    launch.user_agent = Some(agent);
    let mut worker = Worker::start(launch).await;
    let reason = worker.expect_fatal(secs(60)).await;
    assert!(reason.contains("works with Google Chrome"), "{reason}");
    let status = worker.wait_exit(secs(15)).await;
    assert!(!status.success(), "{status}");
    assert_no_process_on(&worker.profile, secs(10)).await;
    drop(worker);

    for victim in ["browser", "chromedriver"] {
        let mut worker = Worker::start(Launch::new(&url)).await;
        let (chromedriver_pid, browser_pid) = worker
            .expect("BrowserStarted", secs(60), |e| match e {
                WorkerEvent::BrowserStarted {
                    chromedriver_pid,
                    browser_pid,
                } => Some((*chromedriver_pid, browser_pid.expect("a browser pid"))),
                _ => None,
            })
            .await;
        worker.next_qr(secs(30)).await;
        let pid = if victim == "browser" {
            browser_pid
        } else {
            chromedriver_pid
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let reason = worker.expect_fatal(secs(60)).await;
        eprintln!("{victim} killed: {reason}");
        let status = worker.wait_exit(secs(15)).await;
        assert!(!status.success(), "{status}");
        assert_no_process_on(&worker.profile, secs(10)).await;
    }
    fake.server.shutdown().await;
}

/// A supervisor that dies leaves the worker writing its log into a broken pipe; the worker
/// must still stop on SIGTERM (the signal its parent's death sends) and take its browser along.
#[tokio::test]
async fn a_worker_whose_log_pipe_broke_still_stops_on_sigterm() {
    let fake = Fake::start(FakeConfig::default()).await;
    let url = fake.url();
    let mut launch = Launch::new(&url);
    launch.stderr_closed = true;
    let mut worker = Worker::start(launch).await;
    worker.next_qr(Duration::from_secs(60)).await;
    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    assert_no_process_on(&worker.profile, Duration::from_secs(5)).await;
}

/// The phone acknowledges `id` as delivered, then read: the worker reports each once, in order.
async fn acks_follow(fake: &Fake, worker: &mut Worker, id: &str) {
    for (status, ack) in [("delivered", Ack::Delivered), ("read", Ack::Read)] {
        let (code, _) = fake
            .post("/__fake/ack", json!({"id": id, "status": status}))
            .await;
        assert_eq!(code, 200);
        let got = worker
            .expect("an Ack", secs(20), |e| match e {
                WorkerEvent::Ack { message_id, ack } => Some((message_id.clone(), *ack)),
                _ => None,
            })
            .await;
        assert_eq!(got, (id.to_owned(), ack));
    }
}

/// A worker killed after the fake received a message, while it still shows " Pending ": the
/// next worker, told to resume with the attempt's snapshot, finds the row and sends nothing;
/// with that row in the snapshot it sends anew. Later statuses of a sent message become `Ack`s.
#[tokio::test]
async fn a_resumed_send_finds_the_message_that_went_out_and_acks_follow() {
    let fake = Fake::start(FakeConfig {
        ack_delay: secs(4),
        modules: Modules::None,
        ..FakeConfig::default()
    })
    .await;
    let url = fake.url();
    let profile_dir = TempDir::new("profile");
    let profile = profile_dir.path().join("session");
    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let worker = linked_worker(&fake, launch).await;

    let text = "only  once,\tplease";
    let command = text_command(1, FRIEND, text, None);
    let (mut worker, attempt, first_id) =
        killed_while_pending(&fake, worker, &url, 1, command).await;
    assert_eq!(attempt, Attempt::default(), "a new chat, through the DOM");
    let (outcome, again) = worker.send(1, FRIEND, text, Some(attempt)).await;
    assert_eq!(outcome.expect("found").message_id, first_id);
    assert_eq!(again, None, "nothing was sent");
    assert_eq!(fake.sent(PHONE).await.len(), 1, "no second copy");

    let snapshot = Attempt {
        seen: vec![first_id.clone()],
        planned: None,
    };
    let (outcome, attempt) = worker.send(2, FRIEND, text, Some(snapshot.clone())).await;
    let second_id = outcome.expect("sent anew").message_id;
    assert_ne!(second_id, first_id);
    assert_eq!(attempt, Some(snapshot));
    let sent = fake.sent(PHONE).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["id"], json!(second_id));

    acks_follow(&fake, &mut worker, &second_id).await;
    worker.command(SupervisorCommand::Shutdown).await;
    assert!(worker.wait_exit(secs(15)).await.success());
    let acks = count(&worker.events, |e| matches!(e, WorkerEvent::Ack { .. }));
    assert_eq!(acks, 2, "each status once: {:?}", worker.events);
    assert_no_process_on(&profile, secs(10)).await;
    fake.server.shutdown().await;
}

/// A row that shows after the snapshot with other text is never taken for ours; a send whose
/// attempt the supervisor never records times out with nothing sent.
#[tokio::test]
async fn a_late_row_is_not_ours_and_an_unrecorded_attempt_sends_nothing() {
    let fake = Fake::start(FakeConfig {
        modules: Modules::None,
        ..FakeConfig::default()
    })
    .await;
    let url = fake.url();
    let mut launch = Launch::new(&url);
    launch.send_timeout_secs = 10;
    let mut worker = linked_worker(&fake, launch).await;

    let (code, late) = fake
        .post(
            "/__fake/late-row",
            json!({"from": PHONE, "to": FRIEND, "text": "typed on the phone"}),
        )
        .await;
    assert_eq!(code, 200);
    let late_id = late["id"].as_str().unwrap().to_owned();
    let text = "ours, not the late one";
    let ours = worker.send_text(1, FRIEND, text).await.expect("sent");
    assert_ne!(ours.message_id, late_id);
    let sent = fake.sent(PHONE).await;
    let texts: Vec<_> = sent
        .iter()
        .map(|m| (m["id"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        texts,
        [
            (json!(late_id), json!("typed on the phone")),
            (json!(ours.message_id), json!(text)),
        ]
    );

    worker.begin_send(2, FRIEND, "never pressed", false).await;
    let outcome = worker
        .expect("the send result", secs(30), |e| match e {
            WorkerEvent::SendResult {
                request_id: 2,
                outcome,
            } => Some(outcome.clone()),
            _ => None,
        })
        .await;
    assert_eq!(outcome, Err(SendError::Timeout));
    worker
        .command(SupervisorCommand::AttemptRecorded { request_id: 2 })
        .await;
    let after = worker
        .send_text(3, FRIEND, "after the timeout")
        .await
        .expect("sent");
    let texts: Vec<String> = fake
        .sent(PHONE)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["typed on the phone", text, "after the timeout"]);
    assert_eq!(fake.sent(PHONE).await[2]["id"], json!(after.message_id));

    worker.shut_down().await;
    fake.server.shutdown().await;
}

/// Through the modules: a worker killed while its message still shows pending is resumed by
/// the planned id, which the next worker finds and does not send again; a planned id that never
/// went out is sent under that very id, once. Acks arrive for a chat nobody opened.
#[tokio::test]
async fn a_planned_id_makes_a_resumed_send_through_the_modules_go_out_once() {
    let fake = Fake::start(FakeConfig {
        ack_delay: secs(4),
        ..FakeConfig::default()
    })
    .await;
    let url = fake.url();
    let profile_dir = TempDir::new("profile");
    let profile = profile_dir.path().join("session");
    let mut launch = Launch::new(&url);
    launch.profile = Some(&profile);
    let worker = linked_worker(&fake, launch).await;
    assert_eq!(engines(&worker), Some(ALL_MODULES));

    let text = "una sola vez";
    let command = text_command(1, FRIEND, text, None);
    let (mut worker, attempt, sent_id) =
        killed_while_pending(&fake, worker, &url, 1, command).await;
    let planned = attempt.planned.clone().expect("a planned id");
    assert!(attempt.seen.is_empty());
    assert_eq!(sent_id, planned);
    let (outcome, again) = worker.send(1, FRIEND, text, Some(attempt)).await;
    assert_eq!(outcome.expect("found").message_id, planned);
    assert_eq!(again, None, "found in the page, nothing sent");
    assert_eq!(fake.sent(PHONE).await.len(), 1, "no second copy");

    let never_sent = Attempt {
        seen: Vec::new(),
        planned: Some("3EB0C0FFEE0000000001".into()),
    };
    let (outcome, recorded) = worker
        .send(2, FRIEND, "otra", Some(never_sent.clone()))
        .await;
    assert_eq!(outcome.expect("sent").message_id, "3EB0C0FFEE0000000001");
    assert_eq!(
        recorded,
        Some(never_sent.clone()),
        "sent under the planned id"
    );
    let (outcome, _) = worker.send(2, FRIEND, "otra", Some(never_sent)).await;
    assert_eq!(outcome.expect("found").message_id, "3EB0C0FFEE0000000001");
    let ids: Vec<Value> = fake
        .sent(PHONE)
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!(planned), json!("3EB0C0FFEE0000000001")]);

    acks_follow(&fake, &mut worker, &planned).await;
    let chat = fake.chat(PHONE, &format!("{FRIEND}@c.us")).await;
    assert_eq!(
        (&chat["opened"], &chat["seen"]),
        (&json!(0), &json!(0)),
        "{chat}"
    );
    worker.shut_down().await;
    fake.server.shutdown().await;
}

/// A module dropped between two page loads: after the next load the worker sends through the
/// DOM and says so; restored, the load after the next send brings the modules back. Nothing is
/// sent twice, no incoming message is lost.
#[tokio::test]
async fn a_module_that_disappears_moves_its_capability_to_the_dom_and_back() {
    let fake = Fake::start(FakeConfig::default()).await;
    let url = fake.url();
    let mut worker = linked_worker(&fake, Launch::new(&url)).await;
    assert_eq!(engines(&worker), Some(ALL_MODULES));
    let first = worker
        .send_text(1, FRIEND, "por módulos")
        .await
        .expect("sent");

    let (code, answer) = fake
        .post(
            "/__fake/modules",
            json!({"drop": ["WAWebSendMsgChatAction"]}),
        )
        .await;
    assert_eq!(code, 200, "{answer}");
    // A conflict taken back reloads the page: the next load lacks the module.
    fake.post("/__fake/conflict", json!({"phone": PHONE})).await;
    let dom_send = Engines {
        send: EnginePath::Dom,
        ..ALL_MODULES
    };
    worker
        .expect("the send on the DOM", secs(60), |e| {
            (*e == WorkerEvent::Engine(dom_send)).then_some(())
        })
        .await;
    assert_eq!(worker.expect_ready(secs(30)).await, PHONE);
    let loads = fake.page_loads().await;
    let second = worker
        .send_text(2, FRIEND, "por el DOM")
        .await
        .expect("sent");
    assert!(fake.page_loads().await > loads, "the DOM path navigates");

    let incoming_id = fake
        .incoming(
            json!({"to": PHONE, "from": "5215550002222", "name": "Ana", "text": "¿sigue ahí?"}),
        )
        .await;
    worker
        .expect("the Incoming", secs(30), |e| match e {
            WorkerEvent::Incoming(m) if m.message_id == incoming_id => Some(()),
            _ => None,
        })
        .await;

    fake.post(
        "/__fake/modules",
        json!({"restore": ["WAWebSendMsgChatAction"]}),
    )
    .await;
    let third = worker
        .send_text(3, FRIEND, "aún por el DOM")
        .await
        .expect("sent");
    worker
        .expect("the modules back", secs(60), |e| {
            (*e == WorkerEvent::Engine(ALL_MODULES)).then_some(())
        })
        .await;
    let fourth = worker
        .send_text(4, FRIEND, "de vuelta")
        .await
        .expect("sent");
    let ids: Vec<Value> = fake
        .sent(PHONE)
        .await
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [first, second, third, fourth].map(|m| json!(m.message_id)),
        "each once, in order"
    );
    worker.shut_down().await;
    fake.server.shutdown().await;
}
