//! The command line and `Lifetime::LastClose`: a `shmkit` process killed (`kill -9`, SIGINT)
//! while it is the last holder of a segment leaves nothing behind; and a command that meets a
//! stale segment — one a crash left, whose guardian died too — removes it by the lifetime rule
//! and says so, once, on stderr.
//!
//! Stale segments here belong to a user of this test run's own (root switches with `setpriv`),
//! so that the sweeps of every other shmkit process on the machine leave them alone until the
//! command under test runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{private_uid, shmkit_as, stale_segment};
use shmkit::{Access, ErrorKind, Segment, SegmentOptions, test_support};

/// The promise: gone within this, after the last holder was reaped.
const BOUND: Duration = Duration::from_millis(100);

fn name(tag: &str) -> String {
    format!("clil{}-{tag}", std::process::id())
}

fn exists(name: &str) -> bool {
    match Segment::info(name) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => panic!("info {name}: {e}"),
    }
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Segment::remove(self.0.as_str());
    }
}

#[test]
fn a_shmkit_process_killed_as_the_last_holder_leaves_nothing() {
    if !test_support::GUARDIAN {
        eprintln!(
            "SKIPPED on {}: no guardian (Windows frees sections itself; macOS sweeps later)",
            test_support::BACKEND
        );
        return;
    }
    for sig in ["-9", "-INT"] {
        let name = name(&format!("last{}", &sig[1..]));
        let _c = Cleanup(name.clone());
        let seg = Segment::create(&name, 4096).unwrap();
        let mut cli = Command::new(env!("CARGO_BIN_EXE_shmkit"))
            .args(["lock", &name, "--hold", "60s"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(cli.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("locked"), "{line:?}");
        // The command line is now the segment's last holder.
        drop(seg);
        assert!(exists(&name), "removed while `shmkit lock` holds it");
        let killed = Command::new("kill")
            .args([sig, &cli.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = cli.wait().unwrap();
        assert!(!status.success(), "{sig}: {status:?}");
        let t0 = Instant::now();
        while exists(&name) {
            assert!(t0.elapsed() < Duration::from_secs(10), "{name} stayed");
            std::thread::sleep(Duration::from_micros(100));
        }
        let took = t0.elapsed();
        eprintln!("{sig} of `shmkit lock`, the last holder: gone after {took:?}");
        assert!(took <= BOUND, "{sig}: {took:?}");
    }
}

fn skipped() {
    eprintln!("SKIPPED: needs Linux and root (to run commands as another user with setpriv)");
    assert!(
        std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
        "SHMKIT_REQUIRE_ROOT_TESTS is set but this test could not run"
    );
}

#[test]
fn a_command_that_removes_a_stale_segment_says_so_once() {
    if test_support::BACKEND != "linux" {
        return skipped();
    }
    let uid = private_uid(0);
    let read = name("sread");
    let listed = name("sls");
    let _c = [Cleanup(read.clone()), Cleanup(listed.clone())];
    let pid = stale_segment(uid, &read);
    // `read` opens the name it was given: the open removes the stale segment and fails with
    // that news, not with "is the writer running?".
    let Some((code, _, stderr)) = shmkit_as(uid, &["read", &read]) else {
        return skipped();
    };
    assert_eq!(code, 1, "{stderr}");
    let said = format!("removed the stale segment left by pid {pid}");
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
    assert!(!stderr.contains("is the writer running"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!exists(&read));
    // `ls` sweeps this user's stale segments first, and says what it removed, once.
    stale_segment(uid, &listed);
    let (code, stdout, stderr) = shmkit_as(uid, &["ls"]).unwrap();
    assert_eq!(code, 0, "{stderr}");
    let said = format!("shmkit: removed the stale segment {listed:?} left by pid {pid}");
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
    assert!(!stdout.contains(&listed), "{stdout}");
    assert!(!exists(&listed));
}

#[test]
fn a_read_only_command_says_which_stale_segment_its_sweep_removed() {
    if test_support::BACKEND != "linux" {
        return skipped();
    }
    let uid = private_uid(1);
    let stale = name("sinfo");
    let live = name("slive");
    let _c = [Cleanup(stale.clone()), Cleanup(live.clone())];
    let pid = stale_segment(uid, &stale);
    // A live segment of ours, opened by `dump` as the other user (mode 0644).
    let seg = SegmentOptions::new()
        .size(64)
        .mode(0o644)
        .create(&live)
        .unwrap();
    let Some((code, _, stderr)) = shmkit_as(uid, &["dump", &live]) else {
        return skipped();
    };
    assert_eq!(code, 0, "{stderr}");
    // The command opened another name, so it swept: the stale segment went, and it said so.
    let said = format!("shmkit: removed the stale segment {stale:?} left by pid {pid}");
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
    assert!(!exists(&stale));
    // It never removes what is alive.
    assert!(exists(&live));
    let again = Segment::open(&live, Access::ReadOnly).unwrap();
    drop((seg, again));
}
