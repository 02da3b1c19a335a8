//! Bad input to the event store on real files: appends to deleted streams under every
//! expectation, reads of unknown streams and categories, and malformed appends (empty or
//! oversized names, types, events and batches, duplicates) each get a clear error and
//! write nothing.

use std::path::Path;

use annal::limits::{
    BATCH_EVENTS_MAX, EVENT_BYTES_MAX, EVENT_TYPE_BYTES_MAX, STREAM_NAME_BYTES_MAX,
};
use annal::Revision;
use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, Limit, NewEvent, Position,
    StreamAppend,
};
use bytes::Bytes;

use super::index::{digest, event, id, open, UNKNOWN};

/// A store with `live-1` (three events) and `gone-1` (deleted).
fn small_store(dir: &Path) -> EventStore {
    let store = open(dir);
    store
        .append(
            "live-1",
            ExpectedRevision::NoStream,
            vec![event(1).with_id(id(1)), event(2), event(3)],
            Durability::Synced,
        )
        .unwrap();
    store
        .append(
            "gone-1",
            ExpectedRevision::NoStream,
            vec![event(4).with_id(id(4))],
            Durability::Synced,
        )
        .unwrap();
    store.delete_stream(b"gone-1").unwrap();
    store
}

/// Everything a client can observe of the small store, to show nothing changed.
fn observable(store: &EventStore) -> String {
    format!(
        "{:?} {} {:?} {:?}",
        store.log_next_position(),
        digest(store.read_all(Position(0), Direction::Forwards, usize::MAX)),
        store.stream_info(b"live-1"),
        store.stream_info(b"gone-1"),
    )
}

fn assert_deleted(result: annal::Result<impl std::fmt::Debug>, what: &str) {
    match result {
        Err(err @ Error::StreamDeleted { .. }) => {
            assert!(err.to_string().contains("gone-1"), "{what}: {err}");
        }
        other => panic!("{what}: expected StreamDeleted, got {other:?}"),
    }
}

fn assert_not_found(result: annal::Result<impl std::fmt::Debug>, what: &str) {
    match result {
        Err(err @ Error::StreamNotFound { .. }) => {
            assert!(err.to_string().contains(UNKNOWN), "{what}: {err}");
        }
        other => panic!("{what}: expected StreamNotFound, got {other:?}"),
    }
}

