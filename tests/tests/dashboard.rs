//! The dashboard in real headless Chromium driven through WebDriver: a person creates a
//! session, sees its QR code (and the next one when it rotates), links it, sees it WORKING,
//! assigns it to sales and deletes it, all without reloading; a session's card shows its queue
//! and its last messages with their status as they change; HTML planted in a string from
//! outside shows as text; and with an API key the dashboard shows nothing until given it.
//!
//! The tests run one at a time (a lock): the dashboard's browser and the sessions' browsers
//! share a small machine.

use std::future::Future;
use std::net::TcpListener as StdTcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wamux_e2e::*;

/// One dashboard test at a time, whatever `--test-threads` says.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn chromium() -> &'static str {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("Chromium is installed")
}

fn chromedriver() -> &'static str {
    [CHROMEDRIVER, "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("chromedriver is installed")
}

/// A headless Chromium under its own chromedriver, which runs in its own process group.
/// Dropped (a test that fails included), the group is killed and every process on the
/// browser's profile with it, so no browser outlives the test.
struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let profile = TempDir::new("dashboard-browser");
        let port = StdTcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        // From here on the guard ends chromedriver whatever happens.
        let mut browser = Browser {
            client: None,
            driver,
            profile,
        };
        let url = format!("http://127.0.0.1:{port}");
        eventually("chromedriver to be ready", DEADLINE, || async {
            let status: Value = reqwest::get(format!("{url}/status"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (status["value"]["ready"] == true).then_some(())
        })
        .await;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", browser.profile.path().display()),
                    "--window-size=1280,900",
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session in headless Chromium");
        browser.client = Some(client);
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("an open browser")
    }

    async fn open(&self, url: &str) {
        self.client().goto(url).await.expect("opening a page");
    }

    /// Runs `script` in the page (its arguments in `arguments`), returning its value.
    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Clicks the element `css` with a real pointer click, as a person would.
    async fn click(&self, css: &str) {
        let element = self
            .client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self
            .client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        element.clear().await.expect("clearing a field");
        if !text.is_empty() {
            element.send_keys(text).await.expect("typing");
        }
    }

    /// What a session's card shows, or Null when there is no card for it.
    async fn card(&self, id: &str) -> Value {
        self.js(CARD_SCRIPT, vec![json!(id)]).await
    }

    /// The text of the first element matching `css`, when it is displayed.
    async fn shown_text(&self, css: &str) -> Option<String> {
        self.js(
            "const e = document.querySelector(arguments[0]);
             return e && e.getClientRects().length > 0 ? e.textContent : null;",
            vec![json!(css)],
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    async fn is_shown(&self, css: &str) -> bool {
        self.shown_text(css).await.is_some()
    }

    /// The page as text, for the message of a failed wait.
    async fn describe(&self) -> String {
        match self.client {
            Some(ref c) => match c.execute("return document.body.innerText;", vec![]).await {
                Ok(Value::String(text)) => text,
                other => format!("(the page cannot be read: {other:?})"),
            },
            None => "(no browser)".into(),
        }
    }

    /// Polls `check` until it yields a value; on timeout the failure shows the page.
    async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what}; the page shows:\n{}",
                    self.describe().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the WebDriver session (Chromium exits), then chromedriver.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), client.close()).await;
        }
        // Drop kills chromedriver's group and anything left on the profile.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
        let profile = self.profile.path().to_string_lossy().into_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_mentioning(&profile);
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            for (pid, _) in left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Everything a session card shows, read from the page.
const CARD_SCRIPT: &str = r#"
const id = arguments[0];
const card = [...document.querySelectorAll('#session-list [data-session-id]')]
  .find((c) => c.dataset.sessionId === id);
