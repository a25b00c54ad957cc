//! The writer of the classic shared-memory tutorial, done with shmkit.
//!
//! Creates the segment NAME — or opens it, if readers still hold the one a previous writer made:
//! the next writer takes over — writes TEXT into it under the segment's lock (as a 4-byte
//! little-endian length followed by the bytes, so readers never see the tail of an older,
//! longer text), and signals the change. Then it keeps the segment alive: each line typed on
//! stdin replaces the text. When the writer ends (end of input, Ctrl-C, or even `kill -9`) and no
//! reader holds the segment, it disappears with it — nothing is left behind in /dev/shm. A clean
//! end removes it itself; after Ctrl-C or `kill -9`, its guardian process (`shmkit-guard` in
//! `ps`) does, within a millisecond or so. (On Windows the system frees it; on macOS, which has no
//! guardian, the next shmkit program of the same user removes it.)
//!
//! ```text
//! cargo run --example writer -- demo "hello from the writer"
//! cargo run --example reader -- demo          # in another terminal
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use shmkit::{Segment, SegmentOptions};

const CAPACITY: usize = 4096;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "demo".to_string());
    let text = args
        .next()
        .unwrap_or_else(|| "hello from the writer".to_string());
    match run(&name, &text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, text: &str) -> shmkit::Result<()> {
    // Open-or-create: a reader may still hold the segment of a writer that ended (or crashed).
    let seg = SegmentOptions::new().size(CAPACITY).open_or_create(name)?;
    publish(&seg, text)?;
    println!("writer: {name:?} holds {text:?}; type a line to replace it, Ctrl-D to quit");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        publish(&seg, &line)?;
        println!("writer: {name:?} now holds {line:?}");
    }
    Ok(())
}

/// Writes `text` (truncated to what fits) under the lock, then wakes waiting readers.
fn publish(seg: &Segment, text: &str) -> shmkit::Result<()> {
    let bytes = &text.as_bytes()[..text.len().min(seg.len() - 4)];
    let guard = seg.lock()?;
    if guard.owner_died() {
        eprintln!("writer: the previous lock holder died; overwriting whatever it left");
    }
    seg.write(0, &(bytes.len() as u32).to_le_bytes())?;
    seg.write(4, bytes)?;
    drop(guard);
    seg.notify_change()?;
    Ok(())
}
