//! End-to-end tests of the `shmkit` binary: each test runs the real built binary through one
//! helper ([`shmkit`], ripgrep's `TestCommand` idea) and checks stdout, stderr and the exit
//! status. Segments get a unique name per test (`cli<pid>-<tag>`), removed on drop.
//!
//! `shmkit gc` removes what belongs to its user: the gc tests run it as a user of their own
//! (`setpriv`, root only), so it never touches the segments other tests have just created.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use serde_json::Value;
use shmkit::{Access, ErrorKind, Lifetime, Segment, SegmentOptions, State};

/// A run that takes longer than this hangs: it is killed and the test fails.
const WATCHDOG: Duration = Duration::from_secs(60);

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
        match Segment::remove(self.0.as_str()) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => eprintln!("cleanup of {}: {e:#}", self.0),
        }
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
    let name = Name::new("raw");
    shmkit(&["create", name.as_str(), "--size", "100", "--raw"])
        .ok()
        .stdout_has("raw segment (no header) of 100 B")
        .stdout_has(&format!(
            "SharedMemory(name=\"{}\", track=False)",
            name.as_str()
        ))
        .stdout_has("resource tracker deletes it");
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

fn skipped_without_root() {
    eprintln!("SKIPPED: needs Linux and root (to run commands as another user with setpriv)");
    assert!(
        std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
        "SHMKIT_REQUIRE_ROOT_TESTS is set but this test could not run"
    );
}

/// Gives `name` (a file in the shared-memory directory) to `uid`.
fn give(name: &Name, uid: u32) {
    let dir = shmkit::test_support::SHM_FILES.expect("segments are files");
    let owner = format!("{uid}:{uid}");
    let ok = Command::new("chown")
        .args([owner.as_str(), &format!("{dir}/{}", name.as_str())])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown {owner} {}", name.as_str());
}

/// `gc` removes crash leftovers of its user, and idle (persistent) segments only with
/// `--idle`; live segments and foreign objects never. The segments belong to a user of this
/// test's own, and `gc` runs as that user: every shmkit process sweeps its own user's stale
/// segments, so root's would not stay stale while the other tests run.
#[test]
fn gc_removes_crash_leftovers_and_idle_segments_only_when_asked() {
    if shmkit::test_support::BACKEND != "linux" {
        return skipped_without_root();
    }
    let uid = common::private_uid(2);
    let (idle, live, stale, foreign) = (
        Name::new("gc-idle"),
        Name::new("gc-live"),
        Name::new("gc-stale"),
        Name::new("gc-frgn"),
    );
    // Idle: persistent, nobody holds it (never swept), then given away.
    drop(
        SegmentOptions::new()
            .size(4096)
            .lifetime(Lifetime::Persistent)
            .create(idle.as_str())
            .unwrap(),
    );
    give(&idle, uid);
    // Live: held by a process (ours) all along, and the user's.
    let held = Segment::create(live.as_str(), 4096).unwrap();
    give(&live, uid);
    common::stale_segment(uid, stale.as_str());
    let _foreign_held = self::foreign(&foreign, b"not a shmkit segment");
    give(&foreign, uid);

    let Some((code, dry, err)) = common::shmkit_as(uid, &["gc", "--dry-run"]) else {
        return skipped_without_root();
    };
    assert_eq!((code, err.as_str()), (0, ""), "{dry}");
    let line = |out: &str, name: &Name| {
        out.lines()
            .find(|l| l.contains(name.as_str()))
            .map(str::to_string)
    };
    assert!(
        line(&dry, &stale).is_some_and(|l| l.starts_with("would remove")),
        "{dry}"
    );
    assert!(dry.contains("idle segment"), "{dry}");
    assert!(dry.contains("`shmkit gc --idle` removes"), "{dry}");
    for kept in [&idle, &live, &foreign] {
        assert!(line(&dry, kept).is_none(), "{dry}");
    }
    assert!(stale.exists(), "a dry run removes nothing");

    let (code, gc, err) = common::shmkit_as(uid, &["gc"]).unwrap();
    assert_eq!((code, err.as_str()), (0, ""), "{gc}");
    assert!(
        gc.contains(&format!("removed {} (bytes, ", stale.as_str())) && gc.contains(", stale)"),
        "{gc}"
    );
    assert!(!stale.exists());
    assert!(idle.exists(), "an idle persistent segment stays: {gc}");
    for kept in [&idle, &live, &foreign] {
        assert!(line(&gc, kept).is_none(), "{gc}");
    }

    let (code, dry, _) = common::shmkit_as(uid, &["gc", "--idle", "--dry-run"]).unwrap();
    assert_eq!(code, 0);
    assert!(
        line(&dry, &idle).is_some_and(|l| l.starts_with("would remove")),
        "{dry}"
    );
    assert!(
        dry.contains("run `shmkit gc --idle` to remove them"),
        "{dry}"
    );
    let (code, gc, _) = common::shmkit_as(uid, &["gc", "--idle"]).unwrap();
    assert_eq!(code, 0);
    assert!(
        gc.contains(&format!("removed {} (bytes, 8 KiB, idle)", idle.as_str())),
        "{gc}"
    );
    assert!(!idle.exists());
    assert_eq!(Segment::info(live.as_str()).unwrap().state, State::Live);
    drop(held);
    let kept = SegmentOptions::new()
        .raw(true)
        .access(Access::ReadOnly)
        .lifetime(Lifetime::Persistent)
        .open(foreign.as_str())
        .expect("gc kept the foreign object");
    let mut bytes = [0u8; 20];
    kept.read(0, &mut bytes).unwrap();
    assert_eq!(&bytes, b"not a shmkit segment");
}

