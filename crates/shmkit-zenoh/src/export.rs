//! An export: one more subscriber of a local stream (or reader of a cell), publishing every
//! frame (or value) to a Zenoh key.
//!
//! One thread per export waits on the local stream or cell (the library's futex waits, in
//! slices of [`SLICE`] to notice a stop or a removed name) and puts each frame to Zenoh from
//! there: no hop to another thread between the ring and Zenoh. While the stream or cell exists,
//! a queryable on the same key answers importers: a cell's current value, a stream's
//! description. It is declared once the source is open and undeclared when it goes, so that an
//! importer's querier sees an exporter appear exactly when there is something to answer.
//!
//! | source | Zenoh congestion control | when the network is slower |
//! |---|---|---|
//! | `Overwrite` stream | `Drop` | Zenoh drops frames instead of queueing them; the newest keep coming; the importer counts the gaps |
//! | `Block` stream | `Block` | the put waits, the exporter's cursor stays, the local publisher waits |
//! | cell | `Block` | the put waits; the next read takes the newest value (values in between are superseded, not lost) |

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use shmkit::stream::{Policy, StreamOptions, Subscriber};
use shmkit::{Access, Cell, CellOptions, ErrorKind as LocalErrorKind, Kind, Segment, SegmentKind};
use shmkit::{SegmentName, human_bytes};
use zenoh::Wait;
use zenoh::bytes::{Encoding, ZBytes};
use zenoh::key_expr::KeyExpr;
use zenoh::qos::CongestionControl;
use zenoh::query::Query;
use zenoh::sample::Locality;

