//! Segment lifecycle and lock costs.
//!
//! * `segment/create+close`, `segment/open+close`: the system calls of a handle's life. A
//!   `LastClose` create also hands the segment to its guardian process (Linux), which forks a
//!   waiter for it; `segment/create+close-persistent` (no guardian, then removed) shows that
//!   cost by difference.
//! * `lock/uncontended`: lock + unlock with nobody else around (goal: median < 50 ns).
//! * `lock/handoff-2proc`: two processes taking turns through the lock (strict alternation by a
//!   turn counter), next to `baseline/futex-pingpong-2proc`, a bare shared futex ping-pong
//!   between the same two processes: the cost of the kernel's sleep/wake that any cross-process
//!   hand-off pays.
//! * `copy/read-64KiB/d`, `copy/write-64KiB/d`: `Segment::read` and `Segment::write` of 64 KiB
//!   between a segment and a private buffer placed so that the copy's destination lies `d`
//!   bytes past its source modulo 4 KiB, next to `copy/memcpy-64KiB/d`, a plain copy at the same
//!   distance. At `d` = 16, `rep movsb` (and glibc's `memcpy` at these sizes), on the AMD EPYC
//!   we measure on, runs over ten times slower than at 2048: shmkit's copies take another loop
//!   there (see `shared.rs`).
//!
//! Run with `cargo bench -p shmkit --bench segment`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, black_box};
use shmkit::bench_support::page_aligned;
use shmkit::{Access, Segment, SegmentOptions};

const ROLE: &str = "SHMKIT_BENCH_ROLE";

fn name(tag: &str) -> String {
    format!("bench-{tag}-{}", std::process::id())
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment");
    let n = name("life");
    g.bench_function("create+close", |b| {
        b.iter(|| drop(Segment::create(&n, 4096).unwrap()))
    });
    if shmkit::test_support::PERSISTENT {
        g.bench_function("create+close-persistent", |b| {
            let opts = SegmentOptions::new()
                .size(4096)
                .lifetime(shmkit::Lifetime::Persistent);
            b.iter(|| {
                drop(opts.create(&n).unwrap());
                Segment::remove(&n).unwrap();
            })
        });
    }
    let keep = Segment::create(&n, 4096).unwrap();
    g.bench_function("open+close", |b| {
        b.iter(|| drop(Segment::open(&n, Access::ReadWrite).unwrap()))
    });
    drop(keep);
    g.finish();
}

fn lock_uncontended(c: &mut Criterion) {
    let seg = Segment::create(name("lock"), 64).unwrap();
    c.bench_function("lock/uncontended", |b| {
        b.iter(|| drop(black_box(seg.lock().unwrap())))
    });
}

/// A child process of this bench binary in `role`, talking over stdin/stdout.
struct Peer {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Peer {
    fn start(role: &str, seg: &str) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .arg(seg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer { child, out }
    }

    /// Asks the peer to run `iters` rounds; it answers when done.
    fn run(&mut self, iters: u64) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{iters}").unwrap();
    }

