//! Interop against the real programs: Qt's QSharedMemory through PySide6, and Python's
//! multiprocessing.shared_memory, each driven as a child process by a small script in
//! `tests/interop/`.
//!
//! The Python with PySide6 comes from `SHMKIT_INTEROP_PYTHON` (`.ci/interop-setup.sh` makes a
//! venv and `.ci/run` sets it). Without it these tests say loudly that they were skipped; with
//! `SHMKIT_REQUIRE_INTEROP=1` (CI) a skip is a failure.
//!
//! Each test gets its own temporary directory, passed to Qt as `TMPDIR` and to shmkit as
//! `Key::legacy_in`, so Qt's key files never collide between tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Proc, say, spawn, spawn_cmd, watchdog};
use shmkit::interop::{self, python, qt};
use shmkit::{Access, ErrorKind, Segment, State};

const T: Duration = Duration::from_secs(60);

/// The Python to run the peers with, or `None` (after saying so) when interop is not set up.
fn python_bin(need_qt: bool) -> Option<PathBuf> {
    // Interop is with Qt and Python on Linux: their objects live in /dev/shm and System V IPC,
    // which only the Linux backend addresses (the macOS backend run on Linux does not).
    if shmkit::test_support::BACKEND != "linux" {
        eprintln!(
            "SKIPPED: interop tests need the Linux backend (this is {})",
            shmkit::test_support::BACKEND
        );
        return None;
    }
    if let Some(p) = std::env::var_os("SHMKIT_INTEROP_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let required = std::env::var("SHMKIT_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
    if required {
        panic!(
            "SHMKIT_REQUIRE_INTEROP=1 but SHMKIT_INTEROP_PYTHON is not set (run .ci/interop-setup.sh)"
        );
    }
    if !need_qt
        && Command::new("python3")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return Some(PathBuf::from("python3"));
    }
    eprintln!(
        "SKIPPED: interop test needs SHMKIT_INTEROP_PYTHON (a Python with PySide6: \
         `bash .ci/interop-setup.sh` prints one)"
    );
    None
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

fn hex(s: impl AsRef<[u8]>) -> String {
    s.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A private temporary directory (Qt's TMPDIR for one test), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "shmkit-interop-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Qt or Python peer process.
struct Peer(Proc);

impl Peer {
    fn start(python: &Path, script_name: &str, tmpdir: Option<&Path>) -> Peer {
        let mut cmd = Command::new(python);
        // Names are UTF-8 whatever the locale (a C locale would make Python encode them as ASCII).
        cmd.arg(script(script_name)).env("PYTHONUTF8", "1");
        if let Some(d) = tmpdir {
            cmd.env("TMPDIR", d);
        }
        let mut p = spawn_cmd(cmd, script_name);
        p.expect_line("READY", T);
        Peer(p)
    }

    fn qt(python: &Path, tmpdir: &Path) -> Peer {
        Peer::start(python, "qt_peer.py", Some(tmpdir))
    }

    fn py(python: &Path) -> Peer {
        Peer::start(python, "py_peer.py", None)
    }

    fn send(&mut self, line: &str) {
        self.0.send(line);
    }

    /// The next answer line (`OK …` or `ERR …`), within `limit`.
    fn answer(&mut self, limit: Duration) -> String {
        self.0.expect_line("", limit)
    }

    /// Sends a command and returns what follows `OK` (panics on `ERR`).
    fn ok(&mut self, line: &str) -> String {
        self.send(line);
        let a = self.answer(T);
        match a.strip_prefix("OK") {
            Some(rest) => rest.trim().to_string(),
            None => panic!("{} answered {a:?} to {line:?}", self.0.role),
        }
    }
}

fn legacy_spec(key: &str) -> String {
    format!("legacy:{}", hex(key))
}

fn native_spec(key: &qt::Key) -> String {
    format!("native:{}", hex(key.to_string()))
}

static KEYS: AtomicU32 = AtomicU32::new(0);

/// A key with spaces, digits, punctuation and non-ASCII letters, unique to this test run.
fn awkward_key(tag: &str) -> String {
    format!(
        "shmkit {tag} #{}-{}: Grüße, ключ & 東京!",
        std::process::id(),
        KEYS.fetch_add(1, Ordering::Relaxed)
    )
}

#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return;
    };
    match role.as_str() {
        "qt-hold-lock" => {
            // arg: "<tmpdir>\n<key>"
            let (dir, key) = arg.split_once('\n').unwrap();
            let key = qt::Key::legacy_in(key, dir).unwrap();
            let seg = qt::Segment::open(&key, Access::ReadWrite).unwrap();
            let _guard = seg.lock().unwrap();
            say("LOCKED");
            common::park(); // until killed
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn legacy_keys_map_to_the_objects_qt_uses() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("keys");
    let mut qtp = Peer::qt(&py, &dir.0);
    let keys = [
        "demo".to_string(),
        "my.app-key 1".to_string(),
        "Ünïcödé/ключ".to_string(),
        "123456".to_string(),
        "  spaces  and\ttabs ".to_string(),
        "punct!@#$%^&*()[]{};:'\",.<>?/\\|`~=+-_".to_string(),
        format!("{}abc", "7".repeat(300)),
        awkward_key("keys"),
    ];
    for k in &keys {
        let out = qtp.ok(&format!("keys {}", hex(k)));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let ours = qt::Key::legacy_in(k, &dir.0).unwrap();
        assert_eq!(v["legacy"], ours.native_key(), "{k:?}");
        assert_eq!(v["semaphore"], ours.lock_key(), "{k:?}");
        assert_eq!(v["legacy_string"], ours.to_string(), "{k:?}");
        let posix = qt::Key::legacy_posix(k).unwrap();
        assert_eq!(v["legacy_posix"], posix.native_key(), "{k:?}");
        match qt::Key::platform_safe(k) {
            Ok(p) => assert_eq!(v["platform_safe"], p.to_string(), "{k:?}"),
            // Qt makes "posix:/a/b" and over-long names too, which shm_open/sem_open refuse.
            Err(_) => {
                let native = &v["platform_safe"].as_str().unwrap()["posix:/".len()..];
                assert!(native.contains('/') || native.len() > 251, "{k:?}");
            }
        }
        // Qt's string form reads back to the same key, and ours reads in Qt.
        assert_eq!(
            v["legacy_string"]
                .as_str()
                .unwrap()
                .parse::<qt::Key>()
                .unwrap()
                .native_key(),
            ours.native_key()
        );
        let parsed = qtp.ok(&format!("parse {}", hex(ours.to_string())));
        let p: serde_json::Value = serde_json::from_str(&parsed).unwrap();
        assert_eq!(
            p["native"],
            ours.native_key(),
            "Qt parsing our string for {k:?}"
        );
    }
    qtp.ok("exit");
}

/// Qt creates and writes under its lock; shmkit reads the same bytes, then writes, and Qt reads.
fn qt_creates_shmkit_reads(spec: &str, key: &qt::Key, py: &Path, dir: &Path) {
    let mut qtp = Peer::qt(py, dir);
    qtp.ok(&format!("create {spec} 4096"));
    let payload = "frame 1: héllo from Qt\0\u{1}\u{ff}";
    qtp.ok(&format!("write 100 {}", hex(payload)));

    let seg = qt::Segment::open(key, Access::ReadOnly).unwrap();
    assert_eq!(seg.len(), 4096);
    let mut buf = vec![0u8; payload.len()];
    {
        let _g = seg.lock().unwrap();
        seg.read(100, &mut buf).unwrap();
    }
    assert_eq!(buf, payload.as_bytes());
    assert_eq!(
        seg.write(0, b"x").unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        seg.read(4000, &mut [0; 97]).unwrap_err().kind(),
        ErrorKind::InvalidSize
    );

    let rw = qt::Segment::open(key, Access::ReadWrite).unwrap();
    {
        let _g = rw.lock().unwrap();
        rw.write(4090, b"rust!!").unwrap();
    }
    assert_eq!(unhex(&qtp.ok("read 4090 6")), b"rust!!");
    drop(rw);
    drop(seg);
    // Qt is still attached: its segment survives our detach.
    assert_eq!(unhex(&qtp.ok("read 100 5")), b"frame");
    qtp.ok("exit");
}

#[test]
fn qt_creates_and_writes_shmkit_reads_system_v() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("qtsysv");
    let k = awkward_key("sysv");
    let key = qt::Key::legacy_in(&k, &dir.0).unwrap();
    qt_creates_shmkit_reads(&legacy_spec(&k), &key, &py, &dir.0);
    // Qt detached last on exit: segment and key file are gone.
    assert!(!Path::new(key.native_key()).exists());
    assert_eq!(
        qt::Segment::open(&key, Access::ReadOnly)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn qt_creates_and_writes_shmkit_reads_posix_legacy_and_native() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("qtposix");
    let k = awkward_key("posix");
    let key = qt::Key::legacy_posix(&k).unwrap();
    qt_creates_shmkit_reads(&format!("legacy-posix:{}", hex(&k)), &key, &py, &dir.0);
    // Qt never removes a POSIX segment on Linux.
    let name = key.posix_name().unwrap();
    assert!(
        Segment::info(name.as_str()).is_ok(),
        "Qt's POSIX segment stays"
    );
    Segment::remove(&name).unwrap();

    let native = qt::Key::native_posix(&format!("shmkit native {} ü", std::process::id())).unwrap();
    qt_creates_shmkit_reads(&native_spec(&native), &native, &py, &dir.0);
    Segment::remove(native.posix_name().unwrap()).unwrap();
}

/// shmkit creates and writes; a Qt process attaches read-only and read-write and reads them.
fn shmkit_creates_qt_attaches(spec: &str, key: &qt::Key, py: &Path, dir: &Path) {
    let seg = qt::Segment::create(key, 1000).unwrap();
    {
        let _g = seg.lock().unwrap();
        seg.write(0, b"made by shmkit").unwrap();
    }
    let mut ro = Peer::qt(py, dir);
    ro.ok(&format!("attach {spec} ro"));
    assert_eq!(ro.ok("size"), "1000");
    assert_eq!(unhex(&ro.ok("read 0 14")), b"made by shmkit");
    let mut rw = Peer::qt(py, dir);
    rw.ok(&format!("attach {spec} rw"));
    rw.ok(&format!("write 990 {}", hex("from Qt!!!")));
    let mut buf = [0u8; 10];
    seg.read(990, &mut buf).unwrap();
    assert_eq!(&buf, b"from Qt!!!");
    assert_eq!(unhex(&ro.ok("rawread 990 10")), b"from Qt!!!");
    rw.ok("detach");
    ro.ok("detach");
    rw.ok("exit");
    ro.ok("exit");
}

#[test]
fn shmkit_creates_qt_attaches_read_only_and_read_write_system_v() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("rsysv");
    let k = awkward_key("create");
    let key = qt::Key::legacy_in(&k, &dir.0).unwrap();
    shmkit_creates_qt_attaches(&legacy_spec(&k), &key, &py, &dir.0);
    // We detached last: like Qt, we removed the segment and its key file, and (as the
    // semaphore's creator) the lock and its key file.
    assert!(!Path::new(key.native_key()).exists());
    assert!(!key.lock_file().exists());
    assert_eq!(
        qt::Segment::open(&key, Access::ReadOnly)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn shmkit_creates_qt_attaches_read_only_and_read_write_posix() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("rposix");
    let key = qt::Key::native_posix(&format!("shmkit-made {} ключ", std::process::id())).unwrap();
    shmkit_creates_qt_attaches(&native_spec(&key), &key, &py, &dir.0);
    // Qt's rule for POSIX: the segment stays; its lock went with its creator (us).
    let name = key.posix_name().unwrap();
    assert!(Segment::info(name.as_str()).is_ok());
    assert!(!key.lock_file().exists(), "the creator removes the lock");
    Segment::remove(&name).unwrap();
}

/// Lock exclusion both ways, for one key.
fn locks_exclude_each_other(spec: &str, key: &qt::Key, py: &Path, dir: &Path) {
    let mut qtp = Peer::qt(py, dir);
    qtp.ok(&format!("create {spec} 64"));
    let seg = qt::Segment::open(key, Access::ReadWrite).unwrap();

    // Qt holds it: our try_lock fails, lock_timeout times out, lock waits until Qt unlocks.
    assert_eq!(qtp.ok("lock"), "LOCKED");
    assert!(seg.try_lock().unwrap().is_none());
    assert!(!seg.lock_is_free().unwrap());
    let t0 = Instant::now();
    let e = seg.lock_timeout(Duration::from_millis(200)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let g = seg.lock().unwrap();
            let at = Instant::now();
            drop(g);
            at
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !waiter.is_finished(),
            "our lock() must wait while Qt holds the lock"
        );
        let released = Instant::now();
        assert_eq!(qtp.ok("unlock"), "UNLOCKED");
        assert!(waiter.join().unwrap() >= released);
    });

    // We hold it: Qt's lock() waits until we release.
    let g = seg.lock().unwrap();
    qtp.send("lock");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        qtp.0.rest().is_empty(),
        "Qt's lock() must wait while shmkit holds the lock"
    );
    drop(g);
    assert_eq!(qtp.answer(T), "OK LOCKED");
    assert!(seg.try_lock().unwrap().is_none());
    assert_eq!(qtp.ok("unlock"), "UNLOCKED");
    let g = seg.try_lock().unwrap().expect("free again");
    g.unlock().unwrap();
    drop(seg);
    qtp.ok("exit");
}

