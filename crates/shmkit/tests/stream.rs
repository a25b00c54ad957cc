//! The stream across real processes: several subscribers checking every frame over a long run
//! with exact loss counts, `Block` resuming after a subscriber is killed, publisher takeover,
//! zero-copy loans, and control blocks and frames that lie.

mod common;

use std::time::{Duration, Instant};

use common::{recv, say, spawn, unique_name, watchdog};
use shmkit::stream::{JoinAt, Policy, Publisher, StreamOptions, Subscriber};
use shmkit::{ErrorKind, Segment, SegmentOptions};

const T: Duration = Duration::from_secs(30);
const RUN: Duration = Duration::from_millis(2500);

#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return;
    };
    match role.as_str() {
        "checker" => checker(&arg),
        "publisher" => publisher(&arg),
        "block-sub" => {
            // Joins a Block stream and reads only when told to: holds the publisher back.
            let mut sub = StreamOptions::new()
                .from(JoinAt::Oldest)
                .subscribe(arg.as_str())
                .unwrap();
            say("JOINED");
            let mut buf = Vec::new();
            while let Some(line) = recv() {
                let n: usize = line.parse().unwrap();
                for _ in 0..n {
                    sub.recv_timeout(&mut buf, T).unwrap();
                }
                say(format!("READ {n} LOST {}", sub.lost()));
            }
        }
        "hold-publisher" => {
            let mut p = StreamOptions::new()
                .open_publisher(arg.as_str(), T)
                .unwrap();
            p.send(b"from the first publisher").unwrap();
            say(format!("PUBLISHING {}", p.next_seq()));
            common::park();
        }
        other => panic!("unknown role {other}"),
    }
}

