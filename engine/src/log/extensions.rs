//! Reading record extensions back: a layer above the log stores data that must commit
//! with a batch in the batch's record extension (a consumer's checkpoint), and reads it
//! back at open by walking the records from a position.

use std::path::PathBuf;

use super::walker::{RecordWalker, Step};
use super::Shared;
use crate::error::{Error, Result};
use crate::format::segment_header::SEGMENT_HEADER_BYTES;
use crate::position::Position;

/// A record whose extension is being visited: enough to act on it and to name it in an
/// error.
#[derive(Debug, Clone)]
pub(crate) struct ExtensionRecord {
    /// The position of the record's first event.
    pub(crate) position: Position,
    /// The position after the record's last event.
    pub(crate) end_position: Position,
    path: PathBuf,
    offset: u64,
}

impl ExtensionRecord {
    /// An error saying this record's extension is damaged.
    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path.clone(), self.offset, reason)
    }
}

impl Shared {
    /// Calls `visit` with the extension of every published record that starts at or
    /// after `from` and has one, in position order.
    pub(crate) fn visit_extensions(
        &self,
        from: Position,
        mut visit: impl FnMut(&ExtensionRecord, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let from = from.0.max(self.first());
        if from >= self.written() {
            return Ok(());
        }
        let segments: Vec<_> = self
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let start = segments.partition_point(|s| s.first_position <= from);
        for segment in &segments[start.saturating_sub(1)..] {
            // A sealed segment whose scan was put off at open (`OpenChecks::LastSegment`)
            // publishes its records once scanned.
            segment.ensure_scanned()?;
            let view = segment
                .file
                .view()
                .map_err(|e| Error::io("map segment", Some(segment.path.clone()), e))?;
            let published = segment.written_bytes() as usize;
            if view.len() < published {
                return Err(Error::corrupt(
                    segment.path.clone(),
                    view.len() as u64,
                    "segment view shorter than its published length",
                ));
            }
            let offset = segment
                .index
                .floor(from)
                .map_or(SEGMENT_HEADER_BYTES as u64, |(_, offset)| offset);
            let mut walker = RecordWalker::new(&view[..published], offset, self.epoch);
            loop {
                let record = match walker.step() {
                    Step::Record(record) if !record.header.is_seal() => record,
                    Step::Record(_) | Step::End => break,
                    Step::Damaged { offset, error } => {
                        return Err(Error::corrupt(
                            segment.path.clone(),
                            offset,
                            error.describe(),
                        ))
                    }
                };
                let header = record.header;
                if header.position >= from && header.extension_bytes > 0 {
                    let found = ExtensionRecord {
                        position: Position(header.position),
                        end_position: Position(header.end_position()),
                        path: segment.path.clone(),
                        offset: record.offset,
                    };
                    visit(&found, record.extension())?;
                }
            }
        }
        Ok(())
    }

    /// Makes the active segment durable: records a layer replayed from it at open may
    /// still be only in the page cache (sealed segments were synced when sealed).
    pub(crate) fn sync_active_segment(&self) -> Result<()> {
        let active = self
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned();
        match active {
            Some(active) => active
                .file
                .sync_data()
                .map_err(|e| Error::io("fdatasync segment", Some(active.path.clone()), e)),
            None => Ok(()),
        }
    }
}
