//! The fuzz targets' entry points (`fuzz/`, run with `cargo +nightly fuzz`), over fixed inputs:
//! crafted ones that lie in each way the code must catch, and a few hundred deterministic
//! pseudo-random ones — so the normal test suite covers them without cargo-fuzz or nightly.
//!
//! Every input must end without a panic or an out-of-bounds access; the crafted ones also
//! check what is read where the answer is known.

use shmkit::fuzz_support::{fuzz_qt_datastream, fuzz_read, fuzz_receive, fuzz_validate_header};

/// A deterministic xorshift64* generator: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Up to `max` random bytes (a random count).
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const ROUNDS: usize = if cfg!(miri) { 20 } else { 300 };

// ---- stream_receive -------------------------------------------------------------------------

/// Bytes of the control block `fuzz_receive` reads first.
const CTL: usize = 64;
/// The ring of the crafted inputs.
const RING: usize = 1024;

/// A frame header at absolute position `pos` (offset `pos % RING` of the ring): length, kind
/// (0 data, 1 padding), sequence number, and whether its commit marker says it is complete.
struct Hdr {
    pos: u64,
    len: u32,
    kind: u32,
    seq: u64,
    committed: bool,
}

const fn data(pos: u64, len: u32, seq: u64) -> Hdr {
    Hdr {
        pos,
        len,
        kind: 0,
        seq,
        committed: true,
    }
}

const fn pad(pos: u64, len: u32) -> Hdr {
    Hdr {
        pos,
        len,
        kind: 1,
        seq: 0,
        committed: true,
    }
}

/// The positions `fuzz_receive` takes from the control block.
#[derive(Clone, Copy)]
struct Pos {
    tail: u64,
    oldest: u64,
    next_seq: u64,
    max_frame: u64,
    /// The subscriber's position (taken modulo four rings).
    sub: u64,
    sub_next_seq: u64,
    /// 1 + the position of the newest frame (0: none).
    newest: u64,
    /// The subscriber is a joined `Block` one (frames protected by its cursor).
    protected: bool,
}

fn stream(p: Pos, frames: &[Hdr]) -> Vec<u8> {
    let mut b = vec![0u8; CTL + RING];
    let words = [
        p.tail,
        p.oldest,
        p.next_seq,
        p.max_frame,
        p.sub,
        p.sub_next_seq,
        p.newest,
        u64::from(p.protected),
    ];
    for (i, w) in words.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    for f in frames {
        let o = CTL + (f.pos % RING as u64) as usize;
        b[o..o + 4].copy_from_slice(&f.len.to_le_bytes());
        b[o + 4..o + 8].copy_from_slice(&f.kind.to_le_bytes());
        b[o + 8..o + 16].copy_from_slice(&f.seq.to_le_bytes());
        b[o + 16..o + 24].copy_from_slice(&7u64.to_le_bytes()); // publish time
        let commit = if f.committed { !f.pos } else { 0 };
        b[o + 24..o + 32].copy_from_slice(&commit.to_le_bytes());
        // A payload that differs from frame to frame.
        let end = (o + 32 + f.len as usize).min(b.len());
        for (i, x) in b[(o + 32).min(end)..end].iter_mut().enumerate() {
            *x = (f.seq as u8).wrapping_add(i as u8);
        }
    }
    b
}

/// Three frames of 10 bytes (64 bytes each in the ring) at its start, all unread.
const THREE: Pos = Pos {
    tail: 192,
    oldest: 0,
    next_seq: 4,
    max_frame: 100,
    sub: 0,
    sub_next_seq: 1,
    newest: 129,
    protected: false,
};

fn three() -> [Hdr; 3] {
    [data(0, 10, 1), data(64, 10, 2), data(128, 10, 3)]
}

