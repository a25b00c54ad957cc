//! Named shared-memory segments: create, open, open-or-create, list, inspect, remove.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Op, Result};
use crate::format::Format;
use crate::layout::{
    self, FLAG_LAST_CLOSE, FLAG_PROOFS, FLAG_WAKE_ALWAYS, Fields, Geometry, HEADER_LEN, Header,
    Kind, Problem,
};
use crate::liveness::{self, Identity, Scheme, Verdict};
use crate::lock::{self, Acquired, LockGuard, Peers};
use crate::name::{IntoName, IntoNativeName, NativeName, SegmentName};
use crate::notify::Waited;
use crate::stale::{self, StaleRemoved};
use crate::sys::{self, Holders, Reclaimed, Want};

/// How a handle may access a segment's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only. The data is mapped without write permission, so even a stray write through a
    /// raw pointer faults: the operating system enforces it.
    ReadOnly,
    /// Read and write.
    ReadWrite,
}

/// When a segment's name goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lifetime {
    /// When the last handle anywhere closes — including handles of processes that crashed or
    /// were killed (`kill -9`). As on Windows and with Qt. The default.
    ///
    /// # Platform notes
    /// A killed process closes nothing itself. On Linux, its creator's guardian process removes
    /// the segment at once (measured well under a millisecond after the last holder is gone),
    /// with no other program running; if the guardian was killed too, the next create, open or
    /// [`Segment::sweep`] (`shmkit ls`) by the same user does
    /// ([`on_stale_removed`](crate::on_stale_removed)). On Windows the kernel frees it at once.
    /// macOS has no guardian: the next create, open or sweep by the same user removes it.
    #[default]
    LastClose,
    /// Until [`Segment::remove`] (or `shmkit rm` / `shmkit gc --idle`), even with no handle open.
    Persistent,
}

/// Which namespace a segment's name lives in. Only Windows has more than one.
///
/// # Platform notes
/// On Windows, [`Local`](Namespace::Local) is the session's namespace (`Local\NAME`, where an
/// unprefixed name goes too) and [`Global`](Namespace::Global) the machine's (`Global\NAME`), shared
/// by all sessions — services in session 0 and the programs of logged-in users. Creating a
/// `Global` segment needs the `SeCreateGlobalPrivilege` privilege (services and administrators
/// have it); opening one does not. Elsewhere there is one namespace and this choice changes
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Namespace {
    /// The session's namespace (the default).
    #[default]
    Local,
    /// The machine-wide namespace (Windows `Global\`).
    Global,
}

/// The default permission bits of new segments: owner read and write only.
pub const DEFAULT_MODE: u32 = 0o600;

/// How long an opener waits for a creator that has not finished initialising a segment.
const INIT_WAIT: Duration = Duration::from_secs(1);

/// Options for creating or opening a segment (a builder ending in `create`, `open` or
/// `open_or_create`).
///
/// ```
/// use shmkit::{Access, Lifetime, SegmentOptions};
///
/// # let name = format!("doc-opts-{}", std::process::id());
/// let seg = SegmentOptions::new()
///     .size(64 * 1024)
///     .mode(0o640)
///     .lifetime(Lifetime::LastClose)
///     .create(&name)?;
/// assert_eq!(seg.len(), 64 * 1024);
///
/// let reader = SegmentOptions::new().access(Access::ReadOnly).open(&name)?;
/// assert_eq!(reader.access(), Access::ReadOnly);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    size: Option<usize>,
    mode: u32,
    /// `None`: the default — `LastClose` for a creator, "leave it" for an opener of a raw segment.
    lifetime: Option<Lifetime>,
    raw: bool,
    access: Access,
    namespace: Namespace,
    format: Option<Format>,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions::new()
    }
}

impl SegmentOptions {
    /// Defaults: no size (required to create), mode `0600`, [`Lifetime::LastClose`], shmkit
    /// format, [`Access::ReadWrite`].
    pub fn new() -> SegmentOptions {
        SegmentOptions {
            size: None,
            mode: DEFAULT_MODE,
            lifetime: None,
            raw: false,
            access: Access::ReadWrite,
            namespace: Namespace::Local,
            format: None,
        }
    }

    /// The number of data bytes (required to create; ignored by `open`). The memory is reserved
    /// at creation, so running out of shared memory is an error then, never a crash later.
    pub fn size(mut self, bytes: usize) -> SegmentOptions {
        self.size = Some(bytes);
        self
    }

    /// Permission bits for a new segment (default `0600`: only its owner may open it). Applied
    /// exactly, whatever the umask.
    ///
    /// # Platform notes
    /// Windows has no permission bits: a new segment gets its creator's default security (its
    /// owner, `SYSTEM` and the administrators), which is what `0600` means.
    ///
    /// # Panics
    /// If `mode` has bits outside `0o777`.
    pub fn mode(mut self, mode: u32) -> SegmentOptions {
        assert!(
            mode <= 0o777,
            "segment mode {mode:#o} has bits outside 0o777"
        );
        self.mode = mode;
        self
    }

    /// When the name goes away (default [`Lifetime::LastClose`]).
    ///
    /// # Platform notes
    /// Windows frees shared memory when its last handle closes: creating a
    /// [`Lifetime::Persistent`] segment there fails with [`ErrorKind::Unsupported`].
    ///
    /// For shmkit-format segments the creator's choice is recorded in the header and every
    /// handle honours it; `open` ignores this option. A raw segment cannot record it, so there it
    /// applies to this handle only: its creator removes the name on closing last by default, and
    /// an opener does so only when asked with `lifetime(Lifetime::LastClose)` explicitly.
    pub fn lifetime(mut self, lifetime: Lifetime) -> SegmentOptions {
        self.lifetime = Some(lifetime);
        self
    }

    /// Raw format: no header, byte 0 of the data is byte 0 of the object — for segments shared
    /// with programs that do not use shmkit (Qt, Python, C). Raw segments have no lock and no
    /// change counter.
    pub fn raw(mut self, raw: bool) -> SegmentOptions {
        self.raw = raw;
        self
    }

    /// The namespace of the name (default [`Namespace::Local`]; only Windows has another).
    pub fn namespace(mut self, namespace: Namespace) -> SegmentOptions {
        self.namespace = namespace;
        self
    }

    /// What the data is (default: not said): a raw image format or a media type, recorded in the
    /// header so that tools (`shmkit info`, `view`) show the bytes for what they are. A raw
    /// image must fit the data (for a cell: its capacity; for a stream: its maximum frame).
    /// Ignored by `open`, and by raw segments (which have no header to record it in).
    pub fn format(mut self, format: Format) -> SegmentOptions {
        self.format = Some(format);
        self
    }

    /// How `open` accesses the segment (default [`Access::ReadWrite`]). Creating always gives
    /// read-write access.
    pub fn access(mut self, access: Access) -> SegmentOptions {
        self.access = access;
        self
    }

    /// Creates a new segment.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] if the name is taken (the orphan of crashed `LastClose`
    /// users is removed and does not count), [`ErrorKind::InvalidSize`] for a zero or absurd
    /// size, [`ErrorKind::OutOfResources`] if shared memory is full, [`ErrorKind::InvalidName`],
    /// [`ErrorKind::PermissionDenied`].
    ///
    /// A raw segment takes any [`NativeName`] (the names other programs use); a shmkit segment
    /// needs a portable [`SegmentName`].
    pub fn create(&self, name: impl IntoNativeName) -> Result<Segment> {
        let name = self.checked_name(name, Op::Create)?;
        let size = self.size.ok_or_else(|| {
            Error::new(ErrorKind::InvalidSize, Op::Create, name.to_string())
                .reason("no size given")
                .hint("set one with SegmentOptions::size")
        })?;
        let spec = if self.raw {
            Spec::Raw
        } else {
            Spec::Shmkit {
                kind: Kind::Bytes,
                control_extra: 0,
            }
        };
        Segment::create_native(&name, self, spec, size, &mut |_| {})
    }

