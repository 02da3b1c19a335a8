//! Payloads read back after a reopen are zero-copy `bytes::Bytes` slices of the segment
//! files' mappings, and they (and readers) stay valid after the `Log` is dropped and even
//! after the log's files are deleted.

use std::path::{Path, PathBuf};

use annal::{Durability, Event, Log, Options, Position};
use annal_tests::Rng;

const SEGMENT_BYTES: u64 = 64 << 10;

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

/// Writes singles and batches over several segments, closes the log, returns the
/// payloads.
fn write_log(dir: &Path) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(5);
    let log = Log::open(dir, options()).unwrap();
    let mut all = Vec::new();
    for k in 0..300 {
        let batch: Vec<Vec<u8>> = (0..1 + k % 4)
            .map(|_| {
                let len = rng.range(1, 900) as usize;
                (0..len).map(|_| rng.next_u64() as u8).collect()
            })
            .collect();
        log.append_batch(&batch, Durability::Synced).unwrap();
        all.extend(batch);
    }
    log.close().unwrap();
    all
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            annal::testing::parse_segment_file_name(p.file_name().unwrap().to_str().unwrap())
                .is_some()
        })
        .collect()
}

#[test]
fn payloads_and_readers_outlive_the_log() {
    // Proves events read after a reopen keep their exact bytes after the Log is dropped
    // and the directory deleted, and a reader made before the drop still reads the rest.
    let dir = tempfile::tempdir().unwrap();
    let expected = write_log(dir.path());
    assert!(segment_paths(dir.path()).len() > 2, "the log did not roll");
    let log = Log::open(dir.path(), options()).unwrap();
    let half = expected.len() / 2;
    let mut reader = log.read_from(Position(0)).unwrap();
    let mut held: Vec<Event> = reader.by_ref().take(half).map(|e| e.unwrap()).collect();
    let single = log.read(Position(expected.len() as u64 - 1)).unwrap();
    drop(log);
    // The log is gone (its lock too: it reopens), the events and the reader are not.
    drop(Log::open(dir.path(), options()).unwrap());
    held.extend(reader.by_ref().map(|e| e.unwrap()));
    drop(reader);
    dir.close().unwrap();
    assert_eq!(held.len(), expected.len());
    for (at, (event, payload)) in held.iter().zip(&expected).enumerate() {
        assert_eq!(event.position, Position(at as u64));
        assert_eq!(&event.payload[..], &payload[..], "position {at}");
    }
    assert_eq!(&single.payload[..], &expected[expected.len() - 1][..]);
}

/// The address ranges of this process's mappings of `path`, from /proc/self/maps.
fn mappings_of(path: &Path) -> Vec<(usize, usize)> {
    let path = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|line| line.ends_with(path))
        .map(|line| {
            let range = line.split(' ').next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            (
                usize::from_str_radix(start, 16).unwrap(),
                usize::from_str_radix(end, 16).unwrap(),
            )
        })
        .collect()
}

#[test]
fn payloads_point_into_the_segment_mappings() {
    // Proves read_from copies nothing: every payload's bytes lie inside this process's
    // mapping of a segment file, and events of one batch sit back to back with their
    // 4-byte length prefixes between them, as in the record format.
    let dir = tempfile::tempdir().unwrap();
    let expected = write_log(dir.path());
    let log = Log::open(dir.path(), options()).unwrap();
    let events: Vec<Event> = log
        .read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    drop(log);
    let mappings: Vec<(usize, usize)> = segment_paths(dir.path())
        .iter()
        .flat_map(|p| mappings_of(&p.canonicalize().unwrap()))
        .collect();
    assert!(!mappings.is_empty(), "no segment mapping found");
    for event in &events {
        let start = event.payload.as_ptr() as usize;
        let end = start + event.payload.len();
        assert!(
            mappings
                .iter()
                .any(|&(low, high)| low <= start && end <= high),
            "payload of position {} at {start:#x} is not in a segment mapping",
            event.position
        );
    }
    // The first record is a single event, the second a batch of two (k % 4 == 1).
    let (a, b) = (&events[1].payload, &events[2].payload);
    assert_eq!(a.as_ptr() as usize + a.len() + 4, b.as_ptr() as usize);
    assert_eq!(events.len(), expected.len());
}