/// `gc` leaves other users' crash leftovers alone unless `--all-users`.
#[test]
fn gc_leaves_other_users_segments_unless_all_users() {
    if shmkit::test_support::BACKEND != "linux" {
        return skipped_without_root();
    }
    let theirs = Name::new("gc-theirs");
    common::stale_segment(common::private_uid(3), theirs.as_str());
    let dry = shmkit(&["gc", "--dry-run", "--idle"]);
    assert!(dry.ok().line_with(theirs.as_str()).is_none(), "{dry:#?}");
    let all = shmkit(&["gc", "--dry-run", "--all-users"]);
    assert_eq!(
        all.ok().line_with(theirs.as_str()).expect("listed")[..2],
        ["would", "remove"]
    );
    all.stdout_has("run `shmkit gc --all-users` to remove them");
    assert!(theirs.exists());
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

// ---- cells: write, read, watch, demo --------------------------------------------------------

/// A running `shmkit` whose stdout and stderr lines arrive on channels.
struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    errors: std::sync::mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
}

/// Sends each line of `pipe` on a channel; the thread returns them all.
fn lines_of(
    pipe: impl Read + Send + 'static,
) -> (
    std::sync::mpsc::Receiver<String>,
    thread::JoinHandle<String>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let all = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    (rx, all)
}

fn start(args: &[&str]) -> Running {
    start_cmd(command(args))
}

fn start_cmd(mut cmd: Command) -> Running {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start shmkit");
    let out: ChildStdout = child.stdout.take().unwrap();
    let (lines, _) = lines_of(out);
    let (errors, stderr) = lines_of(child.stderr.take().unwrap());
    Running {
        child,
        lines,
        errors,
        stderr,
    }
}

impl Running {
    #[track_caller]
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from shmkit within 20 s")
    }

    /// The next line on stderr.
    #[track_caller]
    fn next_error(&self) -> String {
        self.errors
            .recv_timeout(Duration::from_secs(20))
            .expect("a line on shmkit's stderr within 20 s")
    }

    /// Sends SIGINT, as Ctrl-C does; `false` where there is no `kill` command.
    fn interrupt(&self) -> bool {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits for the end: (exit code, the remaining stdout lines, stderr).
    fn end(mut self) -> (Option<i32>, Vec<String>, String) {
        let code = wait(&mut self.child, &["(running)"]);
        let rest = self.lines.iter().collect();
        (code, rest, self.stderr.join().unwrap())
    }
}

#[test]
fn write_then_read_a_cell_in_every_format() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("cellrw");
    let n = name.as_str();
    shmkit(&["write", n, "hi"])
        .fails(1)
        .stderr_has("no such segment");
    let usage = shmkit(&["write", n, "--create", "hi"]);
    assert_eq!(usage.code, Some(2), "--create needs --capacity: {usage:#?}");
    assert!(usage.stderr.contains("--capacity"));
    shmkit(&["write", n, "--create", "--capacity", "64", "hello"])
        .ok()
        .stdout_has(&format!("{n}: #1, 5 B"));
    assert_eq!(shmkit(&["read", n]).ok().stdout, "hello\n");
    assert_eq!(shmkit(&["read", n, "-n"]).ok().stdout, "hello");
    let v = shmkit(&["read", n, "--json"]).ok().json();
    assert_eq!(
        (v["seq"].as_u64(), v["len"].as_u64(), v["text"].as_str()),
        (Some(1), Some(5), Some("hello"))
    );
    shmkit(&["read", n, "--hex"])
        .ok()
        .stdout_has("68 65 6c 6c 6f");
    // A shorter value never shows the tail of the longer one.
    shmkit(&["write", n, "-q", "yo"]).ok();
    assert_eq!(shmkit(&["read", n]).ok().stdout, "yo\n");
    // Too large for the capacity: one line, nothing published.
    let big = "x".repeat(65);
    shmkit(&["write", n, &big])
        .fails(1)
        .stderr_has("does not fit its capacity of 64");
    assert_eq!(
        shmkit(&["read", n, "--json"]).ok().json()["seq"].as_u64(),
        Some(2)
    );
    // Binary values survive, and show as hex in JSON.
    let mut w = command(&["write", n, "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut w.stdin.take().unwrap(), &[0, 159, 146, 150]).unwrap();
    assert_eq!(wait(&mut w, &["write"]), Some(0));
    assert_eq!(
        shmkit(&["read", n, "--json"]).ok().json()["hex"].as_str(),
        Some("009f9296")
    );
    // ls and info know it is a cell.
    assert_eq!(ls_entry(&name).unwrap()["kind"], "cell");
}

#[test]
fn write_create_that_fails_creates_nothing() {
    let name = Name::new("capfail");
    let n = name.as_str();
    let zero = shmkit(&["write", n, "--create", "--capacity", "0", "x"]);
    zero.fails(2)
        .stderr_has("--capacity")
        .stderr_has("at least one byte");
    shmkit(&["write", n, "--create", "--capacity", "4", "hello"])
        .fails(1)
        .stderr_has("a value of 5 B does not fit the --capacity of 4 B; nothing was created");
    shmkit_with_input(
        &["write", n, "--create", "--capacity", "4", "-l"],
        b"too long\nok\n",
    )
    .fails(1)
    .stderr_has("nothing was created");
    assert!(!name.exists(), "a failed write created {n}");
}

#[test]
fn write_each_line_publishes_every_line() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("lines");
    let n = name.as_str();
    let mut w = command(&["write", n, "--each-line", "--create", "--capacity", "1K"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut w.stdin.take().unwrap(), b"one\ntwo\nthree\n").unwrap();
    let out = drain(w.stdout.take().unwrap());
    assert_eq!(wait(&mut w, &["write"]), Some(0));
    assert!(
        out.join()
            .unwrap()
            .contains("published 3 values, the last #3")
    );
    assert_eq!(shmkit(&["read", n]).ok().stdout, "three\n");
}

#[test]
fn watch_count_3_prints_the_current_value_and_the_next_two() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("watch3");
    let n = name.as_str();
    shmkit(&["write", n, "--create", "--capacity", "1K", "-q", "first"]).ok();
    let watch = start(&["watch", n, "--count", "3", "--json"]);
    let first: Value = serde_json::from_str(&watch.next_line()).unwrap();
    assert_eq!(
        (first["seq"].as_u64(), first["text"].as_str()),
        (Some(1), Some("first"))
    );
    shmkit(&["write", n, "-q", "second"]).ok();
    let second: Value = serde_json::from_str(&watch.next_line()).unwrap();
    assert_eq!(second["text"], "second");
    shmkit(&["write", n, "-q", "third"]).ok();
    let (code, rest, stderr) = watch.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    let third: Value = serde_json::from_str(&rest[0]).unwrap();
    assert_eq!(
        (third["seq"].as_u64(), third["text"].as_str()),
        (Some(3), Some("third"))
    );
}