    /// `name` as a native name, and for shmkit-format segments checked against the portable rule.
    fn checked_name(&self, name: impl IntoNativeName, op: Op) -> Result<NativeName> {
        let name = name.into_native_name().map_err(|e| {
            // A shmkit segment's name breaks the portable rule first: say which part.
            match (self.raw, e.name().map(SegmentName::new)) {
                (false, Some(Err(portable))) => portable.during(op),
                _ => e.during(op),
            }
        })?;
        if !self.raw {
            SegmentName::new(name.as_str()).map_err(|e| e.during(op))?;
        }
        Ok(name)
    }

    /// Opens an existing segment.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`], [`ErrorKind::Incompatible`]
    /// (a foreign segment opened without [`raw`](Self::raw), another kind, another layout
    /// version), [`ErrorKind::Corrupt`] (a header that lies), [`ErrorKind::Timeout`] (its
    /// creator never finished initialising it).
    ///
    /// Names as for [`create`](Self::create): any [`NativeName`] for a raw segment.
    pub fn open(&self, name: impl IntoNativeName) -> Result<Segment> {
        let name = self.checked_name(name, Op::Open)?;
        let expect = if self.raw { None } else { Some(Kind::Bytes) };
        Segment::open_native(&name, self, expect)
    }

    /// Opens the segment if it exists, otherwise creates it. Safe against other processes doing
    /// the same at the same moment: exactly one creates, the others open.
    ///
    /// # Errors
    /// Those of [`open`](Self::open) and [`create`](Self::create).
    ///
    /// The segment found must be at least as large as [`size`](Self::size) asks (a smaller one
    /// is [`ErrorKind::Incompatible`], naming both sizes); a larger one is fine, and
    /// [`Segment::len`] tells its size.
    pub fn open_or_create(&self, name: impl IntoNativeName) -> Result<Segment> {
        let name = self.checked_name(name, Op::Open)?;
        let opts = self.clone().access(Access::ReadWrite);
        let seg = open_or_create_with(|| opts.open(&name), || opts.create(&name))?;
        if let Some(want) = self.size.filter(|&w| w > seg.len()) {
            return Err(
                Error::new(ErrorKind::Incompatible, Op::Open, name.to_string())
                    .reason(format!(
                        "it has {} data bytes; {want} were asked for",
                        seg.len()
                    ))
                    .hint("open it with a size it has, or remove it (`shmkit rm NAME`) and create it anew"),
            );
        }
        Ok(seg)
    }
}

/// Opens, or creates if there is nothing to open — safe against other processes doing the same:
/// a create that loses the race (`AlreadyExists`) opens what the winner made, and an open that
/// finds a segment gone (`NotFound`, its last user just closed it) creates it again.
pub(crate) fn open_or_create_with<T>(
    mut open: impl FnMut() -> Result<T>,
    mut create: impl FnMut() -> Result<T>,
) -> Result<T> {
    loop {
        match open() {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Said by no error now: tell the hook.
                if let Some(removed) = e.stale_removed() {
                    stale::report(removed);
                }
            }
            other => return other,
        }
        match create() {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            other => return other,
        }
    }
}

/// What to build: a raw segment, or a shmkit one of a kind with `control_extra` bytes of
/// kind-specific control block after the header.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spec {
    Raw,
    Shmkit { kind: Kind, control_extra: usize },
}

/// A named shared-memory segment, mapped into this process.
///
/// Dropping the handle unmaps it; with [`Lifetime::LastClose`] the last handle anywhere also
/// removes the name. All methods take `&self`: a `Segment` can be shared between threads.
///
/// # Reading and writing
///
/// Another process may write the segment at any moment, so shmkit never hands out a `&[u8]`
/// over it. [`read`](Self::read) and [`write`](Self::write) copy, bounds-checked; for zero-copy
/// access there are raw pointers and the `unsafe` [`as_slice`](Self::as_slice). To exchange
/// values consistently without locking, use a [`Cell`](crate::Cell).
///
/// ```
/// use shmkit::{Access, Segment};
///
/// # let name = format!("doc-seg-{}", std::process::id());
/// let writer = Segment::create(&name, 4096)?;
/// {
///     let _guard = writer.lock()?;
///     writer.write(0, b"hello")?;
///     writer.notify_change();
/// }
///
/// let reader = Segment::open(&name, Access::ReadOnly)?;
/// let mut buf = [0u8; 5];
/// reader.read(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert!(reader.write(0, b"x").is_err(), "read-only");
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Segment {
    map: Option<sys::Mapping>,
    name: NativeName,
    access: Access,
    /// `None` for raw segments.
    geo: Option<Geometry>,
    /// Remove the name when this handle is the last to close.
    unlink_if_last: bool,
    /// This process may write the control region (lock, waiter counts).
    control_writable: bool,
    /// How liveness is judged in this segment (`None` for raw segments).
    scheme: Option<Scheme>,
    /// This handle's liveness identity, claimed at its first use.
    ident: OnceLock<Identity>,
    /// What the data is, as the header says (validated at open).
    format: Option<Format>,
    /// See [`Segment::compute_lock_key`]: computed once, at open.
    lock_key: u64,
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("access", &self.access)
            .field("kind", &self.kind())
            .field("len", &self.len())
            .finish()
    }
}

impl Segment {
    /// Creates a segment of `size` data bytes with the default options (mode `0600`,
    /// [`Lifetime::LastClose`], shmkit format). See [`SegmentOptions`] for the others.
    ///
    /// # Errors
    /// As for [`SegmentOptions::create`].
    pub fn create(name: impl IntoName, size: usize) -> Result<Segment> {
        let name = name.into_name().map_err(|e| e.during(Op::Create))?;
        SegmentOptions::new().size(size).create(name)
    }

    /// Opens an existing shmkit segment.
    ///
    /// # Errors
    /// As for [`SegmentOptions::open`].
    pub fn open(name: impl IntoName, access: Access) -> Result<Segment> {
        let name = name.into_name().map_err(|e| e.during(Op::Open))?;
        SegmentOptions::new().access(access).open(name)
    }

    /// The builder for everything else: [`SegmentOptions`].
    pub fn options() -> SegmentOptions {
        SegmentOptions::new()
    }

    #[allow(dead_code)] // used by the cell and stream modules
    pub(crate) fn create_with(
        name: &SegmentName,
        opts: &SegmentOptions,
        spec: Spec,
        data_len: usize,
        init_control: &mut dyn FnMut(*mut u8),
    ) -> Result<Segment> {
        Segment::create_native(&name.into(), opts, spec, data_len, init_control)
    }

