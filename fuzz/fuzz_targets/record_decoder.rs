//! cargo-fuzz target: the record decoder (decode_header, check_body, EventRanges, extension entries).
//! The body is `annal::fuzzing::record_decoder`, which the replay test also runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| annal::fuzzing::record_decoder(data));
