//! What exists (`ls`, `info`), removal (`rm`) and clean-up of crash leftovers (`gc`).

use std::ffi::{CString, c_char};
use std::time::SystemTime;

use shmkit_core::stream::Policy;
use shmkit_core::{Details, GcOptions, Holders, Lifetime, LockState, Segment, SegmentInfo};

use crate::error::{Fail, call, call_quietly};
use crate::util::*;
use crate::{shmkit_status, shmkit_status::SHMKIT_INVALID_ARGUMENT};

/// Who holds a segment, as far as the platform can tell.
pub type shmkit_holders = u32;
/// The platform cannot tell.
pub const SHMKIT_HOLDERS_UNKNOWN: shmkit_holders = 0;
/// Nobody holds it.
pub const SHMKIT_HOLDERS_NOBODY: shmkit_holders = 1;
/// These processes hold it (`holder_pids`; may be empty where the count is known but not the
/// ids).
pub const SHMKIT_HOLDERS_HELD: shmkit_holders = 2;

/// The state of a shmkit segment's lock.
pub type shmkit_lock_state = u32;
/// Not a shmkit segment of this layout: no lock to tell about.
pub const SHMKIT_LOCK_NONE: shmkit_lock_state = 0;
/// Nobody holds it.
pub const SHMKIT_LOCK_FREE: shmkit_lock_state = 1;
/// A live process (`lock_pid`) holds it.
pub const SHMKIT_LOCK_HELD: shmkit_lock_state = 2;
/// Its holder (`lock_pid`) died holding it: the next locker takes it over and is told.
pub const SHMKIT_LOCK_OWNER_DIED: shmkit_lock_state = 3;
/// Held by a process this one cannot judge (another pid namespace).
pub const SHMKIT_LOCK_UNKNOWN: shmkit_lock_state = 4;

/// What a cell's or stream's control block says, if anything.
pub type shmkit_details_kind = u32;
/// Neither a cell nor a stream (or its control block could not be read: see `problem`).
pub const SHMKIT_DETAILS_NONE: shmkit_details_kind = 0;
/// `cell` is filled in.
pub const SHMKIT_DETAILS_CELL: shmkit_details_kind = 1;
/// `stream` is filled in.
pub const SHMKIT_DETAILS_STREAM: shmkit_details_kind = 2;

/// A cell's geometry and newest value, as its control block says.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmkit_cell_details {
    /// The largest value, in bytes.
    pub capacity: u64,
    /// Number of value buffers.
    pub slot_count: u32,
    /// For a typed cell: the size of its values; 0 for a byte cell.
    pub value_size: u32,
    /// The newest value's sequence number (0: nothing published yet).
    pub seq: u64,
    /// When it was published (nanoseconds since the Unix epoch; 0: never).
    pub last_publish_ns: u64,
}

/// One subscriber of a stream, as its slot says.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmkit_subscriber_details {
    /// Its process id (0 if unknown).
    pub pid: u32,
    /// 1 alive, 0 dead, -1 cannot tell (another pid namespace).
    pub alive: i32,
    /// Its position (bytes since the stream began).
    pub position: u64,
    /// Frames published that it has not received.
    pub lag: u64,
    /// Frames it lost.
    pub lost: u64,
    /// Frames it received.
    pub received: u64,
    /// When it last received one (nanoseconds since the Unix epoch; 0: never).
    pub last_receive_ns: u64,
}

/// A stream's geometry, statistics and subscribers, as its control block says.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_stream_details {
    /// The largest frame, in bytes.
    pub max_frame: u64,
    /// The ring's size in bytes.
    pub ring: u64,
    /// `SHMKIT_OVERWRITE` or `SHMKIT_BLOCK`.
    pub policy: shmkit_policy,
    /// Subscriber slots.
    pub slot_count: u32,
    /// The sequence number the next frame will get.
    pub next_seq: u64,
    /// Frames published.
    pub frames: u64,
    /// Payload bytes published.
    pub bytes: u64,
    /// When the last frame was published (nanoseconds since the Unix epoch; 0: never).
    pub last_publish_ns: u64,
    /// The position after the last frame (bytes since the stream began).
    pub tail: u64,
    /// The position of the oldest intact frame.
    pub oldest: u64,
    /// The subscribers holding a slot: `subscriber_count` entries.
    pub subscribers: *const shmkit_subscriber_details,
    /// See `subscribers`.
    pub subscriber_count: usize,
}

