//! `shmkit ls`: every object in the shared-memory directory, who holds it, in what state.

use shmkit::Segment;

use crate::error::Result;
use crate::output::Output;
use crate::show;

/// List every segment, with its kind, size, mode, state and holders
///
/// Lists every object in the system's shared-memory directory (/dev/shm on Linux): shmkit
/// segments and the objects of other programs ("foreign").
///
/// KIND is bytes, cell or stream for shmkit segments, foreign for objects without a shmkit
/// header (other programs, raw segments), shmkit? for a layout this version cannot read, and ?
/// when it cannot be read. SIZE includes the header.
///
/// STATE is live (a process holds it), idle (persistent, nobody holds it), stale (its users
/// are gone: a crash left it behind) or unknown (foreign objects: other programs do not announce
/// that they use them). `shmkit gc` removes idle and stale shmkit segments.
///
/// HOLDERS are the ids of the processes that have it open (- for none, ? if unknown).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit ls
  shmkit ls --json | jq -r '.[] | select(.state == \"stale\") | .name'")]
pub struct Args {
    /// Print one JSON array of objects (fields: name, kind, size, mode, uid, state, holders,
    /// lifetime, data_len, data_offset, creator_pid, created, modified, lock_owner)
    #[arg(long)]
    json: bool,
}

/// Lists the segments as a table or JSON.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let infos = Segment::list()?;
    if args.json {
        out.json(&show::json_list(&infos))
    } else if infos.is_empty() {
        out.line("no shared-memory segments exist — make one with `shmkit create NAME --size 4K`")
    } else {
        show::table(out, &infos)
    }
}
