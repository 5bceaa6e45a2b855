//! Sessions as the rest of the daemon sees them: their state, the registry that creates, finds
//! and ends them, and the stream of what happens to them.

pub mod events;
pub mod pairing;
pub mod registry;
pub mod session;