    pub(crate) fn create_native(
        name: &NativeName,
        opts: &SegmentOptions,
        spec: Spec,
        data_len: usize,
        init_control: &mut dyn FnMut(*mut u8),
    ) -> Result<Segment> {
        let err =
            |kind, reason: String| Error::new(kind, Op::Create, name.to_string()).reason(reason);
        if data_len == 0
            && matches!(
                spec,
                Spec::Raw
                    | Spec::Shmkit {
                        kind: Kind::Bytes,
                        ..
                    }
            )
        {
            return Err(err(
                ErrorKind::InvalidSize,
                "size 0: a segment needs at least one byte".into(),
            ));
        }
        // Where the system sizes shared memory in whole pages (Windows, macOS), segments are
        // made that size, so that the size an opener sees is the size the header records.
        let granule = sys::size_granule();
        let (total, geo) = match spec {
            Spec::Raw => (round_up(data_len, granule), None),
            Spec::Shmkit {
                kind,
                control_extra,
            } => {
                let control = round_up(HEADER_LEN + control_extra, sys::page_size().max(64));
                let mut flags = 0;
                if opts.lifetime.unwrap_or_default() == Lifetime::LastClose {
                    flags |= FLAG_LAST_CLOSE;
                }
                if reads_without_writing(opts.mode) {
                    flags |= FLAG_WAKE_ALWAYS;
                }
                if Scheme::for_new_segment() {
                    flags |= FLAG_PROOFS;
                }
                let total = control.checked_add(data_len).map(|t| round_up(t, granule));
                (
                    total.unwrap_or(usize::MAX),
                    Some(Geometry {
                        kind,
                        flags,
                        total_len: total.unwrap_or(0),
                        data_offset: control,
                        data_len,
                    }),
                )
            }
        };
        let lifetime = opts.lifetime.unwrap_or_default();
        if let (Lifetime::Persistent, Some(why)) = (lifetime, sys::PERSISTENT_UNSUPPORTED) {
            return Err(err(ErrorKind::Unsupported, why.into()).hint(
                "keep a process holding it, or let the last holder free it (Lifetime::LastClose)",
            ));
        }
        if total > isize::MAX as usize || total as u64 > i64::MAX as u64 {
            return Err(err(
                ErrorKind::InvalidSize,
                format!("{data_len} bytes is more than this system can address"),
            ));
        }
        let native = sys::native_name(name.as_str(), opts.namespace == Namespace::Global);
        stale::sweep(Some(&native), false);
        let pid = sys::current_process().0;
        let format = if geo.is_some() {
            opts.format.clone()
        } else {
            None
        };
        let format_bytes = Format::encode(format.as_ref());
        let mut init = |base: *mut u8, len: usize| {
            if let Some(g) = geo {
                debug_assert_eq!(len, g.total_len);
                // SAFETY: `base` is the start of a fresh, zeroed, writable mapping of `len >=
                // HEADER_LEN` bytes, page-aligned (so aligned for `Header`); nobody else can
                // see it yet.
                let header = unsafe { &*base.cast::<Header>() };
                init_control(base);
                header.init(&layout::Init {
                    kind: g.kind,
                    flags: g.flags,
                    geo: (g.total_len, g.data_offset, g.data_len),
                    pid,
                    pid_ns: sys::pid_namespace(),
                    format: format_bytes,
                });
            }
        };
        let unlink_if_last = match geo {
            Some(g) => g.flags & FLAG_LAST_CLOSE != 0,
            None => lifetime == Lifetime::LastClose,
        };
        // The creator of a stale segment that creation finds under the name and removes, for
        // the hook. (Recorded when the orphan check says yes; the removal follows unless the
        // name changes in between, which takes an unconditional `remove` at that instant.)
        let removed = std::cell::Cell::new(None);
        let orphan = |head: &[u8]| {
            let orphan = layout::is_orphan(head);
            if orphan {
                removed.set(Some(stale::creator_of(head)));
            }
            orphan
        };
        let map = sys::create(
            &native,
            total,
            opts.mode,
            unlink_if_last,
            &mut init,
            &orphan,
        );
        if let Some(pid) = removed.get() {
            stale::report(&StaleRemoved::new(name.to_string(), pid));
        }
        let map = map.map_err(|e| create_error(name, total, e))?;
        Ok(Segment {
            map: Some(map),
            name: name.clone(),
            access: Access::ReadWrite,
            geo,
            unlink_if_last,
            control_writable: true,
            scheme: geo.map(|g| Scheme::of(g.flags & FLAG_PROOFS != 0, sys::pid_namespace())),
            ident: OnceLock::new(),
            format,
            lock_key: 0,
        }
        .with_lock_key())
    }

    #[allow(dead_code)] // used by the cell and stream modules
    pub(crate) fn open_with(
        name: &SegmentName,
        opts: &SegmentOptions,
        expect: Option<Kind>,
    ) -> Result<Segment> {
        Segment::open_native(&name.into(), opts, expect)
    }

    pub(crate) fn open_native(
        name: &NativeName,
        opts: &SegmentOptions,
        expect: Option<Kind>,
    ) -> Result<Segment> {
        let raw = expect.is_none();
        let want = match (raw, opts.access) {
            (true, Access::ReadOnly) => Want::Read,
            (_, Access::ReadWrite) => Want::ReadWrite,
            (false, Access::ReadOnly) => Want::PreferWrite,
        };
        let native = sys::native_name(name.as_str(), opts.namespace == Namespace::Global);
        stale::sweep(Some(&native), false);
        // Whether the last orphan check said yes, and the orphan's creator: an open that then
        // finds nothing removed that stale segment, and says so.
        let removed = std::cell::Cell::new(None);
        let orphan = |head: &[u8]| {
            let orphan = layout::is_orphan(head);
            removed.set(orphan.then(|| stale::creator_of(head)));
            orphan
        };
        let reclaim: &dyn Fn(&[u8]) -> bool = if raw { &|_| false } else { &orphan };
        let map = sys::open(&native, want, reclaim).map_err(|e| match removed.get() {
            Some(pid) if e.kind() == std::io::ErrorKind::NotFound => stale_error(name, pid),
            _ => open_error(name, opts.access, e),
        })?;
        let fail =
            |kind, reason: String| Error::new(kind, Op::Open, name.to_string()).reason(reason);
        let Some(kind) = expect else {
            if map.len() == 0 {
                return Err(fail(ErrorKind::InvalidSize, "it is empty (0 bytes)".into())
                    .hint("its creator must size it before others open it"));
            }
            return Ok(Segment {
                name: name.clone(),
                access: opts.access,
                geo: None,
                unlink_if_last: opts.lifetime == Some(Lifetime::LastClose),
                control_writable: map.writable(),
                map: Some(map),
                scheme: None,
                ident: OnceLock::new(),
                format: None,
                lock_key: 0,
            });
        };
        if map.len() < HEADER_LEN {
            return Err(fail(
                ErrorKind::Incompatible,
                format!(
                    "it is only {} bytes, too small for a shmkit header",
                    map.len()
                ),
            )
            .hint("open it raw to reach its bytes"));
        }
        // SAFETY: the mapping is at least HEADER_LEN bytes and page-aligned; every field of
        // `Header` is an atomic, valid for any bit pattern and for concurrent writers.
        let header = unsafe { &*map.ptr().cast::<Header>() };
        let deadline = Instant::now() + INIT_WAIT;
        let geo = loop {
            match geometry(&Fields::load(header), map.len() as u64) {
                Ok(g) => break g,
                Err(Problem::NotReady) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(p) => {
                    let kind = match p {
                        Problem::Corrupt(_) => ErrorKind::Corrupt,
                        Problem::NotReady => ErrorKind::Timeout,
                        _ => ErrorKind::Incompatible,
                    };
                    let e = fail(kind, p.describe());
                    return Err(match p {
                        Problem::Foreign => {
                            e.hint("open it raw (SegmentOptions::raw) to reach its bytes")
                        }
                        Problem::NotReady => {
                            e.hint("its creator may have died; remove it with `shmkit rm NAME`")
                        }
                        _ => e,
                    });
                }
            }
        };
        if geo.kind != kind {
            return Err(fail(
                ErrorKind::Incompatible,
                format!("it is a {}, not a {}", geo.kind, kind),
            ));
        }
        let format = Format::decode(&header.format_bytes()).map_err(|why| {
            fail(
                ErrorKind::Corrupt,
                format!("its header's format description is corrupt: {why}"),
            )
        })?;
        let creator_ns = header.creator_ns.load(std::sync::atomic::Ordering::Relaxed);
        if opts.access == Access::ReadOnly && map.writable() {
            // The data region becomes read-only; the control region stays writable so that
            // this handle can count itself as a waiter and take the lock.
            let data_pages = round_up(geo.data_len, sys::page_size());
            let len = data_pages.min(map.len() - geo.data_offset);
            map.protect_read_only(geo.data_offset, len)
                .map_err(|e| Error::os(Op::Open, name.to_string(), e))?;
        }
        Ok(Segment {
            name: name.clone(),
            access: opts.access,
            unlink_if_last: geo.flags & FLAG_LAST_CLOSE != 0,
            control_writable: map.writable(),
            geo: Some(geo),
            map: Some(map),
            scheme: Some(Scheme::of(geo.flags & FLAG_PROOFS != 0, creator_ns)),
            ident: OnceLock::new(),
            format,
            lock_key: 0,
        }
        .with_lock_key())
    }