    fn done(&mut self) {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One round of strict alternation through the lock: wait (by locking and looking) until the
/// turn counter has `parity`, then advance it. Each round hands the lock to the other process.
fn lock_turn(seg: &Segment, parity: u64) {
    loop {
        let _g = seg.lock().unwrap();
        let mut b = [0u8; 8];
        seg.read(0, &mut b).unwrap();
        let turn = u64::from_le_bytes(b);
        if turn % 2 == parity {
            seg.write(0, &(turn + 1).to_le_bytes()).unwrap();
            return;
        }
        drop(_g);
        std::thread::yield_now();
    }
}

/// The futex word of the baseline ping-pong: the data region's first 4 bytes.
fn futex_word(seg: &Segment) -> &AtomicU32 {
    // SAFETY: the data region is page-aligned, at least 64 bytes long and mapped read-write
    // for the life of `seg`; AtomicU32 is valid for any bit pattern.
    unsafe { &*seg.as_ptr().cast::<AtomicU32>() }
}

/// A bare futex ping-pong round: wait until the word has `parity`, flip it, wake the peer.
fn futex_turn(w: &AtomicU32, parity: u32) {
    loop {
        let v = w.load(Ordering::Acquire);
        if v % 2 == parity {
            w.store(v + 1, Ordering::Release);
            futex_wake(w);
            return;
        }
        futex_wait(w, v);
    }
}

fn futex_wait(w: &AtomicU32, v: u32) {
    shmkit::bench_support::futex_wait(w, v, None);
}

fn futex_wake(w: &AtomicU32) {
    shmkit::bench_support::futex_wake(w, 1);
}

fn two_process(c: &mut Criterion) {
    let mut g = c.benchmark_group("2proc");
    g.measurement_time(Duration::from_secs(3));
    let n = name("handoff");
    let seg = SegmentOptions::new().size(64).create(&n).unwrap();
    let mut peer = Peer::start("lock-handoff", &n);
    g.bench_function("lock-handoff", |b| {
        b.iter_custom(|iters| {
            seg.write(0, &0u64.to_le_bytes()).unwrap();
            peer.run(iters);
            let t0 = Instant::now();
            for _ in 0..iters {
                lock_turn(&seg, 0);
            }
            let dt = t0.elapsed();
            peer.done();
            dt
        })
    });
    drop(peer);
    let mut peer = Peer::start("futex-pingpong", &n);
    g.bench_function("baseline-futex-pingpong", |b| {
        b.iter_custom(|iters| {
            futex_word(&seg).store(0, Ordering::Relaxed);
            peer.run(iters);
            let t0 = Instant::now();
            for _ in 0..iters {
                futex_turn(futex_word(&seg), 0);
            }
            let dt = t0.elapsed();
            peer.done();
            dt
        })
    });
    g.finish();
}

/// The child side: run rounds with parity 1 for each request.
fn child(role: &str) {
    let seg_name = std::env::args().nth(1).unwrap();
    let seg = Segment::open(&seg_name, Access::ReadWrite).unwrap();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let iters: u64 = line.unwrap().trim().parse().unwrap();
        for _ in 0..iters {
            match role {
                "lock-handoff" => lock_turn(&seg, 1),
                _ => futex_turn(futex_word(&seg), 1),
            }
        }
        println!("done");
    }
}

fn copies(c: &mut Criterion) {
    const LEN: usize = 64 << 10;
    let seg = Segment::create(name("copy"), LEN).unwrap();
    seg.write(0, &vec![3u8; LEN]).unwrap();
    let mut src = vec![5u8; LEN + 4096];
    let src = &*page_aligned(&mut src, LEN);
    // A copy's length and a page more, from a page boundary on: room for every offset.
    let mut buf = vec![0u8; LEN + 2 * 4096];
    let buf = page_aligned(&mut buf, LEN + 4096);
    let mut g = c.benchmark_group("copy");
    // Where the segment's data starts in its page.
    let seg_at = seg.as_ptr() as usize % 4096;
    for d in [16usize, 2048] {
        // Buffers placed so that each copy's destination lies `d` bytes past its source, modulo
        // 4 KiB (a read's destination is the buffer, a write's the segment).
        let (read_at, write_at) = ((seg_at + d) % 4096, (seg_at + 4096 - d) % 4096);
        g.bench_function(format!("read-64KiB/{d}"), |b| {
            b.iter(|| {
                seg.read(0, black_box(&mut buf[read_at..read_at + LEN]))
                    .unwrap()
            })
        });
        g.bench_function(format!("write-64KiB/{d}"), |b| {
            b.iter(|| {
                seg.write(0, black_box(&buf[write_at..write_at + LEN]))
                    .unwrap()
            })
        });
        g.bench_function(format!("memcpy-64KiB/{d}"), |b| {
            b.iter(|| buf[d..d + LEN].copy_from_slice(black_box(src)))
        });
    }
    g.finish();
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    lifecycle(&mut c);
    lock_uncontended(&mut c);
    two_process(&mut c);
    copies(&mut c);
    c.final_summary();
}
