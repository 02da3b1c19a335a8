//! Bad input on the simulated backend: every limit is refused with the documented error,
//! nothing is written when an input is refused, and the log keeps working afterwards.
//! Also checks that every error's `Display` is a lowercase sentence.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal::limits::{BATCH_EVENTS_MAX, EVENT_BYTES_MAX, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN};
use annal::testing::SimStorage;
use annal::{Durability, Error, Limit, Log, Options, Position};

const SEGMENT_BYTES: u64 = 64 << 10;

fn dir() -> PathBuf {
    PathBuf::from("/sim/limits")
}

fn open(storage: &SimStorage) -> Log {
    Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

/// A log holding three events, and the storage's write count after they were written.
fn log_with_three_events() -> (SimStorage, Log) {
    let storage = SimStorage::new();
    let log = open(&storage);
    log.append_batch(&[b"zero".as_slice(), b"one", b"two"], Durability::Synced)
        .unwrap();
    (storage, log)
}

/// Checks a refused input left the log as it was and that it still appends and reads.
fn assert_unchanged_and_working(storage: &SimStorage, log: &Log, writes_before: u64) {
    assert_eq!(
        log.next_position(),
        Position(3),
        "a refused input moved the log"
    );
    assert_eq!(
        storage.counters().writes,
        writes_before,
        "a refused input wrote to storage"
    );
    assert!(!log.is_poisoned(), "a refused input poisoned the log");
    let appended = log.append(b"after", Durability::Synced).unwrap();
    assert_eq!(appended.first, Position(3));
    let payloads: Vec<Vec<u8>> = log
        .read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap().payload.to_vec())
        .collect();
    assert_eq!(
        payloads,
        vec![
            b"zero".to_vec(),
            b"one".to_vec(),
            b"two".to_vec(),
            b"after".to_vec()
        ]
    );
}

fn assert_limit(result: annal::Result<annal::Appended>, expected: Limit) -> (u64, u64) {
    match result {
        Err(Error::LimitExceeded { limit, value, max }) => {
            assert_eq!(limit, expected);
            assert!(value > max, "{value} is not over {max}");
            (value, max)
        }
        other => panic!("expected {expected:?} limit error, got {other:?}"),
    }
}

#[test]
fn empty_batch_is_refused_and_writes_nothing() {
    // Proves an empty batch fails with EmptyBatch, writes nothing, and leaves the log usable.
    let (storage, log) = log_with_three_events();
    let writes = storage.counters().writes;
    let empty: [&[u8]; 0] = [];
    for durability in [
        Durability::Buffered,
        Durability::Written,
        Durability::Synced,
    ] {
        assert!(matches!(
            log.append_batch(&empty, durability),
            Err(Error::EmptyBatch)
        ));
    }
    assert_unchanged_and_working(&storage, &log, writes);
}

#[test]
fn oversized_event_is_refused_as_event_bytes() {
    // Proves an event one byte over EVENT_BYTES_MAX fails with Limit::EventBytes, alone or in a batch.
    let (storage, log) = log_with_three_events();
    let writes = storage.counters().writes;
    let big = vec![7u8; EVENT_BYTES_MAX + 1];
    let (value, max) = assert_limit(log.append(&big, Durability::Synced), Limit::EventBytes);
    assert_eq!(value, EVENT_BYTES_MAX as u64 + 1);
    assert_eq!(max, EVENT_BYTES_MAX as u64);
    assert_limit(
        log.append_batch(&[b"small".as_slice(), &big], Durability::Written),
        Limit::EventBytes,
    );
    assert_unchanged_and_working(&storage, &log, writes);
}

#[test]
fn too_many_events_are_refused_as_batch_events() {
    // Proves a batch of BATCH_EVENTS_MAX + 1 (empty) events fails with Limit::BatchEvents.
    let (storage, log) = log_with_three_events();
    let writes = storage.counters().writes;
    let events = vec![Vec::<u8>::new(); BATCH_EVENTS_MAX + 1];
    let (value, max) = assert_limit(
        log.append_batch(&events, Durability::Synced),
        Limit::BatchEvents,
    );
    assert_eq!(value, BATCH_EVENTS_MAX as u64 + 1);
    assert_eq!(max, BATCH_EVENTS_MAX as u64);
    assert_unchanged_and_working(&storage, &log, writes);
}

