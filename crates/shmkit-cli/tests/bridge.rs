//! `shmkit bridge` as real processes: two bridges over loopback with explicit endpoints and no
//! scouting, each killed with SIGKILL and restarted while frames flow; 1080p RGBA at 30 fps; the
//! command line's errors; and two "hosts" for real — two network namespaces joined by a veth
//! pair, each with its own `/dev/shm`, talking mutual TLS (root only).
//!
//! The two-host tests need root, iproute2 and openssl; they are `#[ignore]`d in a plain `cargo
//! test` and `.ci/bridge.sh` runs them (`cargo test --workspace --test bridge -- --ignored`).
//!
//! Frames carry their own proof of wholeness: a counter, the publisher's clock and a checksum of
//! the rest, so the far side can tell a whole frame from a torn or mixed one, and its order.

//! Not on Windows: these stop the bridges with SIGINT (a clean stop) and SIGKILL, and time
//! 1080p frames; under Wine neither means what it means on Windows, so the tests say they skip,
//! and the bridge itself is tested there by `shmkit-zenoh`'s own tests.

#![cfg(feature = "bridge")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shmkit::stream::{Policy, Publisher, Received, StreamOptions, Subscriber};
use shmkit::{Access, Cell, CellOptions, ErrorKind, Segment};
use support::{Name, bin};

/// Long enough for anything that works; a hang fails instead of blocking CI.
const T: Duration = Duration::from_secs(30);
const ROLE: &str = "SHMKIT_BRIDGE_TEST_ROLE";
const ARGS: &str = "SHMKIT_BRIDGE_TEST_ARGS";

/// Whether this system has the POSIX signals these tests stop bridges with; says so if not.
fn signals(test: &str) -> bool {
    let ok = shmkit::test_support::BACKEND != "windows";
    if !ok {
        eprintln!("{test}: skipped on Windows (the bridges are stopped with POSIX signals)");
    }
    ok
}

// ---- frames that prove their wholeness ------------------------------------------------------

const HEAD: usize = 24;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn word(counter: u64, i: usize) -> u64 {
    counter
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(i as u64)
}

fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Writes frame `counter` into `frame` (at least [`HEAD`] bytes, a multiple of 8).
fn fill(frame: &mut [u8], counter: u64) {
    let (head, body) = frame.split_at_mut(HEAD);
    let mut sum = 0xcbf2_9ce4_8422_2325;
    for (i, w) in body.chunks_exact_mut(8).enumerate() {
        let v = word(counter, i);
        w.copy_from_slice(&v.to_le_bytes());
        sum = mix(sum, v);
    }
    head[..8].copy_from_slice(&counter.to_le_bytes());
    head[8..16].copy_from_slice(&now_ns().to_le_bytes());
    head[16..].copy_from_slice(&sum.to_le_bytes());
}

/// The counter and publish time of a whole frame, or what is wrong with it.
fn verify(frame: &[u8]) -> Result<(u64, u64), String> {
    if frame.len() < HEAD || frame.len() % 8 != 0 {
        return Err(format!("a frame of {} bytes", frame.len()));
    }
    let u = |o: usize| u64::from_le_bytes(frame[o..o + 8].try_into().unwrap());
    let (counter, time, sum) = (u(0), u(8), u(16));
    let mut h = 0xcbf2_9ce4_8422_2325;
    for (i, w) in frame[HEAD..].chunks_exact(8).enumerate() {
        let v = u64::from_le_bytes(w.try_into().unwrap());
        if v != word(counter, i) {
            return Err(format!(
                "frame {counter}: word {i} is not its own (torn or mixed)"
            ));
        }
        h = mix(h, v);
    }
    if h != sum {
        return Err(format!("frame {counter}: bad checksum"));
    }
    Ok((counter, time))
}

/// The length of frame `counter` when lengths cycle: 24 B, 1 KiB, 64 KiB, 1 MiB.
fn cycling_len(counter: u64) -> usize {
    [HEAD, 1024, 64 << 10, 1 << 20][(counter % 4) as usize]
}

/// Checks received frames: whole, in order, and losses counted exactly.
#[derive(Debug, Default)]
struct Checker {
    last: Option<u64>,
    frames: u64,
    lost: u64,
    /// The oldest frame age seen since the last `take`, in milliseconds.
    max_age_ms: u64,
}

