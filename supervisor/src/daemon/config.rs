//! The daemon's configuration and the layout of its data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::messaging::outbox::OutboxConfig;
use crate::messaging::webhooks::WebhookConfig;

/// Everything `wamux serve` needs; built from the command line, or directly by tests.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub web_url: String,
    pub max_sessions: usize,
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
    pub worker_bin: PathBuf,
    pub browser_start_timeout: Duration,
    pub webdriver_timeout: Duration,
    pub send_timeout: Duration,
    /// How long a worker may take to close its browser before its group is killed.
    pub stop_grace: Duration,
    /// How many browsers may be launching at once; the others queue.
    pub max_starting: usize,
    /// How many browsers wait, started on fresh profiles with their QR on show, for new
    /// sessions to take (`supervision::spares`).
    pub warm_spares: usize,
    /// A session whose process group uses more than this (PSS) is recycled.
    pub max_session_memory: u64,
    /// Recycle each session after it has run this long (one at a time, never mid-send).
    pub recycle_after: Option<Duration>,
    /// How often memory is sampled and orphans are swept.
    pub watch_interval: Duration,
    /// When set, every `/api` route and the dashboard need it.
    pub api_key: Option<String>,
    /// The Laravel application's `.env`, rewritten on each assignment.
    pub laravel_env: Option<PathBuf>,
    /// How the Laravel application reaches this daemon, for the send URLs written in its
    /// `.env`; `None` means `http://` and the bound address.
    pub public_url: Option<String>,
    /// Host names (`name` or `name:port`) the API answers to beyond the listen address,
    /// `localhost` and the public URL's host: what browsers and proxies put in `Host`.
    pub allowed_hosts: Vec<String>,
    /// The outbox: `--send-wait`, `--message-ttl`, `--retention`, `--send-interval`.
    pub outbox: OutboxConfig,
    /// `--webhook-url`, `--webhook-secret`, `--webhook-max-age`.
    pub webhooks: WebhookConfig,
    /// With `--auto-switch`: how long an assigned session may be unusable before its
    /// assignment moves to another WORKING session.
    pub auto_switch: Option<Duration>,
    /// With `--database`: this node among others sharing one PostgreSQL (`cluster`).
    pub cluster: Option<ClusterConfig>,
}

/// One node of several on a shared PostgreSQL database.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `--database` (`WAMUX_DATABASE_URL`); holds a password, so never logged.
    pub database_url: String,
    /// `--node-id`: the host name by default.
    pub node_id: String,
    /// `--advertise-url`: how the other nodes reach this node's API; the public URL when `None`.
    pub advertise_url: Option<String>,
    /// `--lease-ttl`: a lease not renewed for this long lapses.
    pub lease_ttl: Duration,
    /// `--profile-store`: saved profiles go to this shared folder rather than the database.
    pub profile_store: Option<PathBuf>,
    /// `--drain-on-stop`: SIGTERM drains the node before it exits.
    pub drain_on_stop: bool,
}

/// Where things live under `--data-dir`.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// A `--data-dir` that holds things of others: wamux makes its data directory private, and
/// will not do that to, say, the Laravel application it was started in.
#[derive(Debug, thiserror::Error)]
#[error(
    "--data-dir {} already holds files that are not wamux's (such as {found:?}); wamux makes \
     its data directory private (mode 0700), so it needs one of its own: an empty or new \
     directory, for example --data-dir {}",
    dir.display(),
    dir.join("wamux").display()
)]
pub struct NotOurs {
    pub dir: PathBuf,
    pub found: String,
}

impl DataDir {
    /// Whether wamux may take `root` as its data directory: one that does not exist yet, is
    /// empty, or already holds what wamux leaves there (`wamux.db`, `wamux.lock` or
    /// `sessions`). A directory that cannot be listed is left for its creation to report.
    pub fn may_take(root: &Path) -> Result<(), NotOurs> {
        let Ok(entries) = std::fs::read_dir(root) else {
            return Ok(());
        };
        let names: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if names.is_empty() || names.iter().any(|n| OURS.contains(&n.as_str())) {
            return Ok(());
        }
        Err(NotOurs {
            dir: root.to_path_buf(),
            found: names.into_iter().min().unwrap_or_default(),
        })
    }

    /// `root` must be absolute: profile paths are matched against browsers' command lines.
    pub fn new(root: PathBuf) -> Self {
        debug_assert!(root.is_absolute());
        DataDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("wamux.db")
    }

