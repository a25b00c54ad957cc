//! A Qt segment's bytes decoded as QDataStream's framings (`QByteArray`, `QString`, `QImage`
//! with its PNG; `shmkit::fuzz_support::fuzz_qt_datastream`): each must end with a value or an
//! error, never a panic, a read past the end, or an allocation the bytes do not bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    shmkit::fuzz_support::fuzz_qt_datastream(bytes);
});
