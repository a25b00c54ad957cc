//! `shmkit gc`: removes the shmkit segments nobody holds.

use shmkit::interop;
use shmkit::{Segment, human_bytes};

use crate::error::Result;
use crate::foreign;
use crate::output::Output;
use crate::show;

/// Remove every shmkit segment that no process holds
///
/// Removes idle segments (persistent ones nobody has open) and stale ones (left behind when
/// their users crashed, or a creator died halfway). A segment some process holds is never
/// removed, and neither is any object shmkit did not make (foreign objects), whatever its state
/// — unless --foreign asks for it.
///
/// With --foreign, it also removes the orphaned objects of Qt and Python programs: what `shmkit
/// ls` shows as orphaned (Qt's System V segments nobody is attached to whose creator and last
/// user are dead, with their semaphores and key files; /dev/shm/qipc_* and psm_* objects no
/// process maps). Each is checked again right before it goes; one in use is never removed. Qt's
/// System V key files are looked for in $TMPDIR and /tmp: run with the Qt apps' TMPDIR.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit gc --dry-run              see what would go
  shmkit gc
  shmkit gc --foreign --dry-run    also what crashed Qt and Python programs left behind")]
pub struct Args {
    /// Only list what would be removed
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Also remove orphaned objects of Qt and Python programs
    #[arg(long)]
    foreign: bool,
}

/// Collects, then lists what went (or would go) and how much memory that is.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let removed = Segment::gc(args.dry_run)?;
    let others = if args.foreign {
        interop::gc(args.dry_run)?
    } else {
        Vec::new()
    };
    if removed.is_empty() && others.is_empty() {
        return out.line("nothing to remove");
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for info in &removed {
        out.line(format_args!("{verb} {}", show::summary(info)))?;
    }
    for info in &others {
        out.line(format_args!("{verb} {}", foreign::summary(info)))?;
    }
    let total: u64 =
        removed.iter().map(|i| i.size).sum::<u64>() + others.iter().map(|i| i.size).sum::<u64>();
    let count = removed.len() + others.len();
    let plural = if count == 1 { "" } else { "s" };
    out.line(format_args!(
        "{verb} {count} segment{plural}, {} in all{}",
        human_bytes(total),
        if args.dry_run {
            if args.foreign {
                "; run `shmkit gc --foreign` to remove them"
            } else {
                "; run `shmkit gc` to remove them"
            }
        } else {
            ""
        }
    ))
}
