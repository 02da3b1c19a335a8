//! The segment listing an operator reads (`annal stat`): every segment file of the log's
//! directory with its positions, bytes and whether it is sealed, and whether the open log
//! reads it — a follower stops at damage, so files past it are listed as unreadable,
//! and damage it stopped at in its last segment is named (recovery's rule: a later
//! record proves the bad one was complete).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::recovery::durable_record_after;
use super::segment::Segment;
use super::walker::{RecordWalker, Step};
use super::Shared;
use crate::error::{Error, Result};
use crate::format::{parse_segment_file_name, ALIGNMENT_BYTES};
use crate::position::Position;

/// One segment file ([`crate::Log::segments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The segment file.
    pub path: PathBuf,
    /// The position of its first event (from its name).
    pub first_position: Position,
    /// The position after its last event, when the open log reads the segment.
    pub end_position: Option<Position>,
    /// The file's size.
    pub file_bytes: u64,
    /// Bytes of records the open log reads in it (the header included); `None` when the
    /// segment is not read yet (a sealed segment whose check is left to its first
    /// reader) or not part of the open log.
    pub written_bytes: Option<u64>,
    /// Whether it is sealed (it will hold no more records).
    pub sealed: bool,
    /// Whether the open log reads it. A segment file that is not read lies past damage
    /// (or past a gap) that a read-only open stopped at.
    pub readable: bool,
    /// Where a read-only open stopped reading this segment (its last) at a bad record
    /// that later records in it prove was complete: damage, not a write in progress.
    pub damaged_at: Option<u64>,
}

impl Shared {
    /// Every segment file in the directory and every segment the log holds, in position
    /// order.
    pub(crate) fn segment_infos(&self) -> Result<Vec<SegmentInfo>> {
        // A follower first reads what its writer added: a stale stop is no damage.
        self.follow()?;
        let held: Vec<Arc<Segment>> = self
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let names = self
            .storage
            .list_dir(&self.dir)
            .map_err(|e| Error::io("list log directory", Some(self.dir.clone()), e))?;
        let mut infos: BTreeMap<u64, SegmentInfo> = BTreeMap::new();
        for first in names
            .iter()
            .filter_map(|name| parse_segment_file_name(name))
        {
            let path = self.dir.join(crate::format::segment_file_name(first));
            let file_bytes = self
                .storage
                .open_file(&path, false)
                .map_or(0, |file| file.len_bytes());
            infos.insert(
                first,
                SegmentInfo {
                    path,
                    first_position: Position(first),
                    end_position: None,
                    file_bytes,
                    written_bytes: None,
                    sealed: false,
                    readable: false,
                    damaged_at: None,
                },
            );
        }
        let written = self.written();
        for (k, segment) in held.iter().enumerate() {
            let end = held.get(k + 1).map_or(written, |next| next.first_position);
            let written_bytes = segment.written_bytes();
            let last = k + 1 == held.len();
            let damaged_at = (last && self.read_only && !segment.is_sealed())
                .then(|| segment.file.view().ok())
                .flatten()
                .filter(|view| {
                    let from = written_bytes + ALIGNMENT_BYTES as u64;
                    let bad = || bad_frame_at(view, written_bytes, self.epoch, end);
                    // Looked at again after the proof: a record in flight when first
                    // looked at is complete by the time a later one claims it synced.
                    let file = &*segment.file;
                    bad() && durable_record_after(file, view, self.epoch, from, end) && bad()
                })
                .map(|_| written_bytes);
            infos.insert(
                segment.first_position,
                SegmentInfo {
                    path: segment.path.clone(),
                    first_position: Position(segment.first_position),
                    end_position: Some(Position(end)),
                    file_bytes: segment.file.len_bytes(),
                    written_bytes: (written_bytes > 0).then_some(written_bytes),
                    sealed: segment.is_sealed(),
                    readable: true,
                    damaged_at,
                },
            );
        }
        Ok(infos.into_values().collect())
    }
}

/// Whether the frame at `offset` of a segment's `view` is not the valid record of
/// `position` (zeros are not bad: nothing was written there yet).
fn bad_frame_at(view: &[u8], offset: u64, epoch: u64, position: u64) -> bool {
    match RecordWalker::new(view, offset, epoch).step() {
        Step::End => false,
        Step::Damaged { .. } => true,
        Step::Record(record) => record.header.position != position || record.check_body().is_err(),
    }
}
