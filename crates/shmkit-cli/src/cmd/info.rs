//! `shmkit info`: everything known about one segment — a shmkit segment, a plain POSIX object,
//! or a Qt segment.

use shmkit::Segment;
use shmkit::interop::{self, qt};

use crate::error::Result;
use crate::foreign;
use crate::output::Output;
use crate::show;
use crate::target::{TARGET_HELP, Target};

/// Show everything known about one segment
///
/// Shows a segment's kind, size, data region, mode, owner, lifetime, state, the processes that
/// hold it, its creator and creation time, and who holds its lock. Works on foreign objects
/// too (their name need not follow shmkit's rule); for them only what the system knows is shown,
/// with who made them (Qt, Python) and whether anyone still uses them.
///
/// For a Qt key (qt:KEY, qt-posix:KEY, a Qt key string) it shows what Qt derives from the key —
/// backend, key file or /dev/shm object, lock — and what exists: size, attachments, creator,
/// whether Qt's lock is free. Nothing is attached, locked or created to find out.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit info cam0
  shmkit info cam0 --json | jq .holders
  shmkit info qt:frames            the segment of QSharedMemory(\"frames\") (System V)
  shmkit info posix:psm_1a2b3c4d   a Python segment")]
pub struct Args {
    #[arg(help = TARGET_HELP, value_parser = Target::parse)]
    target: Target,

    /// Print one JSON object (the fields of `shmkit ls --json`)
    #[arg(long)]
    json: bool,
}

/// The target as `info --json` describes it (for `shmkit view`'s statistics).
pub fn json_of(target: &Target) -> Result<serde_json::Value> {
    let name = match target {
        Target::Qt(key) => return Ok(foreign::qt_json(&qt::inspect(key)?)),
        Target::Shmkit(name) => name.clone(),
        Target::Posix(name) => name.to_string(),
    };
    let info = Segment::info(&name)?;
    if !info.kind.is_shmkit() {
        if let Some(f) = interop::list()
            .ok()
            .and_then(|all| all.into_iter().find(|f| f.name == name))
        {
            return Ok(foreign::json(&f));
        }
    }
    Ok(show::json(&info))
}

/// Describes the target as `key: value` lines or JSON.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let name = match &args.target {
        Target::Qt(key) => {
            let st = qt::inspect(key)?;
            return if args.json {
                out.json(&foreign::qt_json(&st))
            } else {
                foreign::qt_details(out, &st)
            };
        }
        Target::Shmkit(name) => name.clone(),
        Target::Posix(name) => name.to_string(),
    };
    let info = Segment::info(&name)?;
    let census = if info.kind.is_shmkit() {
        None
    } else {
        interop::list()
            .ok()
            .and_then(|all| all.into_iter().find(|f| f.name == name))
    };
    match (args.json, census) {
        (true, Some(f)) => out.json(&foreign::json(&f)),
        (true, None) => out.json(&show::json(&info)),
        (false, Some(f)) => {
            let mut pairs = vec![
                ("name", crate::util::display_name(&f.name).into_owned()),
                ("kind", format!("{} (no shmkit header)", foreign::kind(&f))),
                (
                    "size",
                    format!("{} ({} bytes)", shmkit::human_bytes(f.size), f.size),
                ),
                ("mode", crate::util::format_mode(f.mode)),
                ("owner", format!("uid {}", f.uid)),
            ];
            foreign::details(&mut pairs, &f);
            if let Some(t) = info.modified {
                pairs.push(("modified", crate::util::human_time(t)));
            }
            out.pairs(&pairs)
        }
        (false, None) => show::details(out, &info),
    }
}
