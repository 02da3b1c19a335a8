//! The event store's values as Python classes: `NewEvent` (what an append proposes),
//! `WriteResult` and `StreamInfo` (`RecordedEvent`, what a read returns, is in
//! `recorded.rs`).

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::args::{event_id, event_type as event_type_arg, text};
use crate::buffer::{bytes_like, payload};
use crate::gc::new_untracked;

/// An event to append: its type, data, optional 16-byte id (bytes or `uuid.UUID`; a
/// retry with the same ids writes nothing) and optional metadata.
#[pyclass(frozen, module = "annal")]
pub struct NewEvent(pub(crate) annal::NewEvent);

#[pymethods]
impl NewEvent {
    #[new]
    #[pyo3(signature = (event_type, data = None, *, id = None, metadata = None))]
    fn new<'py>(
        event_type: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
        id: Option<&Bound<'py, PyAny>>,
        metadata: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, NewEvent>> {
        let event = NewEvent(annal::NewEvent {
            id: id.map(event_id).transpose()?,
            event_type: event_type_arg(event_type)?,
            data: data.map(bytes_like).transpose()?.unwrap_or_default(),
            metadata: metadata.map(bytes_like).transpose()?.unwrap_or_default(),
        });
        new_untracked(event_type.py(), event)
    }

    /// The event type.
    #[getter]
    fn event_type(&self) -> String {
        text(&self.0.event_type)
    }

    /// The data.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        payload(py, self.0.data.clone())
    }

    /// The metadata (empty when none was given).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        payload(py, self.0.metadata.clone())
    }

    /// The id, or `None`.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.id.map(|id| PyBytes::new(py, &id))
    }

    fn __repr__(&self) -> String {
        format!(
            "NewEvent({:?}, {} bytes)",
            text(&self.0.event_type),
            self.0.data.len()
        )
    }
}

/// One event of an append: a `NewEvent`, or an `(event_type, data)` tuple (the same
/// event without id or metadata, for bulk appends: no object to build per event).
pub(crate) fn new_event(item: &Bound<'_, PyAny>) -> PyResult<annal::NewEvent> {
    if let Ok(event) = item.cast::<NewEvent>() {
        return Ok(event.get().0.clone());
    }
    match item.cast::<PyTuple>() {
        Ok(pair) if pair.len() == 2 => Ok(annal::NewEvent {
            id: None,
            event_type: event_type_arg(&pair.get_item(0)?)?,
            data: bytes_like(&pair.get_item(1)?)?,
            metadata: Bytes::new(),
        }),
        _ => Err(PyTypeError::new_err(format!(
            "each event must be an annal.NewEvent or an (event_type, data) tuple, not {}",
            item.get_type().name()?
        ))),
    }
}

/// Where one stream's part of an append landed: first and last revision and position.
#[pyclass(frozen, eq, module = "annal", get_all)]
#[derive(Clone, PartialEq, Eq)]
pub struct WriteResult {
    /// Revision of the first event appended to the stream.
    first_revision: u64,
    /// Revision of the last event appended (the stream's revision now).
    last_revision: u64,
    /// Position of the first event.
    first_position: u64,
    /// Position of the last event.
    last_position: u64,
}

impl From<annal::WriteResult> for WriteResult {
    fn from(r: annal::WriteResult) -> WriteResult {
        WriteResult {
            first_revision: r.first_revision.0,
            last_revision: r.last_revision.0,
            first_position: r.first_position.0,
            last_position: r.last_position.0,
        }
    }
}

#[pymethods]
impl WriteResult {
    fn __repr__(&self) -> String {
        format!(
            "WriteResult(first_revision={}, last_revision={}, first_position={}, last_position={})",
            self.first_revision, self.last_revision, self.first_position, self.last_position
        )
    }
}

/// What the store knows about a stream: its last revision (`None`: no events), the
/// revision reads start at (after a truncation), and whether it is deleted.
#[pyclass(frozen, module = "annal", get_all)]
#[derive(Clone)]
pub struct StreamInfo {
    /// The last revision written, or `None`.
    revision: Option<u64>,
    /// Reads start at this revision.
    truncate_before: u64,
    /// Hard-deleted.
    deleted: bool,
}

impl From<annal::StreamInfo> for StreamInfo {
    fn from(i: annal::StreamInfo) -> StreamInfo {
        StreamInfo {
            revision: i.revision.map(|r| r.0),
            truncate_before: i.truncate_before.0,
            deleted: i.deleted,
        }
    }
}

#[pymethods]
impl StreamInfo {
    fn __repr__(&self) -> String {
        format!(
            "StreamInfo(revision={:?}, truncate_before={}, deleted={})",
            self.revision, self.truncate_before, self.deleted
        )
    }
}
