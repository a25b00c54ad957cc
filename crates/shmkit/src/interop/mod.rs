//! Interop with segments other programs make: Qt's `QSharedMemory` ([`qt`], and the
//! `QDataStream` framing its programs put inside: [`qt::datastream`]), Python's
//! `multiprocessing.shared_memory` ([`python`]), the classic Win32 file mappings and their
//! `TCHAR` text ([`win32`]), and a census of such objects ([`list`],
//! [`gc`]) for tools like `shmkit ls` and `shmkit gc --foreign`.
//!
//! Neither Qt nor Python puts a header in its segments: byte 0 of the mapping is the app's
//! data, and the layout inside is the app's own. shmkit reads and writes those bytes exactly,
//! takes Qt's own lock, and follows each program's rules for names and cleanup. The guide
//! `docs/interop.md` has complete examples (a Qt app and a Rust service sharing a frame buffer,
//! a Python notebook reading a Rust producer).
//!
//! Linux only for now: elsewhere the calls fail with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) (key
//! derivation and parsing work everywhere).
//!
//! # Telling live objects from leftovers
//!
//! Qt and Python take no `flock`, so shmkit judges their objects from the outside:
//!
//! | object | live when | orphaned when |
//! | --- | --- | --- |
//! | POSIX object (`/dev/shm/NAME`) | a process maps it (`/proc/*/maps`) or holds it | nobody does, and it is Qt's (`qipc_…`) or Python's (`psm_…`) |
//! | System V segment | `nattch > 0` | `nattch == 0`, its creator and last user are dead, and Qt made it (its key matches a `qipc_sharedmemory_…` key file) |
//! | Qt's System V lock | its segment exists | its segment is gone and the last process that used it is dead |
//! | Qt's key file | its object exists | no object has its key (and it is over a minute old) |
//!
//! Anything else is [`State::Unknown`] when unused (it may be meant to persist) — or when this
//! process cannot read every other process's maps (run as root to see all).

pub mod python;
pub mod qt;
pub mod win32;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Op, Result};
use crate::segment::{Segment, SegmentKind, State};
use crate::sys::{self, Holders, sysv};

/// Who made a foreign object, judged by its name or key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Qt's `QSharedMemory` / `QSystemSemaphore`.
    Qt,
    /// Python's `multiprocessing.shared_memory` (a `psm_` random name).
    Python,
    /// Neither, as far as shmkit can tell.
    Other,
}

impl Origin {
    /// `qt`, `python` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Qt => "qt",
            Origin::Python => "python",
            Origin::Other => "other",
        }
    }
}

/// Where a foreign object lives and what it is.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Object {
    /// A POSIX shared-memory object: the file `/dev/shm/NAME`.
    PosixSegment,
    /// A POSIX named semaphore: the file `/dev/shm/sem.NAME`.
    PosixSemaphore,
    /// A System V shared-memory segment.
    SysvSegment {
        /// Its key (`ftok`'s result; 0 for a private one).
        key: i32,
        /// Its id (`shmid`).
        id: i32,
    },
    /// A System V semaphore set (Qt's lock).
    SysvSemaphore {
        /// Its key.
        key: i32,
        /// Its id (`semid`).
        id: i32,
    },
    /// A Qt key file (`$TMPDIR/qipc_…`) whose object is gone.
    KeyFile,
}

impl Object {
    /// `segment`, `semaphore`, `sysv-segment`, `sysv-semaphore` or `key-file`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Object::PosixSegment => "segment",
            Object::PosixSemaphore => "semaphore",
            Object::SysvSegment { .. } => "sysv-segment",
            Object::SysvSemaphore { .. } => "sysv-semaphore",
            Object::KeyFile => "key-file",
        }
    }
}

/// What [`list`] reports about one foreign object.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ForeignInfo {
    /// The name to show: the `/dev/shm` name, `sysv:0x5100c552`, or the key file's path.
    pub name: String,
    /// What and where it is.
    pub object: Object,
    /// Who made it.
    pub origin: Origin,
    /// Bytes (0 for locks and key files).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// The processes that map it, are attached to it, or hold it.
    pub users: Holders,
    /// [`State::Live`], [`State::Orphaned`] or [`State::Unknown`].
    pub state: State,
    /// For Qt's System V objects: the key file `ftok` reads (if found).
    pub key_file: Option<PathBuf>,
    /// For System V segments: the creator's process id.
    pub creator_pid: Option<u32>,
    /// For System V objects: the last process that attached, detached or operated on it.
    pub last_pid: Option<u32>,
}

fn held(pids: &[u32]) -> Holders {
    if pids.is_empty() {
        Holders::Nobody
    } else {
        Holders::Held(pids.to_vec())
    }
}

