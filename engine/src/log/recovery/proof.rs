//! Recovery's proof that a bad record was once complete — a later valid record whose
//! `synced_before` passes it — for the checks outside recovery that judge the end of a
//! log by the same rule: the full verification (`log/verify.rs`) and the damage a
//! read-only open stopped at (`log/segments.rs`).

use crate::io::StorageFile;

/// Whether a valid record of the log `epoch` at or after `from` in a segment (`file`,
/// whose bytes are `view`) says every position below `position` was durable.
pub(in crate::log) fn durable_record_after(
    file: &dyn StorageFile,
    view: &[u8],
    epoch: u64,
    from: u64,
    position: u64,
) -> bool {
    // The file tells where its data lies: holes and never-written extents are skipped.
    super::has_durable_record_after(file, view, epoch, from, position)
}