    fn map(&self) -> &sys::Mapping {
        // `map` is only taken out in `Drop`.
        self.map.as_ref().expect("segment used after drop")
    }

    /// The segment's name (portable for shmkit-format segments; raw ones may have any
    /// [`NativeName`]).
    pub fn name(&self) -> &NativeName {
        &self.name
    }

    /// The number of data bytes (for a shmkit segment, without its header).
    pub fn len(&self) -> usize {
        match self.geo {
            Some(g) => g.data_len,
            None => self.map().len(),
        }
    }

    /// Whether the segment has no data bytes (never true for segments shmkit creates).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How this handle accesses the data.
    pub fn access(&self) -> Access {
        self.access
    }

    /// What the segment holds (`None` for a raw segment, which has no header).
    pub fn kind(&self) -> Option<Kind> {
        self.geo.map(|g| g.kind)
    }

    /// When the name goes away. For a raw segment: what this handle will do on close.
    pub fn lifetime(&self) -> Lifetime {
        if self.unlink_if_last {
            Lifetime::LastClose
        } else {
            Lifetime::Persistent
        }
    }

    /// The header, for shmkit-format segments.
    pub(crate) fn header(&self) -> Option<&Header> {
        self.geo.map(|_| {
            // SAFETY: validated at open/create: the mapping holds a whole, page-aligned header,
            // made only of atomics.
            unsafe { &*self.map().ptr().cast::<Header>() }
        })
    }

    fn header_for(&self, op: Op) -> Result<&Header> {
        self.header().ok_or_else(|| {
            Error::new(ErrorKind::Incompatible, op, self.name.to_string())
                .reason("a raw segment has no lock and no change counter")
        })
    }

    /// The kind's control block (after the header), for cells and streams.
    pub(crate) fn control_ptr(&self) -> *mut u8 {
        // SAFETY: HEADER_LEN is inside the mapping of every shmkit segment (validated).
        unsafe { self.map().ptr().add(HEADER_LEN) }
    }

    /// Bytes available for the kind's control block.
    pub(crate) fn control_len(&self) -> usize {
        self.geo.map_or(0, |g| g.data_offset - HEADER_LEN)
    }

    /// Whether this process may write the control region.
    pub(crate) fn control_writable(&self) -> bool {
        self.control_writable
    }

    /// Whether signallers must always wake (some readers cannot count themselves).
    pub(crate) fn wake_always(&self) -> bool {
        self.geo.is_some_and(|g| g.flags & FLAG_WAKE_ALWAYS != 0)
    }

    fn data_offset(&self) -> usize {
        self.geo.map_or(0, |g| g.data_offset)
    }

    /// Address of the first data byte.
    ///
    /// Other processes may write the memory behind it at any time; reading it is sound only with
    /// volatile or atomic accesses, or copies whose result you validate.
    pub fn as_ptr(&self) -> *const u8 {
        // SAFETY: data_offset <= the mapping's length (validated).
        unsafe { self.map().ptr().add(self.data_offset()) }
    }

    /// Address of the first data byte, for writing; `None` on a read-only handle.
    pub fn as_mut_ptr(&self) -> Option<*mut u8> {
        (self.access == Access::ReadWrite).then(|| self.as_ptr().cast_mut())
    }

