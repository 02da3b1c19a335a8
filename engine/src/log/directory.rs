//! Names of the files in a log directory and the creation of new segments.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::segment_file_name;
use crate::format::segment_header::SegmentHeader;
use crate::io::{Storage, StorageFile};

/// The file a new segment is prepared under before it is named by its first position.
pub(crate) const PREPARED_SEGMENT_NAME: &str = "next-segment.tmp";

pub(crate) fn segment_path(dir: &Path, first_position: u64) -> PathBuf {
    dir.join(segment_file_name(first_position))
}

/// Creates a zero-filled, synced file to become the next segment.
pub(crate) fn prepare_segment_file(
    storage: &dyn Storage,
    dir: &Path,
    segment_bytes: u64,
) -> Result<Arc<dyn StorageFile>> {
    let path = dir.join(PREPARED_SEGMENT_NAME);
    storage
        .create_file(&path, segment_bytes)
        .map_err(|e| Error::io("create segment", Some(path), e))
}

/// Turns a prepared file into the segment starting at `first_position`: writes and syncs
/// its header, names it, and makes the name durable.
pub(crate) fn install_segment(
    storage: &dyn Storage,
    dir: &Path,
    file: &Arc<dyn StorageFile>,
    first_position: u64,
    epoch: u64,
) -> Result<PathBuf> {
    let prepared = dir.join(PREPARED_SEGMENT_NAME);
    let path = segment_path(dir, first_position);
    let header = SegmentHeader {
        first_position,
        epoch,
        segment_bytes: file.len_bytes(),
    };
    file.write_at(0, &header.encode())
        .map_err(|e| Error::io("write segment header", Some(prepared.clone()), e))?;
    file.sync_data()
        .map_err(|e| Error::io("fdatasync segment header", Some(prepared.clone()), e))?;
    storage
        .rename(&prepared, &path)
        .map_err(|e| Error::io("rename segment", Some(path.clone()), e))?;
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
    Ok(path)
}
