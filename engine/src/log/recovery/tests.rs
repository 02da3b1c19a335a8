//! The recovery branch for a torn segment before the last one, on hand-made segment
//! files: when it is a torn tail, and every input that must still be refused.

use super::*;
use crate::format::record::encode_record;
use crate::io::SimStorage;

const EPOCH: u64 = 0x00ab_cdef_1234_5679;
const SEGMENT_BYTES: u64 = 64 << 10;

fn dir() -> &'static Path {
    Path::new("/recovery/unit")
}

/// One record of one event, at `position`, claiming `synced_before`.
fn record(position: u64, synced_before: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let payload = position.to_le_bytes();
    encode_record(
        &mut out,
        EPOCH,
        position,
        synced_before,
        &[&payload[..]],
        &[],
    );
    out
}

/// A segment file from its header's fields and its records' bytes, synced and named.
fn write_segment(storage: &SimStorage, first: u64, epoch: u64, records: &[Vec<u8>]) {
    let path = segment_path(dir(), first);
    let file = storage
        .create_file(&path, SEGMENT_BYTES)
        .expect("sim create");
    let header = SegmentHeader {
        first_position: first,
        epoch,
        segment_bytes: SEGMENT_BYTES,
    };
    file.write_at(0, &header.encode()).expect("sim write");
    let mut offset = SEGMENT_HEADER_BYTES as u64;
    for record in records {
        file.write_at(offset, record).expect("sim write");
        offset += record.len() as u64;
    }
    file.sync_data().expect("sim sync");
    storage.sync_dir(dir()).expect("sim dir sync");
}

fn segment_count(storage: &SimStorage) -> usize {
    storage
        .file_names()
        .iter()
        .filter(|p| p.parent() == Some(dir()) && p.extension().is_some_and(|e| e == "log"))
        .count()
}

fn open(storage: &SimStorage, recovery: RecoveryMode, checks: OpenChecks) -> Result<Recovered> {
    let options = Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .recovery(recovery)
        .open_checks(checks);
    recover(storage, dir(), &options)
}

fn strict(storage: &SimStorage) -> Result<Recovered> {
    open(storage, RecoveryMode::Strict, OpenChecks::AllSegments)
}

/// Segment 0: events 0..3 and no seal (its seal's fdatasync never ran); segment 1
/// starts at 3 with the given records.
fn unsealed_then(storage: &SimStorage, later: &[Vec<u8>]) {
    write_segment(
        storage,
        0,
        EPOCH,
        &[record(0, 0), record(1, 0), record(2, 1)],
    );
    write_segment(storage, 3, EPOCH, later);
}

fn assert_corrupt_at_segment_0(result: Result<Recovered>) {
    match result {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, segment_path(dir(), 0)),
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        Ok(recovered) => panic!("expected Corrupt, opened at {}", recovered.next_position),
    }
}

#[test]
fn an_unsealed_segment_before_the_last_is_a_torn_tail_when_nothing_claims_it() {
    // Proves a segment before the last without its seal, whose later records claim nothing of it synced, is cut at its valid end and the last segment is removed.
    let storage = SimStorage::new();
    unsealed_then(&storage, &[record(3, 2), record(4, 3)]);
    let recovered = strict(&storage).expect("opens");
    assert_eq!(recovered.next_position, 3);
    assert_eq!(recovered.segments.len(), 1);
    assert!(!recovered.active_sealed);
    assert_eq!(segment_count(&storage), 1, "the later segment is removed");
    // And that is what a second open finds, with nothing left to cut.
    let again = strict(&storage).expect("opens");
    assert_eq!(again.next_position, 3);
    assert_eq!(again.write_offset, recovered.write_offset);
}

#[test]
fn an_empty_last_segment_after_an_unsealed_one_is_removed() {
    // Proves a crash right after the next segment was named (no records in it yet) recovers into the unsealed segment.
    let storage = SimStorage::new();
    unsealed_then(&storage, &[]);
    let recovered = strict(&storage).expect("opens");
    assert_eq!(recovered.next_position, 3);
    assert_eq!(segment_count(&storage), 1);
}

#[test]
fn a_torn_record_before_the_last_segment_is_cut_there() {
    // Proves a bad record in the segment before the last is a torn tail when no later record claims it synced: the log ends before it.
    let storage = SimStorage::new();
    let mut torn = record(2, 1);
    let last = torn.len() - 1;
    torn[last - 4] ^= 0x40;
    write_segment(&storage, 0, EPOCH, &[record(0, 0), record(1, 0), torn]);
    write_segment(&storage, 3, EPOCH, &[record(3, 2)]);
    let recovered = strict(&storage).expect("opens");
    assert_eq!(recovered.next_position, 2);
    assert_eq!(segment_count(&storage), 1);
}

