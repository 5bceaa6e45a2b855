//! The rows of `/proc`, and a process known by its identity: pid and start time.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// How often waits look at the table again.
const POLL: Duration = Duration::from_millis(20);

/// One row of the process table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub zombie: bool,
    /// Clock ticks after boot: with the pid, it names one process even after its pid is reused.
    pub start: u64,
}

impl ProcessInfo {
    /// This row's process, as seen now.
    pub fn proc(&self) -> Proc {
        Proc {
            pid: self.pid,
            start: self.start,
        }
    }
}

/// Every process visible in `/proc`; processes that vanish while being read are skipped.
pub fn processes() -> impl Iterator<Item = ProcessInfo> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| info(entry.file_name().to_str()?.parse().ok()?))
}

/// The row of `pid`, if a process (a zombie included) has that pid now.
pub fn info(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// `/proc/PID/stat`: the command name is in parentheses and may hold spaces and `)`, so the
/// fields are counted from the last `)` (state is field 3, ppid 4, pgrp 5, starttime 22).
fn parse_stat(pid: u32, stat: &str) -> Option<ProcessInfo> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(ProcessInfo {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        zombie: *fields.first()? == "Z",
        start: fields.get(19)?.parse().ok()?,
    })
}

/// A process as it was seen: its pid and its start time, so that a process that gets the pid
/// later is never taken for this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proc {
    pub pid: u32,
    pub start: u64,
}

impl Proc {
    /// The process that has `pid` now, if any (a zombie included).
    pub fn of(pid: u32) -> Option<Proc> {
        info(pid).map(|p| p.proc())
    }

    /// Its row now, if this very process still exists (a zombie included).
    pub fn now(&self) -> Option<ProcessInfo> {
        info(self.pid).filter(|now| now.start == self.start)
    }

    /// Whether this very process still runs: same pid, same start time, not a zombie.
    pub fn alive(&self) -> bool {
        self.now().is_some_and(|now| !now.zombie)
    }
}

/// Sends `signal` to `p` if it is still the process seen; `Ok(false)` when it is gone.
pub fn kill(p: Proc, signal: Signal) -> nix::Result<bool> {
    if !p.alive() {
        return Ok(false);
    }
    match nix::sys::signal::kill(Pid::from_raw(p.pid as i32), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Polls until none of `seen` lives, for at most `limit`; `true` when none does.
pub async fn wait_gone(seen: &[Proc], limit: Duration) -> bool {
    poll_until(limit, || !seen.iter().any(Proc::alive)).await
}

/// Polls `done` every [`POLL`] for at most `limit`; `true` once it holds.
pub(crate) async fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// A child leading its own process group; the group is killed and the child reaped on
    /// drop, so a failing test leaves nothing behind.
    pub(crate) struct Reaped {
        pub(crate) child: std::process::Child,
        pub(crate) group: crate::Group,
    }

    impl Reaped {
        pub(crate) fn spawn(command: &mut Command) -> Reaped {
            let child = command.process_group(0).spawn().unwrap();
            let group = crate::Group::led_by(child.id());
            Reaped { child, group }
        }
    }

    impl Drop for Reaped {
        fn drop(&mut self) {
            self.group.kill();
            let _ = self.child.wait();
        }
    }

    const TAIL: &str = "0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10";

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let p = parse_stat(42, &format!("42 (a) b) c) S 1 40 40 {TAIL}")).unwrap();
        assert_eq!((p.ppid, p.pgid, p.zombie, p.start), (1, 40, false, 12345));
        let spaced = parse_stat(45, &format!("45 (we ird (name)) R 7 45 45 {TAIL}")).unwrap();
        assert_eq!((spaced.ppid, spaced.pgid), (7, 45));
        assert!(
            parse_stat(43, &format!("43 (x) Z 1 43 43 {TAIL}"))
                .unwrap()
                .zombie
        );
        assert!(parse_stat(44, "garbage").is_none());
        assert!(parse_stat(44, "44 (short) S 1 2").is_none());
    }

    #[test]
    fn this_process_is_listed_and_alive() {
        let me = std::process::id();
        let row = processes().find(|p| p.pid == me).expect("listed");
        assert!(!row.zombie && row.start > 0);
        assert!(row.proc().alive());
        assert_eq!(Proc::of(me), Some(row.proc()));
    }

    #[tokio::test]
    async fn a_process_with_another_start_time_is_not_alive_and_never_signalled() {
        let mut reaped = Reaped::spawn(Command::new("sleep").arg("300"));
        let child = &mut reaped.child;
        let real = Proc::of(child.id()).unwrap();
        let impostor = Proc {
            pid: real.pid,
            start: real.start + 1,
        };
        assert!(!impostor.alive());
        assert_eq!(impostor.now(), None);
        assert_eq!(kill(impostor, Signal::SIGKILL), Ok(false));
        assert_eq!(
            child.try_wait().unwrap(),
            None,
            "the real process was signalled"
        );
        assert!(real.alive());

        assert_eq!(kill(real, Signal::SIGKILL), Ok(true));
        child.wait().unwrap();
        assert!(wait_gone(&[real], Duration::from_secs(10)).await);
        assert_eq!(
            kill(real, Signal::SIGKILL),
            Ok(false),
            "a gone process is not signalled"
        );
    }

    #[tokio::test]
    async fn a_zombie_is_not_alive_but_still_exists() {
        let mut child = Command::new("true").spawn().unwrap();
        // Unreaped, the child keeps its row until `wait`, so it is seen even if it already ended.
        let seen = Proc::of(child.id()).unwrap();
        assert!(wait_gone(&[seen], Duration::from_secs(10)).await);
        assert!(!seen.alive());
        assert!(seen.now().is_some_and(|p| p.zombie));
        child.wait().unwrap();
        assert_eq!(seen.now(), None);
    }
}