    /// The data as a slice.
    ///
    /// # Safety
    /// No process may write the data while the slice lives (hold the lock, and make sure every
    /// writer takes it too). Otherwise this is a data race.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the range is our mapping's data region; the caller guarantees no concurrent
        // writes for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// The data as a mutable slice.
    ///
    /// # Safety
    /// No other process or thread may read or write the data while the slice lives (hold the
    /// lock, and make sure everyone else takes it too).
    ///
    /// # Panics
    /// On a read-only handle.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        let p = self
            .as_mut_ptr()
            .expect("as_mut_slice on a read-only segment handle");
        // SAFETY: the range is our writable data region; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(p, self.len()) }
    }

    fn check_range(&self, op: Op, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(
                Error::new(ErrorKind::InvalidSize, op, self.name.to_string()).reason(format!(
                    "bytes {offset}..{} are outside its {} bytes",
                    offset.saturating_add(len),
                    self.len()
                )),
            ),
        }
    }

    /// Copies `buf.len()` bytes starting at data offset `offset` into `buf`.
    ///
    /// Without a lock (or a [`Cell`](crate::Cell)), a concurrent writer can make the copy a mix
    /// of old and new bytes.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] if the range is outside the data.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(Op::Read, offset, buf.len())?;
        // SAFETY: the source range is inside our mapping (checked above) and does not overlap
        // our private `buf`. `copy_out` reads each byte once: concurrent writers in other
        // processes can only change which bytes we copy.
        unsafe { crate::shared::copy_out(self.as_ptr().add(offset), buf) };
        Ok(())
    }

    /// Copies `data` into the segment at data offset `offset`.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] on a read-only handle, [`ErrorKind::InvalidSize`] if the
    /// range is outside the data.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        let Some(p) = self.as_mut_ptr() else {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                Op::Write,
                self.name.to_string(),
            )
            .reason("this handle was opened read-only"));
        };
        self.check_range(Op::Write, offset, data.len())?;
        // SAFETY: the destination range is inside our writable data region (checked above) and
        // cannot overlap `data`, which is private memory. `copy_in` writes each byte once, so
        // racing writers (this call follows no protocol) only decide which bytes win.
        unsafe { crate::shared::copy_in(p.add(offset), data) };
        Ok(())
    }

    #[inline]
    pub(crate) fn lock_word(&self) -> Result<&crate::lock::LockWord> {
        match self.header() {
            Some(h) if self.control_writable => Ok(&h.lock),
            _ => Err(self.lock_word_error()),
        }
    }

    #[cold]
    fn lock_word_error(&self) -> Error {
        if let Err(e) = self.header_for(Op::Lock) {
            return e;
        }
        Error::new(ErrorKind::PermissionDenied, Op::Lock, self.name.to_string())
            .reason("this process may only read the segment, and the lock lives inside it")
            .hint("ask its owner for write permission (mode 0660 or 0666)")
    }

    /// Another handle of this very segment (the same object, not just the same name): a read-only
    /// one, for a helper that must own its handle (a [`Notifier`](crate::Notifier)'s thread).
    pub(crate) fn reopen(&self, op: Op) -> Result<Segment> {
        let opts = SegmentOptions::new()
            .access(Access::ReadOnly)
            .raw(self.geo.is_none());
        let again =
            Segment::open_native(&self.name, &opts, self.kind()).map_err(|e| e.during(op))?;
        let created = |s: &Segment| {
            s.header()
                .map(|h| h.created_ns.load(std::sync::atomic::Ordering::Relaxed))
        };
        if created(&again) != created(self) {
            return Err(Error::new(ErrorKind::NotFound, op, self.name.to_string())
                .reason("its name now belongs to another segment (it was removed and made anew)"));
        }
        Ok(again)
    }

    /// This handle's liveness identity in the segment (see `liveness`), claimed at first use.
    pub(crate) fn identity(&self, op: Op) -> Result<Identity> {
        if let Some(id) = self.ident.get() {
            return Ok(*id);
        }
        let (h, scheme) = match (self.header(), self.scheme) {
            (Some(h), Some(s)) => (h, s),
            _ => {
                return Err(
                    Error::new(ErrorKind::Incompatible, op, self.name.to_string())
                        .reason("a raw segment has no lock and no subscriber table"),
                );
            }
        };
        let id = liveness::claim(self.map(), scheme, &h.next_token).map_err(|e| {
            Error::os(op, self.name.to_string(), e)
                .reason("could not take a liveness proof on the segment's file")
        })?;
        // A racing thread may have claimed one too: the first stored wins (the other proof stays
        // held by this handle's descriptor, unused).
        Ok(*self.ident.get_or_init(|| id))
    }

    /// Whether the holder of `word` (a holder word written in the segment) lives.
    pub(crate) fn verdict(&self, word: u64) -> Verdict {
        match self.scheme {
            Some(scheme) => liveness::verdict(self.map(), scheme, self.ident.get().copied(), word),
            None => Verdict::Unknown,
        }
    }

    /// The pid to show for a holder word of this segment.
    pub(crate) fn holder_pid(&self, word: u64) -> u32 {
        liveness::pid_of(self.scheme == Some(Scheme::Proofs), word)
    }

    /// The handle with its lock key filled in.
    fn with_lock_key(mut self) -> Segment {
        self.lock_key = self.compute_lock_key();
        self
    }

    /// What tells this segment (this very object, across its handles) from every other one, for
    /// the record of the locks this thread holds (see `lock::held`): its name and creation time,
    /// folded into a word (FNV-1a).
    fn compute_lock_key(&self) -> u64 {
        let created = self.header().map_or(0, |h| {
            h.created_ns.load(std::sync::atomic::Ordering::Relaxed)
        });
        self.name
            .as_str()
            .bytes()
            .chain(created.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    }

    /// The lock word and this handle's liveness, after refusing a lock this thread holds.
    fn lock_parts(&self) -> Result<(&crate::lock::LockWord, HandlePeers<'_>)> {
        let w = self.lock_word()?;
        let me = self.identity(Op::Lock)?;
        if lock::held::contains(self.lock_key) {
            return Err(
                Error::new(ErrorKind::WouldDeadlock, Op::Lock, self.name.to_string())
                    .reason("this thread holds its lock already (the lock is not recursive)")
                    .hint("drop the first guard before locking again"),
            );
        }
        Ok((w, HandlePeers { seg: self, me }))
    }

    fn guard(&self, how: Acquired) -> LockGuard<'_> {
        lock::held::insert(self.lock_key);
        LockGuard::new(self, how)
    }

    /// Unlocks for a dropped [`LockGuard`].
    pub(crate) fn release_lock(&self) {
        lock::held::remove(self.lock_key);
        if let (Ok(w), Some(&me)) = (self.lock_word(), self.ident.get()) {
            w.unlock(&HandlePeers { seg: self, me });
        }
    }

    /// Runs `f` with the lock held, for the library's own short critical sections that call no
    /// user code (so cannot ask for the lock again): a [`lock`](Self::lock) without the guard's
    /// bookkeeping. Still refuses a lock this thread holds already.
    pub(crate) fn with_lock<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        struct Unlock<'a>(&'a crate::lock::LockWord, HandlePeers<'a>);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.unlock(&self.1);
            }
        }
        let (w, p) = self.lock_parts()?;
        w.lock(&p, None)
            .expect("a lock without deadline always succeeds");
        let _unlock = Unlock(w, p);
        Ok(f())
    }

    /// Takes the lock for a stream publisher (held for the publisher's life, outside the
    /// thread-local guard bookkeeping): `None` if a live holder kept it until `deadline`.
    pub(crate) fn lock_raw(&self, deadline: Option<Instant>) -> Result<Option<Acquired>> {
        let w = self.lock_word()?;
        let me = self.identity(Op::Lock)?;
        Ok(w.lock(&HandlePeers { seg: self, me }, deadline))
    }

    /// Releases a lock taken with [`lock_raw`](Self::lock_raw).
    pub(crate) fn unlock_raw(&self) {
        if let (Ok(w), Some(&me)) = (self.lock_word(), self.ident.get()) {
            w.unlock(&HandlePeers { seg: self, me });
        }
    }

    /// Takes the segment's lock, waiting as long as a live process holds it.
    ///
    /// If the holder dies (even by `kill -9`), the lock passes to a waiter within about
    /// 100 ms, and [`LockGuard::owner_died`] tells it so. The lock is not recursive: a thread
    /// that already holds it gets [`ErrorKind::WouldDeadlock`] rather than waiting for itself.
    ///
    /// # Errors
    /// [`ErrorKind::Incompatible`] on a raw segment, [`ErrorKind::PermissionDenied`] if this
    /// process cannot write the segment, [`ErrorKind::WouldDeadlock`].
    ///
    /// # Platform notes
    /// On Linux the owner is proven alive by a lock the kernel holds for its open file
    /// description, so processes in different pid namespaces (containers sharing `/dev/shm`)
    /// judge each other correctly. Elsewhere the owner is judged by process id and start time,
    /// and a waiter never takes over an owner it cannot judge.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        let (w, p) = self.lock_parts()?;
        let how = w
            .lock(&p, None)
            .expect("a lock without deadline always succeeds");
        Ok(self.guard(how))
    }

    /// Takes the lock if it is free (or its holder is dead); `Ok(None)` if a live process holds
    /// it.
    ///
    /// # Errors
    /// As for [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<Option<LockGuard<'_>>> {
        let (w, p) = self.lock_parts()?;
        Ok(w.try_lock(&p).map(|how| self.guard(how)))
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`ErrorKind::Timeout`] if a live process held it all that time (or one this process
    /// cannot judge: the message says so); otherwise as for [`lock`](Self::lock).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        let (w, p) = self.lock_parts()?;
        match w.lock(&p, Some(Instant::now() + timeout)) {
            Some(how) => Ok(self.guard(how)),
            None => Err(
                Error::new(ErrorKind::Timeout, Op::Lock, self.name.to_string())
                    .reason(self.lock_busy_reason(timeout)),
            ),
        }
    }

    /// Why a lock stayed busy for `timeout`, naming the holder.
    pub(crate) fn lock_busy_reason(&self, timeout: Duration) -> String {
        let holder = self.header().and_then(|h| h.lock.owner_holder());
        match holder {
            Some(word) => {
                let pid = self.holder_pid(word);
                let who = if pid == 0 {
                    "another process".to_string()
                } else {
                    format!("process {pid}")
                };
                match self.verdict(word) {
                    Verdict::Unknown => format!(
                        "{who} holds the lock and lives in another pid namespace, where this \
                         process cannot tell whether it is alive; it is never taken over"
                    ),
                    _ => format!("{who} held the lock for all of {timeout:?}"),
                }
            }
            None => format!("the lock stayed busy for {timeout:?}"),
        }
    }

    /// The id of the process holding the lock, if a live one does (a snapshot: it may change at
    /// once).
    pub fn lock_owner(&self) -> Option<u32> {
        let word = self.header()?.lock.owner_holder()?;
        (self.verdict(word) != Verdict::Dead)
            .then(|| self.holder_pid(word))
            .filter(|&p| p != 0)
    }

    /// What the data is, as its creator said (see [`SegmentOptions::format`]); `None` if it did
    /// not say, or for a raw segment.
    pub fn format(&self) -> Option<&Format> {
        self.format.as_ref()
    }

    /// When this segment was created, as its header says; `None` for a raw segment. Two
    /// segments made one after the other under the same name have different creation times, so
    /// it also tells which incarnation of a name a handle holds (a bridge numbers the frames of
    /// each stream it forwards by it).
    pub fn created(&self) -> Option<SystemTime> {
        let ns = self
            .header()?
            .created_ns
            .load(std::sync::atomic::Ordering::Relaxed);
        Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
    }

    /// The change counter: bumped by every [`notify_change`](Self::notify_change). Read it
    /// before checking the data, then [`wait_change`](Self::wait_change) with it.
    ///
    /// Always 0 for a raw segment.
    pub fn change_count(&self) -> u32 {
        self.header().map_or(0, |h| h.change.key())
    }

    /// Bumps the change counter and wakes every process waiting in
    /// [`wait_change`](Self::wait_change). Costs no system call when nobody waits.
    ///
    /// # Errors
    /// [`ErrorKind::Incompatible`] on a raw segment (it has no change counter),
    /// [`ErrorKind::PermissionDenied`] on a handle that may not write the segment.
    pub fn notify_change(&self) -> Result<()> {
        let h = self.header_for(Op::Write)?;
        if !self.control_writable {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                Op::Write,
                self.name.to_string(),
            )
            .reason(
                "this process may only read the segment, and its change counter lives inside it",
            ));
        }
        h.change.signal(self.wake_always());
        Ok(())
    }

    /// Sleeps until the change counter differs from `seen`, at most `timeout` (`None`: no
    /// limit), and returns the new count. No polling: a futex on Linux.
    ///
    /// ```
    /// # use shmkit::Segment;
    /// # let name = format!("doc-wait-{}", std::process::id());
    /// let seg = Segment::create(&name, 16)?;
    /// let seen = seg.change_count();
    /// seg.notify_change(); // normally another process
    /// assert_eq!(seg.wait_change(seen, None)?, seen.wrapping_add(1));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Timeout`], or [`ErrorKind::Incompatible`] on a raw segment.
    pub fn wait_change(&self, seen: u32, timeout: Option<Duration>) -> Result<u32> {
        let h = self.header_for(Op::Wait)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        match h
            .change
            .wait(seen, deadline, Duration::ZERO, self.control_writable)
        {
            Waited::Changed => Ok(h.change.key()),
            Waited::TimedOut => {
                Err(
                    Error::new(ErrorKind::Timeout, Op::Wait, self.name.to_string()).reason(
                        format!("no change within {:?}", timeout.unwrap_or_default()),
                    ),
                )
            }
        }
    }

    /// Removes the name `name` now. Handles already open keep working; the memory is freed when
    /// the last of them closes. Like `shm_unlink`.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`], [`ErrorKind::InvalidName`].
    ///
    /// Takes any [`NativeName`], so the objects of other programs can be removed too.
    ///
    /// # Platform notes
    /// Windows cannot remove the name of a segment that is still held (it frees it when the last
    /// handle closes): there this fails with [`ErrorKind::Unsupported`] if the segment exists.
    pub fn remove(name: impl IntoNativeName) -> Result<()> {
        let name = name.into_native_name().map_err(|e| e.during(Op::Remove))?;
        sys::remove(name.as_str()).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => not_regular(Op::Remove, name.as_str()),
            _ => Error::os(Op::Remove, name.to_string(), e),
        })
    }

    /// Lists every object in the system's shared-memory namespace (on Linux, `/dev/shm`):
    /// shmkit segments with their kind and state, and foreign ones. It only looks: to remove the
    /// calling user's stale segments first, call [`sweep`](Self::sweep).
    ///
    /// # Platform notes
    /// Windows and macOS cannot enumerate shared memory. There `list` shows what shmkit itself
    /// knows: on Windows the segments that shmkit processes of this user hold (each handle keeps
    /// a holder file that the system deletes when it closes; `Global\` names are shown with their
    /// prefix), on macOS the segments in shmkit's registry (`/tmp/shmkit-registry`), whose
    /// holders are known to exist but not by process id. Objects only other programs use are
    /// not listed there, though [`info`](Self::info) finds them by name.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] where the platform cannot enumerate, or the OS error reading
    /// the directory.
    pub fn list() -> Result<Vec<SegmentInfo>> {
        let raw = sys::list().map_err(|e| Error::os(Op::Inspect, None, e).without_hint())?;
        Ok(raw.into_iter().map(SegmentInfo::from_raw).collect())
    }

    /// Removes the calling user's stale segments: [`Lifetime::LastClose`] shmkit segments that
    /// nobody holds (every holder died; on Linux their guardian too) and creations that never
    /// finished. Persistent segments, other users' and foreign objects are never touched; a
    /// segment someone holds never goes (the check and the removal happen under an exclusive
    /// lock). Every create and open does the same at most once a second; `shmkit ls` calls this
    /// first. Each removal goes to the hook set with [`on_stale_removed`](crate::on_stale_removed).
    ///
    /// Best effort: what cannot be listed or removed is left, silently.
    pub fn sweep() {
        stale::sweep(None, true);
    }

    /// Describes one segment (which may be foreign, and need not have a portable name).
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`], or [`ErrorKind::InvalidName`] for a name the system cannot take
    /// (see [`NativeName`]).
    pub fn info(name: &str) -> Result<SegmentInfo> {
        NativeName::new(name).map_err(|e| e.during(Op::Inspect))?;
        match sys::stat(name) {
            Ok(Some(raw)) => Ok(SegmentInfo::from_raw(raw)),
            Ok(None) => Err(not_regular(Op::Inspect, name)),
            Err(e) => Err(Error::os(Op::Inspect, name.to_string(), e)),
        }
    }

    /// Removes the crash leftovers among the shmkit segments: [`State::Stale`] ones (a
    /// [`Lifetime::LastClose`] segment whose users all died, a creation that never finished) and
    /// the half-built leftovers of creators that died mid-creation — by default only the calling
    /// user's, and never an idle [`Lifetime::Persistent`] segment, which someone made to outlive
    /// its users (`shmkit create`): [`GcOptions`] widens that. Foreign objects are never touched.
    /// Returns what it removed, or with [`GcOptions::dry_run`] what it would try to remove —
    /// including segments whose holders the platform cannot tell (state [`State::Unknown`]),
    /// which a real run removes only if it then finds them unheld and still leftovers.
    ///
    /// Safe to run at any time, from cron too: a segment that a process holds is never removed
    /// (the check and the removal happen under an exclusive lock that no holder can share), and
    /// what a segment is (a leftover, or idle and persistent) is checked again under that lock,
    /// so a segment created meanwhile under the same name is judged for itself.
    ///
    /// ```
    /// use shmkit::{GcOptions, Segment};
    ///
    /// let would = Segment::gc(&GcOptions::new().dry_run(true))?; // crash leftovers, mine
    /// let idle_too = GcOptions::new().idle(true).dry_run(true);    // and idle persistent ones
    /// # let _ = (would, Segment::gc(&idle_too)?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// As for [`list`](Self::list); segments that vanish, become busy or cannot be removed
    /// (another user's, without the right to) meanwhile are skipped.
    ///
    /// # Platform notes
    /// Windows frees a segment with its last handle: nothing is ever left to collect there.
    pub fn gc(opts: &GcOptions) -> Result<Vec<SegmentInfo>> {
        let mut removed = Vec::new();
        for info in Segment::list()? {
            let temp = info.name.starts_with(sys::TEMP_PREFIX);
            if !(info.kind.is_shmkit() || temp) || !opts.owns(info.uid) {
                continue;
            }
            let persistent = info.lifetime == Some(Lifetime::Persistent);
            let wanted = match info.state {
                State::Stale => true,
                State::Idle => opts.idle,
                // Nobody can tell who holds it: a candidate if it may be what is wanted; the
                // removal checks for holders under the lock.
                State::Unknown => temp || opts.idle || !persistent,
                _ => false,
            };
            if !wanted {
                continue;
            }
            if opts.dry_run {
                removed.push(info);
                continue;
            }
            // Judged again on the bytes found under the exclusive lock.
            let pred: &dyn Fn(&[u8]) -> bool = match (temp, opts.idle) {
                (true, _) => &|_| true,
                (false, true) => &layout::is_shmkit,
                (false, false) => &layout::is_orphan,
            };
            match sys::reclaim(&info.name, pred) {
                Ok(Reclaimed::Removed) => removed.push(info),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(Error::os(Op::Remove, info.name.clone(), e)),
            }
        }
        Ok(removed)
    }

    /// Whether this segment's name has been removed — by [`Segment::remove`], `shmkit rm`,
    /// `gc`, or a last closer — or now names another segment. This handle keeps working either
    /// way (the memory lives until the last handle closes), but whoever opens the name no longer
    /// finds this segment: a long-running reader can notice, and open the name again.
    ///
    /// # Platform notes
    /// Linux: the file's link count, and whether the name still leads to it. macOS: whether the
    /// name still leads to shmkit's registry file of this segment (an object another program
    /// removed with `shm_unlink` alone is not noticed). Windows: always `false`, as a held name
    /// cannot be removed there.
    pub fn is_removed(&self) -> bool {
        self.map.as_ref().is_some_and(sys::is_removed)
    }
}

