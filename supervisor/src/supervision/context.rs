//! What every session's task shares: the configuration, the store, the worker link, the two
//! gates, the event bus, the metrics, the outbox and the webhooks; and the one function that
//! changes a session's status.

use std::sync::Arc;

use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::daemon::config::{DataDir, ServeConfig};
use crate::daemon::metrics::Metrics;
use crate::messaging::outbox::Outbox;
use crate::messaging::webhooks::Webhooks;
use crate::sessions::events::{EventBus, EventKind};
use crate::sessions::session::{Session, Status};
use crate::store::Store;
use crate::supervision::lifecycle::{HANDSHAKE_TIMEOUT, LastError, Policy};
use crate::supervision::link::WorkerLink;

pub struct Context {
    pub config: ServeConfig,
    pub data: DataDir,
    pub store: Arc<Store>,
    pub link: Arc<WorkerLink>,
    /// Launching Chromium is CPU-bound: five at once on two cores starve each other and the
    /// host. A worker holds a permit from spawn until its page shows a QR or the app, or its
    /// start fails.
    pub start_gate: Arc<Semaphore>,
    /// Recycles go one session at a time, so the sessions are never all down at once.
    pub recycle_gate: Arc<Mutex<()>>,
    pub events: EventBus,
    pub metrics: Arc<Metrics>,
    pub outbox: Arc<Outbox>,
    pub webhooks: Arc<Webhooks>,
    pub started: Instant,
    /// With `--database`: this node's part among several.
    pub cluster: Option<Arc<Cluster>>,
}

impl Context {
    pub fn new(
        config: ServeConfig,
        data: DataDir,
        store: Arc<Store>,
        link: Arc<WorkerLink>,
    ) -> Self {
        let start_gate = Arc::new(Semaphore::new(config.max_starting.max(1)));
        let events = EventBus::new(store.clone());
        let metrics = Arc::new(Metrics::default());
        let outbox = Arc::new(Outbox::new(
            store.clone(),
            events.clone(),
            metrics.clone(),
            config.outbox.clone(),
        ));
        let webhooks = Arc::new(Webhooks::new(
            store.clone(),
            events.deliveries(),
            config.webhooks.clone(),
        ));
        Context {
            config,
            data,
            store,
            link,
            start_gate,
            recycle_gate: Arc::new(Mutex::new(())),
            events,
            metrics,
            outbox,
            webhooks,
            started: Instant::now(),
            cluster: None,
        }
    }

    /// With several nodes: this node's part, over the store `fence`d with its leases.
    pub fn with_cluster(mut self, cluster: Option<Cluster>) -> Self {
        self.cluster = cluster.map(Arc::new);
        self
    }

    /// The lifecycle's settings, from the configuration.
    pub fn policy(&self) -> Policy {
        Policy {
            start_timeout: self.config.browser_start_timeout,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            max_memory: self.config.max_session_memory,
            recycle_after: self.config.recycle_after,
            watch_interval: self.config.watch_interval,
        }
    }

    /// Changes a session's status: in memory, in the store and as an event, together. The
    /// event goes out when the status or the error changed.
    pub fn set_status(&self, session: &Session, status: Status, error: LastError) {
        if session.evicted() {
            return;
        }
        let (changed, last_error, phone_number) = session.update(|s| {
            let before = (s.status, s.last_error.clone());
            s.set_status(status);
            match &error {
                LastError::Keep => {}
                LastError::Clear => s.last_error = None,
                LastError::Set(e) => s.last_error = Some(e.clone()),
            }
            if status != Status::ScanQrCode {
                s.qr = None;
            }
            (
                before != (s.status, s.last_error.clone()),
                s.last_error.clone(),
                s.phone_number.clone(),
            )
        });
        if let Err(e) = self
            .store
            .set_status(&session.id, status.as_str(), last_error.as_deref())
        {
            tracing::error!(error = %e, "could not record the status");
        }
        if changed {
            self.events.publish(
                &session.id,
                EventKind::Status {
                    status,
                    last_error,
                    phone_number,
                },
            );
        }
    }
}
