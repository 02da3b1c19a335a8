//! Writing the clean-close marker at `Log::close` and taking it at the next open (the
//! layout is `format::clean_close`). Kafka's clean-shutdown file is the model: the close
//! writes it durably after the last sync, and the open removes it, durably, before the
//! log can change, so a marker never outlives the state it describes. The open trusts it
//! only where the last segment ends exactly where it says (`matches`).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Scanned;
use crate::error::{Error, Result};
use crate::format::clean_close::{CleanClose, CLEAN_CLOSE_MARKER_NAME};
use crate::io::Storage;
use crate::log::segment::Segment;
use crate::log::Shared;

/// The name the marker is written under before it is renamed into place.
const MARKER_TMP_NAME: &str = "CLEAN.tmp";

/// Writes the clean-close marker if everything written is
/// durable and the log is sound: the next open then need not scan the segment before
/// the last. Appends are refused from here on (`closed`); one already past that check
/// can still land after the marker, which the next open sees (the last segment no
/// longer ends where the marker says) and then ignores the marker.
pub(crate) fn write_at_close(shared: &Shared) -> Result<()> {
    // The marker says every segment is durable. The sync made every event so; the
    // last two segments are synced again so that holds of their seals too, whatever
    // the flusher had reached (a data sync of a clean file writes nothing).
    let tail: Vec<Arc<Segment>> = {
        let list = shared.segments.read().unwrap_or_else(|e| e.into_inner());
        list[list.len().saturating_sub(2)..].to_vec()
    };
    for segment in tail {
        segment
            .file
            .sync_data()
            .map_err(|e| Error::io("fdatasync segment", Some(segment.path.clone()), e))?;
    }
    let end = shared.writer().written_end();
    let Some((last_segment_first_position, end_offset, end_position)) = end else {
        return Ok(());
    };
    if shared.poisoned.load(Ordering::Acquire) || shared.synced() != end_position {
        return Ok(());
    }
    let marker = CleanClose {
        epoch: shared.epoch,
        last_segment_first_position,
        end_offset,
        end_position,
    };
    write(shared.storage.as_ref(), &shared.dir, &marker)
}

/// Writes `marker` durably: a temporary file, synced, renamed into place, the directory
/// synced. The caller made every record it names durable first.
fn write(storage: &dyn Storage, dir: &Path, marker: &CleanClose) -> Result<()> {
    let bytes = marker.encode();
    let tmp = dir.join(MARKER_TMP_NAME);
    let path = dir.join(CLEAN_CLOSE_MARKER_NAME);
    let file = storage
        .create_file(&tmp, bytes.len() as u64)
        .map_err(|e| Error::io("create clean-close marker", Some(tmp.clone()), e))?;
    file.write_at(0, &bytes)
        .map_err(|e| Error::io("write clean-close marker", Some(tmp.clone()), e))?;
    file.sync_data()
        .map_err(|e| Error::io("fdatasync clean-close marker", Some(tmp.clone()), e))?;
    drop(file);
    storage
        .rename(&tmp, &path)
        .map_err(|e| Error::io("rename clean-close marker", Some(path.clone()), e))?;
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
}

/// Removes the marker and its temporary file from `dir` (whose file names are `names`),
/// durably, and returns the marker if it decoded. A damaged marker is only ignored: it
/// can only ever let an open skip work, never make it do less than a crash would.
pub(super) fn take(
    storage: &dyn Storage,
    dir: &Path,
    names: &[String],
) -> Result<Option<CleanClose>> {
    let mut marker = None;
    let mut removed = false;
    for name in [MARKER_TMP_NAME, CLEAN_CLOSE_MARKER_NAME] {
        if !names.iter().any(|n| n == name) {
            continue;
        }
        let path = dir.join(name);
        if name == CLEAN_CLOSE_MARKER_NAME {
            let bytes = storage
                .open_file(&path, false)
                .and_then(|file| file.view())
                .map_err(|e| Error::io("read clean-close marker", Some(path.clone()), e))?;
            marker = CleanClose::decode(&bytes).ok();
        }
        storage
            .remove_file(&path)
            .map_err(|e| Error::io("remove clean-close marker", Some(path.clone()), e))?;
        removed = true;
    }
    if removed {
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
    }
    Ok(marker)
}

/// Whether the scanned last segment is the one the marker names and ends exactly where
/// it says, cleanly: then nothing was appended, cut or lost since the close, and every
/// segment before it was durable when the marker was written.
pub(super) fn matches(marker: &CleanClose, last: &Scanned) -> bool {
    !last.deferred
        && last.header.is_ok()
        && last.damage.is_none()
        && last.epoch == marker.epoch
        && last.first_position == marker.last_segment_first_position
        && last.end_offset == marker.end_offset
        && last.end_position == marker.end_position
}
