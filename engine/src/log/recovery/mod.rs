//! Recovery at open: scan the tail (every segment under `OpenChecks::AllSegments`), cut a
//! torn tail, refuse other damage.
//!
//! The decision table (docs/design.md has the argument):
//!
//! | what the scan finds at (segment, offset) | a later record proves it was synced | outcome |
//! | --- | --- | --- |
//! | clean end (zeros) in the last segment | no | resume there; zero any debris after it |
//! | clean end (zeros) in the last segment | yes | corrupt (a synced record was zeroed) |
//! | bad record (checksum, length, sequence) in the last segment | no | torn tail: cut there |
//! | bad record, or no seal, in the segment before the last | no | torn tail: cut there, drop the last segment |
//! | bad record, or no seal, anywhere | yes | corrupt, or cut there under `TruncateAtDamage` |
//! | bad record, or no seal, further back than the segment before the last | always | corrupt, or cut |
//! | bad segment header, wrong epoch, position gap | never a torn write | corrupt, or cut |
//!
//! "Proves it was synced": a record past the damage (in its segment or the last one),
//! with valid checksums, whose `synced_before` exceeds the damaged position; or a last
//! segment whose header is damaged or of another log (headers are synced before a
//! segment is named, so that is damage, never a torn write). A roll leaves the sealed
//! segment's fdatasync to a background thread but first waits for the previous one
//! (`flusher`): only the segment before the last can ever be torn, and the records
//! after it never claim it synced unless it was. A clean-close marker that the last
//! segment matches (`clean_close`) proves the same of every segment before it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::directory::{
    install_segment, prepare_segment_file, segment_path, PREPARED_SEGMENT_NAME,
};
use super::scan::{scan_records, Damage};
use super::segment::Segment;
use crate::error::{Error, Result};
use crate::format::clean_close::CleanClose;
use crate::format::segment_header::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::format::{parse_segment_file_name, ALIGNMENT_BYTES};
use crate::io::{Storage, StorageFile};
use crate::options::{OpenChecks, Options, RecoveryMode};
use cut::{quarantine_segments, quarantine_tail, zero_tail};
pub(crate) use dry_run::dry_run;
pub(in crate::log) use proof::durable_record_after;
pub use report::{CutReason, RecoveryAction, RecoveryReport, QUARANTINE_DIR};

pub(crate) mod clean_close;
mod cut;
mod dry_run;
mod proof;
mod report;

/// What the writer and readers start from.
pub(crate) struct Recovered {
    pub(crate) segments: Vec<Arc<Segment>>,
    pub(crate) write_offset: u64,
    pub(crate) next_position: u64,
    pub(crate) first_position: u64,
    pub(crate) active_sealed: bool,
    pub(crate) epoch: u64,
    pub(crate) report: RecoveryReport,
}

/// One segment as found on disk.
struct Scanned {
    first_position: u64,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    writable: bool,
    view: Bytes,
    header: Result<SegmentHeader, String>,
    /// The epoch in the header (0 when the header is damaged).
    epoch: u64,
    /// Record offsets for the sparse index, up to `end_offset`.
    index: Vec<(u64, u64)>,
    /// End of the valid records (after the seal, when sealed).
    end_offset: u64,
    /// The position after the last valid event.
    end_position: u64,
    sealed: bool,
    /// The first invalid record, if the scan stopped at one rather than at zeros.
    damage: Option<Damage>,
    /// The records were not scanned: the first reader of the segment scans them.
    deferred: bool,
    /// The highest `synced_before` of the valid records scanned (0 if not scanned).
    synced_before_max: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProblemKind {
    /// Could be the last write, torn by a crash.
    MaybeTorn,
    /// Cannot come from a crash (headers and names are synced before use).
    NeverTorn,
}

struct Problem {
    segment: usize,
    offset: u64,
    /// Where to look for records written after the problem (see [`Damage`]).
    later_records_from: u64,
    expected_position: u64,
    reason: String,
    kind: ProblemKind,
}

pub(crate) fn recover(storage: &dyn Storage, dir: &Path, options: &Options) -> Result<Recovered> {
    let names = storage
        .list_dir(dir)
        .map_err(|e| Error::io("list log directory", Some(dir.to_path_buf()), e))?;
    remove_prepared_segment(storage, dir, &names)?;
    // Taken before anything can change, whatever the checks: a marker never outlives the
    // open after the close that wrote it.
    let clean_close = clean_close::take(storage, dir, &names)?;
    let mut firsts: Vec<u64> = names
        .iter()
        .filter_map(|name| parse_segment_file_name(name))
        .collect();
    firsts.sort_unstable();
    if firsts.is_empty() {
        return start_new_log(storage, dir, options, 0, new_epoch());
    }
    let last = firsts.len() - 1;
    let mut scans = Vec::with_capacity(firsts.len());
    for (k, &first) in firsts.iter().enumerate() {
        // The last segment is always scanned. The one before it may be torn (its seal's
        // fdatasync runs in the background): it is scanned too unless the last one proves
        // it durable (`find_problem_keeping_tail_scanned`).
        let deferred_end = match options.open_checks {
            OpenChecks::AllSegments => None,
            OpenChecks::LastSegment if k != last => firsts.get(k + 1).copied(),
            OpenChecks::LastSegment => None,
        };
        scans.push(scan_segment(storage, dir, first, k == last, deferred_end)?);
    }
    let epoch = scans[0].epoch;
    let mut report = RecoveryReport::default();
    match find_problem_keeping_tail_scanned(&mut scans, epoch, clean_close.as_ref()) {
        None => finish(storage, dir, scans, epoch, None, report),
        Some(problem) => {
            let proven_synced = problem.kind == ProblemKind::NeverTorn
                || later_record_proves_synced(&scans, &problem);
            if proven_synced && options.recovery == RecoveryMode::Strict {
                return Err(Error::corrupt(
                    scans[problem.segment].path.clone(),
                    problem.offset,
                    problem.reason,
                ));
            }
            let reason = if proven_synced {
                CutReason::Damage {
                    detail: problem.reason.clone(),
                }
            } else {
                CutReason::TornTail {
                    detail: problem.reason.clone(),
                }
            };
            if problem.segment == 0 && problem.offset == 0 {
                quarantine_segments(storage, dir, &scans, &reason, &mut report)?;
                let mut recovered =
                    start_new_log(storage, dir, options, problem.expected_position, epoch)?;
                recovered.report = report;
                return Ok(recovered);
            }
            finish(storage, dir, scans, epoch, Some((problem, reason)), report)
        }
    }
}

fn new_epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) | 1
}

