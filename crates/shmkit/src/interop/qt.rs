//! Qt's `QSharedMemory`: the segment a Qt 6 (or 4/5) app uses for a key, and Qt's own lock.
//!
//! A [`Key`] names the segment as Qt does: a *legacy key* (`QSharedMemory("demo")`,
//! `setKey`, the default of every Qt 4/5 app and of most Qt 6 apps), a *native key*
//! (`QNativeIpcKey`, `platformSafeKey`), or Qt's textual form of either
//! (`systemv:/tmp/qipc_sharedmemory_demo89e4…?legacyKey=demo`, `posix:/frames`). A
//! [`Segment`] is this process attached to it: it reads and writes the bytes (bounds-checked
//! copies; there is no header, byte 0 is Qt's `data()[0]`), and locks Qt's own semaphore, so a
//! Qt app's `lock()` and ours exclude each other.
//!
//! # The rules copied from Qt (Qt 6.12 `src/corelib/ipc`, checked against PySide6 6.12)
//!
//! **Keys.** A legacy key `K` becomes `qipc_sharedmemory_` + the ASCII letters of `K` + the
//! lowercase hex SHA-1 of `K`'s UTF-8 bytes; its lock is the same with `qipc_systemsem_`. With
//! the System V backend (Qt's default for legacy keys on Linux) both are files in Qt's
//! temporary directory (`$TMPDIR`, else `/tmp`: run with the Qt app's `TMPDIR`, or use
//! [`Key::legacy_in`]); the objects are found by `ftok(file, 'Q')`. With the POSIX backend
//! (`QNativeIpcKey`'s default, and legacy keys in a Qt built with `-feature-ipc_posix`) they are
//! `shm_open("/qipc_sharedmemory_…")` and `sem_open("/qipc_systemsem_…")`. A native POSIX key
//! `/name` is the segment `/dev/shm/name` *and* its lock `/dev/shm/sem.name`.
//!
//! **The lock.** System V: semaphore 0 of the set, taken with `semop(-1, SEM_UNDO)` and given
//! back with `semop(+1, SEM_UNDO)`. `SEM_UNDO` makes the kernel give the lock back when a
//! holder dies, so a `kill -9`'d holder (Qt or shmkit) never wedges the others. If the set was
//! removed (its creator exited), it is re-created, as Qt does. POSIX: a named semaphore,
//! `sem_wait`/`sem_post`: a holder that dies leaves it taken, and every later `lock()` (and Qt's
//! `attach()`, which takes it too) waits forever — Qt's design, not fixable from outside; use
//! [`Segment::lock_timeout`] and [`Options::timeout`] against it.
//!
//! **Create, attach, detach** run under the lock, as Qt's do, so they never race a Qt app's
//! own. Creating resets the lock to free (Qt's `QSystemSemaphore::Create`).
//!
//! **Cleanup** ([`Segment::detach`], and dropping a [`Segment`]): System V — detach, and if no
//! process is attached any more, remove the segment (`IPC_RMID`) and its key file; the process
//! that created the semaphore removes it and its key file. POSIX — Qt never removes the segment
//! on Linux (it stays in `/dev/shm` until removed by hand or `shmkit gc --foreign`); the
//! semaphore goes with its creator. A crash leaks everything but System V's lock state.
//!
//! One deliberate difference: when the semaphore vanished while this process held it, Qt's
//! unlock re-creates it (value 1) and then adds 1 more, so two processes could take it at once;
//! shmkit re-creates it free and does not add.
//!
//! **What is inside.** Qt puts no header in a segment; the classic programs fill it with
//! `QDataStream` output (a `QByteArray`, a `const char*`, a `QString`, a `QImage`):
//! [`datastream`] decodes and encodes those framings.
//!
//! # Example
//!
//! ```no_run
//! use shmkit::Access;
//! use shmkit::interop::qt;
//!
//! // What `QSharedMemory shm("frames"); shm.create(640 * 480 * 4);` made in a Qt app.
//! let key = qt::Key::legacy("frames")?;
//! let seg = qt::Segment::open(&key, Access::ReadWrite)?;
//! {
//!     let _guard = seg.lock()?; // Qt's own lock: the Qt app's lock() now waits for us
//!     seg.write(0, &[0xff; 4])?;
//! }
//! let mut pixel = [0u8; 4];
//! seg.read(0, &mut pixel)?;
//! # Ok::<(), shmkit::Error>(())
//! ```

pub mod datastream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Op, Result};
use crate::name::NativeName;
use crate::segment::{Access, Lifetime, SegmentOptions};
use crate::sys::sysv::{self, Wait};

/// `ftok`'s project id for Qt's System V keys: `'Q'` (`QNativeIpcKey::Type::SystemV`).
pub const QT_PROJECT_ID: u8 = 0x51;

/// Prefix of the files and names Qt derives for a legacy key's segment.
pub const SEGMENT_PREFIX: &str = "qipc_sharedmemory_";
/// Prefix of the files and names Qt derives for a legacy key's lock.
pub const SEMAPHORE_PREFIX: &str = "qipc_systemsem_";

/// Which of Qt's two Unix backends a key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// System V shared memory and semaphores, found by `ftok` of a key file. Qt's default for
    /// legacy keys on Linux.
    SystemV,
    /// POSIX `shm_open` / `sem_open` objects in `/dev/shm`. Qt's default for `QNativeIpcKey`.
    Posix,
}

impl Backend {
    /// `systemv` or `posix`, as in Qt's key strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::SystemV => "systemv",
            Backend::Posix => "posix",
        }
    }
}

/// The key of a Qt shared-memory segment: what `QSharedMemory::nativeIpcKey()` holds.
///
/// ```
/// use shmkit::interop::qt::{Backend, Key};
///
/// let key = Key::legacy_in("demo", "/tmp")?;
/// assert_eq!(key.backend(), Backend::SystemV);
/// assert_eq!(key.native_key(), "/tmp/qipc_sharedmemory_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91");
/// assert_eq!(key.to_string(), format!("systemv:{}?legacyKey=demo", key.native_key()));
///
/// // Qt's textual form, as `QNativeIpcKey::toString()` prints it, reads back.
/// assert_eq!(key.to_string().parse::<Key>()?.native_key(), key.native_key());
///
/// let posix = Key::native_posix("frames")?;
/// assert_eq!(posix.to_string(), "posix:/frames");
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    native: Native,
    /// The legacy key this native key was derived from (Qt's `?legacyKey=`).
    legacy: Option<String>,
    /// Where Qt puts the legacy lock's key file (System V): the temp dir at derivation.
    temp_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Native {
    /// The key file's path (Qt's native key) and `ftok`'s project id.
    SystemV { path: String, proj: u8 },
    /// The name as Qt passes it to `shm_open` (normally with a leading `/`).
    Posix { name: String },
}