/// Everything known about one object in the system's shared-memory namespace, as `shmkit info`
/// shows it. Its pointers point into the list it came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmkit_segment_info {
    /// Its name (foreign objects may have names that are not portable).
    pub name: *const c_char,
    /// Its total size in bytes (header included).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// What it holds: `"bytes"`, `"cell"`, `"stream"`, `"shmkit?"` (a header this library does
    /// not read), `"foreign"`, `"?"` (unreadable).
    pub kind: *const c_char,
    /// Whether anyone uses it: `"live"`, `"idle"`, `"stale"`, `"unknown"`, `"orphaned"`.
    pub state: *const c_char,
    /// `SHMKIT_HOLDERS_*`.
    pub holders: shmkit_holders,
    /// With `SHMKIT_HOLDERS_HELD`: the holders' process ids, `holder_count` of them.
    pub holder_pids: *const u32,
    /// See `holder_pids`.
    pub holder_count: usize,
    /// Whether the header validated (a shmkit segment of this layout): then `lifetime`,
    /// `data_len`, `lock`, `format` and `details` mean something.
    pub is_shmkit: bool,
    /// `SHMKIT_LAST_CLOSE` or `SHMKIT_PERSISTENT`.
    pub lifetime: shmkit_lifetime,
    /// The data bytes (without the header).
    pub data_len: u64,
    /// The creating process (0 if unknown).
    pub creator_pid: u32,
    /// When it was created (nanoseconds since the Unix epoch; 0 if unknown).
    pub created_ns: u64,
    /// `SHMKIT_LOCK_*`.
    pub lock: shmkit_lock_state,
    /// The lock's holder with `SHMKIT_LOCK_HELD`, `_OWNER_DIED`, `_UNKNOWN` (0 if unknown).
    pub lock_pid: u32,
    /// What the data is, as its creator said.
    pub format: shmkit_format,
    /// Why its header or control block does not hold up, in words; NULL for a sound one.
    pub problem: *const c_char,
    /// `SHMKIT_DETAILS_*`: which of `cell` and `stream` is filled in.
    pub details: shmkit_details_kind,
    /// A cell's details.
    pub cell: shmkit_cell_details,
    /// A stream's details.
    pub stream: shmkit_stream_details,
}

/// A list of `shmkit_segment_info` from `shmkit_list()`, `shmkit_info()` or `shmkit_gc()`;
/// freed by `shmkit_segment_list_free()`. A snapshot: it does not change.
///
/// Thread safety: immutable; any thread may read it.
#[derive(Debug)]
pub struct shmkit_segment_list {
    entries: Vec<Entry>,
}

/// One entry and the storage its pointers point into (heap buffers: they do not move when the
/// entry does).
#[derive(Debug)]
struct Entry {
    c: shmkit_segment_info,
    _strings: Vec<CString>,
    _pids: Vec<u32>,
    _subs: Vec<shmkit_subscriber_details>,
    _format: OwnedFormat,
}

// SAFETY: the raw pointers of `c` point into the entry's own immutable storage; nothing is ever
// written after construction.
unsafe impl Send for Entry {}
// SAFETY: as for Send.
unsafe impl Sync for Entry {}

