//! What opening found, for C: the recovery report of a log or store (every segment cut
//! or removed, with why and where the quarantined bytes went; how many segments were
//! checked; the durable write path the open chose) and, for a store, what it found in
//! its index checkpoint. A report is an immutable handle; the paths and texts its
//! summary and actions point to live until it is freed.
//!
//! Thread-safety: an `annal_recovery_report *` is immutable: any number of threads may
//! read it at once.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and writing caller memory"
)]

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::LazyLock;

use annal::{CutReason, IndexRecovery, RecoveryAction, RecoveryReport};

use crate::args::Out;
use crate::enums::io_path_value;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Table};
use crate::log::{self, annal_log};
use crate::panic::guard;
use crate::status::{annal_status, ANNAL_STATUS_INVALID_LENGTH};
use crate::store::{self, annal_store};

/// What opening a log or store found. Immutable, thread-safe. Free it with
/// `annal_recovery_report_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_recovery_report {
    _private: [u8; 0],
}

/// A raw log has no index: `annal_recovery_summary.index_recovery` of a log's report.
pub const ANNAL_INDEX_RECOVERY_NONE: u32 = 0;
/// The store's index checkpoint was loaded; the log was replayed from `index_replayed_from`.
pub const ANNAL_INDEX_RECOVERY_LOADED: u32 = 1;
/// No usable index checkpoint: the index was rebuilt from the whole log (`index_reason`
/// says why).
pub const ANNAL_INDEX_RECOVERY_REBUILT: u32 = 2;

/// Recovery cut the end of a segment at `offset`.
pub const ANNAL_RECOVERY_ACTION_CUT: u32 = 1;
/// Recovery took a whole segment out of the log (into the quarantine).
pub const ANNAL_RECOVERY_ACTION_REMOVED: u32 = 2;
/// An action this version of the library cannot describe (a newer engine's).
pub const ANNAL_RECOVERY_ACTION_OTHER: u32 = 0;

/// Why: the last, incomplete write of a crash (nothing durable was lost).
pub const ANNAL_CUT_REASON_TORN_TAIL: u32 = 1;
/// Why: damage no crash explains, cut because the open asked for
/// `ANNAL_RECOVERY_TRUNCATE_AT_DAMAGE` (durable records may be among what was cut).
pub const ANNAL_CUT_REASON_DAMAGE: u32 = 2;
/// Why: the segment follows a cut.
pub const ANNAL_CUT_REASON_AFTER_CUT: u32 = 3;
/// Why: a reason this version of the library cannot describe.
pub const ANNAL_CUT_REASON_OTHER: u32 = 0;

/// The whole of a recovery report. Pointers are valid until the report is freed;
/// `index_reason` is NULL with length 0 unless the index was rebuilt.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_recovery_summary {
    /// How many actions recovery took (0: the log was clean).
    pub action_count: usize,
    /// Segments whose records the open checked.
    pub segments_scanned: usize,
    /// `ANNAL_IO_PATH_*`: the durable write path the open chose (`PWRITE` for a
    /// read-only open, which never writes).
    pub io_path: u32,
    /// `ANNAL_INDEX_RECOVERY_*` (stores; `NONE` for a raw log).
    pub index_recovery: u32,
    /// With `ANNAL_INDEX_RECOVERY_LOADED`: where the replay of the log started.
    pub index_replayed_from: u64,
    /// With `ANNAL_INDEX_RECOVERY_REBUILT`: why the checkpoint was not used (UTF-8).
    pub index_reason: *const u8,
    /// Length of `index_reason`.
    pub index_reason_len: usize,
}

