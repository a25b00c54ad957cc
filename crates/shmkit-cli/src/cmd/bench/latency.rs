//! Ping-pong between two real processes: the round-trip time of an 8-byte message, for shmkit
//! and for the baselines, each over its own channel:
//!
//! | channel | how the message travels and how the receiver waits |
//! | --- | --- |
//! | `raw-atomics` | a 32-bit word in shared memory; the receiver spins (the baseline of the spinning channels) |
//! | `raw-futex` | the same word; the receiver sleeps on a futex, the sender wakes it every time |
//! | `unix-socket` | a connected Unix stream socket; blocking reads |
//! | `pipe` | the peer's stdin and stdout; blocking reads |
//! | `cell` | two shmkit cells (ping, pong), each with its one exclusive writer; the receiver sleeps in `wait_newer` |
//! | `cell-spin` | the same, with a 100 µs spin before sleeping |
//! | `cell-spin-shared` | the same, with writers that take the cell's lock for every publish (the default) |
//! | `stream` | two shmkit streams (ping, pong); the receiver sleeps in `recv_timeout` |
//! | `stream-spin` | the same, with a 100 µs spin before sleeping |
//!
//! The median comes from round trips timed in blocks of [`BLOCK`]: one read of the clock per
//! block, so the clock's own cost (about 20 ns on the bench's VM, whose clock also moves in
//! 10 ns steps) is a fraction of a nanosecond per round trip. Timed one by one, every round
//! trip carried it: the same 20 ns added to a spinning round trip of about 90 ns and to its
//! baseline alike, which pulled every ratio toward 1 (raw atomics read 110 ns, not 90). The
//! 99th percentile, which needs every round trip's own time, comes from a second pass that
//! times them one by one (a tail of microseconds is not moved by 20 ns).

use std::io::{BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmkit::bench_support::{
    LocalStream, futex_wait, futex_wake, local_accept, local_connect, local_listen, word,
};
use shmkit::stream::{Publisher, StreamOptions, Subscriber};
use shmkit::{Access, Cell, CellOptions, Segment};

use super::Peer;
use super::stats::Summary;
use crate::error::{Error, Result};

/// How long one side waits for the other before it decides the peer is gone.
const PATIENCE: Duration = Duration::from_secs(5);
/// Round trips timed together for the median.
pub const BLOCK: usize = 50;
/// The spin of the `cell-spin` channel.
const CELL_SPIN: Duration = Duration::from_micros(100);

/// A way to send 8 bytes to another process and get them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    RawAtomics,
    RawFutex,
    UnixSocket,
    Pipe,
    Cell,
    CellSpin,
    CellSpinShared,
    Stream,
    StreamSpin,
}

impl Channel {
    pub const ALL: [Channel; 9] = [
        Channel::RawAtomics,
        Channel::CellSpin,
        Channel::CellSpinShared,
        Channel::StreamSpin,
        Channel::RawFutex,
        Channel::Cell,
        Channel::Stream,
        Channel::UnixSocket,
        Channel::Pipe,
    ];

    /// The name used on the command line and in JSON.
    pub fn id(self) -> &'static str {
        match self {
            Channel::RawAtomics => "raw-atomics",
            Channel::RawFutex => "raw-futex",
            Channel::UnixSocket => "unix-socket",
            Channel::Pipe => "pipe",
            Channel::Cell => "cell",
            Channel::CellSpin => "cell-spin",
            Channel::CellSpinShared => "cell-spin-shared",
            Channel::Stream => "stream",
            Channel::StreamSpin => "stream-spin",
        }
    }

    /// What people read in the table.
    pub fn label(self) -> &'static str {
        match self {
            Channel::RawAtomics => "raw atomics, spinning (baseline)",
            Channel::RawFutex => "raw futex, blocking",
            Channel::UnixSocket => "Unix socket, blocking",
            Channel::Pipe => "pipe, blocking",
            Channel::Cell => "shmkit cell, blocking",
            Channel::CellSpin => "shmkit cell, spin 100 µs then block",
            Channel::CellSpinShared => "  the same, writers locking per publish",
            Channel::Stream => "shmkit stream, blocking",
            Channel::StreamSpin => "shmkit stream, spin 100 µs then block",
        }
    }

    pub fn from_id(id: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Whether both sides spin (many cheap rounds) rather than sleep.
    pub fn spins(self) -> bool {
        matches!(
            self,
            Channel::RawAtomics | Channel::CellSpin | Channel::CellSpinShared | Channel::StreamSpin
        )
    }
}

/// The parent's end of a channel (the shmkit handles boxed: they are several hundred bytes).
enum End {
    Words(Segment),
    Socket(LocalStream, std::path::PathBuf),
    Pipe(ChildStdin, BufReader<ChildStdout>),
    Cells {
        ping: Box<Cell>,
        pong: Box<Cell>,
    },
    Streams {
        ping: Box<Publisher>,
        pong: Box<Subscriber>,
        buf: Vec<u8>,
    },
}

