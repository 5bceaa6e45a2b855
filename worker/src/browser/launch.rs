//! Starting and stopping chromedriver and Chromium.
//!
//! 1. Pick a free loopback port (bind port 0, read it, let it go) and start chromedriver on it,
//!    in the worker's process group. Another process may take the port in between: chromedriver
//!    then exits, and the start is retried on a new port.
//! 2. Poll chromedriver's `/status` until it says ready.
//! 3. Open a WebDriver session: chromedriver launches Chromium on the session's profile, with a
//!    desktop user agent (the page refuses `HeadlessChrome`) and, in an isolated worker, the
//!    worker's SOCKS5 proxy for every connection. `chromium-headless-shell` (the old headless
//!    mode, about half the memory) opens no page of its own, and chromedriver gives up with
//!    "unable to discover open pages" without one: it is started through a launcher in the
//!    profile that adds `about:blank` ([`launcher`]).
//! 4. At the end, `GET /shutdown` makes chromedriver close Chromium cleanly (which writes
//!    localStorage to disk, keeping a fresh link) and exit; the caller then gives the browser's
//!    processes a moment to finish and kills what is left of the group.
//!
//! Steps 1 to 3 share one deadline (`--browser-start-timeout-secs`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tracing::{debug, info, warn};

use super::webdriver::Driver;

const PORT_ATTEMPTS: u32 = 5;
/// How often chromedriver's `/status` is asked while it starts (it is up in about 0.1 s).
const READY_POLL: Duration = Duration::from_millis(20);
/// Bound on one request to chromedriver's own endpoints (`/status`, `/shutdown`).
const HTTP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a killed chromedriver may take to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_millis(500);

pub struct BrowserOptions {
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
    pub profile_dir: PathBuf,
    pub user_agent: String,
    pub headless: bool,
    pub no_sandbox: bool,
    pub start_deadline: Instant,
    pub webdriver_timeout: Duration,
    /// The worker's SOCKS5 proxy on loopback, the browser's only way out of an isolated
    /// worker's network namespace.
    pub proxy_port: Option<u16>,
}

pub struct Chromedriver {
    child: Child,
    port: u16,
    pid: u32,
}

impl Chromedriver {
    /// Starts chromedriver and waits until it is ready.
    pub async fn start(options: &BrowserOptions) -> Result<Chromedriver> {
        timeout_at(options.start_deadline, Self::start_on_some_port(options))
            .await
            .map_err(|_| anyhow!("chromedriver was not ready within the browser start timeout"))?
    }

    async fn start_on_some_port(options: &BrowserOptions) -> Result<Chromedriver> {
        let mut last_exit = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port()?;
            let mut child = Command::new(&options.chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot start {}", options.chromedriver.display()))?;
            let pid = child.id().context("chromedriver exited at once")?;
            forward_output(child.stdout.take(), "chromedriver");
            forward_output(child.stderr.take(), "chromedriver stderr");
            loop {
                if let Some(status) = child.try_wait().context("cannot wait for chromedriver")? {
                    warn!(attempt, port, %status, "chromedriver exited while starting");
                    last_exit = status.to_string();
                    break;
                }
                if is_ready(port).await {
                    info!(port, pid, "chromedriver ready");
                    return Ok(Chromedriver { child, port, pid });
                }
                sleep(READY_POLL).await;
            }
        }
        bail!("chromedriver exited on each of {PORT_ATTEMPTS} ports tried (last: {last_exit})")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resolves when chromedriver exits, with its exit status.
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(err) => format!("cannot wait for it: {err}"),
        }
    }

    /// Asks chromedriver to close the browser and exit. The browser's processes finish exiting
    /// on their own a little later (see [`crate::group::wait_until_alone`]).
    pub async fn request_shutdown(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            bail!("chromedriver had already exited");
        }
        http_get(self.port, "/shutdown")
            .await
            .context("GET /shutdown")?;
        Ok(())
    }

    /// Collects chromedriver's exit status once the group has been killed.
    pub async fn reap(&mut self) {
        if timeout(REAP_TIMEOUT, self.child.wait()).await.is_err() {
            warn!(pid = self.pid, "chromedriver was not reaped");
        }
    }
}

