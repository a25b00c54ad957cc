//! The C API of shmkit: `libshmkit` (`libshmkit.so` / `libshmkit.a`; `shmkit.dll` and its import
//! library on Windows), described by `include/shmkit.h`, which cbindgen generates from these
//! sources (`cbindgen.toml`; `.ci/c.sh` regenerates it and fails if the committed one differs).
//!
//! A face over the core: every function converts its arguments, calls the `shmkit` crate, and
//! converts the result back. No protocol lives here: cells, streams, the lock, notifications,
//! inspection and clean-up are the core's; the loans and in-place frames use its "detached"
//! forms, made for bindings that cannot hold a Rust borrow.
//!
//! The conventions (rustls-ffi's, zstd's, libgit2's):
//! * a `shmkit_` prefix; opaque handles that the library creates and frees;
//! * every call that can fail returns a [`shmkit_status`] and writes its results through
//!   out-parameters; [`shmkit_last_error`] has the message of the thread's last failure, worded
//!   as the command line words it;
//! * no panic crosses the boundary (each entry point catches it: [`SHMKIT_PANIC`]);
//! * null or invalid arguments are [`SHMKIT_INVALID_ARGUMENT`] (or the kind that names them
//!   better), never a crash.
//!
//! [`SHMKIT_PANIC`]: shmkit_status::SHMKIT_PANIC
//! [`SHMKIT_INVALID_ARGUMENT`]: shmkit_status::SHMKIT_INVALID_ARGUMENT

// The names are the C API's.
#![allow(non_camel_case_types, clippy::upper_case_acronyms)]

mod cell;
mod error;
mod inspect;
mod notifier;
mod segment;
mod stream;
mod util;

pub use cell::*;
pub use error::*;
pub use inspect::*;
pub use notifier::*;
pub use segment::*;
pub use stream::*;
pub use util::*;
