//! `LogReader::visit_next`: the batch read with borrowed payloads returns what the
//! iterator returns, stops at the watermark, and refuses damage like the iterator.

use std::sync::Arc;

use annal::testing::SimStorage;
use annal::{Durability, Error, Log, OpenChecks, Options, Position};

const DIR: &str = "/log";

fn open(storage: &SimStorage) -> Log {
    let options = Options::default()
        .segment_bytes(64 << 10)
        .open_checks(OpenChecks::LastSegment);
    Log::open_with_storage(DIR, options, Arc::new(storage.clone())).unwrap()
}

/// 600 events of 300 bytes, in records of one and of three events, over several segments.
fn write_log(storage: &SimStorage) -> Vec<Vec<u8>> {
    let log = open(storage);
    let events: Vec<Vec<u8>> = (0..600u32).map(|i| vec![(i % 251) as u8; 300]).collect();
    for (k, chunk) in events.chunks(3).enumerate() {
        if k % 2 == 0 {
            log.append_batch(chunk, Durability::Written).unwrap();
        } else {
            for event in chunk {
                log.append(event, Durability::Written).unwrap();
            }
        }
    }
    log.close().unwrap();
    events
}

fn visit_all(log: &Log, from: u64, max: usize) -> Result<Vec<(u64, Vec<u8>)>, Error> {
    let mut reader = log.read_from(Position(from))?;
    let mut seen = Vec::new();
    while reader.visit_next(max, |p, payload| seen.push((p.0, payload.to_vec())))? > 0 {}
    Ok(seen)
}

#[test]
fn visits_what_the_iterator_returns_in_any_chunk_size() {
    // Proves visit_next yields every event in order, across records, segments and deferred segments, whatever the chunk size, from the start and from inside a record.
    let storage = SimStorage::new();
    let events = write_log(&storage);
    for max in [1, 2, 7, 1000] {
        let log = open(&storage);
        let seen = visit_all(&log, 0, max).unwrap();
        let expected: Vec<(u64, Vec<u8>)> = (0u64..).zip(events.iter().cloned()).collect();
        assert_eq!(seen, expected, "max {max}");
        let from_inside = visit_all(&log, 301, max).unwrap();
        assert_eq!(from_inside, expected[301..].to_vec(), "max {max}");
        log.close().unwrap();
    }
}

#[test]
fn zero_max_visits_nothing_and_the_watermark_returns_zero_then_more() {
    // Proves max 0 visits nothing and moves nothing, and a caught-up reader returns 0 and later finds new events.
    let storage = SimStorage::new();
    write_log(&storage);
    let log = open(&storage);
    let mut reader = log.read_from(Position(599)).unwrap();
    assert_eq!(reader.visit_next(0, |_, _| panic!("visited")).unwrap(), 0);
    assert_eq!(reader.position(), Position(599));
    assert_eq!(reader.visit_next(10, |_, _| {}).unwrap(), 1);
    assert_eq!(reader.visit_next(10, |_, _| panic!("visited")).unwrap(), 0);
    log.append(b"later", Durability::Written).unwrap();
    let mut later = Vec::new();
    assert_eq!(
        reader
            .visit_next(10, |p, e| later.push((p, e.to_vec())))
            .unwrap(),
        1
    );
    assert_eq!(later, vec![(Position(600), b"later".to_vec())]);
}

#[test]
fn damage_stops_the_visit_with_corrupt_after_the_intact_events() {
    // Proves a flipped bit in a deferred segment's 3-event record ends visit_next with Corrupt naming the file, after visiting exactly the events before it, and the next call refuses again rather than skipping it.
    let storage = SimStorage::new();
    write_log(&storage);
    let first = storage
        .file_names()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .min()
        .unwrap();
    let mut bytes = storage.file_bytes(&first).unwrap();
    // Records come in groups of a 3-event batch (952 bytes) and three 1-event records
    // (344 bytes each): after three groups, the batch of positions 18..21 starts at
    // 64 + 3 × (952 + 3 × 344).
    let damaged = 64 + 3 * (952 + 3 * 344);
    bytes[damaged + 40 + 4 + 10] ^= 0x08;
    storage.corrupt_file(&first, 0, &bytes);
    let log = open(&storage);
    let mut reader = log.read_from(Position(0)).unwrap();
    let mut seen = Vec::new();
    let result = reader.visit_next(1000, |p, _| seen.push(p.0));
    match result {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!(path, first);
            assert_eq!(offset, damaged as u64);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(seen, (0..18).collect::<Vec<u64>>());
    assert!(matches!(
        reader.visit_next(1000, |_, _| panic!("visited past damage")),
        Err(Error::Corrupt { .. })
    ));
}