/// Where the launcher of a headless shell lives: in the profile, so that it goes with it.
const LAUNCHER_NAME: &str = ".wamux-headless-shell";

/// Whether `chromium` is `chromium-headless-shell` (or `chrome-headless-shell`), by its name or
/// the name it links to.
pub fn is_headless_shell(chromium: &std::path::Path) -> bool {
    let named = |path: &std::path::Path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.contains("headless-shell") || name.contains("headless_shell"))
    };
    named(chromium) || std::fs::canonicalize(chromium).is_ok_and(|real| named(&real))
}

/// The binary chromedriver is to start: Chromium itself, or for a headless shell a launcher
/// script in the profile (mode 0700, as the profile) that starts the shell on `about:blank`.
pub fn launcher(options: &BrowserOptions) -> Result<PathBuf> {
    if !is_headless_shell(&options.chromium) {
        return Ok(options.chromium.clone());
    }
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let shell = options
        .chromium
        .display()
        .to_string()
        .replace('\'', "'\\''");
    let script = format!(
        "#!/bin/sh\n# chromedriver starts the headless shell without a page, and needs one.\n\
         exec '{shell}' \"$@\" about:blank\n"
    );
    let path = options.profile_dir.join(LAUNCHER_NAME);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, script.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o700))?;
    Ok(path)
}

/// Opens the WebDriver session, which launches Chromium.
pub async fn open_session(port: u16, options: &BrowserOptions) -> Result<Driver> {
    let binary = launcher(options)?;
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities(options, &binary));
    let client = timeout_at(
        options.start_deadline,
        builder.connect(&format!("http://127.0.0.1:{port}")),
    )
    .await
    .map_err(|_| anyhow!("the browser did not start within the browser start timeout"))?
    .context("chromedriver could not start the browser")?;
    Ok(Driver::new(client, options.webdriver_timeout))
}

