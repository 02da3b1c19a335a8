//! Recovery's proof that a bad record was once complete — a later valid record whose
//! `synced_before` passes it — for the checks outside recovery that judge the end of a
//! log by the same rule: the full verification (`log/verify.rs`) and the damage a
//! read-only open stopped at (`log/segments.rs`).

use super::cut::{all_zero, data_ranges, ZERO_CHECK_BYTES};
use crate::format::record::{body, check_body, decode_header, Frame};
use crate::format::{read_u64, ALIGNMENT_BYTES};
use crate::io::StorageFile;

/// Whether a valid record of the log `epoch` at or after `from` in a segment (`file`,
/// whose bytes are `view`) says every position below `position` was durable. Every
/// aligned offset from `from` on is tried, where the file may hold data: holes and
/// never-written extents are skipped, zeros a block at a time.
pub(in crate::log) fn durable_record_after(
    file: &dyn StorageFile,
    view: &[u8],
    epoch: u64,
    from: u64,
    position: u64,
) -> bool {
    let from = (from as usize).min(view.len());
    for range in data_ranges(file, from, view.len()) {
        let mut offset = range.start;
        while offset + ALIGNMENT_BYTES <= range.end {
            // Most of what follows a tail is zeros: skip them a block at a time.
            if offset.is_multiple_of(ZERO_CHECK_BYTES) {
                let block_end = (offset + ZERO_CHECK_BYTES).min(range.end);
                if all_zero(&view[offset..block_end]) {
                    offset = block_end;
                    continue;
                }
            }
            if read_u64(view, offset) != 0 {
                if let Ok(Frame::Record(header)) = decode_header(&view[offset..], epoch) {
                    if header.synced_before > position
                        && check_body(&header, body(&header, &view[offset..])).is_ok()
                    {
                        return true;
                    }
                }
            }
            offset += ALIGNMENT_BYTES;
        }
    }
    false
}