#[test]
fn stream_receive_reads_consistent_frames() {
    assert_eq!(fuzz_receive(&stream(THREE, &three())), 3);
    // Joined after the first frame.
    assert_eq!(fuzz_receive(&stream(Pos { sub: 64, ..THREE }, &three())), 2);
    // Lapped: the first frame is gone; the subscriber lands on the newest, which it can win.
    assert_eq!(
        fuzz_receive(&stream(
            Pos {
                oldest: 64,
                ..THREE
            },
            &three()
        )),
        1
    );
    // The same, but joined to a Block stream: its cursor protects it, so `oldest` (moved for
    // later joiners) does not make it jump.
    assert_eq!(
        fuzz_receive(&stream(
            Pos {
                oldest: 64,
                protected: true,
                ..THREE
            },
            &three()
        )),
        3
    );
    // Nothing new.
    assert_eq!(
        fuzz_receive(&stream(Pos { sub: 192, ..THREE }, &three())),
        0
    );
    // A padding frame at the end of the ring is skipped: 1856 is offset 832 of the second lap.
    let wrapped = Pos {
        tail: 2 * RING as u64 + 64,
        oldest: RING as u64 + 832,
        next_seq: 3,
        max_frame: 100,
        sub: RING as u64 + 832,
        sub_next_seq: 1,
        newest: 2 * RING as u64 + 1,
        protected: false,
    };
    let frames = [
        data(RING as u64 + 832, 10, 1),
        pad(RING as u64 + 896, 128),
        data(2 * RING as u64, 10, 2),
    ];
    assert_eq!(fuzz_receive(&stream(wrapped, &frames)), 2);
    // A frame whose marker is of another lap (stale bytes) is not there yet.
    let stale = [data(0, 10, 1), data(64 + RING as u64, 10, 9)];
    assert_eq!(fuzz_receive(&stream(Pos { tail: 64, ..THREE }, &stale)), 1);
}

#[test]
fn stream_receive_refuses_lying_positions() {
    let cases = [
        (
            "oldest past the tail",
            Pos {
                oldest: 256,
                ..THREE
            },
        ),
        (
            "more than a ring between oldest and tail",
            Pos {
                tail: 2048,
                ..THREE
            },
        ),
        ("subscriber past the tail", Pos { sub: 256, ..THREE }),
        ("unaligned subscriber", Pos { sub: 8, ..THREE }),
        (
            "unaligned oldest",
            Pos {
                oldest: 8,
                sub: 0,
                ..THREE
            },
        ),
        ("tail inside a frame", Pos { tail: 150, ..THREE }),
        (
            "newest past the tail",
            Pos {
                newest: 4097,
                oldest: 64,
                ..THREE
            },
        ),
    ];
    for (what, pos) in cases {
        let got = fuzz_receive(&stream(pos, &three()));
        // Committed frames before the lie may be read; never more than exist.
        assert!(got <= 3, "{what}: {got} frames");
        if matches!(
            what,
            "unaligned subscriber" | "subscriber past the tail" | "oldest past the tail"
        ) {
            assert_eq!(got, 0, "{what}");
        }
    }
}

#[test]
fn stream_receive_refuses_lying_frames() {
    let one = |h: Hdr| fuzz_receive(&stream(Pos { tail: 64, ..THREE }, &[h]));
    assert_eq!(one(data(0, 10, 1)), 1, "the honest frame");
    assert_eq!(one(data(0, 101, 1)), 0, "longer than the maximum frame");
    assert_eq!(one(data(0, 5000, 1)), 0, "longer than the ring");
    assert_eq!(one(data(0, u32::MAX, 1)), 0, "the largest length");
    assert_eq!(
        one(Hdr {
            kind: 7,
            ..data(0, 10, 1)
        }),
        0,
        "an unknown kind"
    );
    assert_eq!(one(pad(0, 0)), 0, "an empty padding frame");
    assert_eq!(one(pad(0, 100)), 0, "a padding frame off the cache lines");
    assert_eq!(one(pad(0, 4096)), 0, "a padding frame past the ring");
    assert_eq!(
        one(Hdr {
            committed: false,
            ..data(0, 10, 1)
        }),
        0,
        "below the tail but never committed"
    );
    // A frame that would cross the end of the ring.
    let last = Pos {
        tail: 1024 + 64,
        oldest: 960,
        sub: 960,
        ..THREE
    };
    assert_eq!(fuzz_receive(&stream(last, &[data(960, 100, 1)])), 0);
}

