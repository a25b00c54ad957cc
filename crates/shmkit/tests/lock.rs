//! The segment lock across real processes: exclusion, hand-over, `kill -9` of the holder, and
//! the read-only cases.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{recv, say, spawn, unique_name, watchdog};
use shmkit::{Access, ErrorKind, Segment, SegmentOptions};

const T: Duration = Duration::from_secs(20);

#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return;
    };
    match role.as_str() {
        "hold-lock" => {
            // Lock, report, then do what the parent says: "unlock" or nothing (get killed).
            let seg = Segment::open(&arg, Access::ReadWrite).unwrap();
            let guard = seg.lock().unwrap();
            say(format!("LOCKED {}", guard.owner_died()));
            if recv().as_deref() == Some("unlock") {
                drop(guard);
                say("UNLOCKED");
            }
            common::park();
        }
        "lock-and-exit" => {
            let seg = Segment::open(&arg, Access::ReadWrite).unwrap();
            let guard = seg.lock().unwrap();
            say("LOCKED");
            // Exit without running destructors: the guard never unlocks.
            std::mem::forget(guard);
            std::process::exit(0);
        }
        "count" => {
            let (name, n) = arg.rsplit_once(':').unwrap();
            let seg = Segment::open(name, Access::ReadWrite).unwrap();
            for _ in 0..n.parse::<u32>().unwrap() {
                let _g = seg.lock().unwrap();
                // A non-atomic read-modify-write: only the lock keeps it exact.
                let mut b = [0u8; 8];
                seg.read(0, &mut b).unwrap();
                let v = u64::from_le_bytes(b) + 1;
                std::hint::black_box(&v);
                seg.write(0, &v.to_le_bytes()).unwrap();
            }
            say("COUNTED");
        }
        "read-only-user" => {
            // Runs as another user who may read the segment but not write it.
            let seg = Segment::open(&arg, Access::ReadOnly).unwrap();
            let e = seg.lock().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            let e = Segment::open(&arg, Access::ReadWrite).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            let seen = seg.change_count();
            say("WAITING");
            let now = seg.wait_change(seen, Some(T)).unwrap();
            say(format!("CHANGED {now}"));
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_held_lock_excludes_other_processes_until_released() {
    let _w = watchdog(T);
    let name = unique_name("excl");
    let seg = Segment::create(&name, 64).unwrap();
    let mut holder = spawn("hold-lock", &name);
    assert_eq!(holder.expect_line("LOCKED", T), "false");
    assert_eq!(seg.lock_owner(), Some(holder.pid()));
    assert!(seg.try_lock().unwrap().is_none());
    let t0 = Instant::now();
    let e = seg.lock_timeout(Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(t0.elapsed() >= Duration::from_millis(50));
    assert!(
        e.to_string().contains(&format!("process {}", holder.pid())),
        "{e}"
    );
    holder.send("unlock");
    holder.expect_line("UNLOCKED", T);
    let g = seg.lock_timeout(T).unwrap();
    assert!(!g.owner_died());
}

#[test]
fn a_waiter_gets_the_lock_when_the_holder_is_killed() {
    let _w = watchdog(T);
    let name = unique_name("kill9lock");
    let seg = Segment::create(&name, 64).unwrap();
    let mut holder = spawn("hold-lock", &name);
    holder.expect_line("LOCKED", T);
    let pid = holder.pid();
    // Wait in another thread while the holder is alive, then kill it; it stays a zombie (not
    // reaped) while the waiter decides: a zombie is dead too.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let g = seg.lock_timeout(T).unwrap();
            g.owner_died()
        });
        std::thread::sleep(Duration::from_millis(50));
        holder.kill();
        assert!(
            waiter.join().unwrap(),
            "the waiter must learn that the owner died"
        );
    });
    holder.wait(T);
    // The lock works normally afterwards.
    assert_ne!(seg.lock_owner(), Some(pid));
    let g = seg.lock().unwrap();
    assert!(!g.owner_died());
}

#[test]
fn a_lock_whose_owner_died_earlier_is_taken_over_by_the_next_locker() {
    let _w = watchdog(T);
    let name = unique_name("deadlock");
    // This process holds the segment throughout, so the default lifetime keeps it on every OS.
    let seg = Segment::create(&name, 64).unwrap();
    let mut holder = spawn("hold-lock", &name);
    holder.expect_line("LOCKED", T);
    holder.kill();
    holder.wait(T);
    // Nobody was waiting when it died; try_lock alone must recover it.
    let g = seg
        .try_lock()
        .unwrap()
        .expect("dead owner's lock is free to take");
    assert!(g.owner_died());
    drop(g);
    // A new process that opens it later sees a normal lock.
    let mut next = spawn("hold-lock", &name);
    assert_eq!(next.expect_line("LOCKED", T), "false");
}

