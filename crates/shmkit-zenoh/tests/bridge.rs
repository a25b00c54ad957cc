//! Two bridges in one process, each with its own Zenoh session, connected over real TCP sockets on
//! loopback with explicit endpoints and no scouting: frames and values cross whole and in order,
//! losses are counted on the far side, late importers get a cell's value, independent Zenoh
//! programs read and write the keys, and bad input is a clear error.
//!
//! (The `shmkit bridge` processes, kill -9, restarts and the two-host test with network
//! namespaces are in the CLI's tests.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmkit::stream::{Policy, Publisher, Received, StreamOptions, Subscriber};
use shmkit::{Access, Cell, CellOptions, Format, Pixel, Segment, SegmentOptions};
use shmkit_zenoh::wire::{Meta, SampleKind};
use shmkit_zenoh::zenoh::{self, Wait};
use shmkit_zenoh::{Bridge, ErrorKind, Export, Import, LocalKind, NetOptions};

/// Long enough for anything that works; a hang fails instead of blocking CI.
const T: Duration = Duration::from_secs(20);

/// A segment name unique to this process and call, removed when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Name(format!("t-zb-{tag}-{}-{n}", std::process::id()))
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = Segment::remove(self.0.as_str());
    }
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An exporting side listening on a fresh loopback port, and its endpoint.
fn listener() -> (Bridge, String) {
    let ep = format!("tcp/127.0.0.1:{}", free_port());
    (Bridge::open(&NetOptions::new().listen(&ep)).unwrap(), ep)
}

/// A side that connects to `ep`, once connected.
fn connector(ep: &str) -> Bridge {
    let b = Bridge::open(&NetOptions::new().connect(ep)).unwrap();
    until("connected", || !b.connected().is_empty());
    b
}

/// Waits (at most `T`) for `cond`.
#[track_caller]
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < end, "not {what} within {T:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for an event of `b` whose text has `text`; fails on a fatal one.
#[track_caller]
fn event(b: &Bridge, text: &str) {
    let end = Instant::now() + T;
    while Instant::now() < end {
        if let Some(e) = b.next_event(Duration::from_millis(50)) {
            assert!(e.error.is_none(), "fatal: {e}");
            if e.text.contains(text) {
                return;
            }
        }
    }
    panic!("no event saying {text:?} within {T:?}");
}

/// Opens a stream that another thread is about to create.
fn subscribe(name: &Name) -> Subscriber {
    let mut sub = None;
    until("the imported stream exists", || {
        sub = Subscriber::open(name.as_str()).ok();
        sub.is_some()
    });
    sub.unwrap()
}