/// What [`Segment::gc`] removes. The defaults are safe to run from cron: the calling user's
/// crash leftovers, and nothing anyone made to last.
///
/// | option | default | widened |
/// | --- | --- | --- |
/// | [`idle`](Self::idle) | crash leftovers only: [`State::Stale`] segments | also idle [`Lifetime::Persistent`] segments nobody holds (`shmkit create`) |
/// | [`all_users`](Self::all_users) | segments owned by this process's effective user (root's too) | every user's (removing another's needs the right to) |
/// | [`dry_run`](Self::dry_run) | removes | only reports |
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    idle: bool,
    all_users: bool,
    dry_run: bool,
}

impl GcOptions {
    /// The defaults: this user's crash leftovers, removed.
    pub fn new() -> GcOptions {
        GcOptions::default()
    }

    /// Also remove idle segments: [`Lifetime::Persistent`] ones that no process holds, which
    /// someone made on purpose to stay (default `false`).
    pub fn idle(mut self, yes: bool) -> GcOptions {
        self.idle = yes;
        self
    }

    /// Also other users' segments (default `false`: only those owned by this process's
    /// effective user, also when it is root).
    pub fn all_users(mut self, yes: bool) -> GcOptions {
        self.all_users = yes;
        self
    }

    /// Only report what would be removed (default `false`).
    pub fn dry_run(mut self, yes: bool) -> GcOptions {
        self.dry_run = yes;
        self
    }