fn key_error(op: Op, key: &str, why: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidName, op, key.to_string()).reason(why.into())
}

/// `K` → `prefix + letters(K) + sha1hex(K)`: Qt's `legacyPlatformSafeKey`.
fn legacy_base(prefix: &str, key: &str) -> String {
    let letters: String = key.chars().filter(char::is_ascii_alphabetic).collect();
    let hex = sha1_smol::Sha1::from(key.as_bytes()).digest().to_string();
    format!("{prefix}{letters}{hex}")
}

/// Qt's `QDir::tempPath()` on Unix: `$TMPDIR` (or `/tmp`), made absolute and cleaned
/// (`QDir::cleanPath`: no `.`, `..` resolved lexically, no doubled or trailing `/`); symbolic
/// links are not resolved. Verified against PySide6 6.12.
pub fn temp_dir() -> String {
    let raw = std::env::var_os("TMPDIR")
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if raw.is_empty() {
        return "/tmp".to_string();
    }
    let absolute = if raw.starts_with('/') {
        raw
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        format!("{}/{raw}", cwd.to_string_lossy())
    };
    clean_path(&absolute)
}

/// `QDir::cleanPath` for an absolute path.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn join_dir(dir: &str, base: &str) -> String {
    // Qt joins with one '/', even after "/" ("//qipc_…", the same file).
    format!("{dir}/{base}")
}

impl Key {
    /// The key Qt derives for a legacy key `key` with the System V backend (Qt's
    /// `QSharedMemory("key")`, `setKey("key")`, `legacyNativeKey("key")` on Linux), in Qt's
    /// temporary directory as this process sees it (`$TMPDIR`, else `/tmp`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for an empty key or one with more than 197 ASCII letters
    /// (the key file's name would pass 255 bytes; Qt fails the same way).
    pub fn legacy(key: &str) -> Result<Key> {
        Key::legacy_in(key, temp_dir())
    }

    /// As [`legacy`](Self::legacy), for a Qt app whose temporary directory is `temp_dir`.
    ///
    /// # Errors
    /// As for [`legacy`](Self::legacy).
    pub fn legacy_in(key: &str, temp_dir: impl AsRef<Path>) -> Result<Key> {
        let dir = clean_path(&temp_dir.as_ref().to_string_lossy());
        let base = Key::legacy_name(key, SEGMENT_PREFIX)?;
        Ok(Key {
            native: Native::SystemV {
                path: join_dir(&dir, &base),
                proj: QT_PROJECT_ID,
            },
            legacy: Some(key.to_string()),
            temp_dir: dir,
        })
    }

    /// The key Qt derives for a legacy key with the POSIX backend (a Qt configured with
    /// `-feature-ipc_posix`, or `legacyNativeKey(key, QNativeIpcKey::Type::PosixRealtime)`):
    /// `/qipc_sharedmemory_…`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for an empty key or one with more than 196 ASCII letters.
    pub fn legacy_posix(key: &str) -> Result<Key> {
        let base = Key::legacy_name(key, SEGMENT_PREFIX)?;
        // The lock's name is longer: `sem.qipc_systemsem_…` must fit in 255 bytes.
        let lock = Key::legacy_name(key, SEMAPHORE_PREFIX)?;
        if sysv::named_semaphore_file(&lock).len() > crate::MAX_NATIVE_NAME_LEN {
            return Err(key_error(
                Op::Name,
                key,
                "it has too many ASCII letters: the name of its POSIX lock would pass 255 bytes",
            ));
        }
        Ok(Key {
            native: Native::Posix {
                name: format!("/{base}"),
            },
            legacy: Some(key.to_string()),
            temp_dir: temp_dir(),
        })
    }

    fn legacy_name(key: &str, prefix: &str) -> Result<String> {
        if key.is_empty() {
            return Err(key_error(Op::Name, key, "the key is empty"));
        }
        let base = legacy_base(prefix, key);
        if base.len() > crate::MAX_NATIVE_NAME_LEN {
            return Err(key_error(
                Op::Name,
                key,
                format!(
                    "it has too many ASCII letters: Qt's name for it would be {} bytes, more than 255",
                    base.len()
                ),
            ));
        }
        Ok(base)
    }

    /// A native POSIX key (`QNativeIpcKey(name)`, `platformSafeKey(name)` on Linux): the
    /// segment `shm_open(name)` and the lock `sem_open(name)`. A missing leading `/` is added,
    /// as `platformSafeKey` does.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for a name with an inner `/` or NUL, or longer than 251
    /// bytes (the lock's file `sem.NAME` must fit in 255).
    pub fn native_posix(name: &str) -> Result<Key> {
        let name = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        Key::from_native(Native::Posix { name }, None, Op::Name)
    }

    /// Qt's `QSharedMemory::platformSafeKey(key)` on Linux (POSIX backend): `/key`, unchanged
    /// otherwise. Same as [`native_posix`](Self::native_posix).
    ///
    /// # Errors
    /// As for [`native_posix`](Self::native_posix).
    pub fn platform_safe(key: &str) -> Result<Key> {
        if key.is_empty() {
            return Err(key_error(Op::Name, key, "the key is empty"));
        }
        Key::native_posix(&format!("/{key}"))
    }

    /// A native System V key: the path of the key file that `ftok(path, 'Q')` reads
    /// (`QNativeIpcKey(path, QNativeIpcKey::Type::SystemV)`). The segment and its lock then share
    /// one key file.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for an empty path.
    pub fn native_systemv(path: impl AsRef<Path>) -> Result<Key> {
        let path = path.as_ref().to_string_lossy().into_owned();
        Key::from_native(
            Native::SystemV {
                path,
                proj: QT_PROJECT_ID,
            },
            None,
            Op::Name,
        )
    }

    fn from_native(native: Native, legacy: Option<String>, op: Op) -> Result<Key> {
        let key = Key {
            native,
            legacy,
            temp_dir: temp_dir(),
        };
        match &key.native {
            Native::SystemV { path, .. } if path.is_empty() || path.contains('\0') => {
                return Err(key_error(
                    op,
                    path,
                    "the key file's path is empty or has a NUL",
                ));
            }
            Native::Posix { name } => {
                NativeName::from_shm_open(name).map_err(|e| e.during(op))?;
                if sysv::named_semaphore_file(name).len() > crate::MAX_NATIVE_NAME_LEN {
                    return Err(key_error(
                        op,
                        name,
                        "the name is too long: its lock's file `sem.NAME` would pass 255 bytes",
                    ));
                }
            }
            _ => {}
        }
        Ok(key)
    }

