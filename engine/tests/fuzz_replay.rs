//! Replays every fuzz target's committed corpus (`fuzz/corpus/<target>/`) and every
//! input that ever crashed it (`fuzz/regressions/<target>/`) through the same target
//! bodies the fuzzer runs (`annal::fuzzing`), as an ordinary test: a regression of any
//! bug the fuzzer found fails `cargo test`, with no fuzzer installed.

use std::fs;
use std::panic::{catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use annal::fuzzing::{seed_corpus, TARGETS};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
}

fn replay(name: &str) {
    let (_, target) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = inputs(&fuzz.join("corpus").join(name));
    assert!(!corpus.is_empty(), "the corpus of {name} is missing");
    let regressions = inputs(&fuzz.join("regressions").join(name));
    for path in corpus.iter().chain(&regressions) {
        let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if let Err(panic) = catch_unwind(|| target(&data)) {
            eprintln!("{name} failed on {}", path.display());
            resume_unwind(panic);
        }
    }
    for (k, seed) in seed_corpus(name).iter().enumerate() {
        if let Err(panic) = catch_unwind(|| target(seed)) {
            eprintln!("{name} failed on generated seed {k}");
            resume_unwind(panic);
        }
    }
}

#[test]
fn record_decoder_corpus_and_regressions() {
    // Proves the record decoder target passes on every committed input.
    replay("record_decoder");
}

#[test]
fn segment_recovery_corpus_and_regressions() {
    // Proves recovery opens a valid prefix or refuses cleanly on every committed segment input.
    replay("segment_recovery");
}

#[test]
fn index_checkpoint_corpus_and_regressions() {
    // Proves the checkpoint loader and a store using it never panic on every committed input.
    replay("index_checkpoint");
}

#[test]
fn stream_envelope_corpus_and_regressions() {
    // Proves the envelope decoder round-trips and the index applies every committed input.
    replay("stream_envelope");
}

#[test]
fn consumer_checkpoint_corpus_and_regressions() {
    // Proves the consumer slot and checkpoint-entry decoders round-trip every committed input.
    replay("consumer_checkpoint");
}

#[test]
fn operations_corpus_and_regressions() {
    // Proves the event store agrees with the model on every committed operation sequence.
    replay("operations");
}

#[test]
fn recombined_ids_of_earlier_appends_are_conflicts_in_the_operations_target() {
    // Proves the operations target sends two appends' ids as one and pieces of one append, and the store refuses each as a conflict.
    (annal::fuzzing::operations)(&annal::fuzzing::RECOMBINED_IDS);
}

#[test]
fn every_target_has_a_replay_test() {
    // Proves no target is left out of the replay (a new target needs a test above).
    let names: Vec<_> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "record_decoder",
            "segment_recovery",
            "index_checkpoint",
            "stream_envelope",
            "consumer_checkpoint",
            "operations"
        ]
    );
}

#[test]
fn a_log_at_the_end_of_the_position_range_refuses_appends() {
    // Proves an append past position u64::MAX is refused, not an overflow panic (found by fuzzing).
    use std::sync::Arc;

    use annal::testing::encode_record;
    use annal::testing::segment_file_name;
    use annal::testing::SegmentHeader;
    use annal::testing::SimStorage;
    use annal::Storage;
    use annal::{Durability, Error, Limit, Log, Options, Position};

    const SEGMENT_BYTES: u64 = 64 << 10;
    let (epoch, first) = (7, u64::MAX - 1);
    let mut bytes = SegmentHeader {
        first_position: first,
        epoch,
        segment_bytes: SEGMENT_BYTES,
    }
    .encode()
    .to_vec();
    let mut record = Vec::new();
    encode_record(&mut record, epoch, first, 0, &[b"last".as_slice()], &[]);
    bytes.extend_from_slice(&record);
    let storage = SimStorage::new();
    let dir = Path::new("/sim/end-of-positions");
    let file = storage
        .create_file(&dir.join(segment_file_name(first)), SEGMENT_BYTES)
        .expect("create");
    file.write_at(0, &bytes).expect("write");
    file.sync_data().expect("sync");
    storage.sync_dir(dir).expect("sync dir");
    let options = Options::default().segment_bytes(SEGMENT_BYTES);
    let log = Log::open_with_storage(dir, options, Arc::new(storage)).expect("open");
    assert_eq!(log.next_position(), Position(u64::MAX));
    match log.append(b"one too many", Durability::Synced) {
        Err(Error::LimitExceeded {
            limit: Limit::Positions,
            value: 1,
            max: 0,
        }) => {}
        other => panic!("expected the positions limit, got {other:?}"),
    }
    assert_eq!(
        &log.read(Position(first)).expect("read").payload[..],
        b"last"
    );
    log.close().expect("close");
}
