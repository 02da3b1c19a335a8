//! The stream layer end to end on the simulated backend: appends with expectations,
//! retries, multi-stream appends, every kind of read, lifecycle, and reopening.

use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::Revision;
use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position,
    StreamAppend,
};
use bytes::Bytes;

const DIR: &str = "/store";

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        DIR,
        Options::default().segment_bytes(64 << 10),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

fn event(data: &str) -> NewEvent {
    NewEvent::new("Happened", data.to_owned())
}

fn data(events: &[annal::RecordedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| String::from_utf8(e.data.to_vec()).unwrap())
        .collect()
}

#[test]
fn stream_reads_return_only_that_stream_in_both_directions() {
    // Proves a stream read returns exactly its own events, in revision order either way.
    let storage = SimStorage::new();
    let store = open(&storage);
    for i in 0..200 {
        let stream = format!("order-{}", i % 3);
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event(&format!("e{i}"))],
                Durability::Written,
            )
            .unwrap();
    }
    let forwards = store
        .read_stream(b"order-1", Revision(0), Direction::Forwards, 1000)
        .unwrap();
    let expected: Vec<String> = (0..200)
        .filter(|i| i % 3 == 1)
        .map(|i| format!("e{i}"))
        .collect();
    assert_eq!(data(&forwards), expected);
    assert!(forwards
        .iter()
        .enumerate()
        .all(|(i, e)| e.revision == Revision(i as u64)));
    let page = store
        .read_stream(b"order-1", Revision(10), Direction::Forwards, 5)
        .unwrap();
    assert_eq!(data(&page), expected[10..15].to_vec());
    let backwards = store
        .read_stream(b"order-1", Revision(40), Direction::Backwards, 3)
        .unwrap();
    assert_eq!(
        data(&backwards),
        vec![
            expected[40].clone(),
            expected[39].clone(),
            expected[38].clone()
        ]
    );
    let tail = store
        .read_stream(b"order-1", Revision(u64::MAX), Direction::Backwards, 2)
        .unwrap();
    assert_eq!(tail[0].revision, Revision(66));
    assert!(matches!(
        store.read_stream(b"order-9", Revision(0), Direction::Forwards, 10),
        Err(Error::StreamNotFound { .. })
    ));
}