/// A frame that checks itself: `[seq: u64][len: u32][pattern]`, pattern byte `j` = `seq * 7 + j`.
fn make_frame(seq: u64, len: usize, out: &mut [u8]) {
    out[..8].copy_from_slice(&seq.to_le_bytes());
    out[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    for (j, b) in out[12..len].iter_mut().enumerate() {
        *b = (seq as usize * 7 + j) as u8;
    }
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

/// Publishes self-checking frames of random length for `RUN`, as fast as it can (copying, or in
/// place through loans every other frame); then one empty frame as the end mark.
fn publisher(name: &str) {
    let mut p = StreamOptions::new().open_publisher(name, T).unwrap();
    let max = p.max_frame();
    let mut rng = 0x853c_49e6_748f_ea9bu64;
    let t0 = Instant::now();
    let mut buf = vec![0u8; max];
    while t0.elapsed() < RUN {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let len = 12 + rng as usize % (max - 12);
        let seq = p.next_seq();
        if rng % 2 == 0 {
            make_frame(seq, len, &mut buf);
            assert_eq!(p.send(&buf[..len]).unwrap(), seq);
        } else {
            let mut loan = p.loan(len).unwrap();
            make_frame(seq, len, &mut loan);
            assert_eq!(loan.commit(), seq);
        }
    }
    let last = p.send(b"").unwrap();
    say(format!("PUBLISHED {}", last - 1));
}

/// Subscribes from the oldest frame and checks every frame until the end mark: each whole, each
/// `seq` = the previous + 1 + the frames reported lost. Sometimes dawdles, to be lapped.
fn checker(arg: &str) {
    let (name, slow) = arg.split_once(':').unwrap();
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(name)
        .unwrap();
    say("READY");
    let (mut received, mut lost_events, mut last) = (0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        let got = sub.recv_timeout(&mut buf, T).unwrap();
        if got.lost > 0 {
            lost_events += 1;
        }
        assert_eq!(
            got.seq,
            last + 1 + got.lost,
            "lost count inexact after #{last}"
        );
        last = got.seq;
        if buf.is_empty() {
            break;
        }
        check_frame(&buf, got.seq).unwrap();
        received += 1;
        if slow == "slow" && received % 200 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    say(format!(
        "RECEIVED {received} LOST {} EVENTS {lost_events} LAST {last}",
        sub.lost()
    ));
}

fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn subscribers_check_every_frame_and_count_losses_exactly() {
    let _w = watchdog(Duration::from_secs(90));
    let name = unique_name("sfull");
    // A small ring (Overwrite) so the slow subscriber gets lapped. Our subscription keeps the
    // stream alive once its creator steps down for the publisher process.
    let creator = StreamOptions::new()
        .max_frame(6000)
        .ring(64 << 10)
        .create(&name)
        .unwrap();
    let _keeper = Subscriber::open(&name).unwrap();
    drop(creator);
    let mut checkers: Vec<_> = ["fast", "slow", "slow"]
        .iter()
        .map(|speed| spawn("checker", &format!("{name}:{speed}")))
        .collect();
    for c in &mut checkers {
        c.expect_line("READY", T);
    }
    let publisher = spawn("publisher", &name);
    let published = numbers(
        publisher
            .finish(T)
            .iter()
            .find(|l| l.starts_with("PUBLISHED"))
            .unwrap(),
    )[0];
    let mut any_lapped = false;
    for c in checkers {
        let role = c.role.clone();
        let out = c.finish(T);
        let f = numbers(out.iter().find(|l| l.starts_with("RECEIVED")).unwrap());
        let (received, lost, events, last) = (f[0], f[1], f[2], f[3]);
        eprintln!(
            "stream: {published} published; {role}: {received} received, {lost} lost in {events} laps"
        );
        assert_eq!(
            received + lost,
            published,
            "every frame either received or counted lost"
        );
        assert_eq!(last, published + 1, "ends at the end mark");
        any_lapped |= lost > 0;
    }
    assert!(published > 1000, "only {published} frames");
    assert!(
        any_lapped,
        "the slow subscribers were never lapped: the test proves less than it says"
    );
}

#[test]
fn block_loses_nothing_and_resumes_when_the_slow_subscriber_is_killed() {
    let _w = watchdog(T);
    let name = unique_name("sblock");
    let mut p = StreamOptions::new()
        .max_frame(64)
        .ring(1024)
        .policy(Policy::Block)
        .create(&name)
        .unwrap();
    let mut sub = spawn("block-sub", &name);
    sub.expect_line("JOINED", T);
    assert_eq!(p.subscribers(), 1);
    // The ring holds 8 frames of 128 bytes, less the header after the newest: 7. The
    // subscriber reads nothing: the 8th must wait.
    let frame = [5u8; 64];
    let mut sent = 0;
    while p.try_send(&frame).unwrap().is_some() {
        sent += 1;
        assert!(sent <= 7, "Block overwrote an unread frame");
    }
    assert_eq!(sent, 7);
    let e = p
        .send_timeout(&frame, Duration::from_millis(50))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    // It reads 5: room for 5 more, and it lost nothing.
    sub.send("5");
    assert_eq!(sub.expect_line("READ 5", T), "LOST 0");
    for _ in 0..5 {
        p.send_timeout(&frame, T).unwrap();
    }
    assert!(p.try_send(&frame).unwrap().is_none());
    // Killed: within about 100 ms its slot is dropped and the publisher goes on.
    sub.kill();
    sub.wait(T);
    let t0 = Instant::now();
    p.send_timeout(&frame, Duration::from_secs(5)).unwrap();
    eprintln!("block: publisher resumed {:?} after the kill", t0.elapsed());
    assert_eq!(p.subscribers(), 0);
    for _ in 0..20 {
        p.try_send(&frame)
            .unwrap()
            .expect("nobody holds it back any more");
    }
}

#[test]
fn one_publisher_at_a_time_and_a_dead_ones_successor_goes_on() {
    let _w = watchdog(T);
    let name = unique_name("spub");
    let creator = StreamOptions::new().create(&name).unwrap();
    let _keeper = Subscriber::open(&name).unwrap();
    drop(creator);
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    let mut first = spawn("hold-publisher", &name);
    first.expect_line("PUBLISHING", T);
    let e = StreamOptions::new()
        .open_publisher(&name, Duration::from_millis(50))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(
        e.to_string()
            .contains(&format!("process {} publishes to it", first.pid())),
        "{e}"
    );
    first.kill();
    first.wait(T);
    let mut next = StreamOptions::new().open_publisher(&name, T).unwrap();
    assert_eq!(
        next.send(b"from the second").unwrap(),
        2,
        "sequence numbers go on"
    );
    let mut buf = Vec::new();
    assert_eq!(sub.recv_timeout(&mut buf, T).unwrap().seq, 1);
    assert_eq!(buf, b"from the first publisher");
    let got = sub.recv_timeout(&mut buf, T).unwrap();
    assert_eq!(
        (got.seq, got.lost, &buf[..]),
        (2, 0, &b"from the second"[..])
    );
}

#[test]
fn loans_abandoned_or_committed_and_in_place_reads() {
    let name = unique_name("sloan");
    let mut p = Publisher::create(&name, 4096).unwrap();
    let mut sub = Subscriber::open(&name).unwrap();
    {
        let mut loan = p.loan(10).unwrap();
        loan.copy_from_slice(b"abandoned!");
    } // dropped: never published
    let mut loan = p.loan(5).unwrap();
    loan.copy_from_slice(b"kept!");
    assert_eq!(loan.commit(), 1);
    let (text, got) = sub
        .recv_with(T, |bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap();
    assert_eq!((text.as_str(), got.seq, got.len), ("kept!", 1, 5));
    assert!(sub.try_recv(&mut Vec::new()).unwrap().is_none());
    let e = p.send(&vec![0; 4097]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSize);
    assert!(p.loan(4097).is_err());
    // Empty frames are frames.
    assert_eq!(p.send(b"").unwrap(), 2);
    assert_eq!(sub.recv_timeout(&mut Vec::new(), T).unwrap().len, 0);
    let e = sub
        .recv_timeout(&mut Vec::new(), Duration::from_millis(30))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

/// A binding keeps the mapping of a frame it handed out (`shared_segment`) and drops its
/// subscriber: the slot is free at once, so a `Block` publisher that the held frame stopped goes
/// on filling the ring, and the frame's bytes stay readable (no longer protected).
#[test]
fn a_shared_segment_keeps_a_detached_frame_mapped_but_nobody_waiting() {
    let name = unique_name("sshared");
    let mut p = StreamOptions::new()
        .policy(Policy::Block)
        .max_frame(1024)
        .ring(8192)
        .create(&name)
        .unwrap();
    let mut sub = StreamOptions::new().subscribe(&name).unwrap();
    p.send(&[7; 1000]).unwrap();
    let frame = sub.recv_view(T).unwrap().detach();
    let mut sent = 0;
    while p.try_send(&[1; 1000]).unwrap().is_some() {
        sent += 1;
        assert!(sent < 100, "the held frame never stopped the publisher");
    }
    let mapping = sub.shared_segment();
    drop(sub);
    assert_eq!(p.subscribers(), 0);
    for i in 0..3 * sent {
        assert!(
            p.try_send(&[2; 1000]).unwrap().is_some(),
            "frame {i}: held back by a subscriber that left"
        );
    }
    // SAFETY: `mapping` keeps the ring, and so the frame's bytes, mapped.
    let bytes = unsafe { shmkit::SharedBytes::from_raw_parts(frame.as_ptr(), frame.len()) };
    assert_eq!(
        bytes.to_vec(),
        [2; 1000],
        "readable: the publisher's newer bytes"
    );
    assert_eq!(mapping.name().to_string(), name);
}

#[test]
fn skipped_frames_count_as_lost_for_subscribers_already_there() {
    for policy in [Policy::Overwrite, Policy::Block] {
        let name = unique_name("sskip");
        let mut p = StreamOptions::new().policy(policy).create(&name).unwrap();
        let mut early = Subscriber::open(&name).unwrap();
        let mut buf = Vec::new();
        assert_eq!(p.send(b"one").unwrap(), 1);
        p.skip(3).unwrap();
        assert_eq!(p.next_seq(), 5);
        assert_eq!(
            early.lag(),
            4,
            "{policy}: one frame to read, three that never come"
        );
        let mut late = Subscriber::open(&name).unwrap();
        assert_eq!(p.send(b"five").unwrap(), 5);
        let got = early.recv_timeout(&mut buf, T).unwrap();
        assert_eq!((got.seq, got.lost, &buf[..]), (1, 0, &b"one"[..]));
        let got = early.recv_timeout(&mut buf, T).unwrap();
        assert_eq!(
            (got.seq, got.lost, &buf[..]),
            (5, 3, &b"five"[..]),
            "{policy}"
        );
        assert_eq!(early.lost(), 3);
        let got = late.recv_timeout(&mut buf, T).unwrap();
        assert_eq!(
            (got.seq, got.lost),
            (5, 0),
            "{policy}: joined after the skip"
        );
        let Some(shmkit::Details::Stream(d)) = Segment::info(&name).unwrap().details else {
            panic!("a stream's details");
        };
        assert_eq!(
            (d.frames, d.next_seq),
            (2, 6),
            "{policy}: numbers without frames show"
        );
        // Nothing skipped: nothing lost.
        p.skip(0).unwrap();
        assert_eq!(p.send(b"six").unwrap(), 6);
        assert_eq!(early.recv_timeout(&mut buf, T).unwrap().lost, 0);
        let e = p.skip(u64::MAX - 3).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(p.next_seq(), 7, "a refused skip changes nothing");
    }
}

#[test]
fn a_subscriber_knows_the_geometry_of_its_stream() {
    let name = unique_name("sgeo");
    let p = StreamOptions::new()
        .max_frame(5000)
        .ring(1 << 20)
        .policy(Policy::Block)
        .create(&name)
        .unwrap();
    let sub = Subscriber::open(&name).unwrap();
    assert_eq!(
        (sub.max_frame(), sub.ring_len(), sub.policy()),
        (5000, 1 << 20, Policy::Block)
    );
    assert_eq!(sub.ring_len(), p.ring_len());
}

#[test]
fn bad_options_are_clear_errors() {
    let name = unique_name("sopts");
    for opts in [
        StreamOptions::new().max_frame(0),
        StreamOptions::new().max_frame(1000).ring(1024),
        StreamOptions::new().subscribers(0),
        StreamOptions::new().subscribers(5000),
    ] {
        let e = opts.create(&name).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSize, "{e}");
    }
    let e = Subscriber::open(unique_name("smissing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let _cell = shmkit::Cell::create(&name, 8).unwrap();
    assert_eq!(
        Subscriber::open(&name).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
}

// ---- control blocks and frames that lie ------------------------------------------------------

/// Byte offsets: the stream control block starts after the 512-byte header; the publisher's
/// line, then `oldest`'s, then the configuration's.
const TAIL: usize = 512;
const OLDEST: usize = 512 + 64;
const RING_LEN: usize = 512 + 128;
const MAX_FRAME: usize = 512 + 136;
const POLICY: usize = 512 + 144;

fn patch(name: &str, off: usize, v: u64) {
    SegmentOptions::new()
        .raw(true)
        .open(name)
        .unwrap()
        .write(off, &v.to_le_bytes())
        .unwrap();
}

/// A stream holding two frames, its publisher gone; the returned subscriber keeps it alive.
fn lying_stream(tag: &str) -> (String, Subscriber, u64) {
    let name = unique_name(tag);
    let mut p = StreamOptions::new()
        .max_frame(100)
        .ring(4096)
        .create(&name)
        .unwrap();
    p.send(b"one").unwrap();
    p.send(b"two").unwrap();
    let keeper = Subscriber::open(&name).unwrap();
    drop(p);
    let data_offset = shmkit::Segment::info(&name).unwrap().data_offset.unwrap();
    (name, keeper, data_offset)
}

#[test]
fn lying_geometry_is_corrupt_at_open() {
    for (tag, off, v) in [
        ("sring", RING_LEN, 3000u64),
        ("sring2", RING_LEN, 1 << 40),
        ("smax", MAX_FRAME, 4096),
        ("smax0", MAX_FRAME, 0),
        // Regression: a maximum that wraps to a tiny frame size once the header is added was
        // accepted, and a loan then reached far past the ring.
        ("smaxwrap", MAX_FRAME, u64::MAX - 15),
        ("spolicy", POLICY, 9),
    ] {
        let (name, _c, _) = lying_stream(tag);
        patch(&name, off, v);
        let e = Subscriber::open(&name).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{tag}: {e}");
    }
}

#[test]
fn lying_positions_and_frames_are_corrupt_when_read() {
    // A tail far past the end of anything written.
    let (name, _c, _) = lying_stream("stail");
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    patch(&name, TAIL, 1 << 50);
    // The frames committed before are still read (their commit markers hold); then the tail.
    let e = (0..3)
        .find_map(|_| sub.try_recv(&mut Vec::new()).err())
        .expect("an error");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // An oldest past the tail, for good.
    let (name, _c2, _) = lying_stream("soldest");
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    patch(&name, OLDEST, 1 << 20);
    assert_eq!(
        sub.try_recv(&mut Vec::new()).unwrap_err().kind(),
        ErrorKind::Corrupt
    );

    // A frame whose length runs beyond the ring, and one of an unknown kind.
    let (name, _c3, data) = lying_stream("sflen");
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    patch(&name, data as usize, u64::from(u32::MAX));
    let e = sub.try_recv(&mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.to_string().contains("length 4294967295"), "{e}");
    patch(&name, data as usize, 3 | 7 << 32);
    assert_eq!(
        sub.try_recv(&mut Vec::new()).unwrap_err().kind(),
        ErrorKind::Corrupt
    );

    // An unaligned tail.
    let (name, _c4, _) = lying_stream("saligned");
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    patch(&name, OLDEST, 3);
    patch(&name, TAIL, 131);
    // Frames whose commit markers hold may still be read; the positions, once needed, are not.
    let e = (0..3)
        .find_map(|_| sub.try_recv(&mut Vec::new()).err())
        .expect("an error");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // A spinning subscriber that joins at that tail: the wait reports it, it does not spin on
    // (or index by) a position no frame can have.
    let mut spinner = StreamOptions::new()
        .spin(Duration::from_millis(1))
        .subscribe(&name)
        .unwrap();
    let e = spinner
        .recv_timeout(&mut Vec::new(), Duration::from_millis(50))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    drop(spinner);

    // A publisher repairs what it can and goes on.
    let mut p = StreamOptions::new().open_publisher(&name, T).unwrap();
    p.send(b"repaired").unwrap();
    let mut fresh = Subscriber::open(&name).unwrap();
    p.send(b"again").unwrap();
    let mut buf = Vec::new();
    fresh.recv_timeout(&mut buf, T).unwrap();
    assert_eq!(buf, b"again");
}

/// Regression: joining at the oldest frame read a header at an unaligned `oldest` and panicked;
/// a sequence number at the top of the range overflowed.
#[test]
fn lying_positions_at_join_and_huge_sequence_numbers_do_not_panic() {
    let (name, _c, data) = lying_stream("sjoin");
    patch(&name, OLDEST, 3);
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    assert_eq!(
        sub.try_recv(&mut Vec::new()).unwrap_err().kind(),
        ErrorKind::Corrupt
    );

    let (name, _c2, data2) = lying_stream("sseq");
    let _ = data;
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    patch(&name, data2 as usize + 8, u64::MAX); // the first frame's seq
    let got = sub.try_recv(&mut Vec::new()).unwrap().unwrap();
    assert_eq!(got.seq, u64::MAX);
    let _ = sub.try_recv(&mut Vec::new());
}

/// A subscriber that does not hold a `Block` stream's publisher back (a viewer): the publisher
/// laps it without waiting, it learns how many frames it lost, and what it reads is whole and
/// checked; a holding subscriber next to it still makes the publisher wait.
#[test]
fn a_subscriber_that_does_not_hold_never_slows_a_block_publisher() {
    let name = unique_name("shold");
    let mut p = StreamOptions::new()
        .max_frame(1024)
        .ring(4096)
        .policy(Policy::Block)
        .subscribers(1)
        .create(&name)
        .unwrap();
    let mut viewer = StreamOptions::new().hold(false).subscribe(&name).unwrap();
    // It takes no slot: the stream's only slot is still free for a holding subscriber.
    assert_eq!(p.subscribers(), 0);
    let mut frame = [0u8; 1000];
    for seq in 1..=20u64 {
        frame.fill(seq as u8);
        // Never waits: 20 frames of 1 KiB through a 4 KiB ring, nobody reading.
        assert_eq!(
            p.send_timeout(&frame, Duration::from_millis(50)).unwrap(),
            seq
        );
    }
    let mut buf = Vec::new();
    let got = viewer.recv_timeout(&mut buf, T).unwrap();
    assert!(got.lost > 0 && got.seq > 1, "{got:?}");
    assert_eq!(
        got.seq - 1,
        got.lost,
        "every frame before it is counted as lost"
    );
    assert!(buf.iter().all(|&b| b == got.seq as u8), "a whole frame");
    // Its in-place views are shared bytes, checked after reading.
    p.send(&[21u8; 10]).unwrap();
    viewer.seek_newest();
    let view = viewer.recv_view(T).unwrap();
    assert!(view.as_slice().is_none());
    assert_eq!(view.bytes().to_vec(), [21u8; 10]);
    assert!(view.is_intact());
    drop(view);

    // A holding subscriber takes the slot, and the publisher waits for it.
    let _holder = StreamOptions::new().subscribe(&name).unwrap();
    assert_eq!(p.subscribers(), 1);
    let mut waited = false;
    for _ in 0..8 {
        if p.send_timeout(&frame, Duration::from_millis(50)).is_err() {
            waited = true;
            break;
        }
    }
    assert!(
        waited,
        "a holding subscriber that does not read fills the ring"
    );
}

/// Regression: `create_or_open_publisher` silently took whatever existed — a process asking for
/// a Block stream of 1 MiB frames got an Overwrite stream of 64 KiB frames, and failed or lost
/// frames later. Now what it asked for is compared, and a mismatch names both sides.
#[test]
fn create_or_open_publisher_refuses_a_stream_that_cannot_carry_what_was_asked() {
    let name = unique_name("sfits");
    let existing = StreamOptions::new()
        .max_frame(64 << 10)
        .create(&name)
        .unwrap();
    let keep = Subscriber::open(&name).unwrap();
    drop(existing);
    let e = StreamOptions::new()
        .max_frame(1 << 20)
        .policy(Policy::Block)
        .create_or_open_publisher(&name, T)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("frames of up to 65536 bytes, not 1048576"),
        "{msg}"
    );
    assert!(msg.contains("policy overwrite, not block"), "{msg}");
    // What fits is taken: smaller frames, the same policy, unset options.
    let p = StreamOptions::new()
        .max_frame(1000)
        .policy(Policy::Overwrite)
        .create_or_open_publisher(&name, T)
        .unwrap();
    assert_eq!(p.max_frame(), 64 << 10);
    drop(p);
    let e = StreamOptions::new()
        .format("rgba8:2x2".parse().unwrap())
        .create_or_open_publisher(&name, T)
        .unwrap_err();
    assert!(e.to_string().contains("format none, not rgba8:2x2"), "{e}");
    drop(keep);
}

/// Positions no stream reaches (a crafted control block near 2^64) are `Corrupt` for a
/// publisher taking it over, never a panic or a wrap-around (even in debug builds).
#[test]
fn a_publisher_refuses_impossible_positions() {
    let (name, _keep, _) = lying_stream("shuge");
    patch(&name, TAIL, u64::MAX - 63);
    let e = StreamOptions::new().open_publisher(&name, T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("impossible"), "{e}");
    // A scribbled sequence number near the top, likewise.
    let (name, _keep2, _) = lying_stream("sseqtop");
    patch(&name, TAIL + 16, u64::MAX);
    let e = StreamOptions::new().open_publisher(&name, T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

/// The API a viewer and a pipeline need: skip to the newest frame, see the lag, read in place
/// on an Overwrite stream without a hidden copy, bounded loans, loans committed shorter, typed
/// frames.
#[test]
fn seek_newest_lag_views_and_bounded_loans() {
    let name = unique_name("sapi");
    let mut p = StreamOptions::new()
        .max_frame(1000)
        .ring(16 << 10)
        .create(&name)
        .unwrap();
    let mut sub = StreamOptions::new()
        .from(JoinAt::Oldest)
        .subscribe(&name)
        .unwrap();
    for i in 0..5u8 {
        p.send(&[i; 10]).unwrap();
    }
    assert_eq!(sub.lag(), 5);
    assert_eq!(sub.seek_newest(), 4, "skipped four frames");
    assert_eq!(sub.lag(), 1);
    let view = sub.recv_view(T).unwrap();
    assert_eq!(view.received().seq, 5);
    assert!(view.as_slice().is_none(), "no &[u8] on an Overwrite stream");
    assert_eq!(view.bytes().to_vec(), [4u8; 10]);
    assert!(view.is_intact());
    assert!(
        view.received().time_ns > 0,
        "frames carry their publish time"
    );
    view.release().unwrap();
    assert_eq!(sub.lag(), 0);
    assert_eq!(sub.lost(), 0, "skipped frames are not lost ones");
    // A view the publisher laps is reported, not silently torn.
    p.send(&[9; 10]).unwrap();
    let view = sub.recv_view(T).unwrap();
    let frame = view.detach();
    for _ in 0..40 {
        p.send(&[7; 1000]).unwrap();
    }
    assert!(!sub.is_intact(&frame));
    assert_eq!(
        sub.release(frame).unwrap_err().kind(),
        ErrorKind::Overwritten
    );
    // Loans: committed shorter (an encoder that knows its size at the end).
    let mut loan = p.loan(1000).unwrap();
    loan[..3].copy_from_slice(b"abc");
    let seq = loan.commit_len(3).unwrap();
    sub.seek_newest();
    let mut buf = Vec::new();
    let got = sub.recv_timeout(&mut buf, T).unwrap();
    assert_eq!((got.seq, &buf[..]), (seq, &b"abc"[..]));
    assert_eq!(
        p.loan(10).unwrap().commit_len(11).unwrap_err().kind(),
        ErrorKind::InvalidSize
    );
    drop(sub);
    drop(p);

    // Bounded loans on a full Block stream.
    let name = unique_name("sbloan");
    let mut p = StreamOptions::new()
        .max_frame(96)
        .ring(1024)
        .policy(Policy::Block)
        .create(&name)
        .unwrap();
    let _slow = Subscriber::open(&name).unwrap();
    while p.try_send(&[1; 96]).unwrap().is_some() {}
    assert!(p.try_loan(96).unwrap().is_none(), "full");
    let e = p.loan_timeout(96, Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

/// Typed frames: one plain-old-data value per frame, its size checked.
#[test]
fn typed_frames() {
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Sample {
        t: f64,
        v: u32,
        ch: u32,
    }
    let name = unique_name("styped");
    let mut p = shmkit::stream::TypedPublisher::<Sample>::create(&name).unwrap();
    let mut s = shmkit::stream::TypedSubscriber::<Sample>::open(&name).unwrap();
    let mut wrong = shmkit::stream::TypedSubscriber::<u8>::open(&name).unwrap();
    p.send(&Sample {
        t: 1.5,
        v: 7,
        ch: 2,
    })
    .unwrap();
    let got = s.recv_timeout(T).unwrap();
    assert_eq!((got.data.v, got.received.seq), (7, 1));
    assert_eq!(
        wrong.try_recv().unwrap_err().kind(),
        ErrorKind::Incompatible
    );
}

/// Frames of every length from 0 to past the small-frame limit (32 bytes share their header's
/// line and take the small-frame paths; larger ones the general paths), in both policies and
/// with a maximum below that limit: each arrives whole, in order, through `recv_timeout`,
/// `try_recv` and `recv_with` alike, across several laps of a small ring.
#[test]
fn frames_on_both_sides_of_the_small_frame_limit_arrive_whole() {
    for (policy, max) in [
        (Policy::Overwrite, 64),
        (Policy::Block, 64),
        (Policy::Overwrite, 20),
    ] {
        let name = unique_name("smallbig");
        let mut p = StreamOptions::new()
            .max_frame(max)
            .ring(4096)
            .policy(policy)
            .spin(Duration::from_micros(50))
            .create(&name)
            .unwrap();
        let mut s = StreamOptions::new()
            .spin(Duration::from_micros(50))
            .subscribe(&name)
            .unwrap();
        let mut buf = Vec::new();
        let mut frame = vec![0u8; max];
        for i in 0..2000u64 {
            let len = (i as usize * 7) % (max + 1);
            for (j, b) in frame[..len].iter_mut().enumerate() {
                *b = (i as usize + j) as u8;
            }
            let seq = p.send(&frame[..len]).unwrap();
            assert_eq!(seq, i + 1);
            let (got, r) = match i % 3 {
                0 => {
                    let r = s.recv_timeout(&mut buf, Duration::from_secs(5)).unwrap();
                    (buf.clone(), r)
                }
                1 => {
                    let r = s.try_recv(&mut buf).unwrap().expect("a frame");
                    (buf.clone(), r)
                }
                _ => s.recv_with(Duration::from_secs(5), |b| b.to_vec()).unwrap(),
            };
            assert_eq!((r.seq, r.len, r.lost), (seq, len, 0), "{policy} max {max}");
            assert_eq!(got, &frame[..len], "{policy} max {max} frame {i}");
        }
    }
}
