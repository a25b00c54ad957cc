//! A cell reader over a control block, slot headers and values of arbitrary bytes
//! (`shmkit::fuzz_support::fuzz_read`): it must end without a panic or a copy outside the
//! slots, and only return a value whose length fits the capacity.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    shmkit::fuzz_support::fuzz_read(bytes);
});