fn ns(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn entry(info: &SegmentInfo) -> Entry {
    let name = c_name(&info.name);
    let kind = c_name(info.kind.as_str());
    let state = c_name(info.state.as_str());
    let problem = info.problem.as_deref().map(c_name);
    let (holders, pids) = match &info.holders {
        Holders::Held(p) => (SHMKIT_HOLDERS_HELD, p.clone()),
        Holders::Nobody => (SHMKIT_HOLDERS_NOBODY, Vec::new()),
        _ => (SHMKIT_HOLDERS_UNKNOWN, Vec::new()),
    };
    let (lock, lock_pid) = match info.lock {
        Some(LockState::Free) => (SHMKIT_LOCK_FREE, 0),
        Some(LockState::Held { pid }) => (SHMKIT_LOCK_HELD, pid),
        Some(LockState::OwnerDied { pid }) => (SHMKIT_LOCK_OWNER_DIED, pid),
        Some(LockState::Unknown { pid }) => (SHMKIT_LOCK_UNKNOWN, pid),
        _ => (SHMKIT_LOCK_NONE, 0),
    };
    let format = OwnedFormat::new(info.format.as_ref());
    let mut cell = shmkit_cell_details::default();
    let mut subs = Vec::new();
    let mut stream = shmkit_stream_details {
        max_frame: 0,
        ring: 0,
        policy: SHMKIT_OVERWRITE,
        slot_count: 0,
        next_seq: 0,
        frames: 0,
        bytes: 0,
        last_publish_ns: 0,
        tail: 0,
        oldest: 0,
        subscribers: std::ptr::null(),
        subscriber_count: 0,
    };
    let details = match &info.details {
        Some(Details::Cell(d)) => {
            cell = shmkit_cell_details {
                capacity: d.capacity,
                slot_count: d.slots,
                value_size: d.value_size.unwrap_or(0),
                seq: d.seq,
                last_publish_ns: ns(d.last_publish),
            };
            SHMKIT_DETAILS_CELL
        }
        Some(Details::Stream(d)) => {
            subs = d
                .subscribers
                .iter()
                .map(|s| shmkit_subscriber_details {
                    pid: s.pid,
                    alive: s.alive.map_or(-1, i32::from),
                    position: s.position,
                    lag: s.lag,
                    lost: s.lost,
                    received: s.received,
                    last_receive_ns: ns(s.last_receive),
                })
                .collect();
            stream = shmkit_stream_details {
                max_frame: d.max_frame,
                ring: d.ring,
                policy: if d.policy == Policy::Block {
                    SHMKIT_BLOCK
                } else {
                    SHMKIT_OVERWRITE
                },
                slot_count: d.slots,
                next_seq: d.next_seq,
                frames: d.frames,
                bytes: d.bytes,
                last_publish_ns: ns(d.last_publish),
                tail: d.tail,
                oldest: d.oldest,
                subscribers: subs.as_ptr(),
                subscriber_count: subs.len(),
            };
            SHMKIT_DETAILS_STREAM
        }
        _ => SHMKIT_DETAILS_NONE,
    };
    let c = shmkit_segment_info {
        name: name.as_ptr(),
        size: info.size,
        mode: info.mode,
        uid: info.uid,
        kind: kind.as_ptr(),
        state: state.as_ptr(),
        holders,
        holder_pids: pids.as_ptr(),
        holder_count: pids.len(),
        is_shmkit: info.data_len.is_some(),
        lifetime: match info.lifetime {
            Some(Lifetime::Persistent) => SHMKIT_PERSISTENT,
            _ => SHMKIT_LAST_CLOSE,
        },
        data_len: info.data_len.unwrap_or(0),
        creator_pid: info.creator_pid.unwrap_or(0),
        created_ns: ns(info.created),
        lock,
        lock_pid,
        format: format.to_c(),
        problem: problem.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
        details,
        cell,
        stream,
    };
    let mut strings = vec![name, kind, state];
    strings.extend(problem);
    Entry {
        c,
        _strings: strings,
        _pids: pids,
        _subs: subs,
        _format: format,
    }
}

fn give_list(slot: &mut std::mem::MaybeUninit<*mut shmkit_segment_list>, infos: &[SegmentInfo]) {
    give(
        slot,
        shmkit_segment_list {
            entries: infos.iter().map(entry).collect(),
        },
    );
}

/// Lists every object in the system's shared-memory namespace (Linux: `/dev/shm`), shmkit's and
/// foreign ones, as `shmkit ls` does, into a new list in `*list`.
///
/// Windows and macOS cannot enumerate shared memory: there the list has what shmkit knows (the
/// segments shmkit processes hold), and `shmkit_info()` still finds others by name.
///
/// Ownership: `*list` is new (NULL on failure); free it with `shmkit_segment_list_free()`.
///
/// # Safety
/// `list` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_list(list: *mut *mut shmkit_segment_list) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let slot = unsafe { out_handle(list, "list")? };
        give_list(slot, &Segment::list()?);
        Ok(())
    })
}

