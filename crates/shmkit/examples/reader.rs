//! The reader of the classic shared-memory tutorial, done with shmkit.
//!
//! Opens the segment NAME read-only (the operating system refuses writes through it), takes the
//! lock while it copies the text out — so it never sees a half-written one — and prints it.
//! With `--follow`, it then sleeps until the writer signals a change and prints each new text:
//! no 200 ms polling timer.
//!
//! ```text
//! cargo run --example writer -- demo "hello from the writer"
//! cargo run --example reader -- demo [--follow]
//! ```

use std::process::ExitCode;

use shmkit::{Access, ErrorKind, Segment};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let follow = args.iter().any(|a| a == "--follow");
    let name = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("demo", String::as_str);
    match run(name, follow) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reader: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, follow: bool) -> shmkit::Result<()> {
    let seg = Segment::open(name, Access::ReadOnly)?;
    loop {
        // Read the change count first: a change after this point wakes the wait below.
        let seen = seg.change_count();
        println!("{}", read_text(&seg)?);
        if !follow {
            return Ok(());
        }
        match seg.wait_change(seen, None) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(e),
        }
    }
}

/// Copies the length-prefixed text out under the lock. The length is checked: the segment's
/// contents come from another process and may be anything.
fn read_text(seg: &Segment) -> shmkit::Result<String> {
    let _guard = seg.lock()?;
    let mut len = [0u8; 4];
    seg.read(0, &mut len)?;
    let len = (u32::from_le_bytes(len) as usize).min(seg.len() - 4);
    let mut text = vec![0u8; len];
    seg.read(4, &mut text)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}
