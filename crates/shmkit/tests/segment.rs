//! Segments across real processes: sharing bytes, read-only enforcement, lifetimes after
//! `kill -9`, create/close/open races, and bad input of every kind.

mod common;

use std::time::{Duration, Instant};

use common::{Cleanup, say, spawn, unique_name, watchdog};
use shmkit::{Access, ErrorKind, GcOptions, Lifetime, Segment, SegmentKind, SegmentOptions, State};

const T: Duration = Duration::from_secs(20);

/// The child side of every test in this file.
#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return; // run as a normal test: nothing to do
    };
    match role.as_str() {
        "echo" => {
            // Open read-write, check the parent's bytes, answer in bytes 16..
            let seg = Segment::open(&arg, Access::ReadWrite).unwrap();
            let mut buf = [0u8; 5];
            seg.read(0, &mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            seg.write(16, b"world").unwrap();
            say("DONE");
        }
        "write-read-only" => {
            let seg = Segment::open(&arg, Access::ReadOnly).unwrap();
            assert_eq!(
                seg.write(0, b"x").unwrap_err().kind(),
                ErrorKind::PermissionDenied
            );
            assert!(seg.as_mut_ptr().is_none());
            say("TRYING");
            common::expect_crash();
            let p = seg.as_ptr().cast_mut();
            // SAFETY: deliberately not sound: the mapping is read-only, so the OS must stop
            // this write by killing the process. Nothing after it may run.
            unsafe { p.write_volatile(b'X') };
            say("WROTE");
        }
        "hold" => {
            // Create (or open) and hold the segment until killed.
            let seg = SegmentOptions::new()
                .size(4096)
                .open_or_create(arg.as_str())
                .unwrap();
            say(format!("HOLDING {}", seg.len()));
            common::park();
        }
        "churn-create" => churn_create(&arg),
        "full-shm" => full_shm(),
        "churn-open" => {
            let (name, slot) = arg.rsplit_once(':').unwrap();
            churn_open(name, slot.parse().unwrap())
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_processes_see_each_others_bytes() {
    let _w = watchdog(T);
    let name = unique_name("echo");
    let seg = Segment::create(&name, 4096).unwrap();
    seg.write(0, b"hello").unwrap();
    spawn("echo", &name).finish(T);
    let mut buf = [0u8; 5];
    seg.read(16, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
}

#[test]
fn the_os_refuses_writes_through_a_read_only_handle() {
    let _w = watchdog(T);
    let name = unique_name("ro");
    let seg = Segment::create(&name, 4096).unwrap();
    seg.write(0, b"A").unwrap();
    let mut child = spawn("write-read-only", &name);
    child.expect_line("TRYING", T);
    let status = child.wait(T);
    assert!(
        !status.success(),
        "the write must kill the child, got {status:?}"
    );
    assert!(!child.rest().iter().any(|l| l == "WROTE"));
    let mut b = [0u8; 1];
    seg.read(0, &mut b).unwrap();
    assert_eq!(&b, b"A", "data unchanged");
}

#[test]
fn last_close_removes_the_name() {
    let name = unique_name("lastclose");
    let a = Segment::create(&name, 100).unwrap();
    let b = Segment::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(b.lifetime(), Lifetime::LastClose);
    drop(a);
    assert!(Segment::info(&name).is_ok(), "b still holds it");
    drop(b);
    let e = Segment::open(&name, Access::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn persistent_segments_stay_until_removed() {
    if !shmkit::test_support::PERSISTENT {
        // Windows frees shared memory when its last handle closes: creating one is refused.
        let e = SegmentOptions::new()
            .size(10)
            .lifetime(Lifetime::Persistent)
            .create(unique_name("persist"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        eprintln!(
            "SKIPPED: no persistent segments on {}",
            shmkit::test_support::BACKEND
        );
        return;
    }
    let name = unique_name("persist");
    let _c = Cleanup(name.clone());
    let seg = SegmentOptions::new()
        .size(10)
        .lifetime(Lifetime::Persistent)
        .create(&name)
        .unwrap();
    seg.write(0, b"kept").unwrap();
    drop(seg);
    let info = Segment::info(&name).unwrap();
    assert_eq!(info.state, State::Idle);
    assert_eq!(info.lifetime, Some(Lifetime::Persistent));
    let again = Segment::open(&name, Access::ReadOnly).unwrap();
    let mut b = [0u8; 4];
    again.read(0, &mut b).unwrap();
    assert_eq!(&b, b"kept");
    Segment::remove(&name).unwrap();
    assert_eq!(
        Segment::open(&name, Access::ReadOnly).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // The handle still works after removal, like shm_unlink.
    again.read(0, &mut b).unwrap();
}

#[test]
fn killing_every_holder_leaves_nothing_that_gc_or_open_would_keep() {
    let _w = watchdog(T);
    let name = unique_name("kill9");
    let _c = Cleanup(name.clone());
    let mut creator = spawn("hold", &name);
    creator.expect_line("HOLDING", T);
    let mut opener = spawn("hold", &name);
    opener.expect_line("HOLDING", T);

    // A live segment of ours that gc must never touch.
    let live_name = unique_name("kill9live");
    let live = Segment::create(&live_name, 64).unwrap();

    let info = Segment::info(&name).unwrap();
    assert_eq!(info.state, State::Live);
    assert!(
        matches!(&info.holders, shmkit::Holders::Held(p)
            if (p.contains(&creator.pid()) && p.contains(&opener.pid()))
                // macOS knows that a segment is held, not by whom.
                || (p.is_empty() && shmkit::test_support::BACKEND == "macos")),
        "{:?}",
        info.holders
    );

    creator.kill();
    opener.kill();
    creator.wait(T);
    opener.wait(T);

    // The kernel dropped their holds: the segment is stale (Linux, macOS: the name stays until
    // gc or the next open) or already gone (Windows frees it with the last handle).
    match Segment::info(&name) {
        Ok(info) => assert_eq!(info.state, State::Stale, "{info:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::NotFound);
            let removed = Segment::gc(&GcOptions::new()).unwrap();
            assert!(!removed.iter().any(|i| i.name == live_name));
            assert_eq!(Segment::info(&live_name).unwrap().state, State::Live);
            return;
        }
    }
    let dry = Segment::gc(&GcOptions::new().dry_run(true)).unwrap();
    assert!(
        dry.iter().any(|i| i.name == name),
        "dry run lists the stale segment"
    );
    assert!(Segment::info(&name).is_ok(), "dry run removed nothing");
    let removed = Segment::gc(&GcOptions::new()).unwrap();
    assert!(removed.iter().any(|i| i.name == name));
    assert!(
        !removed.iter().any(|i| i.name == live_name),
        "gc removed a live segment"
    );
    assert_eq!(
        Segment::info(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(Segment::info(&live_name).unwrap().state, State::Live);
    drop(live);
}

#[test]
fn opening_the_orphan_of_killed_holders_reports_not_found_and_removes_it() {
    let _w = watchdog(T);
    let name = unique_name("orphan");
    let _c = Cleanup(name.clone());
    let mut holder = spawn("hold", &name);
    holder.expect_line("HOLDING", T);
    holder.kill();
    holder.wait(T);
    let e = Segment::open(&name, Access::ReadWrite).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        Segment::info(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // And create succeeds afresh.
    let again = SegmentOptions::new()
        .size(10)
        .open_or_create(&name)
        .unwrap();
    assert_eq!(again.len(), 10);
}

#[test]
fn create_reclaims_the_orphan_of_killed_holders() {
    let _w = watchdog(T);
    let name = unique_name("reclaim");
    let _c = Cleanup(name.clone());
    let mut holder = spawn("hold", &name);
    holder.expect_line("HOLDING", T);
    holder.kill();
    holder.wait(T);
    let seg = Segment::create(&name, 8192).unwrap();
    assert_eq!(seg.len(), 8192, "a fresh segment, not the orphan");
}

const CHURN: Duration = Duration::from_millis(1500);

/// Creates (or joins) the segment, stamps a generation into a fresh one, closes; over and over.
fn churn_create(name: &str) {
    let t0 = Instant::now();
    let mut made = 0u64;
    while t0.elapsed() < CHURN {
        match Segment::create(name, 64) {
            Ok(seg) => {
                made += 1;
                let stamp = u64::from(std::process::id()) << 32 | made;
                seg.write(0, &stamp.to_le_bytes()).unwrap();
                seg.notify_change().unwrap();
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => panic!("create: {e}"),
        }
    }
    say(format!("MADE {made}"));
}

/// Opens the segment, then opens it a second time while holding the first: both must be the very
/// same segment (never a removed one), and never half-built. Each opener marks its own `slot`.
fn churn_open(name: &str, slot: usize) {
    let t0 = Instant::now();
    let (mut opened, mut missing) = (0u64, 0u64);
    while t0.elapsed() < CHURN {
        let first = match Segment::open(name, Access::ReadWrite) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                missing += 1;
                continue;
            }
            Err(e) => panic!("open: {e}"),
        };
        opened += 1;
        let second = Segment::open(name, Access::ReadOnly)
            .unwrap_or_else(|e| panic!("the name vanished while held: {e}"));
        // Same segment: a write through one shows through the other.
        let mark = opened.to_le_bytes();
        first.write(8 + 8 * slot, &mark).unwrap();
        let mut seen = [0u8; 8];
        second.read(8 + 8 * slot, &mut seen).unwrap();
        assert_eq!(seen, mark, "second open reached a different segment");
    }
    say(format!("OPENED {opened} MISSING {missing}"));
}

#[test]
fn racing_last_closers_and_openers_never_share_a_dead_segment() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("churn");
    let _c = Cleanup(name.clone());
    let c1 = spawn("churn-create", &name);
    let c2 = spawn("churn-create", &name);
    let o1 = spawn("churn-open", &format!("{name}:0"));
    let o2 = spawn("churn-open", &format!("{name}:1"));
    let mut made = 0;
    for c in [c1, c2] {
        let out = c.finish(Duration::from_secs(30));
        let line = out.iter().find_map(|l| l.strip_prefix("MADE ")).unwrap();
        made += line.parse::<u64>().unwrap();
    }
    let mut opened = 0;
    for o in [o1, o2] {
        let out = o.finish(Duration::from_secs(30));
        let line = out.iter().find_map(|l| l.strip_prefix("OPENED ")).unwrap();
        opened += line
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    eprintln!("churn: {made} segments made, {opened} opened");
    assert!(made > 10, "creators made only {made} segments");
    assert!(opened > 10, "openers opened only {opened} segments");
    // Everyone closed: a LastClose segment is gone.
    assert_eq!(
        Segment::info(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn open_or_create_from_many_threads_creates_exactly_once() {
    let name = unique_name("ooc");
    let segs: Vec<Segment> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    SegmentOptions::new()
                        .size(32)
                        .open_or_create(&name)
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    segs[0].write(0, b"same").unwrap();
    for s in &segs {
        let mut b = [0u8; 4];
        s.read(0, &mut b).unwrap();
        assert_eq!(&b, b"same");
    }
}

// ---- bad input ---------------------------------------------------------------------------

#[test]
fn bad_names_sizes_and_missing_segments_are_clear_errors() {
    for bad in [
        "",
        "a/b",
        "../x",
        ".hidden",
        "x\0y",
        "this-name-is-far-too-long-to-be-portable",
    ] {
        let e = Segment::create(bad, 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
        assert!(e.to_string().starts_with("cannot create"), "{e}");
    }
    let name = unique_name("size");
    let e = Segment::create(&name, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSize);
    assert!(e.to_string().contains("size 0"), "{e}");
    for huge in [usize::MAX, usize::MAX / 2, 1 << 60] {
        let e = Segment::create(&name, huge).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidSize | ErrorKind::OutOfResources),
            "{huge}: {e}"
        );
    }
    assert_eq!(
        Segment::info(&name).unwrap_err().kind(),
        ErrorKind::NotFound,
        "nothing left"
    );
    let e = Segment::open(unique_name("missing"), Access::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        e.to_string()
            .contains("no such segment — is the writer running?"),
        "{e}"
    );
    let e = SegmentOptions::new().create(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSize, "no size given");
    let seg = Segment::create(&name, 10).unwrap();
    assert_eq!(
        seg.read(5, &mut [0; 6]).unwrap_err().kind(),
        ErrorKind::InvalidSize
    );
    assert_eq!(
        seg.write(usize::MAX, b"x").unwrap_err().kind(),
        ErrorKind::InvalidSize
    );
    let e = Segment::create(&name, 10).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
}

#[test]
fn created_tells_one_incarnation_of_a_name_from_the_next() {
    let name = unique_name("created");
    let _c = Cleanup(name.clone());
    let before = std::time::SystemTime::now();
    let first = Segment::create(name.as_str(), 64).unwrap();
    let born = first
        .created()
        .expect("a shmkit segment records its creation");
    assert!(born >= before - Duration::from_secs(1) && born <= std::time::SystemTime::now());
    let opened = Segment::open(name.as_str(), Access::ReadOnly).unwrap();
    assert_eq!(
        opened.created(),
        Some(born),
        "the same segment, the same time"
    );
    drop((first, opened));
    std::thread::sleep(Duration::from_millis(2));
    let second = Segment::create(name.as_str(), 64).unwrap();
    assert_ne!(
        second.created(),
        Some(born),
        "a new segment under the same name"
    );
    drop(second);
    let raw = raw_segment(&name, b"no header");
    assert_eq!(raw.created(), None, "a raw segment says nothing");
}

/// Makes a raw segment starting with `bytes` (the rest zeros: Windows and macOS size shared memory
/// in whole pages). Keep the handle: on Windows the segment goes with it.
fn raw_segment(name: &str, bytes: &[u8]) -> Segment {
    let seg = SegmentOptions::new()
        .raw(true)
        .size(bytes.len())
        .create(name)
        .unwrap();
    seg.write(0, bytes).unwrap();
    seg
}

#[test]
fn a_foreign_segment_full_of_garbage_is_incompatible_but_opens_raw() {
    let name = unique_name("garbage");
    let _c = Cleanup(name.clone());
    let garbage: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let creator = raw_segment(&name, &garbage);
    let e = Segment::open(&name, Access::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert!(e.to_string().contains("no shmkit header"), "{e}");
    let raw = SegmentOptions::new()
        .raw(true)
        .access(Access::ReadOnly)
        .open(&name)
        .unwrap();
    assert_eq!(raw.len(), creator.len());
    assert!(raw.len() >= garbage.len());
    assert_eq!(raw.kind(), None);
    assert_eq!(raw.lock().unwrap_err().kind(), ErrorKind::Incompatible);
    assert_eq!(Segment::info(&name).unwrap().kind, SegmentKind::Foreign);
    // A tiny foreign object, smaller than a header.
    let tiny = unique_name("tiny");
    let _c2 = Cleanup(tiny.clone());
    let tiny_creator = raw_segment(&tiny, b"hi");
    if tiny_creator.len() < 192 {
        assert_eq!(
            Segment::open(&tiny, Access::ReadOnly).unwrap_err().kind(),
            ErrorKind::Incompatible
        );
    }
}

/// Writes `patch` at `offset` of a shmkit segment's header, through a raw handle.
fn patch_header(name: &str, offset: usize, patch: &[u8]) {
    let raw = SegmentOptions::new().raw(true).open(name).unwrap();
    raw.write(offset, patch).unwrap();
}

#[test]
fn headers_that_lie_are_corrupt_or_incompatible() {
    let cases: [(&str, usize, &[u8], ErrorKind); 8] = [
        // Regression: an offset on a cache line but not on a page made read-only opens panic.
        ("dataoffpg", 32, &256u64.to_le_bytes(), ErrorKind::Corrupt),
        ("datalen", 40, &u64::MAX.to_le_bytes(), ErrorKind::Corrupt),
        ("total", 24, &1_000_000u64.to_le_bytes(), ErrorKind::Corrupt),
        (
            "dataoff",
            32,
            &8_000_000u64.to_le_bytes(),
            ErrorKind::Corrupt,
        ),
        ("hdrlen", 20, &7u32.to_le_bytes(), ErrorKind::Corrupt),
        ("kind", 12, &99u32.to_le_bytes(), ErrorKind::Incompatible),
        ("version", 8, &42u32.to_le_bytes(), ErrorKind::Incompatible),
        ("magic", 0, b"NOTSHMKT", ErrorKind::Incompatible),
    ];
    for (tag, off, patch, kind) in cases {
        let name = unique_name(tag);
        let _c = Cleanup(name.clone());
        // Held throughout (the segment must exist on every OS, Windows included).
        let _creator = Segment::create(&name, 100).unwrap();
        patch_header(&name, off, patch);
        for access in [Access::ReadWrite, Access::ReadOnly] {
            let e = Segment::open(&name, access).unwrap_err();
            assert_eq!(e.kind(), kind, "{tag}: {e}");
        }
        // ls/info never fail on it either.
        let info = Segment::info(&name).unwrap();
        assert!(
            info.kind != SegmentKind::Shmkit(shmkit::Kind::Bytes)
                || kind == ErrorKind::Incompatible,
            "{tag}"
        );
    }
}

#[test]
fn a_creator_that_never_finished_times_out_openers() {
    let name = unique_name("unready");
    let _c = Cleanup(name.clone());
    let persistent = shmkit::test_support::PERSISTENT;
    let creator = SegmentOptions::new()
        .size(100)
        .lifetime(if persistent {
            Lifetime::Persistent
        } else {
            Lifetime::LastClose
        })
        .create(&name)
        .unwrap();
    if persistent {
        drop(creator);
    } else {
        // Windows: the segment lives only while held; keep the creator's handle (it plays the
        // creator that never finished).
        std::mem::forget(creator);
    }
    patch_header(&name, 8, &0u32.to_le_bytes()); // version 0: "still initialising"
    let t0 = Instant::now();
    let e = {
        // Someone holds it (so open does not reclaim it as an orphan).
        let _holder = SegmentOptions::new().raw(true).open(&name).unwrap();
        Segment::open(&name, Access::ReadOnly).unwrap_err()
    };
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "it waited (bounded) for the creator"
    );
    // Nobody holds it now: it is the orphan of a dead creator — unless a sweep (any shmkit
    // create, open or list of this user, in this test process or another) is removing it (it
    // holds the lock for an instant: live; its object half gone: unknown) or removed it already.
    if persistent {
        let t0 = Instant::now();
        loop {
            match Segment::info(&name) {
                Ok(info)
                    if matches!(info.state, State::Live | State::Unknown) && t0.elapsed() < T =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(info) => break assert_eq!(info.state, State::Stale),
                Err(e) => break assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
            }
        }
    }
}

#[test]
fn a_truncated_shmkit_file_is_an_error_not_a_crash() {
    // Needs segments that are files: Linux's /dev/shm. (Windows sections cannot be resized.)
    let Some(dir) = shmkit::test_support::SHM_FILES else {
        eprintln!("SKIPPED: segments are not files here: truncation test does not apply");
        return;
    };
    for (tag, len) in [("trunc-small", 100u64), ("trunc-mid", 4096 + 10)] {
        let name = unique_name(tag);
        let _c = Cleanup(name.clone());
        drop(
            SegmentOptions::new()
                .size(8192)
                .lifetime(Lifetime::Persistent)
                .create(&name)
                .unwrap(),
        );
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("{dir}/{name}"))
            .unwrap();
        f.set_len(len).unwrap();
        let e = Segment::open(&name, Access::ReadOnly).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Incompatible | ErrorKind::Corrupt),
            "{tag}: {e}"
        );
    }
}

#[test]
fn cells_and_bytes_do_not_open_as_each_other() {
    // A raw open of a shmkit segment is allowed (it sees the header); a shmkit open of a raw one
    // is not.
    let name = unique_name("rawhdr");
    let seg = Segment::create(&name, 10).unwrap();
    let raw = SegmentOptions::new()
        .raw(true)
        .access(Access::ReadOnly)
        .open(&name)
        .unwrap();
    let mut magic = [0u8; 8];
    raw.read(0, &mut magic).unwrap();
    assert_eq!(&magic, b"SHMKIT\0\0");
    drop(seg);
}

/// In a private mount namespace whose /dev/shm is a 1 MiB tmpfs.
fn full_shm() {
    say("STARTED");
    let big = Segment::create("full-big", 2 << 20).unwrap_err();
    assert_eq!(big.kind(), ErrorKind::OutOfResources, "{big}");
    assert!(
        big.to_string()
            .contains("not enough shared memory to reserve 2 MiB"),
        "{big}"
    );
    // Nothing is left behind by the failed create.
    assert_eq!(Segment::list().unwrap().len(), 0);
    let half = Segment::create("full-half", 512 << 10).unwrap();
    let more = Segment::create("full-more", 600 << 10).unwrap_err();
    assert_eq!(more.kind(), ErrorKind::OutOfResources, "{more}");
    // The reserved memory is really there: touching all of it does not SIGBUS.
    let ones = vec![1u8; half.len()];
    half.write(0, &ones).unwrap();
    say("RESULT ok");
}

#[test]
fn a_full_dev_shm_is_out_of_resources_at_create_never_sigbus_later() {
    if shmkit::test_support::BACKEND != "linux" {
        // A private mount namespace with a tiny tmpfs is Linux's; Windows commits at create
        // (not testable under Wine, which does not model the commit limit).
        eprintln!(
            "SKIPPED on {}: needs Linux mount namespaces",
            shmkit::test_support::BACKEND
        );
        return;
    }
    let _w = watchdog(T);
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o size=1M shmkit-test /dev/shm || { echo; echo NO-MOUNT; exit 0; }; \
             exec \"$0\" --exact child_entry --nocapture --test-threads=1",
        )
        .arg(&exe)
        .env(common::ROLE_ENV, "full-shm")
        .env(common::ARG_ENV, "");
    let mut child = common::spawn_cmd(cmd, "full-shm");
    let status = child.wait(T);
    std::thread::sleep(Duration::from_millis(20));
    let out = child.rest();
    if out.iter().any(|l| l.contains("RESULT ok")) {
        assert!(status.success());
        return;
    }
    let started = out.iter().any(|l| l == "STARTED");
    assert!(
        !started,
        "the test failed inside the namespace: {status:?} {out:?}"
    );
    let no_namespace = out.iter().any(|l| l == "NO-MOUNT") || !status.success();
    assert!(
        no_namespace,
        "the child failed in an unexpected way: {status:?} {out:?}"
    );
    eprintln!(
        "\n*** SKIPPED a_full_dev_shm_is_out_of_resources: cannot make a private mount namespace \
         with a small /dev/shm here (needs root / CAP_SYS_ADMIN); status {status:?} ***\n"
    );
    assert!(
        std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
        "SHMKIT_REQUIRE_ROOT_TESTS is set but the full-/dev/shm test could not run"
    );
}

/// Regression: closing a segment unmapped its memory twice (once in `close`, again in `drop`),
/// which could tear away a mapping another thread made in between — a crash in safe code.
#[test]
fn closing_a_segment_never_unmaps_another_threads_memory() {
    let _w = watchdog(T);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let name = unique_name("unmap");
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(Segment::create(format!("{name}-{}", i % 4), 1 << 20).unwrap());
                i += 1;
            }
        });
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(1500) {
            let seg = Segment::create(format!("{name}-r"), 256 << 10).unwrap();
            let data = vec![7u8; seg.len()];
            seg.write(0, &data).unwrap();
            let mut back = vec![0u8; seg.len()];
            seg.read(0, &mut back).unwrap();
            assert_eq!(back, data);
            let heap: Vec<u8> = vec![1; 1 << 20]; // large allocations are mmaps too
            assert_eq!(heap.iter().map(|&b| b as usize).sum::<usize>(), 1 << 20);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

/// `open_or_create` compares the size asked for with what exists, and `notify_change` on a
/// handle that cannot write says so instead of silently doing nothing.
#[test]
fn open_or_create_checks_the_size_and_notify_change_needs_write_access() {
    let name = unique_name("segfits");
    let small = Segment::create(&name, 100).unwrap();
    let e = shmkit::SegmentOptions::new()
        .size(4096)
        .open_or_create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    assert!(
        e.to_string()
            .contains("100 data bytes; 4096 were asked for"),
        "{e}"
    );
    let fits = shmkit::SegmentOptions::new()
        .size(50)
        .open_or_create(&name)
        .unwrap();
    assert_eq!(fits.len(), 100);
    let raw = shmkit::SegmentOptions::new().raw(true).open(&name).unwrap();
    assert_eq!(
        raw.notify_change().unwrap_err().kind(),
        ErrorKind::Incompatible
    );
    small.notify_change().unwrap();
}
