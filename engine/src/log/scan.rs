//! Scanning a segment's records from its header to its end: every header and body
//! checksum and the position sequence. Used by recovery at open and, for segments whose
//! scan was deferred (`OpenChecks::LastSegment`), by the first reader that needs them.

use super::segment::INDEX_INTERVAL_BYTES;
use super::walker::{RecordWalker, Step};
use crate::format::segment_header::SEGMENT_HEADER_BYTES;
use crate::format::ALIGNMENT_BYTES;

/// Where a segment's valid records stop short of a clean end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Damage {
    pub(crate) offset: u64,
    pub(crate) reason: &'static str,
    /// Where a search for later records starts: past the damaged record when its header
    /// checked out (so nothing inside its own payload is taken for a later record), else
    /// the next aligned offset.
    pub(crate) later_records_from: u64,
}

/// How a scan ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanEnd {
    /// End of the valid records (after the seal, when sealed).
    pub(crate) end_offset: u64,
    /// The position after the last valid event.
    pub(crate) end_position: u64,
    pub(crate) sealed: bool,
    /// The first invalid record, if the scan stopped at one rather than at zeros.
    pub(crate) damage: Option<Damage>,
    /// The highest `synced_before` among the valid records (0 when none): every position
    /// below it was durable when one of them was written.
    pub(crate) synced_before_max: u64,
}

/// Scans the records of a segment (`view` from offset 0) of the log `epoch` whose first
/// position is `first_position`, calling `index` with (position, offset) once per
/// `INDEX_INTERVAL_BYTES` of records.
pub(crate) fn scan_records(
    view: &[u8],
    epoch: u64,
    first_position: u64,
    mut index: impl FnMut(u64, u64),
) -> ScanEnd {
    let mut walker = RecordWalker::new(view, SEGMENT_HEADER_BYTES as u64, epoch);
    let mut expected = first_position;
    let mut last_indexed: Option<u64> = None;
    let mut sealed = false;
    let mut damage = None;
    let mut synced_before_max = 0;
    loop {
        let record = match walker.step() {
            Step::End => break,
            Step::Record(record) => record,
            Step::Damaged { offset, error } => {
                damage = Some(Damage {
                    offset,
                    reason: error.describe(),
                    later_records_from: offset + ALIGNMENT_BYTES as u64,
                });
                break;
            }
        };
        let (offset, header) = (record.offset, record.header);
        let damage_reason = if header.position != expected {
            Some("record position out of sequence")
        } else {
            record.check_body().err().map(|e| e.describe())
        };
        if let Some(reason) = damage_reason {
            damage = Some(Damage {
                offset,
                reason,
                later_records_from: record.end_offset(),
            });
            break;
        }
        synced_before_max = synced_before_max.max(header.synced_before);
        if header.is_seal() {
            sealed = true;
            break;
        }
        if last_indexed.is_none_or(|last| offset >= last + INDEX_INTERVAL_BYTES) {
            index(header.position, offset);
            last_indexed = Some(offset);
        }
        expected = header.end_position();
    }
    let offset = match damage {
        Some(damage) => damage.offset,
        None => walker.offset(),
    };
    ScanEnd {
        end_offset: offset,
        end_position: expected,
        sealed,
        damage,
        synced_before_max,
    }
}
