//! `shmkit gc`: removes the shmkit segments nobody holds.

use shmkit::{Segment, human_bytes};

use crate::error::Result;
use crate::output::Output;
use crate::show;

/// Remove every shmkit segment that no process holds
///
/// Removes idle segments (persistent ones nobody has open) and stale ones (left behind when
/// their users crashed, or a creator died halfway). A segment some process holds is never
/// removed, and neither is any object shmkit did not make (foreign objects), whatever its state.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit gc --dry-run    see what would go
  shmkit gc")]
pub struct Args {
    /// Only list what would be removed
    #[arg(short = 'n', long)]
    dry_run: bool,
}

/// Collects, then lists what went (or would go) and how much memory that is.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let removed = Segment::gc(args.dry_run)?;
    if removed.is_empty() {
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
    let total: u64 = removed.iter().map(|i| i.size).sum();
    let count = removed.len();
    let plural = if count == 1 { "" } else { "s" };
    out.line(format_args!(
        "{verb} {count} segment{plural}, {} in all{}",
        human_bytes(total),
        if args.dry_run {
            "; run `shmkit gc` to remove them"
        } else {
            ""
        }
    ))
}
