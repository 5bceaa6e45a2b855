//! `wamux serve`: flags (each also an environment variable), logging and signals.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::daemon::config::{self, ClusterConfig, ServeConfig};
use crate::daemon::notify::Notifier;
use crate::messaging::media::MediaConfig;
use crate::messaging::outbox::OutboxConfig;
use crate::messaging::policy::Interval;
use crate::messaging::webhooks::{WebhookConfig, check_url, signing::Secret};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTP API and dashboard.
    #[arg(long, env = "WAMUX_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// Where the registry and the browser profiles live.
    #[arg(long, env = "WAMUX_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The WhatsApp Web address (a fake one for tests and demos).
    #[arg(
        long,
        env = "WAMUX_WEB_URL",
        default_value = "https://web.whatsapp.com"
    )]
    web_url: String,
    /// How many sessions may exist at once.
    #[arg(long, env = "WAMUX_MAX_SESSIONS", default_value_t = 5)]
    max_sessions: usize,
    /// chromedriver [default: found on PATH or in /usr/lib/chromium/]
    #[arg(long, env = "WAMUX_CHROMEDRIVER")]
    chromedriver: Option<PathBuf>,
    /// Chromium [default: /usr/lib/chromium/chromium-headless-shell, else /usr/lib/chromium/chromium, else found on PATH]
    #[arg(long, env = "WAMUX_CHROMIUM")]
    chromium: Option<PathBuf>,
    /// The worker binary [default: wamux-worker beside wamux, else on PATH]
    #[arg(long, env = "WAMUX_WORKER")]
    worker: Option<PathBuf>,
    /// Seconds a browser may take to start.
    #[arg(long, env = "WAMUX_BROWSER_START_TIMEOUT", default_value_t = 120)]
    browser_start_timeout: u64,
    /// Seconds one WebDriver call may take.
    #[arg(long, env = "WAMUX_WEBDRIVER_TIMEOUT", default_value_t = 180)]
    webdriver_timeout: u64,
    /// Seconds a send may take before it is reported as timed out.
    #[arg(long, env = "WAMUX_SEND_TIMEOUT", default_value_t = 60)]
    send_timeout: u64,
    /// How many browsers may launch at once; the other sessions queue [default: 4 per core]
    #[arg(long, env = "WAMUX_MAX_STARTING")]
    max_starting: Option<usize>,
    /// Browsers kept started on fresh profiles, their QR code on show, for new sessions to
    /// take: a created session shows its QR at once. Each costs a session's memory at idle.
    #[arg(long, env = "WAMUX_WARM_SPARES", default_value_t = 0)]
    warm_spares: usize,
    /// Recycle a session whose processes use more memory than this (PSS), e.g. 800M or 1G.
    #[arg(long, env = "WAMUX_MAX_SESSION_MEMORY", default_value = "800M", value_parser = config::parse_bytes)]
    max_session_memory: u64,
    /// Recycle each session after it has run this long, e.g. 6h (off by default).
    #[arg(long, env = "WAMUX_RECYCLE_AFTER", value_parser = config::parse_duration)]
    recycle_after: Option<Duration>,
    /// Require this key (X-Api-Key or Authorization: Bearer) on the API and the dashboard.
    #[arg(long, env = "WAMUX_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Allow listening beyond loopback without an API key.
    #[arg(long, env = "WAMUX_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// The Laravel application's .env, whose WHATSAPP_SELLS_* and WHATSAPP_COORDINATION_*
    /// keys are rewritten when a number is assigned.
    #[arg(long, env = "WAMUX_LARAVEL_ENV")]
    laravel_env: Option<PathBuf>,
    /// The address the Laravel application uses to reach wamux, for the send URLs in its .env
    /// [default: http:// and the listen address].
    #[arg(long, env = "WAMUX_PUBLIC_URL")]
    public_url: Option<String>,
    /// Another host name the API answers to (`name` or `name:port`), e.g. a reverse proxy's;
    /// repeatable. Requests naming any other host are refused.
    #[arg(long = "allowed-host", env = "WAMUX_ALLOWED_HOSTS", value_delimiter = ',',
          value_parser = crate::api::check_allowed_host)]
    allowed_hosts: Vec<String>,
    /// Move an assignment to another WORKING session when its session stays FAILED, stopped
    /// or logged out longer than --auto-switch-after.
    #[arg(long, env = "WAMUX_AUTO_SWITCH")]
    auto_switch: bool,
    /// How long an assigned session may be unusable before --auto-switch moves it, e.g. 2m.
    #[arg(long, env = "WAMUX_AUTO_SWITCH_AFTER", default_value = "60s", value_parser = config::parse_duration)]
    auto_switch_after: Duration,
    /// How often memory is sampled and orphan browsers are swept, e.g. 10s.
    #[arg(long, env = "WAMUX_WATCH_INTERVAL", default_value = "10s", value_parser = config::parse_duration)]
    watch_interval: Duration,
    /// How long a send request waits for WhatsApp to show the message sent before it answers
    /// 202 with the message queued; the message goes on either way.
    #[arg(long, env = "WAMUX_SEND_WAIT", default_value = "30s", value_parser = parse_wait)]
    send_wait: Duration,
    /// A message still unsent this long after it was accepted is expired, never sent late
    /// (a request's "ttlSeconds" overrides it).
    #[arg(long, env = "WAMUX_MESSAGE_TTL", default_value = "1h", value_parser = config::parse_duration)]
    message_ttl: Duration,
    /// The least time between two sends of a session, e.g. 5s, or 3s-8s for a random pause in
    /// that range [default: none].
    #[arg(long, env = "WAMUX_SEND_INTERVAL", value_parser = Interval::parse)]
    send_interval: Option<Interval>,
    /// The largest file a media message may carry, sent or received, e.g. 16M; larger is
    /// refused (413 media_too_large), or for a received one not kept.
    #[arg(long, env = "WAMUX_MAX_MEDIA_SIZE", default_value = "16M", value_parser = config::parse_bytes)]
    max_media_size: u64,
    /// Let send-media fetch URLs on loopback and private addresses (10/8, 192.168/16, ...),
    /// which it refuses by default so that an API caller cannot reach inside the network.
    #[arg(long, env = "WAMUX_ALLOW_PRIVATE_MEDIA_URLS")]
    allow_private_media_urls: bool,
    /// Finished messages (sent, failed, expired, received), events and webhook deliveries
    /// are kept this long, e.g. 30d.
    #[arg(long, env = "WAMUX_RETENTION", default_value = "30d", value_parser = config::parse_duration)]
    retention: Duration,
    /// Send every event of every session to this http:// URL, signed with --webhook-secret
    /// (the endpoint `wh_default` of /api/webhooks).
    #[arg(long, env = "WAMUX_WEBHOOK_URL", requires = "webhook_secret")]
    webhook_url: Option<String>,
    /// The --webhook-url endpoint's secret: "whsec_" and the base64 of 24 to 64 random bytes.
    #[arg(long, env = "WAMUX_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// How long a webhook delivery is retried before it is given up as failed, e.g. 24h.
    #[arg(long, env = "WAMUX_WEBHOOK_MAX_AGE", default_value = "24h", value_parser = config::parse_duration)]
    webhook_max_age: Duration,
    /// The first webhook retry's delay; the later ones are multiples of it. For tests, e.g. 50ms.
    #[arg(long, env = "WAMUX_WEBHOOK_RETRY_BASE", default_value = "5s", hide = true,
          value_parser = parse_retry_base)]
    webhook_retry_base: Duration,
    /// Share the sessions, messages, webhooks and events with other wamux nodes in this
    /// PostgreSQL database, e.g. postgres://wamux@db:5432/wamux [default: SQLite in --data-dir,
    /// one node].
    #[arg(long = "database", env = "WAMUX_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// This node's name among the nodes of one database [default: the host name].
    #[arg(long, env = "WAMUX_NODE_ID")]
    node_id: Option<String>,
    /// How the other nodes reach this node's API, e.g. http://10.0.0.5:3000 [default: the
    /// --public-url].
    #[arg(long, env = "WAMUX_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// A node's hold on a session lapses this long after its last renewal (renewed every
    /// third of it); another node then takes the session over.
    #[arg(long, env = "WAMUX_LEASE_TTL", default_value = "30s", value_parser = config::parse_duration)]
    lease_ttl: Duration,
    /// Keep the saved profiles of sessions in this folder, shared by every node, rather than
    /// in the database.
    #[arg(long, env = "WAMUX_PROFILE_STORE")]
    profile_store: Option<PathBuf>,
    /// On SIGTERM, hand every session over to the other nodes (one by one, profiles saved)
    /// before exiting.
    #[arg(long, env = "WAMUX_DRAIN_ON_STOP")]
    drain_on_stop: bool,
}

