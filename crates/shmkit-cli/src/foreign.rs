//! How foreign objects (Qt's, Python's, other programs') look in `ls`, `info`, `gc --foreign`
//! and JSON — the counterpart of [`show`](crate::show) for what `shmkit::interop` reports.
//!
//! KIND in `ls`: `qt` (a Qt segment: `/dev/shm/qipc_…`, or a System V segment whose key file is
//! Qt's), `qt-lock` (Qt's semaphore), `qt-keyfile` (a Qt key file whose object is gone),
//! `python` (a `psm_…` segment), `sysv` (another System V segment), `semaphore` (another POSIX
//! semaphore), `foreign` (any other object).

use serde_json::{Value, json};
use shmkit::interop::qt;
use shmkit::interop::{ForeignInfo, Object, Origin};
use shmkit::{Holders, State, human_bytes};

use crate::error::Result;
use crate::output::Output;
use crate::util::{display_name, format_mode};

/// The KIND column for a foreign object.
pub fn kind(info: &ForeignInfo) -> &'static str {
    match (&info.object, info.origin) {
        (Object::KeyFile, _) => "qt-keyfile",
        (Object::SysvSemaphore { .. }, _) => "qt-lock",
        (Object::PosixSemaphore, Origin::Qt) => "qt-lock",
        (Object::PosixSemaphore, _) => "semaphore",
        (_, Origin::Qt) => "qt",
        (_, Origin::Python) => "python",
        (Object::SysvSegment { .. }, _) => "sysv",
        _ => "foreign",
    }
}

fn holders_cell(users: &Holders) -> String {
    match users {
        Holders::Held(p) if p.is_empty() => "yes".into(),
        Holders::Held(p) => p.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        Holders::Nobody => "-".into(),
        _ => "?".into(),
    }
}

/// A row of the `ls` table: name, kind, size, mode, state, holders.
pub fn row(info: &ForeignInfo) -> Vec<String> {
    vec![
        display_name(&info.name).into_owned(),
        kind(info).to_string(),
        human_bytes(info.size),
        format_mode(info.mode),
        info.state.as_str().to_string(),
        holders_cell(&info.users),
    ]
}

/// One foreign object as JSON: the fields of `shmkit ls --json` (shmkit-only ones null) plus
/// `origin`, `object`, `sysv_key`, `sysv_id`, `key_file`, `last_pid`.
pub fn json(info: &ForeignInfo) -> Value {
    let (key, id) = match info.object {
        Object::SysvSegment { key, id } | Object::SysvSemaphore { key, id } => {
            (Some(format!("{:#010x}", key as u32)), Some(id))
        }
        _ => (None, None),
    };
    let holders = match &info.users {
        Holders::Held(p) => Some(p.clone()),
        Holders::Nobody => Some(Vec::new()),
        _ => None,
    };
    json!({
        "name": info.name,
        "kind": kind(info),
        "size": info.size,
        "mode": format_mode(info.mode),
        "uid": info.uid,
        "state": info.state.as_str(),
        "holders": holders,
        "lifetime": null,
        "data_len": null,
        "data_offset": null,
        "creator_pid": info.creator_pid,
        "created": null,
        "modified": null,
        "lock_owner": null,
        "origin": info.origin.as_str(),
        "object": info.object.as_str(),
        "sysv_key": key,
        "sysv_id": id,
        "key_file": info.key_file.as_ref().map(|p| p.to_string_lossy().into_owned()),
        "last_pid": info.last_pid,
    })
}

/// The TARGET that opens the object's bytes (`posix:NAME`, a Qt System V key string), if it
/// has bytes to show (semaphores and key files have none).
pub fn target(info: &ForeignInfo) -> Option<String> {
    match info.object {
        Object::PosixSegment => Some(format!("posix:{}", info.name)),
        Object::SysvSegment { .. } => info
            .key_file
            .as_ref()
            .map(|k| format!("systemv:{}", k.to_string_lossy())),
        _ => None,
    }
}

/// A one-line summary for `gc --foreign`.
pub fn summary(info: &ForeignInfo) -> String {
    format!(
        "{} ({}, {}, {})",
        display_name(&info.name),
        kind(info),
        human_bytes(info.size),
        info.state.as_str()
    )
}

