//! The worker as a process: its command line, its link to the supervisor, why and when it
//! stops, and the Chromium profile it must be able to use before anything starts.

pub mod args;
pub mod link;
pub mod profile;
pub mod stop;