    pub fn worker_socket(&self) -> PathBuf {
        self.root.join("wamux.sock")
    }

    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions")
    }

    pub fn session(&self, id: &str) -> PathBuf {
        self.sessions().join(id)
    }

    pub fn profile(&self, id: &str) -> PathBuf {
        self.session(id).join("profile")
    }

    /// The files of media messages, each named by its SHA-256 (`messaging::media`).
    pub fn media(&self) -> PathBuf {
        self.root.join("media")
    }

    /// Where the worker of the session under `sessions/DIR` writes the files of incoming
    /// media messages, until the inbox moves them into [`DataDir::media`].
    pub fn media_in(&self, dir: &str) -> PathBuf {
        self.session(dir).join(MEDIA_IN)
    }
}

/// The folder beside a session's profile that its worker writes incoming files to.
pub const MEDIA_IN: &str = "media-in";

/// What wamux itself leaves in a data directory.
const OURS: [&str; 3] = ["wamux.db", crate::daemon::lock::LOCK_FILE, "sessions"];

/// The first of `candidates` that exists, else the first name found on `PATH`.
pub fn find_executable(candidates: &[&str], names_on_path: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|dir| names_on_path.iter().map(move |n| dir.join(n)))
                .find(|p| p.is_file())
        })
}

/// chromedriver: on PATH (Debian's `/usr/bin/chromedriver`) or beside Debian's Chromium.
pub fn default_chromedriver() -> Option<PathBuf> {
    find_executable(&[], &["chromedriver"])
        .or_else(|| find_executable(&["/usr/lib/chromium/chromedriver"], &[]))
}

/// Chromium: its headless shell where installed (Debian's `chromium-headless-shell`, the old
/// headless mode), which takes about half the memory and CPU of the full browser and shows the
/// first QR code in half the time (measured with five sessions on the fake WhatsApp Web), else
/// the full browser. Debian's real binaries first, because `/usr/bin/chromium` is a shell
/// wrapper that adds flags of its own and is one more process to track.
pub fn default_chromium() -> Option<PathBuf> {
    find_executable(
        &[
            "/usr/lib/chromium/chromium-headless-shell",
            "/usr/lib/chromium/chromium",
        ],
        &[
            "chromium-headless-shell",
            "chromium",
            "chromium-browser",
            "google-chrome",
        ],
    )
}

/// Browsers that may launch at once: four per core. Measured on 2 cores with ten sessions
/// created together (`scripts/bench.sh --sessions 10`), all QR codes showed after 6.0 s with 2 at
/// once, 4.9 s with 5 and 4.0 s with all 10: a headless shell's start is light, and a lower gate
/// only makes sessions wait. The gate is still there for bigger bursts on small machines.
pub fn default_max_starting() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get() * 4)
}

/// `wamux-worker` beside the running `wamux`, else on `PATH`.
pub fn default_worker() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("wamux-worker")))
        .filter(|p| p.is_file());
    beside.or_else(|| find_executable(&[], &["wamux-worker"]))
}

/// Parses a duration such as `90s`, `30m`, `6h`, `1d` or `1h30m` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 90s, 30m or 6h"))?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("unknown unit {c:?} in {text:?}: use s, m, h or d")),
        };
        total += Duration::from_secs(n * unit);
    }
    if !digits.is_empty() || total.is_zero() {
        return Err(format!("{text:?} is not a duration like 90s, 30m or 6h"));
    }
    Ok(total)
}

/// Parses a memory size such as `800M`, `1G`, `512MiB` or `1048576` (bytes), in powers of 1024.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 800M or 1G"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        other => return Err(format!("unknown unit {other:?} in {text:?}: use K, M or G")),
    };
    n.checked_mul(1 << shift)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{text:?} is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_holding_other_things_is_not_taken() {
        let base = std::env::temp_dir().join(format!("wamux-datadir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        DataDir::may_take(&base.join("new")).expect("a new directory");
        DataDir::may_take(&base).expect("an empty directory");
        for ours in ["wamux.db", "wamux.lock", "sessions"] {
            let dir = base.join(format!("has-{ours}"));
            std::fs::create_dir_all(dir.join(ours)).unwrap();
            std::fs::write(dir.join("notes.txt"), "x").unwrap();
            DataDir::may_take(&dir).expect(ours);
        }
        let app = base.join("app");
        std::fs::create_dir_all(app.join("public")).unwrap();
        std::fs::write(app.join(".env"), "APP_KEY=x").unwrap();
        let refused = DataDir::may_take(&app).unwrap_err().to_string();
        assert!(refused.contains(".env"), "{refused}");
        assert!(
            refused.contains(&format!("--data-dir {}/wamux", app.display())),
            "{refused}"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        for bad in ["", "h", "6x", "6h3", "0s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("800M"), Ok(800 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        for bad in ["", "M", "12X", "0M", "99999999999999G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
