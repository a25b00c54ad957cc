//! An import: a Zenoh subscriber that is the publisher of a local stream (or writer of a cell).
//!
//! Samples are published into the local stream from Zenoh's own delivery callback: the payload
//! is copied once, from Zenoh's buffers into the ring (a loan), with no thread in between. For
//! a `Block` stream the callback waits while a local subscriber holds the ring full: Zenoh
//! stops reading the link, TCP's window closes, and the exporter's put waits — backpressure
//! from the far subscriber to the near publisher.
//!
//! Sequence numbers: for each source (an incarnation of the remote stream, as the attachment
//! says) the import remembers the last sequence number it published. A gap is skipped in the
//! local stream ([`Publisher::skip`]), so that every local subscriber counts those frames as
//! lost; an older or repeated number (a query's reply racing the subscription) is dropped.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use shmkit::stream::{Policy, Publisher, StreamOptions};
use shmkit::{Cell, CellOptions, ErrorKind as LocalErrorKind, Kind, Segment, SegmentKind};
use shmkit::{Format, human_bytes};
use zenoh::Wait;
use zenoh::bytes::{Encoding, ZBytes};
use zenoh::key_expr::KeyExpr;
use zenoh::query::ConsolidationMode;
use zenoh::sample::{Locality, Sample};

