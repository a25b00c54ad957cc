//! `Lifetime::LastClose` when holders die by signals: the segment and its memory go within a
//! bound with nobody coming back (Linux's guardian; Windows' kernel), and the next shmkit
//! activity of the same user removes what a killed guardian left (the sweep), saying so.
//!
//! Every holder here is a real process killed with a real signal. Tests that need a stale
//! segment to stay stale until a chosen moment make it as another user (root: `setpriv`), so
//! that the sweeps of this user's other shmkit processes — other tests, other test runs — leave
//! it alone.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Cleanup, Proc, say, spawn, spawn_cmd, unique_name, watchdog};
use shmkit::{Access, ErrorKind, Segment, SegmentOptions, State, test_support};

const T: Duration = Duration::from_secs(20);

/// The promise: a `LastClose` segment whose last holder was killed is gone within this bound,
/// measured from the moment the holder has been reaped (its descriptors closed).
const BOUND: Duration = Duration::from_millis(100);

/// The child side of every test in this file.
#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return; // run as a normal test: nothing to do
    };
    match role.as_str() {
        "create" => {
            // Create a LastClose segment, stamp our pid into it, hold it until killed.
            let seg = Segment::create(&arg, 4096).unwrap();
            seg.write(0, &std::process::id().to_le_bytes()).unwrap();
            say("HOLDING");
            common::park();
        }
        "create-check" => {
            // Create, then look for any other process that shares what holds the segment: a
            // mapping of it, or a descriptor carrying a lock on it (fork copies both).
            let seg = Segment::create(&arg, 4096).unwrap();
            for pid in others_sharing_my_segment() {
                say(format!("SHARED {pid}"));
            }
            say("CHECKED");
            drop(seg);
        }
        "stopped-guard" => {
            // Hand the guard a segment, let the parent stop it, then create more than its queue
            // holds: a new guard must take over, and the creates must not wait on the old one.
            let first = Segment::create(format!("{arg}-0"), 64).unwrap();
            say(format!(
                "GUARD {}",
                guardian_of(first.name().as_str()).unwrap()
            ));
            assert_eq!(common::recv().as_deref(), Some("STOPPED"));
            let t0 = Instant::now();
            let held: Vec<Segment> = (1..=400)
                .map(|i| Segment::create(format!("{arg}-{i}"), 64).unwrap())
                .collect();
            say(format!("CREATED in {:?}", t0.elapsed()));
            let last = held.last().unwrap().name().as_str().to_string();
            say(format!("LAST {}", guardian_of(&last).unwrap()));
            common::park();
        }
        "create-raw" => {
            // A raw segment (no header), created with the default lifetime: LastClose.
            let seg = SegmentOptions::new()
                .raw(true)
                .size(4096)
                .create(arg.as_str())
                .unwrap();
            seg.write(0, b"raw").unwrap();
            say("HOLDING");
            common::park();
        }
        "create-persistent" => {
            let _seg = SegmentOptions::new()
                .size(64)
                .lifetime(shmkit::Lifetime::Persistent)
                .create(arg.as_str())
                .unwrap();
            say("HOLDING");
            common::park();
        }
        "open" => {
            let seg = Segment::open(&arg, Access::ReadOnly).unwrap();
            say(format!("HOLDING {}", seg.len()));
            common::park();
        }
        "sweep" => {
            // A fresh process's first shmkit call sweeps; the hook says what it removed.
            shmkit::on_stale_removed(|r| {
                say(format!(
                    "REMOVED {} {}",
                    r.name,
                    r.creator_pid.map_or("-".into(), |p| p.to_string())
                ))
            });
            Segment::sweep();
            say("SWEPT");
        }
        "open-stale" => {
            let e = Segment::open(&arg, Access::ReadOnly).unwrap_err();
            say(format!("KIND {:?}", e.kind()));
            say(format!("MESSAGE {e}"));
            say(format!(
                "STALE {}",
                e.stale_removed()
                    .and_then(|r| r.creator_pid)
                    .map_or("-".into(), |p| p.to_string())
            ));
        }
        other => panic!("unknown role {other}"),
    }
}

