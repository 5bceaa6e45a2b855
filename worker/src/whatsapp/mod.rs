//! The WhatsApp Web page and the session on it: what the page shows ([`page`], with its page
//! scripts in `scripts/`) and what its own modules tell ([`modules`]), the state machine that
//! follows it ([`session`]), and the flows it runs on the page: sending through the modules
//! ([`module_send`]) or the DOM ([`send`]), noticing incoming messages through the DOM
//! ([`incoming`]) and asking for a pairing code ([`pairing`]).

pub mod incoming;
pub mod module_send;
pub mod modules;
pub mod page;
pub mod pairing;
pub mod send;
pub mod session;
