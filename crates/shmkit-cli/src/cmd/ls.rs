//! `shmkit ls`: every object in the shared-memory directory, who holds it, in what state.

use shmkit::Segment;
use shmkit::interop;

use crate::error::Result;
use crate::foreign;
use crate::output::{Column, Output};
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
/// that they use them). `shmkit gc` removes stale shmkit segments, `shmkit gc --idle` idle ones too.
///
/// HOLDERS are the ids of the processes that have it open (- for none, ? if unknown).
///
/// Objects of other programs are marked by who made them: KIND qt (Qt's QSharedMemory: a
/// /dev/shm/qipc_* object, or a System V segment whose key file is Qt's; these are listed too,
/// as sysv:0xKEY), qt-lock (Qt's semaphore), qt-keyfile (a Qt key file left without its object),
/// python (a psm_* segment of Python's multiprocessing.shared_memory), sysv (another System V
/// segment), semaphore, foreign. Their STATE is live (a process maps it, or is attached),
/// orphaned (nobody uses it and its maker never keeps one unused: a crash's leftover, which
/// `shmkit gc --foreign` removes) or unknown.
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

/// Every object, as `ls --json` describes it, sorted by name (for `shmkit view`'s index).
pub fn census_json() -> Result<Vec<serde_json::Value>> {
    let infos = Segment::list()?;
    let others = interop::list().unwrap_or_default();
    let known: std::collections::HashSet<&str> = others.iter().map(|f| f.name.as_str()).collect();
    let mut all: Vec<serde_json::Value> = infos
        .iter()
        .filter(|i| !known.contains(i.name.as_str()))
        .map(show::json)
        .collect();
    all.extend(others.iter().map(|f| {
        let mut v = foreign::json(f);
        v["target"] = foreign::target(f).map_or(serde_json::Value::Null, Into::into);
        v
    }));
    all.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(all)
}

/// Lists the segments as a table or JSON.
pub fn run(args: Args, out: &mut Output) -> Result<()> {
    // This user's stale segments go first, each said on stderr (`error::announce_stale_removals`).
    Segment::sweep();
    let infos = Segment::list()?;
    // The census of other programs' objects; without it (no /proc), show them as before.
    let Ok(others) = interop::list() else {
        return if args.json {
            out.json(&show::json_list(&infos))
        } else if infos.is_empty() {
            out.line(
                "no shared-memory segments exist — make one with `shmkit create NAME --size 4K`",
            )
        } else {
            show::table(out, &infos)
        };
    };
    let known: std::collections::HashSet<&str> = others.iter().map(|f| f.name.as_str()).collect();
    let ours: Vec<_> = infos
        .iter()
        .filter(|i| !known.contains(i.name.as_str()))
        .cloned()
        .collect();
    if args.json {
        let mut all = match show::json_list(&ours) {
            serde_json::Value::Array(a) => a,
            _ => Vec::new(),
        };
        all.extend(others.iter().map(foreign::json));
        all.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        return out.json(&serde_json::Value::Array(all));
    }
    if ours.is_empty() && others.is_empty() {
        return out.line(
            "no shared-memory segments exist — make one with `shmkit create NAME --size 4K`",
        );
    }
    const COLUMNS: [Column; 6] = [
        Column::left("NAME"),
        Column::left("KIND"),
        Column::right("SIZE"),
        Column::left("MODE"),
        Column::left("STATE"),
        Column::left("HOLDERS"),
    ];
    let mut rows: Vec<Vec<String>> = show::rows(&ours);
    rows.extend(others.iter().map(foreign::row));
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    out.table(&COLUMNS, &rows)
}
