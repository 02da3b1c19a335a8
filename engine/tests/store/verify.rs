//! The event store's full verification (`EventStore::verify`) and its inspection calls
//! (`stream_summary`, `consumer_checkpoints`), on real files, with a writer and read-only.

use std::path::Path;

use annal::{
    Durability, EventStore, ExpectedRevision, NewEvent, Options, Start, StreamAppend,
    VerifyProblemKind,
};

fn filled(dir: &Path) -> EventStore {
    let store = EventStore::open(dir, Options::default().segment_bytes(64 << 10)).unwrap();
    for k in 0..600u32 {
        let stream = format!("order-{}", k % 40);
        let event = NewEvent::new("Placed", format!("{{\"k\":{k}}}"));
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event],
                Durability::Written,
            )
            .unwrap();
    }
    // Two events of one stream in one record: the second's back-link names its own record.
    let joined = vec![NewEvent::new("Joined", ""), NewEvent::new("Verified", "")];
    store
        .append(
            "customer-1",
            ExpectedRevision::NoStream,
            joined,
            Durability::Synced,
        )
        .unwrap();
    store
}

#[test]
fn a_clean_store_verifies_clean_with_a_writer_and_read_only() {
    // Proves the index (checkpoint file and in memory) matches its rebuild from the log, with the writer's handle and with a read-only one opened beside it.
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    store.checkpoint().unwrap();
    store
        .append(
            "order-1",
            ExpectedRevision::Any,
            vec![NewEvent::new("Paid", "")],
            Durability::Synced,
        )
        .unwrap();
    let report = store.verify(&mut |_| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.streams_checked, 41);
    let follower = EventStore::open_read_only(dir.path(), Options::default()).unwrap();
    let report = follower.verify(&mut |_| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.events_checked, 603, "{report:?}");
}

#[test]
fn a_damaged_index_checkpoint_is_reported() {
    // Proves a flipped byte in the index checkpoint file is an IndexCheckpoint problem naming it, while the events themselves verify.
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).close().unwrap();
    let path = dir.path().join("streams.idx");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
    let follower = EventStore::open_read_only(dir.path(), Options::default()).unwrap();
    let report = follower.verify(&mut |_| {}).unwrap();
    let damage: Vec<_> = report.damage().collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].kind, VerifyProblemKind::IndexCheckpoint);
    assert_eq!(damage[0].file, path);
}

#[test]
fn the_summary_and_consumers_are_read_on_a_read_only_store() {
    // Proves stream_summary counts streams, events and categories, and a read-only store lists a consumer whose newest checkpoint was committed with an append.
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let billing = store.create_consumer("billing", Start::Beginning).unwrap();
    let reaction = StreamAppend::new(
        "invoice-1",
        ExpectedRevision::NoStream,
        vec![NewEvent::new("Issued", "")],
    );
    billing
        .append_and_commit(&[reaction], annal::Position(300), Durability::Synced)
        .unwrap();
    let follower = EventStore::open_read_only(dir.path(), Options::default()).unwrap();
    let summary = follower.stream_summary(3).unwrap();
    assert_eq!((summary.streams, summary.events), (42, 603));
    assert_eq!(summary.categories[0].name, "order");
    assert_eq!(
        (summary.categories[0].streams, summary.categories[0].events),
        (40, 600)
    );
    assert_eq!(summary.largest_streams.len(), 3);
    assert_eq!(summary.largest_streams[0].1, 15);
    let consumers = follower.consumer_checkpoints().unwrap();
    assert_eq!(consumers.len(), 1);
    assert_eq!(
        (consumers[0].name.as_str(), consumers[0].checkpoint),
        ("billing", annal::Position(300))
    );
}
