//! cargo-fuzz target: the consumer checkpoint loader (consumer file slots and checkpoint entries).
//! The body is `annal::fuzzing::consumer_checkpoint`, which the replay test also runs.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| annal::fuzzing::consumer_checkpoint(data));
