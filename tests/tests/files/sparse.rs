//! Sparse segments on real files: a small store stays small on disk, and recovery, which
//! skips holes and never-written extents (`SEEK_DATA` / `SEEK_HOLE`), still finds every
//! non-zero byte after the valid end — a torn tail, debris far into the hole, a valid
//! record beyond it that proves a sync — and a hole punched where records were is damage,
//! at open for the tail and at the first read for a sealed segment.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use annal::testing::{encode_record, parse_segment_file_name, SegmentHeader};
use annal::{
    CutReason, Direction, Durability, Error, EventStore, ExpectedRevision, Log, NewEvent,
    OpenChecks, Options, Position, RecoveryAction, Revision,
};
use annal_tests::walk_records;

/// Bytes allocated on disk (what `du` counts) and apparent, over every file under `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    let (mut allocated, mut apparent) = (0, 0);
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path());
            allocated += a;
            apparent += b;
        } else {
            allocated += meta.blocks() * 512;
            apparent += meta.len();
        }
    }
    (allocated, apparent)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.unwrap();
            let first = parse_segment_file_name(entry.file_name().to_str()?)?;
            Some((first, entry.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

/// Punches a hole (`fallocate --punch-hole`, which keeps the size) over `len` bytes at
/// `offset`: they read as zeros and hold no blocks.
fn punch_hole(path: &Path, offset: u64, len: u64) {
    let status = Command::new("fallocate")
        .args(["--punch-hole", "--offset"])
        .arg(offset.to_string())
        .arg("--length")
        .arg(len.to_string())
        .arg(path)
        .status()
        .expect("run fallocate(1)");
    assert!(status.success(), "fallocate --punch-hole failed");
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let file = fs::File::open(path).unwrap();
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, offset).unwrap();
    bytes
}

fn epoch_of(path: &Path) -> u64 {
    SegmentHeader::decode(&read_at(path, 0, 64)).unwrap().epoch
}

/// Appends `count` events of `len` bytes, each `Synced`, with default options (64 MiB
/// segments), closes, and returns the payloads.
fn synced_log(dir: &Path, count: u64, len: usize) -> Vec<Vec<u8>> {
    let log = Log::open(dir, Options::default()).unwrap();
    let payloads: Vec<Vec<u8>> = (0..count).map(|i| vec![(i % 250 + 1) as u8; len]).collect();
    for payload in &payloads {
        log.append(payload, Durability::Synced).unwrap();
    }
    log.close().unwrap();
    payloads
}

fn read_all(log: &Log) -> Result<Vec<Vec<u8>>, Error> {
    log.read_from(Position(0))?
        .map(|event| event.map(|e| e.payload.to_vec()))
        .collect()
}

#[test]
fn a_store_of_ten_events_takes_a_few_mib_on_disk() {
    // Proves a store of 10 events with default options allocates at most 8 MiB on disk
    // (its 64 MiB segments are sparse), before and after a reopen, and reads back whole.
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), Options::default()).unwrap();
    for i in 0..10 {
        let event = NewEvent::new("Ticked", format!("event {i}"));
        store
            .append(
                "clock-1",
                ExpectedRevision::Any,
                vec![event],
                Durability::Synced,
            )
            .unwrap();
    }
    store.close().unwrap();
    for round in 0..2 {
        let (allocated, apparent) = disk_usage(dir.path());
        assert!(
            allocated <= 8 << 20,
            "round {round}: {allocated} bytes allocated for 10 events"
        );
        assert!(
            apparent >= 64 << 20,
            "the segment keeps its length: {apparent}"
        );
        let store = EventStore::open(dir.path(), Options::default()).unwrap();
        let events = store
            .read_stream("clock-1", Revision(0), Direction::Forwards, 100)
            .unwrap();
        assert_eq!(events.len(), 10);
        store.close().unwrap();
    }
}

#[test]
fn a_torn_tail_and_debris_deep_in_the_hole_are_cut_kept_and_zeroed() {
    // Proves that on a sparse segment a torn last record is cut, and a torn fragment far
    // past it (in the never-allocated part) is found, copied to the quarantine and
    // zeroed, so neither can reappear behind new records; nothing before is lost.
    let dir = tempfile::tempdir().unwrap();
    let payloads = synced_log(dir.path(), 10, 300);
    let segment = &segment_files(dir.path())[0];
    let records = walk_records(&fs::read(segment).unwrap());
    let last = records[records.len() - 1];
    // Tear the last record: its second half never reached the disk.
    let half = last.covered_bytes() / 2;
    write_at(
        segment,
        (last.offset + half) as u64,
        &vec![0u8; last.record_bytes() - half],
    );
    let far = 24u64 << 20;
    let fragment = read_at(segment, records[2].offset as u64, 200);
    write_at(segment, far, &fragment);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_eq!(read_all(&log).unwrap(), payloads[..9]);
    let report = log.recovery_report();
    let Some(RecoveryAction::Cut {
        offset,
        bytes_cut,
        reason: CutReason::TornTail { .. },
        quarantine: Some(copy),
        ..
    }) = report.actions.first()
    else {
        panic!("expected one torn-tail cut, got {report:?}");
    };
    assert_eq!(*offset, last.offset as u64);
    assert!(
        *offset + *bytes_cut >= far + 200,
        "the far fragment was cut too"
    );
    let kept = fs::read(copy).unwrap();
    assert_eq!(&kept[(far - *offset) as usize..][..200], &fragment[..]);
    assert!(
        read_at(segment, far, 200).iter().all(|&b| b == 0),
        "debris zeroed"
    );
    log.append(b"after the cut", Durability::Synced).unwrap();
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert!(log.recovery_report().is_clean());
    assert_eq!(read_all(&log).unwrap().len(), 10);
}

