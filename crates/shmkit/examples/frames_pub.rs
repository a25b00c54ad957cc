//! Publishes video-like frames to a stream: 1920x1080 RGBA, 8 294 400 bytes each, written in
//! place in the shared ring (zero copies) at a steady frame rate.
//!
//! ```text
//! cargo run --release --example frames_pub -- cam0 --fps 30 --seconds 60
//! cargo run --release --example frames_sub -- cam0        # in another terminal
//! ```
//!
//! Options: `--fps F` (default 30), `--seconds N` (default: until killed), `--block` (the
//! publisher waits for the slowest subscriber instead of overwriting frames it has not read).
//!
//! Each frame is filled where it lies in the ring, through [`Publisher::loan`]: no buffer of
//! ours, no copy into shared memory. It carries its counter (bytes 0..8), a 64-bit checksum of
//! everything after byte 16 (bytes 8..16), and then a pattern derived from the counter, so
//! `frames_sub` can tell a whole frame from a torn or mixed-up one. The ring holds 64 MiB, about
//! eight frames: with the default `Overwrite` policy, a subscriber more than that far behind
//! loses frames and is told how many; with `--block`, none are lost and the publisher slows
//! down to the slowest subscriber instead.
//!
//! The stream — its 64 MiB included — disappears when this publisher and every subscriber have
//! closed it or died (`kill -9` too: see the README's platform table for how each system keeps
//! that promise).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmkit::stream::{Policy, Publisher, StreamOptions};

/// 1920 x 1080 pixels of 4 bytes (RGBA).
const FRAME_LEN: usize = 1920 * 1080 * 4;
/// Counter and checksum come first.
const HEAD: usize = 16;

/// The pattern word `i` of frame `counter` (the same in `frames_sub.rs`).
fn pattern(counter: u64, i: usize) -> u64 {
    counter
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(i as u64)
}

/// One step of the checksum: FNV-1a over 64-bit words (the same in `frames_sub.rs`).
fn mix(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(0x0000_0100_0000_01b3)
}

const CHECKSUM_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Writes frame `counter` into `frame`: the pattern and its checksum in one pass.
fn fill(frame: &mut [u8], counter: u64) {
    let (head, body) = frame.split_at_mut(HEAD);
    let mut sum = CHECKSUM_SEED;
    for (i, word) in body.chunks_exact_mut(8).enumerate() {
        let w = pattern(counter, i);
        word.copy_from_slice(&w.to_le_bytes());
        sum = mix(sum, w);
    }
    head[..8].copy_from_slice(&counter.to_le_bytes());
    head[8..].copy_from_slice(&sum.to_le_bytes());
}

struct Args {
    name: String,
    fps: f64,
    seconds: Option<f64>,
    policy: Policy,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        name: "frames".to_string(),
        fps: 30.0,
        seconds: None,
        policy: Policy::Overwrite,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut number = |what: &str| -> Result<f64, String> {
            it.next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("{what} needs a positive number"))
        };
        match a.as_str() {
            "--fps" => args.fps = number("--fps")?,
            "--seconds" => args.seconds = Some(number("--seconds")?),
            "--block" => args.policy = Policy::Block,
            "-h" | "--help" => {
                return Err("usage: frames_pub [NAME] [--fps 30] [--seconds N] [--block]".into());
            }
            _ if !a.starts_with('-') => args.name = a,
            _ => return Err(format!("unknown option {a}; try --help")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("frames_pub: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frames_pub: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> shmkit::Result<()> {
    let mut publisher: Publisher = StreamOptions::new()
        .max_frame(FRAME_LEN)
        .ring(64 << 20)
        .policy(args.policy)
        .create_or_open_publisher(args.name.as_str(), Duration::ZERO)?;
    println!(
        "frames_pub: publishing 1920x1080 RGBA frames ({FRAME_LEN} bytes) to {:?} at {} fps, \
         policy {}, ring {} MiB",
        args.name,
        args.fps,
        publisher.policy().as_str(),
        publisher.ring_len() >> 20,
    );
    let period = Duration::from_secs_f64(1.0 / args.fps);
    let end = args.seconds.map(Duration::from_secs_f64);
    let start = Instant::now();
    let mut next = start;
    let (mut counter, mut report, mut in_second) = (0u64, start, 0u64);
    let mut busy = Duration::ZERO;
    while end.is_none_or(|e| start.elapsed() < e) {
        let t = Instant::now();
        let mut frame = publisher.loan(FRAME_LEN)?;
        fill(&mut frame, counter);
        frame.commit();
        busy += t.elapsed();
        counter += 1;
        in_second += 1;

        let now = Instant::now();
        if now >= report + Duration::from_secs(1) {
            let secs = (now - report).as_secs_f64();
            println!(
                "frames_pub: {:6.1} fps, {} frames so far, {:.2} ms to fill and publish a frame",
                in_second as f64 / secs,
                counter,
                busy.as_secs_f64() * 1e3 / in_second as f64,
            );
            (report, in_second, busy) = (now, 0, Duration::ZERO);
        }
        // Keep the pace; when late by more than a frame, start over from now instead of
        // sending a burst to catch up.
        next += period;
        match next.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None if now - next > period => next = now,
            None => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "frames_pub: done: {counter} frames ({:.1} GiB) in {secs:.1} s, {:.1} fps",
        (counter * FRAME_LEN as u64) as f64 / (1u64 << 30) as f64,
        counter as f64 / secs,
    );
    Ok(())
}