#[test]
fn stream_receive_survives_random_bytes() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..ROUNDS {
        fuzz_receive(&rng.bytes(CTL as u64 + 4096));
    }
}

#[test]
fn stream_receive_survives_random_frames_in_plausible_positions() {
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..ROUNDS {
        // Positions near one another and mostly aligned, so the frame headers get read.
        let base = rng.below(4 * RING as u64) / 64 * 64;
        let tail = base + rng.below(RING as u64 + 64) / 64 * 64;
        let unaligned = |rng: &mut Rng| if rng.below(8) == 0 { rng.below(64) } else { 0 };
        let pos = Pos {
            tail: tail + unaligned(&mut rng),
            oldest: base + unaligned(&mut rng),
            next_seq: rng.below(100),
            max_frame: rng.below(600),
            sub: base + rng.below(RING as u64) / 64 * 64,
            sub_next_seq: rng.below(100),
            newest: base + rng.below(RING as u64),
            protected: rng.below(2) == 0,
        };
        let frames: Vec<Hdr> = (0..RING as u64 / 64)
            .map(|i| Hdr {
                pos: base + i * 64,
                len: match rng.below(4) {
                    0 => rng.next() as u32,
                    _ => rng.below(200) as u32,
                },
                kind: if rng.below(6) == 0 {
                    rng.below(3) as u32
                } else {
                    0
                },
                seq: rng.below(100),
                committed: rng.below(5) != 0,
            })
            .collect();
        let got = fuzz_receive(&stream(pos, &frames));
        assert!(got <= 64);
    }
}

// ---- header_validate ------------------------------------------------------------------------

/// A header's first 64 bytes, then the segment length the entry point checks it against.
#[allow(clippy::too_many_arguments)]
fn header(
    magic: &[u8; 8],
    version: u32,
    kind: u32,
    header_len: u32,
    total: u64,
    offset: u64,
    len: u64,
    actual: u64,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(72);
    b.extend(magic);
    b.extend(version.to_le_bytes());
    b.extend(kind.to_le_bytes());
    b.extend(0u32.to_le_bytes()); // flags
    b.extend(header_len.to_le_bytes());
    b.extend(total.to_le_bytes());
    b.extend(offset.to_le_bytes());
    b.extend(len.to_le_bytes());
    b.extend(1234u32.to_le_bytes()); // creator
    b.extend(0u32.to_le_bytes());
    b.extend(0u64.to_le_bytes()); // created
    b.extend(actual.to_le_bytes());
    b
}

const MAGIC: &[u8; 8] = b"SHMKIT\0\0";

