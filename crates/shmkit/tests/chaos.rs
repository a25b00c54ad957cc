//! The stream, the cell and the lock under pressure, with real processes and real `kill -9`,
//! each bounded in time: a lapped subscriber against a flat-out publisher keeps receiving whole
//! frames; `Block` subscribers joining and leaving while they read in place never see a torn
//! frame; publishers killed mid-loan are replaced at once with nothing torn; lock holders
//! killed mid-update are always reported; owners in another pid namespace are never judged
//! dead while they live.
//!
//! Each test is a regression for a fault of the hardening issue; the comment on each says which
//! and how the old code failed it.

mod common;

use std::time::{Duration, Instant};

use common::{recv, say, spawn, unique_name, watchdog};
use shmkit::stream::{JoinAt, Policy, StreamOptions, Subscriber};
use shmkit::{Access, ErrorKind, Segment};

const T: Duration = Duration::from_secs(30);
/// How long each chaos run lasts.
const RUN: Duration = Duration::from_millis(3000);

#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return;
    };
    match role.as_str() {
        "flat-out" => flat_out(&arg),
        "joiner" => joiner(&arg),
        "loaner" => loaner(&arg),
        "half-writer" => half_writer(&arg),
        "ns-holder" => ns_holder(&arg),
        "ns-block-sub" => {
            let mut sub = StreamOptions::new().subscribe(arg.as_str()).unwrap();
            say("JOINED");
            let mut buf = Vec::new();
            while recv().is_some() {
                let _ = sub.try_recv(&mut buf);
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A frame that checks itself: `[seq: u64][len: u32][pattern]`, pattern byte `j` = `seq * 7 + j`.
fn make_frame(seq: u64, out: &mut [u8]) {
    let len = out.len();
    out[..8].copy_from_slice(&seq.to_le_bytes());
    out[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    for (j, b) in out[12..].iter_mut().enumerate() {
        *b = (seq as usize * 7 + j) as u8;
    }
}

/// Checks a frame against the sequence number it carries itself.
fn check_self(f: &[u8]) -> Result<(), String> {
    let seq = u64::from_le_bytes(f.get(..8).ok_or("too short")?.try_into().unwrap());
    check_frame(f, seq)
}

fn check_frame(f: &[u8], seq: u64) -> Result<(), String> {
    if f.len() < 12 {
        return Err(format!("#{seq}: {} bytes", f.len()));
    }
    let s = u64::from_le_bytes(f[..8].try_into().unwrap());
    let len = u32::from_le_bytes(f[8..12].try_into().unwrap()) as usize;
    if s != seq || len != f.len() {
        return Err(format!("#{seq}: carries #{s}, length {len} of {}", f.len()));
    }
    match f[12..]
        .iter()
        .enumerate()
        .position(|(j, &b)| b != (s as usize * 7 + j) as u8)
    {
        Some(j) => Err(format!("#{seq}: torn at byte {}", 12 + j)),
        None => Ok(()),
    }
}

/// Publishes self-checking frames (`ARG` = `NAME:LEN`) as fast as it can for `RUN`, then an
/// empty end mark. Zero-copy, as `frames_pub` does: each frame is made in a loan, so the
/// publisher is always inside a frame — reserving the next (and marking the oldest gone) right
/// after committing one, with no idle time between.
fn flat_out(arg: &str) {
    let (name, len) = arg.split_once(':').unwrap();
    let len: usize = len.parse().unwrap();
    let mut p = StreamOptions::new().open_publisher(name, T).unwrap();
    say("PUBLISHING");
    let t0 = Instant::now();
    while t0.elapsed() < RUN {
        let seq = p.next_seq();
        let mut loan = p.loan(len).unwrap();
        make_frame(seq, &mut loan);
        loan.commit();
    }
    let last = p.send(b"").unwrap();
    say(format!("PUBLISHED {}", last - 1));
}

/// Fault 1, the lapped subscriber: with the old landing rule (`pos = oldest`, the very next frame
/// the publisher destroys) a subscriber that fell a ring behind a publisher with no idle time
/// jumped onto a frame being overwritten while it copied, retried, and could spin for ever
/// without returning a frame. Now it lands on the newest frame (then the tail), and receives
/// whole frames throughout: never a gap of a second, never a torn frame.
#[test]
fn a_lapped_subscriber_keeps_receiving_whole_frames_from_a_flat_out_publisher() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("lapped");
    // Frames of 60 KiB in a ring of four: one copy of a frame takes about as long as the
    // publisher takes to write one, so a lapped subscriber is overwritten while it copies.
    let creator = StreamOptions::new()
        .max_frame(60 << 10)
        .ring(256 << 10)
        .create(&name)
        .unwrap();
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    drop(creator);
    let mut publisher = spawn("flat-out", &format!("{name}:{}", 60 << 10));
    publisher.expect_line("PUBLISHING", T);
    let mut buf = Vec::new();
    let (mut received, mut lost, mut laps) = (0u64, 0u64, 0u64);
    let mut last_seq = 0;
    let mut last_frame = Instant::now();
    let mut longest_gap = Duration::ZERO;
    loop {
        let got = sub.recv_timeout(&mut buf, T).unwrap();
        let now = Instant::now();
        longest_gap = longest_gap.max(now - last_frame);
        last_frame = now;
        if buf.is_empty() {
            break;
        }
        check_frame(&buf, got.seq).unwrap();
        assert!(got.seq > last_seq, "#{} after #{last_seq}", got.seq);
        assert_eq!(got.seq, last_seq + 1 + got.lost, "losses counted exactly");
        last_seq = got.seq;
        received += 1;
        lost += got.lost;
        laps += u64::from(got.lost > 0);
        // Dawdle now and then, to fall a ring behind.
        if received % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let published = publisher
        .finish(T)
        .iter()
        .find_map(|l| {
            l.strip_prefix("PUBLISHED ")
                .map(|n| n.parse::<u64>().unwrap())
        })
        .unwrap();
    eprintln!(
        "lapped: {published} published, {received} received whole, {lost} lost in {laps} laps, \
         longest gap {longest_gap:?}"
    );
    assert!(laps > 0, "never lapped: the test proves less than it says");
    assert!(received > 20, "only {received} frames received");
    assert!(
        longest_gap < Duration::from_secs(1),
        "a gap of {longest_gap:?} without a frame: livelock"
    );
}

/// In a child: joins the `Block` stream `NAME` at its oldest frame again and again, each time
/// reading a few frames in place and checking each, until the end mark.
fn joiner(name: &str) {
    let mut joins = 0u64;
    let mut frames = 0u64;
    let mut newest = 0u64;
    'outer: loop {
        let mut sub = StreamOptions::new()
            .from(JoinAt::Oldest)
            .subscribe(name)
            .unwrap();
        joins += 1;
        // Three frames newer than any seen before, then join again (once the publisher has
        // stopped, that reads on to its end mark).
        let mut fresh = 0;
        while fresh < 3 {
            let (verdict, got) = sub
                .recv_with(T, |f| {
                    if f.is_empty() {
                        return None; // the end mark
                    }
                    // Read the frame twice, in place: a publisher overwriting it under us shows
                    // as a torn frame or two different readings.
                    let first = f.to_vec();
                    std::thread::yield_now();
                    Some((check_self(f), first == f))
                })
                .unwrap();
            let Some((whole, stable)) = verdict else {
                break 'outer;
            };
            assert!(
                stable,
                "#{}: the frame changed while read in place",
                got.seq
            );
            whole.unwrap();
            assert_eq!(got.lost, 0, "a joined Block subscriber lost a frame");
            frames += 1;
            if got.seq > newest {
                newest = got.seq;
                fresh += 1;
            }
        }
    }
    say(format!("JOINS {joins} FRAMES {frames}"));
}

/// Fault 2, the late joiner: a `Block` publisher decided the ring had room from the cursors it
/// had scanned, while a subscriber claiming a slot at the oldest frame stored a cursor behind
/// that decision and read in place — the publisher then overwrote the frame under the reader
/// (a torn frame with `lost == 0`, and a `&[u8]` changing under safe code). Now the claim and
/// the publisher's decision are a Dekker handshake. Subscribers join and leave in a loop while
/// the publisher runs flat out; none ever sees a frame change under it.
#[test]
fn block_subscribers_joining_and_leaving_never_see_a_frame_change_under_them() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("joiners");
    let creator = StreamOptions::new()
        .max_frame(4 << 10)
        .ring(16 << 10)
        .policy(Policy::Block)
        .subscribers(8)
        .create(&name)
        .unwrap();
    // Keeps the segment alive once the creator steps down for the publisher process (a raw
    // handle: a Block subscriber here would hold the publisher back).
    let _keep = shmkit::SegmentOptions::new()
        .raw(true)
        .access(Access::ReadOnly)
        .open(name.as_str())
        .unwrap();
    let mut joiners: Vec<_> = (0..3).map(|_| spawn("joiner", &name)).collect();
    drop(creator);
    let publisher = spawn("flat-out", &format!("{name}:{}", 3 << 10));
    let published = publisher
        .finish(T)
        .iter()
        .find_map(|l| {
            l.strip_prefix("PUBLISHED ")
                .map(|n| n.parse::<u64>().unwrap())
        })
        .unwrap();
    let mut total_joins = 0;
    for j in joiners.drain(..) {
        let out = j.finish(T);
        let line = out.iter().find_map(|l| l.strip_prefix("JOINS ")).unwrap();
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        total_joins += n[0];
    }
    eprintln!("joiners: {published} published, {total_joins} joins");
    assert!(total_joins > 10, "only {total_joins} joins");
}

/// In a child: becomes the publisher of `NAME`, says so, and takes a loan it fills slowly,
/// forever (until killed mid-loan).
fn loaner(name: &str) {
    let mut p = StreamOptions::new().open_publisher(name, T).unwrap();
    let seq = p.next_seq();
    let mut buf = vec![0u8; 1000];
    make_frame(seq, &mut buf);
    p.send(&buf).unwrap();
    let mut loan = p.loan(1000).unwrap();
    loan[..500].copy_from_slice(&buf[..500]);
    say("LOANED");
    common::park();
}

/// Publishers killed mid-loan are replaced within 2 s, and no torn frame ever reaches a
/// subscriber: the half-filled loan is never committed, the successor goes on from the last
/// committed frame.
#[test]
fn publishers_killed_mid_loan_are_replaced_within_two_seconds_with_nothing_torn() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("loankill");
    let creator = StreamOptions::new().max_frame(4096).create(&name).unwrap();
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    drop(creator);
    let mut buf = Vec::new();
    for round in 0..5 {
        let mut p = spawn("loaner", &name);
        p.expect_line("LOANED", T);
        let got = sub.recv_timeout(&mut buf, T).unwrap();
        check_frame(&buf, got.seq).unwrap();
        common::expect_crash();
        p.kill();
        p.wait(T);
        let t0 = Instant::now();
        let mut next = StreamOptions::new().open_publisher(&name, T).unwrap();
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "round {round}: took over after {took:?}"
        );
        assert_eq!(next.next_seq(), got.seq + 1, "the sequence goes on");
        assert!(
            sub.try_recv(&mut buf).unwrap().is_none(),
            "the loan was never published"
        );
        let mut frame = vec![0u8; 777];
        make_frame(next.next_seq(), &mut frame);
        next.send(&frame).unwrap();
        let got = sub.recv_timeout(&mut buf, T).unwrap();
        check_frame(&buf, got.seq).unwrap();
        assert_eq!(got.lost, 0);
    }
}