#[test]
fn lock_exclusion_both_ways_system_v() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("lock");
    let k = awkward_key("lock");
    let key = qt::Key::legacy_in(&k, &dir.0).unwrap();
    locks_exclude_each_other(&legacy_spec(&k), &key, &py, &dir.0);
}

#[test]
fn lock_exclusion_both_ways_posix() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("plock");
    let key = qt::Key::native_posix(&format!("shmkit-lock-{}", std::process::id())).unwrap();
    locks_exclude_each_other(&native_spec(&key), &key, &py, &dir.0);
    Segment::remove(key.posix_name().unwrap()).unwrap();
}

#[test]
fn a_killed_shmkit_lock_holder_does_not_wedge_the_qt_app_system_v() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("kill");
    let k = awkward_key("kill9");
    let mut qtp = Peer::qt(&py, &dir.0);
    qtp.ok(&format!("create {} 64", legacy_spec(&k)));
    let mut holder = spawn("qt-hold-lock", &format!("{}\n{k}", dir.0.display()));
    holder.expect_line("LOCKED", T);
    qtp.send("lock");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        qtp.0.rest().is_empty(),
        "Qt waits while the shmkit process holds the lock"
    );
    holder.kill();
    holder.wait(T);
    // SEM_UNDO: the kernel gave the lock back when the holder died.
    assert_eq!(qtp.answer(T), "OK LOCKED");
    assert_eq!(qtp.ok("unlock"), "UNLOCKED");
    assert_eq!(qtp.ok("lock"), "LOCKED");
    qtp.ok("unlock");
    qtp.ok("exit");
}