use crate::bridge::{Counters, Import, Level, LocalKind, Running, SLICE, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::wire::{self, Meta, SampleKind};

/// How long a query of the import for the exporters' state stays open.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Sources remembered for sequence accounting (a wildcard import may have several).
const SOURCES: usize = 16;
/// The largest frame of a stream created for samples that do not say (other Zenoh programs),
/// unless the first sample is larger.
const DEFAULT_MAX_FRAME: usize = 64 << 10;

/// The local side being fed.
enum Target {
    Stream(Publisher),
    Cell(Cell),
}

/// Everything the Zenoh callbacks touch, behind one mutex (samples of one link arrive in order
/// from one task; this serialises those of several).
struct State {
    spec: Import,
    about: String,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    target: Option<Target>,
    /// `(source, last sequence number published)`, most recent first.
    sources: Vec<(u64, u64)>,
    /// The import stopped for good (its error was reported).
    failed: bool,
    /// A too-large sample was reported already.
    warned_too_big: bool,
}

struct Importing {
    subscriber: Option<zenoh::pubsub::Subscriber<()>>,
    querier: Option<zenoh::query::Querier<'static>>,
    state: Arc<Mutex<State>>,
}

impl Running for Importing {
    fn stop(&mut self) {
        if let Some(s) = self.subscriber.take() {
            let _ = s.undeclare().wait();
        }
        if let Some(q) = self.querier.take() {
            let _ = q.undeclare().wait();
        }
        // Let go of the local stream or cell (a callback still running ends within a slice:
        // the bridge's stop flag is set).
        lock(&self.state).target = None;
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens or creates the local side if it can be now, subscribes, and asks the exporters for
/// what they have.
pub(crate) fn start(
    session: &zenoh::Session,
    spec: Import,
    key: KeyExpr<'static>,
    about: String,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
) -> Result<Box<dyn Running>> {
    if let Some(mode) = spec.mode.filter(|m| m & !0o777 != 0) {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("import {about}"),
            format!("mode {mode:o} has bits outside 0777"),
        ));
    }
    let mut state = State {
        spec,
        about: about.clone(),
        counters,
        shared,
        target: None,
        sources: Vec::new(),
        failed: false,
        warned_too_big: false,
    };
    // A name that exists is taken over now, and a fully described one created now: a clash is
    // an error of this call, not of some later sample.
    let exists = Segment::info(&state.spec.name).is_ok();
    if exists || state.spec.complete() {
        state.ensure(None, None, 0)?;
    }
    let state = Arc::new(Mutex::new(state));
    let on_sample = state.clone();
    let subscriber = session
        .declare_subscriber(key.clone())
        .allowed_origin(Locality::Remote)
        .callback(move |sample| lock(&on_sample).on_sample(&sample))
        .wait()
        .map_err(|e| Error::zenoh(format!("import {about}"), e))?;
    // Ask the exporters for what they have (a cell's value, a stream's geometry) now, and again
    // whenever one appears: an exporter started (or restarted, or reconnected) after the import.
    let querier = session
        .declare_querier(key.clone())
        .allowed_destination(Locality::Remote)
        .wait()
        .map_err(|e| Error::zenoh(format!("import {about}"), e))?;
    let (again, again_key, again_state) = (session.clone(), key.clone(), state.clone());
    querier
        .matching_listener()
        .callback(move |status| {
            if status.matching() {
                let _ = ask(&again, &again_key, &again_state);
            }
        })
        .background()
        .wait()
        .map_err(|e| Error::zenoh(format!("import {about}"), e))?;
    ask(session, &key, &state).map_err(|e| Error::zenoh(format!("import {about}"), e))?;
    Ok(Box::new(Importing {
        subscriber: Some(subscriber),
        querier: Some(querier),
        state,
    }))
}

/// Queries the exporters on `key`; their replies go where samples go.
fn ask(
    session: &zenoh::Session,
    key: &KeyExpr<'static>,
    state: &Arc<Mutex<State>>,
) -> zenoh::Result<()> {
    let on_reply = state.clone();
    session
        .get(key.clone())
        .allowed_destination(Locality::Remote)
        .consolidation(ConsolidationMode::None)
        .timeout(QUERY_TIMEOUT)
        .callback(move |reply| {
            if let Ok(sample) = reply.result() {
                lock(&on_reply).on_sample(sample);
            }
        })
        .wait()
}

/// Copies Zenoh bytes (perhaps several slices) into `dst`, which has their length.
fn copy_into(dst: &mut [u8], payload: &ZBytes) {
    let mut at = 0;
    for slice in payload.slices() {
        dst[at..at + slice.len()].copy_from_slice(slice);
        at += slice.len();
    }
}

impl State {
    fn on_sample(&mut self, sample: &Sample) {
        if self.failed || self.shared.stopped() {
            return;
        }
        let meta = sample
            .attachment()
            .and_then(|a| Meta::decode(&a.to_bytes()));
        let payload = sample.payload();
        if self.target.is_none() {
            if let Err(e) = self.ensure(meta.as_ref(), Some(sample.encoding()), payload.len()) {
                self.fail(e);
                return;
            }
        }
        let gap = match meta {
            // Another Zenoh program's sample: no numbers to account for.
            None => 0,
            Some(m) if m.kind == SampleKind::Description => return,
            Some(m) => match self.account(&m) {
                Some(gap) if m.kind == SampleKind::Frame => gap,
                // Cells: the values in between were superseded, not lost.
                Some(_) => 0,
                None => return,
            },
        };
        // The frame keeps the time it was published with at the source.
        let time = meta.map(|m| m.time_ns).filter(|&t| t > 0);
        self.publish(payload, gap, time);
    }

    /// The number of frames missing before `m` from its source; `None` for a sample older than
    /// (or the same as) one already published.
    fn account(&mut self, m: &Meta) -> Option<u64> {
        if let Some(i) = self.sources.iter().position(|&(s, _)| s == m.source) {
            let (_, last) = self.sources.remove(i);
            self.sources.insert(0, (m.source, last.max(m.seq)));
            return (m.seq > last).then(|| m.seq - last - 1);
        }
        if !self.sources.is_empty() {
            Counters::add(&self.counters.restarts, 1);
            self.info(format!(
                "a new source on {} (the remote {} was made anew, or another exporter): its \
                 numbers start afresh",
                self.spec.key,
                if m.kind == SampleKind::Value {
                    "cell"
                } else {
                    "stream"
                },
            ));
        }
        self.sources.insert(0, (m.source, m.seq));
        self.sources.truncate(SOURCES);
        Some(0)
    }

    fn info(&self, text: String) {
        self.shared.event(Level::Info, &self.about, text);
    }

    fn fail(&mut self, e: Error) {
        self.failed = true;
        self.target = None;
        self.shared.fatal(&self.about, e);
    }

    fn too_big(&mut self, len: usize, max: usize, what: &str) {
        Counters::add(&self.counters.discarded, 1);
        if !self.warned_too_big {
            self.warned_too_big = true;
            self.shared.event(
                Level::Warning,
                &self.about,
                format!(
                    "a {what} of {} does not fit {} ({what}s up to {}): not published, counted \
                     as lost (said once). It was made before with other sizes: once its readers \
                     are gone, remove it (`shmkit rm {}`) or import into another name",
                    human_bytes(len as u64),
                    self.spec.name,
                    human_bytes(max as u64),
                    self.spec.name,
                ),
            );
        }
    }

    /// Publishes a sample's payload, after counting `gap` frames that never arrived; a stream's
    /// frame with the source's `time` when the sample says it.
    fn publish(&mut self, payload: &ZBytes, gap: u64, time: Option<u64>) {
        let len = payload.len();
        match self.target.take() {
            Some(Target::Stream(mut p)) => {
                let result = self.publish_frame(&mut p, payload, gap, time);
                self.target = Some(Target::Stream(p));
                if let Err(e) = result {
                    self.fail(e);
                }
            }
            Some(Target::Cell(c)) => {
                if len > c.capacity() {
                    self.too_big(len, c.capacity(), "value");
                } else {
                    match c.publish_with(len, |buf| copy_into(buf, payload)) {
                        Ok(_) => {
                            Counters::add(&self.counters.frames, 1);
                            Counters::add(&self.counters.bytes, len as u64);
                        }
                        Err(e) => {
                            self.target = Some(Target::Cell(c));
                            self.fail(Error::local(format!("import {}", self.about), e));
                            return;
                        }
                    }
                }
                self.target = Some(Target::Cell(c));
            }
            None => {}
        }
    }

    fn publish_frame(
        &mut self,
        p: &mut Publisher,
        payload: &ZBytes,
        gap: u64,
        time: Option<u64>,
    ) -> Result<()> {
        let len = payload.len();
        let what = format!("import {}", self.about);
        let local = |e| Error::local(what.clone(), e);
        let mut missing = gap;
        if len > p.max_frame() {
            // Counted as lost by the local subscribers too.
            self.too_big(len, p.max_frame(), "frame");
            missing += 1;
        }
        if missing > 0 {
            p.skip(missing).map_err(local)?;
            Counters::add(&self.counters.lost, gap);
        }
        if len > p.max_frame() {
            return Ok(());
        }
        let mut loan = loop {
            match p.loan_timeout(len, SLICE) {
                Ok(loan) => break loan,
                // Block: a local subscriber holds the ring full; wait (backpressure), unless the
                // bridge stops.
                Err(e) if e.kind() == LocalErrorKind::Timeout => {
                    if self.shared.stopped() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(local(e)),
            }
        };
        copy_into(&mut loan, payload);
        match time {
            Some(t) => loan.commit_at(t),
            None => loan.commit(),
        };
        Counters::add(&self.counters.frames, 1);
        Counters::add(&self.counters.bytes, len as u64);
        Ok(())
    }

    /// Opens the local stream or cell, or creates it from what `meta` (a sample's attachment),
    /// `encoding` and a sample of `len` bytes say of the source, and the import's options.
    fn ensure(
        &mut self,
        meta: Option<&Meta>,
        encoding: Option<&Encoding>,
        len: usize,
    ) -> Result<()> {
        let name = self.spec.name.clone();
        let what = format!("import {}", self.about);
        let clash = |why: String| {
            Error::new(ErrorKind::NameClash, what.clone(), why).hint(format!(
                "import into another name (--as), or remove {name} (`shmkit rm {name}`) if \
                 nothing uses it"
            ))
        };
        let wanted = self.spec.kind.or(meta.map(|m| match m.kind {
            SampleKind::Value => LocalKind::Cell,
            _ => LocalKind::Stream,
        }));
        for _ in 0..3 {
            let found = match Segment::info(&name) {
                Ok(info) => Some(info.kind),
                Err(e) if e.kind() == LocalErrorKind::NotFound => None,
                Err(e) => return Err(Error::local(what, e)),
            };
            let target = match (found, wanted) {
                (Some(SegmentKind::Shmkit(Kind::Stream)), None | Some(LocalKind::Stream)) => {
                    StreamOptions::new()
                        .open_publisher(name.as_str(), Duration::ZERO)
                        .map(Target::Stream)
                }
                (Some(SegmentKind::Shmkit(Kind::Cell)), None | Some(LocalKind::Cell)) => {
                    CellOptions::new().open(name.as_str()).map(Target::Cell)
                }
                (Some(SegmentKind::Shmkit(Kind::Stream)), Some(LocalKind::Cell)) => {
                    return Err(clash(format!(
                        "{name} is a stream, and this import makes a cell"
                    )));
                }
                (Some(SegmentKind::Shmkit(Kind::Cell)), Some(LocalKind::Stream)) => {
                    return Err(clash(format!(
                        "{name} is a cell, and this import makes a stream"
                    )));
                }
                (Some(other), _) => {
                    return Err(clash(format!(
                        "{name} exists and is a {} segment; an import feeds a stream or a cell",
                        match other {
                            SegmentKind::Shmkit(Kind::Bytes) => "plain bytes",
                            k => k.as_str(),
                        }
                    )));
                }
                (None, kind) => self.create(kind.unwrap_or(LocalKind::Stream), meta, encoding, len),
            };
            match target {
                Ok(t) => {
                    self.describe(&t, found.is_none());
                    self.target = Some(t);
                    return Ok(());
                }
                // Created or removed by someone else between the two looks: look again.
                Err(e)
                    if matches!(
                        e.kind(),
                        LocalErrorKind::AlreadyExists | LocalErrorKind::NotFound
                    ) => {}
                Err(e) if e.kind() == LocalErrorKind::Timeout => {
                    return Err(clash(format!(
                        "{name} has a live publisher: {}",
                        e.reason_text()
                    )));
                }
                Err(e) => return Err(Error::local(what, e)),
            }
        }
        Err(Error::new(
            ErrorKind::NameClash,
            what,
            format!("{name} keeps being created and removed by another program"),
        ))
    }

    fn create(
        &self,
        kind: LocalKind,
        meta: Option<&Meta>,
        encoding: Option<&Encoding>,
        len: usize,
    ) -> shmkit::Result<Target> {
        let spec = &self.spec;
        let format: Option<Format> = spec
            .format
            .clone()
            .or_else(|| encoding.and_then(wire::format));
        let mode = spec.mode.unwrap_or(0o600);
        let said = meta.filter(|m| m.max_len > 0).map(|m| m.max_len as usize);
        let fallback = len.max(DEFAULT_MAX_FRAME);
        match kind {
            LocalKind::Stream => {
                let stream_meta = meta.filter(|m| m.kind.is_stream());
                let mut opts = StreamOptions::new().mode(mode).policy(
                    spec.policy
                        .or(stream_meta.map(|m| m.policy))
                        .unwrap_or(Policy::Overwrite),
                );
                let image = format.as_ref().and_then(Format::frame_len);
                opts = opts.max_frame(spec.max_frame.or(said).or(image).unwrap_or(fallback));
                if let Some(ring) = spec
                    .ring
                    .or(stream_meta.map(|m| m.ring as usize).filter(|&r| r > 0))
                {
                    opts = opts.ring(ring);
                }
                if let Some(f) = format {
                    opts = opts.format(f);
                }
                opts.create(spec.name.as_str()).map(Target::Stream)
            }
            LocalKind::Cell => {
                let image = format.as_ref().and_then(Format::frame_len);
                let mut opts = CellOptions::new()
                    .mode(mode)
                    .capacity(spec.capacity.or(said).or(image).unwrap_or(fallback));
                if let Some(f) = format {
                    opts = opts.format(f);
                }
                opts.create(spec.name.as_str()).map(Target::Cell)
            }
        }
    }

    fn describe(&self, t: &Target, created: bool) {
        let verb = if created {
            "created"
        } else {
            "publishing to the existing"
        };
        let text = match t {
            Target::Stream(p) => {
                let format = p.format().map_or(String::new(), |f| format!(", {f}"));
                format!(
                    "{verb} stream {} (frames up to {}, ring {}, {}{format})",
                    self.spec.name,
                    human_bytes(p.max_frame() as u64),
                    human_bytes(p.ring_len() as u64),
                    p.policy(),
                )
            }
            Target::Cell(c) => {
                let format = c.format().map_or(String::new(), |f| format!(", {f}"));
                format!(
                    "{verb} cell {} (values up to {}{format})",
                    self.spec.name,
                    human_bytes(c.capacity() as u64),
                )
            }
        };
        self.info(text);
    }
}
