//! Publishes each line typed on stdin to a cell — the classic "text box" writer, done right.
//!
//! ```text
//! cargo run --example cell_writer -- status      # type lines here
//! cargo run --example cell_reader -- status      # in another terminal: each line appears
//! ```
//!
//! The cell holds the latest line. Readers never see half a line or the tail of a longer older
//! one, and never block this writer. When the writer ends (Ctrl-D, Ctrl-C, even `kill -9`) and
//! no reader holds the cell any more, it disappears from /dev/shm: removed by the last process to
//! close it, or, when that one was killed, by the guardian process its creator started
//! (`shmkit-guard`). On macOS, which has no guardian, the next shmkit program of the same user
//! removes what a killed one left. While a reader still holds it, a new writer opens it and takes
//! over (its readers see the new values).

use std::io::BufRead;
use std::process::ExitCode;

use shmkit::CellOptions;

fn main() -> ExitCode {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "status".to_string());
    match run(&name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cell_writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str) -> shmkit::Result<()> {
    // Open-or-create: a reader may still hold the cell of a writer that ended (or crashed).
    let cell = CellOptions::new()
        .capacity(64 * 1024)
        .open_or_create(name)?;
    eprintln!("cell_writer: publishing each line you type to {name:?} (Ctrl-D to end)");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        // Longer lines than the capacity are cut, at a character boundary.
        let mut end = line.len().min(cell.capacity());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let seq = cell.publish(&line.as_bytes()[..end])?;
        eprintln!("cell_writer: #{seq} published");
    }
    Ok(())
}
