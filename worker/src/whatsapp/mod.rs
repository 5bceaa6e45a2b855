//! The WhatsApp Web page and the session on it: what the page shows ([`page`], with its page
//! scripts in `scripts/`) and what its own modules tell ([`modules`]), the state machine that
//! follows it ([`session`]), and the flows it runs on the page: sending a text through the
//! modules ([`module_send`]) or the DOM ([`send`]), sending a file through the DOM
//! ([`media_send`]), noticing incoming messages through the DOM ([`incoming`]), reading the
//! files of incoming media ([`media_receive`]) and asking for a pairing code ([`pairing`]).

pub mod incoming;
pub mod media_receive;
pub mod media_send;
pub mod module_send;
pub mod modules;
pub mod page;
pub mod pairing;
pub mod send;
pub mod session;