/// One thing recovery changed on disk. Pointers are valid until the report is freed;
/// `quarantine` is NULL with length 0 when a cut kept no copy (nothing was cut but
/// zeros), `detail` NULL with length 0 when the reason carries none.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_recovery_action {
    /// `ANNAL_RECOVERY_ACTION_*`.
    pub kind: u32,
    /// `ANNAL_CUT_REASON_*`.
    pub reason: u32,
    /// The segment file, as it was named in the log (a path, not NUL-terminated).
    pub segment: *const u8,
    /// Length of `segment`.
    pub segment_len: usize,
    /// `CUT`: where the log now ends in the segment.
    pub offset: u64,
    /// `CUT`: non-zero bytes cut from `offset` on.
    pub bytes_cut: u64,
    /// `CUT`: records with valid checksums among the cut bytes.
    pub records_cut: u64,
    /// Where the copy of the cut bytes, or the removed segment, is now.
    pub quarantine: *const u8,
    /// Length of `quarantine`.
    pub quarantine_len: usize,
    /// What the scan found (torn tail, damage), in words.
    pub detail: *const u8,
    /// Length of `detail`.
    pub detail_len: usize,
}

/// What a report handle holds.
struct Report {
    recovery: RecoveryReport,
    index: Option<IndexRecovery>,
}

static REPORTS: LazyLock<Table<Report>> =
    LazyLock::new(|| Table::new(Kind::RecoveryReport, "annal_recovery_report"));

/// A pointer and length for `bytes`: NULL and 0 when empty.
fn slice(bytes: &[u8]) -> (*const u8, usize) {
    if bytes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (bytes.as_ptr(), bytes.len())
    }
}

fn path_bytes(path: &Path) -> (*const u8, usize) {
    slice(path.as_os_str().as_bytes())
}

/// Writes the recovery report of `log`'s open to `*report_out`.
///
/// # Safety
/// `report_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_recovery_report(
    log: *const annal_log,
    report_out: *mut *mut annal_recovery_report,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(report_out, "report_out") }?;
        let recovery = log::get(log)?.with(|log| Ok(log.recovery_report()))?;
        let report = Report {
            recovery,
            index: None,
        };
        out.write(handle_of(REPORTS.insert(report)?));
        Ok(())
    })
}

/// Writes the recovery report of `store`'s open (its log's recovery and its index
/// checkpoint's) to `*report_out`.
///
/// # Safety
/// `report_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_recovery_report(
    store: *const annal_store,
    report_out: *mut *mut annal_recovery_report,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(report_out, "report_out") }?;
        let report = store::get(store)?.with(|s| {
            Ok(Report {
                recovery: s.recovery_report(),
                index: Some(s.index_recovery()),
            })
        })?;
        out.write(handle_of(REPORTS.insert(report)?));
        Ok(())
    })
}

/// Writes the report's summary to `*summary`.
///
/// # Safety
/// `summary` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_recovery_report_summary(
    report: *const annal_recovery_report,
    summary: *mut annal_recovery_summary,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(summary, "summary") }?;
        let report = REPORTS.get(id_of(report))?;
        let (index_recovery, index_replayed_from, (index_reason, index_reason_len)) =
            match &report.index {
                None => (ANNAL_INDEX_RECOVERY_NONE, 0, slice(&[])),
                Some(IndexRecovery::Loaded { replayed_from }) => {
                    (ANNAL_INDEX_RECOVERY_LOADED, replayed_from.0, slice(&[]))
                }
                Some(IndexRecovery::Rebuilt { reason }) => {
                    (ANNAL_INDEX_RECOVERY_REBUILT, 0, slice(reason.as_bytes()))
                }
            };
        out.write(annal_recovery_summary {
            action_count: report.recovery.actions.len(),
            segments_scanned: report.recovery.segments_scanned,
            io_path: io_path_value(report.recovery.io_path),
            index_recovery,
            index_replayed_from,
            index_reason,
            index_reason_len,
        });
        Ok(())
    })
}

/// The C view of a cut reason: its constant and its detail.
fn reason(reason: &CutReason) -> (u32, (*const u8, usize)) {
    match reason {
        CutReason::TornTail { detail } => (ANNAL_CUT_REASON_TORN_TAIL, slice(detail.as_bytes())),
        CutReason::Damage { detail } => (ANNAL_CUT_REASON_DAMAGE, slice(detail.as_bytes())),
        CutReason::AfterCut => (ANNAL_CUT_REASON_AFTER_CUT, slice(&[])),
        _ => (ANNAL_CUT_REASON_OTHER, slice(&[])),
    }
}

