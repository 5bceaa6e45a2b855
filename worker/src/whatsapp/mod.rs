//! The WhatsApp Web page and the session on it: what the page shows ([`page`], with its page
//! scripts in `scripts/`), the state machine that follows it ([`session`]), and the flows it runs
//! on the page: sending ([`send`]), noticing incoming messages ([`incoming`]) and asking for a
//! pairing code ([`pairing`]).

pub mod incoming;
pub mod page;
pub mod pairing;
pub mod send;
pub mod session;
