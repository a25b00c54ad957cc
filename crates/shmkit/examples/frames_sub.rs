//! Receives the video-like frames of `frames_pub` and checks every one of them, in place.
//!
//! ```text
//! cargo run --release --example frames_pub -- cam0 --fps 30 --seconds 60
//! cargo run --release --example frames_sub -- cam0        # in another terminal
//! ```
//!
//! Options: `--seconds N` (default: until the publisher stops, i.e. no frame for 3 s).
//!
//! Once a second it prints the frame rate, the frames lost (overwritten by the publisher
//! before this subscriber read them: only with the `Overwrite` policy, when it falls more than
//! the ring behind) and the corrupt frames (a wrong length or checksum), then a summary at the
//! end. Corrupt frames must never appear: the exit status is 1 if one does.
//!
//! Frames are checked where they lie in the ring, through [`Subscriber::recv_view`]: on a
//! `Block` stream as an ordinary `&[u8]` (the publisher cannot overwrite it meanwhile); on an
//! `Overwrite` stream through [`SharedBytes::for_each_chunk`](shmkit::SharedBytes), which reads
//! the ring once, 4 KiB at a time through a small stack buffer, never copying the whole frame —
//! and then asks whether the publisher overwrote it meanwhile. Such a frame is counted as
//! overwritten, never as corrupt or received: a torn frame is never reported as a received one.
//! Started before the publisher, it waits for the stream to appear.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmkit::ErrorKind;
use shmkit::stream::{StreamOptions, Subscriber};

/// 1920 x 1080 pixels of 4 bytes (RGBA).
const FRAME_LEN: usize = WIDTH * 1080 * 4;
/// Counter and checksum come first.
const HEAD: usize = 16;
/// No frame for this long: the publisher has stopped.
const IDLE_END: Duration = Duration::from_secs(3);

const WIDTH: usize = 1920;

/// The pixel at `x` of every row of frame `counter`, with green 0 (the same in `frames_pub.rs`).
fn column(counter: u64, x: usize) -> ([u8; 4], bool) {
    let shift = (counter as usize).wrapping_mul(4) % WIDTH;
    let bar = (x + WIDTH - (counter as usize).wrapping_mul(12) % WIDTH) % WIDTH < 48;
    if bar {
        return ([255, 255, 255, 255], true);
    }
    let red = ((x + WIDTH - shift) % WIDTH * 255 / (WIDTH - 1)) as u8;
    ([red, 0, 96, 255], false)
}

/// The first body word of frame `counter`: pixels 4 and 5 of row 0 (green 0 there).
fn first_word(counter: u64) -> u64 {
    let mut w = [0u8; 8];
    w[..4].copy_from_slice(&column(counter, 4).0);
    w[4..].copy_from_slice(&column(counter, 5).0);
    u64::from_le_bytes(w)
}

/// One step of the checksum: FNV-1a over 64-bit words (the same in `frames_pub.rs`).
fn mix(h: u64, word: u64) -> u64 {
    (h ^ word).wrapping_mul(0x0000_0100_0000_01b3)
}

const CHECKSUM_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Checks a frame fed to it in pieces (multiples of 8 bytes but for the last).
struct Check {
    seen: usize,
    counter: u64,
    want: u64,
    first: u64,
    sum: u64,
}

impl Check {
    fn new() -> Check {
        Check {
            seen: 0,
            counter: 0,
            want: 0,
            first: 0,
            sum: CHECKSUM_SEED,
        }
    }

    fn feed(&mut self, piece: &[u8]) {
        for w in piece.chunks(8) {
            let mut b = [0u8; 8];
            b[..w.len()].copy_from_slice(w);
            let word = u64::from_le_bytes(b);
            match self.seen {
                0 => self.counter = word,
                8 => self.want = word,
                _ => {
                    if self.seen == HEAD {
                        self.first = word;
                    }
                    self.sum = mix(self.sum, word);
                }
            }
            self.seen += w.len();
        }
    }