#[test]
fn header_validate_accepts_a_true_header_and_refuses_each_lie() {
    let ok = |total, offset, len, actual| {
        fuzz_validate_header(&header(MAGIC, 2, 3, 512, total, offset, len, actual))
    };
    assert!(ok(8192, 4096, 4096, 8192), "a true header");
    assert!(!ok(8192, 4096, 4096, 4096), "truncated");
    assert!(!ok(8192, 4096, 4097, 8192), "data past the end");
    assert!(!ok(8192, 4100, 10, 8192), "unaligned data");
    assert!(!ok(8192, 64, 10, 8192), "data inside the header");
    assert!(!ok(8192, 448, 10, 8192), "data inside the header's format");
    assert!(!ok(8192, 9000, 0, 8192), "data offset past the end");
    assert!(
        !ok(u64::MAX, 4096, u64::MAX, u64::MAX),
        "lengths at the limit"
    );
    // Absurd but consistent: the caller vouches for the actual length.
    assert!(
        ok(u64::MAX, u64::MAX - 63, 0, u64::MAX),
        "offset at the limit"
    );
    let h = |magic, version, kind, header_len| {
        fuzz_validate_header(&header(
            magic, version, kind, header_len, 8192, 4096, 0, 8192,
        ))
    };
    assert!(!h(b"NOTSHMKT", 2, 3, 512), "foreign");
    assert!(!h(MAGIC, 0, 3, 512), "unfinished");
    assert!(!h(MAGIC, 1, 3, 192), "the first layout");
    assert!(!h(MAGIC, 3, 3, 512), "a newer layout");
    assert!(!h(MAGIC, 2, 99, 512), "unknown kind");
    assert!(!h(MAGIC, 2, 3, 192), "another header length");
    // Short inputs: no header at all.
    for n in [0, 1, 8, 63] {
        assert!(!fuzz_validate_header(
            &header(MAGIC, 2, 3, 512, 72, 64, 0, 72)[..n]
        ));
    }
}

#[test]
fn header_validate_survives_random_bytes() {
    let mut rng = Rng(0x5eed_0003);
    for i in 0..ROUNDS {
        let mut b = rng.bytes(100);
        // Half with the magic and version, so validation gets past its first checks.
        if i % 2 == 0 && b.len() >= 12 {
            b[..8].copy_from_slice(MAGIC);
            b[8..12].copy_from_slice(&2u32.to_le_bytes());
        }
        fuzz_validate_header(&b);
    }
}

// ---- cell_read ------------------------------------------------------------------------------

/// A cell of `capacity` and the given slots: `(version, seq, len, value)`; the express line
/// says "not here" (the slot path), unless `express` gives its `ver`, `len` and bytes.
fn cell(latest: u64, capacity: u64, slots: &[(u64, u64, u64, &[u8])]) -> Vec<u8> {
    cell_express(latest, capacity, slots, (0, u32::MAX, b""))
}

fn cell_express(
    latest: u64,
    capacity: u64,
    slots: &[(u64, u64, u64, &[u8])],
    express: (u32, u32, &[u8]),
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(latest.to_le_bytes());
    b.extend(capacity.to_le_bytes());
    b.extend((slots.len() as u64 - 1).to_le_bytes());
    b.extend(express.0.to_le_bytes());
    b.extend(express.1.to_le_bytes());
    let mut inline = express.2.to_vec();
    inline.resize(48, 0);
    b.extend(inline);
    for (version, seq, len, _) in slots {
        b.extend(version.to_le_bytes());
        b.extend(seq.to_le_bytes());
        b.extend(len.to_le_bytes());
    }
    for (_, _, _, value) in slots {
        let mut v = value.to_vec();
        v.resize(capacity as usize, 0);
        b.extend(v);
    }
    b
}

#[test]
fn cell_read_takes_small_values_from_the_express_line() {
    let slots: [(u64, u64, u64, &[u8]); 2] = [(2, 1, 3, b"old"), (0, 0, 0, b"")];
    // Even `ver`, a value that fits: read from the line, whatever the slots say.
    assert_eq!(
        fuzz_read(&cell_express(7 << 8, 16, &slots, (4, 5, b"quick"))),
        Some((7, b"quick".to_vec()))
    );
    // An odd `ver` (a writer in the line, or dead there): the slot `latest` names.
    assert_eq!(
        fuzz_read(&cell_express(1 << 8, 16, &slots, (5, 5, b"quick"))),
        Some((1, b"old".to_vec()))
    );
    // A length past the capacity is not taken from the line either.
    assert_eq!(
        fuzz_read(&cell_express(1 << 8, 2, &slots, (4, 40, b"quick"))),
        None,
        "the slot's value does not fit a capacity of 2 either"
    );
}

