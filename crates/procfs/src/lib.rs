//! The operating system's process table, for everything in wamux that finds, signals or waits
//! for processes: workers, chromedrivers and Chromiums.
//!
//! A pid alone does not name a process: the kernel hands a freed pid to the next process (pids
//! wrap at `pid_max`, which a busy machine reaches within minutes). So a process is known as a
//! [`Proc`], its pid together with its start time, and every check and every signal goes
//! through that identity:
//! - [`processes`] and [`info`] read the table ([`ProcessInfo`]);
//! - [`cmdline`], [`uses_profile`], [`runs`] and [`on_profile`] recognise processes by their
//!   command line;
//! - [`kill`] signals one process only while it is the one seen; a [`Group`] signals a process
//!   group only while a process seen in it is still there, never a pgid that may have been
//!   reused;
//! - [`wait_gone`] and [`Group::wait_gone`] poll until the processes seen have ended;
//! - [`memory`] is what one process really costs (its PSS).

mod cmdline;
mod group;
mod memory;
mod table;

pub use cmdline::{cmdline, on_profile, runs, uses_profile};
pub use group::{Group, group_members, kill_group};
pub use memory::memory;
pub use nix::errno::Errno;
pub use nix::sys::signal::Signal;
pub use table::{Proc, ProcessInfo, info, kill, processes, wait_gone};