#[test]
fn qt_crash_leftovers_are_orphaned_and_a_live_segment_is_live() {
    let _w = watchdog(T);
    let Some(py) = python_bin(true) else { return };
    let dir = TempDir::new("crash");
    let dead_key = qt::Key::legacy_in(&awkward_key("dead"), &dir.0).unwrap();
    let live_key = qt::Key::legacy_in(&awkward_key("live"), &dir.0).unwrap();
    let mut dead = Peer::qt(&py, &dir.0);
    dead.ok(&format!(
        "create {} 128",
        legacy_spec(dead_key.legacy_key().unwrap())
    ));
    let mut live = Peer::qt(&py, &dir.0);
    live.ok(&format!(
        "create {} 256",
        legacy_spec(live_key.legacy_key().unwrap())
    ));
    dead.0.kill();
    dead.0.wait(T);

    // Our own view of the objects, by key file (the census scans $TMPDIR and /tmp; these are in
    // a private directory, so look them up by key directly).
    let dead_shm = qt::Segment::open(&dead_key, Access::ReadOnly).unwrap();
    assert_eq!(dead_shm.len(), 128);
    // Opening and detaching as the last user removes Qt's leftover, as Qt's own attach+detach.
    drop(dead_shm);
    assert!(!Path::new(dead_key.native_key()).exists());
    assert_eq!(
        qt::Segment::open(&dead_key, Access::ReadOnly)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // The live one is untouched by all this.
    let l = qt::Segment::open(&live_key, Access::ReadOnly).unwrap();
    assert_eq!(l.len(), 256);
    drop(l);
    assert!(
        Path::new(live_key.native_key()).exists(),
        "Qt is still attached"
    );
    live.ok("exit");
    // The dead creator's lock (semaphore and key file) leaked, as with Qt; Qt's next create()
    // takes it over and removes it on exit. So does ours.
    assert!(dead_key.lock_file().exists());
    drop(qt::Segment::create(&dead_key, 1).unwrap());
    assert!(!dead_key.lock_file().exists());
}

// ------------------------------------------------------------------------------------------
// Python

#[test]
fn python_creates_shmkit_reads_and_writes() {
    let _w = watchdog(T);
    let Some(py) = python_bin(false) else { return };
    let mut p = Peer::py(&py);
    // A name with the rules of both sides: Python takes any name the OS takes.
    // Python <= 3.12 cannot use non-ASCII names at all: its resource tracker encodes names as
    // ASCII, and fails *after* shm_open, leaving the object behind. shmkit can remove it.
    let unicode = format!("py {} Grüße & ключ!", std::process::id());
    let answer = {
        p.send(&format!("create {} 300", hex(&unicode)));
        p.answer(T)
    };
    if answer.starts_with("ERR") {
        assert!(answer.contains("UnicodeEncodeError"), "{answer}");
        assert!(
            Segment::info(&unicode).is_ok(),
            "Python leaked the object it created"
        );
        Segment::remove(unicode.as_str()).unwrap();
    } else {
        p.ok("close");
        p.ok("unlink");
    }
    // Names with the rules of both sides: Python takes any ASCII name the OS takes.
    for name in [
        format!("py-{}-plain", std::process::id()),
        format!("py {} spaces & (punct)!", std::process::id()),
        format!("{}{}", std::process::id(), "n".repeat(240)),
    ] {
        let out = p.ok(&format!("create {} 300", hex(&name)));
        assert_eq!(out, format!("{name} 300"));
        p.ok(&format!("write 0 {}", hex("from python")));
        let seg = python::open(name.as_str(), Access::ReadWrite).unwrap();
        assert_eq!(seg.len(), 300);
        assert_eq!(seg.kind(), None, "raw: no header");
        let mut buf = [0u8; 11];
        seg.read(0, &mut buf).unwrap();
        assert_eq!(&buf, b"from python");
        seg.write(299, b"!").unwrap();
        assert_eq!(p.ok("read 299 1"), hex("!"));
        drop(seg);
        // Opening never removes a Python segment.
        assert!(Segment::info(&name).is_ok());
        p.ok("close");
        p.ok("unlink");
    }
    let out = p.ok("createrandom 64");
    let name = out.split_whitespace().next().unwrap().to_string();
    assert!(python::is_python_name(&name), "{name}");
    let seg = python::open(name.as_str(), Access::ReadOnly).unwrap();
    assert_eq!(seg.len(), 64);
    drop(seg);
    p.ok("close");
    p.ok("unlink");
    p.ok("exit");
}

#[test]
fn shmkit_creates_python_reads_and_writes() {
    let _w = watchdog(T);
    let Some(py) = python_bin(false) else { return };
    let name = format!("shmkit to py {}", std::process::id());
    let seg = python::create(name.as_str(), 4096).unwrap();
    seg.write(10, b"made by shmkit").unwrap();
    let mut p = Peer::py(&py);
    assert_eq!(
        p.ok(&format!("attach {}", hex(&name))),
        format!("{name} 4096")
    );
    assert_eq!(unhex(&p.ok("read 10 14")), b"made by shmkit");
    p.ok(&format!("write 0 {}", hex("python was here")));
    let mut buf = [0u8; 15];
    seg.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"python was here");
    p.ok("close");
    p.ok("exit");
    p.0.wait(T);
    // Unregistered from the resource tracker: the name survives Python's exit.
    assert!(
        Segment::info(&name).is_ok(),
        "the workaround keeps our segment"
    );
    drop(seg);
    // We created it (LastClose): gone with our last handle.
    assert_eq!(
        Segment::info(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn the_resource_tracker_unlinks_a_segment_python_only_attached_to() {
    let _w = watchdog(T);
    let Some(py) = python_bin(false) else { return };
    let name = format!("shmkit-tracker-{}", std::process::id());
    let seg = python::create(name.as_str(), 64).unwrap();
    let mut p = Peer::py(&py);
    p.ok(&format!("attach-tracked {}", hex(&name)));
    p.ok("close");
    p.ok("exit");
    p.0.wait(T);
    // The trap, documented in interop::python: Python 3.8-3.12 (and 3.13 without track=False)
    // removed our name although it only attached. The mapping still works.
    let deadline = Instant::now() + T;
    while Segment::info(&name).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // the tracker runs in its own process
    }
    assert_eq!(
        Segment::info(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    seg.write(0, b"still mapped").unwrap();
}

#[test]
fn the_census_marks_python_segments_live_or_orphaned() {
    let _w = watchdog(T);
    let Some(py) = python_bin(false) else { return };
    let mut p = Peer::py(&py);
    let name = p
        .ok("createrandom 64")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let find = |name: &str| {
        interop::list()
            .unwrap()
            .into_iter()
            .find(|i| i.name == name)
            .expect("listed")
    };
    let live = find(&name);
    assert_eq!(live.origin, interop::Origin::Python);
    assert_eq!(live.state, State::Live, "{live:?}");
    p.ok("close"); // unmapped, not unlinked: what a crash leaves
    let orphan = find(&name);
    assert_eq!(orphan.state, State::Orphaned, "{orphan:?}");
    p.ok("unlink");
    p.ok("exit");
}

#[test]
fn the_python_snippet_in_the_interop_guide_runs() {
    let _w = watchdog(T);
    let Some(py) = python_bin(false) else { return };
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/interop.md"),
    )
    .expect("docs/interop.md");
    let start = guide
        .find("<!-- tested: notebook -->")
        .expect("the tested snippet's marker");
    let code = &guide[start..];
    let code = &code[code.find("```python\n").unwrap() + 10..];
    let code = &code[..code.find("```").unwrap()];
    let name = format!("frames-{}", std::process::id());
    let seg = python::create(name.as_str(), 64).unwrap();
    // The guide's layout: u32 sequence (even: complete), u32 length, payload.
    seg.write(0, &2u32.to_le_bytes()).unwrap();
    seg.write(4, &3u32.to_le_bytes()).unwrap();
    seg.write(8, b"abc").unwrap();
    let file = std::env::temp_dir().join(format!("shmkit-notebook-{}.py", std::process::id()));
    std::fs::write(&file, code.replace("\"frames\"", &format!("{name:?}"))).unwrap();
    let out = Command::new(&py).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("seq 2: b'abc'"), "{stdout}");
    assert!(
        Segment::info(&name).is_ok(),
        "the snippet must not remove the producer's segment"
    );
    drop(seg);
}
