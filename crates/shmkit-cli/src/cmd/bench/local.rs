//! In-process costs, next to their limit: a cell snapshot against a plain `memcpy` of the same
//! size, a publish that nobody waits for (by a shared writer, and by an exclusive one), and a
//! stream frame sent and received in the same thread: the instructions of a spinning hand-off
//! without its cache-line transfers, so that a run shows how fast this machine's cores are
//! next to its transfers (a spinning round trip is two of these plus two transfers).

use std::hint::black_box;
use std::time::{Duration, Instant};

use shmkit::bench_support::page_aligned;
use shmkit::stream::{StreamOptions, Subscriber};
use shmkit::{Access, Cell, CellOptions};

use crate::error::Result;

/// Sizes of the copy cases.
pub const SIZES: [(usize, &str); 3] = [(64, "64 B"), (4096, "4 KiB"), (1 << 20, "1 MiB")];

/// Times `op` in batches of about `batch_time` each, `batches` times; returns nanoseconds per
/// operation for each batch.
fn batches(batches: usize, batch_time: Duration, mut op: impl FnMut()) -> Vec<u64> {
    // Calibrate: how many operations fill a batch.
    let mut n = 1u64;
    loop {
        let t0 = Instant::now();
        for _ in 0..n {
            op();
        }
        if t0.elapsed() >= batch_time / 4 || n >= 1 << 30 {
            n = (n * 4).max(1);
            break;
        }
        n *= 2;
    }
    (0..batches)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..n {
                op();
            }
            (t0.elapsed().as_nanos() / u128::from(n)) as u64
        })
        .collect()
}

/// `memcpy` of `size` bytes between two private buffers, both page-aligned (see
/// `shmkit::bench_support::page_aligned`).
pub fn memcpy(size: usize, n: usize) -> Vec<u64> {
    let (mut src, mut dst) = (vec![1u8; size + 4096], vec![0u8; size + 4096]);
    let src = page_aligned(&mut src, size);
    let dst = page_aligned(&mut dst, size);
    batches(n, Duration::from_millis(2), || {
        dst.copy_from_slice(black_box(&*src));
        black_box(&mut *dst);
    })
}

/// `Cell::read_into` of a `size`-byte value into a reused buffer.
pub fn snapshot(size: usize, n: usize) -> Result<Vec<u64>> {
    let name = format!("bench-{}-snap{size}", std::process::id());
    let writer = Cell::create(name.as_str(), size)?;
    writer.publish(&vec![1u8; size])?;
    let reader = Cell::open(name.as_str(), Access::ReadOnly)?;
    let mut buf = Vec::with_capacity(size);
    Ok(batches(n, Duration::from_millis(2), || {
        let _ = black_box(reader.read_into(&mut buf));
    }))
}

/// `Cell::publish` of 64 bytes with no reader waiting, by a writer that takes the lock per
/// publish or holds it for good (`exclusive`).
pub fn publish(exclusive: bool, n: usize) -> Result<Vec<u64>> {
    let cell = CellOptions::new()
        .capacity(64)
        .exclusive(exclusive)
        .create(format!("bench-{}-pub{exclusive}", std::process::id()))?;
    let value = [7u8; 64];
    Ok(batches(n, Duration::from_millis(2), || {
        let _ = black_box(cell.publish(black_box(&value)));
    }))
}

/// `Publisher::send` of an 8-byte frame, then `Subscriber::try_recv` of it, in one thread.
pub fn send_recv(n: usize) -> Result<Vec<u64>> {
    let mut p = StreamOptions::new()
        .max_frame(64)
        .create(format!("bench-{}-sendrecv", std::process::id()))?;
    let mut s = Subscriber::open(p.name())?;
    let frame = [7u8; 8];
    let mut buf = Vec::with_capacity(64);
    let mut failed = None;
    let times = batches(n, Duration::from_millis(2), || {
        let got = p.send(black_box(&frame)).and_then(|_| s.try_recv(&mut buf));
        match got {
            Ok(Some(_)) => {}
            Ok(None) => failed = Some("a frame sent was not there to receive".to_string()),
            Err(e) => failed = Some(e.to_string()),
        }
    });
    match failed {
        Some(why) => Err(crate::error::Error::Failed(why)),
        None => Ok(times),
    }
}
