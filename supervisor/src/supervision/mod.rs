//! Running a session's worker: the pure policy that decides what happens next
//! ([`lifecycle`]), the driver that performs its decisions against a real worker process
//! ([`driver`]), spawning it ([`spawn`]) and the socket it connects back on ([`link`]).

pub mod context;
pub mod driver;
pub mod lifecycle;
pub mod link;
pub mod spawn;