impl Checker {
    /// Receives `n` frames and checks them; `exact`: the far side's losses must match the
    /// counters' gaps (not across a restart of the importer, which forgets the numbering).
    #[track_caller]
    fn take(&mut self, sub: &mut Subscriber, n: u64, exact: bool) {
        self.max_age_ms = 0;
        let mut buf = Vec::new();
        for _ in 0..n {
            let got: Received = sub
                .recv_timeout(&mut buf, T)
                .unwrap_or_else(|e| panic!("a frame across the bridge: {e}"));
            self.check(&buf, got.lost, exact).unwrap();
        }
    }

    fn check(&mut self, frame: &[u8], lost: u64, exact: bool) -> Result<(), String> {
        let (counter, time) = verify(frame)?;
        if let Some(last) = self.last {
            if counter <= last {
                return Err(format!("frame {counter} after frame {last}"));
            }
            if exact && lost != counter - last - 1 {
                return Err(format!(
                    "frame {counter} after {last} counts {lost} lost, not {}",
                    counter - last - 1
                ));
            }
        }
        self.max_age_ms = self
            .max_age_ms
            .max(now_ns().saturating_sub(time) / 1_000_000);
        self.last = Some(counter);
        self.frames += 1;
        self.lost += lost;
        Ok(())
    }
}

// ---- child roles -----------------------------------------------------------------------------

/// The child side: runs the role named in the environment (nothing when run as a test).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<String> = std::env::var(ARGS)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let result = match role.as_str() {
        "publish" => role_publish(&args),
        "check" => role_check(&args),
        "absent" => role_absent(&args),
        "die-mid-frame" => role_die_mid_frame(&args),
        other => Err(format!("unknown role {other}")),
    };
    if let Err(e) = result {
        println!("FAILED {e}");
        std::process::exit(1);
    }
}

/// `publish NAME FPS LEN POLICY SECONDS`: frames of LEN bytes (or `cycle`) at FPS.
fn role_publish(args: &[String]) -> Result<(), String> {
    let [name, fps, len, policy, seconds] = args else {
        return Err(format!("publish: bad arguments {args:?}"));
    };
    let fps: f64 = fps.parse().map_err(|_| "fps")?;
    let seconds: f64 = seconds.parse().map_err(|_| "seconds")?;
    let policy = if policy == "block" {
        Policy::Block
    } else {
        Policy::Overwrite
    };
    let fixed: Option<usize> = (len != "cycle").then(|| len.parse().unwrap());
    let max = fixed.unwrap_or(1 << 20);
    let mut p = StreamOptions::new()
        .max_frame(max)
        .policy(policy)
        .create(name.as_str())
        .map_err(|e| e.to_string())?;
    println!("READY");
    let (period, start) = (Duration::from_secs_f64(1.0 / fps), Instant::now());
    let mut counter = 0;
    while start.elapsed().as_secs_f64() < seconds {
        counter += 1;
        let n = fixed.unwrap_or_else(|| cycling_len(counter));
        let mut loan = p.loan(n).map_err(|e| e.to_string())?;
        fill(&mut loan, counter);
        loan.commit();
        let next = start + period.mul_f64(counter as f64);
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    println!("SENT {counter}");
    Ok(())
}

/// `die-mid-frame NAME START COUNT`: becomes the publisher of NAME (taking over from a dead
/// one), publishes frames START.. (COUNT of them, 1 MiB each), then fills half of the next one
/// in the ring, says MIDFRAME and waits to be killed.
fn role_die_mid_frame(args: &[String]) -> Result<(), String> {
    let [name, start, count] = args else {
        return Err(format!("die-mid-frame: bad arguments {args:?}"));
    };
    let (start, count): (u64, u64) = (start.parse().unwrap(), count.parse().unwrap());
    let mut p = StreamOptions::new()
        .max_frame(1 << 20)
        .create_or_open_publisher(name.as_str(), T)
        .map_err(|e| e.to_string())?;
    for counter in start..start + count {
        let mut loan = p.loan(1 << 20).map_err(|e| e.to_string())?;
        fill(&mut loan, counter);
        loan.commit();
    }
    let mut loan = p.loan(1 << 20).map_err(|e| e.to_string())?;
    fill(&mut loan, start + count);
    loan[HEAD..(1 << 19)].fill(0xEE);
    println!("MIDFRAME");
    thread::sleep(T * 2);
    Err("not killed".into())
}

/// `check NAME COUNT`: waits for the stream, checks COUNT frames, says what it saw.
fn role_check(args: &[String]) -> Result<(), String> {
    let [name, count] = args else {
        return Err(format!("check: bad arguments {args:?}"));
    };
    let count: u64 = count.parse().map_err(|_| "count")?;
    let mut sub = wait_subscribe(name).map_err(|e| e.to_string())?;
    println!("READY");
    let mut c = Checker::default();
    let mut buf = Vec::new();
    for _ in 0..count {
        let got = sub.recv_timeout(&mut buf, T).map_err(|e| e.to_string())?;
        c.check(&buf, got.lost, true)?;
    }
    println!("CHECKED {} {} {}", c.frames, c.lost, c.max_age_ms);
    Ok(())
}

/// `absent NAME`: whether this /dev/shm lacks NAME.
fn role_absent(args: &[String]) -> Result<(), String> {
    let [name] = args else {
        return Err(format!("absent: bad arguments {args:?}"));
    };
    match Segment::info(name) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            println!("ABSENT");
            Ok(())
        }
        _ => Err(format!("{name} exists here")),
    }
}