/// The spin of the spinning channels (zero for the blocking ones).
fn spin_of(ch: Channel) -> Duration {
    match ch {
        Channel::CellSpin | Channel::CellSpinShared | Channel::StreamSpin => CELL_SPIN,
        _ => Duration::ZERO,
    }
}

/// Whether each cell's writer holds its lock for good (`CellOptions::exclusive`), rather than
/// for each publish.
fn exclusive_of(ch: Channel) -> bool {
    ch != Channel::CellSpinShared
}

/// Runs `warmup + rounds` round trips with a fresh peer process; returns the measured ones, in
/// nanoseconds.
pub fn measure(ch: Channel, rounds: usize, warmup: usize) -> Result<Option<Summary>> {
    let base = format!("bench-{}-{}", std::process::id(), ch.id());
    let socket = std::env::temp_dir().join(format!("{base}.sock"));
    // What the peer opens must exist before it starts.
    let spin = spin_of(ch);
    let cells = CellOptions::new().capacity(8).spin(spin);
    let writer = cells.clone().exclusive(exclusive_of(ch));
    let streams = StreamOptions::new().max_frame(64).spin(spin);
    let shared = match ch {
        Channel::RawAtomics | Channel::RawFutex => {
            Some(End::Words(Segment::create(format!("{base}-w"), 128)?))
        }
        // We write `a`; the peer writes `b`, which we create for it and only read.
        Channel::Cell | Channel::CellSpin | Channel::CellSpinShared => Some(End::Cells {
            ping: Box::new(writer.create(format!("{base}-a"))?),
            pong: Box::new(cells.create(format!("{base}-b"))?),
        }),
        Channel::Stream | Channel::StreamSpin => {
            // We publish `a`; the peer publishes `b`, which we create and hand over (our
            // subscription keeps it alive meanwhile).
            let ping = streams.create(format!("{base}-a"))?;
            let handover = streams.create(format!("{base}-b"))?;
            let pong = streams.subscribe(format!("{base}-b"))?;
            drop(handover);
            Some(End::Streams {
                ping: Box::new(ping),
                pong: Box::new(pong),
                buf: Vec::with_capacity(64),
            })
        }
        Channel::UnixSocket | Channel::Pipe => None,
    };
    let listener = match ch {
        Channel::UnixSocket => Some(local_listen(&socket)?),
        _ => None,
    };
    let socket_arg: Vec<String> = match listener {
        Some(_) => vec![socket.display().to_string()],
        None => vec![],
    };
    let mut peer = Peer::start("latency", ch.id(), &base, &socket_arg)?;
    let mut end = match (shared, listener) {
        (Some(end), _) => end,
        (None, Some(l)) => End::Socket(local_accept(&l)?, socket),
        (None, None) => End::Pipe(
            peer.child.stdin.take().expect("piped stdin"),
            peer.out.take().expect("peer stdout"),
        ),
    };
    let mut i = 0u32;
    let mut next = || {
        i += 1;
        i
    };
    for _ in 0..warmup {
        round_trip(&mut end, ch, next())?;
    }
    // The median: `rounds` round trips in blocks, each block's mean.
    let mut means = Vec::with_capacity(rounds / BLOCK);
    for _ in 0..rounds.div_ceil(BLOCK) {
        let t0 = Instant::now();
        for _ in 0..BLOCK {
            round_trip(&mut end, ch, next())?;
        }
        means.push((t0.elapsed().as_nanos() / BLOCK as u128) as u64);
    }
    // The tail: half as many again, one by one.
    let mut each = Vec::with_capacity(rounds / 2);
    for _ in 0..rounds / 2 {
        let t0 = Instant::now();
        round_trip(&mut end, ch, next())?;
        each.push(t0.elapsed().as_nanos() as u64);
    }
    if let End::Socket(_, path) = &end {
        let _ = std::fs::remove_file(path);
    }
    // The peer goes first: if it were the last holder of the shared objects, its death would
    // leave them behind as stale segments instead of removing them.
    drop(peer);
    drop(end);
    Ok(Summary::of_two(means, each))
}

fn gone(ch: Channel) -> Error {
    Error::Failed(format!(
        "bench {}: the peer process stopped answering",
        ch.id()
    ))
}

fn round_trip(end: &mut End, ch: Channel, i: u32) -> Result<()> {
    match end {
        End::Words(seg) => {
            let (ping, pong) = (word(seg, 0), word(seg, 64));
            ping.store(i, Ordering::Release);
            if ch == Channel::RawFutex {
                futex_wake(ping, 1);
                sleep_until(pong, i).ok_or_else(|| gone(ch))
            } else {
                spin_until(pong, i).ok_or_else(|| gone(ch))
            }
        }
        End::Socket(s, _) => {
            s.write_all(&u64::from(i).to_le_bytes())?;
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            Ok(())
        }
        End::Pipe(w, r) => {
            w.write_all(&u64::from(i).to_le_bytes())?;
            w.flush()?;
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            Ok(())
        }
        End::Cells { ping, pong } => {
            ping.publish(&u64::from(i).to_le_bytes())?;
            pong.wait_newer(u64::from(i) - 1, Some(PATIENCE))
                .map_err(|_| gone(ch))?;
            Ok(())
        }
        End::Streams { ping, pong, buf } => {
            ping.send(&u64::from(i).to_le_bytes())?;
            pong.recv_timeout(buf, PATIENCE).map_err(|_| gone(ch))?;
            Ok(())
        }
    }
}

