//! `open(path, **options)` keyword arguments into the engine's `Options`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// How a log's durable appends are written and synced: `AUTO` (the measured default:
/// io_uring where it works, else pwrite), `IO_URING` (opening raises
/// `IoUringUnavailable` where the kernel refuses it) or `PWRITE` (works everywhere).
#[pyclass(eq, eq_int, frozen, module = "annal", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IoPath {
    /// The measured default.
    #[pyo3(name = "AUTO")]
    Auto,
    /// io_uring: the write linked to its fdatasync, one request.
    #[pyo3(name = "IO_URING")]
    IoUring,
    /// `pwrite` then `fdatasync`.
    #[pyo3(name = "PWRITE")]
    Pwrite,
}

impl From<IoPath> for annal::IoPath {
    fn from(path: IoPath) -> annal::IoPath {
        match path {
            IoPath::Auto => annal::IoPath::Auto,
            IoPath::IoUring => annal::IoPath::IoUring,
            IoPath::Pwrite => annal::IoPath::Pwrite,
        }
    }
}

impl From<annal::IoPath> for IoPath {
    fn from(path: annal::IoPath) -> IoPath {
        match path {
            annal::IoPath::Auto => IoPath::Auto,
            annal::IoPath::IoUring => IoPath::IoUring,
            annal::IoPath::Pwrite => IoPath::Pwrite,
        }
    }
}

/// Options for opening a log or store; `None` keeps the engine's default.
pub(crate) struct OpenOptions {
    pub(crate) segment_bytes: Option<u64>,
    pub(crate) verify_reads: Option<bool>,
    pub(crate) recovery: Option<String>,
    pub(crate) index_checkpoint_events: Option<u64>,
    pub(crate) io_path: IoPath,
}

impl OpenOptions {
    /// The engine options, or `ValueError` for an unknown recovery mode.
    pub(crate) fn build(self) -> PyResult<annal::Options> {
        let mut options = annal::Options::default().io_path(self.io_path.into());
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
