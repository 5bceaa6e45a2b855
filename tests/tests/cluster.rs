//! Multi-node mode end to end: `wamux serve` nodes on one PostgreSQL database, with real
//! Chromium against the fake WhatsApp Web. Sessions spread over the nodes and any node answers
//! for any of them, and every node's event stream and webhooks carry the events of every
//! node, each once; a session whose node dies, loses its database or is drained comes back
//! WORKING on another node with its number, without a new scan and without losing a message,
//! and no account ever runs in two browsers at once.
//!
//! They need the PostgreSQL server of `scripts/postgres.sh`: run them through
//! `scripts/test.sh`, or `scripts/postgres.sh cargo nextest run -p wamux-e2e --test cluster`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wamux_e2e::cluster::*;
use wamux_e2e::webhook_receiver::{Received, Receiver, SECRET};
use wamux_e2e::*;

/// Whom every message goes to.
const TO: &str = "5215570000099";

/// The fake phone linked to the `k`th session of a test.
fn phone(k: usize) -> String {
    format!("52155700000{k:02}")
}

/// `POST /api/sessions/{id}/send-message{query}` through `via`.
async fn send(via: &Daemon, id: &str, text: &str, query: &str) -> (u16, Value) {
    via.post(
        &format!("/api/sessions/{id}/send-message{query}"),
        json!({"phoneNumber": TO, "message": text}),
    )
    .await
}

/// How many times the account of `phone` sent `text`, by the fake.
async fn times_sent(fake: &FakeServer, phone: &str, text: &str) -> usize {
    fake_get(fake, &format!("/__fake/sent?from={phone}"))
        .await
        .as_array()
        .expect("a list")
        .iter()
        .filter(|m| m["text"] == text)
        .count()
}

