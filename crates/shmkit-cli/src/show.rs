//! How a segment's description ([`SegmentInfo`]) looks: in `ls` tables, `info` lists, one-line
//! summaries (`gc`, `rm`) and JSON — one place, so every command says the same thing the same
//! way.
//!
//! # JSON
//!
//! Every command with `--json` describes a segment as one object with these fields (`null` where
//! the value does not apply or is not known; the shmkit-only fields are `null` for foreign
//! objects):
//!
//! | field         | type            | example                     |
//! |---------------|-----------------|-----------------------------|
//! | `name`        | string          | `"cam0"`                    |
//! | `kind`        | string          | `"bytes"`, `"cell"`, `"stream"`, `"shmkit?"`, `"foreign"`, `"?"` |
//! | `size`        | integer, bytes  | `8192` (header included)    |
//! | `mode`        | string, octal   | `"0600"`                    |
//! | `uid`         | integer         | `1000`                      |
//! | `state`       | string          | `"live"`, `"idle"`, `"stale"`, `"unknown"` |
//! | `holders`     | integers / null | `[4242]`; `[]` nobody; `null` unknown |
//! | `lifetime`    | string / null   | `"persistent"`, `"last-close"` |
//! | `data_len`    | integer / null  | `4096`                      |
//! | `data_offset` | integer / null  | `4096`                      |
//! | `creator_pid` | integer / null  | `4242`                      |
//! | `created`     | string / null   | `"2026-05-01T12:34:56Z"` (RFC 3339, UTC) |
//! | `modified`    | string / null   | foreign objects: size or mode last changed; cells and streams: the last publish (RFC 3339, UTC) |
//! | `lock_owner`  | integer / null  | pid of a live process holding the lock |
//! | `lock`        | object / null   | `{"state":"held","pid":4242}`; states `free`, `held`, `owner-died` (pid of the dead owner), `unknown` (another pid namespace) |
//! | `format`      | string / null   | `"rgba8:1920x1080"`, `"image/png"` |
//! | `problem`     | string / null   | why the header or control block does not hold up (`"corrupt header: …"`) |
//! | `cell`        | object / null   | `capacity`, `slots`, `value_size`, `seq`, `last_publish` |
//! | `stream`      | object / null   | `max_frame`, `ring`, `policy`, `slots`, `next_seq`, `frames`, `bytes`, `last_publish`, `tail`, `oldest`, `subscribers`: [{`pid`, `alive`, `position`, `lag`, `lost`, `received`, `last_receive`}] |

use std::time::SystemTime;

use serde_json::{Value, json};
use shmkit::{Details, Holders, Lifetime, LockState, SegmentInfo, SegmentKind, State, human_bytes};

use crate::error::Result;
use crate::output::{Column, Output};
use crate::util::{display_name, format_mode, human_time, rfc3339};

/// The holders' process ids, sorted, each once (a process may hold a segment twice).
fn pids(holders: &Holders) -> Option<Vec<u32>> {
    match holders {
        Holders::Held(pids) => {
            let mut pids = pids.clone();
            pids.sort_unstable();
            pids.dedup();
            Some(pids)
        }
        Holders::Nobody => Some(Vec::new()),
        _ => None,
    }
}

/// Holders for a table cell: `4242,4243`, `-` for nobody, `?` when unknown.
pub fn holders_short(holders: &Holders) -> String {
    match pids(holders) {
        Some(p) if p.is_empty() && matches!(holders, Holders::Held(_)) => "yes".into(),
        Some(p) if p.is_empty() => "-".into(),
        Some(p) => join(&p, ","),
        None => "?".into(),
    }
}

/// Holders in words: `pid 4242, 4243`, `none`, `unknown`.
fn holders_long(holders: &Holders) -> String {
    match pids(holders) {
        Some(p) if p.is_empty() && matches!(holders, Holders::Held(_)) => {
            "some processes (their ids are not known)".into()
        }
        Some(p) if p.is_empty() => "none".into(),
        Some(p) if p.len() == 1 => format!("pid {}", p[0]),
        Some(p) => format!("pids {}", join(&p, ", ")),
        None => "unknown (cannot read the system's lock table)".into(),
    }
}

fn join(pids: &[u32], sep: &str) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn lifetime_str(lifetime: Lifetime) -> &'static str {
    match lifetime {
        Lifetime::Persistent => "persistent",
        Lifetime::LastClose => "last-close",
    }
}

fn kind_long(kind: SegmentKind) -> String {
    let what = match kind {
        SegmentKind::Shmkit(_) => "a shmkit segment",
        SegmentKind::ShmkitOther => {
            "a shmkit header this version cannot use: another layout, or corrupt (see header)"
        }
        SegmentKind::Foreign => "no shmkit header: made by another program, or a raw segment",
        _ => "cannot read it: no permission",
    };
    format!("{} ({what})", kind.as_str())
}