    /// Parses Qt's textual form of a key (`QNativeIpcKey::toString`):
    /// `systemv:/tmp/qipc_sharedmemory_demo…?legacyKey=demo`, `posix:/frames`,
    /// `systemv-5:/path` (another `ftok` project id). The payload is percent-decoded; a query
    /// other than `legacyKey` and a host are refused, a fragment is ignored — as in Qt.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidName`] for text Qt would not parse, [`ErrorKind::Unsupported`] for
    /// a `windows:` key.
    pub fn from_key_string(text: &str) -> Result<Key> {
        let bad = |why: &str| key_error(Op::Name, text, why.to_string());
        let (scheme, rest) = text.split_once(':').ok_or_else(|| {
            bad("no key type: Qt's key strings look like posix:/name or systemv:/path")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = match path.strip_prefix("//") {
            Some(after) => {
                let (authority, p) = after.split_at(after.find('/').unwrap_or(after.len()));
                if !authority.is_empty() {
                    return Err(bad("a key string has no host part"));
                }
                p
            }
            None => path,
        };
        let native = percent_decode(path).ok_or_else(|| bad("bad percent-encoding"))?;
        let mut legacy = None;
        if let Some(q) = query {
            for item in q.split('&').filter(|i| !i.is_empty()) {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                if k != "legacyKey" {
                    return Err(bad("the only query Qt accepts is legacyKey="));
                }
                legacy = Some(percent_decode(v).ok_or_else(|| bad("bad percent-encoding"))?);
            }
        }
        if native.is_empty() {
            return Err(bad("the key is empty"));
        }
        let n = match scheme.as_str() {
            "posix" => Native::Posix { name: native },
            "systemv" => Native::SystemV {
                path: native,
                proj: QT_PROJECT_ID,
            },
            "windows" => {
                return Err(
                    Error::new(ErrorKind::Unsupported, Op::Name, text.to_string())
                        .reason("a Windows key names a Windows kernel object"),
                );
            }
            s => match s
                .strip_prefix("systemv-")
                .and_then(|n| n.parse::<u8>().ok())
            {
                Some(proj) if proj >= 1 => Native::SystemV { path: native, proj },
                _ => return Err(bad("unknown key type: use posix, systemv or systemv-N")),
            },
        };
        Key::from_native(n, legacy, Op::Name)
    }

    /// Which backend the key uses.
    pub fn backend(&self) -> Backend {
        match self.native {
            Native::SystemV { .. } => Backend::SystemV,
            Native::Posix { .. } => Backend::Posix,
        }
    }

    /// Qt's native key (`QSharedMemory::nativeKey()`): the key file's path (System V) or the
    /// `shm_open` name (POSIX).
    pub fn native_key(&self) -> &str {
        match &self.native {
            Native::SystemV { path, .. } => path,
            Native::Posix { name } => name,
        }
    }

    /// The legacy key the native key was derived from, if known (`QSharedMemory::key()`).
    pub fn legacy_key(&self) -> Option<&str> {
        self.legacy.as_deref()
    }

    /// `ftok`'s project id (System V; `'Q'` unless the key string said `systemv-N`).
    pub fn project_id(&self) -> Option<u8> {
        match self.native {
            Native::SystemV { proj, .. } => Some(proj),
            Native::Posix { .. } => None,
        }
    }

    /// The name of the segment in the shared-memory directory (POSIX backend), e.g.
    /// `qipc_sharedmemory_demo89e4…` for `/dev/shm/qipc_sharedmemory_demo89e4…`.
    pub fn posix_name(&self) -> Option<NativeName> {
        match &self.native {
            Native::Posix { name } => NativeName::from_shm_open(name).ok(),
            Native::SystemV { .. } => None,
        }
    }

    /// The native key of the segment's lock, as Qt's `QSharedMemoryPrivate::initKey` picks it:
    /// derived from the legacy key when there is one (`qipc_systemsem_…`, in the temporary
    /// directory for System V), otherwise the segment's own native key.
    pub fn lock_key(&self) -> String {
        match (&self.native, &self.legacy) {
            (Native::SystemV { .. }, Some(l)) => {
                join_dir(&self.temp_dir, &legacy_base(SEMAPHORE_PREFIX, l))
            }
            (Native::Posix { .. }, Some(l)) => format!("/{}", legacy_base(SEMAPHORE_PREFIX, l)),
            _ => self.native_key().to_string(),
        }
    }

    /// The file that holds the lock: the System V key file, or the POSIX semaphore's file in
    /// `/dev/shm` (`sem.NAME`).
    pub fn lock_file(&self) -> PathBuf {
        match self.native {
            Native::SystemV { .. } => PathBuf::from(self.lock_key()),
            Native::Posix { .. } => PathBuf::from(format!(
                "/dev/shm/{}",
                sysv::named_semaphore_file(&self.lock_key())
            )),
        }
    }
}

impl fmt::Display for Key {
    /// Qt's textual form (`QNativeIpcKey::toString`), which `QNativeIpcKey::fromString` and
    /// [`Key::from_key_string`] read back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.native {
            Native::SystemV { proj, .. } if proj != QT_PROJECT_ID => format!("systemv-{proj}"),
            _ => self.backend().as_str().to_string(),
        };
        let mut path = percent_encode(self.native_key(), b"%?#");
        if path.starts_with("//") {
            path.replace_range(0..2, "/%2F");
        }
        write!(f, "{scheme}:{path}")?;
        if let Some(l) = &self.legacy {
            write!(f, "?legacyKey={}", percent_encode(l, b"%#&="))?;
        }
        Ok(())
    }
}

impl FromStr for Key {
    type Err = Error;
    fn from_str(s: &str) -> Result<Key> {
        Key::from_key_string(s)
    }
}