/// The bytes of frame `seq` of `len` bytes: different for every frame and position.
fn frame(seq: u64, len: usize) -> Vec<u8> {
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn recv(sub: &mut Subscriber, buf: &mut Vec<u8>) -> Received {
    sub.recv_timeout(buf, T).expect("a frame across the bridge")
}

#[test]
fn frames_of_1_byte_to_8_mib_arrive_whole_and_in_order() {
    let (src, dst) = (Name::new("src"), Name::new("dst"));
    let mut p = StreamOptions::new()
        .max_frame(8 << 20)
        .policy(Policy::Block)
        .create(src.as_str())
        .unwrap();
    let (mut a, ep) = listener();
    a.export(&Export::new(src.as_str()).key("t/sizes")).unwrap();
    event(&a, "exporting the stream");
    let mut b = connector(&ep);
    b.import(&Import::new("t/sizes", dst.as_str())).unwrap();
    // Made like the source, as soon as the exporter answered the import's query.
    event(&b, "created stream");
    let mut sub = subscribe(&dst);
    assert_eq!(
        (sub.max_frame(), sub.ring_len(), sub.policy()),
        (p.max_frame(), p.ring_len(), Policy::Block)
    );
    let sizes = [
        1,
        0,
        2,
        63,
        64,
        1000,
        4096,
        65_536,
        1 << 20,
        3_000_001,
        8 << 20,
    ];
    let sender = std::thread::spawn(move || {
        for (i, &len) in sizes.iter().enumerate() {
            // Stamped with a time of our own, which the far side's frames keep.
            let at = 1_700_000_000_000_000_000 + i as u64;
            assert_eq!(
                p.send_at(&frame(i as u64 + 1, len), at).unwrap(),
                i as u64 + 1
            );
        }
        p
    });
    let mut buf = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let got = recv(&mut sub, &mut buf);
        let seq = i as u64 + 1;
        assert_eq!((got.seq, got.len, got.lost), (seq, len, 0), "frame {seq}");
        assert_eq!(
            got.time_ns,
            1_700_000_000_000_000_000 + i as u64,
            "its source's time"
        );
        assert!(
            buf == frame(seq, len),
            "frame {seq} of {len} bytes arrived changed"
        );
    }
    let _p = sender.join().unwrap();
    let (ex, im) = (a.stats(), b.stats());
    assert_eq!(ex[0].frames, sizes.len() as u64);
    assert_eq!(ex[0].bytes, sizes.iter().sum::<usize>() as u64);
    until("the import counted them", || {
        b.stats()[0].frames == sizes.len() as u64
    });
    assert_eq!((im[0].lost, im[0].discarded), (0, 0));
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn an_importer_started_first_makes_its_stream_when_an_exporter_appears() {
    let (src, dst) = (Name::new("esrc"), Name::new("edst"));
    // The importer first, listening; nothing to import yet.
    let (mut b, ep) = listener();
    b.import(&Import::new("t/early", dst.as_str())).unwrap();
    let _p = StreamOptions::new()
        .max_frame(100_000)
        .policy(Policy::Block)
        .create(src.as_str())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        Segment::info(dst.as_str()).is_err(),
        "nothing to make it like yet"
    );
    // An exporter connects: the importer asks it at once, before any frame.
    let mut a = Bridge::open(&NetOptions::new().connect(&ep)).unwrap();
    a.export(&Export::new(src.as_str()).key("t/early")).unwrap();
    event(&b, "created stream");
    let sub = Subscriber::open(dst.as_str()).unwrap();
    assert_eq!((sub.max_frame(), sub.policy()), (100_000, Policy::Block));
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn a_block_stream_holds_its_publisher_back_for_a_slow_reader_on_the_far_side() {
    let (src, dst) = (Name::new("bsrc"), Name::new("bdst"));
    const N: u64 = 96;
    const LEN: usize = 1 << 20;
    let mut p = StreamOptions::new()
        .max_frame(LEN)
        .ring(4 << 20)
        .policy(Policy::Block)
        .create(src.as_str())
        .unwrap();
    let (mut a, ep) = listener();
    a.export(&Export::new(src.as_str()).key("t/block")).unwrap();
    let mut b = connector(&ep);
    b.import(&Import::new("t/block", dst.as_str())).unwrap();
    event(&b, "created stream");
    let mut sub = subscribe(&dst);
    let received = std::sync::Arc::new(AtomicU32::new(0));
    let seen = received.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for seq in 1..=N {
            let got = recv(&mut sub, &mut buf);
            assert_eq!((got.seq, got.lost), (seq, 0), "nothing lost, in order");
            assert!(buf == frame(seq, LEN), "frame {seq} arrived changed");
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    for seq in 1..=N {
        p.send(&frame(seq, LEN)).unwrap();
    }
    // The publisher could only finish once the far reader had taken all but what the two rings
    // (4 MiB each), Zenoh's batches and the loopback socket buffers hold (about 20 frames):
    // without backpressure it would have finished well over a second before the reader.
    let behind = N - u64::from(received.load(Ordering::SeqCst));
    assert!(
        behind < N / 2,
        "the publisher finished {behind} frames ahead of the far reader"
    );
    reader.join().unwrap();
    assert_eq!(b.stats()[0].lost, 0);
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn frames_lost_while_no_exporter_ran_are_counted_by_the_far_subscribers() {
    let (src, dst) = (Name::new("lsrc"), Name::new("ldst"));
    let mut p = Publisher::create(src.as_str(), 1024).unwrap();
    let (mut a, ep) = listener();
    a.export(&Export::new(src.as_str()).key("t/lost")).unwrap();
    let mut b = connector(&ep);
    b.import(&Import::new("t/lost", dst.as_str())).unwrap();
    event(&b, "created stream");
    let mut sub = subscribe(&dst);
    let mut buf = Vec::new();
    p.send(b"one").unwrap();
    assert_eq!(recv(&mut sub, &mut buf).seq, 1);
    // The exporter goes away; three frames are published meanwhile; a new exporter comes (on
    // the same endpoint) and the importer, never restarted, reconnects.
    a.close().unwrap();
    for text in ["two", "three", "four"] {
        p.send(text.as_bytes()).unwrap();
    }
    let mut a = Bridge::open(&NetOptions::new().listen(&ep)).unwrap();
    a.export(&Export::new(src.as_str()).key("t/lost")).unwrap();
    // Publish until a frame comes through (the first ones may go out before the importer's
    // subscription has reached the new exporter: those are lost too, and counted).
    let mut seq = 4;
    let got = loop {
        seq += 1;
        p.send(format!("frame {seq}").as_bytes()).unwrap();
        if let Ok(got) = sub.recv_timeout(&mut buf, Duration::from_millis(200)) {
            break got;
        }
    };
    assert!(got.seq >= 5, "{got:?}");
    assert_eq!(buf, format!("frame {}", got.seq).as_bytes());
    assert_eq!(
        got.lost,
        got.seq - 2,
        "every frame between #1 and #{}",
        got.seq
    );
    assert_eq!(sub.lost(), got.seq - 2);
    until("the import counted them", || {
        b.stats()[0].lost == got.seq - 2
    });
    // `shmkit info` of the imported stream shows numbers without frames.
    let Some(shmkit::Details::Stream(d)) = Segment::info(dst.as_str()).unwrap().details else {
        panic!("a stream's details")
    };
    assert_eq!((d.frames, d.next_seq), (2, got.seq + 1));
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn a_cell_goes_across_and_a_late_importer_gets_its_value_at_once() {
    let (src, dst, early) = (Name::new("csrc"), Name::new("cdst"), Name::new("cear"));
    let cell = CellOptions::new()
        .capacity(256)
        .format(Format::media("application/json").unwrap())
        .create(src.as_str())
        .unwrap();
    cell.publish(br#"{"t": 21.5}"#).unwrap();
    let (mut a, ep) = listener();
    a.export(&Export::new(src.as_str()).key("t/cell")).unwrap();
    event(&a, "exporting the cell");
    // Late: the value was published before this importer existed.
    let mut b = connector(&ep);
    b.import(&Import::new("t/cell", dst.as_str())).unwrap();
    event(&b, "created cell");
    let mut far = None;
    until("the imported cell holds the value", || {
        far = Cell::open(dst.as_str(), Access::ReadOnly).ok();
        far.as_ref()
            .is_some_and(|c| c.snapshot().unwrap().data == br#"{"t": 21.5}"#)
    });
    let far = far.unwrap();
    assert_eq!(far.capacity(), 256);
    assert_eq!(far.format(), cell.format(), "the format travels");
    // Newer values follow.
    let seen = far.seq();
    cell.publish(b"{}").unwrap();
    far.wait_newer(seen, Some(T)).unwrap();
    assert_eq!(far.snapshot().unwrap().data, b"{}");
    // An importer that was there before the exporter gets the value as soon as they meet.
    let mut c = Bridge::open(&NetOptions::new().connect(&ep)).unwrap();
    c.import(
        &Import::new("t/cell", early.as_str())
            .kind(LocalKind::Cell)
            .capacity(64),
    )
    .unwrap();
    let near = Cell::open(early.as_str(), Access::ReadOnly).unwrap();
    near.wait_newer(0, Some(T)).unwrap();
    assert_eq!(near.snapshot().unwrap().data, b"{}");
    a.close().unwrap();
    b.close().unwrap();
    c.close().unwrap();
}

#[test]
fn an_independent_zenoh_program_reads_the_exact_bytes_and_their_metadata() {
    let src = Name::new("isrc");
    let image = Format::image(Pixel::Rgba8, 64, 32).unwrap();
    let mut p = StreamOptions::new()
        .format(image.clone())
        .create(src.as_str())
        .unwrap();
    let (mut a, ep) = listener();
    a.export(&Export::new(src.as_str()).key("t/indep")).unwrap();
    event(&a, "exporting the stream");
    // A plain Zenoh session: the zenoh crate's own API, nothing of shmkit.
    let mut config = zenoh::Config::default();
    config.insert_json5("mode", r#""client""#).unwrap();
    config
        .insert_json5("connect/endpoints", &format!(r#"["{ep}"]"#))
        .unwrap();
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    let session = zenoh::open(config).wait().unwrap();
    let samples = session.declare_subscriber("t/indep").wait().unwrap();
    let len = image.frame_len().unwrap();
    // Publish until the subscription has reached the exporter, then three frames more.
    let first = loop {
        let seq = p.send(&frame(p.next_seq(), len)).unwrap();
        if let Ok(Some(s)) = samples.recv_timeout(Duration::from_millis(100)) {
            break (s, seq);
        }
    };
    let mut got = vec![first.0];
    for _ in 0..3 {
        p.send(&frame(p.next_seq(), len)).unwrap();
        got.push(samples.recv_timeout(T).unwrap().unwrap());
    }
    let mut last = 0;
    for s in got {
        let meta = Meta::decode(&s.attachment().expect("an attachment").to_bytes()).unwrap();
        assert_eq!(meta.kind, SampleKind::Frame);
        assert!(meta.seq > last, "in order");
        last = meta.seq;
        assert_eq!(
            s.payload().to_bytes(),
            frame(meta.seq, len),
            "the exact bytes"
        );
        assert_eq!(
            s.encoding().to_string(),
            "application/octet-stream;rgba8:64x32"
        );
        assert_eq!((meta.max_len, meta.ring), (len as u64, p.ring_len() as u64));
        assert!(meta.time_ns > 0);
    }
    // A query on the key describes the stream.
    let replies = session.get("t/indep").wait().unwrap();
    let reply = replies.recv_timeout(T).unwrap().unwrap();
    let s = reply.result().unwrap();
    assert!(s.payload().is_empty());
    let meta = Meta::decode(&s.attachment().unwrap().to_bytes()).unwrap();
    assert_eq!(
        (meta.kind, meta.policy),
        (SampleKind::Description, Policy::Overwrite)
    );
    session.close().wait().unwrap();
    a.close().unwrap();
}

#[test]
fn samples_of_an_independent_zenoh_program_are_imported() {
    let dst = Name::new("fdst");
    let (mut b, ep) = listener();
    b.import(&Import::new("t/foreign/**", dst.as_str()))
        .unwrap();
    let mut config = zenoh::Config::default();
    config
        .insert_json5("connect/endpoints", &format!(r#"["{ep}"]"#))
        .unwrap();
    config.insert_json5("listen/endpoints", "[]").unwrap();
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    let session = zenoh::open(config).wait().unwrap();
    let put = |text: &str| {
        session
            .put("t/foreign/sensor", text.to_string())
            .encoding(zenoh::bytes::Encoding::TEXT_PLAIN)
            .wait()
            .unwrap()
    };
    // Until the stream exists (made on the first sample that arrives), then one more.
    until("a stream made from a foreign sample", || {
        put("hello");
        Segment::info(dst.as_str()).is_ok()
    });
    let mut sub = Subscriber::open(dst.as_str()).unwrap();
    assert_eq!(sub.format(), Some(&Format::media("text/plain").unwrap()));
    put("world");
    // Helloes still on their way may come first; then the world, byte for byte.
    let mut buf = Vec::new();
    loop {
        recv(&mut sub, &mut buf);
        if buf != b"hello" {
            break;
        }
    }
    assert_eq!(buf, b"world");
    session.close().wait().unwrap();
    b.close().unwrap();
}

#[test]
fn bad_keys_names_and_clashes_are_clear_errors() {
    let (busy, bytes, dup) = (Name::new("busy"), Name::new("bytes"), Name::new("dup"));
    let _publisher = Publisher::create(busy.as_str(), 64).unwrap();
    let _seg = SegmentOptions::new()
        .size(64)
        .create(bytes.as_str())
        .unwrap();
    let mut b = Bridge::open(&NetOptions::new()).unwrap();
    let e = b.import(&Import::new("t/x", busy.as_str())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NameClash, "{e}");
    assert!(e.to_string().contains("live publisher"), "{e}");
    assert!(e.to_string().contains("--as"), "{e}");
    let e = b.import(&Import::new("t/x", bytes.as_str())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NameClash, "{e}");
    assert!(e.to_string().contains("plain bytes"), "{e}");
    let e = b.export(&Export::new("cam0").key("t/*")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey, "{e}");
    for key in ["t//x", "", "t/x/", "t/**/**"] {
        let e = b.import(&Import::new(key, dup.as_str())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidKey, "{key:?}: {e}");
        assert!(e.to_string().contains("key expression"), "{e}");
    }
    let e = b.export(&Export::new("../etc")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Local, "{e}");
    assert_eq!(
        e.local_error().map(|l| l.kind()),
        Some(shmkit::ErrorKind::InvalidName)
    );
    b.import(&Import::new("t/one", dup.as_str())).unwrap();
    let e = b.import(&Import::new("t/two", dup.as_str())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    let e = b.export(&Export::new(dup.as_str())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    let e = b
        .import(&Import::new("t/m", "t-zb-mode").mode(0o1777))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    b.close().unwrap();
    // A taken endpoint.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp/{}", taken.local_addr().unwrap());
    let e = Bridge::open(&NetOptions::new().listen(&ep)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Zenoh, "{e}");
    assert!(e.to_string().contains("open the Zenoh session"), "{e}");
}
