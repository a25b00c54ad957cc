//! The lock word under simulated processes and a peer scribbling on it
//! (`shmkit::fuzz_support::fuzz_lock`): it must never panic, never let two live processes hold
//! it, never take it from a live owner, and always report a dead owner's death.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    shmkit::fuzz_support::fuzz_lock(bytes);
});
