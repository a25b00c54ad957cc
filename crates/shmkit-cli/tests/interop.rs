//! The `shmkit` binary against real Qt (PySide6) and Python processes: foreign targets in
//! `info`, `dump`, `read`, `write` and `lock`; Qt's crash leftovers in `ls` and
//! `gc --foreign`. The peers are the scripts of the library's interop tests
//! (`crates/shmkit/tests/interop/`); see there for `SHMKIT_INTEROP_PYTHON` and
//! `SHMKIT_REQUIRE_INTEROP`.
//!
//! `gc --foreign` removes every orphan on the machine, so the tests here run one at a time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

const T: Duration = Duration::from_secs(60);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn python_bin() -> Option<PathBuf> {
    // Interop is with Qt and Python on Linux: their objects live in /dev/shm and System V IPC,
    // which only the Linux backend addresses.
    if shmkit::test_support::BACKEND != "linux" {
        eprintln!(
            "SKIPPED: CLI interop tests need the Linux backend (this is {})",
            shmkit::test_support::BACKEND
        );
        return None;
    }
    if let Some(p) = std::env::var_os("SHMKIT_INTEROP_PYTHON") {
        return Some(PathBuf::from(p));
    }
    if std::env::var("SHMKIT_REQUIRE_INTEROP").is_ok_and(|v| v == "1") {
        panic!("SHMKIT_REQUIRE_INTEROP=1 but SHMKIT_INTEROP_PYTHON is not set");
    }
    eprintln!("SKIPPED: CLI interop test needs SHMKIT_INTEROP_PYTHON (bash .ci/interop-setup.sh)");
    None
}

