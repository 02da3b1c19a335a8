//! cargo-fuzz target: the index checkpoint loader (streams.idx decoded, then used by EventStore::open).
//! The body is `annal::fuzzing::index_checkpoint`, which the replay test also runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| annal::fuzzing::index_checkpoint(data));
