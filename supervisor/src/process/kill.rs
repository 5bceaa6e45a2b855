//! Ending a worker's process group: the worker, its chromedriver and every Chromium process.
//!
//! Chromium never leaves the process group it was started in (measured, see the engineering
//! notes), so one `killpg(SIGKILL)` removes the whole tree, even after the worker itself died.
//! The group is signalled only while a process seen in it is still there, so a pgid reused by
//! someone else's group is never hit; see [`Group`].

pub use wamux_procfs::Group;
