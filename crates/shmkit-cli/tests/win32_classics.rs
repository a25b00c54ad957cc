//! The classic Win32 programs themselves against the `shmkit` binary, on Windows (in CI: under
//! Wine, next to the Windows build of shmkit): the Microsoft sample pair over
//! `Global\MyFileMappingObject`, built ANSI and UNICODE, and the writer and reader of the
//! Qt-over-Win32 dialogs over the bare name `test_shared_memory` — each direction.
//!
//! The programs are C sources in `tests/win32/`, compiled with MinGW by `.ci/cross.sh`, which
//! points `SHMKIT_WIN32_SAMPLES` at them and sets `SHMKIT_REQUIRE_WIN32_SAMPLES=1` (a skip is
//! then a failure). Elsewhere these tests say they were skipped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn samples() -> Option<PathBuf> {
    let required = std::env::var("SHMKIT_REQUIRE_WIN32_SAMPLES").is_ok_and(|v| v == "1");
    if shmkit::test_support::BACKEND != "windows" {
        assert!(!required, "SHMKIT_REQUIRE_WIN32_SAMPLES=1 off Windows");
        eprintln!(
            "SKIPPED: the Win32 classics run on Windows (this is {})",
            shmkit::test_support::BACKEND
        );
        return None;
    }
    match std::env::var_os("SHMKIT_WIN32_SAMPLES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None if required => {
            panic!("SHMKIT_REQUIRE_WIN32_SAMPLES=1 but SHMKIT_WIN32_SAMPLES is not set")
        }
        None => {
            eprintln!("SKIPPED: SHMKIT_WIN32_SAMPLES is not set (bash .ci/cross.sh builds them)");
            None
        }
    }
}

/// A running classic program, killed (if still running) when dropped: a Win32 mapping lives
/// while its writer holds it.
struct Program {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Program {
    fn start(dir: &Path, exe: &str, env: &[(&str, &str)]) -> Program {
        let mut child = Command::new(dir.join(exe))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {exe}: {e}"));
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line.trim_end().to_string()).is_err() {
                    break;
                }
            }
        });
        Program {
            child,
            stdin,
            lines: rx,
        }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(T)
            .expect("the program prints a line")
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a classic program to its end: its stdout and exit status.
fn run(dir: &Path, exe: &str, env: &[(&str, &str)]) -> (String, bool) {
    let out = Command::new(dir.join(exe))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {exe}: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        out.status.success(),
    )
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn shmkit(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(args)
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
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let r = shmkit(args);
    assert_eq!(r.code, Some(0), "shmkit {args:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// `shmkit ARGS` until it prints `want` (the writer may still be starting).
#[track_caller]
fn eventually(args: &[&str], want: &str) {
    let deadline = Instant::now() + T;
    loop {
        let r = shmkit(args);
        if r.code == Some(0) && r.stdout == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "shmkit {args:?} never printed {want:?}: {}{}",
            r.stdout,
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const MS_NAME: &str = "Global\\MyFileMappingObject";

#[test]
fn the_microsoft_sample_pair_and_shmkit_talk_both_ways_ansi_and_unicode() {
    let Some(dir) = samples() else { return };
    for (build, text) in [("ansi", "--cstring"), ("unicode", "--utf16")] {
        let writer = Program::start(
            &dir,
            &format!("ms_writer_{build}.exe"),
            &[("SAMPLE_HOLD_MS", "120000")],
        );
        // The first process's message, read raw and read-only by its Win32 name ...
        eventually(&["read", MS_NAME, text], "Message from first process.\n");
        let dump = ok(&["dump", MS_NAME, "--len", "16"]);
        let first = if build == "ansi" {
            "4d 65 73 73"
        } else {
            "4d 00 65 00"
        };
        assert!(dump.starts_with(&format!("00000000  {first}")), "{dump}");
        // ... and a message from shmkit, shown by the second process.
        let message = format!("Message from shmkit ({build}, grüße)");
        let wrote = ok(&["write", MS_NAME, text, &message]);
        assert!(wrote.contains("Global\\MyFileMappingObject"), "{wrote}");
        let (shown, success) = run(&dir, &format!("ms_reader_{build}.exe"), &[]);
        assert!(success, "{shown}");
        if build == "unicode" {
            assert_eq!(shown, format!("{message}\n"));
        } else {
            // The ANSI build shows bytes: the UTF-8 of the message, as it was written.
            assert_eq!(shown.as_bytes(), format!("{message}\n").as_bytes());
        }
        drop(writer);
        // The mapping died with its last handle: nothing is left to open.
        let gone = shmkit(&["read", MS_NAME]);
        assert_eq!(gone.code, Some(1), "{}", gone.stdout);
        assert!(gone.stderr.contains("no such segment"), "{}", gone.stderr);
    }
}

#[test]
fn the_dialogs_test_shared_memory_and_shmkit_talk_both_ways() {
    let Some(dir) = samples() else { return };
    let mut writer = Program::start(&dir, "dialog_writer.exe", &[]);
    assert_eq!(writer.line(), "READY");
    writer.say("hello from the dialog");
    assert_eq!(writer.line(), "SENT");
    // The bare name is the session's (Local\) object.
    assert_eq!(
        ok(&["read", "test_shared_memory", "--utf16"]),
        "hello from the dialog\n"
    );
    assert_eq!(
        ok(&["read", "Local\\test_shared_memory", "--utf16"]),
        "hello from the dialog\n"
    );
    // `watch` has no notifier to sleep on: it polls, says so, and prints each new text.
    let mut watch = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["watch", "test_shared_memory", "--utf16", "--count", "2"])
        .args(["--timeout", "50s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap().trim_end(),
        "hello from the dialog"
    );
    writer.say("the second click");
    assert_eq!(writer.line(), "SENT");
    assert_eq!(
        lines.next().unwrap().unwrap().trim_end(),
        "the second click"
    );
    let out = watch.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no change notification"), "{err}");
    // What shmkit writes, the reader dialog's timer shows.
    ok(&[
        "write",
        "test_shared_memory",
        "--utf16",
        "from shmkit, ünïcödé",
    ]);
    let (shown, success) = run(&dir, "dialog_reader.exe", &[("DIALOG_CHANGES", "1")]);
    assert!(success, "{shown}");
    assert_eq!(shown, "from shmkit, ünïcödé\n");
    // A text larger than the mapping (its 1024 bytes, a page under Wine): refused, not cut.
    let r = shmkit(&["write", "test_shared_memory", "--utf16", &"x".repeat(3000)]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("do not fit"), "{}", r.stderr);
}
