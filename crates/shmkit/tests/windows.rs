//! What only Windows has: the `Local\` and `Global\` namespaces, opening without the right to
//! create, read-only views, and a namespace that cannot be listed. On other systems every test
//! here returns at once (the choice is made at run time: platform `cfg`s live only in `sys`).
//!
//! Under Wine these run for real, with one limit: Wine models neither privileges
//! (`SeCreateGlobalPrivilege`) nor ACLs, so "opening without create rights" is shown by what
//! `open` does (it never creates, and asks only for the access it needs), not by a process that
//! lacks the privilege.

mod common;

use std::time::Duration;

use common::{say, spawn, unique_name, watchdog};
use shmkit::{Access, ErrorKind, Namespace, Segment, SegmentOptions};

const T: Duration = Duration::from_secs(20);

fn windows() -> bool {
    let yes = shmkit::test_support::BACKEND == "windows";
    if !yes {
        eprintln!("SKIPPED: a Windows test");
    }
    yes
}

fn global() -> SegmentOptions {
    SegmentOptions::new().namespace(Namespace::Global)
}

#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return;
    };
    match role.as_str() {
        "read-global" => {
            // Opens a Global\ segment read-only and read-write, and answers.
            let ro = global().access(Access::ReadOnly).open(&arg).unwrap();
            let mut b = [0u8; 6];
            ro.read(0, &mut b).unwrap();
            assert_eq!(&b, b"global");
            let rw = global().open(&arg).unwrap();
            rw.write(8, b"seen").unwrap();
            // The same name in Local\ is another object.
            match Segment::open(&arg, Access::ReadOnly) {
                Ok(local) => {
                    let mut l = [0u8; 5];
                    local.read(0, &mut l).unwrap();
                    assert_eq!(&l, b"local");
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound),
            }
            say("DONE");
        }
        "write-raw-read-only" => {
            let seg = SegmentOptions::new()
                .raw(true)
                .access(Access::ReadOnly)
                .open(&arg)
                .unwrap();
            assert_eq!(
                seg.write(0, b"x").unwrap_err().kind(),
                ErrorKind::PermissionDenied
            );
            say("TRYING");
            common::expect_crash();
            // SAFETY: deliberately not sound: the view is FILE_MAP_READ, so Windows must stop
            // this write with an access violation that kills the process.
            unsafe { seg.as_ptr().cast_mut().write_volatile(b'X') };
            say("WROTE");
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn local_and_global_names_are_separate_objects() {
    if !windows() {
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("ns");
    let g = global().size(64).create(&name).unwrap();
    g.write(0, b"global").unwrap();
    let l = Segment::create(&name, 64).unwrap();
    l.write(0, b"local").unwrap();
    let mut b = [0u8; 6];
    g.read(0, &mut b).unwrap();
    assert_eq!(&b, b"global", "Local\\ and Global\\ must not alias");
    spawn("read-global", &name).finish(T);
    let mut seen = [0u8; 4];
    g.read(8, &mut seen).unwrap();
    assert_eq!(&seen, b"seen");
    // `ls` names the Global one with its namespace.
    let names: Vec<String> = Segment::list()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(names.contains(&name), "{names:?}");
    assert!(names.contains(&format!("Global\\{name}")), "{names:?}");
    assert_eq!(
        Segment::info(&format!("Global\\{name}")).unwrap().holders,
        shmkit::Holders::Held(vec![std::process::id()])
    );
}

#[test]
fn opening_never_creates_so_it_needs_no_create_right() {
    if !windows() {
        return;
    }
    let name = unique_name("nocreate");
    for _ in 0..2 {
        // A missing Global\ segment is NotFound — not created (which would need
        // SeCreateGlobalPrivilege), and not "access denied".
        let e = global().access(Access::ReadOnly).open(&name).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let e = global().open(&name).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
    assert_eq!(
        Segment::info(&format!("Global\\{name}"))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn a_read_only_view_refuses_writes() {
    if !windows() {
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("rov");
    let seg = SegmentOptions::new()
        .raw(true)
        .size(4096)
        .create(&name)
        .unwrap();
    seg.write(0, b"A").unwrap();
    let mut child = spawn("write-raw-read-only", &name);
    child.expect_line("TRYING", T);
    let status = child.wait(T);
    assert!(
        !status.success(),
        "the write must kill the child: {status:?}"
    );
    assert!(!child.rest().iter().any(|l| l == "WROTE"));
    let mut b = [0u8; 1];
    seg.read(0, &mut b).unwrap();
    assert_eq!(&b, b"A");
}

#[test]
fn names_go_with_the_last_handle_and_cannot_be_removed_before() {
    if !windows() {
        return;
    }
    let name = unique_name("noremove");
    let seg = Segment::create(&name, 64).unwrap();
    let e = Segment::remove(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = SegmentOptions::new()
        .size(64)
        .lifetime(shmkit::Lifetime::Persistent)
        .create(unique_name("persist"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    drop(seg);
    assert_eq!(
        Segment::remove(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(
        Segment::gc(&shmkit::GcOptions::new().idle(true).all_users(true))
            .unwrap()
            .is_empty(),
        "nothing is ever stale"
    );
}
