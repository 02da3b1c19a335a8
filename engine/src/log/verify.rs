//! The log's full verification: every record of every segment file walked with the one
//! record walker (`walker`), header and body checksums checked, positions followed from
//! segment to segment, seals checked; each problem reported with its file and offset.
//! It lists and maps the directory itself (never the open log's segment list), so it
//! sees what a follower stopped short of, and it never writes.
//!
//! Damage at the end of the log is judged by recovery's rule (`recovery`): a bad frame
//! in the last segment (or a missing seal in the one before it) that no later record
//! proves was synced is an incomplete tail — what a crash leaves, or a write in
//! progress — not damage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::recovery::durable_record_after;
use super::verify_report::{VerifyProblemKind, VerifyProgress, VerifyReport, VerifyStage};
use super::walker::{RecordWalker, Step};
use crate::error::{Error, Result};
use crate::format::parse_segment_file_name;
use crate::format::segment_header::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::format::ALIGNMENT_BYTES;
use crate::io::{Storage, StorageFile};

/// Progress is reported at least once per this many bytes walked.
const PROGRESS_EVERY_BYTES: u64 = 4 << 20;

/// What the walk learned that later checks (consumers, the index) need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkedLog {
    /// The log's epoch (from its first readable segment header), if any.
    pub(crate) epoch: Option<u64>,
    /// The position after the last valid event of the last segment.
    pub(crate) end_position: u64,
}

/// The end of the writer's active segment, when the verification runs in the writer's
/// own process: bytes past it are appends in flight, not looked at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveEnd {
    /// The active segment's first position.
    pub(crate) first_position: u64,
    /// Its published bytes.
    pub(crate) written_bytes: u64,
}

struct SegmentFile {
    first: u64,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    view: Bytes,
    len_bytes: u64,
    /// A segment before it was listed but removed (by a writer's retention) before it
    /// could be opened: the sequence cannot be checked across the gap.
    after_removed: bool,
}

/// What one segment's walk found.
struct Walk {
    next_position: u64,
    sealed: bool,
    end_offset: u64,
    /// The first bad frame: (offset, where later records may start, kind, detail).
    damage: Option<(u64, u64, VerifyProblemKind, String)>,
}

/// Walks every segment of the log in `dir`, adding what it finds to `report`.
pub(crate) fn verify_segments(
    storage: &dyn Storage,
    dir: &Path,
    live: Option<LiveEnd>,
    progress: &mut dyn FnMut(VerifyProgress),
    report: &mut VerifyReport,
) -> Result<WalkedLog> {
    let files = open_segments(storage, dir)?;
    let total: u64 = files.iter().map(|f| f.view.len() as u64).sum();
    let mut done = 0u64;
    let mut walked = WalkedLog {
        epoch: None,
        end_position: files.first().map_or(0, |f| f.first),
    };
    let mut expected: Option<u64> = None;
    let last = files.len().saturating_sub(1);
    for (k, file) in files.iter().enumerate() {
        report.segments_checked += 1;
        progress(VerifyProgress {
            stage: VerifyStage::Records,
            done,
            total,
        });
        let Some(epoch) = check_header(file, &mut walked, report) else {
            expected = None;
            done += file.view.len() as u64;
            continue;
        };
        if let Some(expected) = expected.filter(|&e| e != file.first && !file.after_removed) {
            report.push(
                VerifyProblemKind::Sequence,
                file.path.clone(),
                Some(0),
                Some(file.first),
                format!(
                    "segment starts at position {}, the previous one ends at {expected}",
                    file.first
                ),
            );
        }
        let bound = live
            .filter(|l| l.first_position == file.first)
            .map(|l| l.written_bytes);
        let walk = walk_segment(file, epoch, bound, report, &mut |offset| {
            progress(VerifyProgress {
                stage: VerifyStage::Records,
                done: done + offset,
                total,
            })
        });
        done += file.view.len() as u64;
        // Only the last two segments can hold a torn write (recovery's table).
        let at_tail = bound.is_none() && k + 1 >= last;
        let proven_synced = |from: u64| {
            durable_record_after(&*file.file, &file.view, epoch, from, walk.next_position)
                || (k < last
                    && durable_record_after(
                        &*files[last].file,
                        &files[last].view,
                        epoch,
                        SEGMENT_HEADER_BYTES as u64,
                        walk.next_position,
                    ))
        };
        match walk.damage {
            Some((offset, later_from, kind, detail)) => {
                let kind = if at_tail && !proven_synced(later_from) {
                    VerifyProblemKind::IncompleteTail
                } else {
                    kind
                };
                let position = Some(walk.next_position);
                report.push(kind, file.path.clone(), Some(offset), position, detail);
                expected = None;
                continue;
            }
            // The writer rolled since the walk began: its bound was the old tail.
            None if !walk.sealed && k != last && bound.is_some() => {}
            None if !walk.sealed && k != last => {
                let later_from = walk.end_offset + ALIGNMENT_BYTES as u64;
                let kind = if at_tail && !proven_synced(later_from) {
                    VerifyProblemKind::IncompleteTail
                } else {
                    VerifyProblemKind::Seal
                };
                report.push(
                    kind,
                    file.path.clone(),
                    Some(walk.end_offset),
                    Some(walk.next_position),
                    "segment ends without a seal but a later segment follows",
                );
            }
            None if !walk.sealed
                && bound.is_none()
                && durable_record_after(
                    &*file.file,
                    &file.view,
                    epoch,
                    walk.end_offset + ALIGNMENT_BYTES as u64,
                    walk.next_position,
                ) =>
            {
                report.push(
                    VerifyProblemKind::Record,
                    file.path.clone(),
                    Some(walk.end_offset),
                    Some(walk.next_position),
                    "zeroed bytes where a synced record was expected",
                );
            }
            None => {}
        }
        expected = Some(walk.next_position);
        walked.end_position = walk.next_position;
    }
    progress(VerifyProgress {
        stage: VerifyStage::Records,
        done: total,
        total,
    });
    Ok(walked)
}

