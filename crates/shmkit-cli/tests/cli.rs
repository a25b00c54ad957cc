//! End-to-end tests of the `shmkit` binary: each test runs the real built binary through one
//! helper ([`shmkit`], ripgrep's `TestCommand` idea) and checks stdout, stderr and the exit
//! status. Segments get a unique name per test (`cli<pid>-<tag>`), removed on drop.
//!
//! `shmkit gc` removes every idle segment on the machine, including those other tests have just
//! created with `shmkit create`; such tests hold [`GC`] shared, the gc test holds it exclusively.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use shmkit::{Access, ErrorKind, Lifetime, Segment, SegmentOptions, State};

/// A run that takes longer than this hangs: it is killed and the test fails.
const WATCHDOG: Duration = Duration::from_secs(60);

static GC: RwLock<()> = RwLock::new(());

/// Keeps `shmkit gc` from running while this test's idle segments exist.
fn no_gc() -> RwLockReadGuard<'static, ()> {
    GC.read().unwrap_or_else(|e| e.into_inner())
}

/// Waits until no other test has idle segments, then lets `shmkit gc` run.
fn gc_alone() -> RwLockWriteGuard<'static, ()> {
    GC.write().unwrap_or_else(|e| e.into_inner())
}

/// Whether segments can outlive their handles here. Windows frees shared memory with its last
/// handle, so `shmkit create` (which makes persistent segments), `rm` and `gc` have nothing to do
/// there: tests built on them check the refusal and stop.
fn persistent() -> bool {
    if shmkit::test_support::PERSISTENT {
        return true;
    }
    let name = Name::new("nopersist");
    shmkit(&["create", name.as_str(), "--size", "4K"])
        .fails(1)
        .stderr_has("cannot create")
        .stderr_has("cannot outlive its holders");
    eprintln!(
        "SKIPPED: no persistent segments on {}",
        shmkit::test_support::BACKEND
    );
    false
}

/// Puts a foreign object (made by some other program) named `name` holding `bytes`: a file in
/// the shared-memory directory where segments are files; elsewhere a raw segment that this
/// process holds (keep the returned handle).
fn foreign(name: &Name, bytes: &[u8]) -> Option<Segment> {
    match shmkit::test_support::SHM_FILES {
        Some(dir) => {
            std::fs::write(format!("{dir}/{}", name.as_str()), bytes).unwrap();
            None
        }
        None => {
            let seg = SegmentOptions::new()
                .raw(true)
                .size(bytes.len())
                .create(name.as_str())
                .unwrap();
            seg.write(0, bytes).unwrap();
            Some(seg)
        }
    }
}

/// A test's segment name, removed (if it still exists) when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        let name = format!("cli{}-{tag}", std::process::id());
        assert!(name.len() <= shmkit::MAX_NAME_LEN, "tag {tag:?} too long");
        Name(name)
    }

    fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the segment exists.
    fn exists(&self) -> bool {
        match Segment::info(&self.0) {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => panic!("info {}: {e}", self.0),
        }
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = Segment::remove(self.0.as_str());
    }
}

/// The outcome of one run of `shmkit`.
#[derive(Debug)]
struct Run {
    #[allow(dead_code)] // shown in failure messages
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shmkit"));
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
    cmd
}

/// Reads all of a pipe on another thread.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text)
            .expect("read the child's output");
        text
    })
}