/// The processes other than this one that map the shared-memory file this process maps (it
/// maps one), or have a descriptor of it that carries a lock (Linux's `/proc`). The file is
/// known by its inode: a segment built nameless and linked later has another path in `/proc`.
fn others_sharing_my_segment() -> Vec<u32> {
    let Some(dir) = test_support::SHM_FILES else {
        return Vec::new();
    };
    let prefix = format!("{dir}/");
    let mine = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = mine
        .lines()
        .find(|l| l.contains(&prefix))
        .expect("this process maps its segment");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (dev, ino) = (fields[3].to_string(), fields[4].to_string());
    let me = std::process::id();
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me)
        .collect();
    // The newest first: a guardian forked by `create` is among them.
    pids.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = Vec::new();
    for pid in pids {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        let mapped = maps.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(3) == Some(&dev.as_str()) && f.get(4) == Some(&ino.as_str())
        });
        let locked = std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|fd| {
                std::fs::read_to_string(fd.path()).is_ok_and(|i| {
                    i.lines()
                        .any(|l| l.split_whitespace().eq(["ino:", ino.as_str()]))
                        && i.contains("FLOCK")
                })
            });
        if mapped || locked {
            out.push(pid);
        }
    }
    out
}

#[test]
fn nothing_of_a_creator_holds_its_segment_in_another_process() {
    // The guardian is forked from the creator; fork copies descriptors and mappings, and either
    // would keep the creator's lock alive after the creator died. None may survive `create`.
    if test_support::SHM_FILES.is_none() {
        eprintln!(
            "SKIPPED on {}: needs /proc and /dev/shm",
            test_support::BACKEND
        );
        return;
    }
    let _w = watchdog(T);
    for i in 0..20 {
        let name = unique_name(&format!("share{i}"));
        let _c = Cleanup(name.clone());
        let out = spawn("create-check", &name).finish(T);
        assert!(out.iter().any(|l| l == "CHECKED"), "{out:?}");
        let shared: Vec<&String> = out.iter().filter(|l| l.starts_with("SHARED")).collect();
        assert!(shared.is_empty(), "{name}: {shared:?}");
    }
}

/// Whether a killed last holder's segment goes without anyone coming back on this platform:
/// Linux's guardian, or Windows, where the kernel frees a section with its last handle.
fn freed_without_help() -> bool {
    test_support::GUARDIAN || !test_support::PERSISTENT
}

fn skip_unless_freed_without_help() -> bool {
    if freed_without_help() {
        return false;
    }
    eprintln!(
        "SKIPPED on {}: no guardian there; the sweep is tested by \
         a_killed_guardian_falls_back_to_the_next_shmkit_activity",
        test_support::BACKEND
    );
    true
}

/// Whether `name` exists, asked without sweeping or reclaiming anything.
fn exists(name: &str) -> bool {
    match Segment::info(name) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => panic!("info {name}: {e}"),
    }
}

