//! cargo-fuzz target: the segment recovery scanner (arbitrary segment files, then Log::open).
//! The body is `annal::fuzzing::segment_recovery`, which the replay test also runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| annal::fuzzing::segment_recovery(data));
