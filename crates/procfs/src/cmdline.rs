//! Recognising processes by their command line.
//!
//! Chromium's helper processes rewrite their command line into one space-separated string, so a
//! command line is read as a whole (NULs turned into spaces) and searched as such; a profile
//! matches only as a whole value: `--user-data-dir=/p/s1` never matches `/p/s10`.

use std::path::Path;

use crate::table::{Proc, processes};

/// The whole command line of `pid`, NUL separators turned into spaces; `None` once it is gone.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim_end()
            .to_owned(),
    )
}

/// Whether `cmdline` names exactly `profile` as its `--user-data-dir`.
pub fn uses_profile(cmdline: &str, profile: &Path) -> bool {
    let needle = format!("--user-data-dir={}", profile.display());
    cmdline.match_indices(&needle).any(|(at, _)| {
        matches!(
            cmdline[at + needle.len()..].chars().next(),
            None | Some(' ')
        )
    })
}

/// Whether `cmdline` runs the executable called `name`, wherever it is installed.
pub fn runs(cmdline: &str, name: &str) -> bool {
    cmdline
        .split(' ')
        .next()
        .is_some_and(|exe| exe.rsplit('/').next() == Some(name))
}

/// Live processes anywhere on the machine that run on exactly `profile`.
pub fn on_profile(profile: &Path) -> Vec<Proc> {
    processes()
        .filter(|p| !p.zombie)
        .filter(|p| cmdline(p.pid).is_some_and(|line| uses_profile(&line, profile)))
        .map(|p| p.proc())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::Reaped;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn profile_match_is_exact() {
        let p = Path::new("/d/sessions/s1/profile");
        let line = "/usr/lib/chromium/chromium --type=renderer --user-data-dir=/d/sessions/s1/profile --lang=en";
        assert!(uses_profile(line, p));
        assert!(!uses_profile(line, Path::new("/d/sessions/s/profile")));
        assert!(!uses_profile(line, Path::new("/d/sessions/s1/prof")));
        let s10 = "chromium --user-data-dir=/d/sessions/s10/profile";
        assert!(!uses_profile(s10, p));
        assert!(uses_profile(s10, Path::new("/d/sessions/s10/profile")));
        assert!(uses_profile("x --user-data-dir=/p", Path::new("/p")));
        let both = "chromium --user-data-dir=/d/sessions/s1/profile2 --user-data-dir=/d/sessions/s1/profile";
        assert!(uses_profile(both, p), "a later exact value still counts");
        assert!(!uses_profile("chromedriver --port=9515", p));
    }

    #[test]
    fn processes_are_known_by_their_executable() {
        assert!(runs("/usr/bin/chromedriver --port=1234", "chromedriver"));
        assert!(runs("chromedriver", "chromedriver"));
        assert!(!runs("/usr/bin/vim chromedriver", "chromedriver"));
        assert!(!runs("/usr/bin/chromedriver-old", "chromedriver"));
        assert!(runs(
            "/usr/local/bin/wamux-worker --session-id a",
            "wamux-worker"
        ));
    }

    #[test]
    fn a_process_is_found_by_its_profile() {
        let profile = std::env::temp_dir().join(format!("wamux-procfs-{}/p1", std::process::id()));
        let flag = format!("--user-data-dir={}", profile.display());
        let mut reaped =
            Reaped::spawn(Command::new("sh").args(["-c", "sleep 300; true", "sh", &flag]));
        let child = &mut reaped.child;
        let child_proc = Proc::of(child.id()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while cmdline(child.id()).is_none_or(|c| !c.contains(&flag)) {
            assert!(
                std::time::Instant::now() < deadline,
                "never saw the command line"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let found = on_profile(&profile);
        let sibling = on_profile(&profile.with_file_name("p10"));
        drop(reaped);
        assert_eq!(found, vec![child_proc]);
        assert_eq!(sibling, vec![]);
    }
}