fn state_long(info: &SegmentInfo) -> String {
    let what = match info.state {
        State::Live => "in use",
        State::Idle => {
            "persistent, nobody holds it; only `shmkit rm` or `shmkit gc --idle` removes it"
        }
        State::Stale => "left behind: its users are gone; `shmkit gc` removes it",
        _ if info.kind.is_shmkit() => "cannot tell who holds it",
        _ => "a foreign object: other programs do not announce that they use it",
    };
    format!("{} ({what})", info.state.as_str())
}

fn lifetime_long(lifetime: Lifetime) -> String {
    let what = match lifetime {
        Lifetime::Persistent => "until `shmkit rm` or `shmkit gc`",
        Lifetime::LastClose => "removed when the last process using it closes it",
    };
    format!("{} ({what})", lifetime_str(lifetime))
}

/// `8 KiB (8192 bytes)`.
fn size_long(bytes: u64) -> String {
    if bytes < 1024 {
        human_bytes(bytes)
    } else {
        format!("{} ({bytes} bytes)", human_bytes(bytes))
    }
}

/// When the segment's contents last changed, as far as anyone can tell: a cell's or a stream's
/// last publish; the file's size or mode change for anything else (contents written through a
/// mapping leave no trace in the file's times).
fn modified(info: &SegmentInfo) -> Option<SystemTime> {
    match &info.details {
        Some(Details::Cell(c)) => c.last_publish,
        Some(Details::Stream(s)) => s.last_publish,
        _ if info.kind.is_shmkit() => None,
        _ => info.modified,
    }
}

fn lock_json(lock: LockState) -> Value {
    match lock {
        LockState::Free => json!({"state": "free"}),
        LockState::Held { pid } => json!({"state": "held", "pid": pid}),
        LockState::OwnerDied { pid } => json!({"state": "owner-died", "pid": pid}),
        LockState::Unknown { pid } => json!({"state": "unknown", "pid": pid}),
        _ => json!({"state": "unknown"}),
    }
}

fn lock_long(lock: LockState) -> String {
    match lock {
        LockState::Free => "free".into(),
        LockState::Held { pid } => format!("held by pid {pid}"),
        LockState::OwnerDied { pid } => format!(
            "free; its last owner, pid {pid}, died holding it (the next locker takes it over and \
             is told)"
        ),
        LockState::Unknown { pid } => format!(
            "held by pid {pid} of another pid namespace (this process cannot tell whether it \
             lives)"
        ),
        _ => "unknown".into(),
    }
}

fn details_json(info: &SegmentInfo) -> (Value, Value) {
    let time = |t: Option<SystemTime>| t.and_then(rfc3339);
    match &info.details {
        Some(Details::Cell(c)) => (
            json!({
                "capacity": c.capacity,
                "slots": c.slots,
                "value_size": c.value_size,
                "seq": c.seq,
                "last_publish": time(c.last_publish),
            }),
            Value::Null,
        ),
        Some(Details::Stream(s)) => (
            Value::Null,
            json!({
                "max_frame": s.max_frame,
                "ring": s.ring,
                "policy": s.policy.as_str(),
                "slots": s.slots,
                "next_seq": s.next_seq,
                "frames": s.frames,
                "bytes": s.bytes,
                "last_publish": time(s.last_publish),
                "tail": s.tail,
                "oldest": s.oldest,
                "subscribers": s.subscribers.iter().map(|sub| json!({
                    "pid": sub.pid,
                    "alive": sub.alive,
                    "position": sub.position,
                    "lag": sub.lag,
                    "lost": sub.lost,
                    "received": sub.received,
                    "last_receive": time(sub.last_receive),
                })).collect::<Vec<_>>(),
            }),
        ),
        _ => (Value::Null, Value::Null),
    }
}

/// One segment as a JSON object (fields in the module docs).
pub fn json(info: &SegmentInfo) -> Value {
    let (cell, stream) = details_json(info);
    json!({
        "name": info.name,
        "kind": info.kind.as_str(),
        "size": info.size,
        "mode": format_mode(info.mode),
        "uid": info.uid,
        "state": info.state.as_str(),
        "holders": pids(&info.holders),
        "lifetime": info.lifetime.map(lifetime_str),
        "data_len": info.data_len,
        "data_offset": info.data_offset,
        "creator_pid": info.creator_pid,
        "created": info.created.and_then(rfc3339),
        "modified": modified(info).and_then(rfc3339),
        "lock_owner": info.lock_owner,
        "lock": info.lock.map(lock_json),
        "format": info.format.as_ref().map(ToString::to_string),
        "problem": info.problem,
        "cell": cell,
        "stream": stream,
    })
}

/// Segments as a JSON array.
pub fn json_list(infos: &[SegmentInfo]) -> Value {
    Value::Array(infos.iter().map(json).collect())
}

/// The `ls` table: name, kind, size, mode, state, holders.
pub fn table(out: &mut Output, infos: &[SegmentInfo]) -> Result<()> {
    const COLUMNS: [Column; 6] = [
        Column::left("NAME"),
        Column::left("KIND"),
        Column::right("SIZE"),
        Column::left("MODE"),
        Column::left("STATE"),
        Column::left("HOLDERS"),
    ];
    out.table(&COLUMNS, &rows(infos))
}

