//! `OpenChecks::LastSegment`: opening scans only the last segment; sealed segments are
//! scanned by their first reader, which gets any damage as a clear error.

use std::path::PathBuf;
use std::sync::Arc;

use annal::testing::SimStorage;
use annal::{Durability, Error, Log, OpenChecks, Options, Position};

const DIR: &str = "/log";

fn options(checks: OpenChecks) -> Options {
    Options::default()
        .segment_bytes(64 << 10)
        .open_checks(checks)
}

fn write_log(storage: &SimStorage) -> Vec<Vec<u8>> {
    let log = Log::open_with_storage(
        DIR,
        options(OpenChecks::AllSegments),
        Arc::new(storage.clone()),
    )
    .unwrap();
    let events: Vec<Vec<u8>> = (0..600u32).map(|i| vec![(i % 251) as u8; 300]).collect();
    for event in &events {
        log.append(event, Durability::Written).unwrap();
    }
    log.close().unwrap();
    events
}

fn segments(storage: &SimStorage) -> Vec<PathBuf> {
    storage
        .file_names()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect()
}

#[test]
fn deferred_segments_read_back_every_event() {
    // Proves a log opened with LastSegment checks reads every event, across deferred segments.
    let storage = SimStorage::new();
    let events = write_log(&storage);
    assert!(segments(&storage).len() >= 3);
    let log = Log::open_with_storage(
        DIR,
        options(OpenChecks::LastSegment),
        Arc::new(storage.clone()),
    )
    .unwrap();
    let read: Vec<Vec<u8>> = log
        .read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap().payload.to_vec())
        .collect();
    assert_eq!(read, events);
    assert_eq!(
        log.read(Position(123)).unwrap().payload.to_vec(),
        events[123]
    );
    log.append(b"more", Durability::Synced).unwrap();
}

#[test]
fn damage_in_a_deferred_segment_is_reported_to_its_reader() {
    // Proves a flipped bit in a sealed segment opens under LastSegment but fails the read that reaches it, naming the file.
    let storage = SimStorage::new();
    write_log(&storage);
    let first = segments(&storage)[0].clone();
    let mut bytes = storage.file_bytes(&first).unwrap();
    bytes[64 + 40 + 4 + 10] ^= 0x08;
    storage.corrupt_file(&first, 0, &bytes);
    let refused = Log::open_with_storage(
        DIR,
        options(OpenChecks::AllSegments),
        Arc::new(storage.clone()),
    );
    assert!(matches!(refused, Err(Error::Corrupt { .. })));
    let log = Log::open_with_storage(
        DIR,
        options(OpenChecks::LastSegment),
        Arc::new(storage.clone()),
    )
    .unwrap();
    match log.read(Position(0)) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!(path, first);
            assert_eq!(offset, 64);
        }
        other => panic!("expected a corrupt error, got {other:?}"),
    }
    let last = log.last_written().unwrap();
    assert!(log.read(last).is_ok(), "other segments still read");
}

#[test]
fn verify_reads_catches_damage_made_after_open() {
    // Proves verify_reads re-checks body checksums on every read, while the default trusts the open-time scan.
    let storage = SimStorage::new();
    write_log(&storage);
    let first = segments(&storage)[0].clone();
    let open = |verify: bool| {
        Log::open_with_storage(
            DIR,
            options(OpenChecks::AllSegments).verify_reads(verify),
            Arc::new(storage.clone()),
        )
        .unwrap()
    };
    let checked = open(true);
    let mut bytes = storage.file_bytes(&first).unwrap();
    bytes[64 + 40 + 4 + 10] ^= 0x08;
    storage.corrupt_file(&first, 0, &bytes);
    assert!(matches!(
        checked.read(Position(0)),
        Err(Error::Corrupt { .. })
    ));
    drop(checked);
    bytes[64 + 40 + 4 + 10] ^= 0x08;
    storage.corrupt_file(&first, 0, &bytes);
    let trusting = open(false);
    bytes[64 + 40 + 4 + 10] ^= 0x08;
    storage.corrupt_file(&first, 0, &bytes);
    let event = trusting.read(Position(0)).unwrap();
    assert_ne!(event.payload[10], 0, "the flipped byte is read as is");
}
