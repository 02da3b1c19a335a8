//! `open(path, **options)` keyword arguments into the engine's `Options`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Options for opening a log or store; `None` keeps the engine's default.
pub(crate) struct OpenOptions {
    pub(crate) segment_bytes: Option<u64>,
    pub(crate) verify_reads: Option<bool>,
    pub(crate) recovery: Option<String>,
    pub(crate) index_checkpoint_events: Option<u64>,
}

impl OpenOptions {
    /// The engine options, or `ValueError` for an unknown recovery mode.
    pub(crate) fn build(self) -> PyResult<annal::Options> {
        let mut options = annal::Options::default();
        if let Some(bytes) = self.segment_bytes {
            options = options.segment_bytes(bytes);
        }
        if let Some(verify) = self.verify_reads {
            options = options.verify_reads(verify);
        }
        if let Some(events) = self.index_checkpoint_events {
            options = options.index_checkpoint_events(events);
        }
        match self.recovery.as_deref() {
            None | Some("strict") => {}
            Some("truncate_at_damage") => {
                options = options.recovery(annal::RecoveryMode::TruncateAtDamage);
            }
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "recovery must be \"strict\" or \"truncate_at_damage\", not {other:?}"
                )))
            }
        }
        Ok(options)
    }
}
