//! The one thread that forks the workers.
//!
//! A worker asks for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), so that it never
//! outlives a supervisor killed with SIGKILL. Linux sends that signal when the *thread* that
//! forked the worker exits, not the process, and tokio retires threads: an idle blocking
//! thread after ten seconds, and a worker thread that `block_in_place` (the store's calls)
//! handed over to the blocking pool. A worker forked on such a thread was stopped for nothing
//! a few seconds later. Every worker is therefore forked here, on a thread that lives as long
//! as the daemon.
//!
//! 1. The first call starts the thread; each call sends it the command and the caller's
//!    runtime handle, and waits for the answer.
//! 2. The thread enters that runtime (its process driver reaps the child and reads its pipes)
//!    and spawns the command.

use std::sync::OnceLock;
use std::sync::mpsc::{Sender, SyncSender, channel, sync_channel};

use tokio::process::{Child, Command};
use tokio::runtime::Handle;

type Job = (Command, Handle, SyncSender<std::io::Result<Child>>);

static JOBS: OnceLock<Sender<Job>> = OnceLock::new();

fn jobs() -> std::io::Result<&'static Sender<Job>> {
    if let Some(jobs) = JOBS.get() {
        return Ok(jobs);
    }
    let (tx, rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("wamux-forker".into())
        .spawn(move || {
            for (mut command, handle, reply) in rx {
                let _runtime = handle.enter();
                let _ = reply.send(command.spawn());
            }
        })?;
    // Two first calls at once: one thread's sender wins, the other thread ends with its
    // channel, having forked nothing.
    Ok(JOBS.get_or_init(|| tx))
}

/// Spawns `command` from the forker thread, within the caller's tokio runtime.
pub fn spawn(command: Command) -> std::io::Result<Child> {
    let handle = Handle::current();
    let (reply, answer) = sync_channel(1);
    jobs()?
        .send((command, handle, reply))
        .map_err(|_| std::io::Error::other("the forker thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the forker thread is gone"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `sleep 60` that asks for SIGTERM when the thread that forked it exits, as a worker does.
    fn dies_with_its_forker() -> Command {
        let mut command = Command::new("sleep");
        command.arg("60").kill_on_drop(true);
        // SAFETY: only an async-signal-safe system call between fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
        command
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_child_outlives_the_thread_that_asked_for_it() {
        let handle = Handle::current();
        // Each asked for on a thread that ends at once, as tokio's retired threads do.
        let on_a_thread = |fork: fn(Command) -> std::io::Result<Child>| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                let _runtime = handle.enter();
                fork(dies_with_its_forker()).unwrap()
            })
            .join()
            .unwrap()
        };
        let mut direct = on_a_thread(|mut command| command.spawn());
        let mut forked = on_a_thread(spawn);

        let status = tokio::time::timeout(Duration::from_secs(10), direct.wait())
            .await
            .expect("forked on the thread that ended, it got its signal")
            .unwrap();
        assert!(!status.success(), "{status}");
        assert!(
            forked.try_wait().unwrap().is_none(),
            "forked by the forker thread, it lives on"
        );
        forked.kill().await.unwrap();
    }
}