fn capabilities(
    options: &BrowserOptions,
    binary: &std::path::Path,
) -> serde_json::Map<String, Value> {
    let mut args = Vec::new();
    // The headless shell is headless by itself and knows no `--headless=new`; it alone is
    // started through a launcher ([`launcher`]) rather than as itself.
    let headless_shell = binary != options.chromium;
    if options.headless && !headless_shell {
        args.push("--headless=new".to_owned());
    }
    if options.no_sandbox {
        args.push("--no-sandbox".to_owned());
    }
    args.extend(
        [
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .map(String::from),
    );
    args.push(format!("--user-data-dir={}", options.profile_dir.display()));
    args.push(format!("--user-agent={}", options.user_agent));
    if let Some(port) = options.proxy_port {
        args.push(format!("--proxy-server=socks5://127.0.0.1:{port}"));
        // Chromium bypasses any proxy for loopback by default; in the namespace, loopback is
        // the worker's own, so a loopback URL (a local WhatsApp Web) must go through it too.
        args.push("--proxy-bypass-list=<-loopback>".to_owned());
    }
    // A page that keeps loading is not an error: the poll loop looks at whatever is shown.
    let page_load_ms = (options.webdriver_timeout.as_millis() / 2).min(60_000) as u64;
    let caps = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "eager",
        "unhandledPromptBehavior": "accept",
        "timeouts": { "pageLoad": page_load_ms },
        "goog:chromeOptions": {
            "binary": binary.display().to_string(),
            "args": args,
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("capabilities are built as an object"),
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("cannot find a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

async fn is_ready(port: u16) -> bool {
    match http_get(port, "/status").await {
        Ok(body) => {
            let compact: String = body.split_whitespace().collect();
            compact.contains("\"ready\":true")
        }
        Err(_) => false,
    }
}

/// A bare HTTP/1.1 GET on loopback: chromedriver's `/status` and `/shutdown` need no more, and
/// this keeps an HTTP client crate out of the worker. Returns the body of a 2xx answer.
/// chromedriver keeps the connection open despite `Connection: close`, so the body is read by
/// its `Content-Length`.
async fn http_get(port: u16, path: &str) -> Result<String> {
    timeout(HTTP_TIMEOUT, async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await?;
            response.extend_from_slice(&chunk[..n]);
            if let Some(body) = complete_body(&response)? {
                return Ok(body);
            }
            if n == 0 {
                bail!("the connection closed inside the answer");
            }
        }
    })
    .await
    .map_err(|_| anyhow!("no answer within {HTTP_TIMEOUT:?}"))?
}

/// The body of a complete 2xx answer; `None` while more bytes are needed.
fn complete_body(response: &[u8]) -> Result<Option<String>> {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Ok(None);
    };
    let status_ok = head
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'));
    if !status_ok {
        bail!("unexpected answer: {}", head.lines().next().unwrap_or(""));
    }
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    match length {
        Some(length) if body.len() < length => Ok(None),
        _ => Ok(Some(body.to_owned())),
    }
}

/// chromedriver's output (and Chromium's, which it passes on) goes to the debug log.
fn forward_output(pipe: Option<impl AsyncRead + Unpin + Send + 'static>, source: &'static str) {
    let Some(pipe) = pipe else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            debug!(source, "{line}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_complete_once_its_content_length_is_in() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length:11\r\nConnection:close\r\n\r\n";
        assert!(complete_body(head.as_bytes()).unwrap().is_none());
        assert!(
            complete_body(format!("{head}{{\"a\"").as_bytes())
                .unwrap()
                .is_none()
        );
        assert_eq!(
            complete_body(format!("{head}{{\"a\": true}}").as_bytes())
                .unwrap()
                .as_deref(),
            Some("{\"a\": true}")
        );
        assert!(complete_body(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(complete_body(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert_eq!(
            complete_body(b"HTTP/1.1 200 OK\r\n\r\nrest")
                .unwrap()
                .as_deref(),
            Some("rest")
        );
    }

    fn options(chromium: &str, profile: &std::path::Path) -> BrowserOptions {
        BrowserOptions {
            chromedriver: "/usr/bin/chromedriver".into(),
            chromium: chromium.into(),
            profile_dir: profile.to_owned(),
            user_agent: "Mozilla/5.0".into(),
            headless: true,
            no_sandbox: false,
            start_deadline: Instant::now(),
            webdriver_timeout: Duration::from_secs(60),
            proxy_port: None,
        }
    }

    fn args(caps: &serde_json::Map<String, Value>) -> Vec<String> {
        caps["goog:chromeOptions"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_headless_shell_starts_through_a_launcher_that_opens_a_page() {
        use std::os::unix::fs::PermissionsExt;
        let profile =
            std::env::temp_dir().join(format!("wamux-launch-test-{}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();

        let full = options("/usr/lib/chromium/chromium", &profile);
        assert!(!is_headless_shell(&full.chromium));
        assert_eq!(
            launcher(&full).unwrap(),
            full.chromium,
            "the full browser as it is"
        );
        assert!(args(&capabilities(&full, &full.chromium)).contains(&"--headless=new".to_owned()));

        let shell = options("/opt/it's here/chromium-headless-shell", &profile);
        assert!(is_headless_shell(&shell.chromium));
        assert!(is_headless_shell(std::path::Path::new(
            "/x/chrome-headless-shell"
        )));
        let path = launcher(&shell).unwrap();
        assert_eq!(path, profile.join(LAUNCHER_NAME));
        let script = std::fs::read_to_string(&path).unwrap();
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
        assert!(
            script.contains("exec '/opt/it'\\''s here/chromium-headless-shell' \"$@\" about:blank"),
            "{script}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let caps = capabilities(&shell, &path);
        assert!(!args(&caps).iter().any(|a| a.starts_with("--headless")));
        assert_eq!(
            caps["goog:chromeOptions"]["binary"],
            json!(path.display().to_string())
        );
        std::fs::remove_dir_all(&profile).unwrap();
    }
}
