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
//! | `modified`    | string / null   | size or mode last changed (RFC 3339, UTC) |
//! | `lock_owner`  | integer / null  | pid holding the lock        |

use serde_json::{Value, json};
use shmkit::{Holders, Lifetime, SegmentInfo, SegmentKind, State, human_bytes};

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
fn holders_short(holders: &Holders) -> String {
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
        SegmentKind::ShmkitOther => "a shmkit layout or kind this version cannot read",
        SegmentKind::Foreign => "no shmkit header: made by another program, or a raw segment",
        _ => "cannot read it: no permission",
    };
    format!("{} ({what})", kind.as_str())
}

fn state_long(info: &SegmentInfo) -> String {
    let what = match info.state {
        State::Live => "in use",
        State::Idle => "persistent, nobody holds it; `shmkit gc` would remove it",
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

/// One segment as a JSON object (fields in the module docs).
pub fn json(info: &SegmentInfo) -> Value {
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
        "modified": info.modified.and_then(rfc3339),
        "lock_owner": info.lock_owner,
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
    if let Some(t) = info.modified {
        pairs.push(("modified", human_time(t)));
    }
    if info.kind.is_shmkit() {
        let lock = info
            .lock_owner
            .map_or_else(|| "free".to_string(), |pid| format!("held by pid {pid}"));
        pairs.push(("lock", lock));
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