fn remove_prepared_segment(storage: &dyn Storage, dir: &Path, names: &[String]) -> Result<()> {
    let mut removed = false;
    for name in names.iter().filter(|n| n.as_str() == PREPARED_SEGMENT_NAME) {
        let path = dir.join(name);
        storage
            .remove_file(&path)
            .map_err(|e| Error::io("remove temporary file", Some(path), e))?;
        removed = true;
    }
    if removed {
        sync_dir(storage, dir)?;
    }
    Ok(())
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
}

fn start_new_log(
    storage: &dyn Storage,
    dir: &Path,
    options: &Options,
    first_position: u64,
    epoch: u64,
) -> Result<Recovered> {
    let file = prepare_segment_file(storage, dir, options.segment_bytes)?;
    let path = install_segment(storage, dir, &file, first_position, epoch)?;
    let segment = Segment::new(first_position, path, file, SEGMENT_HEADER_BYTES as u64);
    Ok(Recovered {
        segments: vec![Arc::new(segment)],
        write_offset: SEGMENT_HEADER_BYTES as u64,
        next_position: first_position,
        first_position,
        active_sealed: false,
        epoch,
        report: RecoveryReport::default(),
    })
}

/// Opens a segment and checks its header; scans its records unless `deferred_end` is
/// given (a sealed segment under `OpenChecks::LastSegment`: it is taken to end where the
/// next segment starts, and its first reader scans it).
fn scan_segment(
    storage: &dyn Storage,
    dir: &Path,
    first: u64,
    writable: bool,
    deferred_end: Option<u64>,
) -> Result<Scanned> {
    let path = segment_path(dir, first);
    let file = storage
        .open_file(&path, writable)
        .map_err(|e| Error::io("open segment", Some(path.clone()), e))?;
    let view = file
        .view()
        .map_err(|e| Error::io("map segment", Some(path.clone()), e))?;
    let mut scanned = Scanned {
        first_position: first,
        path,
        header: Err(String::new()),
        epoch: 0,
        index: Vec::new(),
        end_offset: 0,
        end_position: first,
        sealed: false,
        damage: None,
        deferred: deferred_end.is_some(),
        synced_before_max: 0,
        view,
        file,
        writable,
    };
    scanned.header = SegmentHeader::decode(&scanned.view)
        .map_err(|e| e.describe())
        .and_then(|h| check_header(&h, first, scanned.file.len_bytes()).map(|()| h));
    if let Ok(header) = &scanned.header {
        scanned.epoch = header.epoch;
        match deferred_end {
            Some(end_position) => {
                scanned.sealed = true;
                scanned.end_position = end_position;
            }
            None => scan_all_records(&mut scanned),
        }
    }
    Ok(scanned)
}

fn check_header(header: &SegmentHeader, first: u64, len_bytes: u64) -> Result<(), String> {
    if header.first_position != first {
        return Err(format!(
            "segment header says first position {}, its name says {first}",
            header.first_position
        ));
    }
    if header.segment_bytes != len_bytes {
        return Err(format!(
            "segment header says {} bytes, the file has {len_bytes}",
            header.segment_bytes
        ));
    }
    Ok(())
}

