//! Suffix truncation (`Log::truncate_from`): it removes every event from a position on,
//! across segments and synced ones included, all-or-nothing at every crash point (the
//! marker finishes it at open, also when that open crashes), tells readers holding the
//! removed events, and refuses bad positions with a clear error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use annal::testing::{CrashMode, SimStorage};
use annal::Storage;
use annal::{Durability, Error, Log, Options, Position};

use crate::support::{number_of, numbered, CrashingStorage};

const SEGMENT_BYTES: u64 = 64 << 10;

fn dir() -> &'static Path {
    Path::new("/sim/truncation")
}

fn open_on(storage: Arc<dyn Storage>) -> Log {
    Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES),
        storage,
    )
    .unwrap()
}

/// Appends numbered events `from..to` of about a twentieth of a segment, synced.
fn append_range(log: &Log, from: u64, to: u64) {
    for n in from..to {
        log.append(&numbered(n, 3000), Durability::Synced).unwrap();
    }
}

fn numbers(log: &Log) -> Vec<u64> {
    log.read_from(log.first_position())
        .unwrap()
        .map(|e| number_of(&e.unwrap()))
        .collect()
}

#[test]
fn truncation_across_segments_removes_the_suffix_for_good() {
    // Proves a cut inside an earlier segment removes the later segments and the synced
    // tail of the cut one, appends continue at the cut, and a reopen and a power loss
    // bring nothing removed back.
    let storage = SimStorage::new();
    let log = open_on(Arc::new(storage.clone()));
    append_range(&log, 0, 100);
    assert!(log.metrics().rolls >= 3, "the log spans several segments");
    log.truncate_from(Position(30)).unwrap();
    assert_eq!(log.next_position(), Position(30));
    assert_eq!(log.last_synced(), Some(Position(29)));
    assert_eq!(numbers(&log), (0..30).collect::<Vec<_>>());
    assert!(matches!(
        log.read(Position(30)),
        Err(Error::PositionOutOfRange { .. })
    ));
    // New events at the removed positions, distinguishable by their numbers.
    append_range(&log, 1000, 1010);
    let expected: Vec<u64> = (0..30).chain(1000..1010).collect();
    assert_eq!(numbers(&log), expected);
    drop(log);
    let log = open_on(Arc::new(storage.crash(CrashMode::DropUnsynced)));
    assert_eq!(numbers(&log), expected);
    assert_eq!(log.next_position(), Position(40));
}

#[test]
fn truncation_to_the_first_position_empties_the_log() {
    // Proves cutting at the first position leaves an empty log that appends refill.
    let storage = SimStorage::new();
    let log = open_on(Arc::new(storage.clone()));
    append_range(&log, 0, 50);
    log.truncate_from(Position(0)).unwrap();
    assert_eq!(log.next_position(), Position(0));
    assert_eq!(numbers(&log), Vec::<u64>::new());
    append_range(&log, 500, 503);
    drop(log);
    let log = open_on(Arc::new(storage.crash(CrashMode::DropUnsynced)));
    assert_eq!(numbers(&log), vec![500, 501, 502]);
}

#[test]
fn bad_positions_get_clear_errors_and_change_nothing() {
    // Proves positions past the end, before the first retained, and inside a multi-event
    // append are refused with the documented errors, and the next position is a no-op.
    let log = open_on(Arc::new(SimStorage::new()));
    append_range(&log, 0, 60);
    log.append_batch(&[b"a".as_slice(), b"b", b"c"], Durability::Synced)
        .unwrap();
    let first = log.truncate_before(Position(40)).unwrap();
    assert!(first.0 > 0);
    assert!(matches!(
        log.truncate_from(Position(64)),
        Err(Error::PositionOutOfRange {
            position: Position(64),
            ..
        })
    ));
    assert!(matches!(
        log.truncate_from(Position(first.0 - 1)),
        Err(Error::PositionOutOfRange { .. })
    ));
    let inside = log.truncate_from(Position(61)).unwrap_err();
    assert!(
        matches!(&inside, Error::InvalidArgument { reason } if reason.contains("60..63")),
        "{inside}"
    );
    log.truncate_from(Position(63)).unwrap();
    assert_eq!(log.next_position(), Position(63));
    assert_eq!(log.read_from(first).unwrap().count() as u64, 63 - first.0);
}