/// The C view of one action.
fn action(action: &RecoveryAction) -> annal_recovery_action {
    let empty = annal_recovery_action {
        kind: ANNAL_RECOVERY_ACTION_OTHER,
        reason: ANNAL_CUT_REASON_OTHER,
        segment: std::ptr::null(),
        segment_len: 0,
        offset: 0,
        bytes_cut: 0,
        records_cut: 0,
        quarantine: std::ptr::null(),
        quarantine_len: 0,
        detail: std::ptr::null(),
        detail_len: 0,
    };
    match action {
        RecoveryAction::Cut {
            segment,
            offset,
            bytes_cut,
            records_cut,
            reason: why,
            quarantine,
        } => {
            let (reason, (detail, detail_len)) = reason(why);
            let (segment, segment_len) = path_bytes(segment);
            let (quarantine, quarantine_len) = quarantine
                .as_deref()
                .map_or((std::ptr::null(), 0), path_bytes);
            annal_recovery_action {
                kind: ANNAL_RECOVERY_ACTION_CUT,
                reason,
                segment,
                segment_len,
                offset: *offset,
                bytes_cut: *bytes_cut,
                records_cut: *records_cut,
                quarantine,
                quarantine_len,
                detail,
                detail_len,
            }
        }
        RecoveryAction::Removed {
            segment,
            reason: why,
            quarantine,
        } => {
            let (reason, (detail, detail_len)) = reason(why);
            let (segment, segment_len) = path_bytes(segment);
            let (quarantine, quarantine_len) = path_bytes(quarantine);
            annal_recovery_action {
                kind: ANNAL_RECOVERY_ACTION_REMOVED,
                reason,
                segment,
                segment_len,
                quarantine,
                quarantine_len,
                detail,
                detail_len,
                ..empty
            }
        }
        _ => empty,
    }
}

/// Writes the report's action at `index` (in position order) to `*action`; its
/// pointers are valid until the report is freed. An index past the end is
/// `ANNAL_STATUS_INVALID_LENGTH`.
///
/// # Safety
/// `action` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_recovery_report_action(
    report: *const annal_recovery_report,
    index: usize,
    action: *mut annal_recovery_action,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(action, "action") }?;
        let report = REPORTS.get(id_of(report))?;
        let actions = &report.recovery.actions;
        let found = actions.get(index).ok_or_else(|| {
            Failure::boundary(
                ANNAL_STATUS_INVALID_LENGTH,
                format!(
                    "index {index} is past the report's {} actions",
                    actions.len()
                ),
            )
        })?;
        out.write(self::action(found));
        Ok(())
    })
}

/// Frees the report and the paths and texts it handed out. NULL is a no-op; a second
/// free returns `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_recovery_report_free(report: *mut annal_recovery_report) -> annal_status {
    guard(|| {
        if !report.is_null() {
            REPORTS.remove(id_of(report))?;
        }
        Ok(())
    })
}

/// Writes the durable write path `log` uses (`ANNAL_IO_PATH_IO_URING` or
/// `ANNAL_IO_PATH_PWRITE`: what `ANNAL_IO_PATH_AUTO` resolved to) to `*io_path`.
///
/// # Safety
/// `io_path` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_io_path(
    log: *const annal_log,
    io_path: *mut u32,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(io_path, "io_path") }?;
        out.write(io_path_value(log::get(log)?.with(|log| Ok(log.io_path()))?));
        Ok(())
    })
}

/// Writes the durable write path `store` uses (`ANNAL_IO_PATH_IO_URING` or
/// `ANNAL_IO_PATH_PWRITE`) to `*io_path`.
///
/// # Safety
/// `io_path` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_io_path(
    store: *const annal_store,
    io_path: *mut u32,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(io_path, "io_path") }?;
        out.write(io_path_value(store::get(store)?.with(|s| Ok(s.io_path()))?));
        Ok(())
    })
}