fn scan_all_records(scanned: &mut Scanned) {
    let mut index = Vec::new();
    let end = scan_records(
        &scanned.view,
        scanned.epoch,
        scanned.first_position,
        |p, o| index.push((p, o)),
    );
    scanned.index = index;
    scanned.end_offset = end.end_offset;
    scanned.end_position = end.end_position;
    scanned.sealed = end.sealed;
    scanned.damage = end.damage;
    scanned.synced_before_max = end.synced_before_max;
}

/// [`find_problem`], after scanning (under `OpenChecks::LastSegment`) whichever segments
/// will be the tail once the problem is cut off — the last one, and the one before it
/// unless the last proves it durable or a clean close did — since the next open scans
/// those by the same rule, and the two opens must agree.
fn find_problem_keeping_tail_scanned(
    scans: &mut [Scanned],
    epoch: u64,
    clean_close: Option<&CleanClose>,
) -> Option<Problem> {
    let last = scans.len() - 1;
    loop {
        let problem = find_problem(scans, epoch);
        let kept_last = match &problem {
            None => Some(scans.len() - 1),
            Some(problem) if problem.offset == 0 => problem.segment.checked_sub(1),
            Some(problem) => Some(problem.segment),
        };
        let Some(kept_last) = kept_last else {
            return problem;
        };
        let mut scanned_more = scan_deferred(&mut scans[kept_last]);
        // A clean close made every segment durable; the last one ending where its marker
        // says proves nothing changed since.
        let closed_cleanly = kept_last == last
            && clean_close.is_some_and(|marker| clean_close::matches(marker, &scans[last]));
        if kept_last > 0 && !closed_cleanly && !proves_previous_durable(&scans[kept_last]) {
            scanned_more |= scan_deferred(&mut scans[kept_last - 1]);
        }
        if !scanned_more {
            return problem;
        }
    }
}

/// Scans a segment whose scan was deferred (if its header is sound); whether it did.
fn scan_deferred(scan: &mut Scanned) -> bool {
    if scan.deferred && scan.header.is_ok() {
        scan_all_records(scan);
        scan.deferred = false;
        return true;
    }
    false
}

/// Whether a scanned segment holds a valid record written after a sync covered one of
/// its own positions (`synced_before` above its first position): a group commit syncs
/// the active segment only after making the sealed one before it durable (`flusher`), so
/// that segment, seal included, was durable and no crash can have torn it. Damage there
/// is media damage, found by its first reader. (`synced_before` equal to the first
/// position proves less: every event before it was synced, possibly before its seal was
/// written. A model test found that case.)
fn proves_previous_durable(scan: &Scanned) -> bool {
    !scan.deferred && scan.synced_before_max > scan.first_position
}

fn find_problem(scans: &[Scanned], epoch: u64) -> Option<Problem> {
    let mut expected = scans[0].first_position;
    let last = scans.len() - 1;
    for (k, scan) in scans.iter().enumerate() {
        let never_torn = |reason: String| Problem {
            segment: k,
            offset: 0,
            later_records_from: 0,
            expected_position: expected,
            reason,
            kind: ProblemKind::NeverTorn,
        };
        match &scan.header {
            Err(reason) => return Some(never_torn(reason.clone())),
            Ok(header) if header.epoch != epoch => {
                return Some(never_torn("segment belongs to another log (epoch)".into()))
            }
            Ok(_) => {}
        }
        if scan.first_position != expected {
            return Some(never_torn(format!(
                "segment starts at position {}, the previous one ends at {expected}",
                scan.first_position
            )));
        }
        if let Some(damage) = scan.damage {
            return Some(Problem {
                segment: k,
                offset: damage.offset,
                later_records_from: damage.later_records_from,
                expected_position: scan.end_position,
                reason: damage.reason.into(),
                kind: ProblemKind::MaybeTorn,
            });
        }
        if !scan.sealed && k != last {
            return Some(Problem {
                segment: k,
                offset: scan.end_offset,
                later_records_from: scan.end_offset + ALIGNMENT_BYTES as u64,
                expected_position: scan.end_position,
                reason: "segment ends without a seal but a later segment follows".into(),
                kind: ProblemKind::MaybeTorn,
            });
        }
        let later_records_from = scan.end_offset + ALIGNMENT_BYTES as u64;
        if !scan.sealed
            && k == last
            && durable_record_after(
                &*scan.file,
                &scan.view,
                scan.epoch,
                later_records_from,
                scan.end_position,
            )
        {
            return Some(Problem {
                segment: k,
                offset: scan.end_offset,
                later_records_from,
                expected_position: scan.end_position,
                reason: "zeroed bytes where a synced record was expected".into(),
                kind: ProblemKind::NeverTorn,
            });
        }
        expected = scan.end_position;
    }
    None
}