/// Waits for `child`, killing it and failing the test if it outlives the watchdog.
fn wait(child: &mut Child, args: &[&str]) -> Option<i32> {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(status) = child.try_wait().expect("wait for shmkit") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shmkit {args:?} hung for {WATCHDOG:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `shmkit ARGS` to the end.
fn shmkit(args: &[&str]) -> Run {
    let mut child = command(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start shmkit");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let code = wait(&mut child, args);
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

impl Run {
    /// Exit status 0, nothing on stderr.
    #[track_caller]
    fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        self
    }

    /// Exit status `code` with exactly one line on stderr, starting `shmkit: `.
    #[track_caller]
    fn fails(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:#?}");
        assert!(self.stderr.starts_with("shmkit: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }

    #[track_caller]
    fn stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "want {text:?} in stdout: {self:#?}"
        );
        self
    }

    #[track_caller]
    fn stderr_has(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "want {text:?} in stderr: {self:#?}"
        );
        self
    }

    /// The stdout line that has `word` as a whole word, split into words.
    fn line_with(&self, word: &str) -> Option<Vec<&str>> {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|words| words.contains(&word))
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// `shmkit ls --json`'s entry for `name`.
fn ls_entry(name: &Name) -> Option<Value> {
    let list = shmkit(&["ls", "--json"]).ok().json();
    let list = list.as_array().expect("ls --json prints an array");
    list.iter().find(|e| e["name"] == name.as_str()).cloned()
}

fn write(name: &Name, offset: usize, bytes: &[u8]) {
    let seg = Segment::open(name.as_str(), Access::ReadWrite).expect("open to write");
    seg.write(offset, bytes).expect("write");
}

/// Writes into a headerless segment. Persistent: a raw handle's own lifetime decides whether
/// its closing removes the name.
fn write_raw(name: &Name, offset: usize, bytes: &[u8]) {
    let seg = SegmentOptions::new()
        .raw(true)
        .lifetime(Lifetime::Persistent)
        .open(name.as_str())
        .expect("open raw to write");
    seg.write(offset, bytes).expect("write");
}

#[test]
fn create_ls_info_dump_rm() {
    if !persistent() {
        return;
    }
    let _gc = no_gc();
    let name = Name::new("life");
    let n = name.as_str();

    shmkit(&["create", n, "--size", "4K", "--mode", "0640"])
        .ok()
        .stdout_has(&format!(
            "created {n}: bytes segment of 4 KiB, mode 0640, persistent"
        ));

    let ls = shmkit(&["ls"]);
    ls.ok().stdout_has("NAME");
    let row = ls.line_with(n).expect("ls lists the new segment");
    for word in ["bytes", "0640", "idle", "-"] {
        assert!(row.contains(&word), "{word:?} in {row:?}");
    }

    shmkit(&["info", n])
        .ok()
        .stdout_has("bytes (a shmkit segment)")
        .stdout_has("4 KiB (4096 bytes) from offset")
        .stdout_has("0640")
        .stdout_has("persistent (until `shmkit rm` or `shmkit gc`)")
        .stdout_has("idle")
        .stdout_has("creator:  pid ");

    write(&name, 0, b"hello shmkit");
    shmkit(&["dump", n, "--len", "16"]).ok().stdout_has(
        "00000000  68 65 6c 6c 6f 20 73 68  6d 6b 69 74 00 00 00 00  |hello shmkit....|\n\
         00000010\n",
    );
    shmkit(&["dump", n, "--all", "--len", "8"])
        .ok()
        .stdout_has("|SHMKIT..|");

    shmkit(&["rm", n])
        .ok()
        .stdout_has(&format!("removed {n}\n"));
    assert!(shmkit(&["ls"]).ok().line_with(n).is_none(), "still listed");
    shmkit(&["rm", n])
        .fails(1)
        .stderr_has(&format!("cannot remove \"{n}\": no such segment"));
}

#[test]
fn json_describes_a_segment() {
    if !persistent() {
        return;
    }
    let _gc = no_gc();
    let name = Name::new("json");
    shmkit(&["create", name.as_str(), "--size", "1.5K"]).ok();

    let entry = ls_entry(&name).expect("ls --json lists it");
    assert_eq!(entry["kind"], "bytes");
    assert_eq!(entry["state"], "idle");
    assert_eq!(entry["mode"], "0600");
    assert_eq!(entry["lifetime"], "persistent");
    assert_eq!(entry["holders"], serde_json::json!([]));
    assert_eq!(entry["data_len"], 1536);
    assert!(entry["size"].as_u64().unwrap() > 1536);
    assert!(entry["created"].as_str().unwrap().ends_with('Z'));

    let info = shmkit(&["info", name.as_str(), "--json"]).ok().json();
    assert_eq!(info, entry);
}

#[test]
fn raw_segments_are_foreign_and_dumped_whole() {
    if !persistent() {
        return;
    }
    let _gc = no_gc();
    let name = Name::new("raw");
    shmkit(&["create", name.as_str(), "--size", "100", "--raw"])
        .ok()
        .stdout_has("raw segment (no header) of 100 B");
    let info = shmkit(&["info", name.as_str(), "--json"]).ok().json();
    assert_eq!(info["kind"], "foreign");
    assert_eq!(info["size"], 100);
    assert_eq!(info["lifetime"], Value::Null);

    write_raw(&name, 0, b"RAW!");
    shmkit(&["dump", name.as_str()])
        .ok()
        .stdout_has("00000000  52 41 57 21 00")
        .stdout_has("\n*\n")
        .stdout_has("\n00000064\n");
}

#[test]
fn live_segments_show_their_holder() {
    let name = Name::new("live");
    let _seg = Segment::create(name.as_str(), 64).unwrap();
    let entry = ls_entry(&name).expect("listed");
    assert_eq!(entry["state"], "live");
    assert_eq!(entry["lifetime"], "last-close");
    if shmkit::test_support::BACKEND != "macos" {
        // (macOS knows that a segment is held, not by whom.)
        assert_eq!(entry["holders"], serde_json::json!([std::process::id()]));
        shmkit(&["info", name.as_str()])
            .ok()
            .stdout_has(&format!("holders:  pid {}", std::process::id()));
    }
    if shmkit::test_support::PERSISTENT {
        shmkit(&["rm", name.as_str()])
            .ok()
            .stdout_has("still mapped by its holders");
    } else {
        // Windows cannot remove the name of a held segment.
        shmkit(&["rm", name.as_str()])
            .fails(1)
            .stderr_has(&format!("cannot remove \"{}\"", name.as_str()));
    }
}

#[test]
fn bad_names_fail_with_one_line() {
    shmkit(&["create", "a/b", "--size", "4K"])
        .fails(1)
        .stderr_has("cannot create \"a/b\": '/' is not allowed (names are not paths)");
    shmkit(&["create", &"x".repeat(31), "--size", "4K"])
        .fails(1)
        .stderr_has("31 characters long");
    shmkit(&["dump", ".hidden"])
        .fails(1)
        .stderr_has("must not start with '.'");
    shmkit(&["info", "a/b"]).fails(1).stderr_has("not allowed");
    shmkit(&["rm", ""]).fails(1).stderr_has("the name is empty");
}

#[test]
fn bad_sizes_and_modes_are_usage_errors() {
    let name = Name::new("badsize");
    let n = name.as_str();
    shmkit(&["create", n, "--size", "0"])
        .fails(2)
        .stderr_has("invalid value \"0\" for --size <SIZE>: a segment needs at least one byte");
    shmkit(&["create", n, "--size", "12Q"])
        .fails(2)
        .stderr_has("unknown unit \"Q\"");
    shmkit(&["create", n, "--size=-1"])
        .fails(2)
        .stderr_has("cannot be negative");
    shmkit(&["create", n, "--size", "4KB"])
        .fails(2)
        .stderr_has("ambiguous");
    shmkit(&["create", n, "--size", "99999999999P"])
        .fails(2)
        .stderr_has("too large");
    shmkit(&["create", n, "--size", "4K", "--mode", "800"])
        .fails(2)
        .stderr_has("'8' is not an octal digit");
    shmkit(&["create", n, "--size", "4K", "--mode", "0o1777"])
        .fails(2)
        .stderr_has("beyond 0777");
    let missing = shmkit(&["create", n]);
    assert_eq!(missing.code, Some(2), "{missing:#?}");
    assert!(missing.stderr.contains("--size"), "{missing:#?}");
    assert!(!name.exists(), "no segment was created");
}

#[test]
fn missing_segments_fail_for_info_dump_rm() {
    let name = Name::new("missing");
    let n = name.as_str();
    let listed = "no such segment — `shmkit ls` lists the segments that exist";
    shmkit(&["info", n])
        .fails(1)
        .stderr_has(&format!("cannot inspect \"{n}\": {listed}"));
    shmkit(&["dump", n]).fails(1).stderr_has(&format!(
        "cannot open \"{n}\": no such segment — is the writer running?"
    ));
    shmkit(&["rm", n])
        .fails(1)
        .stderr_has(&format!("cannot remove \"{n}\": {listed}"));
}

#[test]
fn rm_reports_each_failure_and_removes_the_rest() {
    if !persistent() {
        return;
    }
    let _gc = no_gc();
    let (gone, missing) = (Name::new("rm-a"), Name::new("rm-b"));
    shmkit(&["create", gone.as_str(), "--size", "1"]).ok();
    shmkit(&["rm", missing.as_str(), gone.as_str()])
        .fails(1)
        .stderr_has(missing.as_str())
        .stdout_has(&format!("removed {}", gone.as_str()));
    assert!(!gone.exists());
}

#[test]
fn dump_checks_ranges_and_limits_the_default() {
    let _gc = no_gc();
    let name = Name::new("dump");
    let n = name.as_str();
    // Held by this test (a persistent one from `shmkit create` does not exist everywhere).
    let _held = Segment::create(n, 64 * 1024).unwrap();
    write(&name, 1024, b"at 1K");

    shmkit(&["dump", n]).ok().stdout_has(
        "\n00001000\n(showed 4 KiB of the 64 KiB from offset 0; --len 65536 shows them all)\n",
    );
    shmkit(&["dump", n, "--offset", "1K", "--len", "5"])
        .ok()
        .stdout_has("00000400  61 74 20 31 4b")
        .stdout_has("|at 1K|\n00000405\n");
    shmkit(&["dump", n, "--offset", "60K"])
        .ok()
        .stdout_has("\n00010000\n");
    shmkit(&["dump", n, "--offset", "64K"])
        .fails(1)
        .stderr_has(&format!(
            "cannot dump \"{n}\": offset 65536 is not inside its 65536 bytes (64 KiB)"
        ));
    shmkit(&["dump", n, "--offset", "60K", "--len", "8K"])
        .fails(1)
        .stderr_has("bytes 61440..69632 are not inside");
    shmkit(&["dump", n, "--len", "1x"])
        .fails(2)
        .stderr_has("unknown unit");
}

#[test]
fn gc_removes_idle_keeps_live_and_foreign() {
    if !persistent() {
        return;
    }
    let _gc = gc_alone();
    let (idle, live, foreign) = (
        Name::new("gc-idle"),
        Name::new("gc-live"),
        Name::new("gc-frgn"),
    );
    shmkit(&["create", idle.as_str(), "--size", "4K"]).ok();
    let _held = Segment::create(live.as_str(), 4096).unwrap();
    let _foreign_held = self::foreign(&foreign, b"not a shmkit segment");

    let dry = shmkit(&["gc", "--dry-run"]);
    dry.ok();
    let row = dry
        .line_with(idle.as_str())
        .expect("dry run lists the idle one");
    assert_eq!(row[..2], ["would", "remove"]);
    assert!(dry.line_with(live.as_str()).is_none(), "{dry:#?}");
    assert!(dry.line_with(foreign.as_str()).is_none(), "{dry:#?}");
    assert!(idle.exists(), "a dry run removes nothing");

    let gc = shmkit(&["gc"]);
    gc.ok()
        .stdout_has(&format!("removed {} (bytes, 8 KiB, idle)", idle.as_str()));
    assert!(gc.line_with(live.as_str()).is_none(), "{gc:#?}");
    assert!(gc.line_with(foreign.as_str()).is_none(), "{gc:#?}");
    assert!(!idle.exists());
    assert_eq!(Segment::info(live.as_str()).unwrap().state, State::Live);
    let kept = SegmentOptions::new()
        .raw(true)
        .access(Access::ReadOnly)
        .lifetime(Lifetime::Persistent)
        .open(foreign.as_str())
        .expect("gc kept the foreign object");
    let mut bytes = [0u8; 20];
    kept.read(0, &mut bytes).unwrap();
    assert_eq!(&bytes, b"not a shmkit segment");

    let again = shmkit(&["gc", "--dry-run"]);
    assert!(again.ok().line_with(idle.as_str()).is_none());
}

#[test]
fn foreign_objects_can_be_inspected_and_dumped() {
    let name = Name::new("foreign");
    let held = foreign(&name, b"from python");
    let info = shmkit(&["info", name.as_str()]);
    info.ok().stdout_has("foreign (no shmkit header");
    if held.is_none() {
        // Nobody announced holding it.
        info.stdout_has("unknown");
    }
    // Where sizes are whole pages, the object is bigger than what was written.
    shmkit(&["dump", name.as_str(), "--len", "11"])
        .ok()
        .stdout_has("|from python|\n0000000b\n");
}

/// Starts `shmkit ARGS` with stdout piped, reads its first line, closes the pipe (as
/// `shmkit ... | head -1` does), and checks that it ends quietly with status 0.
fn first_line_then_close(args: &[&str]) {
    let mut child = command(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start shmkit");
    let stderr = drain(child.stderr.take().unwrap());
    let mut stdout: BufReader<ChildStdout> = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "shmkit {args:?} printed nothing");
    drop(stdout);
    let code = wait(&mut child, args);
    let stderr = stderr.join().unwrap();
    assert_eq!(code, Some(0), "shmkit {args:?}; stderr: {stderr}");
    assert_eq!(stderr, "", "shmkit {args:?}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let name = Name::new("pipe");
    let seg = Segment::create(name.as_str(), 256 * 1024).unwrap();
    // Every line differs, so nothing collapses: far more output than a pipe buffers, so the
    // writer certainly meets the closed pipe.
    let pattern: Vec<u8> = (0..seg.len()).map(|i| (i % 251) as u8).collect();
    seg.write(0, &pattern).unwrap();

    first_line_then_close(&["dump", name.as_str(), "--len", "256K"]);
    first_line_then_close(&["ls"]);
}

#[test]
fn help_teaches_every_subcommand() {
    let help = shmkit(&["--help"]);
    help.ok().stdout_has("Exit status: 0 success");
    for sub in ["create", "ls", "info", "rm", "gc", "dump"] {
        assert!(
            help.stdout.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing from --help"
        );
        shmkit(&["help", sub]).ok().stdout_has("Examples:");
    }
    shmkit(&["--version"]).ok().stdout_has("shmkit ");
    let bare = shmkit(&[]);
    assert_eq!(bare.code, Some(2), "{bare:#?}");
    assert!(bare.stderr.contains("Usage: shmkit <COMMAND>"), "{bare:#?}");
    let unknown = shmkit(&["frobnicate"]);
    assert_eq!(unknown.code, Some(2), "{unknown:#?}");
}

#[test]
fn a_directory_in_the_shm_dir_is_refused_once() {
    let Some(dir) = shmkit::test_support::SHM_FILES else {
        eprintln!("SKIPPED: segments are not files here");
        return;
    };
    let name = Name::new("dir");
    let path = format!("{dir}/{}", name.as_str());
    std::fs::create_dir(&path).unwrap();
    let runs = [
        shmkit(&["rm", name.as_str()]),
        shmkit(&["dump", name.as_str()]),
        shmkit(&["info", name.as_str()]),
    ];
    std::fs::remove_dir(&path).unwrap();
    for run in &runs {
        run.fails(1);
        let why = "not a regular shared-memory object";
        assert_eq!(run.stderr.matches(why).count(), 1, "{run:#?}");
    }
}