#[test]
fn watch_timeouts_end_it_with_or_without_a_count() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("watcht");
    let n = name.as_str();
    shmkit(&["write", n, "--create", "--capacity", "16", "-q", "only"]).ok();
    let t0 = Instant::now();
    shmkit(&["watch", n, "--count", "2", "--timeout", "300ms"])
        .fails(1)
        .stderr_has("timed out after 300.0 ms with 1 of 2 values");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let r = shmkit(&["watch", n, "--timeout", "200ms"]);
    r.ok();
    assert_eq!(r.stdout, "only\n");
}

#[test]
fn watch_ends_cleanly_on_ctrl_c() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("watchint");
    let n = name.as_str();
    shmkit(&["write", n, "--create", "--capacity", "16", "-q", "v"]).ok();
    let watch = start(&["watch", n]);
    assert_eq!(watch.next_line(), "v");
    let sent = Command::new("kill")
        .args(["-INT", &watch.child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        eprintln!("SKIPPED watch_ends_cleanly_on_ctrl_c: no `kill` command here");
        return;
    }
    let (code, _, stderr) = watch.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn bytes_segments_can_be_written_read_and_watched() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("bytesrw");
    let n = name.as_str();
    shmkit(&["create", n, "--size", "64"]).ok();
    shmkit(&["write", n, "-q", "--offset", "8", "abc"]).ok();
    assert_eq!(
        shmkit(&["read", n, "--offset", "8", "--len", "3"])
            .ok()
            .stdout,
        "abc\n"
    );
    shmkit(&["read", n, "--offset", "62", "--len", "3"])
        .fails(1)
        .stderr_has("outside");
    shmkit(&["write", n, "-q", "--offset", "63", "abc"]).fails(1);
}

#[test]
fn the_demo_runs_a_writer_and_a_reader_and_cleans_up() {
    let r = shmkit(&["demo", "--seconds", "1", "--rate", "10", "--burst", "300ms"]);
    r.ok();
    for want in [
        "writer → #1",
        "reader ← #1",
        "summary:",
        "10 sent, 10 received",
        " 0 torn, 0 steps back",
        "is gone",
    ] {
        r.stdout_has(want);
    }
}

#[test]
fn ctrl_c_ends_the_demo_cleanly() {
    // Ctrl-C in a terminal signals the whole process group: the demo and its writer and
    // reader. `setsid` makes the demo lead a group of its own, which `kill -INT -PID` signals.
    if !Command::new("setsid")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED ctrl_c_ends_the_demo_cleanly: no `setsid` command");
        return;
    }
    let mut cmd = Command::new("setsid");
    cmd.arg(env!("CARGO_BIN_EXE_shmkit"))
        .args(["demo", "--seconds", "30", "--rate", "20"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let demo = start_cmd(cmd);
    while !demo.next_line().contains("reader ← #2") {}
    let group = format!("-{}", demo.child.id());
    let sent = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "kill -INT {group}");
    let (code, rest, stderr) = demo.end();
    assert_eq!(code, Some(0), "{rest:?} {stderr}");
    assert_eq!(stderr, "");
    assert!(
        rest.iter().any(|l| l.starts_with("interrupted (Ctrl-C)")),
        "{rest:?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.contains(" received; publish → reader awake")),
        "{rest:?}"
    );
    shmkit(&["demo", "--rate", "0"])
        .fails(2)
        .stderr_has("more than 0 and at most 10000");
}

#[test]
fn bench_runs_two_process_cases_and_prints_json() {
    let r = shmkit(&["bench", "--quick", "--json", "--only", "latency/cell"]);
    r.ok();
    let v = r.json();
    let results = v["results"].as_array().expect("results");
    let ids: Vec<&str> = results.iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "latency/cell-spin",
            "latency/cell-spin-shared",
            "latency/cell"
        ]
    );
    for x in results {
        assert!(x["median_ns"].as_u64().unwrap() > 0, "{x}");
        assert!(
            x["p99_ns"].as_u64().unwrap() >= x["median_ns"].as_u64().unwrap(),
            "{x}"
        );
    }
    assert!(v["machine"]["cpus"].as_u64().unwrap() >= 1);
    // The hand-off alone moves no bytes: a time per frame, no speed, no comparison.
    let r = shmkit(&[
        "bench",
        "--quick",
        "--json",
        "--only",
        "stream-handoff-64KiB",
    ]);
    let v = r.ok().json();
    let handoff = &v["results"][0];
    assert_eq!(handoff["id"], "throughput/stream-handoff-64KiB", "{v}");
    assert!(handoff["median_ns"].as_u64().unwrap() > 0);
    assert!(
        handoff["gib_per_s"].is_null() && handoff["speedup"].is_null(),
        "{v}"
    );
    let table = shmkit(&["bench", "--quick", "--only", "stream-handoff-64KiB"]);
    let row = table.ok().line_with("hand-off").expect("the hand-off row");
    assert_eq!(row.last(), Some(&"-"), "no GiB/s: {table:#?}");
    shmkit(&["bench", "--only", "nothing-matches"])
        .fails(1)
        .stderr_has("no case matches \"nothing-matches\"");
    // `--only` more than once: the cases matching any of them, in the usual order.
    let r = shmkit(&[
        "bench",
        "--quick",
        "--json",
        "--only",
        "local/stream-send",
        "--only",
        "raw-atomics",
    ]);
    let v = r.ok().json();
    let results = v["results"].as_array().expect("results");
    let ids: Vec<&str> = results.iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(ids, ["latency/raw-atomics", "local/stream-send-recv-8B"]);
    assert!(results[1]["median_ns"].as_u64().unwrap() > 0, "{v}");
}

