//! What recovery takes out of the log, and how: whole segments moved into the
//! quarantine, the cut-off end of the active segment copied there and then zeroed (so no
//! stale record behind the new end can ever be taken for a new one), each recorded in
//! the report.

use std::ops::Range;
use std::path::Path;

use super::report::{quarantine_cut, quarantine_segment};
use super::{sync_dir, CutReason, RecoveryAction, RecoveryReport, Scanned};
use crate::error::{Error, Result};
use crate::format::record::{body, check_body, decode_header, Frame};
use crate::format::{align_up, ALIGNMENT_BYTES};
use crate::io::{Storage, StorageFile};

/// Takes whole segments out of the log into the quarantine: the first for `reason`, the
/// ones after it because they follow it.
pub(super) fn quarantine_segments(
    storage: &dyn Storage,
    dir: &Path,
    scans: &[Scanned],
    reason: &CutReason,
    report: &mut RecoveryReport,
) -> Result<()> {
    for (k, scan) in scans.iter().enumerate() {
        let kept_as = quarantine_segment(storage, dir, &scan.path)?;
        report.record(RecoveryAction::Removed {
            segment: scan.path.clone(),
            reason: if k == 0 {
                reason.clone()
            } else {
                CutReason::AfterCut
            },
            quarantine: kept_as,
        });
    }
    sync_dir(storage, dir)
}

/// Copies the non-zero bytes after the active segment's valid end into the quarantine
/// before they are zeroed, and says what they were; `None` when they are all zero.
pub(super) fn quarantine_tail(
    storage: &dyn Storage,
    dir: &Path,
    scan: &Scanned,
    epoch: u64,
    reason: CutReason,
) -> Result<Option<RecoveryAction>> {
    let view = &scan.view[..];
    let start = (scan.end_offset as usize).min(view.len());
    let Some(last_nonzero) = last_nonzero_byte(view, &data_ranges(&*scan.file, start, view.len()))
    else {
        return Ok(None);
    };
    let last_nonzero = last_nonzero - start;
    // Up to the last non-zero byte, and on to the end of any whole record there (a
    // record's last bytes may be zeros).
    let (records_cut, records_end) = valid_records(&view[start..], last_nonzero, epoch);
    let end = (start + align_up(last_nonzero + 1).max(records_end)).min(view.len());
    let cut = &view[start..end];
    let copy = quarantine_cut(storage, dir, &scan.path, scan.end_offset, cut)?;
    Ok(Some(RecoveryAction::Cut {
        segment: scan.path.clone(),
        offset: scan.end_offset,
        bytes_cut: cut.len() as u64,
        records_cut,
        reason,
        quarantine: Some(copy),
    }))
}

/// The index in `view` of its last non-zero byte within `ranges` (in increasing order),
/// skipping zero blocks a block at a time.
fn last_nonzero_byte(view: &[u8], ranges: &[Range<usize>]) -> Option<usize> {
    for range in ranges.iter().rev() {
        let mut end = range.end;
        while end > range.start {
            let start = end.saturating_sub(ZERO_CHECK_BYTES).max(range.start);
            if !all_zero(&view[start..end]) {
                return view[start..end]
                    .iter()
                    .rposition(|&b| b != 0)
                    .map(|at| start + at);
            }
            end = start;
        }
    }
    None
}

/// Records (header and body checksums passing) found at record alignment in `bytes`
/// (which start at a record boundary) up to `last_nonzero`, and where the last one ends:
/// what a cut takes that once looked whole.
fn valid_records(bytes: &[u8], last_nonzero: usize, epoch: u64) -> (u64, usize) {
    let (mut count, mut end) = (0, 0);
    let mut offset = 0;
    while offset <= last_nonzero && offset + ALIGNMENT_BYTES <= bytes.len() {
        let at = &bytes[offset..];
        match decode_header(at, epoch) {
            Ok(Frame::Record(header)) if check_body(&header, body(&header, at)).is_ok() => {
                count += 1;
                offset += header.record_bytes();
                end = offset;
            }
            _ => offset += ALIGNMENT_BYTES,
        }
    }
    (count, end)
}

/// The block size recovery checks for zeros at once.
pub(super) const ZERO_CHECK_BYTES: usize = 4096;

/// Whether every byte is zero. Folds 16 bytes at a time without an early exit, which the
/// compiler turns into wide vector ORs in an optimized build and which stays 16 times
/// fewer steps than a byte loop in a debug one.
pub(super) fn all_zero(bytes: &[u8]) -> bool {
    let words = bytes.chunks_exact(16);
    let rest = words.remainder().iter().fold(0u8, |acc, &b| acc | b);
    let folded = words.fold(0u128, |acc, word| {
        let mut wide = [0u8; 16];
        wide.copy_from_slice(word);
        acc | u128::from_ne_bytes(wide)
    });
    folded == 0 && rest == 0
}

/// The parts of `from..view_len` that may hold non-zero bytes, in order: the storage's
/// data ranges (holes and never-written extents read as zeros and are left out), or the
/// whole range where it cannot tell. Starts are aligned down to a record boundary (no
/// record starts in a hole: a record's first word is never zero).
pub(super) fn data_ranges(
    file: &dyn StorageFile,
    from: usize,
    view_len: usize,
) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut offset = from;
    while offset < view_len {
        let range = match file.next_data(offset as u64) {
            Ok(Some(range)) => range,
            Ok(None) => break,
            Err(_) => offset as u64..view_len as u64,
        };
        let start = (range.start as usize / ALIGNMENT_BYTES * ALIGNMENT_BYTES).max(offset);
        let end = (range.end as usize).min(view_len);
        if end <= start {
            break;
        }
        ranges.push(start..end);
        offset = end;
    }
    ranges
}

/// Zeroes every non-zero byte after the valid end of the active segment (debris of a torn
/// write), so no stale record can ever be mistaken for a new one, and syncs it.
pub(super) fn zero_tail(scan: &Scanned) -> Result<()> {
    let view = &scan.view[..];
    let mut wrote = false;
    for range in data_ranges(&*scan.file, scan.end_offset as usize, view.len()) {
        let mut start = range.start;
        while start < range.end {
            let end = ((start / ZERO_CHECK_BYTES + 1) * ZERO_CHECK_BYTES).min(range.end);
            if !all_zero(&view[start..end]) {
                let zeros = vec![0u8; end - start];
                scan.file
                    .write_at(start as u64, &zeros)
                    .map_err(|e| Error::io("zero torn tail", Some(scan.path.clone()), e))?;
                wrote = true;
            }
            start = end;
        }
    }
    if wrote {
        scan.file
            .sync_data()
            .map_err(|e| Error::io("fdatasync segment", Some(scan.path.clone()), e))?;
    }
    Ok(())
}
