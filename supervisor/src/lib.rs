//! The wamux supervisor: the daemon (`wamux serve`) and the CLI that talks to it.
//!
//! A map of the modules, from the outside in:
//! - [`cli`]: every subcommand; `serve` runs the daemon, the others talk to it over HTTP.
//! - [`api`]: the HTTP API and the dashboard; it sees the daemon only through
//!   [`api::AppState`].
//! - [`daemon`]: the daemon's life (start, housekeeping, shutdown), its configuration and data
//!   directory, metrics and the systemd notification protocol.
//! - [`sessions`]: a session's state, the registry that creates, finds and ends sessions, and
//!   the event stream.
//! - [`egress`]: the isolated workers' way to the web (their browsers' only one), directly or
//!   through a session's upstream proxy, and whether workers can be isolated at all.
//! - [`supervision`]: one task per session runs its worker; the policy is a pure function in
//!   `lifecycle`, performed by `driver` over `spawn` and the worker `link`.
//! - [`process`]: process groups, orphan browsers, memory and the subreaper, over the
//!   `wamux-procfs` crate.
//! - [`messaging`]: the durable outbox (a message accepted is sent once, in order, and can be
//!   asked about), the inbox (each incoming message stored once), and the webhooks (every
//!   event, signed, in order, to every endpoint that subscribes).
//! - [`store`]: everything that must survive a restart, in SQLite, or in PostgreSQL shared by
//!   several nodes.
//! - [`cluster`]: several nodes on one PostgreSQL: leases, profiles that travel, forwarding.
//! - [`laravel`]: the Laravel assignments and the `.env` they rewrite.

pub mod api;
pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod egress;
pub mod laravel;
pub mod messaging;
pub mod process;
pub mod sessions;
pub mod store;
pub mod supervision;