/// Whether anything after the problem proves the damaged position had been synced.
fn later_record_proves_synced(scans: &[Scanned], problem: &Problem) -> bool {
    let scan = &scans[problem.segment];
    let damaged_position = scan.end_position;
    let last = scans.len() - 1;
    if problem.segment + 1 < last {
        // A roll makes the previous sealed segment durable before it seals the next: no
        // crash leaves a torn segment with two segments after it.
        return true;
    }
    if problem.segment + 1 == last {
        let later = &scans[last];
        match &later.header {
            // Named only after its header was synced: damage, never a torn write.
            Err(_) => return true,
            Ok(header) if header.epoch != scan.epoch => return true,
            Ok(_) => {}
        }
        let from = SEGMENT_HEADER_BYTES as u64;
        if durable_record_after(
            &*later.file,
            &later.view,
            scan.epoch,
            from,
            damaged_position,
        ) {
            return true;
        }
    }
    durable_record_after(
        &*scan.file,
        &scan.view,
        scan.epoch,
        problem.later_records_from,
        damaged_position,
    )
}

/// Keeps the segments before the problem (or all of them), cuts the last one at its
/// valid end (keeping a copy of what it cuts), and builds the in-memory segments.
fn finish(
    storage: &dyn Storage,
    dir: &Path,
    mut scans: Vec<Scanned>,
    epoch: u64,
    problem: Option<(Problem, CutReason)>,
    mut report: RecoveryReport,
) -> Result<Recovered> {
    let mut cut_offset = None;
    let mut reason = CutReason::TornTail {
        detail: "bytes after the last complete record".into(),
    };
    if let Some((problem, problem_reason)) = problem {
        let dropped = scans.split_off(problem.segment + 1);
        if !dropped.is_empty() {
            quarantine_segments(storage, dir, &dropped, &CutReason::AfterCut, &mut report)?;
        }
        let kept = problem.segment;
        if problem.offset == 0 {
            let removed = scans.split_off(kept);
            quarantine_segments(storage, dir, &removed, &problem_reason, &mut report)?;
        } else {
            cut_offset = Some(problem.offset);
        }
        reason = problem_reason;
    }
    let last = scans.len() - 1;
    let scan = &mut scans[last];
    // A segment whose scan was deferred (`OpenChecks::LastSegment`) that is last now, a
    // later one having been dropped, takes the writer: its real end must be known, not
    // assumed from the dropped segment's name (found by fuzzing recovery).
    if scan.deferred {
        scan_all_records(scan);
        scan.deferred = false;
        cut_offset = scan.damage.map(|damage| damage.offset);
        if let Some(damage) = scan.damage {
            reason = CutReason::TornTail {
                detail: damage.reason.into(),
            };
        }
    }
    if let Some(offset) = cut_offset {
        scan.end_offset = offset;
        scan.sealed = false;
        scan.index.retain(|&(_, at)| at < offset);
    }
    if !scan.sealed {
        if !scan.writable {
            scan.file = storage
                .open_file(&scan.path, true)
                .map_err(|e| Error::io("open segment", Some(scan.path.clone()), e))?;
        }
        if let Some(action) = quarantine_tail(storage, dir, scan, epoch, reason)? {
            report.record(action);
        }
        zero_tail(scan)?;
    }
    // The log opens with everything it holds counted as synced: after a process crash
    // the tail may still be only in the page cache, so make that true before saying it.
    // That holds for the segment before the last too, whose seal's fdatasync may not have
    // run (`flusher`); every earlier one was durable before the last was sealed.
    for scan in &scans[last.saturating_sub(1)..] {
        scan.file
            .sync_data()
            .map_err(|e| Error::io("fdatasync segment", Some(scan.path.clone()), e))?;
    }
    report.segments_scanned = scans.iter().filter(|scan| !scan.deferred).count();
    let first_position = scans[0].first_position;
    let active = &scans[last];
    let (write_offset, next_position, active_sealed) =
        (active.end_offset, active.end_position, active.sealed);
    let segments = scans
        .into_iter()
        .map(|scan| {
            if scan.deferred {
                let segment = Segment::deferred(
                    scan.first_position,
                    scan.path,
                    scan.file,
                    scan.epoch,
                    scan.end_position,
                );
                return Arc::new(segment);
            }
            let segment = Segment::new(scan.first_position, scan.path, scan.file, scan.end_offset);
            for (position, offset) in scan.index {
                segment.index.push(position, offset);
            }
            if scan.sealed {
                segment.mark_sealed();
            }
            Arc::new(segment)
        })
        .collect();
    Ok(Recovered {
        segments,
        write_offset,
        next_position,
        first_position,
        active_sealed,
        epoch,
        report,
    })
}

#[cfg(test)]
mod tests;