// ---- streams: pub, sub ----------------------------------------------------------------------

/// Runs `shmkit ARGS` with `input` on its stdin, to the end.
fn shmkit_with_input(args: &[&str], input: &[u8]) -> Run {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start shmkit");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A command that fails early closes its stdin: that write error is not the test's concern.
    let feeder = thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let code = wait(&mut child, args);
    feeder.join().unwrap();
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Waits until some process sleeps on the segment's change event — a `sub` that has joined
/// the stream and waits for the next frame. Reads the event's `waiters` word: header bytes
/// 132..136 (the event is at 128, its sleeper count after its 4-byte counter; see `layout`).
fn wait_for_sleeper(name: &Name) {
    let seg = SegmentOptions::new()
        .raw(true)
        .lifetime(Lifetime::Persistent)
        .access(Access::ReadOnly)
        .open(name.as_str())
        .expect("open the header");
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let mut waiters = [0u8; 4];
        seg.read(132, &mut waiters).unwrap();
        if u32::from_le_bytes(waiters) > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nobody waits on {}",
            name.as_str()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("shmkit-cli{}-{tag}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn sub_count_3_receives_the_lines_another_process_publishes() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("pubsub");
    let n = name.as_str();
    shmkit(&["pub", n, "--create"])
        .ok()
        .stdout_has(&format!("{n}: published no frames"));
    assert_eq!(ls_entry(&name).unwrap()["kind"], "stream");

    let sub = start(&["sub", n, "--count", "3"]);
    wait_for_sleeper(&name);
    shmkit_with_input(&["pub", n], b"one\ntwo\r\nthree")
        .ok()
        .stdout_has(&format!("{n}: published 3 frames (11 B), the last #3"));
    let (code, lines, stderr) = sub.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines, ["one", "two", "three"]);
    assert_eq!(stderr, "");
}

#[test]
fn sub_from_oldest_gets_the_frames_published_before_it_joined() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("oldest");
    let n = name.as_str();
    shmkit_with_input(&["pub", n, "--create", "-q"], b"first\nsecond\n").ok();
    let all = shmkit(&["sub", n, "--from", "oldest", "--count", "2"]);
    assert_eq!(all.ok().stdout, "first\nsecond\n");
    // From the newest (the default) there is nothing yet: the timeout ends it, status 0.
    let none = shmkit(&["sub", n, "--timeout", "200ms"]);
    assert_eq!(none.ok().stdout, "");
}

#[test]
fn pub_file_publishes_each_file_as_one_frame_byte_for_byte() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("files");
    let n = name.as_str();
    let binary: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (a, b) = (
        TempFile::new("a", &binary),
        TempFile::new("b", b"hello\nworld"),
    );
    shmkit(&["pub", n, "--create", "--file", a.path(), "-f", b.path()])
        .ok()
        .stdout_has("published 2 frames (1011 B), the last #2");
    let run = shmkit(&["sub", n, "--from", "oldest", "--count", "2", "--json"]);
    run.ok();
    let frames: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 2, "{run:#?}");
    let hex: String = binary.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        (frames[0]["seq"].as_u64(), frames[0]["len"].as_u64()),
        (Some(1), Some(1000))
    );
    assert_eq!(frames[0]["hex"].as_str(), Some(hex.as_str()));
    assert_eq!(frames[0]["lost"].as_u64(), Some(0));
    assert_eq!(
        (frames[1]["len"].as_u64(), frames[1]["text"].as_str()),
        (Some(11), Some("hello\nworld"))
    );
    assert_eq!(frames[1]["name"], n);
}

#[test]
fn frames_larger_than_the_maximum_fail_and_publish_nothing_of_themselves() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("toobig");
    let n = name.as_str();
    // Files: all checked before anything happens, even the files before the big one.
    let (small, big) = (TempFile::new("s", b"ok"), TempFile::new("b", &[7; 17]));
    let files = ["-f", small.path(), "-f", big.path()];
    let create = ["pub", n, "--create", "--max-frame", "16"];
    shmkit(&[&create[..], &files].concat())
        .fails(1)
        .stderr_has("more than the stream's largest frame of 16 B; nothing was published");
    assert!(!name.exists(), "not even the stream was created");
    // An existing stream's own maximum counts.
    shmkit(&[&create[..], &["-q"]].concat()).ok();
    shmkit(&[&["pub", n][..], &files].concat())
        .fails(1)
        .stderr_has("nothing was published");
    // A line: the lines before it are published, the long one is not, not even in part.
    shmkit_with_input(&["pub", n], b"short\n0123456789abcdefg\nafter\n")
        .fails(1)
        .stderr_has("line 2 is longer than the stream's largest frame of 16 B");
    let all = shmkit(&["sub", n, "--from", "oldest", "--timeout", "200ms", "--json"]);
    let frames: Vec<&str> = all.ok().stdout.lines().collect();
    assert_eq!(frames.len(), 1, "{all:#?}");
    assert!(frames[0].contains("\"text\":\"short\""), "{all:#?}");
}

#[test]
fn pub_creates_a_missing_stream_unless_told_not_to() {
    if !persistent() {
        return;
    }
    let name = Name::new("pubmk");
    let n = name.as_str();
    shmkit(&["pub", n, "--no-create"])
        .fails(1)
        .stderr_has("no such stream")
        .stderr_has("--no-create");
    assert!(!name.exists());
    let usage = shmkit(&["pub", n, "--no-create", "--max-frame", "1K"]);
    assert_eq!(
        usage.code,
        Some(2),
        "--max-frame is for creating: {usage:#?}"
    );
    shmkit_with_input(&["pub", n], b"hi\n")
        .ok()
        .stdout_has(&format!("{n}: published 1 frame (2 B), the last #1"));
    let e = ls_entry(&name).unwrap();
    assert_eq!(
        (e["kind"].as_str(), e["state"].as_str()),
        (Some("stream"), Some("idle"))
    );
    // The same defaults as --create had: persistent, 64 KiB frames.
    let big = TempFile::new("big", &[1; 65 << 10]);
    shmkit(&["pub", n, "-f", big.path()])
        .fails(1)
        .stderr_has("largest frame of 64 KiB");
    shmkit_with_input(&["pub", n, "--no-create"], b"again\n")
        .ok()
        .stdout_has("the last #2");
}

