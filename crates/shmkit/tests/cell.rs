//! The cell across real processes: a torture run for torn values, no lost wake-ups, a writer
//! killed mid-publish, read-only readers, typed cells, and corrupted control blocks.

mod common;

use std::time::{Duration, Instant};

use common::{Cleanup, recv, say, spawn, unique_name, watchdog};
use shmkit::{Access, Cell, CellOptions, ErrorKind, SegmentOptions, TypedCell};

const T: Duration = Duration::from_secs(30);
const TORTURE: Duration = Duration::from_millis(2500);
const CAPACITY: usize = 8192;

#[test]
fn child_entry() {
    let Some((role, arg)) = common::role() else {
        return;
    };
    match role.as_str() {
        "torture-writer" => torture_writer(&arg),
        "torture-reader" => torture_reader(&arg),
        "ping" => ping(&arg),
        "die-mid-publish" => {
            let cell = Cell::create(&arg, 64).unwrap();
            cell.publish(b"the whole first value").unwrap();
            let _ = cell.publish_with(40, |buf| {
                buf[..20].fill(b'X');
                say("MIDWAY");
                common::park();
            });
        }
        "die-mid-publish-exclusive" => {
            let cell = CellOptions::new()
                .capacity(64)
                .exclusive(true)
                .create(&arg)
                .unwrap();
            cell.publish(b"the whole first value").unwrap();
            let _ = cell.publish_with(40, |buf| {
                buf[..20].fill(b'X');
                say("MIDWAY");
                common::park();
            });
        }
        "typed-writer" => {
            let cell = TypedCell::<Pose>::create(arg.as_str()).unwrap();
            say("READY");
            while let Some(line) = recv() {
                let frame: u32 = line.parse().unwrap();
                cell.publish(&Pose::at(frame)).unwrap();
                say(format!("PUBLISHED {frame}"));
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A value that checks itself: `[k: u64][len: u32][filler]`, filler byte `j` = `k + j`.
fn make_value(k: u64, len: usize, out: &mut [u8]) {
    out[..8].copy_from_slice(&k.to_le_bytes());
    out[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    for (j, b) in out[12..len].iter_mut().enumerate() {
        *b = (k as usize + j) as u8;
    }
}

/// Checks a value made by `make_value`; returns its `k`.
fn check_value(v: &[u8]) -> Result<u64, String> {
    if v.len() < 12 {
        return Err(format!("{} bytes: too short", v.len()));
    }
    let k = u64::from_le_bytes(v[..8].try_into().unwrap());
    let len = u32::from_le_bytes(v[8..12].try_into().unwrap()) as usize;
    if len != v.len() {
        return Err(format!(
            "length field {len} but {} bytes: a stale tail or a tear",
            v.len()
        ));
    }
    if let Some(j) = v[12..]
        .iter()
        .enumerate()
        .position(|(j, &b)| b != (k as usize + j) as u8)
    {
        return Err(format!("value {k} torn at byte {}", 12 + j));
    }
    Ok(k)
}

/// Publishes values of random length (each carrying its own check) as fast as it can.
fn torture_writer(name: &str) {
    let cell = CellOptions::new()
        .capacity(CAPACITY)
        .slots(2) // the fewest slots: readers get lapped as often as possible
        .open(name)
        .unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < TORTURE {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let len = 12 + (rng as usize % (CAPACITY - 12));
        let k = cell.seq() + 1; // the seq this publish will get: we are the only writer
        let seq = cell
            .publish_with(len, |buf| make_value(k, len, buf))
            .unwrap();
        assert_eq!(seq, k);
        n += 1;
    }
    // The end mark: readers stop when they see it (a timer would be fragile where processes
    // start slowly, as under Wine).
    cell.publish(b"end").unwrap();
    say(format!("PUBLISHED {n}"));
}

/// Snapshots until the writer's end mark: every value whole, seqs never going back.
fn torture_reader(name: &str) {
    let cell = Cell::open(name, Access::ReadOnly).unwrap();
    let (mut buf, mut fixed) = (Vec::new(), vec![0u8; CAPACITY]);
    let (mut last, mut snaps, mut distinct) = (0u64, 0u64, 0u64);
    let t0 = Instant::now();
    loop {
        assert!(t0.elapsed() < T, "no end mark within {T:?}");
        // Every other snapshot goes through the slice reader, into a buffer of our own.
        let seq = if snaps % 2 == 0 {
            cell.read_into(&mut buf).unwrap()
        } else {
            let (seq, len) = cell.read_to(&mut fixed).unwrap();
            buf.clear();
            buf.extend_from_slice(&fixed[..len]);
            seq
        };
        assert!(seq >= last, "seq went back from {last} to {seq}");
        if buf == b"end" {
            last = seq - 1; // the last value before the mark
            break;
        }
        if seq > 0 {
            let k = check_value(&buf).unwrap_or_else(|e| panic!("seq {seq}: {e}"));
            assert_eq!(k, seq, "value of seq {k} delivered as seq {seq}");
        }
        distinct += u64::from(seq != last);
        last = seq;
        snaps += 1;
    }
    say(format!("SNAPSHOTS {snaps} DISTINCT {distinct} LAST {last}"));
}

#[test]
fn torture_no_torn_or_mixed_values_and_seqs_never_go_back() {
    let _w = watchdog(Duration::from_secs(60));
    let name = unique_name("torture");
    let _keep = CellOptions::new()
        .capacity(CAPACITY)
        .slots(2)
        .create(&name)
        .unwrap();
    let readers = [
        spawn("torture-reader", &name),
        spawn("torture-reader", &name),
    ];
    let writer = spawn("torture-writer", &name);
    let published: u64 = writer
        .finish(T)
        .iter()
        .find_map(|l| l.strip_prefix("PUBLISHED "))
        .unwrap()
        .parse()
        .unwrap();
    for r in readers {
        let out = r.finish(T);
        let line = out
            .iter()
            .find_map(|l| l.strip_prefix("SNAPSHOTS "))
            .unwrap();
        let f: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        eprintln!(
            "torture: {published} published; reader: {} snapshots, {} distinct, last {}",
            f[0], f[1], f[2]
        );
        assert!(f[1] >= 10, "the reader saw only {} distinct values", f[1]);
        assert_eq!(f[2], published, "the reader ends at the last value");
    }
}

/// Answers each value of cell `NAME` with the same seq in cell `NAME-ack`.
fn ping(name: &str) {
    let values = Cell::open(name, Access::ReadOnly).unwrap();
    let acks = Cell::open(format!("{name}-ack"), Access::ReadWrite).unwrap();
    say("READY");
    let mut seq = 0;
    let mut value = Vec::new();
    loop {
        values
            .wait_newer(seq, Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("lost wake-up after #{seq}: {e}"));
        // Answer exactly the value read (not a newer one that may arrive meanwhile).
        seq = values.read_into(&mut value).unwrap();
        acks.publish(&seq.to_le_bytes()).unwrap();
        if value == b"end" {
            break;
        }
    }
}

#[test]
fn no_lost_wake_ups_over_thousands_of_hand_offs() {
    let _w = watchdog(Duration::from_secs(120));
    let name = unique_name("ping");
    let values = Cell::create(&name, 16).unwrap();
    let acks = Cell::create(format!("{name}-ack"), 16).unwrap();
    let mut peer = spawn("ping", &name);
    peer.expect_line("READY", T);
    let rounds = 3000u64;
    for i in 1..=rounds {
        let v = if i == rounds {
            b"end".to_vec()
        } else {
            i.to_le_bytes().to_vec()
        };
        let seq = values.publish(&v).unwrap();
        // Each value must wake the peer, which must answer: a lost wake-up stalls here.
        let ack = acks
            .wait_newer(i - 1, Some(Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("no answer to value #{seq}: {e}"));
        assert_eq!(ack, i);
        assert_eq!(acks.snapshot().unwrap().data, seq.to_le_bytes());
    }
    peer.finish(T);
}

#[test]
fn a_writer_killed_mid_publish_leaves_the_previous_value_and_a_new_writer_takes_over() {
    let _w = watchdog(T);
    let name = unique_name("midpub");
    let mut writer = spawn("die-mid-publish", &name);
    writer.expect_line("MIDWAY", T);
    let reader = Cell::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(reader.snapshot().unwrap().data, b"the whole first value");
    writer.kill();
    writer.wait(T);
    let snap = reader.snapshot().unwrap();
    assert_eq!(
        (snap.seq, &snap.data[..]),
        (1, &b"the whole first value"[..])
    );
    // A new writer: the lock's owner died, the publish goes through.
    let next = Cell::open(&name, Access::ReadWrite).unwrap();
    let t0 = Instant::now();
    assert_eq!(next.publish(b"after the crash").unwrap(), 2);
    assert!(t0.elapsed() < T);
    assert_eq!(reader.snapshot().unwrap().data, b"after the crash");
    for i in 0..10u8 {
        next.publish(&[i; 30]).unwrap();
        assert_eq!(reader.snapshot().unwrap().data, [i; 30]);
    }
}

#[test]
fn an_exclusive_writer_keeps_other_writers_out_until_it_goes_or_dies() {
    let _w = watchdog(T);
    let name = unique_name("excl");
    let mut writer = spawn("die-mid-publish-exclusive", &name);
    writer.expect_line("MIDWAY", T);
    let reader = Cell::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(
        CellOptions::new()
            .access(Access::ReadOnly)
            .exclusive(true)
            .open(&name)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    // A second exclusive writer waits a second for the lock, then says who holds it.
    let err = CellOptions::new().exclusive(true).open(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        err.to_string()
            .contains(&format!("process {}", writer.pid())),
        "{err}"
    );
    writer.kill();
    writer.wait(T);
    // Its successor takes the lock over from the dead one and repairs the half-written slot.
    let next = CellOptions::new().exclusive(true).open(&name).unwrap();
    assert_eq!(
        next.segment().lock_owner(),
        Some(std::process::id()),
        "held for the handle's life"
    );
    assert_eq!(next.publish(b"after the crash").unwrap(), 2);
    assert_eq!(reader.snapshot().unwrap().data, b"after the crash");
    // A shared writer waits for it, and gets in once it is dropped.
    let shared = Cell::open(&name, Access::ReadWrite).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| tx.send(shared.publish(b"shared").unwrap()).unwrap());
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "it waits"
        );
        for i in 0..10u8 {
            next.publish(&[i; 30]).unwrap();
            assert_eq!(reader.snapshot().unwrap().data, [i; 30]);
        }
        drop(next);
        assert_eq!(rx.recv_timeout(T).unwrap(), 13);
    });
    assert_eq!(reader.snapshot().unwrap().data, b"shared");
    assert_eq!(
        shared.segment().lock_owner(),
        None,
        "released after the publish"
    );
}

/// Threads that share one exclusive handle take turns: the handle's lock keeps other handles
/// out, not them. Every value stays whole (small ones through the express line, large ones
/// through the slots), and every publish gets its own sequence number.
#[test]
fn threads_sharing_an_exclusive_handle_take_turns() {
    let _w = watchdog(T);
    let name = unique_name("exclthreads");
    let writer = CellOptions::new()
        .capacity(CAPACITY)
        .exclusive(true)
        .create(&name)
        .unwrap();
    let reader = Cell::open(&name, Access::ReadOnly).unwrap();
    const THREADS: u64 = 3;
    const EACH: u64 = 3000;
    let done = std::sync::atomic::AtomicBool::new(false);
    let seqs = std::thread::scope(|s| {
        let r = s.spawn(|| {
            let mut buf = Vec::new();
            let mut reads = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                reader.read_into(&mut buf).unwrap();
                if !buf.is_empty() {
                    check_value(&buf).unwrap();
                }
                reads += 1;
            }
            reads
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let writer = &writer;
                s.spawn(move || {
                    let mut v = vec![0u8; CAPACITY];
                    (0..EACH)
                        .map(|i| {
                            let k = t * EACH + i;
                            // Alternately inline (24 bytes) and through the slots.
                            let len = if i % 2 == 0 {
                                24
                            } else {
                                100 + (k as usize % 4000)
                            };
                            make_value(k, len, &mut v);
                            writer.publish(&v[..len]).unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(r.join().unwrap() > 0);
        seqs.sort_unstable();
        seqs
    });
    assert_eq!(
        seqs,
        (1..=THREADS * EACH).collect::<Vec<_>>(),
        "one seq per publish"
    );
    let last = reader.snapshot().unwrap();
    assert_eq!(last.seq, THREADS * EACH);
    check_value(&last.data).unwrap();
}

/// A publish through an exclusive handle from inside its own `publish_with` would overwrite
/// the value being written: it is refused, and a `fill` that panics leaves readers the value
/// before it, which the next publish replaces.
#[test]
fn an_exclusive_handle_refuses_a_publish_inside_its_own_fill_and_survives_a_panic() {
    let name = unique_name("exclreent");
    let writer = CellOptions::new()
        .capacity(64)
        .exclusive(true)
        .create(&name)
        .unwrap();
    let reader = Cell::open(&name, Access::ReadOnly).unwrap();
    let mut inner = None;
    let seq = writer
        .publish_with(5, |buf| {
            inner = Some(writer.publish(b"inner"));
            buf.copy_from_slice(b"outer");
        })
        .unwrap();
    assert_eq!(inner.unwrap().unwrap_err().kind(), ErrorKind::WouldDeadlock);
    assert_eq!(
        (seq, reader.snapshot().unwrap().data),
        (1, b"outer".to_vec())
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        writer.publish_with(40, |buf| {
            buf[..20].fill(b'X');
            panic!("fill fails halfway");
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(
        reader.snapshot().unwrap().data,
        b"outer",
        "the value before it"
    );
    assert_eq!(writer.publish(b"after the panic").unwrap(), 2);
    assert_eq!(reader.snapshot().unwrap().data, b"after the panic");
}

#[test]
fn a_read_only_reader_reads_and_waits_but_cannot_publish() {
    let name = unique_name("rocell");
    let w = Cell::create(&name, 100).unwrap();
    let r = Cell::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(
        r.snapshot().unwrap().seq,
        0,
        "the empty value before any publish"
    );
    assert!(r.snapshot().unwrap().data.is_empty());
    let e = r.publish(b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    std::thread::scope(|s| {
        let t = s.spawn(|| r.wait_newer(0, Some(T)).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        w.publish(b"hello").unwrap();
        assert_eq!(t.join().unwrap(), 1);
    });
    let e = r
        .wait_newer(1, Some(Duration::from_millis(30)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    // Shorter values never show an older value's tail.
    w.publish(b"a much longer value than the next one").unwrap();
    w.publish(b"short").unwrap();
    assert_eq!(r.snapshot().unwrap().data, b"short");
    assert_eq!(
        w.publish(&[0; 101]).unwrap_err().kind(),
        ErrorKind::InvalidSize
    );
    w.publish(&[7; 100]).unwrap();
    w.publish(&[]).unwrap();
    assert_eq!(r.snapshot().unwrap().data, b"");
}

#[test]
fn spinning_waits_see_values_too() {
    let name = unique_name("spin");
    let w = Cell::create(&name, 16).unwrap();
    let r = CellOptions::new()
        .access(Access::ReadOnly)
        .spin(Duration::from_micros(200))
        .open(&name)
        .unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(|| r.wait_newer(0, Some(T)).unwrap());
        w.publish(b"x").unwrap();
        assert_eq!(t.join().unwrap(), 1);
    });
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Pose {
    x: f64,
    y: f64,
    frame: u32,
    check: u32,
}

impl Pose {
    fn at(frame: u32) -> Pose {
        Pose {
            x: f64::from(frame) * 0.5,
            y: -f64::from(frame),
            frame,
            check: !frame,
        }
    }
}

#[test]
fn typed_cells_cross_processes_and_check_their_size() {
    let _w = watchdog(T);
    let name = unique_name("typed");
    let _c = Cleanup(name.clone());
    let mut writer = spawn("typed-writer", &name);
    writer.expect_line("READY", T);
    let reader = TypedCell::<Pose>::open(&name, Access::ReadOnly).unwrap();
    assert_eq!(
        reader.get().unwrap(),
        shmkit::Snapshot {
            seq: 0,
            data: Pose {
                x: 0.0,
                y: 0.0,
                frame: 0,
                check: 0
            },
        }
    );
    for frame in 1..=20 {
        let seen = reader.seq();
        writer.send(&frame.to_string());
        reader.wait_newer(seen, Some(T)).unwrap();
        let got = reader.get().unwrap();
        assert_eq!(got.data, Pose::at(frame));
        assert_eq!(got.seq, u64::from(frame));
    }
    let e = TypedCell::<[u8; 3]>::open(&name, Access::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    let e = Cell::open(&name, Access::ReadOnly).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Incompatible,
        "a typed cell is not a byte cell"
    );
    assert!(
        e.to_string().contains("typed cell of 24-byte values"),
        "{e}"
    );
}

#[test]
fn cells_and_plain_segments_do_not_open_as_each_other() {
    let name = unique_name("kinds");
    let _cell = Cell::create(&name, 10).unwrap();
    let e = shmkit::Segment::open(&name, Access::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible);
    assert!(e.to_string().contains("it is a cell, not a bytes"), "{e}");
    let other = unique_name("kinds2");
    let _seg = shmkit::Segment::create(&other, 10).unwrap();
    assert_eq!(
        Cell::open(&other, Access::ReadOnly).unwrap_err().kind(),
        ErrorKind::Incompatible
    );
}

#[test]
fn bad_cell_options_are_clear_errors() {
    let name = unique_name("badopts");
    let e = CellOptions::new().create(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSize);
    assert!(e.to_string().contains("no capacity"), "{e}");
    for slots in [0, 1, 17] {
        let e = CellOptions::new()
            .capacity(8)
            .slots(slots)
            .create(&name)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSize, "{slots} slots");
    }
    let e = Cell::create(&name, usize::MAX).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidSize | ErrorKind::OutOfResources),
        "{e}"
    );
    // Capacity 0 is allowed: a cell of empty values is still a change signal.
    let c = Cell::create(&name, 0).unwrap();
    assert_eq!(c.publish(b"").unwrap(), 1);
}

// ---- corrupted control blocks --------------------------------------------------------------

/// Byte offsets inside a cell segment: the header (512 bytes), the cell control block, and —
/// from the data region at 4096 — the slots, each a 24-byte header and the value (capacity 100
/// makes a stride of 128).
const EXPRESS_VER: usize = 512 + 64;
const EXPRESS_LEN: usize = 512 + 64 + 4;
const LATEST: usize = 512 + 64 + 8; // in the express line
const SLOTS_FIELD: usize = 512 + 16;
const STRIDE: usize = 512 + 8;
fn slot_field(slot: usize, field: usize) -> usize {
    4096 + 128 * slot + field
}

/// A cell with a good value, then `patches` written over its control block. The returned cell
/// keeps it alive (a held handle: every platform keeps that, unlike `Persistent`).
fn corrupt_cell(tag: &str, patches: &[(usize, u64)]) -> (String, Cell) {
    let name = unique_name(tag);
    let keeper = CellOptions::new().capacity(100).create(&name).unwrap();
    keeper.publish(b"good value").unwrap();
    let raw = SegmentOptions::new().raw(true).open(&name).unwrap();
    for &(off, v) in patches {
        raw.write(off, &v.to_le_bytes()).unwrap();
    }
    drop(raw);
    (name, keeper)
}

#[test]
fn corrupted_control_blocks_are_errors_not_panics() {
    // Found at open: the geometry.
    for (tag, patch) in [
        ("slots", (SLOTS_FIELD, 99u64)),
        ("slots1", (SLOTS_FIELD, 1)),
        ("stride", (STRIDE, 1 << 40)),
        ("stride2", (STRIDE, 65)),
    ] {
        let (name, _c) = corrupt_cell(tag, &[patch]);
        let e = Cell::open(&name, Access::ReadOnly).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{tag}: {e}");
    }
    // Found at read: lengths and indexes written while it is open.
    let (name, _c) = corrupt_cell("len", &[]);
    let cell = Cell::open(&name, Access::ReadWrite).unwrap();
    let raw = SegmentOptions::new().raw(true).open(&name).unwrap();
    let latest_slot = {
        let mut b = [0u8; 8];
        raw.read(LATEST, &mut b).unwrap();
        (u64::from_le_bytes(b) & 0xff) as usize
    };
    raw.write(slot_field(latest_slot, 16), &1_000_000u64.to_le_bytes())
        .unwrap();
    // A small value is read from the express line, untouched so far: still whole.
    assert_eq!(cell.snapshot().unwrap().data, b"good value");
    // Sent to the slot (the line says "not here"), the reader meets the lie.
    raw.write(EXPRESS_LEN, &u32::MAX.to_le_bytes()).unwrap();
    let e = cell.snapshot().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(
        e.to_string()
            .contains("1000000 bytes in a cell of capacity 100"),
        "{e}"
    );
    // The slice reader too: a lie beyond the capacity is corruption, not a short buffer.
    let e = cell.read_to(&mut [0u8; 100]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    raw.write(LATEST, &(1u64 << 8 | 200).to_le_bytes()).unwrap();
    assert_eq!(cell.snapshot().unwrap_err().kind(), ErrorKind::Corrupt);
    // A writer repairs what it can: the next publish goes through and reads work again.
    cell.publish(b"repaired").unwrap();
    assert_eq!(cell.snapshot().unwrap().data, b"repaired");
    // A latest slot stuck "mid-write" (an odd version nobody will ever finish).
    let mut b = [0u8; 8];
    raw.read(LATEST, &mut b).unwrap();
    let slot = (u64::from_le_bytes(b) & 0xff) as usize;
    raw.write(slot_field(slot, 0), &7u64.to_le_bytes()).unwrap();
    raw.write(EXPRESS_LEN, &u32::MAX.to_le_bytes()).unwrap();
    let e = cell.snapshot().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // An express line left "mid-write" (a writer died there): readers take the slot `latest`
    // names, which is whole.
    cell.publish(b"again").unwrap();
    raw.write(EXPRESS_VER, &(1u32 + 2 * 1000).to_le_bytes())
        .unwrap();
    assert_eq!(cell.snapshot().unwrap().data, b"again");
    cell.publish(b"and on").unwrap();
    assert_eq!(cell.snapshot().unwrap().data, b"and on");
}

#[test]
fn read_to_fills_the_callers_buffer_and_refuses_a_short_one() {
    let name = unique_name("readto");
    let cell = Cell::create(&name, 100).unwrap();
    let mut buf = [7u8; 100];
    assert_eq!(
        cell.read_to(&mut []).unwrap(),
        (0, 0),
        "nothing published yet"
    );
    // A small value (the express line) and a large one (a slot), into buffers of every fit.
    for (k, len) in [(1u64, 5usize), (2, 100)] {
        let value: Vec<u8> = (0..len).map(|j| (j * 3 + 1) as u8).collect();
        cell.publish(&value).unwrap();
        for room in [len, len + 1, 100] {
            buf.fill(0);
            let (seq, n) = cell.read_to(&mut buf[..room.min(100)]).unwrap();
            assert_eq!((seq, &buf[..n]), (k, &value[..]), "room {room}");
        }
        let e = cell.read_to(&mut buf[..len - 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSize, "{e}");
        let want = format!(
            "value #{k} is {len} bytes, more than the {}-byte buffer",
            len - 1
        );
        assert!(e.to_string().contains(&want), "{e}");
    }
}

/// Regression: a typed cell whose control block claims values larger than its slots was
/// accepted, and `get` copied past the end of the mapping.
#[test]
fn a_typed_cell_claiming_values_larger_than_its_slots_is_corrupt() {
    let name = unique_name("typedlie");
    let _keeper = CellOptions::new().capacity(24).create(&name).unwrap();
    let raw = SegmentOptions::new().raw(true).open(&name).unwrap();
    raw.write(512 + 20, &65_536u32.to_le_bytes()).unwrap(); // type_size
    drop(raw);
    let e = TypedCell::<[u8; 65_536]>::open(&name, Access::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

/// A typed cell whose newest value is shorter than its type (a length another process wrote):
/// `get` says corrupt instead of handing out a half-old value.
#[test]
fn a_typed_value_of_the_wrong_length_is_corrupt() {
    let name = unique_name("typedshort");
    let cell = TypedCell::<[u8; 24]>::create(&name).unwrap();
    cell.publish(&[5; 24]).unwrap();
    assert_eq!(cell.get().unwrap().data, [5; 24]);
    let raw = SegmentOptions::new().raw(true).open(&name).unwrap();
    raw.write(EXPRESS_LEN, &4u32.to_le_bytes()).unwrap();
    let e = cell.get().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(
        e.to_string()
            .contains("a value of 4 bytes in a cell of 24-byte values"),
        "{e}"
    );
    // The next publish writes the line whole again.
    cell.publish(&[6; 24]).unwrap();
    assert_eq!(cell.get().unwrap().data, [6; 24]);
}

/// A notifier wakes an event loop (its descriptor) or calls back on every publish, without
/// polling, and its thread ends when it is dropped.
#[test]
fn notifiers_signal_each_publish() {
    let _w = watchdog(T);
    let name = unique_name("notifier");
    let _c = Cleanup(name.clone());
    let cell = Cell::create(&name, 64).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let cb = shmkit::Notifier::with_callback(cell.segment(), move || {
        let _ = tx.send(());
    })
    .unwrap();
    let fd = match shmkit::Notifier::new(cell.segment()) {
        Ok(n) => Some(n),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            None
        }
    };
    // The descriptor's number: there exactly when the notifier has a descriptor, and open.
    assert_eq!(
        cb.descriptor(),
        None,
        "a callback notifier has no descriptor"
    );
    if let Some(n) = &fd {
        let d = n.descriptor().expect("a descriptor notifier's number");
        assert!(d >= 0, "{d}");
        assert_ne!(
            Some(d),
            shmkit::Notifier::new(cell.segment()).unwrap().descriptor(),
            "each notifier has its own descriptor"
        );
        assert!(!n.clear(), "nothing yet");
    }
    for i in 0..3u8 {
        cell.publish(&[i]).unwrap();
        rx.recv_timeout(T)
            .expect("the callback runs after a publish");
        if let Some(n) = &fd {
            let t0 = Instant::now();
            while !n.clear() {
                assert!(t0.elapsed() < T, "the descriptor is raised after a publish");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    drop(cb);
    drop(fd);
    // A replaced segment is not followed silently.
    drop(cell);
    let again = Cell::create(&name, 64).unwrap();
    let stale = Cell::open(&name, Access::ReadOnly).unwrap();
    drop(again);
    if shmkit::test_support::PERSISTENT {
        shmkit::Segment::remove(name.as_str()).unwrap(); // Windows cannot remove a held name
    } else {
        return;
    }
    let _new = Cell::create(&name, 64).unwrap();
    let e = shmkit::Notifier::with_callback(stale.segment(), || {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// Regression: `open_or_create` of a 4 KiB cell silently opened an existing 16-byte one, and the
/// writer failed later. Now what was asked is compared, and a mismatch names both sides.
#[test]
fn open_or_create_refuses_a_cell_that_cannot_carry_what_was_asked() {
    let name = unique_name("cfits");
    let _small = CellOptions::new().capacity(16).create(&name).unwrap();
    let e = CellOptions::new()
        .capacity(4096)
        .slots(4)
        .open_or_create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Incompatible, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("a capacity of 16 bytes, not 4096"), "{msg}");
    assert!(msg.contains("3 slots, not 4"), "{msg}");
    // Asking for less than it has is fine.
    let cell = CellOptions::new()
        .capacity(8)
        .open_or_create(&name)
        .unwrap();
    assert_eq!(cell.capacity(), 16);
    // Reads and waits in one call.
    cell.publish(b"one").unwrap();
    let mut buf = Vec::new();
    assert_eq!(cell.read_newer_into(0, &mut buf, Some(T)).unwrap(), 1);
    assert_eq!(buf, b"one");
    let e = cell
        .read_newer_into(1, &mut buf, Some(Duration::from_millis(20)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}
