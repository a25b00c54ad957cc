//! The validation of a segment header from arbitrary bytes
//! (`shmkit::fuzz_support::fuzz_validate_header`): it must never panic, and whatever it accepts
//! must describe a data region that fits the segment.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    shmkit::fuzz_support::fuzz_validate_header(bytes);
});
