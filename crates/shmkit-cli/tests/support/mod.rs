//! What the tests of `--format`, `top` and `view` share: running the built `shmkit`, unique
//! segment names removed on drop, a watchdog.

#![allow(dead_code)] // each test file uses part of it

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use shmkit::{ErrorKind, Segment};

/// A run that takes longer than this hangs: it is killed and the test fails.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// The built `shmkit`.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shmkit")
}

/// A test's segment name (`cli<pid>-<tag>`), removed (if it still exists) when dropped.
pub struct Name(String);

impl Name {
    pub fn new(tag: &str) -> Name {
        let name = format!("cli{}-{tag}", std::process::id());
        assert!(name.len() <= shmkit::MAX_NAME_LEN, "tag {tag:?} too long");
        Name(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `shmkit ARGS` to the end, stdin empty.
pub fn shmkit(args: &[&str]) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shmkit");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("read output");
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let code = wait(&mut child);
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        code,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Waits for `child`, killing it and failing the test if it outlives the watchdog.
pub fn wait(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a child process hung for {WATCHDOG:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

impl Run {
    /// Exit status 0, nothing on stderr.
    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        self
    }

    /// Exit status `code` with exactly one line on stderr, starting `shmkit: `.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:#?}");
        assert!(self.stderr.starts_with("shmkit: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "want {text:?} in stdout: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "want {text:?} in stderr: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Waits until `f` gives something, at most 20 s.
#[track_caller]
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed (and reaped) when dropped, also when the test fails midway.
pub struct Killed(pub Child);

impl Killed {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