if (!card) return null;
const shown = (e) => !!e && e.getClientRects().length > 0;
const text = (s) => { const e = card.querySelector(s); return shown(e) ? e.textContent : null; };
const img = card.querySelector('img.qr');
const src = shown(img) ? img.getAttribute('src') : null;
const prefix = 'data:image/png;base64,';
return {
  status: card.dataset.status,
  statusText: text('.status'),
  phone: text('.phone'),
  memory: text('.memory'),
  restarts: text('.restarts'),
  engine: text('.engine'),
  lastError: text('.last-error'),
  badges: card.querySelector('.badges').textContent,
  qrSrc: src,
  qrPng: src && src.startsWith(prefix) ? Array.from(atob(src.slice(prefix.length)), (c) => c.charCodeAt(0)) : null,
  enabled: Object.fromEntries([...card.querySelectorAll('button[data-action]')]
    .map((b) => [b.dataset.action, !b.disabled])),
  outbox: shown(card.querySelector('.outbox')),
  queue: text('.queue'),
  noMessages: shown(card.querySelector('.outbox-empty')),
  messages: [...card.querySelectorAll('.messages .message')].filter(shown).map((m) => {
    const part = (s) => { const e = m.querySelector(s); return shown(e) ? e.textContent : null; };
    return {
      id: m.dataset.id,
      status: part('.message-status'),
      to: part('.message-to'),
      text: part('.message-text'),
      time: part('.message-time'),
      error: part('.message-error'),
    };
  }),
  sendForm: shown(card.querySelector('.send-test')),
  pairForm: shown(card.querySelector('.pair-form')),
  pairingCode: text('.pairing-code'),
};
"#;