#[test]
fn cell_read_returns_the_value_latest_names() {
    let slots: [(u64, u64, u64, &[u8]); 3] =
        [(2, 1, 3, b"old"), (4, 2, 5, b"newer"), (0, 0, 0, b"")];
    assert_eq!(
        fuzz_read(&cell(2 << 8 | 1, 16, &slots)),
        Some((2, b"newer".to_vec()))
    );
    assert_eq!(
        fuzz_read(&cell(1 << 8, 16, &slots)),
        Some((1, b"old".to_vec()))
    );
    assert_eq!(fuzz_read(&cell(0, 16, &slots)), None, "slot 0 holds seq 1");
    assert_eq!(
        fuzz_read(&cell(0, 16, &[(0, 0, 0, b""), (0, 0, 0, b"")])),
        Some((0, Vec::new())),
        "a fresh cell"
    );
}

#[test]
fn cell_read_refuses_lies() {
    let slots: [(u64, u64, u64, &[u8]); 2] = [(2, 1, 3, b"abc"), (2, 1, 3, b"abc")];
    let read = |latest, capacity, slots: &[(u64, u64, u64, &[u8])]| {
        fuzz_read(&cell(latest, capacity, slots))
    };
    assert!(read(1 << 8, 16, &slots).is_some(), "the honest cell");
    assert_eq!(
        read(1 << 8 | 2, 16, &slots),
        None,
        "a slot that does not exist"
    );
    assert_eq!(
        read(1 << 8 | 255, 16, &slots),
        None,
        "the largest slot index"
    );
    assert_eq!(read(1 << 8, 2, &slots), None, "longer than the capacity");
    let long: [(u64, u64, u64, &[u8]); 2] = [(2, 1, u64::MAX, b""), (0, 0, 0, b"")];
    assert_eq!(read(1 << 8, 16, &long), None, "the largest length");
    let odd: [(u64, u64, u64, &[u8]); 2] = [(3, 1, 3, b"abc"), (0, 0, 0, b"")];
    assert_eq!(read(1 << 8, 16, &odd), None, "a slot left mid-write");
    assert_eq!(read(7 << 8, 16, &slots), None, "a slot with another seq");
}

#[test]
fn cell_read_survives_random_bytes() {
    let mut rng = Rng(0x5eed_0004);
    for i in 0..ROUNDS {
        let mut b = rng.bytes(1200);
        // Some with a small slot index and even versions, to get past the first checks.
        if i % 2 == 0 && b.len() >= 80 + 16 * 24 {
            b[0] %= 4;
            b[24] &= !1;
            for s in 0..16 {
                b[80 + s * 24] &= !1;
            }
        }
        fuzz_read(&b);
    }
}

/// Regression for a finding of this corpus, reported (not fixed here): `try_receive` adds a
/// frame's size to the position (`st.pos + size <= tail`, `st.pos += size`) unchecked. With
/// positions a hostile process set just below 2^64, that overflows: a panic with overflow
/// checks, and without them the position wraps to 0, jumps back to `oldest` and loops forever.
#[test]
fn stream_receive_positions_near_the_end_of_u64() {
    // A ring's worth of frames just below 2^64: a padding frame at offset 0 of the last lap.
    let top = u64::MAX - (RING as u64 - 1);
    let pos = Pos {
        tail: u64::MAX - 63,
        oldest: top,
        next_seq: 2,
        max_frame: 100,
        sub: 0,
        sub_next_seq: 1,
        newest: u64::MAX,
        protected: false,
    };
    fuzz_receive(&stream(pos, &[data(0, 10, 1)]));
    fuzz_receive(&stream(pos, &[pad(0, 1024)]));
}

/// Regression for a finding of this corpus, reported (not fixed here): `try_receive` computes
/// the next expected sequence number as `seq + 1` from a frame header's `seq`, which overflows
/// (a panic with overflow checks) when another process wrote `u64::MAX` there.
#[test]
fn stream_receive_the_largest_sequence_number() {
    let pos = Pos { tail: 64, ..THREE };
    assert_eq!(fuzz_receive(&stream(pos, &[data(0, 10, u64::MAX)])), 1);
}