#[test]
fn pub_checks_files_against_the_stream_it_opened() {
    if !persistent() {
        return;
    }
    let name = Name::new("pubfit");
    let n = name.as_str();
    let file = TempFile::new("68k", &[7; 68 << 10]);
    // Missing: checked against what would be created, and nothing is.
    shmkit(&["pub", n, "--create", "--file", file.path()])
        .fails(1)
        .stderr_has("more than the stream's largest frame of 64 KiB; nothing was published");
    assert!(!name.exists(), "a command that fails creates nothing");
    // A stream with 1 MiB frames takes it, with --create or without.
    shmkit(&["pub", n, "--max-frame", "1M", "-q"]).ok();
    for args in [
        &["pub", n, "-q", "-f"][..],
        &["pub", n, "--create", "-q", "-f"],
    ] {
        shmkit(&[args, &[file.path()]].concat()).ok();
    }
    // Settings that an existing stream does not have are said to be ignored.
    let r = shmkit(&["pub", n, "--max-frame", "2M", "-f", file.path()]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stderr
            .contains("exists already and keeps its settings: --max-frame 2 MiB (it has 1 MiB)"),
        "{r:#?}"
    );
}

#[test]
fn sub_started_first_waits_and_gets_every_line_of_a_new_stream() {
    if !persistent() {
        return;
    }
    let name = Name::new("sub100");
    let n = name.as_str();
    let sub = start(&["sub", n, "--count", "100"]);
    assert_eq!(
        sub.next_error(),
        format!("shmkit: waiting for {n} (no stream of that name yet)")
    );
    let lines: String = (1..=100).map(|i| format!("{i}\n")).collect();
    shmkit_with_input(&["pub", n], lines.as_bytes())
        .ok()
        .stdout_has("published 100 frames");
    let (code, got, stderr) = sub.end();
    assert_eq!(code, Some(0), "{stderr}");
    let want: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    assert_eq!(stderr.lines().count(), 1, "only the waiting line: {stderr}");
}

#[test]
fn watch_started_first_waits_for_the_cell() {
    if !persistent() {
        return;
    }
    let name = Name::new("watchw");
    let n = name.as_str();
    let watch = start(&["watch", n, "--count", "2"]);
    assert_eq!(
        watch.next_error(),
        format!("shmkit: waiting for {n} (no cell of that name yet)")
    );
    shmkit(&["write", n, "--create", "--capacity", "64", "-q", "first"]).ok();
    assert_eq!(watch.next_line(), "first");
    shmkit(&["write", n, "-q", "second"]).ok();
    let (code, rest, stderr) = watch.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rest, ["second"]);
}

#[test]
fn sub_and_watch_without_wait_or_in_time_fail_on_a_missing_name() {
    let name = Name::new("nowait");
    let n = name.as_str();
    shmkit(&["sub", n, "--no-wait"])
        .fails(1)
        .stderr_has("no such stream")
        .stderr_has("`shmkit pub");
    shmkit(&["watch", n, "--no-wait"])
        .fails(1)
        .stderr_has("no such segment");
    for (cmd, what) in [("sub", "stream"), ("watch", "cell")] {
        let r = shmkit(&[cmd, n, "--timeout", "200ms"]);
        assert_eq!(r.code, Some(1), "{r:#?}");
        assert_eq!(
            r.stderr,
            format!(
                "shmkit: waiting for {n} (no {what} of that name yet)\n\
                 shmkit: no {what} {n:?} appeared within 200.0 ms\n"
            )
        );
    }
    assert!(!name.exists());
}

#[test]
fn sub_follows_its_stream_when_it_is_removed_and_made_anew() {
    if !persistent() {
        return;
    }
    let name = Name::new("subrm");
    let n = name.as_str();
    shmkit(&["pub", n, "-q"]).ok();
    let sub = start(&["sub", n, "--count", "2"]);
    wait_for_sleeper(&name);
    shmkit_with_input(&["pub", n, "-q"], b"old\n").ok();
    assert_eq!(sub.next_line(), "old");
    shmkit(&["rm", n]).ok();
    assert_eq!(
        sub.next_error(),
        format!("shmkit: {n} was removed; waiting for a new stream of that name")
    );
    // The new stream's frames come from its first one on.
    shmkit_with_input(&["pub", n, "-q"], b"new\n").ok();
    let (code, rest, stderr) = sub.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rest, ["new"]);

    // With --no-wait, a removal ends it.
    let sub = start(&["sub", n, "--no-wait"]);
    wait_for_sleeper(&name);
    shmkit(&["rm", n]).ok();
    let (code, _, stderr) = sub.end();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("the stream {n:?} was removed")),
        "{stderr}"
    );
}

#[test]
fn watch_follows_its_cell_when_it_is_removed_and_made_anew() {
    if !persistent() {
        return;
    }
    let name = Name::new("watchrm");
    let n = name.as_str();
    shmkit(&["write", n, "--create", "--capacity", "64", "-q", "v1"]).ok();
    let watch = start(&["watch", n, "--count", "2"]);
    assert_eq!(watch.next_line(), "v1");
    shmkit(&["rm", n]).ok();
    assert_eq!(
        watch.next_error(),
        format!("shmkit: {n} was removed; waiting for a new one")
    );
    shmkit(&["write", n, "--create", "--capacity", "64", "-q", "v2"]).ok();
    let (code, rest, stderr) = watch.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rest, ["v2"]);
}