fn wait_subscribe(name: &str) -> shmkit::Result<Subscriber> {
    let end = Instant::now() + T;
    loop {
        match Subscriber::open(name) {
            Err(e) if e.kind() == ErrorKind::NotFound && Instant::now() < end => {
                thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

// ---- processes ------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running process whose stdout and stderr lines arrive on a channel; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    what: String,
}

fn shmkit_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    cmd
}

/// This test binary in `role` with `args`.
fn role_cmd(role: &str, args: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(ARGS, args);
    cmd
}

impl Proc {
    fn start(mut cmd: Command, what: &str) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let (tx, lines) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Proc {
            child,
            lines,
            seen: Vec::new(),
            what: what.to_string(),
        }
    }

    fn shmkit(args: &[&str]) -> Proc {
        Proc::start(shmkit_cmd(args), &format!("shmkit {}", args.join(" ")))
    }

    /// Waits for a line that has `text`; returns it.
    #[track_caller]
    fn expect(&mut self, text: &str) -> String {
        let end = Instant::now() + T;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    assert!(
                        !line.contains("panicked") && !line.starts_with("FAILED"),
                        "{}: {line}\n{:#?}",
                        self.what,
                        self.seen
                    );
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "{}: no line with {text:?} within {T:?}; saw {:#?}",
            self.what, self.seen
        );
    }

    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGINT (Ctrl-C) and waits for the end: (status, every line).
    fn interrupt(self) -> (Option<i32>, Vec<String>) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -INT {}", self.what);
        self.end()
    }

    /// Waits for the end (at most `T`): (status, every line).
    fn end(mut self) -> (Option<i32>, Vec<String>) {
        let end = Instant::now() + T;
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            assert!(Instant::now() < end, "{} did not end", self.what);
            thread::sleep(Duration::from_millis(10));
        };
        // The readers end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `shmkit ARGS` to the end: (status, stdout and stderr lines).
fn run(args: &[&str]) -> (Option<i32>, Vec<String>) {
    Proc::shmkit(args).end()
}

// ---- loopback --------------------------------------------------------------------------------

