//! Running a session's worker: the pure policy that decides what happens next
//! ([`lifecycle`]), the driver that performs its decisions against a real worker process
//! ([`driver`]), one worker process from spawn to the end of its group ([`worker`]), spawning
//! it ([`spawn`]), the socket it connects back on ([`link`]) and the browsers started ahead of
//! need for sessions to take ([`spares`]).

pub mod context;
pub mod driver;
pub mod lifecycle;
pub mod link;
pub mod spares;
pub mod spawn;
pub mod worker;
