//! The daemon as child subreaper: whatever its workers leave behind comes back to it.
//!
//! A browser process whose parent dies is re-parented to the nearest subreaper instead of
//! PID 1, so nothing of a session's tree escapes to where the daemon cannot see it, and the
//! daemon reaps those adopted processes itself (it may be PID 1 in a container). Workers are
//! reaped by their supervising tasks through tokio; only other zombie children are reaped here,
//! each by its own pid, never with a wildcard wait that could steal a worker's exit status.

use std::collections::HashSet;

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use wamux_procfs::{Group, processes};

pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Reaps zombie children that are not `workers`; returns how many.
pub fn reap_adopted(workers: &HashSet<u32>) -> usize {
    let me = std::process::id();
    processes()
        .filter(|p| p.ppid == me && p.zombie && !workers.contains(&p.pid))
        .filter(|p| waitpid(Pid::from_raw(p.pid as i32), Some(WaitPidFlag::WNOHANG)).is_ok())
        .count()
}

/// SIGKILL to the process group of every child: the last resort of a forced shutdown, when the
/// workers did not stop in time. Every worker leads its group, and a child's pid stays its own
/// until it is reaped, so this ends all browsers and nothing else.
pub fn kill_all_worker_groups() {
    let me = std::process::id();
    for p in processes().filter(|p| p.ppid == me && p.pgid == p.pid) {
        Group::led_by(p.pid).kill();
    }
}