    /// Whether the frame was whole: the right length, and a checksum that matches its
    /// contents; the first word also ties the contents to the counter in the header.
    fn whole(&self) -> bool {
        self.seen == FRAME_LEN && self.sum == self.want && self.first == first_word(self.counter)
    }
}

fn main() -> ExitCode {
    let mut name = "frames".to_string();
    let mut seconds = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => match it.next().and_then(|v| v.parse::<f64>().ok()) {
                Some(s) if s.is_finite() && s > 0.0 => seconds = Some(Duration::from_secs_f64(s)),
                _ => return usage("--seconds needs a positive number"),
            },
            "-h" | "--help" => return usage("usage: frames_sub [NAME] [--seconds N]"),
            _ if !a.starts_with('-') => name = a,
            _ => return usage(&format!("unknown option {a}; try --help")),
        }
    }
    match run(&name, seconds) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("frames_sub: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("frames_sub: {msg}");
    ExitCode::from(2)
}

/// Opens the stream, waiting for its publisher to create it.
fn subscribe(name: &str) -> shmkit::Result<Subscriber> {
    let mut said = false;
    loop {
        match StreamOptions::new().subscribe(name) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if !said {
                    println!("frames_sub: waiting for {name:?} (start frames_pub)");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Counts of a period of time, or of the whole run.
#[derive(Default, Clone, Copy)]
struct Counts {
    received: u64,
    lost: u64,
    corrupt: u64,
}

impl Counts {
    fn add(&mut self, lost: u64, whole: bool) {
        self.received += 1;
        self.lost += lost;
        self.corrupt += u64::from(!whole);
    }
}

/// Receives and checks frames until the time is up or the publisher stops; returns the number
/// of corrupt frames.
fn run(name: &str, seconds: Option<Duration>) -> shmkit::Result<u64> {
    let mut sub = subscribe(name)?;
    println!(
        "frames_sub: checking the frames of {name:?} (policy {}, frames up to {} bytes)",
        sub.policy().as_str(),
        sub.max_frame()
    );
    let start = Instant::now();
    let (mut total, mut second) = (Counts::default(), Counts::default());
    let (mut first, mut last_frame, mut report) = (None, start, start);
    loop {
        let now = Instant::now();
        if seconds.is_some_and(|s| now - start >= s) {
            break;
        }
        if first.is_some() && now - last_frame >= IDLE_END {
            println!(
                "frames_sub: no frame for {} s: the publisher stopped",
                IDLE_END.as_secs()
            );
            break;
        }
        match sub.recv_view(Duration::from_millis(200)) {
            Ok(view) => {
                let mut check = Check::new();
                match view.as_slice() {
                    Some(frame) => check.feed(frame),
                    None => view.bytes().for_each_chunk(|piece| check.feed(piece)),
                }
                let whole = check.whole();
                let got = view.received();
                last_frame = Instant::now();
                first.get_or_insert(last_frame);
                match view.release() {
                    Ok(_) => {
                        total.add(got.lost, whole);
                        second.add(got.lost, whole);
                        if !whole {
                            eprintln!("frames_sub: frame #{} is corrupt", got.seq);
                        }
                    }
                    // Overwritten while checked: lost, not corrupt (the verdict is discarded).
                    Err(e) if e.kind() == ErrorKind::Overwritten => {
                        total.lost += got.lost + 1;
                        second.lost += got.lost + 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= report + Duration::from_secs(1) && first.is_some() {
            println!(
                "frames_sub: {:6.1} fps, {} lost, {} corrupt",
                second.received as f64 / (now - report).as_secs_f64(),
                second.lost,
                second.corrupt
            );
            (report, second) = (now, Counts::default());
        } else if first.is_none() {
            report = now;
        }
    }
    let secs = first.map_or(0.0, |f| (last_frame - f).as_secs_f64());
    let fps = if secs > 0.0 {
        (total.received - 1) as f64 / secs
    } else {
        0.0
    };
    println!(
        "frames_sub: done: {} frames received ({fps:.1} fps), {} lost, {} corrupt",
        total.received, total.lost, total.corrupt
    );
    Ok(total.corrupt)
}
