//! A Rust service rendering into a Qt app's frame buffer (`docs/interop.md`).
//!
//! The Qt app: `QSharedMemory shm("frames"); shm.create(320 * 240 * 4);` and, in a timer,
//! `shm.lock()`, read `constData()` as an RGBA image, `shm.unlock()`. Run this with the Qt
//! app's `TMPDIR`: `cargo run -p shmkit --example qt_frames [KEY]`.

use std::time::Duration;

use shmkit::Access;
use shmkit::interop::qt;

fn main() -> Result<(), shmkit::Error> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "frames".to_string());
    // The key Qt derives for a legacy key (same TMPDIR as the Qt app!).
    let key = qt::Key::legacy(&name)?;
    let seg = qt::Segment::open(&key, Access::ReadWrite)?;
    println!("attached to {key} ({} bytes)", seg.len());
    let mut frame = vec![0u8; seg.len()];
    for n in 0u8..=255 {
        frame
            .chunks_mut(4)
            .for_each(|px| px.copy_from_slice(&[n, 255 - n, 128, 255][..px.len()]));
        // Qt's own lock: the app's lock() waits for us, and we for it.
        let guard = seg.lock()?;
        seg.write(0, &frame)?;
        drop(guard);
        std::thread::sleep(Duration::from_millis(33));
    }
    Ok(()) // dropping `seg` detaches as Qt does
}