fn assert_invalid(result: annal::Result<impl std::fmt::Debug>, mentions: &str, what: &str) {
    match result {
        Err(err @ Error::InvalidArgument { .. }) => {
            assert!(err.to_string().contains(mentions), "{what}: {err}");
        }
        other => panic!("{what}: expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn appends_to_a_deleted_stream_fail_under_every_expectation_and_write_nothing() {
    // Proves every expectation, with or without ids (even a retry of its own first append), gets StreamDeleted on a tombstoned stream.
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let before = observable(&store);
    for expected in [
        ExpectedRevision::Any,
        ExpectedRevision::NoStream,
        ExpectedRevision::StreamExists,
        ExpectedRevision::Exact(Revision(0)),
        ExpectedRevision::Exact(Revision(7)),
        ExpectedRevision::Exact(Revision(u64::MAX)),
    ] {
        for events in [vec![event(9)], vec![event(4).with_id(id(4))]] {
            let what = format!("{expected:?} {events:?}");
            assert_deleted(
                store.append("gone-1", expected, events, Durability::Synced),
                &what,
            );
        }
    }
    let mixed = [
        StreamAppend {
            stream: Bytes::from_static(b"live-1"),
            expected: ExpectedRevision::Exact(Revision(2)),
            events: vec![event(10)],
        },
        StreamAppend {
            stream: Bytes::from_static(b"gone-1"),
            expected: ExpectedRevision::Any,
            events: vec![event(11)],
        },
    ];
    assert_deleted(
        store.append_multi(&mixed, Durability::Synced),
        "multi-stream",
    );
    assert_deleted(store.truncate_stream(b"gone-1", Revision(1)), "truncate");
    assert_deleted(store.delete_stream(b"gone-1"), "delete again");
    assert_deleted(
        store.read_stream(b"gone-1", Revision(0), Direction::Forwards, 10),
        "read",
    );
    assert_deleted(
        store.read_stream_as_of(b"gone-1", Position(2), Revision(0), Direction::Forwards, 10),
        "read as of",
    );
    assert_deleted(
        store.read_stream_at_time(b"gone-1", u64::MAX, 10),
        "read at time",
    );
    assert!(store.stream_info(b"gone-1").unwrap().deleted);
    assert_eq!(observable(&store), before);
    store.close().unwrap();
    assert_eq!(observable(&open(dir.path())), before, "after reopen");
}

#[test]
fn unknown_streams_are_not_found_and_unknown_categories_are_empty() {
    // Proves every read and lifecycle call on a stream never written says StreamNotFound, naming it, and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let before = observable(&store);
    let name = UNKNOWN.as_bytes();
    assert_not_found(
        store.read_stream(name, Revision(0), Direction::Forwards, 10),
        "read",
    );
    assert_not_found(
        store.read_stream(name, Revision(u64::MAX), Direction::Backwards, 10),
        "read back",
    );
    assert_not_found(
        store.read_stream_as_of(name, Position(1), Revision(0), Direction::Forwards, 10),
        "read as of",
    );
    assert_not_found(
        store.read_stream_at_time(name, u64::MAX, 10),
        "read at time",
    );
    assert_not_found(store.stream_info(name), "info");
    assert_not_found(store.truncate_stream(name, Revision(1)), "truncate");
    assert_not_found(store.delete_stream(name), "delete");
    assert_eq!(store.stream_revision(name), None);
    let category = store.read_category(b"nothing", Position(0), Direction::Forwards, 10);
    assert_eq!(category.unwrap(), Vec::new());
    assert_eq!(observable(&store), before);
}

#[test]
fn malformed_appends_get_clear_errors_and_write_nothing() {
    // Proves oversized and empty names, NUL bytes, oversized types, events and batches, empty batches, repeated streams and ids are refused, and the limits themselves are accepted.
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let before = observable(&store);
    let append = |stream: Vec<u8>, events: Vec<NewEvent>| {
        store.append(stream, ExpectedRevision::Any, events, Durability::Synced)
    };
    let long_name = vec![b'n'; STREAM_NAME_BYTES_MAX + 1];
    assert_invalid(
        append(long_name, vec![event(1)]),
        "stream name",
        "long name",
    );
    assert_invalid(append(Vec::new(), vec![event(1)]), "empty", "empty name");
    assert_invalid(
        append(b"a\0-1".to_vec(), vec![event(1)]),
        "NUL",
        "NUL in name",
    );
    let long_type = NewEvent::new(vec![b't'; EVENT_TYPE_BYTES_MAX + 1], "x");
    assert_invalid(
        append(b"live-1".to_vec(), vec![long_type]),
        "event type",
        "long type",
    );
    assert!(matches!(
        append(b"live-1".to_vec(), vec![]),
        Err(Error::EmptyBatch)
    ));
    assert!(matches!(
        store.append_multi(&[], Durability::Synced),
        Err(Error::EmptyBatch)
    ));
    let huge = NewEvent::new("Big", vec![0u8; EVENT_BYTES_MAX]);
    assert!(matches!(
        append(b"live-1".to_vec(), vec![huge]),
        Err(Error::LimitExceeded {
            limit: Limit::EventBytes,
            ..
        })
    ));
    let too_many: Vec<NewEvent> = (0..=BATCH_EVENTS_MAX)
        .map(|_| NewEvent::new("T", ""))
        .collect();
    assert!(matches!(
        append(b"live-1".to_vec(), too_many),
        Err(Error::LimitExceeded {
            limit: Limit::BatchEvents,
            ..
        })
    ));
    let bigger_than_a_segment: Vec<NewEvent> = (0..20)
        .map(|_| NewEvent::new("T", vec![1u8; 4000]))
        .collect();
    assert!(matches!(
        append(b"live-1".to_vec(), bigger_than_a_segment),
        Err(Error::LimitExceeded {
            limit: Limit::BatchBytes,
            ..
        })
    ));
    let twice = |first: NewEvent, second: NewEvent, streams: [&'static str; 2]| {
        [
            StreamAppend {
                stream: Bytes::from_static(streams[0].as_bytes()),
                expected: ExpectedRevision::Any,
                events: vec![first],
            },
            StreamAppend {
                stream: Bytes::from_static(streams[1].as_bytes()),
                expected: ExpectedRevision::Any,
                events: vec![second],
            },
        ]
    };
    let same_stream = twice(event(1), event(2), ["live-1", "live-1"]);
    assert_invalid(
        store.append_multi(&same_stream, Durability::Synced),
        "named twice",
        "stream twice",
    );
    let same_id = twice(
        event(1).with_id(id(50)),
        event(2).with_id(id(50)),
        ["live-1", "new-1"],
    );
    assert_invalid(
        store.append_multi(&same_id, Durability::Synced),
        "twice",
        "id twice",
    );
    let empty_part = [
        StreamAppend {
            stream: Bytes::from_static(b"live-1"),
            expected: ExpectedRevision::Any,
            events: vec![event(1)],
        },
        StreamAppend {
            stream: Bytes::from_static(b"new-1"),
            expected: ExpectedRevision::Any,
            events: vec![],
        },
    ];
    assert!(matches!(
        store.append_multi(&empty_part, Durability::Synced),
        Err(Error::EmptyBatch)
    ));
    assert_eq!(
        observable(&store),
        before,
        "a refused append wrote something"
    );
    // The limits themselves are accepted.
    let at_limits = NewEvent::new(vec![b't'; EVENT_TYPE_BYTES_MAX], "x");
    let longest = vec![b'n'; STREAM_NAME_BYTES_MAX];
    append(longest.clone(), vec![at_limits]).unwrap();
    let stored = store
        .read_stream(&longest, Revision(0), Direction::Forwards, 1)
        .unwrap();
    assert_eq!(stored[0].event_type.len(), EVENT_TYPE_BYTES_MAX);
    store.close().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.stream_info(&longest).unwrap().revision,
        Some(Revision(0))
    );
}
