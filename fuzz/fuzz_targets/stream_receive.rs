//! A subscriber receiving from a stream whose control block and ring hold arbitrary bytes
//! (`shmkit::stream::fuzz_receive`): positions that lie, frame headers that lie. It must end
//! without a panic, an overflow or an out-of-bounds read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    shmkit::fuzz_support::fuzz_receive(bytes);
});