/// The payload of the QR code a card shows, decoded from the image on the page.
fn card_qr(card: &Value) -> Option<(String, String)> {
    let src = card["qrSrc"].as_str()?.to_owned();
    let bytes: Vec<u8> = card["qrPng"]
        .as_array()?
        .iter()
        .map(|b| b.as_u64().expect("a byte") as u8)
        .collect();
    let payload = decode_qr_png(&bytes).expect("the QR image on the page decodes");
    Some((src, payload))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_links_a_session_with_the_phone_number_beside_its_qr() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);
    let browser = Browser::start().await;
    let phone = "5215512340009";
    daemon.create("por-codigo").await;
    browser.open(&format!("{}/", daemon.url)).await;
    let card = browser
        .until("the QR code and the phone-number form", || async {
            let card = browser.card("por-codigo").await;
            (card["qrSrc"].is_string() && card["pairForm"] == true).then_some(card)
        })
        .await;
    assert_eq!(card["pairingCode"], Value::Null, "{card}");

    let form = r#"[data-session-id="por-codigo"] .pair-form"#;
    browser
        .type_into(&format!("{form} .pair-phone"), "+52 1 55 1234 0009")
        .await;
    browser.click(&format!("{form} .pair-submit")).await;
    let code = browser
        .until("the pairing code on the card", || async {
            let card = browser.card("por-codigo").await;
            let code = card["pairingCode"].as_str()?.to_owned();
            (code.len() == 9 && card["qrSrc"].is_null()).then_some(code)
        })
        .await;
    let (status, body) = fake_post(
        &fake,
        "/__fake/link-code",
        json!({"code": code, "phone": phone}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let card = browser
        .until("the card WORKING with its number", || async {
            let card = browser.card("por-codigo").await;
            (card["status"] == "WORKING").then_some(card)
        })
        .await;
    assert_eq!(card["pairForm"], false, "{card}");
    assert_eq!(card["pairingCode"], Value::Null, "{card}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_creates_links_assigns_and_deletes_a_session_without_reloading() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    // QR codes that rotate quickly, so that the page is seen replacing one.
    let fake = fake(FakeConfig {
        qr_first: Duration::from_secs(6),
        qr_next: Duration::from_secs(6),
        ..FakeConfig::default()
    })
    .await;
    let daemon = Daemon::start(&fake.url(), &[]);
    let browser = Browser::start().await;
    let home = format!("{}/", daemon.url);
    let phone = "5215512340001";

    browser.open(&home).await;
    browser
        .until("the dashboard to load", || async {
            browser.is_shown("#stat-total").await.then_some(())
        })
        .await;
    assert!(
        !browser.is_shown("#key-panel").await,
        "no key is asked for without --api-key"
    );
    // Set on this document only: gone if anything reloads the page.
    browser.js("window.__notReloaded = true;", vec![]).await;

    // A refused id: the API's error is shown to the person.
    browser.type_into("#new-session-id", "not valid!").await;
    browser.click("#new-session").await;
    browser
        .until("the error of a refused id", || async {
            browser
                .shown_text("#toasts .toast.error")
                .await
                .filter(|t| t.contains("invalid_session_id"))
        })
        .await;

    // "New session" with no id: the daemon names it, and its card appears.
    browser.type_into("#new-session-id", "").await;
    browser.click("#new-session").await;
    let id = browser
        .until("the new session's card", || async {
            browser
                .js(
                    "return [...document.querySelectorAll('#session-list [data-session-id]')]
                       .map((c) => c.dataset.sessionId);",
                    vec![],
                )
                .await
                .as_array()
                .and_then(|ids| ids.first())
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .await;
    let (code, list) = daemon.get("/api/sessions").await;
    assert_eq!(code, 200);
    assert_eq!(list["sessions"][0]["sessionId"], id.as_str(), "{list}");
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");

    // Its QR code appears, and the one on the page is the one the daemon shows.
    let (first_src, first_payload) = browser
        .until("the QR code on the page", || async {
            card_qr(&browser.card(&id).await)
        })
        .await;
    assert!(first_src.starts_with("data:image/png;base64,"));
    browser
        .until(
            "the page and the daemon to show the same QR code",
            || async {
                let (_, payload) = card_qr(&browser.card(&id).await)?;
                (payload == daemon.qr_payload(&id).await).then_some(())
            },
        )
        .await;
    let card = browser.card(&id).await;
    assert_eq!(card["status"], "SCAN_QR_CODE", "{card}");
    assert_eq!(card["enabled"]["assign-sells"], false, "{card}");
    let shown_at = Instant::now();
    eprintln!("QR on the page after {:?}", started.elapsed());

    // It rotates: the page replaces it with the new one by itself.
    let (_, rotated) = browser
        .until("the page to show the next QR code", || async {
            card_qr(&browser.card(&id).await).filter(|(_, p)| *p != first_payload)
        })
        .await;
    eprintln!("rotated QR on the page after {:?}", shown_at.elapsed());
    assert!(
        rotated.contains("2@"),
        "a WhatsApp-shaped payload: {rotated}"
    );

    // The phone scans what the page shows (again if it rotated in between).
    browser
        .until("a successful scan of the page's QR code", || async {
            let (_, payload) = card_qr(&browser.card(&id).await)?;
            let (code, _) = fake_post(
                &fake,
                "/__fake/scan",
                json!({"qr": payload, "phone": phone}),
            )
            .await;
            (code == 200).then_some(())
        })
        .await;
    let scanned = Instant::now();

    // WORKING with its number, seen on the page, with no reload.
    let card = browser
        .until(
            "the card to show the session WORKING with its number",
            || async {
                let card = browser.card(&id).await;
                (card["status"] == "WORKING"
                    && card["statusText"] == "WORKING"
                    && card["phone"].as_str().is_some_and(|p| p.contains(phone)))
                .then_some(card)
            },
        )
        .await;
    eprintln!("WORKING on the page {:?} after the scan", scanned.elapsed());
    assert_eq!(card["qrSrc"], Value::Null, "no QR once linked: {card}");
    browser
        .until("the card to show the engine", || async {
            let card = browser.card(&id).await;
            (card["engine"] == "modules").then_some(())
        })
        .await;
    browser
        .until("the statistics to count it WORKING", || async {
            (browser.shown_text("#stat-WORKING").await.as_deref() == Some("1")).then_some(())
        })
        .await;
    assert_eq!(
        browser
            .js("return window.__notReloaded === true;", vec![])
            .await,
        true,
        "the page was reloaded"
    );

    // The sessions page lists it with its number, memory and restarts.
    browser.open(&format!("{}/sessions", daemon.url)).await;
    let card = browser
        .until("the sessions page to list it", || async {
            let card = browser.card(&id).await;
            (card["status"] == "WORKING").then_some(card)
        })
        .await;
    assert!(card["phone"].as_str().unwrap().contains(phone), "{card}");
    assert_eq!(card["restarts"], "0", "{card}");
    assert!(card["memory"].is_string(), "{card}");

    // Assigned to sales by a click: the page and the API agree.
    browser
        .until("the assign button to be enabled", || async {
            (browser.card(&id).await["enabled"]["assign-sells"] == true).then_some(())
        })
        .await;
    browser.js("window.__notReloaded = true;", vec![]).await;
    browser
        .click(&format!(
            "[data-session-id=\"{id}\"] [data-action=\"assign-sells\"]"
        ))
        .await;
    browser
        .until("#assignment-sells to show the number", || async {
            browser
                .shown_text("#assignment-sells")
                .await
                .filter(|t| t.contains(phone))
        })
        .await;
    browser
        .until("the card to carry the sales badge", || async {
            browser.card(&id).await["badges"]
                .as_str()
                .filter(|b| b.contains("Sales"))
                .map(|_| ())
        })
        .await;
    let (code, current) = daemon.get("/api/current-assignments").await;
    assert_eq!(code, 200, "{current}");
    assert_eq!(current["sells"]["sessionId"], id.as_str(), "{current}");
    assert_eq!(current["sells"]["phoneNumber"], phone, "{current}");
    assert_eq!(current["coordination"], Value::Null, "{current}");
    let coordination = browser
        .shown_text("#assignment-coordination")
        .await
        .unwrap_or_default();
    assert!(!coordination.contains(phone), "{coordination}");

    // Stopped by a click, it shows STOPPED; "Restore sessions" brings it back linked.
    browser
        .click(&format!(
            "[data-session-id=\"{id}\"] [data-action=\"stop\"]"
        ))
        .await;
    browser
        .until("the card to show STOPPED", || async {
            let card = browser.card(&id).await;
            (card["status"] == "STOPPED" && card["enabled"]["start"] == true).then_some(())
        })
        .await;
    assert_eq!(daemon.status(&id).await["status"], "STOPPED");
    browser.click("#restore").await;
    browser
        .until("the restored session to be WORKING again", || async {
            let card = browser.card(&id).await;
            (card["status"] == "WORKING"
                && card["phone"].as_str().is_some_and(|p| p.contains(phone)))
            .then_some(())
        })
        .await;

    // Delete asks first: cancelling keeps the session.
    let delete = format!("[data-session-id=\"{id}\"] [data-action=\"delete\"]");
    browser.click(&delete).await;
    browser
        .until("the confirmation", || async {
            browser.is_shown("#confirm").await.then_some(())
        })
        .await;
    let question = browser.shown_text("#confirm-title").await.unwrap();
    assert!(question.contains(&id), "{question}");
    browser.click("#confirm-cancel").await;
    browser
        .until("the confirmation to close", || async {
            (!browser.is_shown("#confirm").await).then_some(())
        })
        .await;
    assert_eq!(daemon.get(&format!("/api/sessions/{id}")).await.0, 200);
    assert!(!browser.card(&id).await.is_null());

    // Confirmed, it goes: from the page, from the daemon, and its processes with it.
    browser.click(&delete).await;
    browser
        .until("the confirmation", || async {
            browser.is_shown("#confirm").await.then_some(())
        })
        .await;
    browser.click("#confirm-ok").await;
    let asked = Instant::now();
    browser
        .until("the card to disappear", || async {
            browser.card(&id).await.is_null().then_some(())
        })
        .await;
    eprintln!("card gone {:?} after confirming", asked.elapsed());
    assert_eq!(daemon.get(&format!("/api/sessions/{id}")).await.0, 404);
    assert_eq!(daemon.processes_of(&id), vec![]);
    browser
        .until("the page to say there are no sessions", || async {
            browser.is_shown("#sessions-empty").await.then_some(())
        })
        .await;
    assert_eq!(
        browser
            .js("return window.__notReloaded === true;", vec![])
            .await,
        true,
        "the page was reloaded"
    );
    browser.close().await;
    eprintln!("whole flow: {:?}", started.elapsed());
}

/// The first message a card lists, when it is the message `id` with a status in `statuses`.
fn first_message(card: &Value, id: &str, statuses: &[&str]) -> Option<Value> {
    let first = card["messages"].get(0)?;
    (first["id"] == id && statuses.iter().any(|s| first["status"] == *s)).then(|| first.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_shows_its_queue_and_last_messages_as_they_change() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let fake = fake(FakeConfig::default()).await;
    let daemon = Daemon::start(&fake.url(), &[]);
    let id = "outbox";
    let send = format!("/api/sessions/{id}/send-message");
    daemon.create(id).await;
    daemon.link(&fake, id, "5215512340002").await;

    let browser = Browser::start().await;
    browser.open(&format!("{}/sessions", daemon.url)).await;
    let card = browser
        .until("the WORKING card with its empty outbox", || async {
            let card = browser.card(id).await;
            (card["status"] == "WORKING" && card["noMessages"] == true).then_some(card)
        })
        .await;
    assert_eq!(card["outbox"], true, "{card}");
    assert_eq!(card["queue"], Value::Null, "nothing queued: {card}");
    assert_eq!(
        card["sendForm"], true,
        "a WORKING card offers a test send: {card}"
    );
    browser.js("window.__notReloaded = true;", vec![]).await;

    // Sent through the API: the card lists it as sent, its text as text.
    let text = "<b>hola</b> desde el outbox";
    let (code, body) = daemon
        .post(
            &send,
            json!({"phoneNumber": "5215522223333", "message": text}),
        )
        .await;
    assert_eq!(code, 200, "the send through the worker: {body}");
    let sent_id = body["id"].as_str().expect("wamux's id").to_owned();
    let wa_id = body["messageId"]
        .as_str()
        .expect("WhatsApp's id")
        .to_owned();
    let shown = browser
        .until("the card to list the message as sent", || async {
            first_message(&browser.card(id).await, &sent_id, &["sent"])
        })
        .await;
    assert_eq!(shown["to"], "+5215522223333", "{shown}");
    assert_eq!(shown["text"], text, "{shown}");
    assert_eq!(shown["error"], Value::Null, "{shown}");
    assert!(
        shown["time"].as_str().is_some_and(|t| !t.is_empty()),
        "{shown}"
    );
    assert_eq!(browser.card(id).await["noMessages"], false);
    let markup = browser.js(MARKUP_SCRIPT, vec![]).await;
    assert_eq!(markup, json!({"pwned": null, "bold": 0, "images": 0}));

    // Read on the phone: the card follows the ack.
    let (code, body) =
        fake_post(&fake, "/__fake/ack", json!({"id": wa_id, "status": "read"})).await;
    assert_eq!(code, 200, "{body}");
    browser
        .until("the card to show the message read", || async {
            first_message(&browser.card(id).await, &sent_id, &["read"])
        })
        .await;

    // The card's own form sends one too, and lists it.
    browser
        .click(&format!("[data-session-id=\"{id}\"] .send-test summary"))
        .await;
    let form = format!("[data-session-id=\"{id}\"] .send-test-form");
    browser
        .type_into(&format!("{form} [name=phoneNumber]"), "+52 155 6666 7777")
        .await;
    browser
        .type_into(&format!("{form} [name=message]"), "prueba del tablero")
        .await;
    browser.click(&format!("{form} button[type=submit]")).await;
    let shown = browser
        .until("the test message on the card, sent", || async {
            let card = browser.card(id).await;
            let first = card["messages"].get(0)?.clone();
            (first["text"] == "prueba del tablero" && first["status"] == "sent").then_some(first)
        })
        .await;
    assert_eq!(shown["to"], "+5215566667777", "{shown}");
    let sent = fake_get(&fake, "/__fake/sent?from=5215512340002").await;
    let texts: Vec<&str> = sent
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, [text, "prueba del tablero"], "{sent}");

    // A number not on WhatsApp: failed, with the error's message.
    let (code, _) = fake_post(
        &fake,
        "/__fake/invalid-numbers",
        json!({"numbers": ["5215533334444"]}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, body) = daemon
        .post(
            &send,
            json!({"phoneNumber": "5215533334444", "message": "¿hay alguien?"}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    let failed_id = body["id"].as_str().expect("wamux's id").to_owned();
    let shown = browser
        .until("the card to list the message as failed", || async {
            first_message(&browser.card(id).await, &failed_id, &["failed"])
        })
        .await;
    let (code, detail) = daemon
        .get(&format!("/api/sessions/{id}/messages/{failed_id}"))
        .await;
    assert_eq!(code, 200, "{detail}");
    assert!(detail["error"]["message"].is_string(), "{detail}");
    assert_eq!(shown["error"], detail["error"]["message"], "{shown}");

    // Stopped, a send waits: the card counts it queued; started again, it goes out.
    let (code, body) = daemon
        .post(&format!("/api/sessions/{id}/stop"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    daemon.wait_status(id, "STOPPED").await;
    let (code, body) = daemon
        .post(
            &format!("{send}?wait=false"),
            json!({"phoneNumber": "5215522223333", "message": "en la cola"}),
        )
        .await;
    assert_eq!((code, &body["status"]), (202, &json!("queued")), "{body}");
    let queued_id = body["id"].as_str().expect("wamux's id").to_owned();
    let card = browser
        .until("the card to count the queued message", || async {
            let card = browser.card(id).await;
            (first_message(&card, &queued_id, &["queued"]).is_some()
                && card["queue"]
                    .as_str()
                    .is_some_and(|q| q.starts_with("1 queued")))
            .then_some(card)
        })
        .await;
    assert_eq!(
        card["sendForm"], false,
        "no test send while STOPPED: {card}"
    );
    assert_eq!(card["messages"].as_array().map(Vec::len), Some(4), "{card}");
    let (code, body) = daemon
        .post(&format!("/api/sessions/{id}/start"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    browser
        .until(
            "the queued message to go out and the queue to empty",
            || async {
                let card = browser.card(id).await;
                (first_message(&card, &queued_id, &["sent"]).is_some() && card["queue"].is_null())
                    .then_some(())
            },
        )
        .await;
    assert_eq!(
        browser
            .js("return window.__notReloaded === true;", vec![])
            .await,
        true,
        "the page was reloaded"
    );
    browser.close().await;
}

/// A web page that refuses the browser with a text that holds HTML; served as text (escaped),
/// so its visible text, which the worker reports as the reason, is the markup itself.
const PLANTED: &str = r#"<img src=x onerror="document.body.dataset.pwned=1"><b>bold</b>"#;

async fn serve_refusal_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the page server");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let escaped = PLANTED
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>WhatsApp</title></head>\
         <body><p>WhatsApp works with Google Chrome 85+</p><p>{escaped}</p></body></html>"
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

/// What the page holds that HTML planted in a string would have made.
const MARKUP_SCRIPT: &str = r#"
return {
  pwned: document.body.dataset.pwned ?? null,
  bold: document.querySelectorAll('b').length,
  images: [...document.querySelectorAll('img')].filter((i) => !i.classList.contains('qr')).length,
};
"#;

#[tokio::test(flavor = "multi_thread")]
async fn html_in_a_string_from_outside_is_shown_as_text() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    // The session's "WhatsApp Web" refuses the browser with a text holding markup: the worker
    // reports the page's text as the reason, which becomes the session's last error.
    let web = serve_refusal_page().await;
    let daemon = Daemon::start(&web, &[]);
    let browser = Browser::start().await;
    browser.open(&format!("{}/sessions", daemon.url)).await;
    browser
        .until("the sessions page to load", || async {
            browser.is_shown("#sessions-empty").await.then_some(())
        })
        .await;

    daemon.create("planted").await;
    let card = browser
        .until("the planted last error on the page", || async {
            let card = browser.card("planted").await;
            card["lastError"]
                .as_str()
                .is_some_and(|e| e.contains(PLANTED))
                .then_some(card)
        })
        .await;
    eprintln!("planted error on the page after {:?}", started.elapsed());
    let (code, detail) = daemon.get("/api/sessions/planted").await;
    assert_eq!(code, 200);
    let reason = detail["lastError"].as_str().expect("a last error");
    assert!(
        reason.contains("refused the browser") && reason.contains(PLANTED),
        "{reason}"
    );
    let error = card["lastError"].as_str().unwrap();
    assert!(error.contains("<b>bold</b>"), "{error}");
    let markup = browser.js(MARKUP_SCRIPT, vec![]).await;
    assert_eq!(markup, json!({"pwned": null, "bold": 0, "images": 0}));

    // It keeps failing and gives up: the page shows it FAILED without a reload.
    browser
        .until("the card to show FAILED", || async {
            let card = browser.card("planted").await;
            (card["status"] == "FAILED" && card["statusText"] == "FAILED").then_some(())
        })
        .await;
    eprintln!("FAILED on the page after {:?}", started.elapsed());
    let markup = browser.js(MARKUP_SCRIPT, vec![]).await;
    assert_eq!(markup, json!({"pwned": null, "bold": 0, "images": 0}));

    // The overview lists it among the sessions needing attention, its error as text too.
    browser.open(&format!("{}/", daemon.url)).await;
    let card = browser
        .until("the failed session on the overview", || async {
            let card = browser.card("planted").await;
            card["lastError"].is_string().then_some(card)
        })
        .await;
    assert!(
        card["lastError"].as_str().unwrap().contains(PLANTED),
        "{card}"
    );
    let markup = browser.js(MARKUP_SCRIPT, vec![]).await;
    assert_eq!(markup, json!({"pwned": null, "bold": 0, "images": 0}));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_api_key_the_dashboard_shows_nothing_until_given_it() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let key = "dashboard-test-key";
    let fake = fake(FakeConfig::default()).await;
    // No real browser for the sessions: they only need to exist.
    let daemon = Daemon::start(&fake.url(), &["--api-key", key, "--chromium", "/bin/false"]);
    let http = reqwest::Client::new();
    let create = |id: &'static str| {
        let request = http
            .post(format!("{}/api/sessions", daemon.url))
            .header("X-Api-Key", key)
            .json(&json!({"sessionId": id}));
        async move {
            let response = request.send().await.expect("the daemon answers");
            assert_eq!(response.status(), 201);
        }
    };
    create("secret-one").await;

    let browser = Browser::start().await;
    browser.open(&format!("{}/sessions", daemon.url)).await;
    browser
        .until("the key form", || async {
            browser.is_shown("#key-input").await.then_some(())
        })
        .await;
    let nothing_shown = || async {
        assert!(!browser.is_shown("#content").await);
        assert!(browser.card("secret-one").await.is_null());
        let text = browser.describe().await;
        assert!(!text.contains("secret-one"), "{text}");
    };
    nothing_shown().await;
    assert!(
        !browser.is_shown("#key-error").await,
        "no key was refused yet"
    );

    // A wrong key is refused and asked for again.
    browser.type_into("#key-input", "not-the-key").await;
    browser.click("#key-submit").await;
    browser
        .until("the refusal", || async {
            browser
                .shown_text("#key-error")
                .await
                .filter(|t| t.contains("refused"))
        })
        .await;
    assert!(browser.is_shown("#key-input").await);
    nothing_shown().await;

    // The right one shows the sessions, and the live stream carries it too.
    browser.type_into("#key-input", key).await;
    browser.click("#key-submit").await;
    browser
        .until("the session behind the key", || async {
            (!browser.card("secret-one").await.is_null()).then_some(())
        })
        .await;
    assert!(!browser.is_shown("#key-panel").await);
    browser
        .until("the event stream to be live", || async {
            browser
                .js(
                    "return document.querySelector('#live').dataset.state;",
                    vec![],
                )
                .await
                .as_str()
                .filter(|s| *s == "live")
                .map(|_| ())
        })
        .await;
    create("secret-two").await;
    browser
        .until("a new session to appear live", || async {
            (!browser.card("secret-two").await.is_null()).then_some(())
        })
        .await;
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('wamux.apiKey');", vec![])
            .await,
        key
    );

    // Asked once: the other page uses the kept key.
    browser.open(&format!("{}/", daemon.url)).await;
    browser
        .until("the statistics", || async {
            browser
                .shown_text("#stat-total")
                .await
                .filter(|t| t.starts_with("2 /"))
        })
        .await;
    assert!(!browser.is_shown("#key-panel").await);

    // A kept key that the daemon refuses is asked for again, and nothing is shown.
    browser
        .js(
            "sessionStorage.setItem('wamux.apiKey', 'stale-key');",
            vec![],
        )
        .await;
    browser.client().refresh().await.expect("reloading");
    browser
        .until("the key to be asked for again", || async {
            browser
                .shown_text("#key-error")
                .await
                .filter(|t| t.contains("refused"))
        })
        .await;
    assert!(!browser.is_shown("#content").await);
    assert_eq!(
        browser.shown_text("#stat-total").await,
        None,
        "no statistics without the key"
    );

    // "Forget key" locks the page again.
    browser.type_into("#key-input", key).await;
    browser.click("#key-submit").await;
    browser
        .until("the statistics", || async {
            browser
                .shown_text("#stat-total")
                .await
                .filter(|t| !t.is_empty())
        })
        .await;
    browser.click("#forget-key").await;
    browser
        .until("the key form", || async {
            browser.is_shown("#key-input").await.then_some(())
        })
        .await;
    assert!(!browser.is_shown("#content").await);
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('wamux.apiKey');", vec![])
            .await,
        Value::Null
    );
    browser.close().await;
}