/// In a child: locks `NAME`, writes the first half of an update (`ARG` = `NAME:k`), says so,
/// and waits to be killed.
fn half_writer(arg: &str) {
    let (name, k) = arg.split_once(':').unwrap();
    let seg = Segment::open(name, Access::ReadWrite).unwrap();
    let g = seg.lock().unwrap();
    let k: u64 = k.parse().unwrap();
    seg.write(0, &k.to_le_bytes()).unwrap(); // the second half (offset 8) never comes
    say(format!("HALF {}", u8::from(g.owner_died())));
    common::park();
}

/// Lock holders killed mid-update are always reported as `owner_died`, at once, and the lock
/// works normally afterwards.
#[test]
fn lock_holders_killed_mid_update_are_always_reported() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("lockkill");
    let seg = Segment::create(&name, 64).unwrap();
    for k in 1..=8u64 {
        let mut child = spawn("half-writer", &format!("{name}:{k}"));
        child.expect_line("HALF", T);
        common::expect_crash();
        child.kill();
        child.wait(T);
        let t0 = Instant::now();
        let g = seg.lock_timeout(Duration::from_secs(5)).unwrap();
        assert!(g.owner_died(), "round {k}: the death was not reported");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "round {k}: took {:?}",
            t0.elapsed()
        );
        let mut b = [0u8; 16];
        seg.read(0, &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b[..8].try_into().unwrap()), k);
        seg.write(8, &k.to_le_bytes()).unwrap(); // repair
        drop(g);
        let g = seg.lock().unwrap();
        assert!(!g.owner_died(), "a clean unlock is not a death");
    }
}