/// The holder exits normally without unlocking (Windows would call such a mutex *abandoned*):
/// the next locker gets the lock and is told.
#[test]
fn a_lock_abandoned_by_a_process_that_exits_is_recovered() {
    let _w = watchdog(T);
    let name = unique_name("abandon");
    let seg = Segment::create(&name, 64).unwrap();
    let mut holder = spawn("lock-and-exit", &name);
    holder.expect_line("LOCKED", T);
    let status = holder.wait(T);
    assert!(status.success(), "{status:?}");
    let g = seg.lock_timeout(T).unwrap();
    assert!(g.owner_died(), "the exited owner's lock must be reported");
}

#[test]
fn processes_incrementing_under_the_lock_lose_no_update() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("count");
    let seg = Segment::create(&name, 64).unwrap();
    let n = 3000;
    let procs: Vec<_> = (0..3)
        .map(|_| spawn("count", &format!("{name}:{n}")))
        .collect();
    // This process competes too.
    for _ in 0..n {
        let _g = seg.lock().unwrap();
        let mut b = [0u8; 8];
        seg.read(0, &mut b).unwrap();
        seg.write(0, &(u64::from_le_bytes(b) + 1).to_le_bytes())
            .unwrap();
    }
    for p in procs {
        p.finish(Duration::from_secs(50));
    }
    let mut b = [0u8; 8];
    seg.read(0, &mut b).unwrap();
    assert_eq!(u64::from_le_bytes(b), 4 * n);
}

#[test]
fn a_reader_opened_read_only_can_lock_and_wait() {
    let name = unique_name("rolock");
    let w = Segment::create(&name, 64).unwrap();
    let r = Segment::open(&name, Access::ReadOnly).unwrap();
    let g = r.lock().unwrap();
    // Another thread (here: of the same process, through another handle) finds it busy.
    std::thread::scope(|s| {
        s.spawn(|| assert!(w.try_lock().unwrap().is_none()));
    });
    drop(g);
    let seen = r.change_count();
    w.notify_change().unwrap();
    assert_eq!(r.wait_change(seen, Some(T)).unwrap(), seen.wrapping_add(1));
}

/// A user who may read the segment but not write it: its open falls back to a fully read-only
/// mapping, the lock is refused, and waiting still works (the creator's mode made signallers
/// always wake). Needs root to switch users; skipped loudly otherwise. Linux only: Windows has
/// no permission bits (segments get their creator's default ACL), and switching users needs
/// `setpriv`.
#[test]
fn a_user_without_write_permission_reads_and_waits_but_cannot_lock() {
    if shmkit::test_support::BACKEND != "linux" {
        eprintln!(
            "SKIPPED on {}: permission bits and setpriv are Linux's",
            shmkit::test_support::BACKEND
        );
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("rouser");
    let seg = SegmentOptions::new()
        .size(64)
        .mode(0o644)
        .create(&name)
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(common::ROLE_ENV, "read-only-user")
        .env(common::ARG_ENV, &name);
    let can = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status()
        .is_ok_and(|s| s.success())
        && std::fs::metadata(&exe).is_ok();
    if !can {
        eprintln!("SKIPPED: cannot run a child as another user (not root, or no setpriv)");
        assert!(
            std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
            "SHMKIT_REQUIRE_ROOT_TESTS is set but this test could not run"
        );
        return;
    }
    let mut child = common::spawn_cmd(cmd, "read-only-user");
    child.expect_line("WAITING", T);
    std::thread::sleep(Duration::from_millis(20));
    seg.notify_change().unwrap();
    child.expect_line("CHANGED", T);
    child.finish(T);
}

/// Regression: locking a segment from a thread that already holds its lock waited forever for
/// itself. Now it is an error — through the same handle or another handle of the same segment —
/// while other threads still wait as before.
#[test]
fn locking_twice_from_one_thread_is_an_error_not_a_deadlock() {
    let _w = watchdog(T);
    let name = unique_name("relock");
    let seg = Segment::create(&name, 64).unwrap();
    let other = Segment::open(&name, Access::ReadWrite).unwrap();
    let g = seg.lock().unwrap();
    for e in [
        seg.lock().unwrap_err(),
        seg.lock_timeout(Duration::from_secs(60)).unwrap_err(),
        seg.try_lock().unwrap_err(),
        other.lock().unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::WouldDeadlock, "{e}");
        assert!(
            e.to_string().contains("this thread holds its lock already"),
            "{e}"
        );
    }
    // Another thread waits for the guard, and gets the lock once it goes.
    std::thread::scope(|s| {
        let t = s.spawn(|| other.lock().map(|g| g.owner_died()));
        std::thread::sleep(Duration::from_millis(50));
        drop(g);
        assert!(!t.join().unwrap().unwrap());
    });
    // And the first thread may lock again once it let go.
    assert!(seg.lock().is_ok());
}
