//! The bridge: one Zenoh session, any number of exports and imports, their events and counters.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use shmkit::stream::Policy;
use shmkit::{Format, SegmentName};
use zenoh::Wait;
use zenoh::key_expr::KeyExpr;

use crate::error::{Error, ErrorKind, Result};
use crate::net::NetOptions;
use crate::{export, import};

/// How often the bridge's threads look up from a wait (to notice a stop, a removed stream).
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// The key an export publishes on unless told otherwise: `shmkit/NAME`.
pub fn default_key(name: &str) -> String {
    format!("shmkit/{name}")
}

/// A local stream or cell to publish to Zenoh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub(crate) name: String,
    pub(crate) key: String,
}

impl Export {
    /// Exports the stream or cell `name` to the key `shmkit/NAME`.
    pub fn new(name: impl Into<String>) -> Export {
        let name = name.into();
        Export {
            key: default_key(&name),
            name,
        }
    }

    /// Publishes on `key` instead (a key expression without wildcards).
    pub fn key(mut self, key: impl Into<String>) -> Export {
        self.key = key.into();
        self
    }

    /// What it is, for messages: `cam0 → shmkit/cam0`.
    pub fn describe(&self) -> String {
        format!("{} → {}", self.name, self.key)
    }
}

/// Whether an import feeds a stream or a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalKind {
    /// A stream of frames.
    Stream,
    /// A latest-value cell.
    Cell,
}

/// What arrives on a Zenoh key, to publish into a local stream or cell.
///
/// A missing local stream or cell is created — by default like the exporter's: its kind,
/// largest frame (or capacity), ring, policy and format, as the first sample (or the exporter's
/// answer to the import's query) says; the options set here override that. With a kind and a
/// size ([`max_frame`](Self::max_frame) or [`capacity`](Self::capacity)) it is created at once,
/// before anything arrives. Samples of other Zenoh programs say nothing of sizes: a stream (the
/// default kind) made for them takes frames up to 64 KiB, or the first sample's size if larger.
/// An existing one is used as it is (a stream's publisher must be gone: one publisher at a
/// time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) kind: Option<LocalKind>,
    pub(crate) max_frame: Option<usize>,
    pub(crate) ring: Option<usize>,
    pub(crate) policy: Option<Policy>,
    pub(crate) capacity: Option<usize>,
    pub(crate) format: Option<Format>,
    pub(crate) mode: Option<u32>,
}

impl Import {
    /// Imports what arrives on the key expression `key` into `name`.
    pub fn new(key: impl Into<String>, name: impl Into<String>) -> Import {
        Import {
            key: key.into(),
            name: name.into(),
            kind: None,
            max_frame: None,
            ring: None,
            policy: None,
            capacity: None,
            format: None,
            mode: None,
        }
    }

    /// Creates a stream or a cell whatever the exporter has (default: what it has; a stream
    /// for samples from other Zenoh programs).
    pub fn kind(mut self, kind: LocalKind) -> Import {
        self.kind = Some(kind);
        self
    }

    /// The largest frame of a created stream.
    pub fn max_frame(mut self, bytes: usize) -> Import {
        self.max_frame = Some(bytes);
        self
    }

    /// The ring of a created stream.
    pub fn ring(mut self, bytes: usize) -> Import {
        self.ring = Some(bytes);
        self
    }

    /// The policy of a created stream.
    pub fn policy(mut self, policy: Policy) -> Import {
        self.policy = Some(policy);
        self
    }

    /// The capacity of a created cell.
    pub fn capacity(mut self, bytes: usize) -> Import {
        self.capacity = Some(bytes);
        self
    }

    /// The format recorded in a created stream or cell.
    pub fn format(mut self, format: Format) -> Import {
        self.format = Some(format);
        self
    }

    /// Permission bits of a created stream or cell (default `0600`).
    pub fn mode(mut self, mode: u32) -> Import {
        self.mode = Some(mode);
        self
    }

    /// Whether the local side is fully described here, so that it can be created before
    /// anything arrives.
    pub(crate) fn complete(&self) -> bool {
        let image = self.format.as_ref().and_then(Format::frame_len).is_some();
        match self.kind {
            Some(LocalKind::Cell) => self.capacity.is_some() || image,
            Some(LocalKind::Stream) => self.max_frame.is_some() || image,
            None => false,
        }
    }

    /// What it is, for messages: `shmkit/cam0 → cam0`.
    pub fn describe(&self) -> String {
        format!("{} → {}", self.key, self.name)
    }
}

/// How important an [`Event`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// What happens: a stream opened, created, followed.
    Info,
    /// Something the user should know: frames that do not fit, a source that changed.
    Warning,
    /// An export or import stopped for good (its error says why).
    Fatal,
}

