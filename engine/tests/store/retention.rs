//! Retention on the event store (`EventStore::truncate_before`): held back for the
//! store's consumers unless forced, and a store that reopens after it, with its index.

use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, IndexRecovery, NewEvent, Options,
    Position, Revision, Start, Truncation,
};

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        "/retention",
        Options::default().segment_bytes(64 << 10),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

/// Appends `count` events of 200 bytes, round robin over `streams` streams.
fn fill(store: &EventStore, count: u64, streams: u64) {
    for n in 0..count {
        let event = NewEvent::new("Ticked", vec![n as u8; 200]);
        let stream = format!("clock-{}", n % streams);
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event],
                Durability::Written,
            )
            .unwrap();
    }
}

#[test]
fn retention_holds_back_for_store_consumers_unless_forced() {
    // Proves truncate_before stops at the smallest consumer checkpoint, goes further only when forced, and the consumer left behind cannot subscribe until it commits past the gap.
    let storage = SimStorage::new();
    let store = open(&storage);
    fill(&store, 1_000, 1_000);
    let audit = store.create_consumer("audit", Position(500)).unwrap();
    store.create_consumer("fast", Start::End).unwrap();
    let held = store
        .truncate_before(Position(900), Truncation::BehindConsumers)
        .unwrap();
    assert!(held > Position(0) && held <= Position(500), "{held}");
    assert_eq!(store.first_position(), held);
    let forced = store
        .truncate_before(Position(900), Truncation::Forced)
        .unwrap();
    assert!(
        forced > Position(500) && forced <= Position(900),
        "{forced}"
    );
    assert!(matches!(
        audit.subscribe(),
        Err(Error::PositionOutOfRange { .. })
    ));
    audit.commit(forced).unwrap();
    assert_eq!(audit.subscribe().unwrap().position(), forced);
}

#[test]
fn a_store_reopens_after_retention_with_its_index() {
    // Proves after retention, and after a crash that follows it, the store opens from its index checkpoint, keeps appending at the right revisions, and a read of a removed event is PositionOutOfRange.
    let storage = SimStorage::new();
    let store = open(&storage);
    fill(&store, 1_000, 10);
    let first = store
        .truncate_before(Position(700), Truncation::Forced)
        .unwrap();
    assert!(first > Position(0));
    fill(&store, 10, 10);
    drop(store);
    let store = open(&storage.crash(CrashMode::DropUnsynced));
    assert!(matches!(
        store.index_recovery(),
        IndexRecovery::Loaded { .. }
    ));
    assert_eq!(store.first_position(), first);
    let last = store.read_stream_last("clock-3", 2).unwrap();
    assert!(last.iter().all(|e| e.position >= first));
    let revision = store.stream_revision("clock-3").unwrap();
    assert!(revision >= Revision(99), "{revision}");
    let w = Durability::Written;
    let next = store.append(
        "clock-3",
        ExpectedRevision::Exact(revision),
        vec![NewEvent::new("T", "")],
        w,
    );
    assert_eq!(next.unwrap().first_revision, revision.after(1));
    let removed = store.read_stream("clock-3", Revision::ZERO, Direction::Forwards, 1);
    assert!(
        matches!(removed, Err(Error::PositionOutOfRange { .. })),
        "{removed:?}"
    );
}

#[test]
fn a_lost_index_checkpoint_after_retention_is_a_clear_error() {
    // Proves a store whose index checkpoint is gone after retention removed the log's beginning refuses to open with an error that says so (the known limit in design.md).
    let storage = SimStorage::new();
    let store = open(&storage);
    fill(&store, 1_000, 10);
    store
        .truncate_before(Position(700), Truncation::Forced)
        .unwrap();
    store.close().unwrap();
    let checkpoint = storage
        .file_names()
        .into_iter()
        .find(|p| p.ends_with("streams.idx"))
        .expect("an index checkpoint");
    storage.corrupt_file(&checkpoint, 0, b"damaged!");
    let opened = EventStore::open_with_storage(
        "/retention",
        Options::default().segment_bytes(64 << 10),
        Arc::new(storage.clone()),
    );
    match opened {
        Err(Error::Corrupt { reason, .. }) => {
            assert!(reason.contains("cannot be rebuilt"), "{reason}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_retry_of_an_append_retention_removed_is_a_clear_conflict() {
    // Proves a retry (same ids, NoStream) of an append whose events retention removed is an IdempotencyConflict that says why, not a read error, and writes nothing.
    let storage = SimStorage::new();
    let store = open(&storage);
    let original = || vec![NewEvent::new("Opened", "x").with_id([7; 16])];
    let w = Durability::Written;
    store
        .append("account-1", ExpectedRevision::NoStream, original(), w)
        .unwrap();
    store
        .append(
            "account-1",
            ExpectedRevision::Any,
            vec![NewEvent::new("T", "")],
            w,
        )
        .unwrap();
    fill(&store, 1_000, 10);
    store
        .truncate_before(Position(700), Truncation::Forced)
        .unwrap();
    let next = store.log_next_position();
    let retried = store.append("account-1", ExpectedRevision::NoStream, original(), w);
    match retried {
        Err(Error::IdempotencyConflict { reason, .. }) => {
            assert!(reason.contains("removed by retention"), "{reason}")
        }
        other => panic!("expected IdempotencyConflict, got {other:?}"),
    }
    assert_eq!(store.log_next_position(), next);
    assert_eq!(store.stream_revision("account-1"), Some(Revision(1)));
}
