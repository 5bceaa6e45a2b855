//! The worker's network namespace: what keeps its chromedriver's and Chromium's TCP ports
//! (both unauthenticated) out of every other process's reach.
//!
//! 1. `unshare(CLONE_NEWNET)`, which needs CAP_SYS_ADMIN (a daemon running as root); refused,
//!    `unshare(CLONE_NEWUSER | CLONE_NEWNET)`: a user namespace in which the worker's own uid
//!    and gid map to themselves, so files keep their owners and nothing gains a privilege
//!    outside. Either must happen while the process has one thread: the kernel refuses a new
//!    user namespace to a multi-threaded process, hence before the async runtime starts.
//! 2. Bring the namespace's loopback up (it starts down, without even 127.0.0.1).
//!
//! chromedriver and Chromium, started later as children, inherit the namespace; their ports
//! live on a loopback only the worker's own processes share. The supervisor's Unix sockets are
//! paths on the file system, reachable from any network namespace.

use std::io;

use anyhow::{Context, Result};
use nix::libc;

/// Which kind of namespace the worker entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// A network namespace alone (the worker had CAP_SYS_ADMIN).
    Network,
    /// A user namespace holding the network namespace (an unprivileged worker).
    UserAndNetwork,
}

/// Moves this process into a network namespace of its own with its loopback up. Must be
/// called before any thread is started.
pub fn enter() -> Result<Entered> {
    let entered = if unshare(libc::CLONE_NEWNET).is_ok() {
        Entered::Network
    } else {
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET)
            .context("cannot create a user and network namespace")?;
        // An unprivileged process may write a gid map only once setgroups is denied.
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
        Entered::UserAndNetwork
    };
    loopback_up().context("cannot bring the namespace's loopback up")?;
    Ok(entered)
}

fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes flags only and changes nothing but this process's namespaces.
    if unsafe { libc::unshare(flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_proc(path: &str, content: &str) -> Result<()> {
    std::fs::write(path, content).with_context(|| format!("cannot write {content:?} to {path}"))
}

/// `ip link set lo up`, by the two ioctls it performs.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket call; the descriptor is owned (and closed) right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    // SAFETY: ifreq is plain data, valid when zeroed.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: both ioctls read and write the ifreq they are given, which outlives the calls.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