#[test]
fn batch_larger_than_segment_capacity_is_refused_as_batch_bytes() {
    // Proves a batch (or single event) that cannot fit in one small segment fails with Limit::BatchBytes.
    let (storage, log) = log_with_three_events();
    let writes = storage.counters().writes;
    let half = vec![1u8; (SEGMENT_BYTES / 2) as usize];
    let (value, max) = assert_limit(
        log.append_batch(&[&half, &half], Durability::Synced),
        Limit::BatchBytes,
    );
    assert!(
        max < SEGMENT_BYTES,
        "capacity {max} should be below the segment size"
    );
    assert!(value > SEGMENT_BYTES);
    let one_too_many = vec![2u8; SEGMENT_BYTES as usize];
    assert_limit(
        log.append(&one_too_many, Durability::Written),
        Limit::BatchBytes,
    );
    assert_unchanged_and_working(&storage, &log, writes);
}

#[test]
fn largest_batch_that_fits_a_segment_is_accepted() {
    // Proves the BatchBytes limit is exact: a record of exactly the reported capacity is accepted, one byte more is not.
    let (storage, log) = log_with_three_events();
    let probe = vec![0u8; SEGMENT_BYTES as usize];
    let (_, capacity) = assert_limit(log.append(&probe, Durability::Synced), Limit::BatchBytes);
    // A single-event record is 40 header bytes + 4 length bytes + payload, rounded to 8.
    let fits = vec![3u8; capacity as usize - 44];
    let too_big = vec![3u8; capacity as usize - 44 + 1];
    let writes = storage.counters().writes;
    assert_limit(log.append(&too_big, Durability::Synced), Limit::BatchBytes);
    assert_eq!(storage.counters().writes, writes);
    let appended = log.append(&fits, Durability::Synced).unwrap();
    assert_eq!(appended.first, Position(3));
    assert_eq!(log.read(Position(3)).unwrap().payload.len(), fits.len());
    assert_eq!(&log.read(Position(2)).unwrap().payload[..], b"two");
}

#[test]
fn invalid_segment_sizes_are_refused_before_touching_storage() {
    // Proves segment sizes below the minimum or not a multiple of 4096 give InvalidOptions, above the maximum give SegmentBytes, and none creates a file.
    let storage = SimStorage::new();
    for bad in [
        0,
        4096,
        SEGMENT_BYTES_MIN - 4096,
        SEGMENT_BYTES_MIN + 1,
        SEGMENT_BYTES_MIN + 2048,
    ] {
        let result = Log::open_with_storage(
            dir(),
            Options::default().segment_bytes(bad),
            Arc::new(storage.clone()),
        );
        match result {
            Err(Error::InvalidOptions { reason }) => {
                assert!(reason.contains(&bad.to_string()), "{reason}")
            }
            other => panic!("segment_bytes {bad}: expected InvalidOptions, got {other:?}"),
        }
    }
    match Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES_MAX + 4096),
        Arc::new(storage.clone()),
    ) {
        Err(Error::LimitExceeded {
            limit: Limit::SegmentBytes,
            ..
        }) => {}
        other => panic!("expected SegmentBytes limit, got {other:?}"),
    }
    assert!(
        storage.file_names().is_empty(),
        "{:?}",
        storage.file_names()
    );
    // The smallest valid size works, and the lock was not left held by the failures.
    let log = Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES_MIN),
        Arc::new(storage.clone()),
    )
    .unwrap();
    log.append(b"ok", Durability::Synced).unwrap();
    assert_eq!(&log.read(Position(0)).unwrap().payload[..], b"ok");
}

#[test]
fn reading_outside_the_log_is_position_out_of_range() {
    // Proves reads at or past the end fail with PositionOutOfRange carrying the log's bounds, and change nothing.
    let (storage, log) = log_with_three_events();
    let writes = storage.counters().writes;
    for position in [3, 4, 1000, u64::MAX] {
        match log.read(Position(position)) {
            Err(Error::PositionOutOfRange {
                position: p,
                first,
                next,
            }) => {
                assert_eq!(p, Position(position));
                assert_eq!(first, Position(0));
                assert_eq!(next, Position(3));
            }
            other => panic!("read({position}): expected PositionOutOfRange, got {other:?}"),
        }
    }
    for position in [4, u64::MAX] {
        assert!(matches!(
            log.read_from(Position(position)),
            Err(Error::PositionOutOfRange { .. })
        ));
    }
    // Reading from exactly the end is allowed and yields nothing yet.
    assert_eq!(log.read_from(Position(3)).unwrap().count(), 0);
    assert_unchanged_and_working(&storage, &log, writes);
}

