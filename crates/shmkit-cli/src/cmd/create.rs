//! `shmkit create`: a persistent segment, kept until `shmkit rm` or `shmkit gc --idle`.

use shmkit::{Lifetime, SegmentOptions, human_bytes};

use crate::error::Result;
use crate::output::Output;
use crate::util;

/// Create a persistent segment
///
/// Creates a shared-memory segment that stays until `shmkit rm` or `shmkit gc --idle` removes
/// it, even when no process has it open. Its memory is reserved now, so a full /dev/shm fails here
/// and never crashes a writer later. Its bytes start as zeros.
///
/// A shmkit segment starts with a header (kind, sizes, creator, a lock and a change counter)
/// that shmkit programs check when they open it; --raw leaves it out, for programs that map the
/// bytes themselves (Python's multiprocessing.shared_memory, Qt, C with shm_open).
///
/// Python: a SharedMemory(name="NAME") registers the segment with Python's resource tracker,
/// also when it only attaches, and the tracker deletes the segment when that Python program
/// exits. Attach with SharedMemory(name="NAME", track=False) (Python 3.13 and later), or call
/// multiprocessing.resource_tracker.unregister(shm._name, "shared_memory") right after
/// attaching (older versions); docs/interop.md shows both.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit create cam0 --size 8M                8 MiB of data, only for you (mode 0600)
  shmkit create table --size 64K --mode 0640  your group may read it too
  shmkit create pic --size 1200K --format rgb8:640x640   says what its bytes are (`shmkit view`
                                              draws it)
  shmkit create py_buf --size 4096 --raw      headerless, for SharedMemory(name=\"py_buf\",
                                              track=False): without track=False, Python deletes
                                              it when the Python program exits")]
pub struct Args {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// How many data bytes (the header comes on top): a number, or with a unit K, M, G, T, P
    /// (powers of 1024): 4096, 4K, 8MiB, 1.5G
    #[arg(short, long, value_name = "SIZE", value_parser = util::parse_segment_size)]
    size: usize,

    /// Permission bits, in octal: 600 (only you), 640 (your group may read), 660, 666
    #[arg(short, long, value_name = "OCTAL", default_value = "600", value_parser = util::parse_mode)]
    mode: u32,

    /// No header: byte 0 of the data is byte 0 of the object (no lock, no change counter). For
    /// Python, attach with SharedMemory(name, track=False): Python's resource tracker deletes a
    /// segment it attached when the program exits
    #[arg(long)]
    raw: bool,

    #[arg(long, value_name = "FORMAT", help = util::FORMAT_HELP, conflicts_with = "raw",
          value_parser = util::parse_format)]
    format: Option<shmkit::Format>,
}

/// Creates the segment and says what it made.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let mut opts = SegmentOptions::new();
    if let Some(f) = &args.format {
        if f.frame_len().is_some_and(|n| n > args.size) {
            return Err(crate::error::Error::Failed(format!(
                "cannot create {}: one picture of {f} takes {}, more than --size {}; nothing \
                 was created",
                args.name,
                human_bytes(f.frame_len().unwrap_or(0) as u64),
                human_bytes(args.size as u64)
            )));
        }
        opts = opts.format(f.clone());
    }
    let segment = opts
        .size(args.size)
        .mode(args.mode)
        .lifetime(Lifetime::Persistent)
        .raw(args.raw)
        .create(args.name.as_str())?;
    let format = match (segment.kind(), segment.format()) {
        (Some(kind), Some(f)) => format!("{kind} segment ({f})"),
        (Some(kind), None) => format!("{kind} segment"),
        (None, _) => "raw segment (no header)".to_string(),
    };
    out.line(format_args!(
        "created {name}: {format} of {size}, mode {mode}, persistent — remove it with `shmkit rm {name}`",
        name = segment.name(),
        size = human_bytes(segment.len() as u64),
        mode = util::format_mode(args.mode),
    ))?;
    if args.raw {
        out.line(format_args!(
            "note: in Python, attach it with SharedMemory(name=\"{name}\", track=False) (3.13+): \
             without track=False, Python's resource tracker deletes it when that program exits \
             (older Pythons: resource_tracker.unregister(shm._name, \"shared_memory\") after \
             attaching)",
            name = segment.name(),
        ))?;
    }
    Ok(())
}
