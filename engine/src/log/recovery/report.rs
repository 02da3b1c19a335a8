//! What recovery did, for the caller and the operator: every segment it cut or removed
//! and every stray byte it zeroed, with the reason; and the quarantine that keeps a copy
//! of whatever it takes out of the log, so nothing is removed without a trace.
//!
//! Quarantined bytes go to `quarantine/` in the log directory (recovery never looks
//! there): a removed segment is renamed into it whole; the cut-off end of a segment is
//! copied there (`<segment file>.<offset>.cut`) before it is zeroed. Each action is also
//! logged through the `log` facade (a warning), so an operator sees it without code.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::Storage;
use crate::options::IoPath;

/// The subdirectory of the log directory holding what recovery took out of the log.
pub const QUARANTINE_DIR: &str = "quarantine";

/// Why recovery cut or removed something.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CutReason {
    /// The last, incomplete write of a crash (a torn tail): never acknowledged as
    /// durable, so nothing durable is lost.
    TornTail {
        /// What the scan found there (a checksum mismatch, a record out of sequence, …).
        detail: String,
    },
    /// Damage that no crash explains, cut because the log was opened with
    /// `RecoveryMode::TruncateAtDamage`: durable records may be among what was cut.
    Damage {
        /// What the scan found there.
        detail: String,
    },
    /// A segment after the cut: it follows the damage, so it cannot be kept.
    AfterCut,
}

impl fmt::Display for CutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CutReason::TornTail { detail } => write!(f, "torn tail ({detail})"),
            CutReason::Damage { detail } => write!(f, "damage, cut by TruncateAtDamage ({detail})"),
            CutReason::AfterCut => f.write_str("it follows a cut"),
        }
    }
}

/// One thing recovery changed on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryAction {
    /// The segment was cut at `offset`: its `bytes_cut` bytes from there on (up to the
    /// last non-zero byte), holding `records_cut` records whose checksums still pass, are
    /// no longer part of the log.
    Cut {
        /// The segment file.
        segment: PathBuf,
        /// Where the log now ends in it.
        offset: u64,
        /// Non-zero bytes from `offset` to the last non-zero byte of the segment.
        bytes_cut: u64,
        /// Records with valid checksums found in the cut bytes (at record alignment).
        records_cut: u64,
        /// Why.
        reason: CutReason,
        /// The copy of the cut bytes, if there were any.
        quarantine: Option<PathBuf>,
    },
    /// The whole segment was taken out of the log.
    Removed {
        /// The segment file, as it was named in the log.
        segment: PathBuf,
        /// Why.
        reason: CutReason,
        /// Where the file is now.
        quarantine: PathBuf,
    },
}

impl fmt::Display for RecoveryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryAction::Cut {
                segment,
                offset,
                bytes_cut,
                records_cut,
                reason,
                quarantine,
            } => {
                write!(
                    f,
                    "cut {} at offset {offset}: {bytes_cut} bytes, {records_cut} valid records; {reason}",
                    segment.display()
                )?;
                match quarantine {
                    Some(copy) => write!(f, "; copy kept in {}", copy.display()),
                    None => Ok(()),
                }
            }
            RecoveryAction::Removed {
                segment,
                reason,
                quarantine,
            } => write!(
                f,
                "removed segment {} ({reason}); kept as {}",
                segment.display(),
                quarantine.display()
            ),
        }
    }
}

/// What recovery did when the log opened: nothing, after a clean close.
///
/// ```
/// use annal::{Durability, Log, Options};
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// log.append(b"x", Durability::Synced)?;
/// log.close()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// let report = log.recovery_report();
/// assert!(report.is_clean(), "{report:?}"); // each action would be listed, and logged
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// What it changed, in position order.
    pub actions: Vec<RecoveryAction>,
    /// Segments whose records it checked (the others are checked by their first reader,
    /// under `OpenChecks::LastSegment`).
    pub segments_scanned: usize,
    /// The path the log's durable writes take from this open on: what `IoPath::Auto`
    /// resolved to (`Pwrite` for a follower, which never writes).
    pub io_path: IoPath,
}

impl RecoveryReport {
    /// Whether recovery changed nothing.
    pub fn is_clean(&self) -> bool {
        self.actions.is_empty()
    }

    pub(crate) fn record(&mut self, action: RecoveryAction) {
        if super::dry_run::in_dry_run() {
            ::log::info!("annal recovery (dry run, nothing changed) would: {action}");
        } else {
            ::log::warn!("annal recovery: {action}");
        }
        self.actions.push(action);
    }
}

/// The quarantine directory of the log in `dir`, created (and made durable) on first use.
pub(crate) fn quarantine_dir(storage: &dyn Storage, dir: &Path) -> Result<PathBuf> {
    let quarantine = dir.join(QUARANTINE_DIR);
    storage
        .create_dir_all(&quarantine)
        .map_err(|e| Error::io("create quarantine directory", Some(quarantine.clone()), e))?;
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
    Ok(quarantine)
}

/// Moves a segment file into the quarantine, under a name no other file there has.
pub(crate) fn quarantine_segment(
    storage: &dyn Storage,
    dir: &Path,
    segment: &Path,
) -> Result<PathBuf> {
    let quarantine = quarantine_dir(storage, dir)?;
    let name = segment
        .file_name()
        .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
    let target = unused_name(storage, &quarantine, &name)?;
    storage
        .rename(segment, &target)
        .map_err(|e| Error::io("move segment to quarantine", Some(target.clone()), e))?;
    storage
        .sync_dir(&quarantine)
        .map_err(|e| Error::io("fsync directory", Some(quarantine.clone()), e))?;
    Ok(target)
}

/// Writes `bytes` (the end of `segment` cut at `offset`) into the quarantine, synced.
pub(crate) fn quarantine_cut(
    storage: &dyn Storage,
    dir: &Path,
    segment: &Path,
    offset: u64,
    bytes: &[u8],
) -> Result<PathBuf> {
    let quarantine = quarantine_dir(storage, dir)?;
    let name = segment
        .file_name()
        .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
    let target = unused_name(storage, &quarantine, &format!("{name}.{offset}.cut"))?;
    let file = storage
        .create_file(&target, bytes.len() as u64)
        .map_err(|e| Error::io("create quarantine file", Some(target.clone()), e))?;
    file.write_at(0, bytes)
        .map_err(|e| Error::io("write quarantine file", Some(target.clone()), e))?;
    file.sync_data()
        .map_err(|e| Error::io("fdatasync quarantine file", Some(target.clone()), e))?;
    storage
        .sync_dir(&quarantine)
        .map_err(|e| Error::io("fsync directory", Some(quarantine.clone()), e))?;
    Ok(target)
}

/// `name` in `dir`, or `name.1`, `name.2`, … if taken (an earlier recovery kept one).
fn unused_name(storage: &dyn Storage, dir: &Path, name: &str) -> Result<PathBuf> {
    let taken = storage
        .list_dir(dir)
        .map_err(|e| Error::io("list quarantine directory", Some(dir.to_path_buf()), e))?;
    let mut candidate = name.to_owned();
    let mut n = 0;
    while taken.contains(&candidate) {
        n += 1;
        candidate = format!("{name}.{n}");
    }
    Ok(dir.join(candidate))
}
