//! The wamux supervisor: the daemon (`wamux serve`) and the CLI that talks to it.
//!
//! The daemon keeps a registry of sessions in SQLite ([`store`]), runs one `wamux-worker`
//! process per session ([`supervise`], [`spawn`]) that connects back over a Unix socket
//! ([`link`]), and serves the HTTP API ([`api`]). Browsers never outlive their session:
//! [`kill`] removes a worker's whole process group and [`sweep`] finds any browser left on a
//! profile of this data directory.

pub mod api;
pub mod assignments;
pub mod cli;
pub mod config;
pub mod events;
pub mod kill;
pub mod laravel_env;
pub mod link;
pub mod manager;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod qr;
pub mod reaper;
pub mod serve;
pub mod session;
pub mod spawn;
pub mod store;
pub mod supervise;
pub mod sweep;