#[test]
fn a_later_record_claiming_the_unsealed_range_synced_is_corruption() {
    // Proves an unsealed segment before the last is refused when a valid record of the last segment says positions past its end were synced, and cut under TruncateAtDamage.
    let storage = SimStorage::new();
    unsealed_then(&storage, &[record(3, 3), record(4, 4)]);
    assert_corrupt_at_segment_0(strict(&storage));
    assert_eq!(segment_count(&storage), 2, "a refused open changes nothing");
    let recovered = open(
        &storage,
        RecoveryMode::TruncateAtDamage,
        OpenChecks::AllSegments,
    )
    .expect("opens");
    assert_eq!(recovered.next_position, 3);
    assert_eq!(segment_count(&storage), 1);
}

#[test]
fn a_claim_inside_the_torn_segment_itself_is_corruption_too() {
    // Proves a valid record after a bad one in the segment before the last, claiming the bad one synced, refuses the open.
    let storage = SimStorage::new();
    let mut damaged = record(1, 0);
    damaged[45] ^= 1;
    write_segment(&storage, 0, EPOCH, &[record(0, 0), damaged, record(2, 2)]);
    write_segment(&storage, 3, EPOCH, &[record(3, 0)]);
    assert_corrupt_at_segment_0(strict(&storage));
}

#[test]
fn damage_two_segments_before_the_last_is_corruption() {
    // Proves an unsealed segment followed by two more is refused even when no record claims it: a roll syncs the previous seal before sealing again, so no crash leaves that.
    let storage = SimStorage::new();
    write_segment(
        &storage,
        0,
        EPOCH,
        &[record(0, 0), record(1, 0), record(2, 0)],
    );
    let seal = crate::format::record::encode_seal(EPOCH, 4, 0);
    write_segment(&storage, 3, EPOCH, &[record(3, 0), seal.to_vec()]);
    write_segment(&storage, 4, EPOCH, &[record(4, 0)]);
    assert_corrupt_at_segment_0(strict(&storage));
    assert_eq!(segment_count(&storage), 3);
}

#[test]
fn a_torn_segment_before_a_damaged_or_foreign_last_header_is_corruption() {
    // Proves the torn-tail branch never deletes a last segment whose header is damaged or of another log: headers are synced before naming, so that is damage.
    for damage in ["bit flip", "other epoch"] {
        let storage = SimStorage::new();
        match damage {
            "bit flip" => {
                unsealed_then(&storage, &[record(3, 2)]);
                storage.corrupt_file(&segment_path(dir(), 3), 20, &[0xff]);
            }
            _ => {
                write_segment(
                    &storage,
                    0,
                    EPOCH,
                    &[record(0, 0), record(1, 0), record(2, 1)],
                );
                write_segment(&storage, 3, EPOCH ^ 2, &[]);
            }
        }
        assert_corrupt_at_segment_0(strict(&storage));
        assert_eq!(segment_count(&storage), 2, "{damage}: nothing removed");
    }
}

#[test]
fn last_segment_checks_scan_the_segment_that_will_precede_the_new_last() {
    // Proves OpenChecks::LastSegment, about to cut a torn segment before the last, first scans the one before it (its scan was deferred) and refuses its damage rather than leave it unchecked next to the new last segment.
    let storage = SimStorage::new();
    write_segment(&storage, 0, EPOCH, &[record(0, 0), record(1, 0)]);
    write_segment(&storage, 2, EPOCH, &[record(2, 1)]);
    write_segment(&storage, 3, EPOCH, &[record(3, 1)]);
    let result = open(&storage, RecoveryMode::Strict, OpenChecks::LastSegment);
    assert_corrupt_at_segment_0(result);
    // With segment 0 sealed, the same layout is the ordinary torn case.
    let storage = SimStorage::new();
    let seal = crate::format::record::encode_seal(EPOCH, 2, 0);
    write_segment(
        &storage,
        0,
        EPOCH,
        &[record(0, 0), record(1, 0), seal.to_vec()],
    );
    write_segment(&storage, 2, EPOCH, &[record(2, 1)]);
    write_segment(&storage, 3, EPOCH, &[record(3, 1)]);
    let recovered = open(&storage, RecoveryMode::Strict, OpenChecks::LastSegment).expect("opens");
    assert_eq!(recovered.next_position, 3);
    assert_eq!(segment_count(&storage), 2);
}
