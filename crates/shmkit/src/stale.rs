//! Stale segments: the fallback of the lifetime rule, and how shmkit says it removed one.
//!
//! A [`Lifetime::LastClose`](crate::Lifetime) segment whose holders all died without closing it
//! is *stale*. On Linux its guardian process removes it within moments of the last holder's
//! death (see the README's platform table). Where there is no guardian (macOS), or where the
//! guardian was killed too, the leftover goes at the next shmkit activity of the same user:
//! every create and open first *sweeps* the caller's own stale segments, and so does
//! [`Segment::sweep`](crate::Segment::sweep) (`shmkit ls` calls it). It removes only what nobody
//! holds and a crash left behind — `LastClose`
//! shmkit segments, and unfinished creations (a header whose version is still 0, a temporary
//! name) — by the same exclusive-lock check every remover makes. Idle `Persistent` segments,
//! other users' segments and foreign objects are never touched.
//!
//! A sweep lists the shared-memory directory and reads `/proc/locks` (about what `shmkit ls`
//! costs); creates and opens sweep at most once a second per process (the first always does),
//! `Segment::sweep` whenever it is called. `Segment::list` and `Segment::info` never do: they
//! only look (so `gc --dry-run` removes nothing either).
//!
//! Each removal by this rule is reported once: in the error of the call that removed it, when
//! that call fails because of it (an open that found only a stale segment:
//! [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) saying "removed the stale segment left by
//! pid N", with [`Error::stale_removed`](crate::Error::stale_removed)); otherwise to the hook set
//! with [`on_stale_removed`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use crate::layout::{self, Fields};
use crate::sys::{self, Holders, Reclaimed};

/// A stale segment that shmkit removed by the lifetime rule: every process that held it had died
/// without closing it.
///
/// Its `Display` is one lowercase line: `removed the stale segment "cam0" left by pid 1234
/// (every process that held it had died)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaleRemoved {
    /// The segment's name.
    pub name: String,
    /// The process that created it, when its header (or temporary name) says.
    pub creator_pid: Option<u32>,
}

impl StaleRemoved {
    pub(crate) fn new(name: String, creator_pid: Option<u32>) -> StaleRemoved {
        StaleRemoved { name, creator_pid }
    }

    /// "left by pid N" (or "left behind", when its creator is not recorded).
    pub(crate) fn left_by(&self) -> String {
        match self.creator_pid {
            Some(pid) => format!("left by pid {pid}"),
            None => "left behind".to_string(),
        }
    }
}

impl fmt::Display for StaleRemoved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "removed the stale segment {:?} {} (every process that held it had died)",
            self.name,
            self.left_by()
        )
    }
}

type Hook = Arc<dyn Fn(&StaleRemoved) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Calls `hook` each time this process removes a stale segment on its own: while sweeping (any
/// create or open, and [`Segment::sweep`](crate::Segment::sweep)), or when a create replaces a
/// stale segment of the name it wants.
/// Replaces the hook set before. Without one, such removals are silent.
///
/// An open that finds only a stale segment under its name removes it and fails with
/// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound), whose message says so; that removal is
/// not passed to the hook as well. A caller that swallows such an error and carries on (as
/// [`SegmentOptions::open_or_create`](crate::SegmentOptions::open_or_create) does) should pass
/// [`Error::stale_removed`](crate::Error::stale_removed) on.
///
/// The hook runs on the thread that removed the segment, inside the shmkit call.
///
/// ```
/// shmkit::on_stale_removed(|removed| eprintln!("myapp: {removed}"));
/// ```
pub fn on_stale_removed(hook: impl Fn(&StaleRemoved) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
}

/// Passes a removal to the hook, if there is one.
pub(crate) fn report(removed: &StaleRemoved) {
    let hook = HOOK.read().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(hook) = hook {
        hook(removed);
    }
}

/// The creator recorded in the first bytes of a shmkit segment.
pub(crate) fn creator_of(head: &[u8]) -> Option<u32> {
    Fields::from_bytes(head)
        .filter(|f| f.magic == layout::MAGIC && f.creator_pid != 0)
        .map(|f| f.creator_pid)
}

/// The creator's id in a temporary name (`{TEMP_PREFIX}{pid}-…`).
fn creator_in_temp_name(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(sys::TEMP_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

/// Whether this process should sweep now (at most once a second; the first call always does).
fn due() -> bool {
    const EVERY_MS: u64 = 1000;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    static NEXT_MS: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis())
        .unwrap_or(u64::MAX - EVERY_MS);
    let next = NEXT_MS.load(Ordering::Relaxed);
    now >= next
        && NEXT_MS
            .compare_exchange(next, now + EVERY_MS, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Removes this user's stale segments (see the module docs), except `except` — the name the
/// current call is about, whose own removal that call reports — at most once a second unless
/// `always`. Reports each removal to the hook. Errors are ignored: this is a courtesy of every
/// call, never a reason for it to fail.
pub(crate) fn sweep(except: Option<&str>, always: bool) {
    if !always && !due() {
        return;
    }
    let Some(uid) = sys::own_uid() else {
        return;
    };
    let Ok(entries) = sys::list() else {
        return;
    };
    for entry in entries {
        if entry.uid != uid
            || entry.holders != Holders::Nobody
            || except == Some(entry.name.as_str())
        {
            continue;
        }
        let removed = if entry.name.starts_with(sys::TEMP_PREFIX) {
            let pid = creator_in_temp_name(&entry.name);
            (sys::reclaim(&entry.name, &|_| true), pid)
        } else {
            let mut head = [0u8; 64];
            match sys::peek(&entry.name, &mut head) {
                Ok(n) if layout::is_orphan(&head[..n]) => (
                    sys::reclaim(&entry.name, &layout::is_orphan),
                    creator_of(&head[..n]),
                ),
                _ => continue,
            }
        };
        if let (Ok(Reclaimed::Removed), pid) = removed {
            report(&StaleRemoved::new(entry.name, pid));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_it_removed_and_who_left_it() {
        let r = StaleRemoved::new("cam0".into(), Some(1234));
        assert_eq!(
            r.to_string(),
            "removed the stale segment \"cam0\" left by pid 1234 (every process that held it \
             had died)"
        );
        let r = StaleRemoved::new("x".into(), None);
        assert!(
            r.to_string()
                .starts_with("removed the stale segment \"x\" left behind ("),
            "{r}"
        );
    }

    #[test]
    fn finds_the_creator_in_temporary_names() {
        let name = format!("{}4321-7-0000abcd", sys::TEMP_PREFIX);
        assert_eq!(creator_in_temp_name(&name), Some(4321));
        assert_eq!(creator_in_temp_name("cam0"), None);
    }
}
