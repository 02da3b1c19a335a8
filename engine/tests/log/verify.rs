//! The full verification (`Log::verify`, `Log::verify_dir`), the segment listing
//! (`Log::segments`) and recovery's dry run (`Log::recovery_dry_run`), on real files.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use annal::{
    Durability, Log, OpenChecks, Options, RecoveryAction, RecoveryMode, Start, VerifyProblemKind,
    VerifyStage,
};

const SEGMENT_BYTES: u64 = 64 << 10;

/// A log of several segments: 2 000 events of 100 bytes.
fn several_segments(dir: &Path) -> Log {
    let log = Log::open(dir, Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
    for k in 0..2_000u32 {
        log.append(&[k as u8; 100], Durability::Written).unwrap();
    }
    log.sync().unwrap();
    log
}

fn flip_byte(path: &Path, offset: u64) {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&[byte[0] ^ 0x40]).unwrap();
}

#[test]
fn a_clean_log_verifies_clean_and_reports_progress() {
    // Proves every event and segment of a clean multi-segment log is counted, nothing is reported, and progress ends at its total.
    let dir = tempfile::tempdir().unwrap();
    let log = several_segments(dir.path());
    log.create_consumer("billing", Start::Beginning).unwrap();
    let mut last = None;
    let report = log.verify(&mut |p| last = Some(p)).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.events_checked, 2_000);
    assert_eq!(report.consumers_checked, 1);
    let segments = log.segments().unwrap();
    assert!(segments.len() > 2, "{segments:?}");
    assert_eq!(report.segments_checked, segments.len() as u64);
    assert!(segments[..segments.len() - 1]
        .iter()
        .all(|s| s.sealed && s.readable));
    assert_eq!(
        segments.last().unwrap().end_position,
        Some(log.next_position())
    );
    let last = last.unwrap();
    assert_eq!(
        (last.stage, last.done),
        (VerifyStage::Consumers, last.total)
    );
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_is_found_with_its_file_and_offset() {
    // Proves a flipped payload byte in a sealed segment is damage at that record's file and offset, found read-only and without opening, and the file is left as it was.
    let dir = tempfile::tempdir().unwrap();
    let log = several_segments(dir.path());
    let second = log.segments().unwrap()[1].path.clone();
    log.close().unwrap();
    // The first record of the segment starts after the 64-byte header; its body after
    // the 40-byte record header.
    flip_byte(&second, 64 + 40 + 10);
    let before = std::fs::read(&second).unwrap();
    let follower = Log::open_read_only(dir.path(), Options::default()).unwrap();
    let report = follower.verify(&mut |_| {}).unwrap();
    assert!(!report.is_clean());
    let damage: Vec<_> = report.damage().collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].kind, VerifyProblemKind::Record);
    assert_eq!(damage[0].file, second);
    assert_eq!(damage[0].offset, Some(64));
    assert!(damage[0].detail.contains("checksum"), "{}", damage[0]);
    // The follower stopped at the damage: the files past it are not readable.
    let segments = follower.segments().unwrap();
    assert!(segments.iter().any(|s| !s.readable), "{segments:?}");
    let without_open = Log::verify_dir(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(without_open.problems, report.problems);
    assert_eq!(
        std::fs::read(&second).unwrap(),
        before,
        "verify wrote nothing"
    );
}

#[test]
fn a_torn_tail_is_an_incomplete_tail_not_damage_and_the_dry_run_shows_its_cut() {
    // Proves garbage after the last record is reported as an incomplete tail (clean), and the dry run names the cut recovery makes without changing the file; the real open then makes that cut.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
    log.append(b"kept", Durability::Synced).unwrap();
    let segment = log.segments().unwrap()[0].clone();
    let end = segment.written_bytes.unwrap();
    log.close().unwrap();
    let mut file = OpenOptions::new().write(true).open(&segment.path).unwrap();
    file.seek(SeekFrom::Start(end)).unwrap();
    file.write_all(&[0xAB; 24]).unwrap();
    drop(file);
    let report = Log::verify_dir(dir.path(), &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.problems[0].kind, VerifyProblemKind::IncompleteTail);
    assert_eq!(report.problems[0].offset, Some(end));
    let before = std::fs::read(&segment.path).unwrap();
    let planned = Log::recovery_dry_run(dir.path(), Options::default()).unwrap();
    assert_eq!(
        std::fs::read(&segment.path).unwrap(),
        before,
        "the dry run wrote nothing"
    );
    assert!(!dir.path().join(annal::QUARANTINE_DIR).exists());
    let [RecoveryAction::Cut {
        offset, bytes_cut, ..
    }] = planned.actions.as_slice()
    else {
        panic!("one cut planned: {planned:?}");
    };
    assert_eq!((*offset, *bytes_cut), (end, 24));
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let done = log.recovery_report();
    let [RecoveryAction::Cut {
        offset, bytes_cut, ..
    }] = done.actions.as_slice()
    else {
        panic!("one cut made: {done:?}");
    };
    assert_eq!((*offset, *bytes_cut), (end, 24));
}

