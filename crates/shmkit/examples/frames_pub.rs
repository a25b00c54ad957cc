//! Publishes video frames to a stream: 1920x1080 RGBA, 8 294 400 bytes each, written in place in
//! the shared ring (zero copies) at a steady frame rate. The stream describes itself
//! (`rgba8:1920x1080`), so tools show its frames as pictures.
//!
//! ```text
//! cargo run --release --example frames_pub -- cam0 --fps 30 --seconds 60
//! cargo run --release --example frames_sub -- cam0        # in another terminal
//! shmkit view cam0                                        # or watch it in a browser
//! ```
//!
//! Options: `--fps F` (default 30), `--seconds N` (default: until killed), `--block` (the
//! publisher waits for the slowest subscriber instead of overwriting frames it has not read).
//!
//! Each frame is filled where it lies in the ring, through [`Publisher::loan`]: no buffer of
//! ours, no copy into shared memory. It is a picture that moves — a colour gradient scrolling
//! sideways under a white bar — and its first 16 bytes (the top-left four pixels) carry its
//! counter and a 64-bit checksum of everything after them, so `frames_sub` can tell a whole frame
//! from a torn or mixed-up one. The ring holds 64 MiB, about eight frames: with the default
//! `Overwrite` policy, a subscriber more than that far behind loses frames and is told how many;
//! with `--block`, none are lost and the publisher slows down to the slowest subscriber instead.
//!
//! The stream records its format (`rgba8:1920x1080`), so a viewer shows the frames as pictures
//! (`shmkit view`, `crates/shmkit-c/examples/qt/qt_viewer`). The stream — its 64 MiB included —
//! disappears when this publisher and every subscriber have closed it or died (`kill -9` too: see
//! the README's platform table for how each system keeps that promise).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmkit::stream::{Policy, Publisher, StreamOptions};
use shmkit::{Format, Pixel};

const WIDTH: usize = 1920;
const HEIGHT: usize = 1080;
/// 1920 x 1080 pixels of 4 bytes (RGBA).
const FRAME_LEN: usize = WIDTH * HEIGHT * 4;
/// Counter and checksum come first.
const HEAD: usize = 16;

/// The pixel at `x` of every row of frame `counter`, with green 0 (green is the row's): a red
/// gradient scrolling right, and a white bar 48 pixels wide crossing the picture every 5 s at 30
/// fps (the same in `frames_sub.rs`). `true` marks the bar, which has no green of the row.
fn column(counter: u64, x: usize) -> ([u8; 4], bool) {
    let shift = (counter as usize).wrapping_mul(4) % WIDTH;
    let bar = (x + WIDTH - (counter as usize).wrapping_mul(12) % WIDTH) % WIDTH < 48;
    if bar {
        return ([255, 255, 255, 255], true);
    }
    let red = ((x + WIDTH - shift) % WIDTH * 255 / (WIDTH - 1)) as u8;
    ([red, 0, 96, 255], false)
}

/// The green of row `y`: a vertical gradient.
fn row_green(y: usize) -> u8 {
    (y * 255 / (HEIGHT - 1)) as u8
}

/// One step of the checksum: FNV-1a over 64-bit words (the same in `frames_sub.rs`).
fn mix(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(0x0000_0100_0000_01b3)
}

const CHECKSUM_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Writes frame `counter` into `frame`: the picture, then its counter and checksum over it.
fn fill(frame: &mut [u8], counter: u64) {
    let columns: Vec<([u8; 4], bool)> = (0..WIDTH).map(|x| column(counter, x)).collect();
    for (y, line) in frame.chunks_exact_mut(WIDTH * 4).enumerate() {
        let green = row_green(y);
        for (px, (rgba, bar)) in line.chunks_exact_mut(4).zip(&columns) {
            px.copy_from_slice(rgba);
            if !bar {
                px[1] = green;
            }
        }
    }
    let (head, body) = frame.split_at_mut(HEAD);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let sum = body.chunks_exact(8).map(word).fold(CHECKSUM_SEED, mix);
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
        // Recorded in the header: viewers (`shmkit view`, the Qt example `qt_viewer`) and
        // `shmkit info` know the bytes are 1920x1080 RGBA pictures.
        .format(Format::image(Pixel::Rgba8, WIDTH as u32, HEIGHT as u32)?)
        .max_frame(FRAME_LEN)
        .ring(64 << 20)
        .policy(args.policy)
        .create_or_open_publisher(args.name.as_str(), Duration::ZERO)?;
    println!(
        "frames_pub: publishing {} frames ({FRAME_LEN} bytes) to {:?} at {} fps, policy {}, \
         ring {} MiB",
        publisher
            .format()
            .map_or(String::new(), ToString::to_string),
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
