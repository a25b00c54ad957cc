//! `shmkit top` in a real terminal: tmux runs it in an 80x24 pane beside a real publisher and
//! subscriber; the test reads the screen a few refreshes later, then presses q (and, in a second
//! run, Ctrl-C) and checks that it ended with status 0.
//!
//! Without tmux the test says SKIPPED; `SHMKIT_REQUIRE_VIEWER_TOOLS=1` (set by `.ci/viewer.sh`)
//! turns that into a failure.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{Killed, Name, bin, eventually, shmkit};

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux(String);

impl Tmux {
    fn start(tag: &str) -> Option<Tmux> {
        let usable = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !usable || shmkit::test_support::BACKEND == "windows" {
            assert!(
                std::env::var_os("SHMKIT_REQUIRE_VIEWER_TOOLS").is_none(),
                "tmux is required (SHMKIT_REQUIRE_VIEWER_TOOLS is set)"
            );
            eprintln!("SKIPPED: no tmux here (apt-get install tmux)");
            return None;
        }
        Some(Tmux(format!("shmkit-top-{}-{tag}", std::process::id())))
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `command` (a shell command line) in a detached 80x24 session.
    fn session(&self, command: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "top",
            command,
        ]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "top", keys]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn top_shows_a_stream_its_subscriber_and_rates_and_ends_on_q_and_ctrl_c() {
    let Some(tmux) = Tmux::start("a") else { return };
    if !shmkit::test_support::PERSISTENT {
        return;
    }
    let stream = Name::new("top-s");
    let cell = Name::new("top-c");
    let s = stream.as_str();
    // A publisher fed a line every 20 ms (about 50 frames a second), and a subscriber.
    let mut publisher = Killed(
        Command::new(bin())
            .args(["pub", s, "--format", "text/plain", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut input = publisher.0.stdin.take().unwrap();
    let feeding = thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(40);
        while Instant::now() < end {
            if writeln!(input, "frame").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    eventually("the stream", || shmkit::Segment::info(s).ok());
    let subscriber = Killed(
        Command::new(bin())
            .args(["sub", s])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    shmkit(&["write", cell.as_str(), "--create", "--capacity", "64", "hi"]).ok();

    let status = std::env::temp_dir().join(format!("shmkit-top-{}", std::process::id()));
    let _ = std::fs::remove_file(&status);
    let command = format!(
        "{} top --interval 300ms; echo EXIT=$? > {}",
        shell_quote(bin()),
        shell_quote(status.to_str().unwrap())
    );
    tmux.session(&command);
    let sub_line = format!("└ sub pid {}: lag", subscriber.id());
    let screen = eventually("a screen with the stream's rate and its subscriber", || {
        let screen = tmux.screen();
        let stream_line = screen.lines().find(|l| l.starts_with(s))?;
        // A measured rate (not the first screen's "…"), and frames per second in bytes too.
        (stream_line.contains("/s") && stream_line.contains("B/s") && screen.contains(&sub_line))
            .then_some(screen)
    });
    assert!(screen.starts_with("shmkit top — "), "{screen}");
    assert!(screen.contains("NAME"), "{screen}");
    let stream_line = screen.lines().find(|l| l.starts_with(s)).unwrap();
    let words: Vec<&str> = stream_line.split_whitespace().collect();
    assert_eq!(&words[1..4], ["stream", "live", "text/plain"], "{screen}");
    let rate: f64 = words[4].trim_end_matches("/s").parse().unwrap();
    assert!(rate > 0.0, "frames are flowing: {screen}");
    assert_eq!(words[7], "1", "one subscriber: {screen}");
    let cell_line = screen
        .lines()
        .find(|l| l.starts_with(cell.as_str()))
        .unwrap();
    assert!(cell_line.contains(" cell "), "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");

    tmux.keys("q");
    let exit = eventually("top to end on q", || exit_status(&status));
    assert_eq!(exit.trim(), "EXIT=0");

    // Again, ended by Ctrl-C.
    let _ = std::fs::remove_file(&status);
    // The session ended with top, and its tmux server is ending: a new server on a socket of
    // its own (a new session on the old socket can reach the old server as it exits).
    let tmux = Tmux::start("b").unwrap();
    tmux.session(&command);
    eventually("a screen", || tmux.screen().contains("NAME").then_some(()));
    tmux.keys("C-c");
    let exit = eventually("top to end on Ctrl-C", || exit_status(&status));
    assert_eq!(exit.trim(), "EXIT=0");
    let _ = std::fs::remove_file(&status);

    drop(subscriber);
    drop(publisher);
    let _ = feeding.join();
}

#[test]
fn batch_mode_prints_screens_one_after_another() {
    let run = shmkit(&["top", "--batch", "-n", "2", "--interval", "100ms"]);
    run.ok();
    assert_eq!(run.stdout.matches("shmkit top — ").count(), 2, "{run:#?}");
    assert!(
        run.stdout.lines().all(|l| l.chars().count() <= 80),
        "{run:#?}"
    );
    shmkit(&["top", "--interval", "1ms"])
        .fails(2)
        .stderr_has("refresh at most every 50ms");
}

/// What the shell wrote to the status file, once it has: the redirection creates the file
/// before `echo` writes the line into it, so an empty file is not an answer yet.
fn exit_status(path: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .filter(|text| text.ends_with('\n'))
}