fn merge(a: &Holders, b: &[u32]) -> Holders {
    match a {
        Holders::Held(p) => {
            let mut all: Vec<u32> = p.iter().chain(b).copied().collect();
            all.sort_unstable();
            all.dedup();
            Holders::Held(all)
        }
        Holders::Nobody => held(b),
        Holders::Unknown if !b.is_empty() => Holders::Held(b.to_vec()),
        Holders::Unknown => Holders::Unknown,
    }
}

fn posix_origin(name: &str) -> Origin {
    let bare = name.strip_prefix("sem.").unwrap_or(name);
    if bare.starts_with(qt::SEGMENT_PREFIX) || bare.starts_with(qt::SEMAPHORE_PREFIX) {
        Origin::Qt
    } else if python::is_python_name(name) {
        Origin::Python
    } else {
        Origin::Other
    }
}

/// The directories where Qt puts its System V key files: this process's temporary directory
/// and `/tmp`.
fn key_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(qt::temp_dir())];
    if !dirs.iter().any(|d| d == Path::new("/tmp")) {
        dirs.push(PathBuf::from("/tmp"));
    }
    dirs
}

/// Qt key files (`qipc_*`) in the key directories, by their `ftok` key.
fn key_files() -> HashMap<i32, PathBuf> {
    let mut out = HashMap::new();
    for dir in key_dirs() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str() else { continue };
            if !(n.starts_with(qt::SEGMENT_PREFIX) || n.starts_with(qt::SEMAPHORE_PREFIX)) {
                continue;
            }
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = e.path();
            if let Ok(key) = sysv::ftok(&path, qt::QT_PROJECT_ID) {
                out.insert(key, path);
            }
        }
    }
    out
}

fn file_age(path: &Path) -> Option<Duration> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now().duration_since(m).ok()
}

/// Key files younger than this are left alone: Qt may be between creating one and its object.
const KEY_FILE_GRACE: Duration = Duration::from_secs(60);

fn pid_dead(pid: u32) -> bool {
    pid == 0 || !sys::process_alive(pid, 0)
}

