//! The clean-close marker: a log closed cleanly opens scanning only its last segment;
//! the open removes the marker before anything can change, and a marker that no longer
//! describes the log (appends after a reopen, a crash, damage, a forged or damaged
//! marker) makes the open do the full work a crash would. An event store's close leaves
//! it too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::{Durability, Error, EventStore, ExpectedRevision, Log, NewEvent, Options, Position};

const DIR: &str = "/log";
const MARKER: &str = "/log/CLEAN";

fn open(storage: &SimStorage) -> Result<Log, Error> {
    let options = Options::default().segment_bytes(64 << 10);
    Log::open_with_storage(DIR, options, Arc::new(storage.clone()))
}

fn has_marker(storage: &SimStorage) -> bool {
    storage.file_names().iter().any(|p| p == Path::new(MARKER))
}

fn segments(storage: &SimStorage) -> Vec<PathBuf> {
    storage
        .file_names()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect()
}

/// Appends `n` 300-byte events (Buffered, as a bulk load would) from `from`, over
/// several 64 KiB segments.
fn append(log: &Log, from: u32, n: u32) -> Vec<Vec<u8>> {
    let events: Vec<Vec<u8>> = (from..from + n)
        .map(|i| vec![(i % 251) as u8; 300])
        .collect();
    for event in &events {
        log.append(event, Durability::Buffered).unwrap();
    }
    events
}

fn read_all(log: &Log) -> Vec<Vec<u8>> {
    log.read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap().payload.to_vec())
        .collect()
}

#[test]
fn a_clean_close_lets_the_next_open_scan_only_the_last_segment() {
    // Proves a closed log reopens scanning one segment (two without the marker, after a drop), takes the marker at open, and reads every event back.
    let storage = SimStorage::new();
    let log = open(&storage).unwrap();
    let events = append(&log, 0, 600);
    drop(log);
    assert!(!has_marker(&storage), "a drop writes no marker");
    let log = open(&storage).unwrap();
    assert!(segments(&storage).len() >= 3);
    assert_eq!(log.recovery_report().segments_scanned, 2);
    log.close().unwrap();
    assert!(has_marker(&storage));
    let log = open(&storage).unwrap();
    assert!(!has_marker(&storage), "the open takes the marker");
    assert_eq!(log.recovery_report().segments_scanned, 1);
    assert_eq!(read_all(&log), events);
}

#[test]
fn the_marker_is_gone_durably_before_the_reopened_log_appends() {
    // Proves the marker's removal at open survives a power loss right after the open, so appends after a reopen can never meet a stale marker.
    let storage = SimStorage::new();
    let log = open(&storage).unwrap();
    append(&log, 0, 600);
    log.close().unwrap();
    let log = open(&storage).unwrap();
    let after = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    assert!(!has_marker(&after));
    let log = open(&after).unwrap();
    assert_eq!(log.recovery_report().segments_scanned, 2);
}

#[test]
fn kill_after_a_reopen_and_more_appends_recovers_in_full() {
    // Proves appends after a clean close and reopen, then a kill -9 (live bytes kept) or a power loss (torn unsynced sectors), reopen with the full tail recovery and lose no synced event.
    for seed in 0..8u64 {
        let storage = SimStorage::new();
        let log = open(&storage).unwrap();
        let mut events = append(&log, 0, 600);
        log.close().unwrap();
        let log = open(&storage).unwrap();
        events.extend(append(&log, 600, 200));
        log.append(b"synced", Durability::Synced).unwrap();
        events.push(b"synced".to_vec());
        let unsynced = append(&log, 801, 150);
        let killed = storage.fork();
        let lost_power = storage.crash(CrashMode::TearUnsynced { seed });
        drop(log);
        let reopened = open(&killed).unwrap();
        let mut all = events.clone();
        all.extend(unsynced.clone());
        let read = read_all(&reopened);
        assert!(read.len() >= events.len(), "seed {seed}");
        assert_eq!(read[..], all[..read.len()], "seed {seed}");
        let reopened = open(&lost_power).unwrap();
        assert_eq!(
            reopened.recovery_report().segments_scanned,
            2,
            "seed {seed}"
        );
        let read = read_all(&reopened);
        assert!(
            read.len() >= events.len(),
            "seed {seed}: synced events lost"
        );
        assert_eq!(read[..], all[..read.len()], "seed {seed}");
    }
}

