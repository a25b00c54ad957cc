//! Throughput between two real processes: frames of 64 KiB, 1 MiB and 8 MiB from a writer to a
//! reader that checksums every byte it receives (and the checksums are checked). The writer
//! makes every frame anew (a pattern fill, as a camera or renderer would), in its own buffer
//! before handing it over — or, zero-copy, straight into the stream's ring.
//!
//! | pipeline | the writer | the reader |
//! | --- | --- | --- |
//! | `stream` | `send` copies the frame into the ring (one copy) | checksums it in the ring (`recv_with`) |
//! | `stream-zero-copy` | fills a `loan` in the ring in place (no copy) | the same |
//! | `stream-handoff` | commits a `loan` without writing it | takes the frame without reading it: the cost of the hand-off alone, which must not grow with the frame |
//! | `cell` | `publish` copies it in, then waits for the reader's ack | `read_into` copies it out, checksums |
//! | `plain-ring` | copies into fixed slots of a raw segment, no framing, spinning (the limit of one copy through shared memory) | checksums in place |
//! | `unix-socket`, `pipe` | `write_all` | `read_exact` into a buffer, checksums |
//!
//! The shmkit stream is `Block` (no frame lost), its ring holds at least four frames up to
//! 32 MiB (see `ring_for`), and its reader spins 100 µs before it sleeps.
//! Each case runs batches of about 64 MiB; a batch ends when the reader reports its checksum.

use std::io::{Read, Write};
use std::process::ChildStdin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmkit::bench_support::{
    LocalStream, checksum, checksum_in, fill, local_accept, local_connect, local_listen, word,
};
use shmkit::stream::{Policy, StreamOptions};
use shmkit::{Access, Cell, CellOptions, Lifetime, Segment, SegmentOptions};

use super::Peer;
use crate::error::{Error, Result};

const PATIENCE: Duration = Duration::from_secs(10);
const SPIN: Duration = Duration::from_micros(100);
/// Bytes per batch.
const BATCH_BYTES: usize = 64 << 20;
/// Slots of the plain ring.
const RING_SLOTS: usize = 4;
/// Where the plain ring's slots start in its segment (its two counters come first).
const RING_DATA: usize = 4096;

/// The frame sizes.
pub const SIZES: [(usize, &str); 3] =
    [(64 << 10, "64 KiB"), (1 << 20, "1 MiB"), (8 << 20, "8 MiB")];

/// A way to move frames from one process to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    Stream,
    StreamZeroCopy,
    StreamHandoff,
    Cell,
    PlainRing,
    UnixSocket,
    Pipe,
}

impl Pipeline {
    pub const ALL: [Pipeline; 7] = [
        Pipeline::Stream,
        Pipeline::StreamZeroCopy,
        Pipeline::StreamHandoff,
        Pipeline::Cell,
        Pipeline::PlainRing,
        Pipeline::UnixSocket,
        Pipeline::Pipe,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Pipeline::Stream => "stream",
            Pipeline::StreamZeroCopy => "stream-zero-copy",
            Pipeline::StreamHandoff => "stream-handoff",
            Pipeline::Cell => "cell",
            Pipeline::PlainRing => "plain-ring",
            Pipeline::UnixSocket => "unix-socket",
            Pipeline::Pipe => "pipe",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Pipeline::Stream => "shmkit stream, one copy in",
            Pipeline::StreamZeroCopy => "shmkit stream, zero-copy (loan filled in place)",
            Pipeline::StreamHandoff => "shmkit stream, hand-off only (nobody touches the bytes)",
            Pipeline::Cell => "shmkit cell, copy in, copy out, lockstep",
            Pipeline::PlainRing => "plain one-copy shared-memory ring (limit)",
            Pipeline::UnixSocket => "Unix socket",
            Pipeline::Pipe => "pipe",
        }
    }

    pub fn from_id(id: &str) -> Option<Pipeline> {
        Pipeline::ALL.into_iter().find(|p| p.id() == id)
    }
}

/// Frames per batch of `size`-byte frames. A batch ends with a report from the reader (a
/// wake-up, tens of microseconds here), so the hand-off case, whose frames cost far less, needs
/// many frames per batch at every size.
fn per_batch(p: Pipeline, size: usize) -> usize {
    match p {
        Pipeline::StreamHandoff => 4096,
        _ => (BATCH_BYTES / size).max(4),
    }
}