/// The rows of the `ls` table.
pub fn rows(infos: &[SegmentInfo]) -> Vec<Vec<String>> {
    infos
        .iter()
        .map(|i| {
            vec![
                display_name(&i.name).into_owned(),
                i.kind.as_str().to_string(),
                human_bytes(i.size),
                format_mode(i.mode),
                i.state.as_str().to_string(),
                holders_short(&i.holders),
            ]
        })
        .collect()
}

/// One line for `gc` and `rm`: `cam0 (bytes, 8 KiB, idle)`.
pub fn summary(info: &SegmentInfo) -> String {
    format!(
        "{} ({}, {}, {})",
        display_name(&info.name),
        info.kind.as_str(),
        human_bytes(info.size),
        info.state.as_str()
    )
}

/// Everything known about one segment, as aligned `key: value` lines.
pub fn details(out: &mut Output, info: &SegmentInfo) -> Result<()> {
    let mut pairs = vec![
        ("name", display_name(&info.name).into_owned()),
        ("kind", kind_long(info.kind)),
        ("size", format!("{} in all", size_long(info.size))),
    ];
    if let (Some(len), Some(offset)) = (info.data_len, info.data_offset) {
        pairs.push(("data", format!("{} from offset {offset}", size_long(len))));
    }
    pairs.push(("mode", format_mode(info.mode)));
    pairs.push(("owner", format!("uid {}", info.uid)));
    if let Some(lifetime) = info.lifetime {
        pairs.push(("lifetime", lifetime_long(lifetime)));
    }
    pairs.push(("state", state_long(info)));
    pairs.push(("holders", holders_long(&info.holders)));
    if let Some(pid) = info.creator_pid {
        pairs.push(("creator", format!("pid {pid}")));
    }
    if let Some(t) = info.created {
        pairs.push(("created", human_time(t)));
    }
    if let Some(problem) = &info.problem {
        pairs.push(("header", problem.clone()));
    }
    if let Some(f) = &info.format {
        pairs.push(("format", f.to_string()));
    }
    match &info.details {
        Some(Details::Cell(c)) => {
            let typed = c
                .value_size
                .map_or(String::new(), |n| format!("; typed: {n}-byte values"));
            pairs.push((
                "value",
                format!(
                    "up to {} in each of {} slots{typed}",
                    size_long(c.capacity),
                    c.slots
                ),
            ));
            pairs.push((
                "published",
                match c.seq {
                    0 => "nothing yet".to_string(),
                    1 => "1 value (#1)".to_string(),
                    n => format!("{n} values (newest #{n})"),
                },
            ));
        }
        Some(Details::Stream(s)) => {
            pairs.push((
                "frames",
                format!(
                    "up to {} each, in a ring of {}; policy {} ({})",
                    size_long(s.max_frame),
                    human_bytes(s.ring),
                    s.policy.as_str(),
                    match s.policy {
                        shmkit::stream::Policy::Block => "the publisher waits for the slowest",
                        _ => "the publisher never waits; slow subscribers lose frames",
                    }
                ),
            ));
            pairs.push((
                "published",
                format!(
                    "{} frames, {} (next #{})",
                    s.frames,
                    human_bytes(s.bytes),
                    s.next_seq
                ),
            ));
            pairs.push((
                "subscribers",
                format!("{} of {} slots in use", s.subscribers.len(), s.slots),
            ));
            for sub in &s.subscribers {
                let alive = match sub.alive {
                    Some(true) => "",
                    Some(false) => " (dead; its slot is freed when needed)",
                    None => " (another pid namespace)",
                };
                let last = sub.last_receive.map_or("never".to_string(), human_time);
                pairs.push((
                    "  subscriber",
                    format!(
                        "pid {}{alive}: lag {}, lost {}, received {}, last {last}",
                        sub.pid, sub.lag, sub.lost, sub.received
                    ),
                ));
            }
        }
        _ => {}
    }
    match modified(info) {
        Some(t) if info.details.is_some() => pairs.push(("last publish", human_time(t))),
        Some(t) => pairs.push(("modified", human_time(t))),
        None if info.details.is_some() => pairs.push(("last publish", "never".to_string())),
        None => {}
    }
    if let Some(lock) = info.lock {
        pairs.push(("lock", lock_long(lock)));
    }
    out.pairs(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_in_cells_and_words() {
        let held = Holders::Held(vec![7, 3, 7]);
        assert_eq!(holders_short(&held), "3,7");
        assert_eq!(holders_long(&held), "pids 3, 7");
        assert_eq!(holders_long(&Holders::Held(vec![9])), "pid 9");
        assert_eq!(holders_short(&Holders::Held(vec![])), "yes");
        assert_eq!(holders_short(&Holders::Nobody), "-");
        assert_eq!(holders_long(&Holders::Nobody), "none");
        assert_eq!(holders_short(&Holders::Unknown), "?");
        assert_eq!(pids(&Holders::Unknown), None);
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(size_long(100), "100 B");
        assert_eq!(size_long(8192), "8 KiB (8192 bytes)");
    }
}
