//! Recovery's dry run: what opening the log would cut or remove, found by the same scan
//! and decision table as `recover`, with nothing written — no lock taken, no file
//! created, moved or zeroed. `annal recover --dry-run` shows it before an operator
//! agrees to the real thing.

use std::path::Path;

use super::cut::{tail_cut, TailCut};
use super::{
    find_problem, later_record_proves_synced, scan_segment, CutReason, ProblemKind, RecoveryAction,
    RecoveryReport, Scanned, QUARANTINE_DIR,
};
use crate::error::{Error, Result};
use crate::format::parse_segment_file_name;
use crate::io::Storage;
use crate::options::{Options, RecoveryMode};

/// The report opening the log in `dir` with `options` would return, every segment
/// scanned in full (whatever `options.open_checks` says), or the error it would refuse
/// with. Quarantine paths are where the copies would go.
pub(crate) fn dry_run(
    storage: &dyn Storage,
    dir: &Path,
    options: &Options,
) -> Result<RecoveryReport> {
    let names = storage
        .list_dir(dir)
        .map_err(|e| Error::io("list log directory", Some(dir.to_path_buf()), e))?;
    let mut firsts: Vec<u64> = names
        .iter()
        .filter_map(|name| parse_segment_file_name(name))
        .collect();
    firsts.sort_unstable();
    let mut report = RecoveryReport::default();
    if firsts.is_empty() {
        return Ok(report);
    }
    let mut scans = Vec::with_capacity(firsts.len());
    for &first in &firsts {
        scans.push(scan_segment(storage, dir, first, false, None)?);
    }
    report.segments_scanned = scans.len();
    let epoch = scans[0].epoch;
    let torn = CutReason::TornTail {
        detail: "bytes after the last complete record".into(),
    };
    let Some(problem) = find_problem(&scans, epoch) else {
        let last = &scans[scans.len() - 1];
        if !last.sealed {
            report
                .actions
                .extend(planned_cut(dir, last, last.end_offset, epoch, torn));
        }
        return Ok(report);
    };
    let proven_synced =
        problem.kind == ProblemKind::NeverTorn || later_record_proves_synced(&scans, &problem);
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
    let removed_from = if problem.offset == 0 {
        problem.segment
    } else {
        problem.segment + 1
    };
    for (k, scan) in scans.iter().enumerate().skip(removed_from) {
        report.actions.push(RecoveryAction::Removed {
            segment: scan.path.clone(),
            reason: if k == problem.segment {
                reason.clone()
            } else {
                CutReason::AfterCut
            },
            quarantine: quarantine_path(dir, scan, None),
        });
    }
    if problem.offset != 0 {
        let scan = &scans[problem.segment];
        report
            .actions
            .extend(planned_cut(dir, scan, problem.offset, epoch, reason));
    }
    Ok(report)
}

/// The cut of `scan` at `offset` recovery would make, if any byte from there is not zero.
fn planned_cut(
    dir: &Path,
    scan: &Scanned,
    offset: u64,
    epoch: u64,
    reason: CutReason,
) -> Option<RecoveryAction> {
    let TailCut { end, records_cut } = tail_cut(&scan.view, offset, epoch)?;
    let start = (offset as usize).min(scan.view.len());
    Some(RecoveryAction::Cut {
        segment: scan.path.clone(),
        offset,
        bytes_cut: (end - start) as u64,
        records_cut,
        reason,
        quarantine: Some(quarantine_path(dir, scan, Some(offset))),
    })
}

/// Where the quarantine copy would go (recovery adds `.1`, `.2`, … if the name is taken).
fn quarantine_path(dir: &Path, scan: &Scanned, cut_at: Option<u64>) -> std::path::PathBuf {
    let name = scan
        .path
        .file_name()
        .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
    let name = match cut_at {
        Some(offset) => format!("{name}.{offset}.cut"),
        None => name,
    };
    dir.join(QUARANTINE_DIR).join(name)
}
