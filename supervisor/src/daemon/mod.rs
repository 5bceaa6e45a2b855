//! The daemon's life: its configuration, start and shutdown, the housekeeping that runs beside
//! the sessions, its metrics, and the systemd notification protocol.

pub mod config;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod serve;