/// Starts a cluster whose node `n1` runs `ids`, linked (session `k` to `phone(k)`) with their
/// profiles saved, then starts `n2`, which owns nothing: it claims only unowned or lapsed
/// sessions.
async fn two_sessions_on_n1_then_n2(fake: &FakeServer, ids: &[&str]) -> Cluster {
    let mut cluster = Cluster::start(&fake.url(), 1, &[]).await;
    let n1 = cluster.node("n1");
    for id in ids {
        n1.create(id).await;
    }
    for (k, id) in ids.iter().enumerate() {
        cluster.link("n1", fake, id, &phone(k)).await;
    }
    cluster.add_node().await;
    let n2 = cluster.node("n2");
    assert_eq!(owned_by(n2, "n1").await, sorted(ids));
    assert_eq!(owned_by(n2, "n2").await, Vec::<String>::new());
    cluster
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn six_sessions_spread_two_per_node_and_any_node_answers_for_any_session() {
    let fake = fake(FakeConfig::default()).await;
    // Room for all six on any node: two each comes from fair claiming, not from a limit.
    let cluster = Cluster::start(&fake.url(), 3, &["--max-sessions", "6"]).await;
    let ids = ["uno", "dos", "tres", "cuatro", "cinco", "seis"];
    let n1 = cluster.node("n1");
    for id in ids {
        n1.create(id).await;
    }

    let owners: BTreeMap<String, String> =
        eventually("two sessions on each node", DEADLINE, || async {
            let listed = nodes(n1).await;
            let mut owners = BTreeMap::new();
            for node in &listed {
                let sessions = node["sessions"].as_array()?;
                if sessions.len() != 2 {
                    return None;
                }
                for s in sessions {
                    owners.insert(s.as_str()?.to_owned(), node["id"].as_str()?.to_owned());
                }
            }
            (listed.len() == 3 && owners.len() == 6).then_some(owners)
        })
        .await;
    let (code, list) = n1.get("/api/sessions").await;
    assert_eq!(code, 200, "{list}");
    for s in list["sessions"].as_array().expect("sessions") {
        let id = s["sessionId"].as_str().expect("an id");
        assert_eq!(s["node"], owners[id].as_str(), "the owner of {id}: {s}");
    }

    // Each linked by its QR code as node 1 forwards it from the owner.
    let mut scanned = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        scanned.push(cluster.scan("n1", &fake, id, &phone(k)).await);
    }
    for (id, browsers) in ids.iter().zip(&scanned) {
        cluster.wait_saved("n1", id, browsers).await;
    }

    for node in ["n1", "n2", "n3"] {
        let (code, list) = cluster.node(node).get("/api/sessions").await;
        assert_eq!(code, 200, "{list}");
        let mut listed: Vec<(String, Value, Value)> = list["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| {
                let id = s["sessionId"].as_str().expect("an id").to_owned();
                (id, s["node"].clone(), s["status"].clone())
            })
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        let expected: Vec<(String, Value, Value)> = owners
            .iter()
            .map(|(id, owner)| (id.clone(), json!(owner), json!("WORKING")))
            .collect();
        assert_eq!(
            listed, expected,
            "{node} lists every session with its owner"
        );
    }

    // Each node's event stream, and an endpoint registered through one node, from before the
    // sends: each carries the events of every node.
    let mut streams = Vec::new();
    for node in ["n1", "n2", "n3"] {
        streams.push((node, EventStream::open(cluster.node(node)).await));
    }
    let receiver = Receiver::start().await;
    let (code, hook) = cluster
        .node("n2")
        .post(
            "/api/webhooks",
            json!({"url": receiver.url, "events": ["*"], "sessions": ["*"], "secret": SECRET}),
        )
        .await;
    assert_eq!(code, 201, "{hook}");

    // Through each node, a message for a session of another node: it leaves from that
    // session's account, once.
    let mut sent: Vec<(String, String)> = Vec::new();
    for (via, owner) in [("n1", "n2"), ("n2", "n3"), ("n3", "n1")] {
        let (k, id) = ids
            .iter()
            .enumerate()
            .find(|(_, id)| owners[**id] == owner)
            .expect("a session on each node");
        let text = format!("por {via} para {id}");
        let node = cluster.node(via);
        let (code, body) = send(node, id, &text, "").await;
        assert!(matches!(code, 200 | 202), "{code} {body}");
        let message = body["id"].as_str().expect("a message id").to_owned();
        node.wait_sent(id, &message).await;
        assert_eq!(times_sent(&fake, &phone(k), &text).await, 1, "{text}");
        sent.push((id.to_string(), message));
    }

    // Each `message.sent` reaches the endpoint once, whichever node delivers it.
    let sent_of = |got: &[Received], message: &str| -> Vec<Received> {
        got.iter()
            .filter(|r| r.body["type"] == "message.sent" && r.body["data"]["id"] == message)
            .cloned()
            .collect()
    };
    let delivered = eventually("a message.sent delivery of each message", DEADLINE, || {
        let got = receiver.delivered(None);
        let all = sent.iter().all(|(_, m)| !sent_of(&got, m).is_empty());
        std::future::ready(all.then_some(got))
    })
    .await;
    let twice = repeated(delivered.iter().map(|r| r.id.as_str()));
    assert!(
        twice.is_empty(),
        "webhook-ids {twice:?} twice: {delivered:#?}"
    );
    let mut hooks = BTreeMap::new();
    for (id, message) in &sent {
        let of = sent_of(&delivered, message);
        assert_eq!(of.len(), 1, "message.sent of {message}: {delivered:#?}");
        assert_eq!(of[0].body["data"]["session"], id.as_str(), "{of:#?}");
        hooks.insert(message, of[0].id.clone());
    }

    // And each `messageSent` reaches every node's stream once, with the id of the event its
    // webhook delivery was made for: one event of the shared log, wherever it happened.
    let sent_on = |got: &[StreamedEvent], message: &str| -> Vec<StreamedEvent> {
        got.iter()
            .filter(|e| e.name == "messageSent" && e.data["id"] == message)
            .cloned()
            .collect()
    };
    for (node, stream) in &streams {
        let got = eventually(
            &format!("each messageSent on {node}'s /api/events"),
            DEADLINE,
            || {
                let got = stream.got();
                let all = sent.iter().all(|(_, m)| !sent_on(&got, m).is_empty());
                std::future::ready(all.then_some(got))
            },
        )
        .await;
        let twice = repeated(got.iter().filter_map(|e| e.id.as_deref()));
        assert!(
            twice.is_empty(),
            "{node}: SSE ids {twice:?} twice: {got:#?}"
        );
        for (id, message) in &sent {
            let of = sent_on(&got, message);
            assert_eq!(of.len(), 1, "{node}: messageSent of {message}: {got:#?}");
            assert_eq!(of[0].data["sessionId"], id.as_str(), "{node}: {of:#?}");
            let event = of[0].id.as_deref().expect("an SSE id");
            assert_eq!(
                format!("msg_{event}"),
                hooks[message],
                "{node}: the event of {message}'s webhook"
            );
        }
    }
    cluster.census.assert_one_browser_each(&ids);
}

