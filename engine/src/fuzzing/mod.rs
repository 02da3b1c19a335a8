//! Fuzz target bodies, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the
//! replay test (`engine/tests/fuzz_replay.rs`), which runs every committed corpus and
//! regression input through the same code as an ordinary `cargo test`.
//!
//! **Not a stable API**: hidden from the documentation, changed whenever the engine's
//! internals change. Each target takes arbitrary bytes and panics only when the engine
//! breaks a promise (a panic inside the engine, a read out of bounds, or a result that
//! contradicts the format or the model); every other outcome, errors included, is fine.
//! `docs/testing.md` says what each target proves.

mod checks;
mod decoders;
mod index;
mod model;
mod operations;
mod recovery;
mod seeds;

pub use decoders::{consumer_checkpoint, record_decoder, stream_envelope};
pub use index::index_checkpoint;
pub use operations::operations;
pub use recovery::segment_recovery;
pub use seeds::{seed_corpus, RECOMBINED_IDS};

/// The epoch that the decoder targets salt record checksums with.
pub const FUZZ_EPOCH: u64 = 0x5eed_f022_a22a_1001;

/// A fuzz target: a name (the folder of its corpus) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by the name of its cargo-fuzz binary and corpus folder.
pub const TARGETS: &[Target] = &[
    ("record_decoder", record_decoder),
    ("segment_recovery", segment_recovery),
    ("index_checkpoint", index_checkpoint),
    ("stream_envelope", stream_envelope),
    ("consumer_checkpoint", consumer_checkpoint),
    ("operations", operations),
];
