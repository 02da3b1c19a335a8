//! What recovery reports, and what it keeps: a clean open reports nothing; a torn tail and
//! a cut under `TruncateAtDamage` are reported with their reason, offset and size; every
//! byte taken out of the log is kept in `quarantine/`, whole segments renamed there.

use std::path::Path;

use annal::testing::SimStorage;
use annal::{CutReason, Durability, OpenChecks, RecoveryAction, RecoveryMode, QUARANTINE_DIR};

use super::faults::{
    append_events, dir, flip_payload_bit, open, open_with, options, read_all, record_offset,
    segment, three_segments,
};

fn quarantined(storage: &SimStorage) -> Vec<std::path::PathBuf> {
    let quarantine = dir().join(QUARANTINE_DIR);
    let mut names: Vec<_> = storage
        .file_names()
        .into_iter()
        .filter(|p| p.parent() == Some(quarantine.as_path()))
        .collect();
    names.sort();
    names
}

#[test]
fn a_clean_open_reports_nothing_and_quarantines_nothing() {
    // Proves opening a log closed cleanly reports no action and creates no quarantine.
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 20, 300, Durability::Synced);
    log.close().unwrap();
    let log = open(&storage);
    let report = log.recovery_report();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.segments_scanned, 1);
    assert_eq!(
        report.io_path,
        log.io_path(),
        "the report names the write path taken"
    );
    assert_ne!(report.io_path, annal::IoPath::Auto);
    assert!(quarantined(&storage).is_empty());
}

#[test]
fn a_damaged_last_record_is_reported_as_a_torn_tail_and_kept_in_quarantine() {
    // Proves a flipped byte in the last record (which reads as a torn tail) no longer vanishes without a word: the cut is reported with its offset and size, and the cut bytes are kept, byte for byte.
    let storage = SimStorage::new();
    let log = open(&storage);
    let events = append_events(&log, 10, 300, Durability::Synced);
    log.close().unwrap();
    let offset = flip_payload_bit(&storage, &events, 0, 9);
    let before = storage.file_bytes(&segment(0)).unwrap();
    let log = open(&storage);
    assert_eq!(read_all(&log), &events[..9]);
    let report = log.recovery_report();
    let [RecoveryAction::Cut {
        segment: cut,
        offset: at,
        bytes_cut,
        records_cut,
        reason: CutReason::TornTail { detail },
        quarantine: Some(copy),
    }] = &report.actions[..]
    else {
        panic!("expected one torn-tail cut, got {report:?}");
    };
    assert_eq!(cut, &segment(0));
    assert_eq!(*at, offset);
    assert!(detail.contains("checksum"), "{detail}");
    assert_eq!(*records_cut, 0, "the one record cut fails its checksum");
    let kept = storage.file_bytes(copy).unwrap();
    assert_eq!(kept.len() as u64, *bytes_cut);
    assert_eq!(
        &kept[..],
        &before[offset as usize..offset as usize + kept.len()]
    );
    // The next open has nothing left to do.
    drop(log);
    assert!(open(&storage).recovery_report().is_clean());
}

#[test]
fn truncate_at_damage_reports_each_cut_and_removal_and_keeps_them_all() {
    // Proves a cut under TruncateAtDamage is reported as damage with the valid records it took, the later segments as removed, and that every segment file and cut byte is still on disk in the quarantine.
    let storage = SimStorage::new();
    let (events, firsts) = three_segments(&storage);
    let damaged = firsts[0] + (firsts[1] - firsts[0]) / 2;
    flip_payload_bit(&storage, &events, firsts[0], damaged);
    let later_segments: Vec<Vec<u8>> = firsts[1..]
        .iter()
        .map(|&first| storage.file_bytes(&segment(first)).unwrap())
        .collect();
    let log = open_with(
        &storage,
        options()
            .recovery(RecoveryMode::TruncateAtDamage)
            .open_checks(OpenChecks::AllSegments),
    );
    assert_eq!(read_all(&log), &events[..damaged as usize]);
    let report = log.recovery_report();
    assert_eq!(report.actions.len(), 3, "{report:?}");
    let mut removed = Vec::new();
    for action in &report.actions {
        match action {
            RecoveryAction::Removed {
                segment: path,
                reason: CutReason::AfterCut,
                quarantine,
            } => removed.push((path.clone(), storage.file_bytes(quarantine).unwrap())),
            RecoveryAction::Cut {
                segment: path,
                offset,
                records_cut,
                reason: CutReason::Damage { .. },
                quarantine: Some(_),
                ..
            } => {
                assert_eq!(path, &segment(firsts[0]));
                assert_eq!(*offset, record_offset(&events, firsts[0], damaged));
                let valid_after = firsts[1] - damaged - 1;
                assert_eq!(
                    *records_cut,
                    valid_after + 1,
                    "the records after the damage, and the seal"
                );
            }
            other => panic!("unexpected action {other:?}"),
        }
    }
    let expected: Vec<_> = firsts[1..]
        .iter()
        .map(|&first| segment(first))
        .zip(later_segments)
        .collect();
    assert_eq!(removed, expected, "removed segments are kept whole");
    assert_eq!(quarantined(&storage).len(), 3);
    assert!(quarantined(&storage)
        .iter()
        .all(|p| p.starts_with(Path::new(dir()).join(QUARANTINE_DIR))));
}