    /// Whether an object owned by `uid` is within reach.
    pub(crate) fn owns(&self, uid: u32) -> bool {
        self.all_users || sys::current_user().is_none_or(|me| me == uid)
    }

    /// Whether nothing is to be removed, only reported.
    pub(crate) fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            map.close(self.unlink_if_last);
        }
    }
}

/// Reads a cell's or a stream's control block (the bytes between the header and the data) and
/// says what it holds.
fn control_details(name: &str, f: &Fields, g: &Geometry) -> std::result::Result<Details, String> {
    let mut bytes = vec![0u8; g.data_offset];
    let n = sys::peek(name, &mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    let ctl = bytes.get(HEADER_LEN..n).unwrap_or_default();
    match g.kind {
        Kind::Cell => crate::cell::details(ctl).map(Details::Cell),
        _ => {
            let proofs = f.flags & FLAG_PROOFS != 0;
            let ns = layout::u64_at(&bytes, layout::CREATOR_NS_OFFSET).unwrap_or(0);
            let judge = |word: u64| {
                let pid = liveness::pid_of(proofs, word);
                let alive = match liveness::verdict_by_name(name, proofs, ns, word) {
                    Verdict::Alive => Some(true),
                    Verdict::Dead => Some(false),
                    Verdict::Unknown => None,
                };
                (pid, alive)
            };
            crate::stream::details(ctl, judge).map(Details::Stream)
        }
    }
}

/// A segment handle's view of who lives, for the lock: its own identity, and the segment's
/// liveness scheme for everyone else.
pub(crate) struct HandlePeers<'a> {
    seg: &'a Segment,
    me: Identity,
}

impl Peers for HandlePeers<'_> {
    fn me(&self) -> (u32, u32) {
        (self.me.token, self.me.aux)
    }

    fn verdict(&self, word: u64) -> Verdict {
        self.seg.verdict(word)
    }

    fn wait(
        &self,
        word: &std::sync::atomic::AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> bool {
        sys::futex_wait(word, expected, timeout)
    }

    fn wake_one(&self, word: &std::sync::atomic::AtomicU32) {
        sys::futex_wake(word, 1)
    }
}

/// Validates a header for this machine: [`layout::validate`], and the data on a page boundary
/// (shmkit puts it there, so that read-only handles can write-protect it; a header that says
/// otherwise was not written by shmkit here).
fn geometry(f: &Fields, actual_len: u64) -> std::result::Result<Geometry, Problem> {
    let g = layout::validate(f, actual_len)?;
    if g.data_offset % sys::page_size() != 0 {
        return Err(Problem::Corrupt(format!(
            "data offset {} is not on a page boundary",
            g.data_offset
        )));
    }
    Ok(g)
}

/// Whether some class of users may read but not write: such readers cannot count themselves as
/// waiters, so signallers must always wake.
fn reads_without_writing(mode: u32) -> bool {
    [6, 3, 0]
        .iter()
        .any(|shift| (mode >> shift) & 0o4 != 0 && (mode >> shift) & 0o2 == 0)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to).saturating_mul(to)
}

fn create_error(name: &NativeName, total: usize, e: std::io::Error) -> Error {
    let err = Error::os(Op::Create, name.to_string(), e);
    if err.kind() == ErrorKind::OutOfResources {
        let free = sys::free_space()
            .map(|f| format!(" ({} free in {})", human_bytes(f), sys::SHM_DIR))
            .unwrap_or_default();
        return err.reason(format!(
            "not enough shared memory to reserve {}{free}",
            human_bytes(total as u64)
        ));
    }
    if err.kind() == ErrorKind::AlreadyExists {
        return err.reason("a segment with this name exists already");
    }
    err
}

fn not_regular(op: Op, name: &str) -> Error {
    Error::new(ErrorKind::Incompatible, op, name.to_string())
        .reason("it is not a regular shared-memory object (a directory or device?)")
}

/// The `NotFound` of an open that found only a stale segment under the name, and removed it.
fn stale_error(name: &NativeName, creator_pid: Option<u32>) -> Error {
    let removed = StaleRemoved::new(name.to_string(), creator_pid);
    Error::new(ErrorKind::NotFound, Op::Open, name.to_string())
        .reason(format!(
            "removed the stale segment {} (every process that held it had died)",
            removed.left_by()
        ))
        .hint("start its writer again")
        .stale(removed)
}

fn open_error(name: &NativeName, access: Access, e: std::io::Error) -> Error {
    let invalid = e.kind() == std::io::ErrorKind::InvalidInput;
    let busy = e.kind() == std::io::ErrorKind::WouldBlock;
    let err = Error::os(Op::Open, name.to_string(), e);
    if invalid {
        return not_regular(Op::Open, name.as_str());
    }
    if busy {
        return Error::new(ErrorKind::Timeout, Op::Open, name.to_string())
            .reason("another process kept it locked while removing it");
    }
    if err.kind() == ErrorKind::PermissionDenied && access == Access::ReadWrite {
        return err
            .reason("no permission to open it for writing")
            .hint("open it read-only, or ask its owner to widen its mode (`shmkit info NAME`)");
    }
    err
}

/// Formats a byte count for people, rounded to one decimal (`4 KiB`, `1.5 MiB`; `4100` bytes is
/// `4 KiB` too). The command line reads these units back.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        return format!("{n} B");
    }
    let one_decimal = format!("{v:.1}");
    let shown = one_decimal.strip_suffix(".0").unwrap_or(&one_decimal);
    format!("{shown} {}", UNITS[u])
}

/// What an object in the shared-memory namespace holds.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// A shmkit segment of this kind.
    Shmkit(Kind),
    /// A shmkit header of a layout or kind this build does not read.
    ShmkitOther,
    /// No shmkit header: made by another program, or a raw shmkit segment.
    Foreign,
    /// Could not be read (no permission).
    Unknown,
}

impl SegmentKind {
    /// Whether it has a shmkit header.
    pub fn is_shmkit(self) -> bool {
        matches!(self, SegmentKind::Shmkit(_) | SegmentKind::ShmkitOther)
    }

    /// `bytes`, `cell`, `stream`, `shmkit?`, `foreign` or `?`.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Shmkit(k) => k.as_str(),
            SegmentKind::ShmkitOther => "shmkit?",
            SegmentKind::Foreign => "foreign",
            SegmentKind::Unknown => "?",
        }
    }
}

/// Whether anyone uses a segment.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// At least one process holds it.
    Live,
    /// A persistent shmkit segment that no process holds right now (kept until removed).
    Idle,
    /// A shmkit segment that should be gone: a `LastClose` segment whose holders all died, or a
    /// creation that never finished. `gc` removes it; so does the next open or create of its name.
    Stale,
    /// Cannot tell (a foreign object: other programs do not announce that they use it).
    Unknown,
    /// A foreign object (Qt's, Python's) that no process uses and whose maker never keeps one
    /// unused: a crash's leftover. `shmkit gc --foreign` removes it (see `interop`).
    Orphaned,
}