#[test]
fn damage_after_a_clean_close_is_still_caught() {
    // Proves a bit flipped after a clean close in the segment before the last is refused to its reader (Corrupt naming the file), and one in the last segment makes the open ignore the marker and recover as after a crash.
    let storage = SimStorage::new();
    let log = open(&storage).unwrap();
    let events = append(&log, 0, 600);
    log.close().unwrap();
    let segs = segments(&storage);
    let before_last = segs[segs.len() - 2].clone();
    let damaged = storage.fork();
    let mut bytes = damaged.file_bytes(&before_last).unwrap();
    bytes[64 + 40 + 4 + 10] ^= 0x08;
    damaged.corrupt_file(&before_last, 0, &bytes);
    let log = open(&damaged).unwrap();
    assert_eq!(log.recovery_report().segments_scanned, 1);
    match log.read_from(Position(0)).unwrap().find_map(Result::err) {
        Some(Error::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (before_last, 64));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The last segment's last record, flipped: a torn tail as far as the scan can tell,
    // so the marker no longer matches and the open scans the segment before it too.
    let last = segs[segs.len() - 1].clone();
    let tail = storage.fork();
    let mut bytes = tail.file_bytes(&last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    bytes[end] ^= 0x01;
    tail.corrupt_file(&last, 0, &bytes);
    let log = open(&tail).unwrap();
    assert_eq!(log.recovery_report().segments_scanned, 2);
    assert!(
        !log.recovery_report().actions.is_empty(),
        "the cut is reported"
    );
    assert_eq!(read_all(&log)[..], events[..events.len() - 1]);
}

#[test]
fn a_marker_that_does_not_describe_the_log_is_ignored() {
    // Proves a damaged marker, one with a bad magic, and a well-formed one naming another end are all ignored (full tail scan) and removed, and the log opens intact.
    let storage = SimStorage::new();
    let log = open(&storage).unwrap();
    let events = append(&log, 0, 600);
    log.close().unwrap();
    let marker = storage.file_bytes(Path::new(MARKER)).unwrap();
    let mut damaged = marker.clone();
    damaged[20] ^= 0x40;
    let mut stale = marker.clone();
    // The end position (bytes 40..48) one event short, checksum (48..52) recomputed.
    let end = u64::from_le_bytes(stale[40..48].try_into().unwrap()) - 1;
    stale[40..48].copy_from_slice(&end.to_le_bytes());
    let crc = crc32fast::hash(&stale[..48]);
    stale[48..52].copy_from_slice(&crc.to_le_bytes());
    for bad in [damaged, stale, b"NOTCLEAN".to_vec()] {
        let copy = storage.fork();
        copy.corrupt_file(Path::new(MARKER), 0, &bad);
        let log = open(&copy).unwrap();
        assert!(!has_marker(&copy));
        assert_eq!(log.recovery_report().segments_scanned, 2);
        assert_eq!(read_all(&log), events);
    }
}

#[test]
fn a_close_whose_sync_fails_leaves_no_marker() {
    // Proves a close that cannot make the buffered events durable (fdatasync fails) reports the error and writes no marker, so the next open scans the tail as after a crash.
    let storage = SimStorage::new();
    let log = open(&storage).unwrap();
    append(&log, 0, 600);
    storage.fail_syncs_after(0);
    assert!(log.close().is_err());
    assert!(!has_marker(&storage));
    storage.clear_faults();
    let log = open(&storage).unwrap();
    assert_eq!(log.recovery_report().segments_scanned, 2);
}

#[test]
fn an_event_store_closed_cleanly_reopens_scanning_only_its_last_segment() {
    // Proves EventStore::close leaves the marker, its reopen takes it and scans one segment, and every stream reads back whole.
    let storage = SimStorage::new();
    let options = Options::default().segment_bytes(64 << 10);
    let store = EventStore::open_with_storage("/store", options.clone(), Arc::new(storage.clone()))
        .unwrap();
    for i in 0..600u32 {
        let event = NewEvent::new("Ticked", vec![(i % 251) as u8; 300]);
        let stream = format!("clock-{}", i % 7);
        store
            .append(
                stream.as_str(),
                ExpectedRevision::Any,
                vec![event],
                Durability::Buffered,
            )
            .unwrap();
    }
    store.close().unwrap();
    let log_segments = segments(&storage).len();
    assert!(log_segments >= 3, "{log_segments} segments");
    assert!(storage
        .file_names()
        .iter()
        .any(|p| p == Path::new("/store/CLEAN")));
    let store =
        EventStore::open_with_storage("/store", options, Arc::new(storage.clone())).unwrap();
    assert!(!storage
        .file_names()
        .iter()
        .any(|p| p == Path::new("/store/CLEAN")));
    assert_eq!(store.recovery_report().segments_scanned, 1);
    let events: usize = (0..7)
        .map(|k| {
            store
                .read_stream(
                    format!("clock-{k}").as_str(),
                    annal::Revision(0),
                    annal::Direction::Forwards,
                    1000,
                )
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(events, 600);
}
