//! What the guardian of `LastClose` segments costs (Linux): the time of 1,000 creates with and
//! without it, and the memory of the guard process — watching the segments (the normal case) and
//! with one waiter process per segment (its fallback).
//!
//! Run with `cargo bench -p shmkit --bench guardian` (optionally `-- N` for N segments). It
//! prints a small report; memory comes from `/proc` (`smaps_rollup`, `meminfo`), so it is
//! system-wide where it says "kernel" and moves with whatever else runs.

use std::process::Command;
use std::time::{Duration, Instant};

use shmkit::{Lifetime, Segment, SegmentOptions};

const ROLE: &str = "SHMKIT_GUARDIAN_BENCH";

/// (RSS, PSS, private dirty) of process `pid`, in KiB.
fn smaps(pid: u32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"), field("Private_Dirty:"))
}

/// The processes named `shmkit-guard` whose parent is `parent` (a guard's waiters).
fn children_named_guard(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim_end() == "shmkit-guard"
                && stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
        })
        .collect()
}

/// Kernel memory that processes cost (slab, kernel stacks, page tables), in KiB, system-wide.
fn kernel_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    ["Slab:", "KernelStack:", "PageTables:"]
        .iter()
        .filter_map(|key| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (0 where there is none).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Creates `n` segments with `lifetime` and holds them: the time per create, and the CPU time
/// of this thread per create (the guard's work runs in its own process).
fn create(n: usize, lifetime: Lifetime, tag: &str) -> (Vec<Segment>, Duration, Duration) {
    let opts = SegmentOptions::new().size(4096).lifetime(lifetime);
    let (t0, c0) = (Instant::now(), cpu_ns());
    let segs: Vec<Segment> = (0..n)
        .map(|i| {
            opts.create(format!("bench-g{tag}-{}-{i}", std::process::id()))
                .unwrap()
        })
        .collect();
    let cpu = Duration::from_nanos((cpu_ns() - c0) / n as u64);
    (segs, t0.elapsed() / n as u32, cpu)
}

/// One measurement, in a process of its own (its guard starts with its first create).
fn measure(n: usize) {
    let (persistent, plain, plain_cpu) = create(n, Lifetime::Persistent, "p");
    for s in persistent {
        let name = s.name().to_string();
        drop(s);
        Segment::remove(name.as_str()).unwrap();
    }
    let kernel_before = kernel_kib();
    // The first guarded create starts the guard process.
    let t0 = Instant::now();
    let first = create(1, Lifetime::LastClose, "f").0;
    let start = t0.elapsed();
    let (segs, guarded, guarded_cpu) = create(n, Lifetime::LastClose, "l");
    println!(
        "create, {n} segments held: {plain:?} each without a guardian (persistent; CPU \
         {plain_cpu:?}), {guarded:?} each with one (CPU {guarded_cpu:?}); the first (which \
         starts the guard process): {start:?}"
    );
    drop(first);
    // Let the guard settle (its retries end 111 ms after each arrival).
    std::thread::sleep(Duration::from_millis(500));
    let Some(guard) =
        shmkit::test_support::guardians(segs[0].name().as_str()).and_then(|g| g.first().copied())
    else {
        println!("no guardian here ({})", shmkit::test_support::BACKEND);
        return;
    };
    // A waiter's parent is the guard; a watching guard's parent is not a guard.
    let parent = std::fs::read_to_string(format!("/proc/{guard}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let guard = if children_named_guard(parent).contains(&guard) && parent > 1 {
        parent
    } else {
        guard
    };
    let mut pids = vec![guard];
    pids.extend(children_named_guard(guard));
    let (rss, pss, dirty) = pids
        .iter()
        .map(|&p| smaps(p))
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    println!(
        "guardian processes: {}; together RSS {rss} KiB, PSS {pss} KiB, private dirty {dirty} KiB; \
         kernel memory (system-wide) grew by about {} KiB",
        pids.len(),
        kernel_kib() as i64 - kernel_before as i64
    );
    let t0 = Instant::now();
    drop(segs);
    println!("close, {n} segments: {:?} each", t0.elapsed() / n as u32);
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    if std::env::var_os(ROLE).is_some() {
        measure(n);
        return;
    }
    for (what, waiters) in [
        ("watching (normal)", "0"),
        ("one waiter per segment (fallback)", "1"),
    ] {
        println!("== guardian {what}");
        let status = Command::new(std::env::current_exe().unwrap())
            .arg(n.to_string())
            .env(ROLE, "1")
            .env("SHMKIT_GUARDIAN_WAITERS", waiters)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
