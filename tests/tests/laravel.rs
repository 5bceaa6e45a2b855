//! The Laravel integration: assigning numbers rewrites the application's `.env` atomically,
//! keeping everything else in it; concurrent assigns never tear or mix it; a missing `.env`
//! changes nothing; and `--auto-switch` moves an assignment off a session that died.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use wamux_e2e::*;

const ORIGINAL: &str = "\
# The Laravel application's settings
APP_NAME=\"Call Centre\"
APP_KEY=base64:abc123=

DB_PASSWORD='p4ss word#not-a-comment'
export MAIL_FROM=\"ventas@example.com\"
WHATSAPP_SELLS_NUMBER=0000
  # an indented comment
";

/// The keys of a `.env`, with the raw text after `=`; panics on a line that is neither a
/// comment, blank, nor `KEY=value`.
fn keys(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("torn line: {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn assignments_rewrite_the_env_and_follow_a_dead_session() {
    let fake = fake(FakeConfig::default()).await;
    let app = TempDir::new("laravel");
    let env = app.path().join(".env");
    std::fs::write(&env, ORIGINAL).unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640)).unwrap();
    let env_arg = env.to_str().unwrap();
    let daemon = Daemon::start(
        &fake.url(),
        &[
            "--laravel-env",
            env_arg,
            "--auto-switch",
            "--auto-switch-after",
            "2s",
            "--watch-interval",
            "1s",
        ],
    );
    daemon.create("ventas").await;
    daemon.create("coord").await;
    let (code, body) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": "ventas", "type": "sells"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("session_not_linked")),
        "{body}"
    );
    let (code, body) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": "ventas", "type": "boss"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (400, Some("invalid_type"))
    );
    let (code, body) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": "nobody", "type": "sells"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("session_not_found"))
    );
    daemon.link(&fake, "ventas", "5215511110001").await;
    daemon.link(&fake, "coord", "5215511110002").await;

    // One assignment: the three keys change, every other line stays, and so does the mode.
    let (code, body) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": "ventas", "type": "sells"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["envUpdated"], true);
    let url = format!("{}/api/sessions/ventas/send-message", daemon.url);
    assert_eq!(body["url"], url.as_str());
    let text = std::fs::read_to_string(&env).unwrap();
    let expected = ORIGINAL.replace(
        "WHATSAPP_SELLS_NUMBER=0000",
        "WHATSAPP_SELLS_NUMBER=5215511110001",
    ) + &format!("WHATSAPP_SELLS_SESSION_ID=ventas\nWHATSAPP_SELLS_URL={url}\n");
    assert_eq!(text, expected);
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // One session may hold both numbers.
    let (code, body) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": "ventas", "type": "coordination"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let current = daemon.get("/api/current-assignments").await.1;
    assert_eq!(current["sells"]["sessionId"], "ventas");
    assert_eq!(current["sells"]["status"], "WORKING");
    assert_eq!(current["coordination"]["phoneNumber"], "5215511110001");
    let k = keys(&std::fs::read_to_string(&env).unwrap());
    assert_eq!(k["WHATSAPP_COORDINATION_SESSION_ID"], "ventas");
    assert_eq!(k["WHATSAPP_COORDINATION_NUMBER"], "5215511110001");

    // Twenty concurrent assigns of the sales number, alternating sessions: the file ends
    // well-formed and consistent, holding one of them whole.
    let assigns = (0..20).map(|i| {
        let id = if i % 2 == 0 { "ventas" } else { "coord" };
        daemon.post(
            "/api/assign-number",
            json!({"sessionId": id, "type": "sells"}),
        )
    });
    let mut handles = Vec::new();
    for assign in assigns {
        handles.push(assign);
    }
    let results = join_all(handles).await;
    assert!(results.iter().all(|(code, _)| *code == 200), "{results:?}");
    let text = std::fs::read_to_string(&env).unwrap();
    let k = keys(&text);
    let id = k["WHATSAPP_SELLS_SESSION_ID"].clone();
    let phone = if id == "ventas" {
        "5215511110001"
    } else {
        "5215511110002"
    };
    assert_eq!(k["WHATSAPP_SELLS_NUMBER"], phone, "{text}");
    assert_eq!(
        k["WHATSAPP_SELLS_URL"],
        format!("{}/api/sessions/{id}/send-message", daemon.url)
    );
    assert_eq!(k["DB_PASSWORD"], "'p4ss word#not-a-comment'");
    assert_eq!(k["APP_KEY"], "base64:abc123=");
    assert_eq!(text.matches("WHATSAPP_SELLS_NUMBER=").count(), 1, "{text}");
    assert_eq!(
        std::fs::read_dir(app.path()).unwrap().count(),
        1,
        "no temporary file is left"
    );
    assert_eq!(
        daemon.get("/api/current-assignments").await.1["sells"]["sessionId"],
        id.as_str()
    );

    // A missing .env: a clear error, and nothing changes.
    let moved = app.path().join("env.moved");
    std::fs::rename(&env, &moved).unwrap();
    let other = if id == "ventas" { "coord" } else { "ventas" };
    let (code, body) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": other, "type": "sells"}),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (503, Some("laravel_env_unavailable")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert!(!env.exists(), "no .env is created");
    assert_eq!(
        daemon.get("/api/current-assignments").await.1["sells"]["sessionId"],
        id.as_str()
    );
    std::fs::rename(&moved, &env).unwrap();

    // Auto-switch: the sales session is killed and stays down; sales moves to the session
    // that holds no number.
    let (code, _) = daemon
        .post(
            "/api/assign-number",
            json!({"sessionId": "ventas", "type": "sells"}),
        )
        .await;
    assert_eq!(code, 200);
    let (code, _) = daemon.post("/api/sessions/ventas/kill", json!({})).await;
    assert_eq!(code, 200);
    let switched = eventually("the sales number to move to coord", DEADLINE, || async {
        let current = daemon.get("/api/current-assignments").await.1;
        (current["sells"]["sessionId"] == "coord").then_some(current)
    })
    .await;
    assert_eq!(switched["sells"]["phoneNumber"], "5215511110002");
    let k = keys(&std::fs::read_to_string(&env).unwrap());
    assert_eq!(k["WHATSAPP_SELLS_SESSION_ID"], "coord");
    assert_eq!(k["WHATSAPP_SELLS_NUMBER"], "5215511110002");
}

/// Polls the futures together; outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