/// Describes the one object `name` (which may be foreign), as `shmkit info` does: a new list of
/// one entry in `*list`.
///
/// Errors: `SHMKIT_NOT_FOUND`, `SHMKIT_INVALID_NAME`.
///
/// Ownership: as for `shmkit_list()`.
///
/// # Safety
/// `name` is a NUL-terminated string; `list` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_info(
    name: *const c_char,
    list: *mut *mut shmkit_segment_list,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (slot, name) = unsafe { (out_handle(list, "list")?, name_arg(name)?) };
        give_list(slot, &[Segment::info(name)?]);
        Ok(())
    })
}

/// The number of entries, in `*len`.
///
/// # Safety
/// `list` is NULL or a live list; `len` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_list_len(
    list: *const shmkit_segment_list,
    len: *mut usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (l, o) = unsafe { (handle(list, "list")?, out(len, "len")?) };
        o.write(l.entries.len());
        Ok(())
    })
}

/// Entry `index`, in `*info`: valid (with everything it points to) until the list is freed.
///
/// Errors: `SHMKIT_INVALID_ARGUMENT` for an index past the end.
///
/// # Safety
/// `list` is NULL or a live list; `info` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_list_get(
    list: *const shmkit_segment_list,
    index: usize,
    info: *mut *const shmkit_segment_info,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (l, o) = unsafe { (handle(list, "list")?, out(info, "info")?) };
        o.write(std::ptr::null());
        let e = l.entries.get(index).ok_or_else(|| {
            Fail::new(
                SHMKIT_INVALID_ARGUMENT,
                format!(
                    "index {index} is past the end of a list of {}",
                    l.entries.len()
                ),
            )
        })?;
        o.write(&e.c);
        Ok(())
    })
}

/// Frees the list in `*list` (and everything its entries point to) and sets `*list` to NULL
/// (nothing to do for NULL).
///
/// # Safety
/// `list` is NULL or points to NULL or a list from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_segment_list_free(list: *mut *mut shmkit_segment_list) {
    // SAFETY: the caller's promise.
    call_quietly(|| drop(unsafe { take_handle(list) }));
}

/// Removes the name `name` now, as `shm_unlink` does: handles already open keep working; the
/// memory goes with the last of them. Takes any name the system takes (foreign objects too).
///
/// Errors: `SHMKIT_NOT_FOUND`, `SHMKIT_PERMISSION_DENIED`, `SHMKIT_INVALID_NAME`;
/// `SHMKIT_UNSUPPORTED` on Windows for a segment that is still held (Windows frees it with its
/// last handle).
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_remove(name: *const c_char) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promise.
        let name = unsafe { name_arg(name)? };
        Segment::remove(name)?;
        Ok(())
    })
}

/// What `shmkit_gc()` removes. All zero (or NULL) is the safe default: this user's crash
/// leftovers only.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmkit_gc_options {
    /// Also idle persistent segments that nobody holds (made on purpose to stay).
    pub idle: bool,
    /// Also other users' segments (removing them needs the right to).
    pub all_users: bool,
    /// Only report what would be removed.
    pub dry_run: bool,
}

/// Removes the crash leftovers among the shmkit segments, as `shmkit gc` does (safe at any
/// time: a segment a process holds is never removed), and lists what it removed (or, with
/// `dry_run`, would remove) in a new list in `*removed`.
///
/// Ownership: as for `shmkit_list()`.
///
/// # Safety
/// `opts` is NULL or valid; `removed` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_gc(
    opts: *const shmkit_gc_options,
    removed: *mut *mut shmkit_segment_list,
) -> shmkit_status {
    call(|| {
        // SAFETY: the caller's promises.
        let (slot, o) = unsafe { (out_handle(removed, "removed")?, opts.as_ref().copied()) };
        let o = o.unwrap_or_default();
        let g = GcOptions::new()
            .idle(o.idle)
            .all_users(o.all_users)
            .dry_run(o.dry_run);
        give_list(slot, &Segment::gc(&g)?);
        Ok(())
    })
}