/// The stream's ring: room for four frames (as the plain ring has four slots), unless that
/// passes 32 MiB — a ring that leaves the cache is slower than one that stays — then two.
fn ring_for(size: usize) -> usize {
    let frame = shmkit::stream::frame_size(size);
    if 4 * frame <= 32 << 20 {
        4 * frame
    } else {
        2 * frame
    }
}

/// The writer's end.
enum End {
    Stream(Box<shmkit::stream::Publisher>),
    Cell { data: Box<Cell>, ack: Box<Cell> },
    Ring(Segment),
    Socket(LocalStream),
    Pipe(ChildStdin),
}

/// Runs `batches` batches of `size`-byte frames through `p`; returns nanoseconds per frame for
/// each batch.
pub fn measure(p: Pipeline, size: usize, batches: usize) -> Result<Vec<u64>> {
    // Short: portable names have at most 30 characters, and `-d`/`-k` come on top.
    let index = Pipeline::ALL.iter().position(|&q| q == p).unwrap_or(0);
    let base = format!("bench-{}-t{index}-{}", std::process::id(), size >> 10);
    let socket = std::env::temp_dir().join(format!("{base}.sock"));
    let n = per_batch(p, size);
    let shared = match p {
        Pipeline::Stream | Pipeline::StreamZeroCopy | Pipeline::StreamHandoff => {
            Some(End::Stream(Box::new(
                StreamOptions::new()
                    .max_frame(size)
                    .ring(ring_for(size))
                    .policy(Policy::Block)
                    .spin(SPIN)
                    .create(base.as_str())?,
            )))
        }
        Pipeline::Cell => Some(End::Cell {
            data: Box::new(
                CellOptions::new()
                    .capacity(size)
                    .spin(SPIN)
                    .create(format!("{base}-d"))?,
            ),
            ack: Box::new(
                CellOptions::new()
                    .capacity(8)
                    .spin(SPIN)
                    .create(format!("{base}-k"))?,
            ),
        }),
        Pipeline::PlainRing => Some(End::Ring(
            SegmentOptions::new()
                .raw(true)
                .lifetime(Lifetime::LastClose)
                .size(RING_DATA + RING_SLOTS * size)
                .create(base.as_str())?,
        )),
        Pipeline::UnixSocket | Pipeline::Pipe => None,
    };
    let listener = match p {
        Pipeline::UnixSocket => Some(local_listen(&socket)?),
        _ => None,
    };
    let mut args = vec![format!("--size={size}"), format!("--frames={n}")];
    if listener.is_some() {
        args.push(socket.display().to_string());
    }
    let mut peer = Peer::start("throughput", p.id(), &base, &args)?;
    let mut end = match (shared, listener) {
        (Some(e), _) => e,
        (None, Some(l)) => End::Socket(local_accept(&l)?),
        (None, None) => End::Pipe(peer.child.stdin.take().expect("piped stdin")),
    };
    let mut frame = vec![0u8; size];
    let mut samples = Vec::with_capacity(batches);
    let mut seed = 0u64;
    for _ in 0..=batches {
        let t0 = Instant::now();
        let mut want = 0u64;
        for _ in 0..n {
            seed += 1;
            want = want.wrapping_add(send(&mut end, p, &mut frame, seed)?);
        }
        let got = batch_done(&mut peer, p)?;
        let dt = t0.elapsed();
        if got != want {
            return Err(Error::Failed(format!(
                "bench {} {size}: the reader's checksum {got:#x} is not the writer's {want:#x}",
                p.id()
            )));
        }
        samples.push((dt.as_nanos() / n as u128) as u64);
    }
    samples.remove(0); // the first batch warms up
    drop(peer);
    drop(end);
    let _ = std::fs::remove_file(&socket);
    Ok(samples)
}

/// Makes frame number `seed` and sends it; returns the checksum the reader must compute for it.
fn send(end: &mut End, p: Pipeline, frame: &mut [u8], seed: u64) -> Result<u64> {
    let i = seed - 1;
    if let End::Stream(publisher) = end {
        match p {
            Pipeline::StreamZeroCopy => {
                let mut loan = publisher.loan(frame.len())?;
                let sum = fill(&mut loan, seed);
                loan.commit();
                return Ok(sum);
            }
            Pipeline::StreamHandoff => {
                publisher.loan(frame.len())?.commit();
                return Ok(frame.len() as u64);
            }
            _ => {}
        }
    }
    let sum = fill(frame, seed);
    match end {
        End::Stream(publisher) => {
            publisher.send(frame)?;
        }
        End::Cell { data, ack } => {
            let seq = data.publish(frame)?;
            ack.wait_newer(seq - 1, Some(PATIENCE))?;
        }
        End::Ring(seg) => {
            let (head, tail) = (word(seg, 0), word(seg, 64));
            let i = i as u32;
            spin_until(|| i.wrapping_sub(tail.load(Ordering::Acquire)) < RING_SLOTS as u32)?;
            seg.write(RING_DATA + (i as usize % RING_SLOTS) * frame.len(), frame)?;
            head.store(i + 1, Ordering::Release);
        }
        End::Socket(s) => s.write_all(frame)?,
        End::Pipe(w) => w.write_all(frame)?,
    }
    Ok(sum)
}