#[test]
fn readers_outlive_close_and_the_directory_reopens() {
    // Proves a reader taken before close still reads every event after it, and close releases the directory lock.
    let (storage, log) = log_with_three_events();
    let reader = log.read_from(Position(0)).unwrap();
    log.close().unwrap();
    assert_eq!(reader.count(), 3, "a reader outlives its log");
    let log = open(&storage);
    assert_eq!(log.next_position(), Position(3));
}

fn assert_lowercase_sentence(error: &Error) {
    let text = error.to_string();
    let first = text.chars().next();
    assert!(
        first.is_some_and(|c| !c.is_uppercase()),
        "{error:?} displays as {text:?}"
    );
    assert!(!text.ends_with('.'), "{text:?} ends with a period");
    assert!(!text.ends_with('\n'), "{text:?} ends with a newline");
}

fn some_path() -> &'static Path {
    Path::new("/sim/limits/00000000000000000000.log")
}

#[test]
fn every_error_displays_as_a_lowercase_sentence() {
    // Proves each Error variant (built by hand and as returned by the engine) displays non-empty text starting lowercase.
    let errors = vec![
        Error::Io {
            op: "fdatasync segment",
            path: Some(some_path().to_path_buf()),
            source: std::io::Error::other("Simulated failure"),
        },
        Error::Io {
            op: "list log directory",
            path: None,
            source: std::io::Error::other("x"),
        },
        Error::NoSpace {
            op: "create segment",
            path: Some(some_path().to_path_buf()),
        },
        Error::NoSpace {
            op: "create segment",
            path: None,
        },
        Error::Corrupt {
            path: some_path().to_path_buf(),
            offset: 64,
            reason: "record header checksum mismatch".into(),
        },
        Error::Poisoned,
        Error::Locked {
            path: some_path().to_path_buf(),
        },
        Error::LimitExceeded {
            limit: Limit::EventBytes,
            value: 2,
            max: 1,
        },
        Error::LimitExceeded {
            limit: Limit::BatchEvents,
            value: 2,
            max: 1,
        },
        Error::LimitExceeded {
            limit: Limit::BatchBytes,
            value: 2,
            max: 1,
        },
        Error::LimitExceeded {
            limit: Limit::SegmentBytes,
            value: 2,
            max: 1,
        },
        Error::EmptyBatch,
        Error::PositionOutOfRange {
            position: Position(9),
            first: Position(0),
            next: Position(3),
        },
        Error::InvalidOptions {
            reason: "segment_bytes 1 is below the minimum 65536".into(),
        },
        Error::Closed,
    ];
    for error in &errors {
        assert_lowercase_sentence(error);
    }
    // And the errors the engine actually returns.
    let (storage, log) = log_with_three_events();
    let empty: [&[u8]; 0] = [];
    let mut returned = vec![
        log.append_batch(&empty, Durability::Synced).unwrap_err(),
        log.read(Position(99)).unwrap_err(),
        log.append(&vec![0; SEGMENT_BYTES as usize], Durability::Synced)
            .unwrap_err(),
        Log::open_with_storage(dir(), Options::default(), Arc::new(storage.clone())).unwrap_err(),
        Log::open_with_storage(
            "/sim/other",
            Options::default().segment_bytes(1),
            Arc::new(storage.clone()),
        )
        .unwrap_err(),
    ];
    storage.fail_syncs_after(0);
    log.append(b"x", Durability::Written).unwrap();
    returned.push(log.sync().unwrap_err());
    returned.push(log.sync().unwrap_err());
    for error in &returned {
        assert_lowercase_sentence(error);
    }
    let codes: Vec<_> = returned.iter().map(Error::code).collect();
    assert_eq!(
        codes,
        vec![
            annal::ErrorCode::EmptyBatch,
            annal::ErrorCode::PositionOutOfRange,
            annal::ErrorCode::LimitExceeded,
            annal::ErrorCode::Locked,
            annal::ErrorCode::InvalidOptions,
            annal::ErrorCode::Io,
            annal::ErrorCode::Poisoned,
        ]
    );
}
