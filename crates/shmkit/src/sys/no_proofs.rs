//! What the backends without kernel-held liveness proofs share (macOS, Windows, the unsupported
//! rest): their liveness is judged by process id plus start time (`current_process`,
//! `process_alive`), they have no pid namespaces, and their wall clock is std's.
//!
//! Each such backend re-exports these and invokes [`mapping_without_proofs!`] for its `Mapping`.

use std::io;

/// Would tell whether some handle holds liveness proof `id` of the segment `name`.
pub(crate) fn proof_held_by_name(_name: &str, _id: u32) -> io::Result<bool> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether liveness proofs work here: no (process ids and start times are used instead).
pub(crate) fn proofs_supported() -> bool {
    false
}

/// The pid namespace of this process: these systems have none (0).
pub(crate) fn pid_namespace() -> u64 {
    0
}

/// Nanoseconds since the Unix epoch by the wall clock, for frames' publish times.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The wall clock in nanoseconds since the Unix epoch, cheaply (statistics' "last seen" times;
/// no finer than milliseconds needed): std's clock is the only one here.
pub(crate) fn coarse_now_ns() -> u64 {
    now_ns()
}

/// The liveness-proof methods of a backend's `Mapping`, as `Unsupported` (see `crate::liveness`).
macro_rules! mapping_without_proofs {
    () => {
        impl Mapping {
            /// Would claim liveness proof `id` for this handle.
            pub(crate) fn claim_proof(&self, _id: u32) -> io::Result<bool> {
                Err(io::ErrorKind::Unsupported.into())
            }

            /// Would tell whether another handle holds liveness proof `id`.
            pub(crate) fn proof_held(&self, _id: u32) -> io::Result<bool> {
                Err(io::ErrorKind::Unsupported.into())
            }
        }
    };
}
pub(crate) use mapping_without_proofs;