fn percent_encode(s: &str, special: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() && (c.is_ascii_control() || special.contains(&(c as u8))) {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------------
// The lock: Qt's QSystemSemaphore, backend by backend

/// Qt's `QSystemSemaphore::AccessMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SemMode {
    Open,
    Create,
}

/// A System V semaphore handle as `QSystemSemaphoreSystemV` keeps it.
#[derive(Debug)]
struct SysvSem {
    path: PathBuf,
    proj: u8,
    state: Mutex<SysvSemState>,
}

#[derive(Debug, Default)]
struct SysvSemState {
    /// The set's id, once `handle` ran.
    id: Option<i32>,
    created_file: bool,
    created_sem: bool,
}

impl SysvSem {
    /// `QSystemSemaphoreSystemV::handle(mode)`.
    fn handle(&self, st: &mut SysvSemState, mode: SemMode) -> std::io::Result<i32> {
        if let Some(id) = st.id {
            return Ok(id);
        }
        st.created_file = sysv::create_key_file(&self.path)?;
        let key = match sysv::ftok(&self.path, self.proj) {
            Ok(k) => k,
            Err(e) => {
                self.clean(st);
                return Err(e);
            }
        };
        let id = match sysv::sem_create_excl(key, 0o600) {
            Ok(id) => {
                st.created_sem = true;
                // Qt: "Force cleanup of file, it is possible that it can be left over from a crash".
                st.created_file = true;
                id
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match sysv::sem_get(key, 0o600) {
                    Ok(id) => id,
                    Err(e) => {
                        self.clean(st);
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                self.clean(st);
                return Err(e);
            }
        };
        st.id = Some(id);
        if mode == SemMode::Create {
            st.created_sem = true;
            st.created_file = true;
        }
        if st.created_sem {
            if let Err(e) = sysv::sem_set(id, 1) {
                self.clean(st);
                return Err(e);
            }
        }
        Ok(id)
    }

    /// `QSystemSemaphoreSystemV::cleanHandle`.
    fn clean(&self, st: &mut SysvSemState) {
        if st.created_file {
            let _ = sysv::remove_file(&self.path);
            st.created_file = false;
        }
        if st.created_sem {
            if let Some(id) = st.id {
                let _ = sysv::sem_remove(id);
            }
            st.created_sem = false;
        }
        st.id = None;
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SysvSemState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `modifySemaphore(delta)`: `Ok(false)` if `wait` ran out.
    fn modify(&self, delta: i16, wait: Wait) -> std::io::Result<bool> {
        loop {
            let id = {
                let mut st = self.state();
                self.handle(&mut st, SemMode::Open)?
            };
            match sysv::sem_op(id, delta, wait) {
                Err(e) if sysv::is_removed(&e) => {
                    // The set vanished (its creator exited): re-create it, as Qt does.
                    let mut st = self.state();
                    if st.id == Some(id) {
                        st.created_sem = false; // somebody else removed it
                        self.clean(&mut st);
                        self.handle(&mut st, SemMode::Open)?;
                    }
                    if delta > 0 {
                        // Qt would add 1 to the fresh (free) semaphore, making it 2; the lock
                        // we held went with the old set, so there is nothing to give back.
                        return Ok(true);
                    }
                }
                other => return other,
            }
        }
    }
}

/// A POSIX named semaphore handle as `QSystemSemaphorePosix` keeps it.
#[derive(Debug)]
struct PosixSem {
    name: String,
    sem: sysv::NamedSemaphore,
    created: bool,
}

impl PosixSem {
    /// `QSystemSemaphorePosix::handle(mode)`.
    fn open(name: &str, mode: SemMode) -> std::io::Result<PosixSem> {
        let mut exclusive = true;
        let mut tries: u32;
        let mut n = 0;
        loop {
            match sysv::NamedSemaphore::open(name, exclusive, 0o600, 1) {
                Ok(sem) => {
                    return Ok(PosixSem {
                        name: name.to_string(),
                        sem,
                        created: exclusive,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if mode == SemMode::Create {
                        match sysv::named_semaphore_unlink(name) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                            _ => {}
                        }
                        tries = 3;
                    } else {
                        exclusive = false;
                        tries = 2;
                    }
                    n += 1;
                    if n >= tries {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for PosixSem {
    fn drop(&mut self) {
        // `sem` closes itself; the creator also removes the name (Qt's cleanHandle).
        if self.created {
            let _ = sysv::named_semaphore_unlink(&self.name);
        }
    }
}

#[derive(Debug)]
enum Sem {
    SystemV(SysvSem),
    Posix(PosixSem),
}

impl Sem {
    fn new(key: &Key, mode: SemMode) -> std::io::Result<Sem> {
        match key.native {
            Native::SystemV { proj, .. } => {
                let s = SysvSem {
                    path: PathBuf::from(key.lock_key()),
                    proj,
                    state: Mutex::new(SysvSemState::default()),
                };
                // Qt's setNativeKey runs handle(mode) at once.
                {
                    let mut st = s.state();
                    s.handle(&mut st, mode)?;
                }
                Ok(Sem::SystemV(s))
            }
            Native::Posix { .. } => Ok(Sem::Posix(PosixSem::open(&key.lock_key(), mode)?)),
        }
    }

    fn acquire(&self, wait: Wait) -> std::io::Result<bool> {
        match self {
            Sem::SystemV(s) => s.modify(-1, wait),
            Sem::Posix(p) => p.sem.wait(wait),
        }
    }

    fn release(&self) -> std::io::Result<()> {
        match self {
            Sem::SystemV(s) => s.modify(1, Wait::Forever).map(|_| ()),
            Sem::Posix(p) => p.sem.post(),
        }
    }

    /// The semaphore's value: 1 free, 0 taken.
    fn value(&self) -> std::io::Result<i32> {
        match self {
            Sem::SystemV(s) => {
                let id = {
                    let mut st = s.state();
                    s.handle(&mut st, SemMode::Open)?
                };
                sysv::sem_value(id)
            }
            Sem::Posix(p) => p.sem.value(),
        }
    }
}

impl Drop for SysvSem {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut taken = std::mem::take(st);
        self.clean(&mut taken);
    }
}

// ---------------------------------------------------------------------------------------------
// The segment

/// How long dropping a [`Segment`] waits for Qt's lock before detaching without it.
const DROP_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Options for creating or attaching to a Qt segment (a builder ending in `create` or `open`).
///
/// ```no_run
/// use std::time::Duration;
/// use shmkit::Access;
/// use shmkit::interop::qt;
///
/// let key = qt::Key::legacy("frames")?;
/// let seg = qt::Options::new()
///     .access(Access::ReadOnly)
///     .timeout(Duration::from_secs(2)) // do not wait forever for a wedged Qt lock
///     .open(&key)?;
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    access: Access,
    size: Option<usize>,
    timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options::new()
    }
}

impl Options {
    /// Read-write, no size, and waiting for Qt's lock as long as it takes (as Qt does).
    pub fn new() -> Options {
        Options {
            access: Access::ReadWrite,
            size: None,
            timeout: None,
        }
    }

    /// How `open` attaches: [`Access::ReadOnly`] maps the segment read-only (`SHM_RDONLY` /
    /// `O_RDONLY`, as Qt's `QSharedMemory::ReadOnly`). Creating always attaches read-write.
    pub fn access(mut self, access: Access) -> Options {
        self.access = access;
        self
    }

    /// The size of a new segment in bytes (required to create).
    pub fn size(mut self, bytes: usize) -> Options {
        self.size = Some(bytes);
        self
    }

    /// The longest wait for Qt's lock inside `create`, `open` and `detach` (Qt takes it there
    /// too). Without it they wait as long as a holder keeps it; with the POSIX backend, a
    /// crashed holder keeps it forever.
    pub fn timeout(mut self, timeout: Duration) -> Options {
        self.timeout = Some(timeout);
        self
    }

    fn wait(&self) -> Wait {
        self.timeout
            .map_or(Wait::Forever, |t| Wait::Until(Instant::now() + t))
    }

    /// Creates the segment as `QSharedMemory::create(size)` does, and attaches read-write.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] (like Qt, a System V leftover nobody is attached to is
    /// removed by the failed attempt, so the next `create` succeeds), [`ErrorKind::InvalidSize`],
    /// [`ErrorKind::PermissionDenied`], [`ErrorKind::Timeout`] (Qt's lock stayed taken),
    /// [`ErrorKind::Unsupported`] off Linux.
    pub fn create(&self, key: &Key) -> Result<Segment> {
        let size = match self.size {
            Some(n) if n > 0 => n,
            _ => {
                return Err(
                    Error::new(ErrorKind::InvalidSize, Op::Create, key.to_string())
                        .reason("a Qt segment needs a size of at least one byte")
                        .hint("set one with qt::Options::size"),
                );
            }
        };
        let sem = Sem::new(key, SemMode::Create).map_err(|e| lock_error(Op::Create, key, e))?;
        let guard = RawGuard::take(&sem, self.wait(), Op::Create, key, self.timeout)?;
        let mem = match &key.native {
            Native::SystemV { path, proj } => {
                let path = PathBuf::from(path);
                Mem::SystemV(
                    SysvMem::create(&path, *proj, size)
                        .map_err(|e| seg_error(Op::Create, key, e))?,
                )
            }
            Native::Posix { .. } => {
                let name = key
                    .posix_name()
                    .ok_or_else(|| key_error(Op::Create, key.native_key(), "bad name"))?;
                // Qt creates 0600 and never removes a POSIX segment on Linux.
                let seg = SegmentOptions::new()
                    .raw(true)
                    .size(size)
                    .mode(0o600)
                    .lifetime(Lifetime::Persistent)
                    .create(name)
                    .map_err(|e| rename_error(e, key))?;
                Mem::Posix(seg)
            }
        };
        drop(guard);
        Ok(Segment {
            key: key.clone(),
            access: Access::ReadWrite,
            mem: Some(mem),
            sem,
            timeout: self.timeout,
        })
    }

    /// Attaches to the segment as `QSharedMemory::attach(mode)` does.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] (no segment for this key: is the Qt app running, with the same
    /// `TMPDIR`?), [`ErrorKind::PermissionDenied`], [`ErrorKind::Timeout`] (Qt's lock stayed
    /// taken), [`ErrorKind::Unsupported`] off Linux.
    pub fn open(&self, key: &Key) -> Result<Segment> {
        let sem = Sem::new(key, SemMode::Open).map_err(|e| lock_error(Op::Open, key, e))?;
        let guard = RawGuard::take(&sem, self.wait(), Op::Open, key, self.timeout)?;
        let mem = match &key.native {
            Native::SystemV { path, proj } => Mem::SystemV(
                SysvMem::open(Path::new(path), *proj, self.access == Access::ReadWrite)
                    .map_err(|e| seg_error(Op::Open, key, e))?,
            ),
            Native::Posix { .. } => {
                let name = key
                    .posix_name()
                    .ok_or_else(|| key_error(Op::Open, key.native_key(), "bad name"))?;
                let seg = SegmentOptions::new()
                    .raw(true)
                    .access(self.access)
                    .lifetime(Lifetime::Persistent)
                    .open(name)
                    .map_err(|e| rename_error(e, key))?;
                Mem::Posix(seg)
            }
        };
        drop(guard);
        Ok(Segment {
            key: key.clone(),
            access: self.access,
            mem: Some(mem),
            sem,
            timeout: self.timeout,
        })
    }
}

fn hint_for(op: Op, key: &Key, kind: ErrorKind) -> Option<String> {
    match (op, kind) {
        (Op::Open, ErrorKind::NotFound) => Some(match key.backend() {
            Backend::SystemV => format!(
                "is the Qt app running, with the same TMPDIR? its key file would be {}",
                key.native_key()
            ),
            Backend::Posix => {
                "is the Qt app running? Qt 6's QNativeIpcKey uses POSIX (qt-posix:), legacy keys System V (qt:)"
                    .to_string()
            }
        }),
        (Op::Create, ErrorKind::AlreadyExists) => Some(
            "a Qt app has it, or a crash left it behind: `shmkit ls` shows which, \
             `shmkit gc --foreign` removes leftovers"
                .to_string(),
        ),
        _ => None,
    }
}

fn seg_error(op: Op, key: &Key, e: std::io::Error) -> Error {
    let mut err = Error::os(op, key.to_string(), e);
    if err.raw_os_error() == Some(22) && op == Op::Create {
        err = err.reason("the system refused the size (System V limits: sysctl kernel.shmmax)");
    }
    match hint_for(op, key, err.kind()) {
        Some(h) => err.hint(h),
        None => err,
    }
}

fn lock_error(op: Op, key: &Key, e: std::io::Error) -> Error {
    Error::os(op, key.to_string(), e).reason(format!(
        "cannot set up Qt's lock ({})",
        key.lock_file().display()
    ))
}

fn rename_error(e: Error, key: &Key) -> Error {
    // Errors of the POSIX segment name the /dev/shm file; report the Qt key instead.
    let mut err = Error::new(e.kind(), e.op(), key.to_string()).reason(e.reason_text().to_string());
    if let Some(h) = hint_for(e.op(), key, e.kind()).or(e.hint_text().map(str::to_string)) {
        err = err.hint(h);
    }
    err
}

/// Qt's lock taken for the duration of create/open/detach.
struct RawGuard<'a>(&'a Sem);

impl<'a> RawGuard<'a> {
    fn take(
        sem: &'a Sem,
        wait: Wait,
        op: Op,
        key: &Key,
        timeout: Option<Duration>,
    ) -> Result<RawGuard<'a>> {
        match sem.acquire(wait) {
            Ok(true) => Ok(RawGuard(sem)),
            Ok(false) => Err(timeout_error(op, key, timeout.unwrap_or_default())),
            Err(e) => Err(lock_error(op, key, e)),
        }
    }
}

impl Drop for RawGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.release();
    }
}

fn timeout_error(op: Op, key: &Key, waited: Duration) -> Error {
    let why = match key.backend() {
        Backend::SystemV => format!("another process held Qt's lock for all of {waited:?}"),
        Backend::Posix => format!(
            "Qt's lock stayed taken for all of {waited:?} (POSIX backend: if its holder crashed, \
             it stays taken; {} shows the value)",
            key.lock_file().display()
        ),
    };
    Error::new(ErrorKind::Timeout, op, key.to_string()).reason(why)
}

/// A System V segment as `QSharedMemorySystemV` keeps it.
#[derive(Debug)]
struct SysvMem {
    att: Option<sysv::ShmAttachment>,
    path: PathBuf,
    /// The `key_t` of the key file when this handle attached.
    key: i32,
}

impl SysvMem {
    /// `QSharedMemorySystemV::create` then `attach(ReadWrite)`.
    fn create(path: &Path, proj: u8, size: usize) -> std::io::Result<SysvMem> {
        let created_file = sysv::create_key_file(path)?;
        let key = match sysv::ftok(path, proj) {
            Ok(k) => k,
            Err(e) => {
                if created_file {
                    let _ = sysv::remove_file(path);
                }
                return Err(e);
            }
        };
        if let Err(e) = sysv::shm_create(key, size, 0o600) {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                // Qt's failed QSharedMemory cleans its handle: a leftover nobody is attached
                // to goes, so the next create succeeds.
                clean_handle(path, key);
            } else if created_file {
                let _ = sysv::remove_file(path);
            }
            return Err(e);
        }
        Self::attach(path, key, true)
    }

    /// `QSharedMemorySystemV::handle` then `attach(mode)`.
    fn open(path: &Path, proj: u8, writable: bool) -> std::io::Result<SysvMem> {
        let key = sysv::ftok(path, proj)?;
        Self::attach(path, key, writable)
    }

    fn attach(path: &Path, key: i32, writable: bool) -> std::io::Result<SysvMem> {
        let id = sysv::shm_lookup(key, if writable { 0o600 } else { 0o400 })?;
        let att = sysv::ShmAttachment::attach(id, writable)?;
        Ok(SysvMem {
            att: Some(att),
            path: path.to_path_buf(),
            key,
        })
    }

    /// `QSharedMemorySystemV::detach`: `shmdt`, then the last one out removes the segment and
    /// its key file (`clean` false: detach only).
    fn detach(&mut self, clean: bool) -> std::io::Result<()> {
        if let Some(att) = self.att.take() {
            att.detach()?;
            if clean {
                clean_handle(&self.path, self.key);
            }
        }
        Ok(())
    }
}

/// `QSharedMemorySystemV::cleanHandle`: if nobody is attached to the segment of `key`, remove
/// it and its key file.
fn clean_handle(path: &Path, key: i32) {
    let Ok(id) = sysv::shm_lookup(key, 0o400) else {
        return;
    };
    match sysv::shm_stat(id) {
        Ok(st) if st.nattch == 0 => {
            match sysv::shm_remove(id) {
                Ok(()) => {}
                Err(e) if sysv::is_removed(&e) => {}
                Err(_) => return,
            }
            let _ = sysv::remove_file(path);
        }
        _ => {}
    }
}

#[derive(Debug)]
enum Mem {
    SystemV(SysvMem),
    Posix(crate::Segment),
}

/// A Qt shared-memory segment attached to this process, with Qt's lock.
///
/// Created by [`Segment::create`] / [`Segment::open`] or [`Options`]. Dropping it detaches as
/// Qt does (see the [module docs](self)); [`detach`](Segment::detach) does the same and reports
/// errors.
///
/// Like Qt's `data()`, the bytes are shared with the Qt app, which may write them at any time;
/// shmkit never hands out a `&[u8]` over them: [`read`](Self::read) and [`write`](Self::write)
/// copy, bounds-checked. Take [`lock`](Self::lock) around them when the Qt app locks too.
#[derive(Debug)]
pub struct Segment {
    key: Key,
    access: Access,
    /// `None` once detached.
    mem: Option<Mem>,
    sem: Sem,
    timeout: Option<Duration>,
}

impl Segment {
    /// Creates a segment of `size` bytes for `key`, as `QSharedMemory::create(size)` does.
    ///
    /// # Errors
    /// As for [`Options::create`].
    pub fn create(key: &Key, size: usize) -> Result<Segment> {
        Options::new().size(size).create(key)
    }

    /// Attaches to the segment of `key`, as `QSharedMemory::attach(mode)` does.
    ///
    /// # Errors
    /// As for [`Options::open`].
    pub fn open(key: &Key, access: Access) -> Result<Segment> {
        Options::new().access(access).open(key)
    }

    /// The builder for the other options: [`Options`].
    pub fn options() -> Options {
        Options::new()
    }

    /// The key this segment was opened with.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// How this handle accesses the bytes.
    pub fn access(&self) -> Access {
        self.access
    }

    fn mem(&self) -> &Mem {
        // `mem` is only taken by `detach`, which consumes the handle.
        self.mem.as_ref().expect("qt segment used after detach")
    }

    /// The segment's size in bytes, as Qt's `size()` reports it (the size asked for at
    /// creation; System V's `shm_segsz`, POSIX's file size).
    pub fn len(&self) -> usize {
        match self.mem() {
            Mem::SystemV(m) => m.att.as_ref().map_or(0, |a| a.len()),
            Mem::Posix(s) => s.len(),
        }
    }

    /// Whether the segment has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Address of byte 0 (Qt's `data()`). Other processes may write behind it at any time:
    /// read it only with volatile or atomic accesses, or copies you validate.
    pub fn as_ptr(&self) -> *const u8 {
        match self.mem() {
            Mem::SystemV(m) => m
                .att
                .as_ref()
                .map_or(std::ptr::null(), |a| a.ptr().cast_const()),
            Mem::Posix(s) => s.as_ptr(),
        }
    }

    /// Address of byte 0 for writing; `None` on a read-only handle.
    pub fn as_mut_ptr(&self) -> Option<*mut u8> {
        (self.access == Access::ReadWrite).then(|| self.as_ptr().cast_mut())
    }

    fn check_range(&self, op: Op, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(
                Error::new(ErrorKind::InvalidSize, op, self.key.to_string()).reason(format!(
                    "bytes {offset}..{} are outside its {} bytes",
                    offset.saturating_add(len),
                    self.len()
                )),
            ),
        }
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] if the range is outside the segment.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        if let Mem::Posix(s) = self.mem() {
            return s.read(offset, buf).map_err(|e| rename_error(e, &self.key));
        }
        self.check_range(Op::Read, offset, buf.len())?;
        // SAFETY: the source range is inside our attachment (checked above against its size
        // from IPC_STAT) and cannot overlap `buf`, which is private memory. `copy_out` reads each
        // byte once: other processes' concurrent writes change which bytes we copy, not the
        // soundness of the copy.
        unsafe { crate::shared::copy_out(self.as_ptr().add(offset), buf) };
        Ok(())
    }

    /// Copies `data` into the segment at `offset`.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] on a read-only handle, [`ErrorKind::InvalidSize`] if the
    /// range is outside the segment.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        if let Mem::Posix(s) = self.mem() {
            return s
                .write(offset, data)
                .map_err(|e| rename_error(e, &self.key));
        }
        let Some(p) = self.as_mut_ptr() else {
            return Err(
                Error::new(ErrorKind::PermissionDenied, Op::Write, self.key.to_string())
                    .reason("this handle was opened read-only"),
            );
        };
        self.check_range(Op::Write, offset, data.len())?;
        // SAFETY: the destination is inside our writable attachment (checked above; attached
        // without SHM_RDONLY because access is ReadWrite) and cannot overlap `data`. `copy_in`
        // writes each byte once (Qt programs write it too, under Qt's lock or not).
        unsafe { crate::shared::copy_in(p.add(offset), data) };
        Ok(())
    }

    /// Takes Qt's lock (`QSharedMemory::lock()`), waiting as long as another process holds it.
    ///
    /// The lock is Qt's semaphore, not a mutex: it is not recursive, and it is not tied to a
    /// thread. With the System V backend a holder that dies releases it.
    ///
    /// # Errors
    /// [`ErrorKind::Os`] if the semaphore cannot be reached.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        match self.sem.acquire(Wait::Forever) {
            Ok(_) => Ok(LockGuard { seg: self }),
            Err(e) => Err(lock_error(Op::Lock, &self.key, e)),
        }
    }

    /// Takes Qt's lock if it is free; `Ok(None)` if another process holds it.
    ///
    /// # Errors
    /// As for [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<Option<LockGuard<'_>>> {
        match self.sem.acquire(Wait::Never) {
            Ok(true) => Ok(Some(LockGuard { seg: self })),
            Ok(false) => Ok(None),
            Err(e) => Err(lock_error(Op::Lock, &self.key, e)),
        }
    }

    /// Takes Qt's lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`ErrorKind::Timeout`], or as for [`lock`](Self::lock).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        match self.sem.acquire(Wait::Until(Instant::now() + timeout)) {
            Ok(true) => Ok(LockGuard { seg: self }),
            Ok(false) => Err(timeout_error(Op::Lock, &self.key, timeout)),
            Err(e) => Err(lock_error(Op::Lock, &self.key, e)),
        }
    }

    /// Whether Qt's lock is free right now (a snapshot: it may change at once).
    ///
    /// # Errors
    /// [`ErrorKind::Os`] if the semaphore cannot be read.
    pub fn lock_is_free(&self) -> Result<bool> {
        self.sem
            .value()
            .map(|v| v > 0)
            .map_err(|e| lock_error(Op::Inspect, &self.key, e))
    }

    /// Detaches as Qt's `detach()` does, under Qt's lock: System V removes the segment and its
    /// key file when this was the last attachment. Dropping the handle does the same but waits
    /// at most 10 s (or the [`Options::timeout`]) for the lock, and then only detaches.
    ///
    /// # Errors
    /// [`ErrorKind::Timeout`] if Qt's lock stayed taken for the [`Options::timeout`] (the
    /// handle is detached anyway, without removing anything), [`ErrorKind::Os`].
    pub fn detach(mut self) -> Result<()> {
        let wait = self
            .timeout
            .map_or(Wait::Forever, |t| Wait::Until(Instant::now() + t));
        self.detach_with(wait)
    }

    fn detach_with(&mut self, wait: Wait) -> Result<()> {
        let Some(mem) = self.mem.take() else {
            return Ok(());
        };
        match mem {
            Mem::Posix(seg) => {
                // Qt's POSIX detach (munmap, close) runs under the lock, and never removes.
                let guard = RawGuard::take(&self.sem, wait, Op::Remove, &self.key, self.timeout);
                drop(seg);
                guard.map(drop)
            }
            Mem::SystemV(mut m) => {
                match RawGuard::take(&self.sem, wait, Op::Remove, &self.key, self.timeout) {
                    Ok(guard) => {
                        let r = m.detach(true);
                        drop(guard);
                        r.map_err(|e| Error::os(Op::Remove, self.key.to_string(), e))
                    }
                    Err(e) => {
                        // Without the lock, removing could race a Qt attach: only detach.
                        let _ = m.detach(false);
                        Err(e)
                    }
                }
            }
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let wait = Wait::Until(Instant::now() + self.timeout.unwrap_or(DROP_LOCK_WAIT));
        let _ = self.detach_with(wait);
    }
}

