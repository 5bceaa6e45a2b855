//! Process groups, signalled and awaited only while they are provably the group seen.
//!
//! A worker leads a process group that its chromedriver and every Chromium process stay in, so
//! one `killpg` ends the whole tree, even after the worker itself died. But a pgid is a pid: once
//! the group has emptied, the number may lead someone else's group. A pgid stays reserved while
//! any process of its group exists (a zombie included), so the group is ours exactly while a
//! process seen in it, with its recorded start time, is still in it; only then is it signalled.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::memory::memory;
use crate::table::{Proc, poll_until, processes};

/// Live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<Proc> {
    processes()
        .filter(|p| p.pgid == pgid && !p.zombie)
        .map(|p| p.proc())
        .collect()
}

/// Whether one of `known` still exists (a zombie included) in group `pgid`.
fn holds(pgid: u32, known: &[Proc]) -> bool {
    known
        .iter()
        .any(|p| p.now().is_some_and(|now| now.pgid == pgid))
}

/// Sends `signal` to group `pgid` if one of `known` is still in it; `Ok(false)` when none is
/// (the group is gone, or the number may now be another group's).
pub fn kill_group(pgid: u32, known: &[Proc], signal: Signal) -> nix::Result<bool> {
    if !holds(pgid, known) {
        return Ok(false);
    }
    match killpg(Pid::from_raw(pgid as i32), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A worker's process group, known by the processes seen in it (pid + start time).
///
/// Whenever the group is looked at while it is provably this group, every process in it then
/// becomes known, so that the group stays recognised after its leader and the members recorded
/// first are gone (Chromium's helpers may outlive the browser by a moment).
#[derive(Debug)]
pub struct Group {
    pgid: u32,
    known: Mutex<Vec<Proc>>,
}

impl Group {
    /// The group led by `pid`, its leader's start time recorded now.
    pub fn led_by(pid: u32) -> Group {
        let group = Group::known_by(pid, Vec::new());
        group.remember(pid);
        group
    }

    /// Group `pgid` with every process in it now: for a caller that knows `pgid` is its group at
    /// this moment but has recorded none of its members.
    pub fn as_now(pgid: u32) -> Group {
        Group::known_by(pgid, in_group(pgid))
    }

    fn known_by(pgid: u32, known: Vec<Proc>) -> Group {
        Group {
            pgid,
            known: Mutex::new(known),
        }
    }

    fn known(&self) -> MutexGuard<'_, Vec<Proc>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a member reported later (a chromedriver, a browser); a pid that is not in the
    /// group now is ignored.
    pub fn remember(&self, pid: u32) {
        let mut known = self.known();
        if let Some(now) = crate::table::info(pid)
            && now.pgid == self.pgid
            && !known.contains(&now.proc())
        {
            known.push(now.proc());
        }
    }

    pub fn pgid(&self) -> u32 {
        self.pgid
    }

    /// Whether the group is still this group, learning its current members if it is.
    fn refresh(&self) -> bool {
        let mut known = self.known();
        let ours = holds(self.pgid, &known);
        if ours {
            *known = in_group(self.pgid);
        }
        ours
    }

    /// Sends `signal` to the group if a known member is still in it; see [`kill_group`].
    pub fn signal(&self, signal: Signal) -> nix::Result<bool> {
        self.refresh();
        kill_group(self.pgid, &self.known(), signal)
    }

    /// SIGKILL to the group if a known member is still in it; `true` when it was signalled.
    pub fn kill(&self) -> bool {
        self.signal(Signal::SIGKILL).unwrap_or(false)
    }

    /// The live members of the group, while it is still this group.
    pub fn members(&self) -> Vec<u32> {
        self.live().iter().map(|p| p.pid).collect()
    }

    fn live(&self) -> Vec<Proc> {
        if !self.refresh() {
            return Vec::new();
        }
        self.known().iter().copied().filter(Proc::alive).collect()
    }

    /// Polls until no process of the group lives, for at most `limit`; `true` when none does.
    pub async fn wait_gone(&self, limit: Duration) -> bool {
        poll_until(limit, || self.live().is_empty()).await
    }

    /// What the group really costs, in bytes: the sum of its live members' PSS.
    pub fn memory(&self) -> u64 {
        self.live().into_iter().map(memory).sum()
    }
}

/// Every process of group `pgid`, zombies included: they too keep the pgid reserved.
fn in_group(pgid: u32) -> Vec<Proc> {
    processes()
        .filter(|p| p.pgid == pgid)
        .map(|p| p.proc())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::Reaped;
    use std::process::Command;

    /// A shell leading its own group, with two `sleep` children; returns once all three run.
    fn spawn_group() -> Reaped {
        let sleepers =
            Reaped::spawn(Command::new("sh").args(["-c", "sleep 300 & sleep 300 & wait"]));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // Looking at the group also makes the guard know every member.
        while sleepers.group.members().len() < 3 {
            assert!(std::time::Instant::now() < deadline, "group never formed");
            std::thread::sleep(Duration::from_millis(10));
        }
        sleepers
    }

    #[tokio::test]
    async fn kills_a_whole_group_including_grandchildren() {
        let mut sleepers = spawn_group();
        let child = &mut sleepers.child;
        let group = Group::led_by(child.id());
        assert_eq!(group.pgid(), child.id());
        let members = group.members();
        assert_eq!(members.len(), 3);
        assert!(group.memory() > 0);
        assert!(group.kill());
        child.wait().unwrap();
        assert!(group.wait_gone(Duration::from_secs(10)).await);
        assert!(group.members().is_empty());
        assert!(
            members
                .iter()
                .all(|&pid| Proc::of(pid).is_none_or(|p| !p.alive()))
        );
    }

    #[tokio::test]
    async fn a_group_whose_known_members_changed_identity_is_never_signalled() {
        let mut sleepers = spawn_group();
        let child = &mut sleepers.child;
        let leader = Proc::of(child.id()).unwrap();
        let reused = Group::known_by(
            leader.pid,
            vec![Proc {
                pid: leader.pid,
                start: leader.start + 1,
            }],
        );
        assert!(!reused.kill());
        assert_eq!(reused.members(), Vec::<u32>::new());
        assert_eq!(reused.memory(), 0);
        assert!(reused.wait_gone(Duration::ZERO).await);
        assert_eq!(
            group_members(leader.pid).len(),
            3,
            "the group was signalled"
        );

        let known = Group::led_by(child.id());
        known.remember(std::process::id());
        assert_eq!(
            *known.known(),
            vec![leader],
            "a process of another group is not remembered"
        );
        assert!(known.kill());
        child.wait().unwrap();
        assert!(known.wait_gone(Duration::from_secs(10)).await);
    }

    #[tokio::test]
    async fn a_group_is_still_known_after_its_leader_is_gone() {
        let mut sleepers = spawn_group();
        let child = &mut sleepers.child;
        let group = Group::led_by(child.id());
        let leader = Proc::of(child.id()).unwrap();
        assert_eq!(group.members().len(), 3);
        assert_eq!(crate::table::kill(leader, Signal::SIGKILL), Ok(true));
        child.wait().unwrap();
        assert!(
            !group.wait_gone(Duration::from_millis(200)).await,
            "the leader's children still run"
        );
        assert_eq!(group.members().len(), 2);
        assert!(group.kill());
        assert!(group.wait_gone(Duration::from_secs(10)).await);
        assert!(group.members().is_empty());
    }

    #[tokio::test]
    async fn a_group_seen_now_is_its_current_members() {
        let mut sleepers = spawn_group();
        let child = &mut sleepers.child;
        let group = Group::as_now(child.id());
        assert_eq!(group.members().len(), 3);
        assert!(group.kill());
        child.wait().unwrap();
        assert!(group.wait_gone(Duration::from_secs(10)).await);
    }
}
