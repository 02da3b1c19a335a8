//! Finishing an interrupted suffix truncation at open, before recovery: while the
//! `TRUNCATE` marker exists the log ends before its position, so the segments after it
//! are removed and the records from it on are zeroed, then the marker goes. Every step
//! can be repeated, so a crash during this finishes on the next open. Nobody reads the
//! log yet, so the cut segment is zeroed in place (a running log copies it instead:
//! `truncation`).

use std::path::Path;

use super::directory::segment_path;
use super::truncation::{MARKER_TMP_NAME, TRUNCATED_SEGMENT_NAME};
use super::walker::{RecordWalker, Step};
use crate::error::{Error, Result};
use crate::format::parse_segment_file_name;
use crate::format::segment_header::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::format::truncation_marker::{TruncationMarker, TRUNCATION_MARKER_NAME};
use crate::io::Storage;

/// Zeros are written in pieces of this size.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// Finishes the truncation a marker in `dir` records, if there is one; removes the
/// temporary files a truncation leaves behind.
pub(crate) fn finish_interrupted_truncation(storage: &dyn Storage, dir: &Path) -> Result<()> {
    let names = storage
        .list_dir(dir)
        .map_err(|e| Error::io("list log directory", Some(dir.to_path_buf()), e))?;
    let sync_dir = || {
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
    };
    for stray in [TRUNCATED_SEGMENT_NAME, MARKER_TMP_NAME] {
        if names.iter().any(|n| n == stray) {
            let path = dir.join(stray);
            storage
                .remove_file(&path)
                .map_err(|e| Error::io("remove file", Some(path.clone()), e))?;
        }
    }
    if !names.iter().any(|n| n == TRUNCATION_MARKER_NAME) {
        return Ok(());
    }
    let marker_path = dir.join(TRUNCATION_MARKER_NAME);
    let bytes = storage
        .open_file(&marker_path, false)
        .and_then(|file| file.view())
        .map_err(|e| Error::io("read truncation marker", Some(marker_path.clone()), e))?;
    let marker = TruncationMarker::decode(&bytes)
        .map_err(|reason| Error::corrupt(marker_path.clone(), 0, reason))?;
    let cut = marker.cut_position;
    let mut firsts: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_segment_file_name(n))
        .collect();
    firsts.sort_unstable();
    for first in firsts.iter().rev().filter(|&&first| first > cut) {
        let path = segment_path(dir, *first);
        storage
            .remove_file(&path)
            .map_err(|e| Error::io("remove segment", Some(path.clone()), e))?;
    }
    if let Some(&first) = firsts.iter().rev().find(|&&first| first <= cut) {
        zero_from_cut(storage, &segment_path(dir, first), &marker)?;
    }
    sync_dir()?;
    storage
        .remove_file(&marker_path)
        .map_err(|e| Error::io("remove truncation marker", Some(marker_path.clone()), e))?;
    sync_dir()?;
    ::log::info!(
        "annal: finished an interrupted truncation of {} from position {cut}",
        dir.display()
    );
    Ok(())
}

/// Zeros the segment at `path` from the record at the marker's position to its end.
fn zero_from_cut(storage: &dyn Storage, path: &Path, marker: &TruncationMarker) -> Result<()> {
    let file = storage
        .open_file(path, true)
        .map_err(|e| Error::io("open segment", Some(path.to_path_buf()), e))?;
    let view = file
        .view()
        .map_err(|e| Error::io("map segment", Some(path.to_path_buf()), e))?;
    let header = SegmentHeader::decode(&view)
        .map_err(|e| Error::corrupt(path.to_path_buf(), 0, e.describe()))?;
    if header.epoch != marker.epoch {
        return Err(Error::corrupt(
            path.to_path_buf(),
            16,
            "the truncation marker belongs to another log (epochs differ)",
        ));
    }
    let mut walker = RecordWalker::new(&view, SEGMENT_HEADER_BYTES as u64, header.epoch);
    let zero_from = loop {
        match walker.step() {
            Step::Record(record) if record.header.position >= marker.cut_position => {
                break Some(record.offset)
            }
            Step::Record(record) if record.header.is_seal() => break None,
            Step::Record(_) => continue,
            // The records from the cut on are gone already (the copy was installed), or
            // the damage is recovery's to judge.
            Step::End | Step::Damaged { .. } => break None,
        }
    };
    let Some(zero_from) = zero_from else {
        return Ok(());
    };
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let zero_error = |e| Error::io("zero truncated records", Some(path.to_path_buf()), e);
    // Only the ranges that may hold data: holes of a sparse segment already read as
    // zeros, and writing them would give them blocks.
    let mut offset = zero_from;
    while let Some(range) = file.next_data(offset).map_err(zero_error)? {
        let mut at = range.start.max(offset);
        while at < range.end {
            let n = (range.end - at).min(ZERO_CHUNK_BYTES as u64) as usize;
            file.write_at(at, &zeros[..n]).map_err(zero_error)?;
            at += n as u64;
        }
        if range.end <= offset {
            break;
        }
        offset = range.end;
    }
    file.sync_data()
        .map_err(|e| Error::io("fdatasync segment", Some(path.to_path_buf()), e))
}
