//! `annal.RecoveryReport`, `annal.RecoveryAction` and `annal.IndexRecovery`: what
//! opening a log or store found and changed, as plain read-only values.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::options::IoPath;

/// One thing recovery changed on disk: `kind` is `"cut"` (the end of `segment` from
/// `offset` on) or `"removed"` (the whole segment); `reason` is `"torn_tail"` (a crash's
/// last, incomplete write: nothing durable lost), `"damage"` (cut because the log was
/// opened with `recovery="truncate_at_damage"`) or `"after_cut"`. `quarantine` is where
/// the cut bytes or the removed segment are kept (`None` if a cut kept no copy).
#[pyclass(frozen, module = "annal", get_all)]
pub struct RecoveryAction {
    /// `"cut"` or `"removed"` (`"other"` for an action this build cannot describe).
    kind: &'static str,
    /// `"torn_tail"`, `"damage"`, `"after_cut"` (or `"other"`).
    reason: &'static str,
    /// What the scan found, in words (`None` when the reason carries none).
    detail: Option<String>,
    /// The segment file, as it was named in the log.
    segment: Option<PathBuf>,
    /// A cut: where the log now ends in the segment (`None` for a removal).
    offset: Option<u64>,
    /// A cut: non-zero bytes cut from `offset` on.
    bytes_cut: Option<u64>,
    /// A cut: records with valid checksums among the cut bytes.
    records_cut: Option<u64>,
    /// Where the cut bytes or the removed segment are kept.
    quarantine: Option<PathBuf>,
    /// The engine's sentence for it.
    text: String,
}

fn reason(reason: &annal::CutReason) -> (&'static str, Option<String>) {
    match reason {
        annal::CutReason::TornTail { detail } => ("torn_tail", Some(detail.clone())),
        annal::CutReason::Damage { detail } => ("damage", Some(detail.clone())),
        annal::CutReason::AfterCut => ("after_cut", None),
        _ => ("other", None),
    }
}

impl From<&annal::RecoveryAction> for RecoveryAction {
    fn from(action: &annal::RecoveryAction) -> RecoveryAction {
        let mut out = RecoveryAction {
            kind: "other",
            reason: "other",
            detail: None,
            segment: None,
            offset: None,
            bytes_cut: None,
            records_cut: None,
            quarantine: None,
            text: action.to_string(),
        };
        match action {
            annal::RecoveryAction::Cut {
                segment,
                offset,
                bytes_cut,
                records_cut,
                reason: why,
                quarantine,
            } => {
                (out.reason, out.detail) = reason(why);
                out.kind = "cut";
                out.segment = Some(segment.clone());
                out.offset = Some(*offset);
                out.bytes_cut = Some(*bytes_cut);
                out.records_cut = Some(*records_cut);
                out.quarantine = quarantine.clone();
            }
            annal::RecoveryAction::Removed {
                segment,
                reason: why,
                quarantine,
            } => {
                (out.reason, out.detail) = reason(why);
                out.kind = "removed";
                out.segment = Some(segment.clone());
                out.quarantine = Some(quarantine.clone());
            }
            _ => {}
        }
        out
    }
}

#[pymethods]
impl RecoveryAction {
    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!("<annal.RecoveryAction {}>", self.text)
    }
}

/// What a store found in its index checkpoint at open: `loaded` (the log was replayed
/// from `replayed_from`) or rebuilt from the whole log (`reason` says why).
#[pyclass(frozen, module = "annal", get_all)]
pub struct IndexRecovery {
    /// Whether the checkpoint was loaded.
    loaded: bool,
    /// Where the replay started, when loaded.
    replayed_from: Option<u64>,
    /// Why the checkpoint was not used, when rebuilt.
    reason: Option<String>,
}

impl From<annal::IndexRecovery> for IndexRecovery {
    fn from(recovery: annal::IndexRecovery) -> IndexRecovery {
        match recovery {
            annal::IndexRecovery::Loaded { replayed_from } => IndexRecovery {
                loaded: true,
                replayed_from: Some(replayed_from.0),
                reason: None,
            },
            annal::IndexRecovery::Rebuilt { reason } => IndexRecovery {
                loaded: false,
                replayed_from: None,
                reason: Some(reason),
            },
        }
    }
}

#[pymethods]
impl IndexRecovery {
    fn __repr__(&self) -> String {
        match (&self.replayed_from, &self.reason) {
            (Some(from), _) => format!("<annal.IndexRecovery loaded, replayed from {from}>"),
            (None, Some(reason)) => format!("<annal.IndexRecovery rebuilt: {reason}>"),
            (None, None) => "<annal.IndexRecovery>".into(),
        }
    }
}

/// What recovery did when a log or store opened: `actions` in position order (empty
/// after a clean close, so `clean`), the segments whose records it checked, the durable
/// write path the open chose, and, for a store, `index` (its index checkpoint).
#[pyclass(frozen, module = "annal")]
pub struct RecoveryReport {
    actions: Vec<Py<RecoveryAction>>,
    segments_scanned: usize,
    io_path: IoPath,
    index: Option<Py<IndexRecovery>>,
}

impl RecoveryReport {
    pub(crate) fn new(
        py: Python<'_>,
        report: annal::RecoveryReport,
        index: Option<annal::IndexRecovery>,
    ) -> PyResult<RecoveryReport> {
        Ok(RecoveryReport {
            actions: report
                .actions
                .iter()
                .map(|a| Py::new(py, RecoveryAction::from(a)))
                .collect::<PyResult<_>>()?,
            segments_scanned: report.segments_scanned,
            io_path: report.io_path.into(),
            index: index
                .map(|i| Py::new(py, IndexRecovery::from(i)))
                .transpose()?,
        })
    }
}

#[pymethods]
impl RecoveryReport {
    /// What recovery changed, in position order.
    #[getter]
    fn actions(&self, py: Python<'_>) -> Vec<Py<RecoveryAction>> {
        self.actions.iter().map(|a| a.clone_ref(py)).collect()
    }

    /// Whether recovery changed nothing.
    #[getter]
    fn clean(&self) -> bool {
        self.actions.is_empty()
    }

    /// Segments whose records the open checked.
    #[getter]
    fn segments_scanned(&self) -> usize {
        self.segments_scanned
    }

    /// The durable write path the open chose.
    #[getter]
    fn io_path(&self) -> IoPath {
        self.io_path
    }

    /// A store's index checkpoint at open (`None` for a raw log).
    #[getter]
    fn index(&self, py: Python<'_>) -> Option<Py<IndexRecovery>> {
        self.index.as_ref().map(|i| i.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "<annal.RecoveryReport {} actions, {} segments scanned>",
            self.actions.len(),
            self.segments_scanned
        )
    }
}