/// Qt's lock, held: released when dropped (`QSharedMemory::unlock()`).
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    seg: &'a Segment,
}

impl LockGuard<'_> {
    /// Releases the lock now, reporting a failure (dropping the guard ignores it).
    ///
    /// # Errors
    /// [`ErrorKind::Os`] if the semaphore cannot be reached.
    pub fn unlock(self) -> Result<()> {
        let seg = self.seg;
        std::mem::forget(self);
        seg.sem
            .release()
            .map_err(|e| lock_error(Op::Lock, &seg.key, e))
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.seg.sem.release();
    }
}

/// What the system holds for a Qt key, looked up without attaching, locking or creating
/// anything (unlike [`Segment::open`], which, as Qt's `attach()`, creates the lock if missing).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Status {
    /// The key looked up.
    pub key: Key,
    /// Whether the segment exists.
    pub exists: bool,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// System V: how many attachments it has (`shm_nattch`).
    pub attached: Option<u64>,
    /// System V: the creator's process id.
    pub creator_pid: Option<u32>,
    /// System V: the last process that attached or detached.
    pub last_pid: Option<u32>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner's user id.
    pub uid: Option<u32>,
    /// The System V key (`ftok` of the key file), if the key file exists.
    pub sysv_key: Option<i32>,
    /// The lock's value: 1 free, 0 taken; `None` if the lock does not exist now.
    pub lock_value: Option<i32>,
    /// System V: the last process that took or released the lock.
    pub lock_last_pid: Option<u32>,
}