#[test]
fn the_dry_run_of_strict_damage_is_the_error_open_gives() {
    // Proves the dry run of a log damaged before its tail (it scans every segment, whatever the options) refuses as the full open would (Corrupt naming the file), and under TruncateAtDamage lists the removals, writing nothing either way.
    let dir = tempfile::tempdir().unwrap();
    let log = several_segments(dir.path());
    let second = log.segments().unwrap()[1].path.clone();
    log.close().unwrap();
    flip_byte(&second, 64 + 40 + 10);
    let full = Options::default().open_checks(OpenChecks::AllSegments);
    let strict = Log::recovery_dry_run(dir.path(), full.clone()).unwrap_err();
    let opened = Log::open(dir.path(), full.clone()).unwrap_err();
    assert_eq!(strict.to_string(), opened.to_string());
    let lenient = full.recovery(RecoveryMode::TruncateAtDamage);
    let planned = Log::recovery_dry_run(dir.path(), lenient).unwrap();
    assert!(planned.actions.len() >= 2, "{planned:?}");
    assert!(planned.actions.iter().any(
        |a| matches!(a, RecoveryAction::Cut { segment, offset: 64, .. } if *segment == second)
    ));
    assert!(!dir.path().join(annal::QUARANTINE_DIR).exists());
}

#[test]
fn a_damaged_consumer_file_is_reported_and_an_empty_dir_is_not_a_log() {
    // Proves a consumer file with both slots damaged is a Consumer problem naming the file, and verifying a directory with no segment is an error, not a clean report.
    let dir = tempfile::tempdir().unwrap();
    let log = several_segments(dir.path());
    log.create_consumer("billing", Start::Beginning).unwrap();
    log.close().unwrap();
    let path = dir.path().join("consumers").join("billing.consumer");
    flip_byte(&path, 20);
    flip_byte(&path, 4096 + 20);
    let report = Log::verify_dir(dir.path(), &mut |_| {}).unwrap();
    let damage: Vec<_> = report.damage().collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(
        (damage[0].kind, &damage[0].file),
        (VerifyProblemKind::Consumer, &path)
    );
    let empty = tempfile::tempdir().unwrap();
    let error = Log::verify_dir(empty.path(), &mut |_| {}).unwrap_err();
    assert!(error.to_string().contains("no segment"), "{error}");
}

#[test]
fn the_dry_run_of_a_damaged_first_header_removes_every_segment_on_paper() {
    // Proves that with the first segment's header damaged, the dry run under TruncateAtDamage lists every segment as removed (the first for the damage, the rest after the cut) with its quarantine path, and the directory's files are left exactly as they were.
    let dir = tempfile::tempdir().unwrap();
    let log = several_segments(dir.path());
    let segments: Vec<_> = log
        .segments()
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    log.close().unwrap();
    flip_byte(&segments[0], 20);
    let names = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = names(dir.path());
    let lenient = Options::default().recovery(RecoveryMode::TruncateAtDamage);
    let planned = Log::recovery_dry_run(dir.path(), lenient).unwrap();
    assert_eq!(planned.actions.len(), segments.len(), "{planned:?}");
    for (action, segment) in planned.actions.iter().zip(&segments) {
        let RecoveryAction::Removed {
            segment: removed,
            quarantine,
            ..
        } = action
        else {
            panic!("a removal: {action:?}");
        };
        assert_eq!(removed, segment);
        assert_eq!(
            quarantine.parent().unwrap(),
            dir.path().join(annal::QUARANTINE_DIR)
        );
    }
    assert_eq!(
        names(dir.path()),
        before,
        "nothing created, moved or removed"
    );
}
