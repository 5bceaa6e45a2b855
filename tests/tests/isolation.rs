//! The browsers' debugging ports: every TCP port of a session's processes (chromedriver's,
//! Chromium's DevTools, the worker's proxy) lives in the session's own network namespace, out
//! of reach of every other user of the machine; the browser still reaches WhatsApp Web, through
//! the daemon's egress and, when the session has one, its upstream proxy, whose password the
//! API never shows.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use wamux_e2e::*;
use wamux_proto::{EgressFailure, EgressReply, EgressRequest, read_frame, write_frame};

const NOBODY: u32 = 65534;
const PHONE: &str = "5215512340000";

/// A TCP socket of a network namespace's table (`/proc/PID/net/tcp`, `tcp6`).
#[derive(Debug, Clone, Copy)]
struct TcpSocket {
    port: u16,
    listening: bool,
    inode: u64,
}

/// Every TCP socket of the network namespace that process `pid` is in ("self" for ours).
fn tcp_table(pid: &str) -> Vec<TcpSocket> {
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let port = fields.get(1)?.rsplit_once(':')?.1;
                    Some(TcpSocket {
                        port: u16::from_str_radix(port, 16).ok()?,
                        listening: *fields.get(3)? == "0A",
                        inode: fields.get(9)?.parse().ok()?,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The socket inodes process `pid` holds open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.filter_map(|fd| {
        let target = std::fs::read_link(fd.ok()?.path()).ok()?;
        let target = target.to_str()?;
        target
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .collect()
}

fn net_namespace(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every process of session `id`: its worker's group and whatever runs on its profile
/// (Chromium's crashpad handlers leave the group).
async fn session_pids(daemon: &Daemon, id: &str) -> HashSet<u32> {
    let mut pids: HashSet<u32> = daemon.worker_tree(id).await.iter().map(|p| p.pid).collect();
    pids.extend(daemon.processes_of(id).into_iter().map(|(pid, _)| pid));
    pids
}

/// The listening TCP sockets each process holds: pid -> [(port, inode)].
fn listeners_of(pids: &HashSet<u32>) -> HashMap<u32, Vec<(u16, u64)>> {
    pids.iter()
        .map(|&pid| {
            let held = socket_inodes(pid);
            let listening = tcp_table(&pid.to_string())
                .into_iter()
                .filter(|s| s.listening && held.contains(&s.inode))
                .map(|s| (s.port, s.inode))
                .collect();
            (pid, listening)
        })
        .collect()
}

/// Tries `127.0.0.1:port` as the user `nobody` from this namespace; bash's message on failure.
fn connect_as_nobody(port: u16) -> Result<(), String> {
    let output = Command::new("bash")
        .args(["-c", "exec 3<>/dev/tcp/127.0.0.1/$0", &port.to_string()])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .output()
        .expect("running bash as nobody");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn isolation_of(body: &Value) -> &str {
    body["isolation"]["mode"].as_str().unwrap_or_default()
}

#[test]
fn an_unprivileged_worker_can_isolate_itself_here() {
    // What a daemon running as a service user (not root) relies on: a user namespace holding
    // the network namespace.
    let output = Command::new(bin("wamux-worker"))
        .arg("--probe-isolation")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("running the probe as nobody");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_port_of_a_session_can_be_reached_from_the_daemons_namespace() {
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);
    let (code, ready) = daemon.get("/ready").await;
    assert_eq!(code, 200, "{ready}");
    assert_eq!(isolation_of(&ready), "network-namespace", "{ready}");
    let (_, stats) = daemon.get("/api/stats").await;
    assert_eq!(isolation_of(&stats), "network-namespace", "{stats}");

    daemon.create("iso").await;
    // A QR on show: chromedriver, the browser and its DevTools port are all up.
    daemon.qr_payload("iso").await;
    let detail = daemon.detail("iso").await;
    let chromedriver = detail["chromedriverPid"].as_u64().expect("chromedriver") as u32;
    let browser = detail["browserPid"].as_u64().expect("browser") as u32;

    let pids = session_pids(&daemon, "iso").await;
    let ours = net_namespace("self");
    for pid in &pids {
        let theirs = net_namespace(&pid.to_string());
        assert!(
            theirs.is_empty() || theirs != ours,
            "process {pid} of the session shares the daemon's network namespace"
        );
    }
    let listeners = listeners_of(&pids);
    assert!(
        !listeners[&chromedriver].is_empty(),
        "chromedriver listens: {listeners:?}"
    );
    assert!(
        !listeners[&browser].is_empty(),
        "the DevTools port: {listeners:?}"
    );

    let our_table = tcp_table("self");
    let our_inodes: HashSet<u64> = our_table.iter().map(|s| s.inode).collect();
    let our_listening_ports: HashSet<u16> = our_table
        .iter()
        .filter(|s| s.listening)
        .map(|s| s.port)
        .collect();
    let mut tried = 0;
    for (pid, sockets) in &listeners {
        for &(port, inode) in sockets {
            assert!(
                !our_inodes.contains(&inode),
                "port {port} of process {pid} is a socket of the daemon's network namespace"
            );
            // Another listener of this namespace may happen to hold the same number; what it
            // answers is not the session's.
            if our_listening_ports.contains(&port) {
                continue;
            }
            let refused = connect_as_nobody(port).expect_err("a connection was accepted");
            assert!(
                refused.contains("Connection refused"),
                "port {port}: {refused}"
            );
            tried += 1;
        }
    }
    assert!(tried >= 2, "at least chromedriver's and the DevTools port");

    // Only the session's worker may use the egress, and only the service user may open it.
    let egress = daemon.data_dir.path().join("egress.sock");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&egress).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let fake_port = fake.url().rsplit(':').next().unwrap().parse().unwrap();
    for session_id in ["iso", "unknown"] {
        let mut stream = UnixStream::connect(&egress).await.expect("the egress");
        let request = EgressRequest {
            session_id: session_id.into(),
            host: "127.0.0.1".into(),
            port: fake_port,
        };
        write_frame(&mut stream, &request).await.unwrap();
        let reply: EgressReply = read_frame(&mut stream).await.unwrap().unwrap();
        assert_eq!(reply, EgressReply::Failed(EgressFailure::NotAllowed));
    }

    // And the browser, through the egress, still works.
    daemon.link(&fake, "iso", PHONE).await;
    let (code, body) = daemon
        .post(
            "/api/sessions/iso/send-message",
            json!({"phoneNumber": "5215599999999", "message": "isolated"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let sent = fake_get(&fake, &format!("/__fake/sent?from={PHONE}")).await;
    assert_eq!(sent.as_array().map(Vec::len), Some(1), "{sent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn where_namespaces_cannot_be_made_the_daemon_says_so_and_the_rest_works() {
    // A worker whose probe fails as it would in a container without user namespaces.
    let dir = TempDir::new("no-netns");
    let worker = dir.path().join("worker");
    std::fs::write(
        &worker,
        format!(
            "#!/bin/sh\n[ \"$1\" = --probe-isolation ] && {{ echo 'unshare: Operation not \
             permitted' >&2; exit 1; }}\nexec {} \"$@\"\n",
            bin("wamux-worker").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&worker, std::fs::Permissions::from_mode(0o755)).unwrap();

    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &["--worker", worker.to_str().unwrap()]);
    let (code, ready) = daemon.get("/ready").await;
    assert_eq!(code, 200, "{ready}");
    assert_eq!(
        ready["isolation"],
        json!({"mode": "none", "reason": "unshare: Operation not permitted"})
    );
    let (_, stats) = daemon.get("/api/stats").await;
    assert_eq!(isolation_of(&stats), "none", "{stats}");
    assert!(!daemon.data_dir.path().join("egress.sock").exists());

    daemon.create("plain").await;
    daemon.link(&fake, "plain", PHONE).await;
    let chromedriver = daemon.detail("plain").await["chromedriverPid"]
        .as_u64()
        .expect("chromedriver") as u32;
    assert_eq!(
        net_namespace(&chromedriver.to_string()),
        net_namespace("self"),
        "unisolated, as the daemon said"
    );
    // What the isolation test checks would catch here: chromedriver's port is a socket of this
    // namespace, and `nobody` gets in.
    let ours: HashSet<u64> = tcp_table("self").iter().map(|s| s.inode).collect();
    let exposed = listeners_of(&HashSet::from([chromedriver]))[&chromedriver]
        .iter()
        .find(|(_, inode)| ours.contains(inode))
        .map(|(port, _)| *port)
        .expect("chromedriver listens in the daemon's namespace");
    connect_as_nobody(exposed).expect("nobody reaches an unisolated chromedriver");
}

/// What the test's upstream proxy saw: one (CONNECT target, Proxy-Authorization) per tunnel.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// An HTTP CONNECT proxy on loopback that records each tunnel and relays it.
async fn upstream_proxy() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read_u8().await {
                        Ok(b) => head.push(b),
                        Err(_) => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Proxy-Authorization: "))
                    .unwrap_or("")
                    .to_owned();
                record.lock().unwrap().push((target.clone(), auth));
                let Ok(mut server) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_with_an_upstream_proxy_sends_all_its_traffic_through_it() {
    let fake = fake(FakeConfig::default()).await;
    let (proxy_port, seen) = upstream_proxy().await;
    let daemon = Daemon::start(&fake.url(), &[]);

    for bad in ["ftp://h:1", "http://h", "not a url"] {
        let (code, body) = daemon
            .post("/api/sessions", json!({"sessionId": "bad", "proxy": bad}))
            .await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (400, Some("invalid_proxy")),
            "{bad}: {body}"
        );
    }

    let proxy = format!("http://ana:s3cret@127.0.0.1:{proxy_port}");
    let (code, created) = daemon
        .post(
            "/api/sessions",
            json!({"sessionId": "prox", "proxy": proxy}),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    daemon.link(&fake, "prox", PHONE).await;

    let tunnels = seen.lock().unwrap().clone();
    assert!(!tunnels.is_empty(), "no connection went through the proxy");
    // Chromium also tries hosts of its own (clients2.google.com): they are the session's
    // traffic too, and go the same way.
    let fake_authority = fake.url().trim_start_matches("http://").to_owned();
    assert!(
        tunnels.iter().any(|(target, _)| target == &fake_authority),
        "WhatsApp Web was reached through the proxy: {tunnels:?}"
    );
    for (_, auth) in &tunnels {
        assert_eq!(auth, "Basic YW5hOnMzY3JldA==", "ana:s3cret");
    }

    let shown = format!("http://ana:***@127.0.0.1:{proxy_port}");
    let detail = daemon.detail("prox").await;
    assert_eq!(detail["proxy"], shown.as_str(), "{detail}");
    let (_, list) = daemon.get("/api/sessions").await;
    let (_, status) = daemon.get("/api/sessions/prox/status").await;
    for body in [&created, &detail, &list, &status] {
        assert!(!body.to_string().contains("s3cret"), "{body}");
    }
}
