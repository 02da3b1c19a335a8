//! Retries recognised by event id must repeat exactly one earlier append: regressions of
//! ids from two appends, or a piece of one, taken for a retry.

use std::sync::Arc;

use annal::testing::SimStorage;
use annal::{Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Revision};

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        "/retries",
        Options::default().segment_bytes(64 << 10),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

fn ev(n: u8) -> NewEvent {
    NewEvent::new("Happened", vec![n]).with_id([n; 16])
}

fn is_conflict(result: &annal::Result<annal::WriteResult>) -> bool {
    matches!(result, Err(Error::IdempotencyConflict { .. }))
}

#[test]
fn ids_of_two_separate_appends_are_not_one_retry() {
    // Proves the ids of two earlier appends sent as one append are an IdempotencyConflict with Any, NoStream and Exact (regression of issue #12).
    let storage = SimStorage::new();
    let store = open(&storage);
    let w = Durability::Written;
    store
        .append("b-1", ExpectedRevision::Any, vec![ev(20)], w)
        .unwrap();
    store
        .append("b-1", ExpectedRevision::Any, vec![ev(21)], w)
        .unwrap();
    for expected in [
        ExpectedRevision::Any,
        ExpectedRevision::StreamExists,
        ExpectedRevision::NoStream,
    ] {
        let merged = store.append("b-1", expected, vec![ev(20), ev(21)], w);
        assert!(is_conflict(&merged), "{expected:?}: {merged:?}");
    }
    assert_eq!(store.stream_revision(b"b-1"), Some(Revision(1)));
    // Each append alone is still a retry.
    let first = store.append("b-1", ExpectedRevision::NoStream, vec![ev(20)], w);
    assert_eq!(first.unwrap().first_revision, Revision(0));
    let second = store.append("b-1", ExpectedRevision::Any, vec![ev(21)], w);
    assert_eq!(second.unwrap().first_revision, Revision(1));
}

#[test]
fn a_piece_of_one_append_is_not_a_retry() {
    // Proves the first or the last ids of one earlier append are an IdempotencyConflict, live and after a reopen.
    let storage = SimStorage::new();
    let mut store = open(&storage);
    let w = Durability::Written;
    store
        .append(
            "c-1",
            ExpectedRevision::NoStream,
            vec![ev(1), ev(2), ev(3)],
            w,
        )
        .unwrap();
    for reopen in [false, true] {
        if reopen {
            store.close().unwrap();
            store = open(&storage);
        }
        for expected in [ExpectedRevision::Any, ExpectedRevision::NoStream] {
            let head = store.append("c-1", expected, vec![ev(1), ev(2)], w);
            assert!(
                is_conflict(&head),
                "head, {expected:?}, reopen {reopen}: {head:?}"
            );
        }
        let tail = store.append("c-1", ExpectedRevision::Any, vec![ev(2), ev(3)], w);
        assert!(is_conflict(&tail), "tail, reopen {reopen}: {tail:?}");
        let tail = store.append(
            "c-1",
            ExpectedRevision::Exact(Revision(0)),
            vec![ev(2), ev(3)],
            w,
        );
        assert!(is_conflict(&tail), "exact tail, reopen {reopen}: {tail:?}");
        let whole = store.append("c-1", ExpectedRevision::Any, vec![ev(1), ev(2), ev(3)], w);
        assert_eq!(whole.unwrap().last_revision, Revision(2));
    }
    assert_eq!(store.stream_revision(b"c-1"), Some(Revision(2)));
}