#[test]
fn a_synced_record_beyond_a_hole_makes_missing_records_damage() {
    // Proves that a valid record claiming a later sync, lying deep in the segment's hole,
    // is found by recovery: the zeroed records before it are refused as damage (Corrupt
    // at that offset), not cut as a torn tail.
    let dir = tempfile::tempdir().unwrap();
    synced_log(dir.path(), 10, 300);
    let segment = &segment_files(dir.path())[0];
    let records = walk_records(&fs::read(segment).unwrap());
    let gone = records[7];
    let end = records[9].offset + records[9].record_bytes();
    write_at(segment, gone.offset as u64, &vec![0u8; end - gone.offset]);
    let mut proof = Vec::new();
    encode_record(
        &mut proof,
        epoch_of(segment),
        40,
        30,
        &[b"later".as_slice()],
        &[],
    );
    write_at(segment, 16 << 20, &proof);
    match Log::open(dir.path(), Options::default()) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!(&path, segment);
            assert_eq!(offset, gone.offset as u64);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_hole_punched_over_synced_records_is_refused_at_open() {
    // Proves a hole punched over records of the last segment, with synced records after
    // it, is refused with Corrupt naming the segment (the hole reads as zeros), and that
    // the file is left as it was.
    let dir = tempfile::tempdir().unwrap();
    synced_log(dir.path(), 40, 1000);
    let segment = &segment_files(dir.path())[0];
    let before = fs::read(segment).unwrap();
    let records = walk_records(&before);
    punch_hole(segment, 8192, 4096);
    let first_hit = records
        .iter()
        .find(|r| r.offset + r.covered_bytes() > 8192)
        .unwrap();
    match Log::open(dir.path(), Options::default()) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!(&path, segment);
            assert_eq!(offset, first_hit.offset as u64);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let after = fs::read(segment).unwrap();
    assert_eq!(after[..8192], before[..8192]);
    assert_eq!(after[12288..], before[12288..]);
}

#[test]
fn a_hole_in_a_sealed_segment_is_refused_by_reads_verify_and_the_full_open() {
    // Proves a hole punched into a sealed segment's records opens by default (the tail
    // is checked) but verify reports it and every read reaching it is Corrupt, never
    // zeros as data, while the full check at open refuses the log.
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().segment_bytes(256 << 10);
    let log = Log::open(dir.path(), options.clone()).unwrap();
    for i in 0..1000u32 {
        log.append(&vec![(i % 250 + 1) as u8; 900], Durability::Written)
            .unwrap();
    }
    log.close().unwrap();
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 4, "{} segments", segments.len());
    punch_hole(&segments[0], 64 << 10, 4096);
    let full = Log::open(
        dir.path(),
        options.clone().open_checks(OpenChecks::AllSegments),
    );
    assert!(matches!(full, Err(Error::Corrupt { ref path, .. }) if path == &segments[0]));
    let log = Log::open(dir.path(), options).unwrap();
    let report = log.verify(&mut |_| {}).unwrap();
    assert!(
        report.damage().any(|p| p.file == segments[0]),
        "verify names the segment: {:?}",
        report.problems
    );
    assert!(matches!(read_all(&log), Err(Error::Corrupt { ref path, .. }) if path == &segments[0]));
    // Event 0 lies before the hole and reads; a read inside the segment scans it whole,
    // and from then on the segment is refused.
    assert!(log.read(Position(0)).is_ok());
    assert!(matches!(
        log.read(Position(200)),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(log.read(Position(0)), Err(Error::Corrupt { .. })));
    let last = log.last_written().unwrap();
    assert!(log.read(last).is_ok(), "the other segments still read");
}

#[test]
fn the_flusher_allocates_ahead_of_the_writer_and_no_further() {
    // Proves that as a log grows past its first allocated chunk, the active segment gets
    // blocks ahead of the written bytes (allocated off the append path by the flusher),
    // and never much more than that: the disk holds about what the log holds.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    for i in 0..7000u32 {
        log.append(&vec![(i % 250 + 1) as u8; 1000], Durability::Buffered)
            .unwrap();
    }
    log.sync().unwrap();
    let segment = &segment_files(dir.path())[0];
    let records = walk_records(&fs::read(segment).unwrap());
    let last = records[records.len() - 1];
    let written = (last.offset + last.record_bytes()) as u64;
    assert!(written > 6 << 20, "{written} bytes written");
    let allocated = || fs::metadata(segment).unwrap().blocks() * 512;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while allocated() < written + (1 << 20) {
        assert!(
            std::time::Instant::now() < deadline,
            "{} bytes allocated for {written} written: nothing allocated ahead",
            allocated()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        allocated() <= written + (5 << 20),
        "{} bytes allocated for {written} written",
        allocated()
    );
    log.close().unwrap();
}