impl State {
    /// `live`, `idle`, `stale`, `unknown` or `orphaned`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Idle => "idle",
            State::Stale => "stale",
            State::Unknown => "unknown",
            State::Orphaned => "orphaned",
        }
    }
}

/// The state of a shmkit segment's lock, as [`Segment::info`] sees it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// Nobody holds it.
    Free,
    /// A live process holds it.
    Held {
        /// The holder's process id (as this process numbers it; 0 if unknown).
        pid: u32,
    },
    /// Its holder died holding it: the next locker takes it over and is told.
    OwnerDied {
        /// The dead holder's process id.
        pid: u32,
    },
    /// Held by a process this one cannot judge (another pid namespace, where liveness is
    /// judged by process ids).
    Unknown {
        /// The holder's process id in its own namespace.
        pid: u32,
    },
}

/// What [`Segment::list`] and [`Segment::info`] report about one object.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Its name (foreign objects may have non-portable names).
    pub name: String,
    /// Its total size in bytes (header included).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Last modification of its size or mode (not of its contents), if known. For what was
    /// last published, see [`details`](Self::details).
    pub modified: Option<SystemTime>,
    /// What it holds.
    pub kind: SegmentKind,
    /// Whether anyone uses it.
    pub state: State,
    /// Which processes hold it.
    pub holders: Holders,
    /// For shmkit segments whose header validates: when its name goes away.
    pub lifetime: Option<Lifetime>,
    /// For shmkit segments whose header validates: the data bytes (without the header).
    pub data_len: Option<u64>,
    /// For shmkit segments whose header validates: where the data starts.
    pub data_offset: Option<u64>,
    /// For shmkit segments: the creating process.
    pub creator_pid: Option<u32>,
    /// For shmkit segments: when it was created.
    pub created: Option<SystemTime>,
    /// For shmkit segments: the process holding its lock, if a live one does.
    pub lock_owner: Option<u32>,
    /// For shmkit segments: the state of its lock.
    pub lock: Option<LockState>,
    /// For shmkit segments: what the data is, if its creator said.
    pub format: Option<Format>,
    /// Why a shmkit header (or a cell's or stream's control block) does not hold up: its
    /// offsets and lengths do not fit, another layout version, ...; in words. `None` for a
    /// sound one and for foreign objects.
    pub problem: Option<String>,
    /// For cells and streams: what their control block says (geometry, sequence numbers,
    /// statistics, subscribers).
    pub details: Option<Details>,
}

/// What a cell's or a stream's control block says (see [`SegmentInfo::details`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    /// A cell's.
    Cell(crate::cell::CellDetails),
    /// A stream's.
    Stream(crate::stream::StreamDetails),
}

impl SegmentInfo {
    fn from_raw(raw: sys::RawEntry) -> SegmentInfo {
        let mut head = [0u8; HEADER_LEN];
        let read = sys::peek(&raw.name, &mut head);
        let head = match &read {
            Ok(n) => &head[..*n],
            Err(_) => &head[..0],
        };
        let fields = Fields::from_bytes(head);
        let shmkit = fields.filter(|f| f.magic == layout::MAGIC);
        let checked = shmkit.map(|f| geometry(&f, raw.len));
        let kind = match (&read, &checked) {
            (Err(_), _) => SegmentKind::Unknown,
            (Ok(_), None) => SegmentKind::Foreign,
            (Ok(_), Some(Ok(g))) => SegmentKind::Shmkit(g.kind),
            (Ok(_), Some(Err(_))) => SegmentKind::ShmkitOther,
        };
        let geo = checked.as_ref().and_then(|c| c.as_ref().ok());
        let mut problem = checked
            .as_ref()
            .and_then(|c| c.as_ref().err())
            .map(Problem::describe);
        let last_close = shmkit.map(|f| f.flags & FLAG_LAST_CLOSE != 0);
        let state = match (
            &raw.holders,
            kind.is_shmkit() || raw.name.starts_with(sys::TEMP_PREFIX),
        ) {
            (Holders::Held(_), _) => State::Live,
            (Holders::Nobody, true) => {
                if shmkit.is_some_and(|f| f.version == 0) || last_close != Some(false) {
                    State::Stale
                } else {
                    State::Idle
                }
            }
            _ => State::Unknown,
        };
        // Only a header of this layout says where the lock and the format are.
        let this_layout = shmkit.filter(|f| f.version == layout::LAYOUT_VERSION && geo.is_some());
        let lock = this_layout.and_then(|f| {
            let state = layout::u32_at(head, layout::LOCK_STATE_OFFSET)?;
            let record = layout::u64_at(head, layout::LOCK_OWNER_OFFSET)?;
            let token = state & liveness::TOKEN_MASK;
            if token == 0 {
                return Some(LockState::Free);
            }
            let word = if liveness::token_of(record) == token {
                record
            } else {
                liveness::holder_word(token, 0)
            };
            let proofs = f.flags & FLAG_PROOFS != 0;
            let ns = layout::u64_at(head, layout::CREATOR_NS_OFFSET).unwrap_or(0);
            let pid = liveness::pid_of(proofs, word);
            Some(
                match liveness::verdict_by_name(&raw.name, proofs, ns, word) {
                    Verdict::Alive => LockState::Held { pid },
                    Verdict::Dead => LockState::OwnerDied { pid },
                    Verdict::Unknown => LockState::Unknown { pid },
                },
            )
        });
        let format = this_layout.and_then(|_| {
            let bytes: &[u8; crate::format::FORMAT_LEN] = head
                .get(layout::FORMAT_OFFSET..layout::FORMAT_OFFSET + crate::format::FORMAT_LEN)?
                .try_into()
                .ok()?;
            match Format::decode(bytes) {
                Ok(f) => f,
                Err(why) => {
                    problem.get_or_insert(format!("its format description is corrupt: {why}"));
                    None
                }
            }
        });
        let details = match (this_layout, geo) {
            (Some(f), Some(g)) if matches!(g.kind, Kind::Cell | Kind::Stream) => {
                match control_details(&raw.name, &f, g) {
                    Ok(d) => Some(d),
                    Err(why) => {
                        problem.get_or_insert(format!("its control block is corrupt: {why}"));
                        None
                    }
                }
            }
            _ => None,
        };
        SegmentInfo {
            details,
            modified: u64::try_from(raw.modified_unix_secs)
                .ok()
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
            size: raw.len,
            mode: raw.mode,
            uid: raw.uid,
            holders: raw.holders,
            kind,
            state,
            lifetime: geo.and(last_close).map(|l| {
                if l {
                    Lifetime::LastClose
                } else {
                    Lifetime::Persistent
                }
            }),
            data_len: geo.map(|g| g.data_len as u64),
            data_offset: geo.map(|g| g.data_offset as u64),
            creator_pid: shmkit.map(|f| f.creator_pid),
            created: shmkit.map(|f| SystemTime::UNIX_EPOCH + Duration::from_nanos(f.created_ns)),
            lock_owner: match lock {
                Some(LockState::Held { pid }) if pid != 0 => Some(pid),
                _ => None,
            },
            lock,
            format,
            problem,
            name: raw.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_that_let_someone_read_without_writing() {
        assert!(!reads_without_writing(0o600));
        assert!(!reads_without_writing(0o660));
        assert!(!reads_without_writing(0o666));
        assert!(reads_without_writing(0o644));
        assert!(reads_without_writing(0o640));
        assert!(reads_without_writing(0o400));
        assert!(!reads_without_writing(0o200));
    }

    #[test]
    fn human_bytes_reads_like_the_cli_writes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(8 << 30), "8 GiB");
        assert_eq!(human_bytes((2 << 20) + 4096), "2 MiB");
        assert_eq!(human_bytes(1023), "1023 B");
    }
}