/// The ids that occur more than once in `ids`.
fn repeated<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for id in ids {
        *count.entry(id).or_default() += 1;
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sessions_of_a_dead_node_come_back_linked_on_another_with_their_messages() {
    let fake = fake(FakeConfig::default()).await;
    let ids = ["uno", "dos"];
    let mut cluster = two_sessions_on_n1_then_n2(&fake, &ids).await;

    let text = "aceptado antes de morir";
    let (code, body) = send(cluster.node("n1"), "uno", text, "?wait=false").await;
    assert_eq!(code, 202, "{body}");
    let message = body["id"].as_str().expect("a message id").to_owned();
    // The machine dies: no scan is made from here on.
    let died = Instant::now();
    cluster.node_mut("n1").kill_machine();

    let n2 = cluster.node("n2");
    // Its leases hold for a few seconds more (renewed every third of the ttl): meanwhile a
    // request for its sessions cannot reach their owner, and says so.
    let (code, body) = n2.get("/api/sessions/uno/status").await;
    assert!(
        died.elapsed() < LEASE_TTL / 2,
        "the check came too late to mean anything"
    );
    assert_eq!(
        (code, &body["error"]["code"]),
        (503, &json!("owner_unreachable")),
        "{body}"
    );
    for (k, id) in ids.iter().enumerate() {
        let limit = Duration::from_secs(60).saturating_sub(died.elapsed());
        let d = working_on(n2, id, "n2", limit).await;
        assert_eq!(d["phoneNumber"], phone(k).as_str(), "{d}");
    }
    n2.wait_sent("uno", &message).await;
    assert_eq!(times_sent(&fake, &phone(0), text).await, 1, "exactly once");
    eventually("n1 listed dead, owning nothing", DEADLINE, || async {
        let n1 = nodes(n2).await.into_iter().find(|n| n["id"] == "n1")?;
        (n1["alive"] == false && n1["sessions"] == json!([])).then_some(())
    })
    .await;
    cluster.census.assert_one_browser_each(&ids);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_loses_its_database_stops_its_browsers_before_its_leases_lapse() {
    let fake = fake(FakeConfig::default()).await;
    let ids = ["uno", "dos"];
    let cluster = two_sessions_on_n1_then_n2(&fake, &ids).await;
    let n1 = cluster.node("n1");
    let on_n1 = |browsers: Vec<Browser>| -> Vec<Browser> {
        browsers
            .into_iter()
            .filter(|b| b.sessions_dir == n1.sessions_dir())
            .collect()
    };
    let before = on_n1(cluster.census.browsers());
    assert_eq!(before.len(), 2, "{before:?}");

    n1.db.cut();
    // Its last renewal came before the cut, so its leases may lapse within a ttl from now:
    // its browsers must be gone by then.
    eventually(
        "n1's browsers to end within the lease ttl",
        LEASE_TTL,
        || async { on_n1(cluster.census.browsers()).is_empty().then_some(()) },
    )
    .await;
    let n2 = cluster.node("n2");
    for (k, id) in ids.iter().enumerate() {
        let d = working_on(n2, id, "n2", DEADLINE).await;
        assert_eq!(d["phoneNumber"], phone(k).as_str(), "{d}");
    }

    // Back on the database, n1 takes nothing back.
    n1.db.restore();
    eventually("n1 alive again, owning nothing", DEADLINE, || async {
        let n1 = nodes(n2).await.into_iter().find(|n| n["id"] == "n1")?;
        (n1["alive"] == true && n1["sessions"] == json!([])).then_some(())
    })
    .await;
    for id in ids {
        let d = n1.detail(id).await;
        assert_eq!(
            (&d["node"], &d["status"]),
            (&json!("n2"), &json!("WORKING"))
        );
    }
    assert_eq!(on_n1(cluster.census.browsers()), vec![]);
    cluster.census.assert_one_browser_each(&ids);
}

#[tokio::test(flavor = "multi_thread")]
async fn draining_a_node_moves_its_sessions_without_a_scan_or_a_lost_message() {
    let fake = fake(FakeConfig::default()).await;
    let ids = ["uno", "dos"];
    let cluster = two_sessions_on_n1_then_n2(&fake, &ids).await;
    let n2 = cluster.node("n2");

    let (code, body) = n2.post("/api/nodes/nadie/drain", json!({})).await;
    assert_eq!(
        (code, &body["error"]["code"]),
        (404, &json!("node_not_found")),
        "{body}"
    );
    let (code, body) = n2.post("/api/nodes/n1/drain", json!({})).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body, json!({"node": "n1", "draining": true}));

    // A message for a session at each change of its owner or status seen from n2, from the
    // start of the drain until both are WORKING on n2: the moments a message could be lost.
    let mut last: BTreeMap<&str, (Value, Value)> = BTreeMap::new();
    let mut accepted: Vec<(usize, &str, String, String)> = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut moved = owned_by(n2, "n1").await.is_empty();
        for (k, &id) in ids.iter().enumerate() {
            let (code, d) = n2.get(&format!("/api/sessions/{id}")).await;
            if code != 200 {
                moved = false;
                continue;
            }
            assert_ne!(
                d["status"], "SCAN_QR_CODE",
                "{id} asked for a new scan: {d}"
            );
            assert_ne!(d["status"], "FAILED", "{id} failed: {d}");
            moved &= d["node"] == "n2" && d["status"] == "WORKING";
            let state = (d["node"].clone(), d["status"].clone());
            if last.get(id) == Some(&state) {
                continue;
            }
            let text = format!("{id} durante el drenaje, {} en {}", state.1, state.0);
            let (code, body) = send(n2, id, &text, "?wait=false").await;
            assert!(matches!(code, 200 | 202), "{text}: {code} {body}");
            let message = body["id"].as_str().expect("a message id").to_owned();
            accepted.push((k, id, text, message));
            last.insert(id, state);
        }
        if moved {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the drain; last seen: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let drained = nodes(n2)
        .await
        .into_iter()
        .find(|n| n["id"] == "n1")
        .expect("n1 is listed");
    assert_eq!(
        (&drained["draining"], &drained["sessions"]),
        (&json!(true), &json!([])),
        "{drained}"
    );
    for (k, id, text, message) in &accepted {
        n2.wait_sent(id, message).await;
        let sent = fake_get(&fake, &format!("/__fake/sent?from={}", phone(*k))).await;
        assert_eq!(
            times_sent(&fake, &phone(*k), text).await,
            1,
            "{text}; accepted {accepted:?}; sent {sent}"
        );
    }
    for (k, id) in ids.iter().enumerate() {
        assert_eq!(n2.detail(id).await["phoneNumber"], phone(k).as_str());
    }
    cluster.census.assert_one_browser_each(&ids);
}

/// A process group `sh` leads, sleeping with `args` on its command line; killed with its
/// `sleep` on drop.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn with(args: &[&str]) -> Sleeper {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("sh")
            .args(["-c", "sleep 300; true", "sh"])
            .args(args)
            .process_group(0)
            .spawn()
            .expect("spawning sh");
        Sleeper(child)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        // Not reaped yet, the leader keeps its pid and the group's: no one else's is hit.
        wamux_procfs::Group::led_by(self.0.id()).kill();
        let _ = self.0.wait();
    }
}