/// In a child (in a new pid namespace): locks `NAME` and holds it until told to go.
fn ns_holder(name: &str) {
    let seg = Segment::open(name, Access::ReadWrite).unwrap();
    let _g = seg.lock().unwrap();
    say(format!("HOLDING as pid {}", std::process::id()));
    let _ = recv();
}

/// Runs this test binary in `role` inside a new pid namespace (`unshare --pid --fork`, as root),
/// or `None` where that cannot be done here.
fn in_pid_namespace(role: &str, arg: &str) -> Option<common::Proc> {
    if shmkit::test_support::BACKEND != "linux" {
        return None;
    }
    let ok = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("\n*** SKIPPED: cannot make a pid namespace here (needs root) ***\n");
        assert!(
            std::env::var_os("SHMKIT_REQUIRE_ROOT_TESTS").is_none(),
            "SHMKIT_REQUIRE_ROOT_TESTS is set but a pid namespace could not be made"
        );
        return None;
    }
    let inner = common::self_command(role, arg);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child"])
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    Some(common::spawn_cmd(cmd, role))
}

/// Fault 5, liveness across pid namespaces: containers that share `/dev/shm` but not pids made a
/// live lock owner look dead (its pid means nothing here, or another process), so two writers
/// held the lock at once. Now the owner proves it lives with a lock the kernel keeps for its
/// open file description, whatever its pid namespace: the lock is not taken from it while it
/// lives, and is at once when it dies.
#[test]
fn an_owner_in_another_pid_namespace_is_not_judged_dead_while_it_lives() {
    let _w = watchdog(T);
    let name = unique_name("pidns");
    let seg = Segment::create(&name, 64).unwrap();
    let Some(mut child) = in_pid_namespace("ns-holder", &name) else {
        return;
    };
    let line = child.expect_line("HOLDING", T);
    eprintln!("pidns: the holder says {line} (in its namespace)");
    // Alive: the lock stays its own, for as long as we care to wait (longer than a few
    // liveness slices).
    let e = seg.lock_timeout(Duration::from_millis(400)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(seg.try_lock().unwrap().is_none(), "taken from a live owner");
    // Dead: taken over at once, and told.
    common::expect_crash();
    child.kill();
    child.wait(T);
    let g = seg.lock_timeout(Duration::from_secs(5)).unwrap();
    assert!(g.owner_died());
}

/// Fault 5 for streams: a `Block` publisher freed the slot of a live subscriber of another pid
/// namespace (its pid looked dead here) and overwrote what it was reading. Now it waits for it.
#[test]
fn a_block_subscriber_in_another_pid_namespace_is_waited_for_while_it_lives() {
    let _w = watchdog(T);
    let name = unique_name("pidnsb");
    let mut p = StreamOptions::new()
        .max_frame(96)
        .ring(1024)
        .policy(Policy::Block)
        .create(&name)
        .unwrap();
    let Some(mut child) = in_pid_namespace("ns-block-sub", &name) else {
        return;
    };
    child.expect_line("JOINED", T);
    assert_eq!(
        p.subscribers(),
        1,
        "the subscriber of the other namespace counts"
    );
    let frame = [1u8; 96];
    while p.try_send(&frame).unwrap().is_some() {}
    // Full: the live subscriber holds the publisher back, across several liveness slices.
    let e = p
        .send_timeout(&frame, Duration::from_millis(400))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(p.subscribers(), 1, "its slot was not freed");
    common::expect_crash();
    child.kill();
    child.wait(T);
    p.send_timeout(&frame, Duration::from_secs(5)).unwrap();
    assert_eq!(p.subscribers(), 0);
}

/// Subscribers never outlive the test's segments (nothing left in /dev/shm).
#[test]
fn a_subscriber_to_nothing_is_not_found() {
    let e = Subscriber::open(unique_name("nothing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}
