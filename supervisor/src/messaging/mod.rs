//! Messages wamux sends and receives: the durable outbox and inbox, and the webhooks that tell
//! of every event. A message is written to the store before it is answered, goes out one at a
//! time per session in the order accepted, and is never lost nor sent twice across crashes of
//! the worker, the browser or the daemon.
//!
//! - [`status`]: a message's status and its public names.
//! - [`policy`]: the decisions, pure: what a worker's answer means, pacing, what the API answers.
//! - [`outbox`]: the service over the store that the API and the session driver use.
//! - [`inbox`]: the messages that arrive, each stored once before the worker is told so, and
//!   listed with the outbox's.
//! - [`media`]: the files of media messages, kept by their hash, and fetching a file to send
//!   from a URL without reaching inside the network.
//! - [`webhooks`]: signed, ordered, durable webhook deliveries of the events.

pub mod inbox;
pub mod media;
pub mod outbox;
pub mod policy;
pub mod status;
pub mod webhooks;
