//! Bridges shmkit streams and cells between machines over [Eclipse Zenoh](https://zenoh.io).
//!
//! Shared memory ends at the machine's edge. A [`Bridge`] carries it further: an **export** is
//! one more subscriber of a local stream (or reader of a cell) that publishes every frame (or
//! value) to a Zenoh key; an **import** subscribes to a key and is the publisher of a local
//! stream (or writer of a cell) that local programs read exactly as if it were local. The
//! network part is Zenoh's: its transports, discovery, routing, TLS and access control.
//!
//! ```no_run
//! use shmkit_zenoh::{Bridge, Export, Import, NetOptions};
//!
//! // On the robot: `frames_pub cam0` publishes, this exports.
//! let mut robot = Bridge::open(&NetOptions::new().listen("tcp/127.0.0.1:7447"))?;
//! robot.export(&Export::new("cam0"))?; // to the key shmkit/cam0
//!
//! // On the laptop: this imports, `frames_sub cam0` reads.
//! let mut laptop = Bridge::open(&NetOptions::new().connect("tcp/127.0.0.1:7447"))?;
//! laptop.import(&Import::new("shmkit/cam0", "cam0"))?;
//! # Ok::<(), shmkit_zenoh::Error>(())
//! ```
//!
//! # What travels
//!
//! The Zenoh payload is the frame's bytes, unchanged: any Zenoh program, in any language, can
//! subscribe to an exported key. The sequence number, publish time and the source's geometry
//! travel in a 48-byte attachment, the [`Format`](shmkit::Format) as the Zenoh encoding (see
//! [`wire`] for the bytes).
//!
//! # Semantics
//!
//! * **In order.** Frames arrive in the order they were published.
//! * **Losses are counted.** The importer numbers the local frames so that a frame that did not
//!   arrive (dropped by Zenoh, skipped by the exporter, published while no exporter ran) counts in
//!   [`Received::lost`](shmkit::stream::Received) of every local subscriber, exactly as a frame
//!   overwritten locally, and in `shmkit info`. Both sides also count in [`Stats`].
//! * **Policies carry over.** An `Overwrite` stream is exported with Zenoh's
//!   `CongestionControl::Drop`: when the network is slower than the publisher, frames are
//!   dropped rather than queued, and the newest keep coming. A `Block` stream is exported with
//!   `CongestionControl::Block` and imported into a `Block` stream: a slow subscriber on the far
//!   side slows the publisher down, and nothing is lost. (Zenoh closes a link that stays blocked
//!   for `transport/link/tx/queue/congestion_control/block/wait_before_close`, 5 s by default;
//!   it reconnects, and what was lost meanwhile is counted.)
//! * **Cells** export their current value at once and every newer one; a late importer gets the
//!   current value at once (the exporter answers Zenoh queries on its key with it).
//! * **Torn frames never travel.** A frame is read out of the ring with the stream's own checks:
//!   one its publisher was killed writing was never committed, and one overwritten while it was
//!   copied is dropped.
//! * **Restarts.** An exporter waits for its stream or cell to appear and follows it when it is
//!   made anew; an importer that restarts takes its local stream over from its dead predecessor;
//!   Zenoh reconnects; neither side needs the other restarted.
//!
//! # What it does not do
//!
//! It keeps no history for late joiners of a stream (a stream is a flow, a cell a state). Copies:
//! Zenoh reads a `Block` stream's frame where it lies in the ring; an `Overwrite` stream's frame
//! is copied out first (its publisher may overwrite it meanwhile) and checked; on the far side
//! each frame is copied once, from Zenoh's buffers into the local ring. Within one bridge, an
//! import never receives the same bridge's exports.

#![warn(missing_docs)]

mod bridge;
mod error;
mod export;
mod import;
mod net;
pub mod wire;

pub use bridge::{Bridge, Direction, Event, Export, Import, Level, LocalKind, Stats, default_key};
pub use error::{Error, ErrorKind, Result};
pub use net::{Mode, NetOptions, Tls};
/// The Zenoh crate this bridge is built with, for programs that talk to Zenoh directly.
pub use zenoh;