/// Every foreign object: the non-shmkit objects in the shared-memory directory (marked Qt,
/// Python or other), System V segments, Qt's System V locks, and Qt key files left without an
/// object. Sorted by name.
///
/// # Errors
/// As for [`Segment::list`]; [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) off
/// Linux.
pub fn list() -> Result<Vec<ForeignInfo>> {
    let maps = sysv::mappers();
    let mut out = Vec::new();
    for info in Segment::list()? {
        if info.kind.is_shmkit() || info.name.starts_with(sys::TEMP_PREFIX) {
            continue;
        }
        let mapped = sysv::shm_file_id(&info.name)
            .ok()
            .and_then(|id| maps.files.get(&id))
            .cloned()
            .unwrap_or_default();
        let users = merge(&info.holders, &mapped);
        let origin = posix_origin(&info.name);
        let state = match &users {
            Holders::Held(_) => State::Live,
            Holders::Nobody if maps.complete && origin != Origin::Other => State::Orphaned,
            _ => State::Unknown,
        };
        let object = if info.name.starts_with("sem.") && info.kind != SegmentKind::Unknown {
            Object::PosixSemaphore
        } else {
            Object::PosixSegment
        };
        out.push(ForeignInfo {
            name: info.name,
            object,
            origin,
            size: info.size,
            mode: info.mode,
            uid: info.uid,
            users,
            state,
            key_file: None,
            creator_pid: None,
            last_pid: None,
        });
    }

    let files = key_files();
    let mut used_keys = HashSet::new();
    let shms = sysv::list_sysv_shm().unwrap_or_default();
    // Segments by the suffix of their key file (`<letters><sha1>`), to pair locks with them.
    let mut live_suffixes: HashMap<String, State> = HashMap::new();
    for s in &shms {
        used_keys.insert(s.key);
        let key_file = files.get(&s.key).filter(|_| s.key != 0).cloned();
        let qt_file = key_file.as_ref().is_some_and(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(qt::SEGMENT_PREFIX))
        });
        let origin = if qt_file { Origin::Qt } else { Origin::Other };
        let attached = maps.sysv.get(&s.key).cloned().unwrap_or_default();
        let state = if s.nattch > 0 {
            State::Live
        } else if origin == Origin::Qt && pid_dead(s.cpid) && pid_dead(s.lpid) {
            State::Orphaned
        } else {
            State::Unknown
        };
        let users = if s.nattch > 0 {
            Holders::Held(attached)
        } else {
            Holders::Nobody
        };
        if let Some(p) = key_file.as_ref().filter(|_| qt_file) {
            if let Some(suffix) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(qt::SEGMENT_PREFIX))
            {
                live_suffixes.insert(suffix.to_string(), state);
            }
        }
        out.push(ForeignInfo {
            name: format!("sysv:{:#010x}", s.key as u32),
            object: Object::SysvSegment {
                key: s.key,
                id: s.id,
            },
            origin,
            size: s.size,
            mode: s.mode,
            uid: s.uid,
            users,
            state,
            key_file,
            creator_pid: Some(s.cpid),
            last_pid: Some(s.lpid),
        });
    }

    for s in sysv::list_sysv_sem().unwrap_or_default() {
        let Some(path) = files.get(&s.key).filter(|_| s.key != 0) else {
            continue; // not Qt's
        };
        used_keys.insert(s.key);
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let last = sysv::sem_last_pid(s.id).ok();
        let state = if let Some(suffix) = file.strip_prefix(qt::SEMAPHORE_PREFIX) {
            match live_suffixes.get(suffix) {
                Some(State::Orphaned) => State::Orphaned,
                Some(_) => State::Live,
                None if last.is_some_and(pid_dead) => State::Orphaned,
                None => State::Unknown,
            }
        } else {
            // A native System V key: the segment and its lock share the key file.
            match shms.iter().find(|m| m.key == s.key) {
                Some(m) if m.nattch > 0 => State::Live,
                _ if last.is_some_and(pid_dead) => State::Orphaned,
                _ => State::Unknown,
            }
        };
        out.push(ForeignInfo {
            name: format!("sysv-sem:{:#010x}", s.key as u32),
            object: Object::SysvSemaphore {
                key: s.key,
                id: s.id,
            },
            origin: Origin::Qt,
            size: 0,
            mode: s.mode,
            uid: s.uid,
            users: Holders::Unknown,
            state,
            key_file: Some(path.clone()),
            creator_pid: None,
            last_pid: last,
        });
    }

    for (key, path) in &files {
        if used_keys.contains(key) {
            continue;
        }
        let state = if file_age(path).is_some_and(|a| a >= KEY_FILE_GRACE) {
            State::Orphaned
        } else {
            State::Unknown
        };
        out.push(ForeignInfo {
            name: path.to_string_lossy().into_owned(),
            object: Object::KeyFile,
            origin: Origin::Qt,
            size: 0,
            mode: sysv::file_mode(path).map_or(0, |(mode, _)| mode),
            uid: sysv::file_mode(path).map_or(0, |(_, uid)| uid),
            users: Holders::Nobody,
            state,
            key_file: Some(path.clone()),
            creator_pid: None,
            last_pid: None,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes the foreign objects [`list`] calls [`State::Orphaned`]: Qt's and Python's leftovers
/// of crashed programs — by default only the calling user's (`all_users` widens that; `idle`
/// does not apply: an orphan is a leftover by definition). A live object is never removed: each
/// is checked again right before its removal. With `dry_run`, only reports what it would remove.
/// The options are [`GcOptions`](crate::GcOptions), as for [`Segment::gc`].
///
/// # Errors
/// As for [`list`]; objects that vanish or come into use meanwhile are skipped.
pub fn gc(opts: &crate::GcOptions) -> Result<Vec<ForeignInfo>> {
    let first = list()?;
    let candidates: Vec<&ForeignInfo> = first
        .iter()
        .filter(|i| i.state == State::Orphaned && opts.owns(i.uid))
        .collect();
    if opts.is_dry_run() || candidates.is_empty() {
        return Ok(candidates.into_iter().cloned().collect());
    }
    // Look again, so anything that came into use since the first look is spared.
    let again: HashMap<String, ForeignInfo> =
        list()?.into_iter().map(|i| (i.name.clone(), i)).collect();
    let mut removed = Vec::new();
    for c in candidates {
        let Some(now) = again
            .get(&c.name)
            .filter(|n| n.state == State::Orphaned && n.object == c.object)
        else {
            continue;
        };
        if remove_orphan(now).is_ok() {
            removed.push(now.clone());
        }
    }
    Ok(removed)
}

fn remove_orphan(info: &ForeignInfo) -> Result<()> {
    let os = |e| Error::os(Op::Remove, info.name.clone(), e);
    match &info.object {
        Object::PosixSegment | Object::PosixSemaphore => Segment::remove(info.name.as_str()),
        Object::SysvSegment { key, id } => {
            let st = sysv::shm_stat(*id).map_err(os)?;
            if st.nattch != 0 || st.key != *key {
                return Ok(());
            }
            sysv::shm_remove(*id).map_err(os)?;
            remove_key_file(info, *key);
            Ok(())
        }
        Object::SysvSemaphore { key, id } => {
            sysv::sem_remove(*id).map_err(os)?;
            remove_key_file(info, *key);
            Ok(())
        }
        Object::KeyFile => match &info.key_file {
            Some(p) => sysv::remove_file(p).map_err(os),
            None => Ok(()),
        },
    }
}

/// Unlinks the object's key file if it still gives the object's key.
fn remove_key_file(info: &ForeignInfo, key: i32) {
    if let Some(p) = &info.key_file {
        if sysv::ftok(p, qt::QT_PROJECT_ID).is_ok_and(|k| k == key) {
            let _ = sysv::remove_file(p);
        }
    }
}