/// Spins until `w == want`; `None` after `PATIENCE`.
fn spin_until(w: &AtomicU32, want: u32) -> Option<()> {
    let start = Instant::now();
    let mut n = 0u32;
    while w.load(Ordering::Acquire) != want {
        std::hint::spin_loop();
        n = n.wrapping_add(1);
        if n % 4096 == 0 && start.elapsed() > PATIENCE {
            return None;
        }
    }
    Some(())
}

/// Sleeps on the futex until `w == want`; `None` after `PATIENCE`.
fn sleep_until(w: &AtomicU32, want: u32) -> Option<()> {
    let start = Instant::now();
    loop {
        let v = w.load(Ordering::Acquire);
        if v == want {
            return Some(());
        }
        if start.elapsed() > PATIENCE {
            return None;
        }
        futex_wait(w, v, Some(Duration::from_millis(100)));
    }
}

/// The peer's side: answer every ping until the parent goes away.
pub fn serve(ch: Channel, base: &str, socket: Option<&str>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match ch {
        Channel::RawAtomics | Channel::RawFutex => {
            let seg = Segment::open(format!("{base}-w"), Access::ReadWrite)?;
            let (ping, pong) = (word(&seg, 0), word(&seg, 64));
            writeln!(stdout, "ready")?;
            stdout.flush()?;
            let mut last = 0;
            loop {
                let waited = if ch == Channel::RawFutex {
                    sleep_until_not(ping, last)
                } else {
                    spin_until_not(ping, last)
                };
                let Some(v) = waited else { return Ok(()) };
                last = v;
                pong.store(v, Ordering::Release);
                if ch == Channel::RawFutex {
                    futex_wake(pong, 1);
                }
            }
        }
        Channel::Cell | Channel::CellSpin | Channel::CellSpinShared => {
            let ping = CellOptions::new()
                .access(Access::ReadOnly)
                .spin(spin_of(ch))
                .open(format!("{base}-a"))?;
            let pong = CellOptions::new()
                .exclusive(exclusive_of(ch))
                .open(format!("{base}-b"))?;
            writeln!(stdout, "ready")?;
            stdout.flush()?;
            let mut seq = 0;
            let mut buf = Vec::with_capacity(8);
            loop {
                match ping.wait_newer(seq, Some(PATIENCE)) {
                    Ok(s) => seq = s,
                    Err(_) => return Ok(()),
                }
                ping.read_into(&mut buf)?;
                pong.publish(&buf)?;
            }
        }
        Channel::Stream | Channel::StreamSpin => {
            let mut ping = StreamOptions::new()
                .spin(spin_of(ch))
                .subscribe(format!("{base}-a"))?;
            let mut pong = StreamOptions::new().open_publisher(format!("{base}-b"), PATIENCE)?;
            writeln!(stdout, "ready")?;
            stdout.flush()?;
            let mut buf = Vec::with_capacity(64);
            loop {
                if ping.recv_timeout(&mut buf, PATIENCE).is_err() {
                    return Ok(());
                }
                pong.send(&buf)?;
            }
        }
        Channel::UnixSocket => {
            let path = socket.ok_or_else(|| Error::Failed("no socket path".into()))?;
            let mut s = local_connect(std::path::Path::new(path))?;
            writeln!(stdout, "ready")?;
            stdout.flush()?;
            echo(&mut s.try_clone()?, &mut s)
        }
        Channel::Pipe => {
            writeln!(stdout, "ready")?;
            stdout.flush()?;
            let mut stdin = std::io::stdin().lock();
            echo(&mut stdin, &mut stdout)
        }
    }
}

/// Echoes 8-byte messages until the other end closes.
fn echo(r: &mut impl Read, w: &mut impl Write) -> Result<()> {
    let mut b = [0u8; 8];
    while r.read_exact(&mut b).is_ok() {
        w.write_all(&b)?;
        w.flush()?;
    }
    Ok(())
}

fn spin_until_not(w: &AtomicU32, last: u32) -> Option<u32> {
    let start = Instant::now();
    let mut n = 0u32;
    loop {
        let v = w.load(Ordering::Acquire);
        if v != last {
            return Some(v);
        }
        std::hint::spin_loop();
        n = n.wrapping_add(1);
        if n % 4096 == 0 && start.elapsed() > PATIENCE {
            return None;
        }
    }
}

fn sleep_until_not(w: &AtomicU32, last: u32) -> Option<u32> {
    let start = Instant::now();
    loop {
        let v = w.load(Ordering::Acquire);
        if v != last {
            return Some(v);
        }
        if start.elapsed() > PATIENCE {
            return None;
        }
        futex_wait(w, v, Some(Duration::from_millis(100)));
    }
}
