//! Helpers for tests that use real processes.
//!
//! A test spawns *this same test binary* in a child role: the child runs only the test named
//! `child_entry` (with `--exact`), which reads its role and arguments from the environment and
//! dispatches. Children print `READY ...`-style lines on stdout that the parent waits for. Every
//! child is killed when its handle drops, and a watchdog aborts a test that hangs, so CI fails
//! instead of blocking.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const ROLE_ENV: &str = "SHMKIT_TEST_ROLE";
pub const ARG_ENV: &str = "SHMKIT_TEST_ARG";

/// A segment name unique to this process and call (portable: ≤ 30 chars).
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag.chars().take(12).collect();
    format!("t-{tag}-{}-{n}", std::process::id())
}

/// Removes the segment when dropped (whatever the test's outcome).
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shmkit::Segment::remove(self.0.as_str());
    }
}

/// Aborts the whole test process if the test is still running after `limit`.
pub struct Watchdog(Option<mpsc::Sender<()>>);

pub fn watchdog(limit: Duration) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let name = std::thread::current().name().unwrap_or("?").to_string();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("watchdog: test {name} still running after {limit:?}; aborting");
            std::process::abort();
        }
    });
    Watchdog(Some(tx))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A child process in a test role, killed on drop.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub role: String,
}

/// Starts this test binary in `role` with `arg`.
pub fn spawn(role: &str, arg: &str) -> Proc {
    spawn_cmd(self_command(role, arg), role)
}

/// The command that runs this test binary in `role` (for wrapping, e.g. in `unshare`).
pub fn self_command(role: &str, arg: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(ARG_ENV, arg);
    cmd
}

pub fn spawn_cmd(mut cmd: Command, role: &str) -> Proc {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let out: ChildStdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Proc {
        child,
        lines: rx,
        role: role.to_string(),
    }
}

impl Proc {
    /// Waits for the next stdout line that starts with `prefix`; returns the rest.
    pub fn expect_line(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                }
                Err(_) => panic!(
                    "child {} did not print {prefix:?} within {limit:?} (status {:?})",
                    self.role,
                    self.child.try_wait()
                ),
            }
        }
    }

    /// Sends a line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("child stdin");
        writeln!(stdin, "{line}").expect("write to child");
        stdin.flush().expect("flush to child");
    }

    /// All remaining stdout lines (after the child exited).
    pub fn rest(&mut self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Reaps the child (after `kill`, or when it ends by itself), at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("child {} did not exit within {limit:?}", self.role);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for a successful exit and returns everything it printed.
    pub fn finish(mut self, limit: Duration) -> Vec<String> {
        let st = self.wait(limit);
        // Give the reader thread a moment to drain the pipe.
        std::thread::sleep(Duration::from_millis(20));
        let out = self.rest();
        assert!(
            st.success(),
            "child {} failed: {st:?}; output: {out:?}",
            self.role
        );
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a child: the role and argument, if this process is a child.
pub fn role() -> Option<(String, String)> {
    let role = std::env::var(ROLE_ENV).ok()?;
    Some((role, std::env::var(ARG_ENV).unwrap_or_default()))
}

/// In a child: blocks until the parent kills us, or dies (our stdin, a pipe from the parent,
/// then reaches its end), so no child outlives an aborted test.
pub fn park() -> ! {
    let mut buf = [0u8; 64];
    while let Ok(n) = std::io::stdin().read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    std::process::exit(0);
}

/// In a child: the next line the parent sends (`None` when the parent is gone).
pub fn recv() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_string()),
    }
}

/// Prints a line for the parent and flushes it. It starts on a fresh line: under `--nocapture`
/// the test harness has already printed `test child_entry ... ` without a newline.
pub fn say(line: impl AsRef<str>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{}", line.as_ref());
    let _ = out.flush();
}

/// In a child about to crash on purpose: says so on stderr, so that the Wine test runner
/// (`.ci/wine-runner.sh`) tells this crash from an unexpected one.
pub fn expect_crash() {
    eprintln!("shmkit-test: the next crash is expected");
}
