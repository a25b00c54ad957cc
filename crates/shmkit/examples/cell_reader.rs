//! Prints each new value of a cell as soon as it arrives — the classic reader, without the
//! 200 ms polling timer: it sleeps until the writer publishes.
//!
//! ```text
//! cargo run --example cell_writer -- status
//! cargo run --example cell_reader -- status
//! ```
//!
//! Opened read-only: the operating system refuses writes through this handle. If the reader is
//! slower than the writer, it skips to the newest value (a cell holds the latest value, not a
//! queue); the sequence numbers show what was skipped.

use std::process::ExitCode;
use std::time::Duration;

use shmkit::{Access, Cell, ErrorKind};

fn main() -> ExitCode {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "status".to_string());
    match run(&name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cell_reader: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str) -> shmkit::Result<()> {
    let cell = Cell::open(name, Access::ReadOnly)?;
    let mut value = Vec::new();
    let mut seen = 0;
    loop {
        let seq = cell.read_into(&mut value)?;
        if seq > seen {
            let skipped = seq - seen - 1;
            let note = if skipped > 0 && seen > 0 {
                format!(" ({skipped} skipped)")
            } else {
                String::new()
            };
            println!("#{seq}{note}: {}", String::from_utf8_lossy(&value));
            seen = seq;
        }
        match cell.wait_newer(seen, Some(Duration::from_secs(60))) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(e),
        }
    }
}