fn state_words(state: State) -> String {
    let what = match state {
        State::Live => "in use",
        State::Orphaned => "nobody uses it: a crash's leftover; `shmkit gc --foreign` removes it",
        _ => "cannot tell whether it is meant to stay",
    };
    format!("{} ({what})", state.as_str())
}

/// Extra `info` lines for a foreign object.
pub fn details(pairs: &mut Vec<(&'static str, String)>, info: &ForeignInfo) {
    pairs.push((
        "made by",
        match info.origin {
            Origin::Qt => "Qt (QSharedMemory)".to_string(),
            Origin::Python => "Python (multiprocessing.shared_memory)".to_string(),
            _ => "another program".to_string(),
        },
    ));
    pairs.push(("state", state_words(info.state)));
    pairs.push((
        "used by",
        match &info.users {
            Holders::Held(p) if p.is_empty() => "some processes".into(),
            Holders::Held(p) => format!(
                "pid {}",
                p.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
            Holders::Nobody => "nobody".into(),
            _ => "unknown".into(),
        },
    ));
}

/// `shmkit info` for a Qt key: what the system holds for it, found without attaching.
pub fn qt_details(out: &mut Output, st: &qt::Status) -> Result<()> {
    let key = &st.key;
    let mut pairs: Vec<(&str, String)> = vec![("key", key.to_string())];
    if let Some(l) = key.legacy_key() {
        pairs.push(("legacy key", format!("{l:?}")));
    }
    pairs.push((
        "backend",
        match key.backend() {
            qt::Backend::SystemV => "System V (ftok of the key file, 'Q')".to_string(),
            qt::Backend::Posix => "POSIX (shm_open / sem_open)".to_string(),
        },
    ));
    match key.backend() {
        qt::Backend::SystemV => {
            pairs.push(("key file", key.native_key().to_string()));
            pairs.push((
                "sysv key",
                st.sysv_key
                    .map_or("- (no key file)".into(), |k| format!("{:#010x}", k as u32)),
            ));
        }
        qt::Backend::Posix => pairs.push((
            "object",
            key.posix_name()
                .map_or("?".into(), |n| format!("/dev/shm/{n}")),
        )),
    }
    if !st.exists {
        pairs.push(("segment", "does not exist".into()));
    } else {
        pairs.push((
            "size",
            st.size
                .map_or("?".into(), |s| format!("{} ({s} bytes)", human_bytes(s))),
        ));
        if let Some(mode) = st.mode {
            pairs.push(("mode", format_mode(mode)));
        }
        if let Some(uid) = st.uid {
            pairs.push(("owner", format!("uid {uid}")));
        }
        if let Some(n) = st.attached {
            pairs.push(("attached", format!("{n} process(es)")));
        }
        if let Some(p) = st.creator_pid {
            pairs.push(("creator", format!("pid {p}")));
        }
        if let Some(p) = st.last_pid {
            pairs.push(("last attach/detach", format!("pid {p}")));
        }
    }
    pairs.push(("lock file", key.lock_file().display().to_string()));
    pairs.push((
        "lock",
        match st.lock_value {
            Some(v) if v > 0 => "free".to_string(),
            Some(_) => match st.lock_last_pid {
                Some(p) => format!("taken (last used by pid {p})"),
                None => "taken".to_string(),
            },
            None => "does not exist (Qt makes it on the next create, attach or lock)".to_string(),
        },
    ));
    out.pairs(&pairs)
}

/// `shmkit info --json` for a Qt key.
pub fn qt_json(st: &qt::Status) -> Value {
    json!({
        "key": st.key.to_string(),
        "legacy_key": st.key.legacy_key(),
        "backend": st.key.backend().as_str(),
        "native_key": st.key.native_key(),
        "exists": st.exists,
        "size": st.size,
        "mode": st.mode.map(format_mode),
        "uid": st.uid,
        "attached": st.attached,
        "creator_pid": st.creator_pid,
        "last_pid": st.last_pid,
        "sysv_key": st.sysv_key.map(|k| format!("{:#010x}", k as u32)),
        "lock_file": st.key.lock_file().to_string_lossy(),
        "lock_value": st.lock_value,
    })
}