/// How long `name` took to disappear, polling every 100 µs up to `limit`; `None` if it did not.
fn gone_within(name: &str, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if !exists(name) {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The guardian of `name` (waiting until it is there: it is forked after `create` returns).
/// `None` where the platform has none.
fn guardian_of(name: &str) -> Option<u32> {
    if !test_support::GUARDIAN {
        return None;
    }
    let t0 = Instant::now();
    loop {
        if let Some(g) = test_support::guardians(name).and_then(|g| g.first().copied()) {
            return Some(g);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no guardian appeared for {name}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether process `pid` is gone (or a zombie: dead, waiting to be reaped).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn wait_process_gone(pid: u32) {
    let t0 = Instant::now();
    while !process_gone(pid) {
        assert!(t0.elapsed() < T, "process {pid} is still running");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The entries of the shared-memory directory whose name contains `tag` (Linux).
fn shm_entries(tag: &str) -> Vec<String> {
    let Some(dir) = test_support::SHM_FILES else {
        return Vec::new();
    };
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(tag))
        .collect()
}

/// Sends `signal` (`-9`, `-INT`) to `pid`.
fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {signal} {pid} failed");
}

/// Kills `holder` with `sig` and checks that its segment `name` is gone within the bound, with
/// its guardian (if any) exited.
fn kill_last_holder(mut holder: Proc, sig: &str, name: &str) {
    let guardian = guardian_of(name);
    match sig {
        "-9" => holder.kill(), // also where there is no `kill` command (Windows)
        _ => signal(holder.pid(), sig),
    }
    holder.wait(T);
    let took = gone_within(name, T).unwrap_or_else(|| panic!("{name} is still there"));
    eprintln!("{sig} of the last holder: {name} gone after {took:?}");
    assert!(
        took <= BOUND,
        "{name} took {took:?} to go (bound {BOUND:?})"
    );
    if let Some(g) = guardian {
        wait_process_gone(g);
    }
}

#[test]
fn kill_9_of_the_last_holder_frees_the_segment_within_the_bound() {
    if skip_unless_freed_without_help() {
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("kill9last");
    let _c = Cleanup(name.clone());
    let mut holder = spawn("create", &name);
    holder.expect_line("HOLDING", T);
    if test_support::SHM_FILES.is_some() {
        assert_eq!(shm_entries(&name), std::slice::from_ref(&name));
    }
    kill_last_holder(holder, "-9", &name);
    assert!(shm_entries(&name).is_empty(), "{:?}", shm_entries(&name));
}

#[test]
fn sigint_of_the_last_holder_frees_the_segment_within_the_bound() {
    if skip_unless_freed_without_help() || test_support::BACKEND == "windows" {
        // (Windows has no SIGINT to send to another process.)
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("sigint");
    let _c = Cleanup(name.clone());
    let mut holder = spawn("create", &name);
    holder.expect_line("HOLDING", T);
    kill_last_holder(holder, "-INT", &name);
}

#[test]
fn kill_9_right_after_create_frees_the_segment_within_the_bound() {
    // Killed before its guardian may even have the segment in hand.
    if skip_unless_freed_without_help() {
        return;
    }
    let _w = watchdog(T);
    for i in 0..20 {
        let name = unique_name(&format!("early{i}"));
        let _c = Cleanup(name.clone());
        let mut holder = spawn("create", &name);
        holder.expect_line("HOLDING", T);
        holder.kill();
        holder.wait(T);
        // Nothing of the dead holder holds it: a guardian that inherited its descriptors or
        // mappings (fork copies both) would keep its lock, and the segment, alive.
        if let Ok(info) = Segment::info(&name) {
            assert_ne!(info.state, State::Live, "{info:?}");
        }
        let took = gone_within(&name, T).unwrap_or_else(|| panic!("{name} is still there"));
        assert!(
            took <= BOUND,
            "{name} took {took:?} to go (bound {BOUND:?})"
        );
    }
}

#[test]
fn the_waiter_fallback_frees_the_segment_too() {
    // Where the guard cannot watch a segment (no inotify instance or watch left), a waiter
    // process blocks in LOCK_EX for it; SHMKIT_GUARDIAN_WAITERS=1 makes the guard do so always.
    if !test_support::GUARDIAN {
        eprintln!("SKIPPED on {}: no guardian", test_support::BACKEND);
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("waiter");
    let _c = Cleanup(name.clone());
    let mut cmd = common::self_command("create", &name);
    cmd.env("SHMKIT_GUARDIAN_WAITERS", "1");
    let mut creator = spawn_cmd(cmd, "create");
    creator.expect_line("HOLDING", T);
    let mut reader = spawn("open", &name);
    reader.expect_line("HOLDING", T);
    let waiter = guardian_of(&name).unwrap();
    let parent = parent_of(waiter);
    assert!(
        std::fs::read_to_string(format!("/proc/{parent}/comm"))
            .is_ok_and(|c| c.trim_end() == "shmkit-guard"),
        "the guardian {waiter} is not a waiter forked by a guard"
    );
    creator.kill();
    creator.wait(T);
    std::thread::sleep(BOUND * 2);
    assert!(exists(&name), "removed while the reader holds it");
    assert!(!process_gone(waiter));
    kill_last_holder(reader, "-9", &name);
}

/// The parent of process `pid`.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_stopped_guard_is_replaced_and_catches_up_when_it_resumes() {
    if !test_support::GUARDIAN {
        eprintln!("SKIPPED on {}: no guardian", test_support::BACKEND);
        return;
    }
    let _w = watchdog(Duration::from_secs(60));
    let tag = unique_name("stopped");
    let names: Vec<String> = (0..=400).map(|i| format!("{tag}-{i}")).collect();
    let _c: Vec<Cleanup> = names.iter().cloned().map(Cleanup).collect();
    let mut creator = spawn("stopped-guard", &tag);
    let old: u32 = creator.expect_line("GUARD", T).parse().unwrap();
    signal(old, "-STOP");
    creator.send("STOPPED");
    eprintln!(
        "400 creates with a stopped guard: {}",
        creator.expect_line("CREATED", T)
    );
    let new: u32 = creator.expect_line("LAST", T).parse().unwrap();
    assert_ne!(new, old, "the last segment went to the stopped guard");
    // The creator dies; the resumed guard removes what it was sent while stopped, the new one
    // the rest.
    signal(old, "-CONT");
    creator.kill();
    creator.wait(T);
    for n in &names {
        assert!(gone_within(n, T).is_some(), "{n} is still there");
    }
    wait_process_gone(old);
    wait_process_gone(new);
}

#[test]
fn raw_segments_get_a_guardian_and_persistent_ones_none() {
    if skip_unless_freed_without_help() {
        return;
    }
    let _w = watchdog(T);
    // A raw LastClose segment: no header to tell it is stale, so only its guardian removes it.
    let raw = unique_name("rawlast");
    let _c = Cleanup(raw.clone());
    let mut holder = spawn("create-raw", &raw);
    holder.expect_line("HOLDING", T);
    kill_last_holder(holder, "-9", &raw);
    if !test_support::PERSISTENT {
        return; // Windows: nothing outlives its handles
    }
    // A persistent segment outlives its creator, guardian or sweep notwithstanding.
    let kept = unique_name("persist");
    let _c = Cleanup(kept.clone());
    let mut holder = spawn("create-persistent", &kept);
    holder.expect_line("HOLDING", T);
    assert_eq!(
        test_support::guardians(&kept).unwrap_or_default(),
        [] as [u32; 0]
    );
    holder.kill();
    holder.wait(T);
    // A fresh process of this user sweeps at its first call: it must leave it.
    spawn("sweep", "").finish(T);
    std::thread::sleep(BOUND * 2);
    assert_eq!(Segment::info(&kept).unwrap().state, State::Idle);
}

#[test]
fn kill_9_of_one_of_several_holders_keeps_the_segment_for_the_others() {
    if skip_unless_freed_without_help() {
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("several");
    let _c = Cleanup(name.clone());
    let mut creator = spawn("create", &name);
    creator.expect_line("HOLDING", T);
    let mut first = spawn("open", &name);
    first.expect_line("HOLDING", T);
    let mut second = spawn("open", &name);
    second.expect_line("HOLDING", T);
    let guardian = guardian_of(&name);

    first.kill();
    first.wait(T);
    // Give a wrong guardian time to act: the others still hold it.
    std::thread::sleep(BOUND * 2);
    assert!(exists(&name), "removed while two processes hold it");
    if let Some(g) = guardian {
        assert!(
            !process_gone(g),
            "the guardian left while the segment is held"
        );
    }
    let still = Segment::open(&name, Access::ReadOnly).unwrap();
    let mut pid = [0u8; 4];
    still.read(0, &mut pid).unwrap();
    assert_eq!(u32::from_le_bytes(pid), creator.pid(), "the same segment");
    drop(still);

    creator.kill();
    creator.wait(T);
    std::thread::sleep(BOUND * 2);
    assert!(exists(&name), "removed while one process holds it");
    kill_last_holder(second, "-9", &name);
}

#[test]
fn kill_9_of_the_creator_while_a_reader_holds_on() {
    if skip_unless_freed_without_help() {
        return;
    }
    let _w = watchdog(T);
    let name = unique_name("creatorgone");
    let _c = Cleanup(name.clone());
    let mut creator = spawn("create", &name);
    creator.expect_line("HOLDING", T);
    let mut reader = spawn("open", &name);
    reader.expect_line("HOLDING", T);
    let guardian = guardian_of(&name);
    creator.kill();
    creator.wait(T);
    std::thread::sleep(BOUND * 2);
    // The reader keeps it, and it is still the creator's segment, for anyone who opens it.
    let again = Segment::open(&name, Access::ReadOnly).unwrap();
    let mut pid = [0u8; 4];
    again.read(0, &mut pid).unwrap();
    assert_eq!(u32::from_le_bytes(pid), creator.pid());
    drop(again);
    if let Some(g) = guardian {
        assert!(!process_gone(g), "the guardian left with its creator");
    }
    kill_last_holder(reader, "-9", &name);
}

#[test]
fn a_segment_created_anew_while_the_guardian_removes_the_old_one_survives() {
    if !test_support::GUARDIAN {
        eprintln!("SKIPPED on {}: no guardian", test_support::BACKEND);
        return;
    }
    let _w = watchdog(Duration::from_secs(120));
    let name = unique_name("recreate");
    let _c = Cleanup(name.clone());
    let me = std::process::id().to_le_bytes();
    for round in 0..30 {
        let mut holder = spawn("create", &name);
        holder.expect_line("HOLDING", T);
        let old_guardian = guardian_of(&name).unwrap();
        // Kill, and race the guardian: create the name again as fast as possible.
        holder.kill();
        let t0 = Instant::now();
        let fresh = loop {
            match Segment::create(&name, 4096) {
                Ok(seg) => break seg,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    assert!(
                        t0.elapsed() < T,
                        "round {round}: the old segment never went"
                    );
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        };
        fresh.write(0, &me).unwrap();
        holder.wait(T);
        wait_process_gone(old_guardian);
        std::thread::sleep(Duration::from_millis(5));
        // The new segment is still under its name, and it is ours.
        let seen = Segment::open(&name, Access::ReadOnly)
            .unwrap_or_else(|e| panic!("round {round}: the new segment was removed: {e}"));
        let mut pid = [0u8; 4];
        seen.read(0, &mut pid).unwrap();
        assert_eq!(pid, me, "round {round}: another segment under the name");
        drop(seen);
        drop(fresh);
        assert!(!exists(&name), "round {round}: our last close removes it");
    }
}

#[test]
fn a_thousand_create_kill_cycles_leave_the_shared_memory_directory_as_it_was() {
    let _w = watchdog(Duration::from_secs(600));
    // Each cycle starts a process: fewer where that is slow (Windows under Wine).
    let cycles = if test_support::BACKEND == "linux" {
        1000
    } else {
        40
    };
    let tag = unique_name("cyc");
    let before: HashSet<String> = shm_entries(&tag).into_iter().collect();
    assert!(before.is_empty());
    let names: Vec<String> = (0..cycles).map(|i| format!("{tag}-{i}")).collect();
    let _c: Vec<Cleanup> = names.iter().cloned().map(Cleanup).collect();
    let t0 = Instant::now();
    // A few at a time, so that process start-up overlaps.
    for batch in names.chunks(8) {
        let mut holders: Vec<Proc> = batch.iter().map(|n| spawn("create", n)).collect();
        for h in &mut holders {
            h.expect_line("HOLDING", T);
        }
        for mut h in holders {
            h.kill();
            h.wait(T);
        }
    }
    eprintln!("{cycles} create/kill cycles in {:?}", t0.elapsed());
    if !freed_without_help() {
        // macOS: no guardian; this user's next shmkit activity sweeps.
        Segment::sweep();
    }
    for n in &names {
        assert!(gone_within(n, T).is_some(), "{n} is still there");
    }
    assert!(shm_entries(&tag).is_empty(), "{:?}", shm_entries(&tag));
}

/// A command that runs this test binary in `role` as the user `uid` (if this process may switch
/// users: root, with `setpriv`).
fn as_user(uid: u32, role: &str, arg: &str) -> Option<Command> {
    if test_support::BACKEND != "linux" && test_support::BACKEND != "macos" {
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let ids = [format!("--reuid={uid}"), format!("--regid={uid}")];
    let can = Command::new("setpriv")
        .args(&ids)
        .args(["--clear-groups", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can {
        return None;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(&ids)
        .arg("--clear-groups")
        .arg(exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(common::ROLE_ENV, role)
        .env(common::ARG_ENV, arg);
    Some(cmd)
}

/// A user id of its own for this test run and `test` (each test its own: a sweep takes all of its
/// user's stale segments): no other process sweeps its segments.
fn private_uid(test: u32) -> u32 {
    40_000 + (std::process::id() % 10_000) * 4 + test
}

fn skipped_without_root() {
    eprintln!(
        "SKIPPED on {}: cannot run a child as another user (not Linux or macOS, not root, or no \
         setpriv)",
        test_support::BACKEND
    );
    assert!(
        std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
        "SHMKIT_REQUIRE_ROOT_TESTS is set but this test could not run"
    );
}

/// Makes a stale segment `name` owned by `uid`: its creator (running as `uid`) is killed, and so
/// is its guardian first, if there is one. Returns the creator's pid.
fn stale_segment_of(uid: u32, name: &str) -> Option<u32> {
    let mut holder = spawn_cmd(as_user(uid, "create", name)?, "create");
    holder.expect_line("HOLDING", T);
    let creator = Segment::info(name).unwrap().creator_pid.unwrap();
    assert_eq!(creator, holder.pid(), "setpriv execs the test binary");
    if let Some(g) = guardian_of(name) {
        signal(g, "-9");
        wait_process_gone(g);
    }
    holder.kill();
    holder.wait(T);
    Some(creator)
}

#[test]
fn a_killed_guardian_falls_back_to_the_next_shmkit_activity_of_the_same_user() {
    let _w = watchdog(T);
    let uid = private_uid(0);
    let name = unique_name("fallback");
    let _c = Cleanup(name.clone());
    let Some(creator) = stale_segment_of(uid, &name) else {
        return skipped_without_root();
    };
    // Nobody came back: the segment stays, stale.
    std::thread::sleep(BOUND * 2);
    let info = Segment::info(&name).unwrap();
    assert_eq!(info.state, State::Stale, "{info:?}");
    assert_eq!(info.uid, uid);
    // Another user's shmkit activity leaves it alone: it sweeps only its own.
    Segment::sweep();
    assert!(exists(&name), "another user swept it");
    // The same user's next shmkit activity removes it, and says so.
    let sweeper = spawn_cmd(as_user(uid, "sweep", "").unwrap(), "sweep");
    let out = sweeper.finish(T);
    let said = format!("REMOVED {name} {creator}");
    assert_eq!(
        out.iter().filter(|l| **l == said).count(),
        1,
        "{said:?} once in {out:?}"
    );
    assert!(!exists(&name));
}

#[test]
fn an_open_that_finds_only_a_stale_segment_removes_it_and_says_so() {
    let _w = watchdog(T);
    let uid = private_uid(1);
    let name = unique_name("openstale");
    let _c = Cleanup(name.clone());
    let Some(creator) = stale_segment_of(uid, &name) else {
        return skipped_without_root();
    };
    let opener = spawn_cmd(as_user(uid, "open-stale", &name).unwrap(), "open-stale");
    let out = opener.finish(T);
    let line = |p: &str| {
        out.iter()
            .find_map(|l| l.strip_prefix(p))
            .unwrap_or_else(|| panic!("no {p:?} in {out:?}"))
            .to_string()
    };
    assert_eq!(line("KIND "), "NotFound");
    let message = line("MESSAGE ");
    assert!(
        message.contains(&format!("removed the stale segment left by pid {creator}")),
        "{message}"
    );
    assert!(!message.contains("is the writer running"), "{message}");
    assert_eq!(line("STALE "), creator.to_string());
    assert!(!exists(&name));
    // And the name is free for a new segment.
    let again = SegmentOptions::new()
        .size(10)
        .open_or_create(&name)
        .unwrap();
    assert_eq!(again.len(), 10);
}
