//! The operating system's side of sessions: forking workers, ending a worker's process group, finding browsers
//! by their profile, a group's memory, and the subreaper. What reads `/proc` lives in the
//! `wamux-procfs` crate; this module applies it to the data directory's layout.

pub mod forker;
pub mod kill;
pub mod reaper;
pub mod sweep;
