//! The daemon's configuration and the layout of its data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

/// Where things live under `--data-dir`.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
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
}

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
    find_executable(&[], &["chromedriver"]).or_else(|| {
        find_executable(&["/usr/lib/chromium/chromedriver"], &[])
    })
}

/// Chromium: Debian's real binary first, because `/usr/bin/chromium` is a shell wrapper that
/// adds flags of its own and is one more process to track.
pub fn default_chromium() -> Option<PathBuf> {
    find_executable(
        &["/usr/lib/chromium/chromium"],
        &["chromium", "chromium-browser", "google-chrome"],
    )
}

/// `wamux-worker` beside the running `wamux`, else on `PATH`.
pub fn default_worker() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("wamux-worker")))
        .filter(|p| p.is_file());
    beside.or_else(|| find_executable(&[], &["wamux-worker"]))
}