/// Spins (yielding now and then) until `ready()`; an error after `PATIENCE`.
fn spin_until(ready: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    let mut n = 0u32;
    while !ready() {
        std::hint::spin_loop();
        n = n.wrapping_add(1);
        if n % 1024 == 0 {
            std::thread::yield_now();
            if start.elapsed() > PATIENCE {
                return Err(Error::Failed("bench: the other process stopped".into()));
            }
        }
    }
    Ok(())
}

/// Waits for the reader's checksum of a batch.
fn batch_done(peer: &mut Peer, p: Pipeline) -> Result<u64> {
    let line = peer.line()?;
    line.trim()
        .strip_prefix("done ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Failed(format!("bench {}: the reader stopped ({line:?})", p.id())))
}

/// The reader's side: receive batches of `n` frames, print each batch's checksum.
pub fn serve(p: Pipeline, base: &str, size: usize, n: usize, socket: Option<&str>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut report = |sum: u64| -> Result<()> {
        writeln!(stdout, "done {sum}")?;
        stdout.flush()?;
        Ok(())
    };
    match p {
        Pipeline::Stream | Pipeline::StreamZeroCopy | Pipeline::StreamHandoff => {
            let mut sub = StreamOptions::new().spin(SPIN).subscribe(base)?;
            println!("ready");
            // The hand-off case only counts bytes: nobody reads them.
            let look: fn(&[u8]) -> u64 = match p {
                Pipeline::StreamHandoff => |b| b.len() as u64,
                _ => checksum,
            };
            loop {
                let mut sum = 0u64;
                for _ in 0..n {
                    let (s, _) = sub.recv_with(PATIENCE, look)?;
                    sum = sum.wrapping_add(s);
                }
                report(sum)?;
            }
        }
        Pipeline::Cell => {
            let data = CellOptions::new()
                .access(Access::ReadOnly)
                .spin(SPIN)
                .open(format!("{base}-d"))?;
            let ack = Cell::open(format!("{base}-k"), Access::ReadWrite)?;
            println!("ready");
            let mut buf = Vec::with_capacity(size);
            let mut seq = 0;
            loop {
                let mut sum = 0u64;
                for _ in 0..n {
                    data.wait_newer(seq, Some(PATIENCE))?;
                    seq = data.read_into(&mut buf)?;
                    sum = sum.wrapping_add(checksum(&buf));
                    ack.publish(&seq.to_le_bytes())?;
                }
                report(sum)?;
            }
        }
        Pipeline::PlainRing => {
            let seg = SegmentOptions::new().raw(true).open(base)?;
            let (head, tail): (&AtomicU32, &AtomicU32) = (word(&seg, 0), word(&seg, 64));
            println!("ready");
            let mut i = 0u32;
            loop {
                let mut sum = 0u64;
                for _ in 0..n {
                    spin_until(|| head.load(Ordering::Acquire) != i)?;
                    sum = sum.wrapping_add(checksum_in(
                        &seg,
                        RING_DATA + (i as usize % RING_SLOTS) * size,
                        size,
                    ));
                    i = i.wrapping_add(1);
                    tail.store(i, Ordering::Release);
                }
                report(sum)?;
            }
        }
        Pipeline::UnixSocket => {
            let path = socket.ok_or_else(|| Error::Failed("no socket path".into()))?;
            let mut s = local_connect(std::path::Path::new(path))?;
            println!("ready");
            read_batches(&mut s, size, n, &mut report)
        }
        Pipeline::Pipe => {
            println!("ready");
            read_batches(&mut std::io::stdin().lock(), size, n, &mut report)
        }
    }
}

fn read_batches(
    r: &mut impl Read,
    size: usize,
    n: usize,
    report: &mut impl FnMut(u64) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        let mut sum = 0u64;
        for _ in 0..n {
            if r.read_exact(&mut buf).is_err() {
                return Ok(());
            }
            sum = sum.wrapping_add(checksum(&buf));
        }
        report(sum)?;
    }
}
