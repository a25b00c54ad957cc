//! Cleaning up: `Segment::gc` removes crash leftovers only — never what someone made to last,
//! never another user's — unless asked; and a handle notices that its name was removed or given
//! to a new segment (`is_removed`), so long-running readers can follow.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::{Cleanup, unique_name, watchdog};
use shmkit::stream::{Publisher, Subscriber};
use shmkit::{Cell, ErrorKind, GcOptions, Lifetime, Segment, SegmentOptions, State};

const T: Duration = Duration::from_secs(30);

/// The gc tests of this binary one at a time: a real run of one would remove the other's stale
/// segments before it looks at them.
static GC: Mutex<()> = Mutex::new(());

/// Where segments are files (Linux), the directory; elsewhere the test says it is skipped.
fn shm_files(test: &str) -> Option<&'static str> {
    let dir = shmkit::test_support::SHM_FILES;
    if dir.is_none() {
        eprintln!(
            "SKIPPED {test} on {}: it copies segment files",
            shmkit::test_support::BACKEND
        );
    }
    dir
}

/// Makes `name` a stale segment, what the crash of all its users leaves: a byte-for-byte copy of
/// `of` (a live `LastClose` segment) that nobody holds.
fn stale_copy(dir: &str, of: &Segment, name: &str) {
    std::fs::copy(format!("{dir}/{}", of.name()), format!("{dir}/{name}")).unwrap();
    assert_eq!(Segment::info(name).unwrap().state, State::Stale);
}

fn names(infos: &[shmkit::SegmentInfo]) -> Vec<&str> {
    infos.iter().map(|i| i.name.as_str()).collect()
}

#[test]
fn gc_takes_crash_leftovers_and_keeps_what_was_made_to_last() {
    let Some(dir) = shm_files("gc_takes_crash_leftovers_and_keeps_what_was_made_to_last") else {
        return;
    };
    let _w = watchdog(T);
    let _gc = GC.lock().unwrap_or_else(|e| e.into_inner());
    let (live, stale, idle) = (
        unique_name("gclive"),
        unique_name("gcstale"),
        unique_name("gcidle"),
    );
    let _c = [&live, &stale, &idle].map(|n| Cleanup(n.clone()));
    let held = Segment::create(&live, 64).unwrap();
    stale_copy(dir, &held, &stale);
    drop(
        SegmentOptions::new()
            .size(64)
            .lifetime(Lifetime::Persistent)
            .create(&idle)
            .unwrap(),
    );
    assert_eq!(Segment::info(&idle).unwrap().state, State::Idle);

    let dry = Segment::gc(&GcOptions::new().dry_run(true)).unwrap();
    assert!(names(&dry).contains(&stale.as_str()), "{dry:?}");
    assert!(
        !names(&dry).contains(&idle.as_str()),
        "idle is not a leftover"
    );
    assert!(!names(&dry).contains(&live.as_str()));
    let dry = Segment::gc(&GcOptions::new().idle(true).dry_run(true)).unwrap();
    assert!(names(&dry).contains(&stale.as_str()), "{dry:?}");
    assert!(names(&dry).contains(&idle.as_str()), "asked for idle ones");
    assert!(!names(&dry).contains(&live.as_str()));
    assert!(Segment::info(&stale).is_ok(), "dry runs remove nothing");

    let removed = Segment::gc(&GcOptions::new()).unwrap();
    assert!(names(&removed).contains(&stale.as_str()), "{removed:?}");
    assert!(!names(&removed).contains(&idle.as_str()));
    assert_eq!(
        Segment::info(&stale).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(Segment::info(&idle).unwrap().state, State::Idle);
    assert_eq!(Segment::info(&live).unwrap().state, State::Live);
}

#[test]
fn gc_leaves_other_users_segments_unless_asked() {
    let Some(dir) = shm_files("gc_leaves_other_users_segments_unless_asked") else {
        return;
    };
    let _w = watchdog(T);
    let _gc = GC.lock().unwrap_or_else(|e| e.into_inner());
    let (live, theirs) = (unique_name("gcusr"), unique_name("gctheirs"));
    let _c = [&live, &theirs].map(|n| Cleanup(n.clone()));
    let held = Segment::create(&live, 64).unwrap();
    stale_copy(dir, &held, &theirs);
    let given = Command::new("chown")
        .args(["65534", &format!("{dir}/{theirs}")])
        .status()
        .is_ok_and(|s| s.success());
    if !given {
        eprintln!("SKIPPED: cannot give a segment to another user (not root, or no chown)");
        assert!(
            std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
            "SHMKIT_REQUIRE_ROOT_TESTS is set but this test could not run"
        );
        return;
    }
    assert_eq!(Segment::info(&theirs).unwrap().uid, 65534);

    let dry = Segment::gc(&GcOptions::new().idle(true).dry_run(true)).unwrap();
    assert!(!names(&dry).contains(&theirs.as_str()), "{dry:?}");
    let removed = Segment::gc(&GcOptions::new().idle(true)).unwrap();
    assert!(!names(&removed).contains(&theirs.as_str()));
    assert_eq!(Segment::info(&theirs).unwrap().state, State::Stale);

    let dry = Segment::gc(&GcOptions::new().all_users(true).dry_run(true)).unwrap();
    assert!(names(&dry).contains(&theirs.as_str()), "{dry:?}");
    let removed = Segment::gc(&GcOptions::new().all_users(true)).unwrap();
    assert!(names(&removed).contains(&theirs.as_str()), "{removed:?}");
    assert_eq!(
        Segment::info(&theirs).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn handles_notice_that_their_name_was_removed_or_given_to_a_new_segment() {
    let _w = watchdog(T);
    let name = unique_name("removed");
    let _c = Cleanup(name.clone());
    let seg = Segment::create(&name, 64).unwrap();
    let other = Segment::open(&name, shmkit::Access::ReadOnly).unwrap();
    assert!(!seg.is_removed() && !other.is_removed());
    if let Err(e) = Segment::remove(&name) {
        // Windows: a held name cannot be removed, so it never is.
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(!seg.is_removed());
        return;
    }
    assert!(seg.is_removed() && other.is_removed());
    let new = Segment::create(&name, 64).unwrap();
    assert!(seg.is_removed(), "the name now leads to another segment");
    assert!(!new.is_removed());
    drop(new);

    // The same through a cell and a stream.
    let cell = Cell::create(&name, 16).unwrap();
    assert!(!cell.segment().is_removed());
    Segment::remove(&name).unwrap();
    assert!(cell.segment().is_removed());
    drop(cell);
    let _publisher = Publisher::create(&name, 1024).unwrap();
    let sub = Subscriber::open(&name).unwrap();
    assert!(!sub.is_removed());
    Segment::remove(&name).unwrap();
    assert!(sub.is_removed());
}
