//! The segment listing an operator reads (`annal stat`): every segment file of the log's
//! directory with its positions, bytes and whether it is sealed, and whether the open log
//! reads it — a follower stops at damage, so files past it are listed as unreadable.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::segment::Segment;
use super::Shared;
use crate::error::{Error, Result};
use crate::format::parse_segment_file_name;
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
}

impl Shared {
    /// Every segment file in the directory and every segment the log holds, in position
    /// order.
    pub(crate) fn segment_infos(&self) -> Result<Vec<SegmentInfo>> {
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
                },
            );
        }
        let written = self.written();
        for (k, segment) in held.iter().enumerate() {
            let end = held.get(k + 1).map_or(written, |next| next.first_position);
            let written_bytes = segment.written_bytes();
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
                },
            );
        }
        Ok(infos.into_values().collect())
    }
}
