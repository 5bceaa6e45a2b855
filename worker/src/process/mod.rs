//! The worker as a process: its command line, its link to the supervisor, why and when it
//! stops, the Chromium profile it must be able to use before anything starts, and the network
//! namespace it runs in with the proxy that is its browser's only way out.

pub mod args;
pub mod link;
pub mod netns;
pub mod profile;
pub mod socks;
pub mod stop;
