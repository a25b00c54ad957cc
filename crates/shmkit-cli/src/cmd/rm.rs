//! `shmkit rm`: removes segments by name.

use shmkit::interop::win32;
use shmkit::{ErrorKind, Segment, State};

use crate::error::{self, Error, Result};
use crate::output::Output;
use crate::show;

/// Remove segments
///
/// Removes each named segment's name, like `rm` on a file: nobody can open it any more.
/// Processes that have it open keep using it; its memory is freed when the last of them closes
/// it. Each name that cannot be removed is reported, the others are still removed; the exit
/// status is then 1.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  shmkit rm cam0
  shmkit rm cam0 cam1 cam2
  shmkit gc --idle   removes every persistent segment nobody holds instead")]
pub struct Args {
    /// The segments' names
    #[arg(value_name = "NAME", required = true)]
    names: Vec<String>,
}

/// Removes every name, reporting each failure; fails if any did.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    let mut failed = false;
    for name in &args.names {
        if let Err(e) = remove(name, out) {
            if matches!(e, Error::Io(_)) {
                return Err(e);
            }
            out.flush()?;
            error::report(&e);
            failed = true;
        }
    }
    if failed { Err(Error::Reported) } else { Ok(()) }
}

/// Removes one name and says so, noting who still holds the segment.
fn remove(name: &str, out: &mut Output) -> Result<()> {
    let live = Segment::info(name)
        .ok()
        .filter(|info| info.state == State::Live);
    match Segment::remove(name) {
        Ok(()) => {}
        // `Global\NAME` where there are no namespaces: say which name was meant.
        Err(e) if e.kind() == ErrorKind::NotFound && !win32::namespaces_exist() => {
            if let Some((_, bare)) = win32::split_namespace(name) {
                let prefix = &name[..name.len() - bare.len()];
                return Err(Error::Failed(format!(
                    "cannot remove {name:?}: {prefix} is a Windows namespace; this system has \
                     none: the object is {bare:?}"
                )));
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }
    match live {
        Some(info) => out.line(format_args!(
            "removed {} — still mapped by its holders; its memory is freed when they close it",
            show::summary(&info)
        )),
        None => out.line(format_args!("removed {name}")),
    }
}
