//! Retention (`Log::truncate_before`): it removes whole segments below a position, never
//! the active one, is crash-safe at every step, and never pulls a segment from under
//! the readers and subscriptions holding it.

use std::path::Path;
use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::Storage;
use annal::{Durability, Error, Log, Options, Position, Start};

use crate::support::{append_numbered, number_of, numbered, CrashingStorage};

const SEGMENT_BYTES: u64 = 64 << 10;

fn dir() -> &'static Path {
    Path::new("/sim/retention")
}

fn open_on(storage: Arc<dyn Storage>) -> Log {
    Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES),
        storage,
    )
    .unwrap()
}

/// Appends events of about a tenth of a segment until the log has `segments` segments;
/// returns how many events it appended.
fn fill_segments(log: &Log, segments: usize) -> u64 {
    let mut n = 0;
    while segment_count(log) < segments {
        log.append(&numbered(n, 6000), Durability::Written).unwrap();
        n += 1;
    }
    log.sync().unwrap();
    n
}

fn segment_count(log: &Log) -> usize {
    log.metrics().rolls as usize + 1
}

/// The first positions of the segment files in the simulated log directory.
fn segment_firsts(storage: &SimStorage) -> Vec<u64> {
    storage
        .file_names()
        .iter()
        .filter(|path| path.parent() == Some(dir()))
        .filter_map(|path| annal::testing::parse_segment_file_name(path.file_name()?.to_str()?))
        .collect()
}

#[test]
fn truncate_before_removes_whole_segments_below_the_position() {
    // Proves retention removes exactly the segments entirely below the position, moves
    // the first position, refuses reads below it, and the result survives a reopen.
    let storage = SimStorage::new();
    let log = open_on(Arc::new(storage.clone()));
    let total = fill_segments(&log, 5);
    let firsts = segment_firsts(&storage);
    assert_eq!(firsts.len(), 5);
    let inside_third = firsts[2] + 1;
    assert_eq!(
        log.truncate_before(Position(inside_third)).unwrap(),
        Position(firsts[2])
    );
    assert_eq!(log.first_position(), Position(firsts[2]));
    assert_eq!(segment_firsts(&storage), firsts[2..]);
    assert!(matches!(
        log.read(Position(firsts[2] - 1)),
        Err(Error::PositionOutOfRange { .. })
    ));
    assert!(matches!(
        log.subscribe(Position(0)),
        Err(Error::PositionOutOfRange { .. })
    ));
    assert_eq!(
        number_of(&log.read(Position(firsts[2])).unwrap()),
        firsts[2]
    );
    // Truncating again below the first position removes nothing.
    assert_eq!(
        log.truncate_before(Position(firsts[2])).unwrap(),
        Position(firsts[2])
    );
    drop(log);
    let log = open_on(Arc::new(storage));
    assert_eq!(log.first_position(), Position(firsts[2]));
    let read: Vec<u64> = log
        .read_from(Position(firsts[2]))
        .unwrap()
        .map(|e| number_of(&e.unwrap()))
        .collect();
    assert_eq!(read, (firsts[2]..total).collect::<Vec<_>>());
}

#[test]
fn truncate_before_keeps_the_active_segment_and_refuses_the_future() {
    // Proves truncating at the end removes every sealed segment but never the active
    // one, and a position past the end is a clear error.
    let storage = SimStorage::new();
    let log = open_on(Arc::new(storage.clone()));
    let total = fill_segments(&log, 3);
    let active = *segment_firsts(&storage).iter().max().unwrap();
    assert!(matches!(
        log.truncate_before(Position(total + 1)),
        Err(Error::PositionOutOfRange { .. })
    ));
    assert_eq!(
        log.truncate_before(Position(total)).unwrap(),
        Position(active)
    );
    assert_eq!(segment_firsts(&storage), vec![active]);
    append_numbered(&log, total, 1, Durability::Synced);
    assert_eq!(number_of(&log.read(Position(total)).unwrap()), total);
}

#[test]
fn readers_keep_reading_a_segment_retention_removed() {
    // Proves a removed segment stays mapped for the readers holding it (real files):
    // an event's payload, a reader and a subscription read it whole afterwards, and the
    // subscription then reports BehindRetention instead of waiting.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
    let total = fill_segments(&log, 4);
    let held_event = log.read(Position(0)).unwrap();
    let mut reader = log.read_from(Position(1)).unwrap();
    let mut subscription = log.subscribe(Start::Beginning).unwrap();
    assert_eq!(number_of(&subscription.try_next().unwrap().unwrap()), 0);
    let first = log.truncate_before(Position(total)).unwrap();
    assert!(first.0 > 0);
    let segment_files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            annal::testing::parse_segment_file_name(name.to_str().unwrap()).is_some()
        })
        .count();
    assert_eq!(
        segment_files, 1,
        "removed segment files are gone from the directory"
    );
    assert_eq!(number_of(&held_event), 0);
    let mut next = 1;
    for event in reader.by_ref() {
        assert_eq!(number_of(&event.unwrap()), next);
        next += 1;
    }
    assert!(
        next > 1 && next < first.0,
        "the reader finished its own segment only"
    );
    let mut delivered = 1;
    let error = loop {
        match subscription.try_next() {
            Ok(Some(event)) => {
                assert_eq!(number_of(&event), delivered);
                delivered += 1;
            }
            Ok(None) => panic!("the subscription waited instead of reporting retention"),
            Err(e) => break e,
        }
    };
    match error {
        Error::BehindRetention {
            position,
            first: now_first,
        } => {
            assert_eq!(position, Position(delivered));
            assert_eq!(now_first, first);
        }
        other => panic!("expected BehindRetention, got {other:?}"),
    }
}

#[test]
fn truncation_survives_a_crash_at_every_step() {
    // Proves a power loss at any step of truncate_before leaves a log that opens, holds
    // a gapless run of segments ending where it did, and every event in it intact.
    let mut step = 0;
    loop {
        let storage = CrashingStorage::new(SimStorage::new(), CrashMode::DropUnsynced);
        let log = open_on(Arc::new(storage.clone()));
        let total = fill_segments(&log, 5);
        storage.arm(step);
        let truncated = log.truncate_before(Position(total));
        let crashed_at = storage.crashed_at();
        drop(log);
        let log = open_on(Arc::new(storage.survivor()));
        assert_eq!(log.next_position(), Position(total), "step {step}");
        let first = log.first_position().0;
        let read: Vec<u64> = log
            .read_from(Position(first))
            .unwrap()
            .map(|e| number_of(&e.unwrap()))
            .collect();
        assert_eq!(read, (first..total).collect::<Vec<_>>(), "step {step}");
        if crashed_at.is_none() {
            let first = truncated.expect("truncation without a crash succeeds");
            assert_eq!(log.first_position(), first);
            break;
        }
        step += 1;
    }
    assert!(step >= 8, "the sweep crashed only {step} steps");
}
