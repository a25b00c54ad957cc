//! A segment's changes as something an event loop can wait for: a file descriptor that becomes
//! readable (`poll`, `epoll`, `select`, asyncio's `add_reader`, Qt's `QSocketNotifier`, libuv),
//! or a callback.
//!
//! shmkit's waits are futexes on a word in shared memory, which no event loop can watch. A
//! `Notifier` bridges them: a thread of its own sleeps on the segment's change event (no
//! polling) and, each time a writer publishes (a cell value, a stream frame,
//! [`Segment::notify_change`]), makes the descriptor readable or calls the callback. One thread
//! per notifier, however many changes; the thread ends when the notifier is dropped.
//!
//! # Platform notes
//! Linux: an `eventfd`. macOS: a non-blocking pipe. Windows has no descriptor an event loop
//! could take: there [`Notifier::new`] is [`ErrorKind::Unsupported`](crate::ErrorKind) and
//! [`Notifier::with_callback`] is the way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Op, Result};
use crate::notify::Waited;
use crate::segment::Segment;
use crate::sys;

/// Wakes an event loop (or calls back) whenever a segment changes: a descriptor that becomes
/// readable, or a callback, driven by a thread of its own that sleeps on the segment's change
/// event.
///
/// ```no_run
/// use shmkit::{Access, Cell, Notifier};
/// # fn main() -> shmkit::Result<()> {
/// let cell = Cell::open("status", Access::ReadOnly)?;
/// let notifier = Notifier::new(cell.segment())?;
/// let mut seen = cell.seq();
/// loop {
///     // ... hand notifier's descriptor (AsRawFd) to poll/epoll/your event loop, and when it
///     // becomes readable:
///     notifier.clear();
///     if cell.seq() > seen {
///         let value = cell.snapshot()?;
///         seen = value.seq;
///     }
/// }
/// # }
/// ```
pub struct Notifier {
    seg: Arc<Segment>,
    stop: Arc<AtomicBool>,
    signal: Option<Arc<sys::Signal>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("segment", self.seg.name())
            .finish()
    }
}

impl Notifier {
    /// A notifier whose descriptor becomes readable when `seg` changes (use
    /// [`Cell::segment`](crate::Cell::segment), [`Subscriber::segment`](crate::stream::Subscriber::segment)).
    /// It stays readable until [`clear`](Self::clear)ed.
    ///
    /// # Errors
    /// [`ErrorKind::Incompatible`] for a raw segment (no change event),
    /// [`ErrorKind::Unsupported`] where there is no such descriptor (Windows), or what opening
    /// the segment again gives.
    pub fn new(seg: &Segment) -> Result<Notifier> {
        let signal = Arc::new(sys::Signal::new().map_err(|e| {
            Error::os(Op::Wait, seg.name().to_string(), e)
                .reason("this platform has no descriptor an event loop could wait on")
                .hint("use Notifier::with_callback")
        })?);
        let raise = signal.clone();
        Notifier::start(seg, Some(signal), move || raise.raise())
    }

    /// A notifier that calls `on_change` (on a thread of its own) each time `seg` changes.
    /// Works on every platform.
    ///
    /// # Errors
    /// As for [`new`](Self::new), but never `Unsupported`.
    pub fn with_callback(
        seg: &Segment,
        on_change: impl FnMut() + Send + 'static,
    ) -> Result<Notifier> {
        Notifier::start(seg, None, on_change)
    }

    fn start(
        seg: &Segment,
        signal: Option<Arc<sys::Signal>>,
        mut on_change: impl FnMut() + Send + 'static,
    ) -> Result<Notifier> {
        let watched = Arc::new(seg.reopen(Op::Wait)?);
        let event = watched.header().map(|h| &h.change).ok_or_else(|| {
            Error::new(ErrorKind::Incompatible, Op::Wait, seg.name().to_string())
                .reason("a raw segment has no change event")
        })?;
        let mut last = event.key();
        let stop = Arc::new(AtomicBool::new(false));
        let (seg2, stop2) = (watched.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("shmkit-notifier".into())
            .spawn(move || {
                let event = &seg2.header().expect("checked above").change;
                let register = seg2.control_writable();
                // SYNC: Acquire pairs with the Release store in `drop`.
                while !stop2.load(Ordering::Acquire) {
                    let key = event.key();
                    if key != last {
                        last = key;
                        on_change();
                        continue;
                    }
                    // Bounded slices: `drop` wakes us at once, but a wake-up is only a hint.
                    let slice = Some(std::time::Instant::now() + Duration::from_millis(500));
                    if event.wait(key, slice, Duration::ZERO, register) == Waited::TimedOut {
                        continue;
                    }
                }
            })
            .map_err(|e| Error::os(Op::Wait, seg.name().to_string(), e))?;
        Ok(Notifier {
            seg: watched,
            stop,
            signal,
            thread: Some(thread),
        })
    }

    /// Empties the descriptor (it becomes readable again at the next change); `true` if a
    /// change had been signalled. Call it before looking at what changed.
    pub fn clear(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| s.clear())
    }

    /// The signal behind the descriptor (for the platform's `AsRawFd`).
    pub(crate) fn signal(&self) -> Option<&sys::Signal> {
        self.signal.as_deref()
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // SYNC: Release pairs with the thread's Acquire load of `stop`.
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.seg.header() {
            // A bare wake-up, not a signal: the thread looks at `stop`; other sleepers of the
            // word see nothing changed and sleep again.
            crate::sync::futex_wake_all(&h.change.seq);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