#[test]
fn two_bridge_processes_carry_a_stream_and_a_cell_and_each_side_survives_kill_9() {
    if !signals("two_bridge_processes_carry_a_stream_and_a_cell_and_each_side_survives_kill_9") {
        return;
    }
    let (src, dst, csrc, cdst) = (
        Name::new("brs"),
        Name::new("brd"),
        Name::new("brcs"),
        Name::new("brcd"),
    );
    let ep = format!("tcp/127.0.0.1:{}", free_port());
    // The local publisher: frames of 24 B to 1 MiB at 50 per second, and a cell value with each
    // (while `cell_on`).
    let stop = Arc::new(AtomicBool::new(false));
    let cell_on = Arc::new(AtomicBool::new(true));
    let last_value = Arc::new(AtomicU64::new(0));
    let mut p = StreamOptions::new()
        .max_frame(1 << 20)
        .create(src.as_str())
        .unwrap();
    let cell = CellOptions::new()
        .capacity(64)
        .create(csrc.as_str())
        .unwrap();
    let publisher = {
        let (stop, cell_on, last_value) = (stop.clone(), cell_on.clone(), last_value.clone());
        thread::spawn(move || {
            let mut counter = 0;
            while !stop.load(Ordering::Relaxed) {
                counter += 1;
                let mut loan = p.loan(cycling_len(counter)).unwrap();
                fill(&mut loan, counter);
                loan.commit();
                if cell_on.load(Ordering::Relaxed) {
                    cell.publish(format!("value {counter}").as_bytes()).unwrap();
                    last_value.store(counter, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let keys = format!("t/{}", std::process::id());
    let (s_export, c_export) = (
        format!("{}={keys}/s", src.as_str()),
        format!("{}={keys}/c", csrc.as_str()),
    );
    let exporter_args = [
        "bridge", "run", "--export", &s_export, "--export", &c_export, "--listen", &ep,
    ];
    // The importer's exports and imports from a file, as the README shows.
    let file = std::env::temp_dir().join(format!("shmkit-bridge-{}.conf", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "# the far side\nimport {keys}/s --as {}\n\nimport {keys}/c --as {}\n",
            dst.as_str(),
            cdst.as_str()
        ),
    )
    .unwrap();
    let importer_args = [
        "bridge",
        "run",
        "--file",
        file.to_str().unwrap(),
        "--connect",
        &ep,
    ];
    let mut exporter = Proc::shmkit(&exporter_args);
    exporter.expect("exporting the stream");
    let mut importer = Proc::shmkit(&importer_args);
    importer.expect("connected to 1 Zenoh peer");
    let mut sub = wait_subscribe(dst.as_str()).unwrap();
    let mut c = Checker::default();
    c.take(&mut sub, 20, true);
    let far_cell = Cell::open(cdst.as_str(), Access::ReadOnly).unwrap();
    let value = far_cell.snapshot().unwrap().data;
    assert!(value.starts_with(b"value "), "{value:?}");

    // The exporter dies and comes back; the importer and the subscriber stay.
    exporter.kill9();
    thread::sleep(Duration::from_millis(300));
    let mut exporter = Proc::shmkit(&exporter_args);
    exporter.expect("exporting the stream");
    let lost = c.lost;
    c.take(&mut sub, 20, true);
    assert!(
        c.lost > lost,
        "frames published while no exporter ran are counted lost"
    );

    // The importer dies; the cell stops changing; a new importer takes the local stream over
    // (the subscriber is never restarted) and gets the cell's current value at once.
    importer.kill9();
    cell_on.store(false, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(100));
    let frozen = format!("value {}", last_value.load(Ordering::Relaxed));
    let seen = far_cell.seq();
    let mut importer = Proc::shmkit(&importer_args);
    importer.expect("publishing to the existing stream");
    c.take(&mut sub, 20, false);
    far_cell.wait_newer(seen, Some(T)).unwrap();
    assert_eq!(far_cell.snapshot().unwrap().data, frozen.as_bytes());

    // Ctrl-C ends both, with their summaries.
    stop.store(true, Ordering::Relaxed);
    publisher.join().unwrap();
    let (code, lines) = exporter.interrupt();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{}: exported", s_export.replace('=', " → ")))),
        "{lines:#?}"
    );
    let (code, lines) = importer.interrupt();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("imported")), "{lines:#?}");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_publisher_killed_mid_frame_sends_nothing_torn() {
    if !signals("a_publisher_killed_mid_frame_sends_nothing_torn") {
        return;
    }
    let (src, dst) = (Name::new("brks"), Name::new("brkd"));
    let ep = format!("tcp/127.0.0.1:{}", free_port());
    let key = format!("t/{}/kill", std::process::id());
    let first = StreamOptions::new()
        .max_frame(1 << 20)
        .create(src.as_str())
        .unwrap();
    let mut exporter = Proc::shmkit(&[
        "bridge",
        "export",
        src.as_str(),
        "--key",
        &key,
        "--listen",
        &ep,
    ]);
    exporter.expect("exporting the stream");
    let mut importer = Proc::shmkit(&[
        "bridge",
        "import",
        &key,
        "--as",
        dst.as_str(),
        "--connect",
        &ep,
    ]);
    importer.expect("created stream");
    let mut sub = wait_subscribe(dst.as_str()).unwrap();
    drop(first); // the exporter keeps the stream
    // Two publishers in turn, each killed with half a frame written in the ring.
    for start in [1, 6] {
        let mut dier = Proc::start(
            role_cmd("die-mid-frame", &format!("{} {start} 5", src.as_str())),
            "publisher killed mid-frame",
        );
        dier.expect("MIDFRAME");
        dier.kill9();
    }
    let mut c = Checker::default();
    c.take(&mut sub, 10, true);
    assert_eq!((c.last, c.lost), (Some(10), 0), "{c:?}");
    let mut buf = Vec::new();
    let after = sub.recv_timeout(&mut buf, Duration::from_secs(1));
    assert!(
        after.is_err(),
        "a half-written frame arrived: {:?}",
        verify(&buf)
    );
}

#[test]
fn full_hd_rgba_at_30_fps_crosses_two_bridge_processes_whole() {
    if !signals("full_hd_rgba_at_30_fps_crosses_two_bridge_processes_whole") {
        return;
    }
    let (src, dst) = (Name::new("brhs"), Name::new("brhd"));
    let ep = format!("tcp/127.0.0.1:{}", free_port());
    let key = format!("t/{}/cam", std::process::id());
    let mut exporter = Proc::shmkit(&[
        "bridge",
        "export",
        src.as_str(),
        "--key",
        &key,
        "--listen",
        &ep,
    ]);
    let mut importer = Proc::shmkit(&[
        "bridge",
        "import",
        &key,
        "--as",
        dst.as_str(),
        "--connect",
        &ep,
    ]);
    importer.expect("connected to 1 Zenoh peer");
    // As frames_pub: 1920x1080 RGBA frames filled in place, at 30 fps, for 3 s.
    let mut publisher = Proc::start(
        role_cmd(
            "publish",
            &format!("{} 30 {} overwrite 3", src.as_str(), 1920 * 1080 * 4),
        ),
        "publisher",
    );
    publisher.expect("READY");
    exporter.expect("exporting the stream");
    importer.expect("created stream");
    let mut sub = wait_subscribe(dst.as_str()).unwrap();
    let mut c = Checker::default();
    let mut buf = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        match sub.recv_timeout(&mut buf, Duration::from_millis(500)) {
            Ok(got) => {
                assert_eq!(got.len, 1920 * 1080 * 4);
                c.check(&buf, got.lost, true).unwrap();
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => panic!("{e}"),
        }
    }
    let sent = publisher.expect("SENT");
    eprintln!(
        "1080p RGBA: {sent} published, {} received whole and in order, {} lost",
        c.frames, c.lost
    );
    assert!(c.frames >= 10, "{c:?}");
}

#[test]
fn the_command_line_says_what_is_wrong() {
    if !signals("the_command_line_says_what_is_wrong") {
        return;
    }
    let busy = Name::new("brbusy");
    let _p = Publisher::create(busy.as_str(), 64).unwrap();
    let port = free_port();
    let cases: &[(&[&str], &str)] = &[
        (&["bridge", "export", "cam0", "--key", "t/*"], "wildcards"),
        (
            &["bridge", "import", "t//x", "--as", "cam0"],
            "is not a Zenoh key expression",
        ),
        (
            &["bridge", "export", "cam0", "--listen", "tcp/0.0.0.0:7447"],
            "without encryption",
        ),
        (
            &["bridge", "export", "cam0", "--connect", "10.200.0.1:7447"],
            "endpoints look like",
        ),
        (
            &["bridge", "import", "t/x", "--as", busy.as_str()],
            "has a live publisher",
        ),
        (&["bridge", "run"], "nothing to bridge"),
        (&["bridge", "run", "--import", "t/x"], "KEYEXPR=NAME"),
        (
            &["bridge", "run", "--file", "/nonexistent/bridge.conf"],
            "cannot read /nonexistent/bridge.conf",
        ),
        (
            &[
                "bridge",
                "export",
                "cam0",
                "--zenoh-config",
                "/nonexistent/z.json5",
            ],
            "/nonexistent/z.json5",
        ),
    ];
    for (args, says) in cases {
        let (code, lines) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {lines:#?}");
        assert_eq!(lines.len(), 1, "{args:?}: one line: {lines:#?}");
        assert!(lines[0].starts_with("shmkit: "), "{lines:#?}");
        assert!(
            lines[0].contains(says),
            "{args:?}: want {says:?}: {lines:#?}"
        );
    }
    // A --file line that is not an export or import names its line.
    let file = std::env::temp_dir().join(format!("shmkit-bad-{}.conf", std::process::id()));
    std::fs::write(&file, "export cam0\nimprot t/x --as y\n").unwrap();
    let (code, lines) = run(&["bridge", "run", "--file", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, Some(1), "{lines:#?}");
    assert!(lines[0].contains(".conf:2:"), "{lines:#?}");
    // Nobody at the endpoint: said, and retried until Ctrl-C.
    let ep = format!("tcp/127.0.0.1:{port}");
    let mut waiting = Proc::shmkit(&["bridge", "import", "t/x", "--as", "cam0", "--connect", &ep]);
    waiting.expect(&format!("nothing answers at {ep} (yet)"));
    let (code, lines) = waiting.interrupt();
    assert_eq!(code, Some(0), "{lines:#?}");
    // Insecure on request: a loud warning, then it runs. (An endpoint naming an interface
    // counts as off loopback; this one stays on it, so nothing listens beyond this machine.)
    let any = format!("tcp/127.0.0.1:{}#iface=lo", free_port());
    let mut insecure = Proc::shmkit(&["bridge", "export", "cam0", "--listen", &any, "--insecure"]);
    insecure.expect("INSECURE: the bridge listens on");
    insecure.expect("Ctrl-C ends");
    let (code, lines) = insecure.interrupt();
    assert_eq!(code, Some(0), "{lines:#?}");
}

// ---- two hosts --------------------------------------------------------------------------------

/// Whether this test may use network namespaces (root); required in CI
/// (`SHMKIT_REQUIRE_ROOT_TESTS`).
fn root() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let is_root = uid.is_ok_and(|u| u == "0");
    if !is_root {
        assert!(
            std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
            "SHMKIT_REQUIRE_ROOT_TESTS is set but this is not root"
        );
        eprintln!("SKIPPED: network namespaces need root");
    }
    is_root
}

#[track_caller]
fn sh(cmd: &[&str]) {
    let out = Command::new(cmd[0]).args(&cmd[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req` making a new P-256 key (unencrypted) and, as `args` say, a request or a
/// self-signed certificate (`-x509`).
fn new_key(args: &[&str]) {
    let mut cmd = vec![
        "openssl",
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    cmd.extend_from_slice(args);
    sh(&cmd);
}

/// Two network namespaces joined by a veth pair, deleted (with the pair) on drop.
struct Hosts {
    ns: [String; 2],
    veth: [String; 2],
    addr: [String; 2],
    anchors: Vec<Child>,
    dir: PathBuf,
}

impl Hosts {
    fn new() -> Hosts {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ns = [format!("shmkit-a-{id}"), format!("shmkit-b-{id}")];
        // Private test addresses, seen only inside this pair of namespaces.
        let net = std::process::id() % 250 + 1;
        let addr = [format!("10.200.{net}.1"), format!("10.200.{net}.2")];
        let dir = std::env::temp_dir().join(format!("shmkit-hosts-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        // Interface names: at most 15 characters.
        let veth = [format!("shva{id}"), format!("shvb{id}")];
        let mut hosts = Hosts {
            ns: ns.clone(),
            veth: veth.clone(),
            addr: addr.clone(),
            anchors: Vec::new(),
            dir,
        };
        for n in &ns {
            sh(&["ip", "netns", "add", n]);
        }
        sh(&[
            "ip", "link", "add", &veth[0], "netns", &ns[0], "type", "veth", "peer", "name",
            &veth[1], "netns", &ns[1],
        ]);
        for i in 0..2 {
            let n = ns[i].as_str();
            sh(&[
                "ip",
                "-n",
                n,
                "addr",
                "add",
                &format!("{}/24", addr[i]),
                "dev",
                &veth[i],
            ]);
            sh(&["ip", "-n", n, "link", "set", &veth[i], "up"]);
            sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
            // Each host's own /dev/shm: a process that lives in a private mount namespace with a
            // tmpfs there; everything of that host runs in its namespaces (nsenter).
            let mut anchor = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    n,
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                ])
                .args([
                    "sh",
                    "-c",
                    "mount -t tmpfs -o size=256m tmpfs /dev/shm && echo up && exec sleep 3600",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(anchor.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "up", "host {n} did not come up");
            hosts.anchors.push(anchor);
        }
        hosts
    }

    /// `cmd` run on host `i` (its network and its /dev/shm).
    fn on(&self, i: usize, cmd: &Command) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.anchors[i].id().to_string(), "-m", "-n", "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c
    }

    /// Makes a CA and a certificate for each host (its address as the name), with openssl.
    fn certificates(&self) -> [Vec<PathBuf>; 2] {
        let d = |f: &str| self.dir.join(f);
        let s = |p: PathBuf| p.to_str().unwrap().to_string();
        new_key(&[
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=shmkit test CA",
            "-keyout",
            &s(d("ca.key")),
            "-out",
            &s(d("ca.pem")),
        ]);
        let mut out = [Vec::new(), Vec::new()];
        for (i, host) in ["a", "b"].iter().enumerate() {
            let (key, csr, pem) = (
                d(&format!("{host}.key")),
                d(&format!("{host}.csr")),
                d(&format!("{host}.pem")),
            );
            new_key(&[
                "-subj",
                &format!("/CN={}", self.addr[i]),
                "-keyout",
                &s(key.clone()),
                "-out",
                &s(csr.clone()),
            ]);
            let ext = d(&format!("{host}.ext"));
            std::fs::write(&ext, format!("subjectAltName=IP:{}\n", self.addr[i])).unwrap();
            sh(&[
                "openssl",
                "x509",
                "-req",
                "-in",
                &s(csr),
                "-CA",
                &s(d("ca.pem")),
                "-CAkey",
                &s(d("ca.key")),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &s(ext),
                "-out",
                &s(pem.clone()),
            ]);
            out[i] = vec![d("ca.pem"), pem, key];
        }
        out
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for a in &mut self.anchors {
            let _ = a.kill();
            let _ = a.wait();
        }
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_args(files: &[PathBuf]) -> Vec<String> {
    let p = |x: &Path| x.to_str().unwrap().to_string();
    if files.is_empty() {
        return Vec::new();
    }
    vec![
        "--tls-ca".into(),
        p(&files[0]),
        "--tls-cert".into(),
        p(&files[1]),
        "--tls-key".into(),
        p(&files[2]),
    ]
}

#[test]
#[ignore = "root, iproute2 and openssl: `.ci/bridge.sh` runs it"]
fn two_hosts_in_network_namespaces_with_their_own_dev_shm_over_mutual_tls() {
    if !root() {
        return;
    }
    let hosts = Hosts::new();
    let certs = hosts.certificates();
    let (src, dst) = (Name::new("brha"), Name::new("brhb"));
    let listen = format!("tls/{}:7447", hosts.addr[0]);
    let key = "robot/cam";
    let shmkit = |args: &[String]| {
        let mut c = shmkit_cmd(&[]);
        c.args(args);
        c
    };
    let args = |v: &[&str], tls: &[PathBuf]| {
        let mut a: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        a.extend(tls_args(tls));
        a
    };
    // Plain TCP to the other host is refused without --insecure.
    let (code, lines) = Proc::start(
        hosts.on(
            1,
            &shmkit(&args(
                &[
                    "bridge",
                    "import",
                    key,
                    "--as",
                    dst.as_str(),
                    "--connect",
                    &format!("tcp/{}:7447", hosts.addr[0]),
                ],
                &[],
            )),
        ),
        "plain import",
    )
    .end();
    assert_eq!(code, Some(1), "{lines:#?}");
    assert!(lines[0].contains("without encryption"), "{lines:#?}");

    // Host A: a publisher of 256 KiB frames at 60 fps into a block stream, and its exporter.
    let mut publisher = Proc::start(
        hosts.on(
            0,
            &role_cmd("publish", &format!("{} 60 262144 block 4", src.as_str())),
        ),
        "publisher on host A",
    );
    publisher.expect("READY");
    let mut exporter = Proc::start(
        hosts.on(
            0,
            &shmkit(&args(
                &[
                    "bridge",
                    "export",
                    src.as_str(),
                    "--key",
                    key,
                    "--listen",
                    &listen,
                ],
                &certs[0],
            )),
        ),
        "exporter on host A",
    );
    exporter.expect("exporting the stream");
    // Host B: the importer connects over TLS; a checker reads the imported stream.
    let mut importer = Proc::start(
        hosts.on(
            1,
            &shmkit(&args(
                &[
                    "bridge",
                    "import",
                    key,
                    "--as",
                    dst.as_str(),
                    "--connect",
                    &listen,
                ],
                &certs[1],
            )),
        ),
        "importer on host B",
    );
    importer.expect("connected to 1 Zenoh peer");
    let mut checker = Proc::start(
        hosts.on(1, &role_cmd("check", &format!("{} 60", dst.as_str()))),
        "checker on host B",
    );
    let done = checker.expect("CHECKED");
    eprintln!("two hosts: {done}");
    let lost: u64 = done.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(lost, 0, "a block stream loses nothing: {done}");
    // Nothing crossed through shared memory: each host sees only its own segment, and this
    // machine's /dev/shm neither.
    for (i, name) in [(0, &dst), (1, &src)] {
        let mut p = Proc::start(hosts.on(i, &role_cmd("absent", name.as_str())), "absent");
        p.expect("ABSENT");
    }
    for name in [&src, &dst] {
        assert!(
            Segment::info(name.as_str()).is_err(),
            "{} leaked here",
            name.as_str()
        );
    }
    // A host without the CA's certificate is not let in.
    drop(checker);
    let stranger_files = {
        let d = hosts.dir.join("stranger");
        std::fs::create_dir_all(&d).unwrap();
        new_key(&[
            "-x509",
            "-days",
            "2",
            "-subj",
            &format!("/CN={}", hosts.addr[1]),
            "-addext",
            &format!("subjectAltName=IP:{}", hosts.addr[1]),
            "-keyout",
            d.join("s.key").to_str().unwrap(),
            "-out",
            d.join("s.pem").to_str().unwrap(),
        ]);
        vec![certs[1][0].clone(), d.join("s.pem"), d.join("s.key")]
    };
    let mut stranger = Proc::start(
        hosts.on(
            1,
            &shmkit(&args(
                &[
                    "bridge",
                    "import",
                    key,
                    "--as",
                    "cli-stranger",
                    "--connect",
                    &listen,
                ],
                &stranger_files,
            )),
        ),
        "stranger on host B",
    );
    stranger.expect("nothing answers at");
    let (code, lines) = stranger.interrupt();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("connected to")),
        "{lines:#?}"
    );
    drop((exporter, importer, publisher));
}

#[test]
#[ignore = "root, iproute2 (tc tbf): `.ci/bridge.sh` runs it"]
fn an_overwrite_stream_skips_rather_than_queues_on_a_slow_link() {
    if !root() {
        return;
    }
    let hosts = Hosts::new();
    let (src, dst) = (Name::new("broa"), Name::new("brob"));
    let listen = format!("tcp/{}:7447", hosts.addr[0]);
    // The link between the hosts carries 40 Mbit/s; the publisher makes about 125.
    sh(&[
        "ip",
        "netns",
        "exec",
        &hosts.ns[0],
        "tc",
        "qdisc",
        "add",
        "dev",
        &hosts.veth[0],
        "root",
        "tbf",
        "rate",
        "40mbit",
        "burst",
        "64kb",
        "latency",
        "100ms",
    ]);
    let shmkit = |args: &[&str]| shmkit_cmd(args);
    let mut publisher = Proc::start(
        hosts.on(
            0,
            &role_cmd(
                "publish",
                &format!("{} 60 262144 overwrite 30", src.as_str()),
            ),
        ),
        "publisher on host A",
    );
    publisher.expect("READY");
    let mut exporter = Proc::start(
        hosts.on(
            0,
            &shmkit(&[
                "bridge",
                "export",
                src.as_str(),
                "--key",
                "t/slow",
                "--listen",
                &listen,
                "--insecure",
            ]),
        ),
        "exporter",
    );
    exporter.expect("INSECURE: the bridge listens on tcp/10.200.");
    exporter.expect("exporting the stream");
    let mut importer = Proc::start(
        hosts.on(
            1,
            &shmkit(&[
                "bridge",
                "import",
                "t/slow",
                "--as",
                dst.as_str(),
                "--connect",
                &listen,
                "--insecure",
            ]),
        ),
        "importer",
    );
    importer.expect("connected to 1 Zenoh peer");
    // 40 frames (at least 2 s of the link's capacity): whole, in order, losses counted, and fresh
    // — a queue in front of a link three times too slow would make them seconds old.
    let mut checker = Proc::start(
        hosts.on(1, &role_cmd("check", &format!("{} 40", dst.as_str()))),
        "checker",
    );
    checker.expect("READY");
    let done = checker.expect("CHECKED");
    eprintln!("slow link: {done}");
    let words: Vec<u64> = done
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse().unwrap())
        .collect();
    let (frames, lost, max_age_ms) = (words[0], words[1], words[2]);
    assert_eq!(frames, 40);
    assert!(
        lost > 0,
        "the bridge dropped frames rather than queueing them: {done}"
    );
    assert!(max_age_ms < 2000, "frames stayed fresh: {done}");
    drop((exporter, importer, publisher));
}
