//! Stream costs in one process, so that a regression shows in `cargo bench`:
//!
//! * `stream/send-recv-64B`: one 64-byte frame sent and received by a subscriber of the same
//!   process (the whole path but the cache-line transfers between CPUs, which `shmkit bench`
//!   measures with two processes);
//! * `stream/send-recv-8B`: the same with an 8-byte frame, which takes the small-frame paths
//!   (`send_small`, `try_receive_small`: the spinning hand-off's);
//! * `stream/loan-commit-64B`: a zero-copy frame with no subscriber reading it;
//! * `stream/recv-view-4KiB`: an in-place receive of a 4 KiB frame and a checksum of it, next to
//!   `stream/recv-copy-4KiB`, a receive by copy and the same checksum.
//!
//! Run with `cargo bench -p shmkit --bench stream`.

use criterion::{Criterion, black_box};
use shmkit::stream::{StreamOptions, Subscriber};

fn name(tag: &str) -> String {
    format!("bench-{tag}-{}", std::process::id())
}

fn send_recv(c: &mut Criterion) {
    let mut p = StreamOptions::new()
        .max_frame(64)
        .ring(64 << 10)
        .create(name("s64"))
        .unwrap();
    let mut s = Subscriber::open(p.name()).unwrap();
    let frame = [3u8; 64];
    let mut buf = Vec::with_capacity(64);
    c.bench_function("stream/send-recv-64B", |b| {
        b.iter(|| {
            p.send(black_box(&frame)).unwrap();
            s.try_recv(&mut buf).unwrap().unwrap()
        })
    });
    let small = [3u8; 8];
    c.bench_function("stream/send-recv-8B", |b| {
        b.iter(|| {
            p.send(black_box(&small)).unwrap();
            s.try_recv(&mut buf).unwrap().unwrap()
        })
    });
    c.bench_function("stream/loan-commit-64B", |b| {
        b.iter(|| {
            let mut loan = p.loan(64).unwrap();
            loan[0] = 1;
            loan.commit()
        })
    });
}

fn views(c: &mut Criterion) {
    let mut p = StreamOptions::new()
        .max_frame(4096)
        .ring(1 << 20)
        .create(name("s4k"))
        .unwrap();
    let mut s = Subscriber::open(p.name()).unwrap();
    let frame = vec![5u8; 4096];
    let sum = |b: &[u8]| b.iter().map(|&x| u64::from(x)).sum::<u64>();
    c.bench_function("stream/recv-view-4KiB", |b| {
        b.iter(|| {
            p.send(&frame).unwrap();
            let view = s.try_recv_view().unwrap().unwrap();
            let mut total = 0;
            view.bytes().for_each_chunk(|c| total += sum(c));
            view.release().unwrap();
            total
        })
    });
    let mut buf = Vec::with_capacity(4096);
    c.bench_function("stream/recv-copy-4KiB", |b| {
        b.iter(|| {
            p.send(&frame).unwrap();
            s.try_recv(&mut buf).unwrap().unwrap();
            sum(&buf)
        })
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    send_recv(&mut c);
    views(&mut c);
    c.final_summary();
}