// ---- qt_datastream --------------------------------------------------------------------------

/// A small RGBA PNG, made with the `png` crate.
fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().unwrap();
    let pixels: Vec<u8> = (0..w * h * 4).map(|i| i as u8).collect();
    wr.write_image_data(&pixels).unwrap();
    wr.finish().unwrap();
    out
}

/// `marker` (big-endian) then `rest`.
fn framed(marker: u32, rest: &[u8]) -> Vec<u8> {
    let mut b = marker.to_be_bytes().to_vec();
    b.extend_from_slice(rest);
    b
}

#[test]
fn qt_datastream_survives_lying_lengths_and_broken_pngs() {
    use shmkit::interop::qt::datastream::{Reader, Version};
    let png = png_bytes(3, 2);
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        framed(0xffff_ffff, b""),
        framed(0xffff_fffe, &(-2i64).to_be_bytes()),
        framed(0xffff_fffe, &i64::MAX.to_be_bytes()),
        framed(0xffff_fffe, &[0xff; 7]),
        framed(0x7fff_ffff, b"short"),
        framed(3, b"\0a\0"),
        framed(1, &png),
        framed(1, &png[..png.len() / 2]),
        framed(7, &png[..8]),
    ];
    // A PNG whose header claims a huge picture (and whose header CRC then fails too).
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    cases.push(framed(1, &huge));
    // Every single-byte corruption of the framed PNG.
    let good = framed(1, &png);
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0xa5;
        cases.push(b);
    }
    for b in &cases {
        fuzz_qt_datastream(b);
    }
    // The uncorrupted one decodes; the lying ones are errors, not values.
    let img = Reader::new(&good, Version::LATEST)
        .image()
        .unwrap()
        .unwrap();
    assert_eq!((img.width(), img.height()), (3, 2));
    for bad in &cases[3..7] {
        assert!(Reader::new(bad, Version::LATEST).byte_array().is_err());
    }
    assert!(
        Reader::new(&cases[7], Version::LATEST).string().is_err(),
        "odd length"
    );
    assert!(
        Reader::new(&cases[11], Version::LATEST).image().is_err(),
        "a huge picture"
    );
}

#[test]
fn qt_datastream_survives_random_bytes() {
    let mut rng = Rng(0x5eed_0005);
    let png = png_bytes(4, 4);
    for i in 0..ROUNDS {
        let mut b = rng.bytes(300);
        match i % 3 {
            // Small lengths, so that some values decode.
            0 if b.len() >= 4 => b[..4].copy_from_slice(&(rng.below(64) as u32).to_be_bytes()),
            // A marker and a PNG with random bytes spliced in.
            1 => {
                let mut p = framed(1, &png);
                let at = rng.below(p.len() as u64) as usize;
                let n = (b.len()).min(p.len() - at);
                p[at..at + n].copy_from_slice(&b[..n]);
                b = p;
            }
            _ => {}
        }
        fuzz_qt_datastream(&b);
    }
}

// ---- lock_word ------------------------------------------------------------------------------

#[test]
fn lock_word_keeps_exclusion_among_simulated_processes() {
    use shmkit::fuzz_support::fuzz_lock;
    // 0: try_lock, 1: zero-timeout lock, 2: unlock, 3: death, 4/5: scribble state/owner.
    fuzz_lock(&[0, 0, 0, 1, 3, 0, 0, 1, 2, 1, 1, 2, 2, 2]);
    fuzz_lock(&[0, 0, 4, 0, 9, 9, 9, 9, 0, 1, 2, 1, 5, 3, 1, 0, 0, 0, 1, 2]);
    let mut rng = Rng(0x5eed_0005);
    for _ in 0..ROUNDS {
        fuzz_lock(&rng.bytes(200));
    }
}
