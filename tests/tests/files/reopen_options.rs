//! Reopening a log on real files with a different `segment_bytes` than it was created
//! with: the segments already on disk keep their size, new segments get the new one, and
//! appends, rolls and reads work across the change.

use std::path::Path;

use annal::{Durability, Log, Options, Position};
use annal_tests::Rng;

fn options(segment_bytes: u64) -> Options {
    Options::default().segment_bytes(segment_bytes)
}

/// Appends `bytes` worth of events (singles and batches) and returns their payloads.
fn append_bytes(log: &Log, rng: &mut Rng, bytes: usize) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = Vec::new();
    let mut total = 0;
    while total < bytes {
        let batch: Vec<Vec<u8>> = (0..rng.range(1, 3))
            .map(|_| {
                let len = rng.range(1, 3000) as usize;
                (0..len).map(|_| rng.next_u64() as u8).collect()
            })
            .collect();
        total += batch.iter().map(Vec::len).sum::<usize>();
        let appended = log
            .append_batch(&batch, Durability::Synced)
            .unwrap_or_else(|e| panic!("append after {total} bytes: {e}"));
        assert_eq!(
            appended.first,
            Position(log.next_position().0 - batch.len() as u64)
        );
        all.extend(batch);
    }
    all
}

fn read_all(dir: &Path, segment_bytes: u64) -> Vec<Vec<u8>> {
    let log = Log::open(dir, options(segment_bytes)).unwrap();
    log.read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap().payload.to_vec())
        .collect()
}

fn segment_sizes(dir: &Path) -> Vec<u64> {
    let mut segments: Vec<(u64, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let first = annal::testing::parse_segment_file_name(e.file_name().to_str()?)?;
            Some((first, e.metadata().unwrap().len()))
        })
        .collect();
    segments.sort();
    segments.into_iter().map(|(_, len)| len).collect()
}

/// Creates a log with `before`-byte segments, fills part of its first segment, reopens
/// it with `after`-byte segments and appends across several rolls.
fn change_segment_size(before: u64, after: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(before ^ after);
    let log = Log::open(dir.path(), options(before)).unwrap();
    let mut expected = append_bytes(&log, &mut rng, (before / 2) as usize);
    log.close().unwrap();

    let log = Log::open(dir.path(), options(after)).unwrap();
    expected.extend(append_bytes(&log, &mut rng, (before + after * 2) as usize));
    // A batch too large for the old size but fine for the new one, or the reverse.
    let big: Vec<u8> = (0..(after.min(before) as usize - 200))
        .map(|i| i as u8)
        .collect();
    log.append(&big, Durability::Synced).unwrap();
    expected.push(big);
    log.close().unwrap();

    assert_eq!(read_all(dir.path(), after), expected);
    assert_eq!(read_all(dir.path(), before), expected);
    let sizes = segment_sizes(dir.path());
    assert_eq!(sizes[0], before, "the first segment changed size");
    assert!(
        sizes[1..].iter().all(|&s| s == after),
        "new segments: {sizes:?}"
    );
}

#[test]
fn reopening_with_larger_segments_keeps_appending() {
    // Proves a log created with 64 KiB segments and reopened with 256 KiB ones fills its
    // old active segment only to its real size, then rolls to 256 KiB segments.
    change_segment_size(64 << 10, 256 << 10);
}

#[test]
fn reopening_with_smaller_segments_keeps_appending() {
    // Proves a log created with 256 KiB segments and reopened with 64 KiB ones keeps
    // every event and rolls to 64 KiB segments.
    change_segment_size(256 << 10, 64 << 10);
}