/// `--webhook-retry-base` may be in milliseconds, so that tests run the schedule in seconds.
fn parse_retry_base(text: &str) -> Result<Duration, String> {
    match text.trim().strip_suffix("ms").map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => Ok(Duration::from_millis(ms)),
        Some(_) => Err(format!("{text:?} is not a duration like 50ms or 5s")),
        None => config::parse_duration(text),
    }
}

/// `--send-wait` may be 0: answer 202 at once.
fn parse_wait(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    config::parse_duration(text)
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<ServeConfig> {
        let api_key = self.api_key.filter(|k| !k.is_empty());
        anyhow::ensure!(
            self.listen.ip().is_loopback() || api_key.is_some() || self.insecure_no_auth,
            "refusing to listen on {} without an API key: anyone who reaches it could send messages \
             from your numbers. Set --api-key (WAMUX_API_KEY), listen on 127.0.0.1, or pass \
             --insecure-no-auth",
            self.listen
        );
        if let Some(url) = &self.public_url {
            crate::api::check_public_url(url).map_err(|e| anyhow::anyhow!("--public-url: {e}"))?;
        }
        if let Some(url) = &self.webhook_url {
            check_url(url).map_err(|e| anyhow::anyhow!("--webhook-url: {e}"))?;
        }
        let webhook_secret = self
            .webhook_secret
            .as_deref()
            .map(Secret::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--webhook-secret: {e}"))?;
        let chromedriver = self
            .chromedriver
            .or_else(config::default_chromedriver)
            .context("chromedriver not found: install chromium-driver or pass --chromedriver")?;
        let chromium = self
            .chromium
            .or_else(config::default_chromium)
            .context("Chromium not found: install chromium or pass --chromium")?;
        let worker_bin = self
            .worker
            .or_else(config::default_worker)
            .context("wamux-worker not found beside wamux nor on PATH: pass --worker")?;
        if let Some(url) = &self.advertise_url {
            crate::api::check_public_url(url)
                .map_err(|e| anyhow::anyhow!("--advertise-url: {e}"))?;
        }
        anyhow::ensure!(
            self.lease_ttl >= Duration::from_secs(3),
            "--lease-ttl must be at least 3s: a node renews every third of it"
        );
        let cluster = match self.database_url.filter(|u| !u.is_empty()) {
            Some(database_url) => Some(ClusterConfig {
                database_url,
                node_id: match self.node_id {
                    Some(id) => id,
                    None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .context("reading the host name for --node-id")?
                        .trim()
                        .to_owned(),
                },
                advertise_url: self.advertise_url,
                lease_ttl: self.lease_ttl,
                profile_store: self.profile_store,
                drain_on_stop: self.drain_on_stop,
            }),
            None => None,
        };
        Ok(ServeConfig {
            listen: self.listen,
            cluster,
            data_dir: self.data_dir,
            web_url: self.web_url,
            max_sessions: self.max_sessions,
            chromedriver,
            chromium,
            worker_bin,
            browser_start_timeout: Duration::from_secs(self.browser_start_timeout),
            webdriver_timeout: Duration::from_secs(self.webdriver_timeout),
            send_timeout: Duration::from_secs(self.send_timeout),
            stop_grace: Duration::from_secs(10),
            max_starting: self
                .max_starting
                .unwrap_or_else(config::default_max_starting)
                .max(1),
            warm_spares: self.warm_spares,
            max_session_memory: self.max_session_memory,
            recycle_after: self.recycle_after,
            watch_interval: self.watch_interval,
            api_key,
            laravel_env: self.laravel_env,
            public_url: self.public_url,
            allowed_hosts: self.allowed_hosts,
            auto_switch: self.auto_switch.then_some(self.auto_switch_after),
            outbox: OutboxConfig {
                send_wait: self.send_wait,
                ttl: self.message_ttl,
                retention: self.retention,
                interval: self.send_interval,
                media: MediaConfig {
                    max_size: self.max_media_size,
                    allow_private_urls: self.allow_private_media_urls,
                },
            },
            webhooks: WebhookConfig {
                url: self.webhook_url,
                secret: webhook_secret,
                max_age: self.webhook_max_age,
                retry_base: self.webhook_retry_base,
            },
        })
    }
}

/// Watches SIGTERM and SIGINT: the first cancels `shutdown` (a clean stop); a second one
/// forces the stop: every worker's group is killed and the daemon exits at once.
fn watch_signals(shutdown: CancellationToken, notifier: Arc<Notifier>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    tokio::spawn(async move {
        for n in 0.. {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if n == 0 {
                tracing::info!("stopping; a second signal forces it");
                notifier.notify("STOPPING=1\nSTATUS=stopping the workers");
                shutdown.cancel();
            } else {
                tracing::warn!("second signal: killing every worker and exiting now");
                crate::process::reaper::kill_all_worker_groups();
                std::process::exit(130);
            }
        }
    });
    Ok(())
}

pub async fn run(args: ServeArgs, notifier: Notifier) -> ExitCode {
    let notifier = Arc::new(notifier);
    let result = async {
        let config = args.into_config()?;
        let shutdown = CancellationToken::new();
        watch_signals(shutdown.clone(), notifier.clone())?;
        if let Some(every) = notifier.watchdog_interval() {
            let notifier = notifier.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    notifier.notify("WATCHDOG=1");
                }
            });
        }
        let ready = notifier.clone();
        crate::daemon::serve::run(config, shutdown.cancelled_owned(), move |addr| {
            // Scripts and tests wait for this line to know the API answers.
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "wamux listening on http://{addr}");
            let _ = stdout.flush();
            ready.notify(&format!("READY=1\nSTATUS=serving on http://{addr}"));
        })
        .await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("wamux: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(flags: &[&str]) -> anyhow::Result<ServeConfig> {
        let tools = [
            "--chromedriver",
            "/bin/false",
            "--chromium",
            "/bin/false",
            "--worker",
            "/bin/false",
        ];
        let argv = std::iter::once("serve")
            .chain(flags.iter().copied())
            .chain(tools);
        Serve::try_parse_from(argv)
            .expect("the flags parse")
            .args
            .into_config()
    }

    #[test]
    fn listening_beyond_loopback_needs_a_key() {
        let refused = config(&["--listen", "0.0.0.0:0"]).unwrap_err();
        assert!(
            refused.to_string().contains("without an API key"),
            "{refused}"
        );
        assert!(
            config(&["--listen", "0.0.0.0:0", "--api-key", ""]).is_err(),
            "an empty key is none"
        );
        config(&["--listen", "0.0.0.0:0", "--api-key", "k"]).unwrap();
        config(&["--listen", "0.0.0.0:0", "--insecure-no-auth"]).unwrap();
        config(&["--listen", "127.0.0.1:0"]).unwrap();
    }

    #[test]
    fn allowed_hosts_are_repeated_or_comma_separated_and_checked() {
        let parsed = config(&[
            "--allowed-host",
            "wamux.example.com",
            "--allowed-host",
            "lan.example:9000,[::1]:8083",
        ])
        .unwrap();
        assert_eq!(
            parsed.allowed_hosts,
            ["wamux.example.com", "lan.example:9000", "[::1]:8083"]
        );
        for bad in ["bad host", "x:port", "user@x", "http://x"] {
            assert!(
                Serve::try_parse_from(["serve", "--allowed-host", bad]).is_err(),
                "{bad}"
            );
        }
        let refused = config(&["--public-url", "wamux.example.com"]).unwrap_err();
        assert!(refused.to_string().contains("--public-url"), "{refused}");
        config(&["--public-url", "https://wamux.example.com/base"]).unwrap();
    }

    #[test]
    fn media_limits_default_to_16_mib_and_no_private_urls() {
        let parsed = config(&[]).unwrap();
        assert_eq!(
            parsed.outbox.media,
            MediaConfig {
                max_size: 16 << 20,
                allow_private_urls: false,
            }
        );
        let parsed = config(&["--max-media-size", "2M", "--allow-private-media-urls"]).unwrap();
        assert_eq!(
            parsed.outbox.media,
            MediaConfig {
                max_size: 2 << 20,
                allow_private_urls: true,
            }
        );
        assert!(Serve::try_parse_from(["serve", "--max-media-size", "big"]).is_err());
    }

    #[test]
    fn the_webhook_flags_are_checked() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let parsed = config(&[
            "--webhook-url",
            "http://127.0.0.1:8000/hook",
            "--webhook-secret",
            secret,
            "--webhook-retry-base",
            "50ms",
        ])
        .unwrap();
        assert_eq!(
            parsed.webhooks.url.as_deref(),
            Some("http://127.0.0.1:8000/hook")
        );
        assert_eq!(parsed.webhooks.secret.unwrap().to_text(), secret);
        assert_eq!(parsed.webhooks.retry_base, Duration::from_millis(50));
        assert_eq!(parsed.webhooks.max_age, Duration::from_secs(86400));
        for (flags, says) in [
            (
                ["--webhook-url", "https://x/", "--webhook-secret", secret],
                "--webhook-url",
            ),
            (
                [
                    "--webhook-url",
                    "http://x/",
                    "--webhook-secret",
                    "whsec_c2hvcnQ=",
                ],
                "--webhook-secret",
            ),
        ] {
            let refused = config(&flags).unwrap_err().to_string();
            assert!(refused.contains(says), "{refused}");
        }
        assert!(
            Serve::try_parse_from(["serve", "--webhook-url", "http://x/"]).is_err(),
            "a URL needs a secret"
        );
    }
}