/// Every segment file of `dir`, in position order, mapped (a segment retention removed
/// since the listing is skipped).
fn open_segments(storage: &dyn Storage, dir: &Path) -> Result<Vec<SegmentFile>> {
    let names = storage
        .list_dir(dir)
        .map_err(|e| Error::io("list log directory", Some(dir.to_path_buf()), e))?;
    let mut firsts: Vec<u64> = names
        .iter()
        .filter_map(|name| parse_segment_file_name(name))
        .collect();
    firsts.sort_unstable();
    if firsts.is_empty() {
        return Err(Error::corrupt(
            dir.to_path_buf(),
            0,
            "no segment: not a log, or one not created yet",
        ));
    }
    let mut files = Vec::with_capacity(firsts.len());
    let mut after_removed = false;
    for first in firsts {
        let path = dir.join(crate::format::segment_file_name(first));
        let file = match storage.open_file(&path, false) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                after_removed = true;
                continue;
            }
            Err(e) => return Err(Error::io("open segment", Some(path), e)),
        };
        let view = file
            .view()
            .map_err(|e| Error::io("map segment", Some(path.clone()), e))?;
        files.push(SegmentFile {
            first,
            path,
            file: Arc::clone(&file),
            len_bytes: file.len_bytes(),
            view,
            after_removed,
        });
        after_removed = false;
    }
    Ok(files)
}

/// Checks a segment's header; its epoch if the records can be walked.
fn check_header(
    file: &SegmentFile,
    walked: &mut WalkedLog,
    report: &mut VerifyReport,
) -> Option<u64> {
    let mut problem = |detail: String| {
        report.push(
            VerifyProblemKind::SegmentHeader,
            file.path.clone(),
            Some(0),
            Some(file.first),
            detail,
        )
    };
    let header = match SegmentHeader::decode(&file.view) {
        Ok(header) => header,
        Err(e) => {
            problem(e.describe());
            return None;
        }
    };
    if header.first_position != file.first {
        problem(format!(
            "segment header says first position {}, its name says {}",
            header.first_position, file.first
        ));
        return None;
    }
    if header.segment_bytes != file.len_bytes {
        problem(format!(
            "segment header says {} bytes, the file has {}",
            header.segment_bytes, file.len_bytes
        ));
    }
    match walked.epoch {
        None => walked.epoch = Some(header.epoch),
        Some(epoch) if epoch != header.epoch => {
            problem("segment belongs to another log (epoch)".into());
            return None;
        }
        Some(_) => {}
    }
    Some(header.epoch)
}

/// Walks one segment's records (up to `bound` bytes, when given), checking every
/// checksum and the position sequence.
fn walk_segment(
    file: &SegmentFile,
    epoch: u64,
    bound: Option<u64>,
    report: &mut VerifyReport,
    progress: &mut dyn FnMut(u64),
) -> Walk {
    let mut walker = RecordWalker::new(&file.view, SEGMENT_HEADER_BYTES as u64, epoch);
    let mut walk = Walk {
        next_position: file.first,
        sealed: false,
        end_offset: SEGMENT_HEADER_BYTES as u64,
        damage: None,
    };
    let mut reported_at = 0;
    while bound.is_none_or(|bound| walker.offset() < bound) {
        let record = match walker.step() {
            Step::End => break,
            Step::Damaged { offset, error } => {
                let later_from = offset + ALIGNMENT_BYTES as u64;
                let detail = error.describe().to_owned();
                walk.damage = Some((offset, later_from, VerifyProblemKind::Record, detail));
                break;
            }
            Step::Record(record) => record,
        };
        let header = record.header;
        if header.position != walk.next_position {
            let detail = format!(
                "record at position {}, the one before it ends at {}",
                header.position, walk.next_position
            );
            let later_from = record.end_offset();
            walk.damage = Some((
                record.offset,
                later_from,
                VerifyProblemKind::Sequence,
                detail,
            ));
            break;
        }
        if let Err(error) = record.check_body() {
            let detail = error.describe().to_owned();
            let later_from = record.end_offset();
            walk.damage = Some((record.offset, later_from, VerifyProblemKind::Record, detail));
            break;
        }
        report.records_checked += 1;
        report.bytes_checked += record.end_offset() - record.offset;
        walk.end_offset = record.end_offset();
        if header.is_seal() {
            walk.sealed = true;
            break;
        }
        report.events_checked += u64::from(header.event_count);
        walk.next_position = header.end_position();
        if walk.end_offset >= reported_at + PROGRESS_EVERY_BYTES {
            reported_at = walk.end_offset;
            progress(walk.end_offset);
        }
    }
    if walk.damage.is_none() {
        walk.end_offset = walker.offset();
    }
    walk
}