#[test]
fn a_second_publisher_is_refused_naming_the_first() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("twopub");
    let n = name.as_str();
    // The first publisher runs as long as its stdin stays open.
    let mut first = command(&["pub", n, "--create", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = first.id();
    let deadline = Instant::now() + WATCHDOG;
    while !Segment::info(n).is_ok_and(|i| i.lock_owner == Some(pid)) {
        assert!(
            Instant::now() < deadline,
            "the first publisher never started"
        );
        thread::sleep(Duration::from_millis(5));
    }
    shmkit(&["pub", n])
        .fails(1)
        .stderr_has(&format!("process {pid} publishes to it"))
        .stderr_has("--wait");
    shmkit(&["pub", n, "--wait", "100ms"])
        .fails(1)
        .stderr_has(&format!("process {pid} publishes to it"));
    drop(first.stdin.take());
    assert_eq!(wait(&mut first, &["pub"]), Some(0));
    // Once it has gone, the next one takes over.
    shmkit_with_input(&["pub", n], b"next\n")
        .ok()
        .stdout_has("the last #1");
}

#[test]
fn sub_timeouts_end_it_with_or_without_a_count() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("subt");
    let n = name.as_str();
    shmkit(&["pub", n, "--create", "-q"]).ok();
    let t0 = Instant::now();
    shmkit(&["sub", n, "--count", "2", "--timeout", "300ms"])
        .fails(1)
        .stderr_has("timed out after 300.0 ms with 0 of 2 frames");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    shmkit(&["sub", n, "--timeout", "100ms"]).ok();
}

#[test]
fn sub_ends_cleanly_on_ctrl_c_with_a_summary() {
    // Built on segments made by the command line, which are persistent.
    if !persistent() {
        return;
    }
    let name = Name::new("subint");
    let n = name.as_str();
    shmkit_with_input(&["pub", n, "-q"], b"one\n").ok();
    let sub = start(&["sub", n, "--from", "oldest"]);
    assert_eq!(sub.next_line(), "one");
    wait_for_sleeper(&name);
    if !sub.interrupt() {
        eprintln!("SKIPPED sub_ends_cleanly_on_ctrl_c_with_a_summary: no `kill` command here");
        return;
    }
    let (code, _, stderr) = sub.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, format!("shmkit: {n}: received 1 frame, lost 0\n"));
}

#[test]
fn pub_ends_cleanly_on_ctrl_c_with_a_summary() {
    if !persistent() {
        return;
    }
    let name = Name::new("pubint");
    let n = name.as_str();
    // Its stdin stays open: it waits for more lines when Ctrl-C comes.
    let mut cmd = command(&["pub", n]);
    cmd.stdin(Stdio::piped());
    let mut publisher = start_cmd(cmd);
    let mut stdin = publisher.child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"one\n").unwrap();
    let got = shmkit(&[
        "sub",
        n,
        "--from",
        "oldest",
        "--count",
        "1",
        "--timeout",
        "20s",
    ]);
    assert_eq!(got.code, Some(0), "{got:#?}");
    assert_eq!(got.stdout, "one\n");
    if !publisher.interrupt() {
        eprintln!("SKIPPED pub_ends_cleanly_on_ctrl_c_with_a_summary: no `kill` command here");
        return;
    }
    let (code, out, stderr) = publisher.end();
    drop(stdin);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        out,
        [format!(
            "{n}: published 1 frame (3 B), the last #1 (stopped by Ctrl-C)"
        )]
    );
    assert_eq!(stderr, "");
}

#[test]
fn pub_on_a_terminal_says_it_waits_for_lines() {
    if !persistent() {
        return;
    }
    let name = Name::new("pubtty");
    let n = name.as_str();
    // `script` gives the command a terminal; stdin feeds it what a person would type.
    let line = format!("{} pub {n}", env!("CARGO_BIN_EXE_shmkit"));
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let Ok(mut child) = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED pub_on_a_terminal_says_it_waits_for_lines: no `script` command");
        return;
    };
    let out = drain(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    // Ctrl-D on a line of its own ends the input.
    std::io::Write::write_all(&mut stdin, b"typed\n\x04").unwrap();
    let code = wait(&mut child, &["script", "pub"]);
    drop(stdin);
    let out = out.join().unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("shmkit: publishing each line you type to {n}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{n}: published 1 frame (5 B)")),
        "{out}"
    );
}

