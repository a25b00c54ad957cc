//! `shmkit gc`: removes what crashed programs left behind — and, when asked, idle segments.

use shmkit::interop;
use shmkit::{GcOptions, Segment, State, human_bytes};

use crate::error::Result;
use crate::foreign;
use crate::output::Output;
use crate::show;

/// Remove the shared memory that crashed programs left behind
///
/// Removes the crash leftovers among shmkit segments: those `shmkit ls` shows as stale — a
/// segment that should have gone with its last user, whose users all died (killed, crashed), or
/// one whose creator died halfway. It never removes a segment some process holds, a segment
/// someone made to stay (`shmkit create`, `write --create`, `pub`: persistent; `ls` shows them
/// as idle when nobody has them open) unless --idle asks for those too, another user's segment
/// unless --all-users asks for those too (root included: by default root removes only root's),
/// or any object shmkit did not make unless --foreign asks for crash leftovers of Qt and Python.
/// That makes a plain `shmkit gc` safe to run at any time, from cron too.
///
/// Each segment is checked again, under a lock no holder can share, right before it goes: one
/// that came into use meanwhile, or that a new segment replaced, is left alone.
///
/// With --foreign, it also removes the orphaned objects of Qt and Python programs: what `shmkit
/// ls` shows as orphaned (Qt's System V segments nobody is attached to whose creator and last
/// user are dead, with their semaphores and key files; /dev/shm/qipc_* and psm_* objects no
/// process maps). Qt's System V key files are looked for in $TMPDIR and /tmp: run with the Qt
/// apps' TMPDIR.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit gc --dry-run              see what would go
  shmkit gc                        remove your crash leftovers (safe from cron)
  shmkit gc --idle --dry-run       also idle persistent segments nobody has open
  sudo shmkit gc --all-users       every user's crash leftovers
  shmkit gc --foreign --dry-run    also what crashed Qt and Python programs left behind")]
pub struct Args {
    /// Only list what would be removed
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Also remove idle segments: persistent ones (made by `shmkit create`, `--create`, `pub`)
    /// that no process has open
    #[arg(long)]
    idle: bool,

    /// Also other users' segments (by default only those of the user running gc, root too)
    #[arg(long)]
    all_users: bool,

    /// Also remove orphaned objects of Qt and Python programs
    #[arg(long)]
    foreign: bool,
}

/// Collects, then lists what went (or would go) and how much memory that is.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let opts = GcOptions::new()
        .idle(args.idle)
        .all_users(args.all_users)
        .dry_run(args.dry_run);
    let removed = Segment::gc(&opts)?;
    let others = if args.foreign {
        interop::gc(&opts)?
    } else {
        Vec::new()
    };
    // What a default run keeps on purpose, so that nobody wonders why an idle segment stayed.
    let kept = if args.idle {
        0
    } else {
        Segment::gc(&opts.clone().idle(true).dry_run(true))?
            .iter()
            .filter(|i| i.state == State::Idle)
            .count()
    };
    if removed.is_empty() && others.is_empty() {
        out.line("nothing to remove")?;
        return kept_idle(out, kept, args.dry_run);
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
            rerun(&args)
        } else {
            String::new()
        }
    ))?;
    kept_idle(out, kept, args.dry_run)
}

/// `kept 2 idle segments …` (`would keep` in a dry run), if there were any.
fn kept_idle(out: &mut Output, kept: usize, dry_run: bool) -> Result<()> {
    let verb = if dry_run { "would keep" } else { "kept" };
    match kept {
        0 => Ok(()),
        n => out.line(format_args!(
            "{verb} {n} idle segment{s} (persistent, nobody has {them} open): `shmkit gc \
             --idle` removes {them} too",
            s = if n == 1 { "" } else { "s" },
            them = if n == 1 { "it" } else { "them" },
        )),
    }
}

/// `; run `shmkit gc …` to remove them`: the same command without --dry-run.
fn rerun(args: &Args) -> String {
    let flags: String = [
        (args.idle, " --idle"),
        (args.all_users, " --all-users"),
        (args.foreign, " --foreign"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, flag)| *flag)
    .collect();
    format!("; run `shmkit gc{flags}` to remove them")
}