#[test]
fn readers_past_the_cut_fail_and_readers_at_it_continue() {
    // Proves a reader that returned a removed event fails with PositionOutOfRange, a
    // reader and a subscription that stopped at the cut go on with the new events, and
    // payloads held from before keep their bytes.
    let log = open_on(Arc::new(SimStorage::new()));
    append_range(&log, 0, 40);
    let mut past = log.read_from(Position(0)).unwrap();
    let held: Vec<_> = past.by_ref().take(35).map(|e| e.unwrap()).collect();
    let mut at_cut = log.read_from(Position(0)).unwrap();
    for _ in 0..20 {
        at_cut.next().unwrap().unwrap();
    }
    let mut subscription = log.subscribe(Position(20)).unwrap();
    log.truncate_from(Position(20)).unwrap();
    assert!(matches!(
        past.next(),
        Some(Err(Error::PositionOutOfRange {
            position: Position(35),
            ..
        }))
    ));
    append_range(&log, 900, 905);
    let continued: Vec<u64> = at_cut.map(|e| number_of(&e.unwrap())).collect();
    assert_eq!(continued, (900..905).collect::<Vec<_>>());
    let first = subscription
        .next(Duration::from_secs(5))
        .unwrap()
        .expect("the new event at the cut");
    assert_eq!((first.position, number_of(&first)), (Position(20), 900));
    for (n, event) in held.iter().enumerate() {
        assert_eq!(number_of(event), n as u64, "held payloads are unchanged");
    }
}

/// What a crash during a truncation from `cut` of `total` events may leave: everything,
/// or exactly the events before the cut.
fn assert_all_or_cut(log: &Log, total: u64, cut: u64, step: u64) -> bool {
    let read = numbers(log);
    if read == (0..total).collect::<Vec<_>>() {
        return false;
    }
    assert_eq!(read, (0..cut).collect::<Vec<_>>(), "step {step}");
    assert_eq!(log.next_position(), Position(cut), "step {step}");
    true
}

#[test]
fn a_crash_at_every_step_leaves_all_or_the_cut_and_never_half() {
    // Proves, for a power loss before each mutating call of a truncation (dropping or
    // tearing what was not synced), the reopened log holds either every event or exactly
    // those before the cut, the cut once the call returned, and appends work after.
    for mode in [CrashMode::DropUnsynced, CrashMode::TearUnsynced { seed: 7 }] {
        let mut step = 0;
        let mut cut_seen = false;
        loop {
            let storage = CrashingStorage::new(SimStorage::new(), mode);
            let log = open_on(Arc::new(storage.clone()));
            append_range(&log, 0, 80);
            storage.arm(step);
            let result = log.truncate_from(Position(25));
            let crashed_at = storage.crashed_at();
            drop(log);
            let log = open_on(Arc::new(storage.survivor()));
            let cut = assert_all_or_cut(&log, 80, 25, step);
            cut_seen |= cut;
            append_range(&log, 5000, 5002);
            assert_eq!(log.last_synced(), Some(Position(log.next_position().0 - 1)));
            if crashed_at.is_none() {
                result.expect("a truncation without a crash succeeds");
                assert!(cut, "a returned truncation is the cut");
                break;
            }
            step += 1;
        }
        assert!(step >= 8, "the sweep crashed only {step} steps");
        assert!(cut_seen);
    }
}

/// A log of `total` events whose truncation from `cut` was cut short by a power loss
/// right after its marker became durable (the earliest crash point leaving one).
fn crashed_with_marker(total: u64, cut: u64) -> SimStorage {
    for step in 0..32 {
        let storage = CrashingStorage::new(SimStorage::new(), CrashMode::DropUnsynced);
        let log = open_on(Arc::new(storage.clone()));
        append_range(&log, 0, total);
        storage.arm(step);
        let _ = log.truncate_from(Position(cut));
        drop(log);
        let survivor = storage.survivor();
        let has_marker = survivor
            .file_names()
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == "TRUNCATE"));
        if has_marker {
            return survivor;
        }
    }
    panic!("no crash point left a durable marker");
}

#[test]
fn a_crash_while_the_open_finishes_a_truncation_is_finished_by_the_next_open() {
    // Proves the marker is honoured whatever step of finishing it crashes: every
    // crash point of the open that finds it leaves a log that the next open cuts.
    let with_marker = crashed_with_marker(80, 25);
    let mut step = 0;
    loop {
        let reopening = CrashingStorage::new(with_marker.fork(), CrashMode::DropUnsynced);
        reopening.arm(step);
        let opened = Log::open_with_storage(
            dir(),
            Options::default().segment_bytes(SEGMENT_BYTES),
            Arc::new(reopening.clone()),
        );
        let crashed = reopening.crashed_at().is_some();
        drop(opened);
        let log = open_on(Arc::new(reopening.survivor()));
        assert!(assert_all_or_cut(&log, 80, 25, step), "step {step}");
        if !crashed {
            break;
        }
        step += 1;
    }
    assert!(step >= 3, "the sweep crashed only {step} steps");
}

#[test]
fn a_damaged_marker_refuses_to_open() {
    // Proves a marker that fails its checksum is reported as corrupt, never guessed at.
    let survivor = crashed_with_marker(10, 5);
    survivor.corrupt_file(&dir().join("TRUNCATE"), 24, &[0xff]);
    let error = Log::open_with_storage(dir(), Options::default(), Arc::new(survivor)).unwrap_err();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
}