#[test]
fn expected_revisions_are_checked_and_failures_write_nothing() {
    // Proves each expectation kind passes or fails as specified, and a failure leaves the log unchanged.
    let storage = SimStorage::new();
    let store = open(&storage);
    store
        .append(
            "a-1",
            ExpectedRevision::NoStream,
            vec![event("x")],
            Durability::Synced,
        )
        .unwrap();
    let before = store.log_next_position();
    let err = store
        .append(
            "a-1",
            ExpectedRevision::NoStream,
            vec![event("y")],
            Durability::Synced,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongExpectedRevision {
                actual: Some(Revision(0)),
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .append(
            "a-1",
            ExpectedRevision::Exact(Revision(5)),
            vec![event("y")],
            Durability::Synced,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongExpectedRevision {
                actual: Some(Revision(0)),
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .append(
            "a-2",
            ExpectedRevision::StreamExists,
            vec![event("y")],
            Durability::Synced,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongExpectedRevision { actual: None, .. }),
        "{err}"
    );
    assert_eq!(store.log_next_position(), before);
    let written = store
        .append(
            "a-1",
            ExpectedRevision::Exact(Revision(0)),
            vec![event("y"), event("z")],
            Durability::Synced,
        )
        .unwrap();
    assert_eq!(
        (written.first_revision, written.last_revision),
        (Revision(1), Revision(2))
    );
    assert_eq!(store.stream_revision(b"a-1"), Some(Revision(2)));
}

#[test]
fn multi_stream_appends_are_atomic_and_checked_per_stream() {
    // Proves one failing expectation in a multi-stream append writes none of its streams.
    let storage = SimStorage::new();
    let store = open(&storage);
    store
        .append(
            "acct-1",
            ExpectedRevision::Any,
            vec![event("open")],
            Durability::Synced,
        )
        .unwrap();
    let appends = |second: ExpectedRevision| {
        vec![
            StreamAppend {
                stream: Bytes::from_static(b"acct-1"),
                expected: ExpectedRevision::Exact(Revision(0)),
                events: vec![event("debit")],
            },
            StreamAppend {
                stream: Bytes::from_static(b"acct-2"),
                expected: second,
                events: vec![event("credit"), event("note")],
            },
        ]
    };
    assert!(store
        .append_multi(&appends(ExpectedRevision::StreamExists), Durability::Synced)
        .is_err());
    assert_eq!(store.stream_revision(b"acct-1"), Some(Revision(0)));
    assert_eq!(store.stream_revision(b"acct-2"), None);
    let results = store
        .append_multi(&appends(ExpectedRevision::NoStream), Durability::Synced)
        .unwrap();
    assert_eq!(results[0].first_position.0 + 1, results[1].first_position.0);
    assert_eq!(
        data(
            &store
                .read_stream(b"acct-2", Revision(0), Direction::Forwards, 9)
                .unwrap()
        ),
        vec!["credit", "note"]
    );
    let category = store
        .read_category(b"acct", Position(0), Direction::Forwards, 10)
        .unwrap();
    assert_eq!(data(&category), vec!["open", "debit", "credit", "note"]);
    let back = store
        .read_category(b"acct", Position(2), Direction::Backwards, 10)
        .unwrap();
    assert_eq!(data(&back), vec!["credit", "debit", "open"]);
}

#[test]
fn retries_return_the_original_positions_and_write_nothing_also_after_restart() {
    // Proves idempotent appends for exact and for any expectations, before and after a reopen.
    let storage = SimStorage::new();
    let store = open(&storage);
    let batch = vec![event("a").with_id([1; 16]), event("b").with_id([2; 16])];
    let first = store
        .append(
            "o-1",
            ExpectedRevision::NoStream,
            batch.clone(),
            Durability::Synced,
        )
        .unwrap();
    let loose = vec![event("c").with_id([3; 16])];
    let second = store
        .append(
            "o-1",
            ExpectedRevision::Any,
            loose.clone(),
            Durability::Synced,
        )
        .unwrap();
    let next = store.log_next_position();
    assert_eq!(
        store
            .append(
                "o-1",
                ExpectedRevision::NoStream,
                batch.clone(),
                Durability::Synced
            )
            .unwrap(),
        first
    );
    assert_eq!(
        store
            .append(
                "o-1",
                ExpectedRevision::Any,
                loose.clone(),
                Durability::Synced
            )
            .unwrap(),
        second
    );
    assert_eq!(store.log_next_position(), next);
    let partial = vec![event("a").with_id([1; 16]), event("x").with_id([9; 16])];
    assert!(matches!(
        store.append(
            "o-1",
            ExpectedRevision::NoStream,
            partial,
            Durability::Synced
        ),
        Err(Error::IdempotencyConflict { .. })
    ));
    drop(store);
    let survivor = storage.crash(CrashMode::DropUnsynced);
    let store = open(&survivor);
    assert_eq!(
        store
            .append("o-1", ExpectedRevision::NoStream, batch, Durability::Synced)
            .unwrap(),
        first
    );
    assert_eq!(
        store
            .append("o-1", ExpectedRevision::Any, loose, Durability::Synced)
            .unwrap(),
        second
    );
    assert_eq!(store.log_next_position(), next);
}

#[test]
fn temporal_reads_see_the_stream_as_it_was() {
    // Proves reads as of a position and as of a time exclude later events.
    let storage = SimStorage::new();
    let store = open(&storage);
    store
        .append(
            "o-42",
            ExpectedRevision::Any,
            vec![event("created")],
            Durability::Written,
        )
        .unwrap();
    let mid = store
        .append(
            "o-42",
            ExpectedRevision::Any,
            vec![event("paid")],
            Durability::Written,
        )
        .unwrap();
    let events = store
        .read_stream(b"o-42", Revision(0), Direction::Forwards, 10)
        .unwrap();
    let paid_time = events[1].timestamp_ns;
    store
        .append(
            "o-42",
            ExpectedRevision::Any,
            vec![event("shipped")],
            Durability::Written,
        )
        .unwrap();
    let as_of = store
        .read_stream_as_of(
            b"o-42",
            mid.first_position,
            Revision(0),
            Direction::Forwards,
            10,
        )
        .unwrap();
    assert_eq!(data(&as_of), vec!["created"]);
    let at_time = store.read_stream_at_time(b"o-42", paid_time, 10).unwrap();
    assert!(data(&at_time).starts_with(&["created".to_owned(), "paid".to_owned()]));
    assert_eq!(store.read_stream_at_time(b"o-42", 0, 10).unwrap().len(), 0);
}

#[test]
fn soft_and_hard_deletes_survive_reopen() {
    // Proves truncate-before hides earlier revisions, a tombstone blocks reads and appends, both after reopen.
    let storage = SimStorage::new();
    let store = open(&storage);
    for i in 0..5 {
        store
            .append(
                "t-1",
                ExpectedRevision::Any,
                vec![event(&format!("{i}"))],
                Durability::Synced,
            )
            .unwrap();
    }
    store
        .append(
            "t-2",
            ExpectedRevision::Any,
            vec![event("x")],
            Durability::Synced,
        )
        .unwrap();
    store.truncate_stream(b"t-1", Revision(3)).unwrap();
    store.delete_stream(b"t-2").unwrap();
    let check = |store: &EventStore, expected: &[&str]| {
        assert_eq!(
            data(
                &store
                    .read_stream(b"t-1", Revision(0), Direction::Forwards, 10)
                    .unwrap()
            ),
            expected
        );
        assert!(matches!(
            store.read_stream(b"t-2", Revision(0), Direction::Forwards, 1),
            Err(Error::StreamDeleted { .. })
        ));
        assert!(matches!(
            store.append(
                "t-2",
                ExpectedRevision::Any,
                vec![event("y")],
                Durability::Synced
            ),
            Err(Error::StreamDeleted { .. })
        ));
    };
    check(&store, &["3", "4"]);
    store
        .append(
            "t-1",
            ExpectedRevision::Exact(Revision(4)),
            vec![event("5")],
            Durability::Synced,
        )
        .unwrap();
    store.close().unwrap();
    let store = open(&storage);
    check(&store, &["3", "4", "5"]);
    let crashed = storage.crash(CrashMode::DropUnsynced);
    drop(store);
    check(&open(&crashed), &["3", "4", "5"]);
}

#[test]
fn a_lost_or_damaged_checkpoint_is_rebuilt_with_identical_answers() {
    // Proves the index rebuilt from the log answers exactly as the checkpointed one.
    let storage = SimStorage::new();
    let store = open(&storage);
    for i in 0..500 {
        let stream = format!("s-{}", i % 17);
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event(&format!("{i}"))],
                Durability::Written,
            )
            .unwrap();
    }
    store.close().unwrap();
    let answers = |store: &EventStore| {
        (0..17)
            .map(|s| {
                data(
                    &store
                        .read_stream(
                            format!("s-{s}").as_bytes(),
                            Revision(0),
                            Direction::Forwards,
                            1000,
                        )
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let checkpointed = answers(&open(&storage));
    let path = std::path::Path::new(DIR).join("streams.idx");
    let mut damaged = storage.file_bytes(&path).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    storage.corrupt_file(&path, 0, &damaged);
    assert_eq!(answers(&open(&storage)), checkpointed);
    assert_eq!(answers(&open(&storage)), checkpointed);
}

#[test]
fn bad_input_gets_a_clear_error_and_writes_nothing() {
    // Proves empty and oversized names, NUL bytes, duplicate streams, an event id twice in one append (one stream or two) and empty batches are refused.
    let storage = SimStorage::new();
    let store = open(&storage);
    let before = store.log_next_position();
    let long = vec![b'x'; annal::limits::STREAM_NAME_BYTES_MAX + 1];
    for name in [Vec::new(), long, b"a\0b".to_vec()] {
        let err = store
            .append(
                name,
                ExpectedRevision::Any,
                vec![event("x")],
                Durability::Synced,
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
    assert!(matches!(
        store.append("s-1", ExpectedRevision::Any, vec![], Durability::Synced),
        Err(Error::EmptyBatch)
    ));
    let twice = vec![
        StreamAppend {
            stream: Bytes::from_static(b"s-1"),
            expected: ExpectedRevision::Any,
            events: vec![event("a")],
        },
        StreamAppend {
            stream: Bytes::from_static(b"s-1"),
            expected: ExpectedRevision::Any,
            events: vec![event("b")],
        },
    ];
    assert!(matches!(
        store.append_multi(&twice, Durability::Synced),
        Err(Error::InvalidArgument { .. })
    ));
    let same_id = vec![event("a").with_id([5; 16]), event("b").with_id([5; 16])];
    assert!(matches!(
        store.append("s-1", ExpectedRevision::Any, same_id, Durability::Synced),
        Err(Error::InvalidArgument { .. })
    ));
    let same_id_two_streams = vec![
        StreamAppend {
            stream: Bytes::from_static(b"s-1"),
            expected: ExpectedRevision::Any,
            events: vec![event("a").with_id([6; 16])],
        },
        StreamAppend {
            stream: Bytes::from_static(b"s-2"),
            expected: ExpectedRevision::Any,
            events: vec![event("b").with_id([6; 16])],
        },
    ];
    assert!(matches!(
        store.append_multi(&same_id_two_streams, Durability::Synced),
        Err(Error::InvalidArgument { .. })
    ));
    let huge = NewEvent::new("Big", vec![0u8; annal::limits::EVENT_BYTES_MAX + 1]);
    assert!(matches!(
        store.append("s-1", ExpectedRevision::Any, vec![huge], Durability::Synced),
        Err(Error::LimitExceeded { .. })
    ));
    assert!(matches!(
        store.truncate_stream(b"nope-1", Revision(1)),
        Err(Error::StreamNotFound { .. })
    ));
    assert_eq!(store.log_next_position(), before);
}
