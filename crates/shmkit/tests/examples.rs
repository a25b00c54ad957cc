//! The examples keep the README's promises: a writer can be restarted while a reader still
//! holds its segment or cell — the next writer takes over. Runs the example programs themselves
//! (`cargo test` builds them next to the test binaries).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Cleanup, unique_name, watchdog};
use shmkit::{Access, Cell, ErrorKind, Segment};

const T: Duration = Duration::from_secs(30);

/// The built example `name`, if cargo built it (it does for `cargo test`; not for a single
/// `--test` target, where the test says it is skipped).
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: the example {name} is not built ({}); `cargo test -p shmkit` builds it",
            path.display()
        );
        None
    }
}

/// Starts an example with `args`, its stdin a pipe (each line a value), its output discarded.
fn start(path: &PathBuf, args: &[&str]) -> Child {
    Command::new(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the example")
}

/// Closes the example's stdin (its end of input) and waits for it to exit successfully.
fn finish(mut child: Child) {
    drop(child.stdin.take());
    let status = child.wait().expect("wait for the example");
    assert!(status.success(), "the example failed: {status}");
}

/// Waits until `f` returns `Some`, trying every few milliseconds (the test's watchdog bounds
/// it).
fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(t) = f() {
            return t;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_cell_writer_restarted_while_a_reader_holds_the_cell_takes_over() {
    let Some(exe) = example("cell_writer") else {
        return;
    };
    let _w = watchdog(T);
    let name = unique_name("exrestart");
    let _c = Cleanup(name.clone());
    let mut first = start(&exe, &[&name]);
    writeln!(first.stdin.as_mut().unwrap(), "one").unwrap();
    let reader = eventually(|| Cell::open(&name, Access::ReadOnly).ok());
    let mut value = Vec::new();
    eventually(|| (reader.read_into(&mut value).ok()? > 0).then_some(()));
    assert_eq!(value, b"one");
    finish(first);

    // The reader still holds the cell: the next writer opens it instead of failing.
    let mut second = start(&exe, &[&name]);
    writeln!(second.stdin.as_mut().unwrap(), "two").unwrap();
    eventually(|| {
        reader.read_into(&mut value).ok()?;
        (value == b"two").then_some(())
    });
    finish(second);
}

/// The text the `writer` example keeps in a segment: a little-endian length, then the bytes.
fn text_of(seg: &Segment) -> Option<Vec<u8>> {
    let _guard = seg.lock().ok()?;
    let mut len = [0u8; 4];
    seg.read(0, &mut len).ok()?;
    let mut text = vec![0u8; (u32::from_le_bytes(len) as usize).min(seg.len() - 4)];
    seg.read(4, &mut text).ok()?;
    Some(text)
}

#[test]
fn a_writer_restarted_while_a_reader_holds_the_segment_takes_over() {
    let Some(exe) = example("writer") else {
        return;
    };
    let _w = watchdog(T);
    let name = unique_name("exwriter");
    let _c = Cleanup(name.clone());
    let first = start(&exe, &[&name, "first"]);
    let reader = eventually(|| match Segment::open(&name, Access::ReadOnly) {
        Ok(seg) => Some(seg),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("open {name}: {e}"),
    });
    eventually(|| (text_of(&reader)? == b"first").then_some(()));
    finish(first);

    let second = start(&exe, &[&name, "second"]);
    eventually(|| (text_of(&reader)? == b"second").then_some(()));
    finish(second);
}