/// Something that happened to an export or import.
#[derive(Debug)]
pub struct Event {
    /// How important it is.
    pub level: Level,
    /// Which export or import (`cam0 → shmkit/cam0`).
    pub about: String,
    /// What happened, in words.
    pub text: String,
    /// For [`Level::Fatal`]: the error that stopped it.
    pub error: Option<Error>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.about, self.text)
    }
}

/// An export's or import's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Local to Zenoh.
    Export,
    /// Zenoh to local.
    Import,
}

/// The counters of one export or import (a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Export or import.
    pub direction: Direction,
    /// Which (`cam0 → shmkit/cam0`).
    pub about: String,
    /// Frames (or values) forwarded.
    pub frames: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Frames lost. Export: frames of the local stream its subscriber lost (overwritten before
    /// it read them). Import: frames numbered by the source that never arrived (skipped,
    /// dropped by Zenoh, or sent while no exporter ran), counted in the local stream too.
    pub lost: u64,
    /// Export: frames overwritten while they were copied out (not sent). Import: frames (or
    /// values) larger than the local stream's largest frame (or cell's capacity), not
    /// published and counted as lost locally.
    pub discarded: u64,
    /// Times the source changed: the local stream or cell made anew (export), or frames from a
    /// new incarnation of the remote one (import).
    pub restarts: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) restarts: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self, direction: Direction, about: &str) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            direction,
            about: about.to_string(),
            frames: get(&self.frames),
            bytes: get(&self.bytes),
            lost: get(&self.lost),
            discarded: get(&self.discarded),
            restarts: get(&self.restarts),
        }
    }
}

/// What every export and import shares with the bridge.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    events: Mutex<mpsc::Sender<Event>>,
}

impl Shared {
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Reports an event (dropped if nobody listens any more).
    pub(crate) fn event(&self, level: Level, about: &str, text: impl Into<String>) {
        self.send(Event {
            level,
            about: about.to_string(),
            text: text.into(),
            error: None,
        });
    }

    /// Reports the error that stopped an export or import.
    pub(crate) fn fatal(&self, about: &str, error: Error) {
        self.send(Event {
            level: Level::Fatal,
            about: about.to_string(),
            text: error.to_string(),
            error: Some(error),
        });
    }

    fn send(&self, event: Event) {
        if let Ok(tx) = self.events.lock() {
            let _ = tx.send(event);
        }
    }
}

/// A running export or import.
pub(crate) trait Running: Send {
    /// Stops it and waits for its thread, if it has one.
    fn stop(&mut self);
}

struct Item {
    direction: Direction,
    about: String,
    local: String,
    key: String,
    counters: Arc<Counters>,
    running: Box<dyn Running>,
}

/// A Zenoh session carrying exports and imports. Dropping it (or [`close`](Self::close)) stops
/// them all: exports let go of their streams, imports of theirs (a stream or cell the bridge
/// created goes away once its last local reader closes it).
pub struct Bridge {
    session: zenoh::Session,
    shared: Arc<Shared>,
    events: Mutex<mpsc::Receiver<Event>>,
    items: Vec<Item>,
    warnings: Vec<String>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("zid", &self.session.zid().to_string())
            .field(
                "items",
                &self.items.iter().map(|i| &i.about).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Bridge {
    /// Opens a Zenoh session as `net` says.
    ///
    /// # Errors
    /// As for [`NetOptions::to_zenoh`]; [`ErrorKind::Zenoh`] if Zenoh cannot open the session
    /// (a listen endpoint taken or not on this machine, unreadable TLS files).
    pub fn open(net: &NetOptions) -> Result<Bridge> {
        let (config, warnings) = net.to_zenoh()?;
        let session = zenoh::open(config).wait().map_err(|e| {
            Error::zenoh("open the Zenoh session", e).hint(
                "is another bridge listening on that endpoint, or is the address not this \
                 machine's?",
            )
        })?;
        let (tx, rx) = mpsc::channel();
        Ok(Bridge {
            session,
            shared: Arc::new(Shared {
                stop: AtomicBool::new(false),
                events: Mutex::new(tx),
            }),
            events: Mutex::new(rx),
            items: Vec::new(),
            warnings,
        })
    }

    /// The warnings of an insecure setup the caller accepted
    /// ([`NetOptions::insecure`]): show them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The Zenoh session, for programs that also talk to Zenoh directly.
    pub fn session(&self) -> &zenoh::Session {
        &self.session
    }

    /// The Zenoh peers and routers this node is connected to, by Zenoh id (Zenoh does not list
    /// the clients connected here).
    pub fn connected(&self) -> Vec<String> {
        let info = self.session.info();
        let mut ids: Vec<String> = info.peers_zid().wait().map(|z| z.to_string()).collect();
        ids.extend(info.routers_zid().wait().map(|z| z.to_string()));
        ids
    }

    /// Starts exporting: from now on (and whenever it exists), every frame of the stream, or
    /// every value of the cell, `export.name` goes to `export.key`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] for a bad key expression or one with wildcards;
    /// `InvalidName` (as [`ErrorKind::Local`]) for a bad name; [`ErrorKind::InvalidConfig`]
    /// if this bridge already exports that name or imports into it, or exports on that key;
    /// [`ErrorKind::Zenoh`] if Zenoh refuses the declarations.
    pub fn export(&mut self, export: &Export) -> Result<()> {
        let about = export.describe();
        let name = check_name(&about, &export.name)?;
        let key = check_key(&about, &export.key)?;
        if key.is_wild() {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!("export {about}"),
                format!("{key} has wildcards; an export publishes on one key"),
            )
            .hint("give --key a key without * or $*, e.g. shmkit/NAME"));
        }
        for i in &self.items {
            if i.local == export.name {
                return Err(self.clash(&about, i, "the same local name"));
            }
            if i.direction == Direction::Export && i.key == export.key {
                return Err(self.clash(&about, i, "the same key"));
            }
        }
        let counters = Arc::new(Counters::default());
        let running = export::start(
            &self.session,
            name,
            key,
            about.clone(),
            counters.clone(),
            self.shared.clone(),
        )?;
        self.items.push(Item {
            direction: Direction::Export,
            about,
            local: export.name.clone(),
            key: export.key.clone(),
            counters,
            running,
        });
        Ok(())
    }