/// Looks up the objects of `key` (see [`Status`]).
///
/// # Errors
/// [`ErrorKind::Unsupported`] off Linux; otherwise missing objects are reported in the
/// [`Status`], not as errors.
pub fn inspect(key: &Key) -> Result<Status> {
    let mut st = Status {
        key: key.clone(),
        exists: false,
        size: None,
        attached: None,
        creator_pid: None,
        last_pid: None,
        mode: None,
        uid: None,
        sysv_key: None,
        lock_value: None,
        lock_last_pid: None,
    };
    let unsupported = |e: &std::io::Error| e.kind() == std::io::ErrorKind::Unsupported;
    match &key.native {
        Native::SystemV { path, proj } => {
            match sysv::ftok(Path::new(path), *proj) {
                Ok(k) => {
                    st.sysv_key = Some(k);
                    if let Ok(s) = sysv::shm_lookup(k, 0).and_then(sysv::shm_stat) {
                        st.exists = true;
                        st.size = Some(s.size);
                        st.attached = Some(s.nattch);
                        st.creator_pid = Some(s.cpid);
                        st.last_pid = Some(s.lpid);
                        st.mode = Some(s.mode);
                        st.uid = Some(s.uid);
                    }
                }
                Err(e) if unsupported(&e) => {
                    return Err(Error::os(Op::Inspect, key.to_string(), e));
                }
                Err(_) => {}
            }
            if let Ok(id) = sysv::ftok(Path::new(&key.lock_key()), *proj).and_then(sysv::sem_lookup)
            {
                st.lock_value = sysv::sem_value(id).ok();
                st.lock_last_pid = sysv::sem_last_pid(id).ok();
            }
        }
        Native::Posix { .. } => {
            if let Some(name) = key.posix_name() {
                if let Ok(info) = crate::Segment::info(name.as_str()) {
                    st.exists = true;
                    st.size = Some(info.size);
                    st.mode = Some(info.mode);
                    st.uid = Some(info.uid);
                }
            }
            match sysv::NamedSemaphore::open_existing(&key.lock_key()) {
                Ok(sem) => st.lock_value = sem.value().ok(),
                Err(e) if unsupported(&e) => {
                    return Err(Error::os(Op::Inspect, key.to_string(), e));
                }
                Err(_) => {}
            }
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_keys_match_what_pyside6_derives() {
        // Expected values printed by PySide6 6.12: QSharedMemory.legacyNativeKey(k).nativeKey().
        let cases = [
            (
                "demo",
                "qipc_sharedmemory_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91",
            ),
            (
                "my.app-key 1",
                "qipc_sharedmemory_myappkey8f4f0311d0ffdbae210fa32f9203f740263571f6",
            ),
            (
                "Ünïcödé/ключ",
                "qipc_sharedmemory_ncd9f5ac7917a626f7126df5a942e8031eb406921c6",
            ),
            (
                "a b\tc!@#$%^&*()",
                "qipc_sharedmemory_abc5a2fd46e2ff1658e5f3813a9e5a4c3307547a424",
            ),
            (
                "123",
                "qipc_sharedmemory_40bd001563085fc35165329ea1ff5c5ecbdbbeef",
            ),
        ];
        for (k, want) in cases {
            let key = Key::legacy_in(k, "/tmp").unwrap();
            assert_eq!(key.native_key(), format!("/tmp/{want}"), "{k:?}");
            assert_eq!(
                key.lock_key(),
                format!("/tmp/{}", want.replace(SEGMENT_PREFIX, SEMAPHORE_PREFIX))
            );
            let posix = Key::legacy_posix(k).unwrap();
            assert_eq!(posix.native_key(), format!("/{want}"));
            assert_eq!(posix.posix_name().unwrap().as_str(), want);
        }
    }

    #[test]
    fn temp_dirs_are_cleaned_like_qdir() {
        assert_eq!(clean_path("/var//tmp/./"), "/var/tmp");
        assert_eq!(clean_path("/tmp/../var/tmp"), "/var/tmp");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(
            Key::legacy_in("demo", "/").unwrap().native_key(),
            "//qipc_sharedmemory_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91"
        );
    }

    #[test]
    fn key_limits_are_qts() {
        assert!(Key::legacy_in(&"a".repeat(197), "/tmp").is_ok());
        assert!(Key::legacy_in(&"a".repeat(198), "/tmp").is_err());
        assert!(Key::legacy_in(&"1".repeat(1000), "/tmp").is_ok());
        assert!(Key::legacy_posix(&"a".repeat(196)).is_ok());
        assert!(Key::legacy_posix(&"a".repeat(197)).is_err());
        assert!(Key::native_posix(&"n".repeat(251)).is_ok());
        assert!(Key::native_posix(&"n".repeat(252)).is_err());
        assert!(Key::legacy("").is_err());
        assert!(Key::native_posix("/a/b").is_err());
    }

    #[test]
    fn key_strings_parse_like_qnativeipckey_fromstring() {
        let k: Key = "systemv:/tmp/qipc_sharedmemory_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91?legacyKey=demo"
            .parse()
            .unwrap();
        assert_eq!(k.backend(), Backend::SystemV);
        assert_eq!(k.legacy_key(), Some("demo"));
        assert_eq!(k.project_id(), Some(0x51));
        let p: Key = "POSIX:/a%20b".parse().unwrap();
        assert_eq!(p.native_key(), "/a b");
        assert_eq!(p.to_string(), "posix:/a b");
        assert_eq!("posix:x".parse::<Key>().unwrap().native_key(), "x");
        assert_eq!("posix:/x#frag".parse::<Key>().unwrap().native_key(), "/x");
        assert_eq!("posix:///x".parse::<Key>().unwrap().native_key(), "/x");
        assert_eq!(
            "systemv-5:/tmp/x".parse::<Key>().unwrap().project_id(),
            Some(5)
        );
        assert_eq!(
            "systemv-5:/tmp/x".parse::<Key>().unwrap().to_string(),
            "systemv-5:/tmp/x"
        );
        assert_eq!(
            "systemv:/tmp/%C3%BC".parse::<Key>().unwrap().native_key(),
            "/tmp/ü"
        );
        for bad in [
            "posix:/x?foo=1",
            "nothing",
            "posix:",
            "posix://host/x",
            "systemv-0:/x",
            "systemv-300:/x",
            "posix:/x%zz",
        ] {
            assert_eq!(
                bad.parse::<Key>().unwrap_err().kind(),
                ErrorKind::InvalidName,
                "{bad}"
            );
        }
        assert_eq!(
            "windows:x".parse::<Key>().unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }

    #[test]
    fn key_strings_round_trip_awkward_characters() {
        let k = Key::legacy_in("a b/ü?&#%=+\t", "/tmp").unwrap();
        let back: Key = k.to_string().parse().unwrap();
        assert_eq!(back.native_key(), k.native_key());
        assert_eq!(back.legacy_key(), Some("a b/ü?&#%=+\t"));
        let p = Key::native_posix("/50% off?#x").unwrap();
        assert_eq!(p.to_string(), "posix:/50%25 off%3F%23x");
        assert_eq!(
            p.to_string().parse::<Key>().unwrap().native_key(),
            "/50% off?#x"
        );
    }

    #[test]
    fn native_posix_keys_use_their_own_name_for_the_lock() {
        let k = Key::native_posix("frames").unwrap();
        assert_eq!(k.native_key(), "/frames");
        assert_eq!(k.lock_key(), "/frames");
        assert_eq!(k.lock_file(), PathBuf::from("/dev/shm/sem.frames"));
        assert_eq!(Key::platform_safe("frames").unwrap(), k);
        let l = Key::legacy_posix("demo").unwrap();
        assert_eq!(
            l.lock_file(),
            PathBuf::from(
                "/dev/shm/sem.qipc_systemsem_demo89e495e7941cf9e40e6980d14a16bf023ccd4c91"
            )
        );
    }
}
