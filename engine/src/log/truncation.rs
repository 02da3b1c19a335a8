//! Suffix truncation (`Log::truncate_from`): removing every event from a position on,
//! synced ones included, for a replicated log whose leader overwrote a conflicting tail.
//!
//! The removal is made durable by a marker before any file changes (`TRUNCATE`,
//! `docs/format.md`): while it exists, the log ends before its position, and an open
//! finishes the cut (`truncation_open`). Published bytes are never rewritten, so every
//! mapping, payload and reader stays sound (`docs/safety.md`): the segment holding the
//! cut is replaced by a copy of its records before the cut (written under another name,
//! synced, then renamed over it), and the segments after it are removed. Readers still
//! holding the old segments are told by the segments themselves ([`Segment::cut_from`]):
//! a reader that reaches a removed position moves to the new segment when it had
//! returned nothing from the removed suffix, and otherwise fails with
//! [`Error::PositionOutOfRange`].
//!
//! The steps, under the retention lock, the group commit's leader place (so no sync
//! raises the synced watermark over removed positions) and the writer's lock (so no
//! append comes between): make everything appended durable; find the record that starts
//! at the position (the cut falls between records); write the marker; remove the later
//! segments; install the copy; remove the marker; then publish the new end.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::directory::segment_path;
use super::located::view_of;
use super::scan::scan_records;
use super::segment::Segment;
use super::walker::{RecordWalker, Step};
use super::{append, LogCore, Shared};
use crate::error::{Error, Result};
use crate::format::segment_header::SEGMENT_HEADER_BYTES;
use crate::format::truncation_marker::{TruncationMarker, TRUNCATION_MARKER_NAME};
use crate::io::StorageFile;
use crate::position::Position;

/// The name the copy of the cut segment is written under before it replaces it.
pub(crate) const TRUNCATED_SEGMENT_NAME: &str = "truncated-segment.tmp";
/// The name the marker is written under before it is renamed into place.
pub(crate) const MARKER_TMP_NAME: &str = "TRUNCATE.tmp";

impl LogCore {
    /// Removes every event from `position` on; see [`crate::Log::truncate_from`].
    pub(crate) fn truncate_from(&self, position: Position) -> Result<()> {
        let shared = &**self;
        shared.check_usable()?;
        let _serialized = shared.retention.lock().unwrap_or_else(|e| e.into_inner());
        // Whatever was appended becomes durable first, outside the writer's lock.
        shared.sync()?;
        let _term = shared.group_commit.exclusive_term();
        let mut writer = shared.writer();
        shared.check_usable()?;
        // Appends that came in since: written and synced here, the leader being us.
        append::flush(shared, &mut writer)?;
        shared.seals.make_durable(shared)?;
        let (active, written) = writer.sync_target();
        if let Err(e) = active.file.sync_data() {
            shared.poison();
            return Err(Error::io("fdatasync segment", Some(active.path.clone()), e));
        }
        shared.synced.fetch_max(written, Ordering::AcqRel);
        let next = writer.next_position();
        let first = shared.first();
        if position.0 < first || position.0 > next {
            return Err(shared.out_of_range(position.0));
        }
        if position.0 == next {
            return Ok(());
        }
        let cut = find_cut(shared, position.0)?;
        let replaced = match remove_suffix(shared, &cut) {
            Ok(replaced) => replaced,
            Err(e) => {
                // The marker may be down: the log's state is the one an open finishes.
                shared.poison();
                return Err(e);
            }
        };
        // Readers holding the old segments stop at the cut before the end moves back.
        let later: Vec<Arc<Segment>> = {
            let mut segments = shared.segments.write().unwrap_or_else(|e| e.into_inner());
            let at = segments
                .iter()
                .position(|s| Arc::ptr_eq(s, &cut.segment))
                .expect("the cut segment is in the list");
            let later = segments.split_off(at + 1);
            segments[at] = Arc::clone(&replaced.segment);
            later
        };
        cut.segment.mark_cut_from(position.0);
        for segment in &later {
            segment.mark_cut_from(segment.first_position);
        }
        writer.restart_at(
            Arc::clone(&replaced.segment),
            cut.offset,
            position.0,
            replaced.last_indexed_offset,
        );
        shared.next.store(position.0, Ordering::Release);
        shared.written.store(position.0, Ordering::Release);
        shared.synced.store(position.0, Ordering::Release);
        // Subscriptions waiting at the tail look again (and find the cut).
        shared.tail.publish();
        Ok(())
    }
}

/// Where the cut falls: the segment holding the position and the offset of the record
/// that starts there.
struct Cut {
    segment: Arc<Segment>,
    view: bytes::Bytes,
    /// The first position removed, and its record's offset.
    position: u64,
    offset: u64,
}