use crate::bridge::{Counters, Level, Running, SLICE, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::wire::{Meta, SampleKind, encoding};

/// What the queryable answers: the source being exported now, if any.
#[derive(Default)]
struct Current {
    meta: Option<Meta>,
    encoding: Encoding,
    cell: Option<Arc<Cell>>,
}

/// A running export: its thread.
struct Exporting {
    thread: Option<JoinHandle<()>>,
}

impl Running for Exporting {
    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The export's thread's world.
struct Ctx {
    session: zenoh::Session,
    name: SegmentName,
    key: KeyExpr<'static>,
    about: String,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    current: Arc<Mutex<Current>>,
    pool: Pool,
    /// A put failed and was reported (once per source).
    warned: AtomicBool,
}

/// Why serving one incarnation of the source ended.
enum End {
    Stopped,
    Removed,
    Failed(Error),
}

/// Starts the export's thread.
pub(crate) fn start(
    session: &zenoh::Session,
    name: SegmentName,
    key: KeyExpr<'static>,
    about: String,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
) -> Result<Box<dyn Running>> {
    let ctx = Ctx {
        session: session.clone(),
        name,
        key,
        about: about.clone(),
        counters,
        shared,
        current: Arc::new(Mutex::new(Current::default())),
        pool: Pool::default(),
        warned: AtomicBool::new(false),
    };
    let thread = std::thread::Builder::new()
        .name(format!("export {}", ctx.name))
        .spawn(move || ctx.run())
        .map_err(|e| Error::new(ErrorKind::Local, format!("export {about}"), e.to_string()))?;
    Ok(Box::new(Exporting {
        thread: Some(thread),
    }))
}

/// Answers a query on the export's key: a cell's current value, or a stream's description (an
/// empty payload); nothing while the source does not exist.
fn reply(query: &Query, key: &KeyExpr<'static>, current: &Mutex<Current>) {
    let Ok(cur) = current.lock() else { return };
    let Some(meta) = cur.meta else { return };
    let (payload, meta) = match &cur.cell {
        Some(cell) => {
            let mut buf = Vec::new();
            match cell.read_into(&mut buf) {
                Ok(0) | Err(_) => return, // nothing published yet, or scribbled on
                Ok(seq) => (
                    buf,
                    Meta {
                        seq,
                        time_ns: ns(cell.last_publish()),
                        ..meta
                    },
                ),
            }
        }
        None => (
            Vec::new(),
            Meta {
                kind: SampleKind::Description,
                ..meta
            },
        ),
    };
    let _ = query
        .reply(key.clone(), payload)
        .attachment(meta.encode())
        .encoding(cur.encoding.clone())
        .wait();
}

/// Nanoseconds since the Unix epoch (0 for none).
fn ns(t: Option<std::time::SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// An open source.
enum Source {
    Stream(Box<Subscriber>),
    Cell(Arc<Cell>),
}

impl Source {
    fn segment(&self) -> &Segment {
        match self {
            Source::Stream(s) => s.segment(),
            Source::Cell(c) => c.segment(),
        }
    }
}

/// How long the export's subscriber spins for the next frame before it sleeps, while frames
/// follow each other closely (less than [`BUSY`] apart): then the publisher makes no wake-up
/// system call and the export does not sleep. A stream with gaps between its frames does not
/// spin: the CPU it would take is what its Zenoh threads need to send the frame.
const SPIN: Duration = Duration::from_micros(50);
/// Frames closer together than this make the export spin.
const BUSY: Duration = Duration::from_micros(200);

/// Opens the stream or cell `name` for reading, whichever it is.
fn open(name: &SegmentName) -> shmkit::Result<Source> {
    let info = Segment::info(name.as_str())?;
    match info.kind {
        SegmentKind::Shmkit(Kind::Stream) => StreamOptions::new()
            .subscribe(name)
            .map(|s| Source::Stream(Box::new(s))),
        SegmentKind::Shmkit(Kind::Cell) => CellOptions::new()
            .access(Access::ReadOnly)
            .open(name)
            .map(|c| Source::Cell(Arc::new(c))),
        // Anything else: the library's own words on what it is (or, if it became a stream
        // meanwhile, the stream).
        _ => StreamOptions::new()
            .subscribe(name)
            .map(|s| Source::Stream(Box::new(s))),
    }
}

impl Ctx {
    fn run(self) {
        let mut said_waiting = false;
        let mut last_source = None;
        while !self.shared.stopped() {
            let source = match open(&self.name) {
                Ok(s) => s,
                Err(e) if e.kind() == LocalErrorKind::NotFound => {
                    if !said_waiting {
                        self.info(format!(
                            "waiting for the stream or cell {} to appear",
                            self.name
                        ));
                        said_waiting = true;
                    }
                    std::thread::sleep(SLICE);
                    continue;
                }
                Err(e) => {
                    let err = Error::local(format!("export {}", self.about), e);
                    let err = if err.kind() == ErrorKind::NameClash {
                        err.hint("an export reads a stream or a cell")
                    } else {
                        err
                    };
                    self.shared.fatal(&self.about, err);
                    return;
                }
            };
            said_waiting = false;
            let created = ns(source.segment().created());
            if last_source.is_some_and(|s| s != created) {
                Counters::add(&self.counters.restarts, 1);
                self.info(format!(
                    "{} was made anew: exporting the new one",
                    self.name
                ));
            }
            last_source = Some(created);
            self.warned.store(false, Ordering::Relaxed);
            let end = match source {
                Source::Stream(sub) => self.serve_stream(*sub, created),
                Source::Cell(cell) => self.serve_cell(cell, created),
            };
            if let Ok(mut cur) = self.current.lock() {
                *cur = Current::default();
            }
            match end {
                End::Stopped => return,
                End::Removed => self.info(format!(
                    "{} was removed: waiting for it to come back",
                    self.name
                )),
                End::Failed(e) => {
                    self.shared.fatal(&self.about, e);
                    return;
                }
            }
        }
    }

    fn info(&self, text: String) {
        self.shared.event(Level::Info, &self.about, text);
    }

    fn failed(&self, e: shmkit::Error) -> End {
        End::Failed(Error::local(format!("export {}", self.about), e))
    }

    fn publisher(
        &self,
        cc: CongestionControl,
        encoding: &Encoding,
    ) -> std::result::Result<zenoh::pubsub::Publisher<'static>, End> {
        self.session
            .declare_publisher(self.key.clone())
            .congestion_control(cc)
            .encoding(encoding.clone())
            .allowed_destination(Locality::Remote)
            .wait()
            .map_err(|e| End::Failed(Error::zenoh(format!("export {}", self.about), e)))
    }

    fn serve_stream(&self, mut sub: Subscriber, source: u64) -> End {
        let policy = sub.policy();
        let meta = Meta {
            kind: SampleKind::Frame,
            policy,
            seq: 0,
            time_ns: 0,
            source,
            max_len: sub.max_frame() as u64,
            ring: sub.ring_len() as u64,
        };
        let enc = encoding(sub.format());
        let cc = match policy {
            Policy::Overwrite => CongestionControl::Drop,
            Policy::Block => CongestionControl::Block,
        };
        let publisher = match self.publisher(cc, &enc) {
            Ok(p) => p,
            Err(end) => return end,
        };
        let _queryable = match self.answer(meta, &enc, None) {
            Ok(q) => q,
            Err(end) => return end,
        };
        let format = sub.format().map_or(String::new(), |f| format!(", {f}"));
        self.info(format!(
            "exporting the stream {} (frames up to {}, {policy}{format}) to {}",
            self.name,
            human_bytes(meta.max_len),
            self.key
        ));
        let mut last_look = Instant::now();
        // The time between the last two frames' arrivals.
        let (mut last_frame, mut gap) = (Instant::now(), Duration::MAX);
        loop {
            if self.shared.stopped() {
                return End::Stopped;
            }
            sub.set_spin(if gap < BUSY { SPIN } else { Duration::ZERO });
            let mut got_frame = true;
            let held = match sub.recv_view(SLICE) {
                // Block: the frame stays ours until released, so Zenoh reads it in place.
                Ok(view) if view.as_slice().is_some() => Some(view.detach()),
                Ok(view) => {
                    self.forward(view, &meta, &publisher);
                    None
                }
                Err(e) if e.kind() == LocalErrorKind::Timeout => {
                    got_frame = false;
                    None
                }
                Err(e) => return self.failed(e),
            };
            if let Some(frame) = held {
                self.forward_in_place(&frame, &meta, &publisher);
                let _ = sub.release(frame);
            }
            if got_frame {
                let now = Instant::now();
                (gap, last_frame) = (now - last_frame, now);
            }
            // Now and then (two system calls): a stream made anew under the name is another
            // one, and this one gets no more frames.
            if last_look.elapsed() >= SLICE {
                if sub.is_removed() {
                    return End::Removed;
                }
                last_look = Instant::now();
            }
        }
    }

    /// Copies a frame out of the ring (`Overwrite`: the publisher may overwrite it any time)
    /// and puts it to Zenoh.
    fn forward(
        &self,
        view: shmkit::stream::FrameView<'_>,
        meta: &Meta,
        publisher: &zenoh::pubsub::Publisher<'static>,
    ) {
        let got = view.received();
        let mut buf = self.pool.take(got.len);
        view.bytes().read_into(&mut buf);
        // The publisher may have lapped us while we copied; such a copy is no frame.
        let intact = view.is_intact();
        drop(view);
        if !intact {
            Counters::add(&self.counters.lost, got.lost);
            Counters::add(&self.counters.discarded, 1);
            return;
        }
        self.put(publisher, self.pool.bytes(buf), got, meta);
    }

    /// Puts a frame of a `Block` stream to Zenoh where it lies in the ring, and returns once
    /// Zenoh has let go of it (it copies the bytes into its batches during the put): then the
    /// frame may be released.
    fn forward_in_place(
        &self,
        frame: &shmkit::stream::DetachedFrame,
        meta: &Meta,
        publisher: &zenoh::pubsub::Publisher<'static>,
    ) {
        let gone = Arc::new((Mutex::new(false), Condvar::new()));
        let bytes = bytes::Bytes::from_owner(InRing {
            ptr: frame.as_ptr(),
            len: frame.len(),
            gone: gone.clone(),
        });
        self.put(publisher, ZBytes::from(bytes), frame.received(), meta);
        // Normally dropped already; should Zenoh hold on to the bytes, the frame must wait.
        let (lock, cond) = &*gone;
        let mut dropped = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !*dropped {
            dropped = cond.wait(dropped).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn put(
        &self,
        publisher: &zenoh::pubsub::Publisher<'static>,
        payload: ZBytes,
        got: shmkit::stream::Received,
        meta: &Meta,
    ) {
        Counters::add(&self.counters.lost, got.lost);
        let attachment = Meta {
            seq: got.seq,
            time_ns: got.time_ns,
            ..*meta
        }
        .encode();
        match publisher.put(payload).attachment(attachment).wait() {
            Ok(()) => {
                Counters::add(&self.counters.frames, 1);
                Counters::add(&self.counters.bytes, got.len as u64);
            }
            Err(e) => {
                // Said once per stream, not for every frame of a session that went away.
                if !self.warned.swap(true, Ordering::Relaxed) {
                    self.shared.event(
                        Level::Warning,
                        &self.about,
                        format!("Zenoh did not take frame #{} (said once): {e}", got.seq),
                    );
                }
            }
        }
    }

    fn serve_cell(&self, cell: Arc<Cell>, source: u64) -> End {
        let meta = Meta {
            kind: SampleKind::Value,
            policy: Policy::Overwrite,
            seq: 0,
            time_ns: 0,
            source,
            max_len: cell.capacity() as u64,
            ring: 0,
        };
        let enc = encoding(cell.format());
        let publisher = match self.publisher(CongestionControl::Block, &enc) {
            Ok(p) => p,
            Err(end) => return end,
        };
        // A subscriber that appears (an importer connecting, or reconnecting) gets the current
        // value at once, not at the next change.
        let resend = Arc::new(AtomicBool::new(false));
        let flag = resend.clone();
        if let Err(e) = publisher
            .matching_listener()
            .callback(move |status| {
                if status.matching() {
                    flag.store(true, Ordering::Relaxed);
                }
            })
            .background()
            .wait()
        {
            return End::Failed(Error::zenoh(format!("export {}", self.about), e));
        }
        let _queryable = match self.answer(meta, &enc, Some(cell.clone())) {
            Ok(q) => q,
            Err(end) => return end,
        };
        self.info(format!(
            "exporting the cell {} (values up to {}) to {}",
            self.name,
            human_bytes(meta.max_len),
            self.key
        ));
        let mut sent = 0;
        let mut buf = Vec::new();
        loop {
            if self.shared.stopped() {
                return End::Stopped;
            }
            let again = resend.swap(false, Ordering::Relaxed);
            if again || cell.seq() > sent {
                let seq = match cell.read_into(&mut buf) {
                    Ok(seq) => seq,
                    Err(e) => return self.failed(e),
                };
                // Seq 0 is the empty value of a cell nobody has written yet: nothing to say.
                if seq > 0 {
                    let attachment = Meta {
                        seq,
                        time_ns: ns(cell.last_publish()),
                        ..meta
                    }
                    .encode();
                    let len = buf.len() as u64;
                    match publisher
                        .put(ZBytes::from(buf.as_slice()))
                        .attachment(attachment)
                        .wait()
                    {
                        Ok(()) => {
                            Counters::add(&self.counters.frames, 1);
                            Counters::add(&self.counters.bytes, len);
                        }
                        Err(e) => {
                            if !self.warned.swap(true, Ordering::Relaxed) {
                                self.shared.event(
                                    Level::Warning,
                                    &self.about,
                                    format!("Zenoh did not take value #{seq} (said once): {e}"),
                                );
                            }
                        }
                    }
                    sent = seq;
                    continue;
                }
            }
            match cell.wait_newer(sent, Some(SLICE)) {
                Ok(_) => {}
                Err(e) if e.kind() == LocalErrorKind::Timeout => {
                    if cell.segment().is_removed() {
                        return End::Removed;
                    }
                }
                Err(e) => return self.failed(e),
            }
        }
    }

    /// Makes the queryable answer for this source, and declares it: what a query gets from
    /// now on until the returned queryable is dropped (with the source).
    fn answer(
        &self,
        meta: Meta,
        enc: &Encoding,
        cell: Option<Arc<Cell>>,
    ) -> std::result::Result<zenoh::query::Queryable<()>, End> {
        if let Ok(mut cur) = self.current.lock() {
            *cur = Current {
                meta: Some(meta),
                encoding: enc.clone(),
                cell,
            };
        }
        let (key, current) = (self.key.clone(), self.current.clone());
        self.session
            .declare_queryable(self.key.clone())
            .allowed_origin(Locality::Remote)
            .callback(move |query| reply(&query, &key, &current))
            .wait()
            .map_err(|e| End::Failed(Error::zenoh(format!("export {}", self.about), e)))
    }
}

/// A frame of a `Block` stream lent to Zenoh where it lies in the ring; its drop says Zenoh is
/// done with it.
struct InRing {
    ptr: *const u8,
    len: usize,
    gone: Arc<(Mutex<bool>, Condvar)>,
}

// SAFETY: an address and a length in the stream's mapping, which the export's subscriber keeps
// mapped (the export thread waits for this value's drop before it lets go of the frame); reading
// it from another thread is what `FrameView::as_slice` already allows for `Block` frames.
unsafe impl Send for InRing {}

impl AsRef<[u8]> for InRing {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is a frame of a `Block` stream, detached from the export's
        // subscriber and not released: the publisher does not write it until the subscriber's
        // cursor passes it (`FrameView`'s protocol argument), and the export releases it only
        // after this value is dropped (`forward_in_place` waits for `gone`). The mapping lives as
        // long as the subscriber, which outlives that wait.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for InRing {
    fn drop(&mut self) {
        let (lock, cond) = &*self.gone;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cond.notify_all();
    }
}

/// Buffers handed to Zenoh and given back when it drops them: a frame of megabytes is copied
/// into memory already mapped, not into a fresh allocation that faults in page by page.
#[derive(Default, Clone)]
struct Pool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Buffers kept for reuse.
const POOLED: usize = 4;

impl Pool {
    /// An empty buffer with room for `len` bytes.
    fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = self
            .free
            .lock()
            .ok()
            .and_then(|mut f| f.pop())
            .unwrap_or_default();
        buf.clear();
        buf.reserve(len);
        buf
    }

    /// `buf` as Zenoh bytes that come back to the pool when Zenoh lets go of them.
    fn bytes(&self, buf: Vec<u8>) -> ZBytes {
        ZBytes::from(bytes::Bytes::from_owner(Pooled {
            buf,
            pool: self.free.clone(),
        }))
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.lock() {
            if free.len() < POOLED {
                free.push(std::mem::take(&mut self.buf));
            }
        }
    }
}
