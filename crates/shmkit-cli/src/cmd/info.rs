//! `shmkit info`: everything known about one segment.

use shmkit::Segment;

use crate::error::Result;
use crate::output::Output;
use crate::show;

/// Show everything known about one segment
///
/// Shows a segment's kind, size, data region, mode, owner, lifetime, state, the processes that
/// hold it, its creator and creation time, and who holds its lock. Works on foreign objects
/// too (their name need not follow shmkit's rule); for them only what the system knows is shown.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit info cam0
  shmkit info cam0 --json | jq .holders")]
pub struct Args {
    #[arg(help = super::NAME_HELP)]
    name: String,

    /// Print one JSON object (the fields of `shmkit ls --json`)
    #[arg(long)]
    json: bool,
}

/// Describes the segment as `key: value` lines or JSON.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let info = Segment::info(&args.name)?;
    if args.json {
        out.json(&show::json(&info))
    } else {
        show::details(out, &info)
    }
}
