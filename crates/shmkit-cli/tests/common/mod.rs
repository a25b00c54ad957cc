//! Helpers shared by the command line's test files: stale segments that no other process's sweep
//! can take (they belong to a user of the test's own), and commands run as that user.

#![allow(dead_code)]

use std::process::{Command, Stdio};

use shmkit::{Lifetime, Segment, SegmentOptions, test_support};

/// A user id of this test run's and `test`'s own (a sweep takes all of its user's stale
/// segments; the library's tests use 40,000 to 80,000).
pub fn private_uid(test: u32) -> u32 {
    80_000 + (std::process::id() % 10_000) * 4 + test
}

/// Runs `shmkit args` as `uid`, if this process may switch users.
pub fn shmkit_as(uid: u32, args: &[&str]) -> Option<(i32, String, String)> {
    let ids = [format!("--reuid={uid}"), format!("--regid={uid}")];
    let can = Command::new("setpriv")
        .args(&ids)
        .args(["--clear-groups", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can {
        return None;
    }
    let out = Command::new("setpriv")
        .args(&ids)
        .arg("--clear-groups")
        .arg(env!("CARGO_BIN_EXE_shmkit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    ))
}

/// Makes `name` a stale segment of `uid`: a `LastClose` shmkit segment that nobody holds, as a
/// crash whose guardian died too leaves it. Returns its creator's pid (this process).
pub fn stale_segment(uid: u32, name: &str) -> u32 {
    let dir = test_support::SHM_FILES.unwrap();
    // Made persistent (so our close keeps it), given away (so no sweep of ours touches it), then
    // marked LastClose: flags, at byte 16 of the header.
    drop(
        SegmentOptions::new()
            .size(64)
            .lifetime(Lifetime::Persistent)
            .create(name)
            .unwrap(),
    );
    let owner = format!("{uid}:{uid}");
    let chown = Command::new("chown")
        .args([owner.as_str(), &format!("{dir}/{name}")])
        .status()
        .unwrap();
    assert!(chown.success());
    let raw = SegmentOptions::new().raw(true).open(name).unwrap();
    raw.write(16, &1u32.to_le_bytes()).unwrap();
    drop(raw);
    // Another test's thread may fork (to run a command) while our handle is open: the child
    // holds the open file, and so the segment, until it execs. Wait that out, briefly.
    let t0 = std::time::Instant::now();
    let info = loop {
        let info = Segment::info(name).unwrap();
        if info.state == shmkit::State::Stale || t0.elapsed() > std::time::Duration::from_secs(5) {
            break info;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(info.state, shmkit::State::Stale, "{info:?}");
    assert_eq!(info.uid, uid);
    std::process::id()
}
