//! Cell costs in one process, next to their physical limit measured in the same run.
//!
//! * `cell/publish-64B-nobody-waits`: a publish with no sleeping reader (goal: median < 50 ns);
//!   `cell/publish-64B-exclusive`: the same by the cell's exclusive writer, which holds the lock
//!   for good (`CellOptions::exclusive`) instead of taking it per publish.
//! * `copy/cell-snapshot/N` vs `copy/memcpy/N` (64 B, 4 KiB, 1 MiB): `read_into` a reused
//!   buffer, next to a plain copy of the same size between two private buffers (goal: 1 MiB
//!   within 1.1x); `copy/cell-read-to/N`: `read_to` a buffer the caller owns (one copy), next
//!   to `copy/cell-read-then-copy/N` (`read_into`, then a copy: what the C and Python
//!   bindings did before `read_to`).
//!
//! The two-process numbers (publish → wake-up latency) come from `shmkit bench`, which runs the
//! processes and the baselines (futex, Unix socket, pipe, raw atomics) in one go.
//!
//! Run with `cargo bench -p shmkit --bench cell`.

use criterion::{BenchmarkId, Criterion, Throughput, black_box};
use shmkit::bench_support::page_aligned;
use shmkit::{Access, Cell, CellOptions};

fn name(tag: &str) -> String {
    format!("bench-{tag}-{}", std::process::id())
}

fn publish(c: &mut Criterion) {
    let cell = Cell::create(name("pub"), 64).unwrap();
    let value = [7u8; 64];
    c.bench_function("cell/publish-64B-nobody-waits", |b| {
        b.iter(|| cell.publish(black_box(&value)).unwrap())
    });
    let alone = CellOptions::new()
        .capacity(64)
        .exclusive(true)
        .create(name("pub-excl"))
        .unwrap();
    c.bench_function("cell/publish-64B-exclusive", |b| {
        b.iter(|| alone.publish(black_box(&value)).unwrap())
    });
}

fn snapshot_vs_memcpy(c: &mut Criterion) {
    let mut g = c.benchmark_group("copy");
    for size in [64usize, 4096, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        let label = match size {
            64 => "64B",
            4096 => "4KiB",
            _ => "1MiB",
        };
        // Both buffers page-aligned (see `page_aligned`).
        let (mut src_buf, mut dst_buf) = (vec![1u8; size + 4096], vec![0u8; size + 4096]);
        let src = &*page_aligned(&mut src_buf, size);
        let dst = page_aligned(&mut dst_buf, size);
        g.bench_with_input(BenchmarkId::new("memcpy", label), &size, |b, _| {
            b.iter(|| dst.copy_from_slice(black_box(src)))
        });
        let writer = Cell::create(name(&format!("snap{size}")), size).unwrap();
        writer.publish(src).unwrap();
        let reader = Cell::open(writer.name(), Access::ReadOnly).unwrap();
        let mut buf = Vec::with_capacity(size);
        g.bench_with_input(BenchmarkId::new("cell-snapshot", label), &size, |b, _| {
            b.iter(|| reader.read_into(black_box(&mut buf)).unwrap())
        });
        // Into a buffer the caller owns (a binding's): one copy, against the two of reading
        // into a `Vec` and copying that over, as the C and Python bindings once did.
        g.bench_with_input(BenchmarkId::new("cell-read-to", label), &size, |b, _| {
            b.iter(|| reader.read_to(black_box(&mut *dst)).unwrap())
        });
        g.bench_with_input(
            BenchmarkId::new("cell-read-then-copy", label),
            &size,
            |b, _| {
                b.iter(|| {
                    reader.read_into(black_box(&mut buf)).unwrap();
                    dst.copy_from_slice(&buf);
                })
            },
        );
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    publish(&mut c);
    snapshot_vs_memcpy(&mut c);
    c.final_summary();
}