    /// Starts importing: what arrives on `import.key` is published into the local stream or
    /// cell `import.name` (see [`Import`] for how it is created).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`] for a bad key expression; `InvalidName` (as
    /// [`ErrorKind::Local`]) for a bad name; [`ErrorKind::InvalidConfig`] if this bridge
    /// already imports into that name or exports it; [`ErrorKind::NameClash`] if the name
    /// exists and cannot be fed (another live publisher, another kind of segment);
    /// [`ErrorKind::Local`] if it cannot be created; [`ErrorKind::Zenoh`] if Zenoh refuses the
    /// subscription.
    pub fn import(&mut self, import: &Import) -> Result<()> {
        let about = import.describe();
        check_name(&about, &import.name)?;
        let key = check_key(&about, &import.key)?;
        if let Some(i) = self.items.iter().find(|i| i.local == import.name) {
            return Err(self.clash(&about, i, "the same local name"));
        }
        let counters = Arc::new(Counters::default());
        let running = import::start(
            &self.session,
            import.clone(),
            key,
            about.clone(),
            counters.clone(),
            self.shared.clone(),
        )?;
        self.items.push(Item {
            direction: Direction::Import,
            about,
            local: import.name.clone(),
            key: import.key.clone(),
            counters,
            running,
        });
        Ok(())
    }

    fn clash(&self, about: &str, other: &Item, what: &str) -> Error {
        let verb = match other.direction {
            Direction::Export => "exports",
            Direction::Import => "imports",
        };
        Error::new(
            ErrorKind::InvalidConfig,
            format!("bridge {about}"),
            format!("this bridge already {verb} {} with {what}", other.about),
        )
        .hint("give each export and import its own name and key")
    }

    /// The next event of any export or import, waiting at most `timeout` for one.
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        let rx = self.events.lock().ok()?;
        rx.recv_timeout(timeout).ok()
    }

    /// The counters of every export and import, in the order they were started.
    pub fn stats(&self) -> Vec<Stats> {
        self.items
            .iter()
            .map(|i| i.counters.snapshot(i.direction, &i.about))
            .collect()
    }

    /// Stops every export and import and closes the Zenoh session.
    ///
    /// # Errors
    /// [`ErrorKind::Zenoh`] if the session does not close cleanly.
    pub fn close(mut self) -> Result<()> {
        self.stop_all();
        self.session
            .close()
            .wait()
            .map_err(|e| Error::zenoh("close the Zenoh session", e))
    }

    fn stop_all(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for item in &mut self.items {
            item.running.stop();
        }
        self.items.clear();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Validates a local name.
fn check_name(about: &str, name: &str) -> Result<SegmentName> {
    SegmentName::new(name).map_err(|e| Error::local(format!("bridge {about}"), e))
}

/// Validates a key expression.
fn check_key(about: &str, key: &str) -> Result<KeyExpr<'static>> {
    KeyExpr::try_from(key.to_string()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidKey,
            format!("bridge {about}"),
            format!("{key:?} is not a Zenoh key expression: {e}"),
        )
        .hint(
            "keys are chunks of letters, digits and - _ . separated by /, like shmkit/cam0; \
             * and ** match chunks",
        )
    })
}