/// PostgreSQL's answer to an SSLRequest on a new connection to `port` (`N`: no TLS), or
/// `None` when the connection closes first.
async fn ssl_answer(port: u16) -> Option<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream.write_all(&SSL_REQUEST).await.ok()?;
    let mut answer = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer or a close within 10 s");
    matches!(read, Ok(1)).then_some(answer[0])
}

/// Length 8, then the request code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

#[tokio::test(flavor = "multi_thread")]
async fn the_harness_cuts_a_node_off_its_database_and_restores_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let database = Postgres::database();
    let link = DbLink::open(database.server());
    let port = link.port();
    let mut held = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connecting through the link");
    held.write_all(&SSL_REQUEST).await.unwrap();
    let mut answer = [0u8; 1];
    held.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, *b"N", "the server answers through the link");

    link.cut();
    let read = tokio::time::timeout(Duration::from_secs(10), held.read(&mut answer))
        .await
        .expect("the held connection closes");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(ssl_answer(port).await, None, "a new connection is refused");

    link.restore();
    assert_eq!(ssl_answer(port).await, Some(b'N'));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_census_counts_browsers_across_nodes_but_not_their_helpers() {
    let census = BrowserCensus::start();
    let dirs = [TempDir::new("census"), TempDir::new("census")];
    let profiles: Vec<String> = dirs
        .iter()
        .map(|d| {
            let sessions = d.path().canonicalize().unwrap().join("sessions");
            census.watch(sessions.clone());
            format!("--user-data-dir={}/s/profile", sessions.display())
        })
        .collect();
    let browser = Sleeper::with(&["--headless", &profiles[0]]);
    let _helper = Sleeper::with(&["--type=renderer", &profiles[1]]);
    let _elsewhere = Sleeper::with(&["--user-data-dir=/elsewhere/sessions/s/profile"]);
    eventually("the census to see s", DEADLINE, || async {
        (census.peak("s") == 1).then_some(())
    })
    .await;
    assert_eq!(census.browsers_of("s"), vec![browser.0.id()]);
    census.assert_one_browser_each(&["s"]);

    let _second = Sleeper::with(&[&profiles[1]]);
    eventually("the census to see s twice", DEADLINE, || async {
        (census.peak("s") == 2).then_some(())
    })
    .await;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        census.assert_one_browser_each(&["s"])
    }));
    assert!(caught.is_err(), "two browsers of s pass the census");
}