fn find_cut(shared: &Shared, position: u64) -> Result<Cut> {
    let segment = shared
        .segment_for(position)
        .ok_or_else(|| shared.out_of_range(position))?;
    let view = view_of(&segment)?;
    let (_, from) = segment
        .index
        .floor(position)
        .unwrap_or((segment.first_position, SEGMENT_HEADER_BYTES as u64));
    let published = (segment.written_bytes() as usize).min(view.len());
    let mut walker = RecordWalker::new(&view[..published], from, shared.epoch);
    loop {
        let record = match walker.step() {
            Step::Record(record) => record,
            Step::End => {
                return Err(Error::corrupt(
                    segment.path.clone(),
                    walker.offset(),
                    "records end before the position to truncate from",
                ))
            }
            Step::Damaged { offset, error } => {
                return Err(Error::corrupt(
                    segment.path.clone(),
                    offset,
                    error.describe(),
                ))
            }
        };
        let header = record.header;
        if header.position == position {
            let offset = record.offset;
            return Ok(Cut {
                segment,
                view,
                position,
                offset,
            });
        }
        if header.is_seal() || header.end_position() > position {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "position {position} is inside the append of positions {}..{}: a \
                     truncation removes whole appends",
                    header.position,
                    header.end_position()
                ),
            });
        }
    }
}

/// The segment that replaced the cut one.
struct Replaced {
    segment: Arc<Segment>,
    last_indexed_offset: Option<u64>,
}

/// The durable steps: marker, later segments removed, the copy installed, marker removed.
fn remove_suffix(shared: &Shared, cut: &Cut) -> Result<Replaced> {
    let storage = shared.storage.as_ref();
    let dir = &shared.dir;
    let sync_dir = || {
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.clone()), e))
    };
    let position = cut.position;
    // 1. The marker: from here on an open ends the log before `position`.
    let marker = TruncationMarker {
        epoch: shared.epoch,
        cut_position: position,
    };
    let marker_tmp = dir.join(MARKER_TMP_NAME);
    let marker_path = dir.join(TRUNCATION_MARKER_NAME);
    let file = storage
        .create_file(&marker_tmp, marker.encode().len() as u64)
        .map_err(|e| Error::io("create truncation marker", Some(marker_tmp.clone()), e))?;
    write_synced(file.as_ref(), 0, &marker.encode(), &marker_tmp)?;
    storage
        .rename(&marker_tmp, &marker_path)
        .map_err(|e| Error::io("rename truncation marker", Some(marker_path.clone()), e))?;
    sync_dir()?;
    // 2. The segments after the cut one, newest first.
    let later: Vec<u64> = {
        let segments = shared.segments.read().unwrap_or_else(|e| e.into_inner());
        segments
            .iter()
            .map(|s| s.first_position)
            .filter(|&first| first > cut.segment.first_position)
            .collect()
    };
    for first in later.iter().rev() {
        let path = segment_path(dir, *first);
        storage
            .remove_file(&path)
            .map_err(|e| Error::io("remove segment", Some(path.clone()), e))?;
    }
    // 3. The copy of the records before the cut, renamed over the cut segment.
    let copy_path = dir.join(TRUNCATED_SEGMENT_NAME);
    let copy = storage
        .create_file(&copy_path, cut.segment.file.len_bytes())
        .map_err(|e| Error::io("create segment", Some(copy_path.clone()), e))?;
    copy.allocate_through(cut.offset);
    write_synced(
        copy.as_ref(),
        0,
        &cut.view[..cut.offset as usize],
        &copy_path,
    )?;
    storage
        .rename(&copy_path, &cut.segment.path)
        .map_err(|e| Error::io("rename segment", Some(cut.segment.path.clone()), e))?;
    sync_dir()?;
    // 4. The marker goes: the cut is complete on disk.
    storage
        .remove_file(&marker_path)
        .map_err(|e| Error::io("remove truncation marker", Some(marker_path.clone()), e))?;
    sync_dir()?;
    let segment = Arc::new(Segment::new(
        cut.segment.first_position,
        cut.segment.path.clone(),
        copy,
        cut.offset,
    ));
    let mut last_indexed_offset = None;
    let end = scan_records(
        &cut.view[..cut.offset as usize],
        shared.epoch,
        cut.segment.first_position,
        |p, o| {
            segment.index.push(p, o);
            last_indexed_offset = Some(o);
        },
    );
    assert!(
        end.damage.is_none() && end.end_offset == cut.offset && !end.sealed,
        "the records kept were read before the cut"
    );
    Ok(Replaced {
        segment,
        last_indexed_offset,
    })
}

fn write_synced(
    file: &dyn StorageFile,
    offset: u64,
    bytes: &[u8],
    path: &std::path::Path,
) -> Result<()> {
    file.write_at(offset, bytes)
        .map_err(|e| Error::io("write", Some(path.to_path_buf()), e))?;
    file.sync_data()
        .map_err(|e| Error::io("fdatasync", Some(path.to_path_buf()), e))
}