#[test]
fn sub_prints_frames_without_newlines_or_into_files() {
    if !persistent() {
        return;
    }
    let name = Name::new("subout");
    let n = name.as_str();
    let binary: Vec<u8> = (0..=255u8).collect();
    let file = TempFile::new("bin", &binary);
    shmkit_with_input(&["pub", n, "-q"], b"ab\ncd\n").ok();
    shmkit(&["pub", n, "-q", "-f", file.path()]).ok();
    let raw = shmkit(&["sub", n, "--from", "oldest", "--count", "2", "-n"]);
    assert_eq!(raw.ok().stdout, "abcd");

    let dir = std::env::temp_dir().join(format!("shmkit-cli{}-frames", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let saved = shmkit(&["sub", n, "--from", "oldest", "--count", "3", "--out", d]);
    saved.ok();
    let files: Vec<std::path::PathBuf> = (1..=3)
        .map(|seq| dir.join(format!("frame-{seq:010}.bin")))
        .collect();
    assert_eq!(std::fs::read(&files[0]).unwrap(), b"ab");
    assert_eq!(std::fs::read(&files[2]).unwrap(), binary);
    assert!(
        saved
            .stdout
            .starts_with(&format!("{} (2 B)\n", files[0].display())),
        "{saved:#?}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        3,
        "no partial files left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sub_summarizes_losses_instead_of_a_line_per_loss() {
    if !persistent() {
        return;
    }
    let name = Name::new("sublost");
    let n = name.as_str();
    shmkit(&["pub", n, "-q", "--max-frame", "64", "--ring", "256"]).ok();
    let sub = start(&["sub", n, "--count", "1"]);
    wait_for_sleeper(&name);
    // Stopped, the subscriber cannot read: the publisher laps it many times over.
    let pid = sub.child.id().to_string();
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !signal("-STOP") {
        eprintln!("SKIPPED sub_summarizes_losses_instead_of_a_line_per_loss: no `kill` here");
        return;
    }
    let lines: String = (1..=200).map(|i| format!("{i}\n")).collect();
    shmkit_with_input(&["pub", n, "-q"], lines.as_bytes()).ok();
    assert!(signal("-CONT"));
    let (code, out, stderr) = sub.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(out.len(), 1, "{out:?}");
    let seq: u64 = out[0].parse().unwrap();
    let lost = seq - 1;
    assert!(lost > 0, "{out:?}");
    assert_eq!(
        stderr,
        format!(
            "shmkit: lost {lost} frames (overwritten before they were read), the latest just \
             before #{seq}\nshmkit: {n}: received 1 frame, lost {lost}\n"
        )
    );
}

#[test]
fn pub_and_sub_help_teach_with_examples() {
    for sub in ["pub", "sub"] {
        shmkit(&["help", sub])
            .ok()
            .stdout_has("Examples:")
            .stdout_has(&format!("shmkit {sub} "));
    }
}

#[test]
fn one_rule_and_one_message_for_names_written_the_posix_or_win32_way() {
    let n = Name::new("rule");
    let posix = format!("/{}", n.as_str());
    let slash = "'/' is not allowed (names are not paths)";
    let use_it = format!("use \"{}\": a name has no leading '/'", n.as_str());
    let commands: [&[&str]; 8] = [
        &["create", &posix, "--size", "4K"],
        &["rm", &posix],
        &["info", &posix],
        &["dump", &posix],
        &["read", &posix],
        &["write", &posix, "x"],
        &["watch", &posix, "--timeout", "1s"],
        &["write", &posix, "--create", "--capacity", "1K", "x"],
    ];
    for args in commands {
        shmkit(args).fails(1).stderr_has(slash).stderr_has(&use_it);
    }
    // Whatever the command, a bad name is explained by the portable rule, never another one.
    for args in [
        &["rm", "a/b"][..],
        &["info", "a/b"],
        &["create", "a/b", "--size", "4K"],
    ] {
        let r = shmkit(args);
        r.fails(1)
            .stderr_has("a portable name is 1 to 30 characters");
        assert!(!r.stderr.contains("255"), "{r:#?}");
    }
    // The Win32 spelling of a shmkit name: the name to use, and where the namespace goes.
    let global = format!("Global\\{}", n.as_str());
    shmkit(&["create", &global, "--size", "4K"])
        .fails(1)
        .stderr_has("'Global\\' is a Windows namespace, not part of a name")
        .stderr_has(&format!("use \"{}\"", n.as_str()))
        .stderr_has("Namespace::Global");
    shmkit(&[
        "write",
        &format!("Local\\{}", n.as_str()),
        "--create",
        "--capacity",
        "1K",
        "x",
    ])
    .fails(if shmkit::interop::win32::namespaces_exist() {
        1
    } else {
        2
    });
    // As a TARGET it is a raw Win32 mapping where such names exist; elsewhere it names nothing.
    let r = shmkit(&["read", &global]);
    if shmkit::interop::win32::namespaces_exist() {
        r.fails(1).stderr_has("no such segment");
    } else {
        r.fails(2)
            .stderr_has("Global\\ is a Windows namespace; this system has none")
            .stderr_has(&format!("the object is \"{}\"", n.as_str()));
        shmkit(&["rm", &global])
            .fails(1)
            .stderr_has("Global\\ is a Windows namespace; this system has none");
    }
    assert!(!n.exists(), "nothing was created");
}

#[test]
fn hostile_framing_is_a_clear_error_and_prints_nothing() {
    let name = Name::new("framing");
    let n = name.as_str();
    // The object under test; where segments are not files, this process holds it, and lets
    // go of the old one before making the next.
    let mut held: Option<Segment> = None;
    let mut set = |bytes: &[u8]| {
        held = None;
        let _ = Segment::remove(n);
        held = foreign(&name, bytes);
    };
    // A length far past the end: an error, nothing printed.
    set(&[0x7f, 0xff, 0, 0, b'a', b'b', b'c']);
    for kind in ["bytes", "string"] {
        let r = shmkit(&["read", n, "--qt-datastream", kind]);
        r.fails(1)
            .stderr_has(&format!("cannot read {n} as a QDataStream"))
            .stderr_has("says 2147418112 bytes, but only");
        assert_eq!(r.stdout, "", "{r:#?}");
    }
    // 0xffffffff: a null array, which has no bytes; JSON says it was null.
    set(&[0xff, 0xff, 0xff, 0xff, b'x']);
    assert_eq!(
        shmkit(&["read", n, "--qt-datastream", "bytes"]).ok().stdout,
        "\n"
    );
    let v = shmkit(&["read", n, "--qt-datastream", "bytes", "--json"])
        .ok()
        .json();
    assert_eq!(v["null"], "QByteArray");
    assert_eq!(v["len"], 0);
    // The 64-bit length of Qt >= 6.7 (here negative): an error; a Qt 5 stream reads 0xfffffffe
    // as a plain, far too long length.
    let mut ext = vec![0xff, 0xff, 0xff, 0xfe];
    ext.extend_from_slice(&(-5i64).to_be_bytes());
    set(&ext);
    shmkit(&["read", n, "--qt-datastream", "bytes"])
        .fails(1)
        .stderr_has("negative 64-bit length");
    shmkit(&[
        "read",
        n,
        "--qt-datastream",
        "bytes",
        "--qt-version",
        "5.15",
    ])
    .fails(1)
    .stderr_has("says 4294967294 bytes");
    // An odd UTF-16 byte count in a QString; UTF-16 text that runs into an odd last byte.
    set(&[0, 0, 0, 3, 0, b'a', 0]);
    let r = shmkit(&["read", n, "--qt-datastream", "string"]);
    r.fails(1).stderr_has("an odd number");
    assert_eq!(r.stdout, "");
    set(b"a\0b");
    if shmkit::test_support::SHM_FILES.is_some() {
        // (Elsewhere segments are whole pages: zeros follow, which end the text.)
        shmkit(&["read", n, "--utf16"])
            .fails(1)
            .stderr_has("3 bytes without a NUL");
    }
    assert_eq!(shmkit(&["read", n, "--cstring"]).ok().stdout, "a\n");
    // A QImage whose PNG does not decode (a flipped bit in the pixel data): no picture.
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[9; 12]).unwrap();
    }
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    png[idat + 6] ^= 0x10;
    let mut framed = vec![0, 0, 0, 1];
    framed.extend_from_slice(&png);
    set(&framed);
    let out = std::env::temp_dir().join(format!("{n}.png"));
    let r = shmkit(&[
        "read",
        n,
        "--qt-datastream",
        "image",
        "--out",
        out.to_str().unwrap(),
    ]);
    r.fails(1).stderr_has("not a PNG Qt can read");
    assert_eq!(r.stdout, "");
    assert!(!out.exists(), "no file for a picture that is not there");
    // --out is for pictures only.
    shmkit(&["read", n, "--qt-datastream", "bytes", "--out", "x.png"])
        .fails(1)
        .stderr_has("--out writes a QImage's picture");
}

/// `shmkit info` tells a stream's geometry and state — maximum frame, ring, policy, sequence,
/// subscribers with their lag — and a cell's capacity, slots and sequence; `modified` of a cell
/// or stream is its last publish, not the file's time.
#[test]
fn info_shows_streams_and_cells_for_what_they_are() {
    let s = Name::new("infostream");
    let mut p = shmkit::stream::StreamOptions::new()
        .max_frame(1 << 20)
        .ring(4 << 20)
        .policy(shmkit::stream::Policy::Block)
        .create(s.as_str())
        .unwrap();
    let mut sub = shmkit::stream::StreamOptions::new()
        .from(shmkit::stream::JoinAt::Oldest)
        .subscribe(s.as_str())
        .unwrap();
    for i in 0..5u8 {
        p.send(&[i; 100]).unwrap();
    }
    let mut buf = Vec::new();
    sub.try_recv(&mut buf).unwrap().unwrap();
    let text = shmkit(&["info", s.as_str()]);
    text.ok()
        .stdout_has("stream (a shmkit segment)")
        .stdout_has("up to 1 MiB (1048576 bytes) each, in a ring of 4 MiB; policy block")
        .stdout_has("5 frames, 500 B (next #6)")
        .stdout_has("1 of 32 slots in use")
        .stdout_has(&format!(
            "pid {}: lag 4, lost 0, received 1",
            std::process::id()
        ))
        .stdout_has("last publish:");
    assert!(!text.stdout.contains("modified:"), "{}", text.stdout);
    let json = shmkit(&["info", s.as_str(), "--json"]).ok().json();
    assert_eq!(json["stream"]["max_frame"], 1 << 20);
    assert_eq!(json["stream"]["policy"], "block");
    assert_eq!(json["stream"]["next_seq"], 6);
    assert_eq!(json["stream"]["subscribers"][0]["lag"], 4);
    assert_eq!(json["stream"]["subscribers"][0]["alive"], true);
    assert_eq!(
        json["lock"]["state"], "held",
        "the publisher holds the lock"
    );
    assert_eq!(json["lock_owner"], std::process::id());
    drop(sub);
    drop(p);

    let c = Name::new("infocell");
    let cell = shmkit::CellOptions::new()
        .capacity(4096)
        .slots(4)
        .format("application/json".parse().unwrap())
        .create(c.as_str())
        .unwrap();
    shmkit(&["info", c.as_str()])
        .ok()
        .stdout_has("up to 4 KiB (4096 bytes) in each of 4 slots")
        .stdout_has("published:    nothing yet")
        .stdout_has("last publish: never")
        .stdout_has("format:       application/json");
    cell.publish(b"{}").unwrap();
    cell.publish(b"[]").unwrap();
    let json = shmkit(&["info", c.as_str(), "--json"]).ok().json();
    assert_eq!(json["cell"]["seq"], 2);
    assert_eq!(json["cell"]["capacity"], 4096);
    assert_eq!(json["format"], "application/json");
    assert!(json["cell"]["last_publish"].is_string());
}

/// The lock is "held by pid N" only while N lives; a dead owner's lock is said to be free (taken
/// over by the next locker), naming the dead pid. A header whose lengths do not fit is said to
/// be corrupt, never shown as a huge data region.
#[test]
fn info_tells_a_dead_owners_lock_and_a_corrupt_header_as_they_are() {
    if !persistent() {
        return;
    }
    let name = Name::new("infolock");
    shmkit(&["create", name.as_str(), "--size", "4K"]).ok();
    // A process that locks and dies holding the lock.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["lock", name.as_str(), "--hold", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + WATCHDOG;
    while Segment::info(name.as_str()).unwrap().lock_owner != Some(pid) {
        assert!(Instant::now() < deadline, "the child never took the lock");
        thread::sleep(Duration::from_millis(10));
    }
    shmkit(&["info", name.as_str()])
        .ok()
        .stdout_has(&format!("held by pid {pid}"));
    child.kill().unwrap();
    child.wait().unwrap();
    shmkit(&["info", name.as_str()])
        .ok()
        .stdout_has(&format!("free; its last owner, pid {pid}, died holding it"));
    let json = shmkit(&["info", name.as_str(), "--json"]).ok().json();
    assert_eq!(json["lock"]["state"], "owner-died");
    assert_eq!(json["lock_owner"], Value::Null);

    // Now a lying data length (bytes 40..48 of the header).
    let raw = SegmentOptions::new().raw(true).open(name.as_str()).unwrap();
    raw.write(40, &(u64::MAX / 2).to_le_bytes()).unwrap();
    drop(raw);
    let out = shmkit(&["info", name.as_str()]);
    out.ok().stdout_has("its header is corrupt: data length");
    assert!(!out.stdout.contains("PiB"), "{}", out.stdout);
    let json = shmkit(&["info", name.as_str(), "--json"]).ok().json();
    assert_eq!(json["data_len"], Value::Null);
    assert!(json["problem"].as_str().unwrap().contains("does not fit"));
}
