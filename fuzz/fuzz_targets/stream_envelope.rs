//! cargo-fuzz target: the stream envelope decoder (and the index applying what it decodes).
//! The body is `annal::fuzzing::stream_envelope`, which the replay test also runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| annal::fuzzing::stream_envelope(data));