fn hex(s: impl AsRef<[u8]>) -> String {
    s.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("shmkit-cli-interop-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Qt or Python peer (see the library's tests/interop/*.py).
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn start(python: &Path, script: &str, tmpdir: &Path) -> Peer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shmkit/tests/interop")
            .join(script);
        let mut child = Command::new(python)
            .arg(path)
            .env("TMPDIR", tmpdir)
            .env("PYTHONUTF8", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the peer");
        let stdin = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Peer {
            child,
            stdin,
            lines: rx,
        };
        assert_eq!(p.answer(), "READY");
        p
    }

    fn answer(&mut self) -> String {
        self.lines.recv_timeout(T).expect("the peer answers")
    }

    fn ok(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        let a = self.answer();
        a.strip_prefix("OK")
            .unwrap_or_else(|| panic!("{line:?} -> {a:?}"))
            .trim()
            .to_string()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // A clean exit first (so a failing test leaks nothing), then the hard way.
        let _ = writeln!(self.stdin, "exit");
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `shmkit ARGS` with `TMPDIR=tmpdir`, with a watchdog.
fn shmkit(tmpdir: &Path, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(args)
        .env("TMPDIR", tmpdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shmkit {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(tmpdir: &Path, args: &[&str]) -> String {
    let r = shmkit(tmpdir, args);
    assert_eq!(r.code, Some(0), "shmkit {args:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

fn ls_json(tmpdir: &Path) -> Vec<Value> {
    match serde_json::from_str(&ok(tmpdir, &["ls", "--json"])).unwrap() {
        Value::Array(a) => a,
        v => panic!("{v}"),
    }
}

fn find<'a>(all: &'a [Value], key_file: &str) -> Option<&'a Value> {
    all.iter()
        .find(|v| v["key_file"].as_str() == Some(key_file) && v["object"] == "sysv-segment")
}

#[test]
fn foreign_targets_work_in_info_dump_read_write_and_lock() {
    let _one = alone();
    let Some(py) = python_bin() else { return };
    let dir = TempDir::new("targets");
    let d = dir.0.as_path();
    let key = format!("cli target {} Grüße!", std::process::id());
    let target = format!("qt:{key}");
    let mut qt = Peer::start(&py, "qt_peer.py", d);
    qt.ok(&format!("create legacy:{} 64", hex(&key)));
    qt.ok(&format!("write 0 {}", hex("hello from Qt")));

    let info = ok(d, &["info", &target]);
    assert!(info.contains("System V"), "{info}");
    assert!(info.contains("attached:           1"), "{info}");
    assert!(info.contains("lock:               free"), "{info}");
    let dump = ok(d, &["dump", &target, "--len", "16"]);
    assert!(dump.contains("|hello from Qt...|"), "{dump}");
    ok(d, &["write", &target, "--offset", "6", "shmkit"]);
    assert_eq!(qt.ok("read 0 13"), hex("hello shmkitt"));
    assert_eq!(ok(d, &["read", &target, "--len", "12"]), "hello shmkit\n");
    assert_eq!(
        ok(d, &["read", &target, "--len", "12", "-n"]),
        "hello shmkit"
    );
    assert!(ok(d, &["read", &target, "--len", "2", "--hex"]).starts_with("00000000  68 65 "));
    let v: Value =
        serde_json::from_str(&ok(d, &["read", &target, "--len", "5", "--json"])).unwrap();
    assert_eq!(v["text"], "hello");
    let r = shmkit(d, &["read", &target, "--offset", "60", "--len", "5"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("outside its 64 bytes"), "{}", r.stderr);

    // Qt holds its lock: our write times out; once Qt releases, `lock` gets it.
    assert_eq!(qt.ok("lock"), "LOCKED");
    let r = shmkit(d, &["write", &target, "x", "--timeout", "300ms"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("held Qt's lock"), "{}", r.stderr);
    assert_eq!(qt.ok("unlock"), "UNLOCKED");
    // `shmkit lock` holds Qt's lock while a command runs: Qt's lock() waits for it.
    let mut holder = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["lock", &target, "--", "sleep", "1"])
        .env("TMPDIR", d)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("locked qt:"), "{first}");
    let t0 = Instant::now();
    assert_eq!(qt.ok("lock"), "LOCKED");
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "Qt waited for shmkit lock"
    );
    assert!(holder.wait().unwrap().success());
    qt.ok("unlock");
    qt.ok("exit");

    // A Python segment through posix:NAME.
    let mut p = Peer::start(&py, "py_peer.py", d);
    let name = p
        .ok("createrandom 32")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    p.ok(&format!("write 0 {}", hex("py bytes")));
    let t = format!("posix:{name}");
    assert_eq!(ok(d, &["read", &t, "--len", "8", "-n"]), "py bytes");
    ok(d, &["write", &t, "--offset", "3", "BYTES"]);
    assert_eq!(p.ok("read 0 8"), hex("py BYTES"));
    let info = ok(d, &["info", &t]);
    assert!(info.contains("Python"), "{info}");
    assert!(info.contains("live"), "{info}");
    let r = shmkit(d, &["lock", &t, "--hold", "1ms"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("has no lock"), "{}", r.stderr);
    p.ok("close");
    p.ok("unlink");
    p.ok("exit");
}

#[test]
fn qt_crash_leftovers_are_orphaned_gc_foreign_removes_them_and_keeps_live_ones() {
    let _one = alone();
    let Some(py) = python_bin() else { return };
    let dir = TempDir::new("crash");
    let d = dir.0.as_path();
    let dead_key = format!("cli crashed {} ключ", std::process::id());
    let live_key = format!("cli alive {}", std::process::id());
    let posix_key = format!("cli crashed posix {}", std::process::id());
    let mut dead = Peer::start(&py, "qt_peer.py", d);
    dead.ok(&format!("create legacy:{} 128", hex(&dead_key)));
    let mut dead_posix = Peer::start(&py, "qt_peer.py", d);
    dead_posix.ok(&format!("create legacy-posix:{} 256", hex(&posix_key)));
    let mut live = Peer::start(&py, "qt_peer.py", d);
    live.ok(&format!("create legacy:{} 512", hex(&live_key)));
    live.ok(&format!("write 0 {}", hex("still here")));
    dead.kill(); // SIGKILL: no destructors, Qt leaks what it made
    dead_posix.kill();

    let dead_file = ok(d, &["info", "--json", &format!("qt:{dead_key}")]);
    let dead_file: Value = serde_json::from_str(&dead_file).unwrap();
    let dead_file = dead_file["native_key"].as_str().unwrap().to_string();
    let live_file: Value =
        serde_json::from_str(&ok(d, &["info", "--json", &format!("qt:{live_key}")])).unwrap();
    let live_file = live_file["native_key"].as_str().unwrap().to_string();

    let all = ls_json(d);
    let orphan = find(&all, &dead_file).unwrap_or_else(|| panic!("{dead_file} not in {all:#?}"));
    assert_eq!(orphan["kind"], "qt");
    assert_eq!(orphan["state"], "orphaned", "{orphan}");
    let alive = find(&all, &live_file).expect("the live Qt's segment is listed");
    assert_eq!(alive["state"], "live", "{alive}");
    // The POSIX leftovers: the segment and (legacy key) its lock.
    let posix = all
        .iter()
        .filter(|v| {
            v["origin"] == "qt" && v["object"] != "sysv-segment" && v["state"] == "orphaned"
        })
        .filter(|v| v["name"].as_str().is_some_and(|n| n.contains("qipc_")))
        .count();
    assert!(posix >= 2, "{all:?}");
    let table = ok(d, &["ls"]);
    assert!(table.contains("orphaned"), "{table}");

    let dry = ok(d, &["gc", "--foreign", "--dry-run"]);
    assert!(dry.contains("would remove sysv:"), "{dry}");
    let gone = ok(d, &["gc", "--foreign"]);
    assert!(gone.contains("removed sysv:"), "{gone}");
    let all = ls_json(d);
    assert!(find(&all, &dead_file).is_none(), "the orphan is gone");
    assert!(!Path::new(&dead_file).exists(), "with its key file");
    assert_eq!(find(&all, &live_file).unwrap()["state"], "live");
    assert_eq!(live.ok("read 0 10"), hex("still here"));

    // Qt can create the crashed key again at once.
    let mut again = Peer::start(&py, "qt_peer.py", d);
    again.ok(&format!("create legacy:{} 128", hex(&dead_key)));
    again.ok("exit");
    let mut again = Peer::start(&py, "qt_peer.py", d);
    again.ok(&format!("create legacy-posix:{} 256", hex(&posix_key)));
    again.ok("exit");
    live.ok("exit");
    // Qt never removes POSIX segments: clean up ours.
    let posix_name: Value = serde_json::from_str(&ok(
        d,
        &["info", "--json", &format!("qt-posix:{posix_key}")],
    ))
    .unwrap();
    let n = posix_name["native_key"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    ok(d, &["rm", &n]);
}

/// Runs one of the classic Qt programs' ports (`qt_seed.py`, `qt_image_example.py`) to its end
/// and returns its output.
fn classic(py: &Path, tmpdir: &Path, script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shmkit/tests/interop")
        .join(script);
    let out = Command::new(py)
        .arg(path)
        .args(args)
        .env("TMPDIR", tmpdir)
        .env("QT_QPA_PLATFORM", "offscreen")
        .stdin(Stdio::null())
        .output()
        .expect("run the classic program");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A classic Qt program that creates its segment and keeps it (the dialog stays open): started,
/// and waited for until it says `SENT`.
fn classic_creator(py: &Path, tmpdir: &Path, script: &str, args: &[&str]) -> Child {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shmkit/tests/interop")
        .join(script);
    let mut child = Command::new(py)
        .arg(path)
        .args(args)
        .env("TMPDIR", tmpdir)
        .env("QT_QPA_PLATFORM", "offscreen")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the classic program");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("SENT "), "{script} {args:?}: {first:?}");
    child
}

fn finish(mut child: Child) {
    let _ = writeln!(child.stdin.as_mut().unwrap(), "exit");
    let _ = child.wait();
}

#[test]
fn the_qt_seeds_send_and_load_talk_to_shmkit_through_qdatastream() {
    let _one = alone();
    let Some(py) = python_bin() else { return };
    let dir = TempDir::new("seed");
    let d = dir.0.as_path();
    // The seed's own key ("test") in a private TMPDIR, so no other test or program shares it.
    let send = classic_creator(&py, d, "qt_seed.py", &["send", "test"]);
    // What Send wrote (`out << "test sharedMemory"`: a const char*, with its NUL) ...
    assert_eq!(
        ok(d, &["read", "qt:test", "--qt-datastream", "bytes"]),
        "test sharedMemory\n"
    );
    let raw = ok(d, &["read", "qt:test", "--hex"]);
    assert!(
        raw.starts_with("00000000  00 00 00 12 74 65 73 74"),
        "{raw}"
    );
    let v: Value = serde_json::from_str(&ok(
        d,
        &["read", "qt:test", "--qt-datastream", "bytes", "--json"],
    ))
    .unwrap();
    assert_eq!(v["text"], "test sharedMemory");
    assert_eq!(v["len"], 17);
    // ... and what shmkit writes, Load reads with `in >> data`.
    ok(
        d,
        &["write", "qt:test", "--qt-datastream", "bytes", "hello, Qt"],
    );
    assert_eq!(
        classic(&py, d, "qt_seed.py", &["load", "test"]),
        format!("LOADED {}", hex("hello, Qt"))
    );
    // A value that does not fit the segment Send sized to its buffer: refused, nothing written.
    let r = shmkit(
        d,
        &[
            "write",
            "qt:test",
            "--qt-datastream",
            "bytes",
            &"x".repeat(40),
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("do not fit the 22 bytes"), "{}", r.stderr);
    assert_eq!(
        classic(&py, d, "qt_seed.py", &["load", "test"]),
        format!("LOADED {}", hex("hello, Qt"))
    );
    // A QString where a QByteArray is: Qt's own rule (an odd byte count) says no.
    let r = shmkit(d, &["read", "qt:test", "--qt-datastream", "string"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("an odd number"), "{}", r.stderr);
    // A QString shmkit writes reads back; so does a Qt 5 stream.
    ok(
        d,
        &["write", "qt:test", "--qt-datastream", "string", "héllo"],
    );
    assert_eq!(
        ok(d, &["read", "qt:test", "--qt-datastream", "string"]),
        "héllo\n"
    );
    ok(
        d,
        &[
            "write",
            "qt:test",
            "--qt-datastream",
            "bytes",
            "--qt-version",
            "5",
            "qt5",
        ],
    );
    assert_eq!(
        classic(&py, d, "qt_seed.py", &["load", "test"]),
        format!("LOADED {}", hex("qt5"))
    );
    // `watch` has no notifier here: it polls, says so once, and prints each change.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args([
            "watch",
            "qt:test",
            "--qt-datastream",
            "bytes",
            "--count",
            "2",
        ])
        .args(["--timeout", "20s"])
        .env("TMPDIR", d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "qt5");
    ok(d, &["write", "qt:test", "--qt-datastream", "bytes", "next"]);
    assert_eq!(lines.next().unwrap().unwrap(), "next");
    let out = watch.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no change notification") && err.contains("every 200 ms"),
        "{err}"
    );
    finish(send);
}

#[test]
fn qts_shared_memory_example_and_shmkit_swap_pictures_pixel_for_pixel() {
    let _one = alone();
    let Some(py) = python_bin() else { return };
    let dir = TempDir::new("image");
    let d = dir.0.as_path();
    let file = |n: &str| d.join(n).to_string_lossy().into_owned();
    let made = classic(
        &py,
        d,
        "qt_image_example.py",
        &["make", &file("big.png"), "40", "30"],
    );
    let big_pixels = made.strip_prefix("MADE ").unwrap().to_string();
    let made = classic(
        &py,
        d,
        "qt_image_example.py",
        &["make", &file("small.png"), "7", "5"],
    );
    let small_pixels = made.strip_prefix("MADE ").unwrap().to_string();
    let key = format!("QSharedMemoryExample{}", std::process::id());
    let target = format!("qt:{key}");

    // loadFromFile puts a QImage there; shmkit takes the picture out.
    let example = classic_creator(
        &py,
        d,
        "qt_image_example.py",
        &["file", &key, &file("big.png")],
    );
    let got = file("got.png");
    let line = ok(
        d,
        &["read", &target, "--qt-datastream", "image", "--out", &got],
    );
    assert!(
        line.starts_with("QImage 40x30, rgba 8-bit, a PNG of "),
        "{line}"
    );
    assert_eq!(
        classic(&py, d, "qt_image_example.py", &["pixels", &got]),
        big_pixels,
        "the picture shmkit wrote out is Qt's, pixel for pixel"
    );
    // shmkit puts a picture there; loadFromMemory shows it.
    ok(
        d,
        &[
            "write",
            &target,
            "--qt-datastream",
            "image",
            &file("small.png"),
        ],
    );
    assert_eq!(
        classic(
            &py,
            d,
            "qt_image_example.py",
            &["memory", &key, &file("loaded.png")]
        ),
        format!("LOADED {small_pixels}")
    );
    // Not a PNG: refused before anything is written.
    std::fs::write(file("not.png"), b"GIF89a....").unwrap();
    let r = shmkit(
        d,
        &[
            "write",
            &target,
            "--qt-datastream",
            "image",
            &file("not.png"),
        ],
    );
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("not a PNG Qt can read"), "{}", r.stderr);
    assert_eq!(
        classic(
            &py,
            d,
            "qt_image_example.py",
            &["memory", &key, &file("loaded.png")]
        ),
        format!("LOADED {small_pixels}")
    );
    finish(example);
}
