//! cargo-fuzz target: operation sequences on an EventStore checked against the in-memory model.
//! The body is `annal::fuzzing::operations`, which the replay test also runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| annal::fuzzing::operations(data));
