//! `annal.Log`: the raw append log (appends, batches, flush and sync, reads, positions,
//! subscriptions, retention) and the durable consumers it holds.

use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};

use crate::args::{self, Durability, Visibility};
use crate::buffer::{bytes_like, payload};
use crate::consumer::{Consumer, ConsumerInfo};
use crate::errors::IntoPy;
use crate::handle::Handle;
use crate::options::{IoPath, OpenOptions};
use crate::recovery::RecoveryReport;
use crate::stats::Metrics;
use crate::subscription::{LogSubscription, Shared};

/// A log event: its global position and payload (a `Payload` sharing the log's memory).
#[pyclass(frozen, module = "annal")]
pub struct LogEvent {
    position: u64,
    bytes: Bytes,
    payload: PyOnceLock<Py<PyAny>>,
}

impl LogEvent {
    pub(crate) fn new(event: annal::Event) -> LogEvent {
        LogEvent {
            position: event.position.0,
            bytes: event.payload,
            payload: PyOnceLock::new(),
        }
    }
}

#[pymethods]
impl LogEvent {
    /// The global position.
    #[getter]
    fn position(&self) -> u64 {
        self.position
    }

    /// The payload, without a copy.
    #[getter]
    fn payload(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        // Not `get_or_try_init`, which detaches from the interpreter around its lock: the
        // object is made first and offered to the cell; a caller that lost the race
        // takes the winner's, so the payload is the same object each time.
        if let Some(made) = self.payload.get(py) {
            return Ok(made.clone_ref(py));
        }
        let made = payload(py, self.bytes.clone())?.unbind();
        let _ = self.payload.set(py, made);
        let made = self.payload.get(py).expect("the cell was set just now");
        Ok(made.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "LogEvent(position={}, {} bytes)",
            self.position,
            self.bytes.len()
        )
    }
}

/// The positions an append took: `first` to `last`, inclusive.
#[pyclass(frozen, eq, module = "annal", get_all)]
#[derive(Clone, PartialEq, Eq)]
pub struct Appended {
    /// Position of the first event.
    first: u64,
    /// Position of the last event.
    last: u64,
}

impl From<annal::Appended> for Appended {
    fn from(a: annal::Appended) -> Appended {
        Appended {
            first: a.first.0,
            last: a.last.0,
        }
    }
}

#[pymethods]
impl Appended {
    fn __repr__(&self) -> String {
        format!("Appended(first={}, last={})", self.first, self.last)
    }
}

/// The events of a Python sequence of bytes-like objects: `bytes` are borrowed (they are
/// immutable and `objects` keeps them alive), anything else is copied.
pub(crate) struct Batch<'py> {
    objects: Vec<Bound<'py, PyAny>>,
    copies: Vec<Option<Bytes>>,
}

impl<'py> Batch<'py> {
    pub(crate) fn new(events: &Bound<'py, PyAny>) -> PyResult<Batch<'py>> {
        let objects = events
            .try_iter()?
            .collect::<PyResult<Vec<Bound<'py, PyAny>>>>()?;
        let copies = objects
            .iter()
            .map(|o| {
                if o.is_instance_of::<PyBytes>() {
                    Ok(None)
                } else {
                    bytes_like(o).map(Some)
                }
            })
            .collect::<PyResult<_>>()?;
        Ok(Batch { objects, copies })
    }

    /// Each event's bytes, to hand to the engine with the GIL released.
    pub(crate) fn slices(&self) -> Vec<&[u8]> {
        self.objects
            .iter()
            .zip(&self.copies)
            .map(|(object, copy)| match copy {
                Some(bytes) => &bytes[..],
                None => object
                    .cast::<PyBytes>()
                    .map_or(&[][..], |bytes| bytes.as_bytes()),
            })
            .collect()
    }
}

/// A reader over the log from a position: an iterator of `LogEvent`s up to the end
/// written when each page is read.
#[pyclass(module = "annal")]
pub struct LogReader {
    reader: Mutex<annal::LogReader>,
    page: std::collections::VecDeque<annal::Event>,
}

/// Events a reader decodes per call with the GIL released.
const READ_PAGE_EVENTS: usize = 256;

#[pymethods]
impl LogReader {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, LogEvent>>> {
        if self.page.is_empty() {
            let reader = &self.reader;
            let mut out = Vec::with_capacity(READ_PAGE_EVENTS);
            py.detach(|| {
                reader
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_batch(READ_PAGE_EVENTS, &mut out)
            })
            .py_err()?;
            self.page.extend(out);
        }
        self.page
            .pop_front()
            .map(|event| crate::gc::new_untracked(py, LogEvent::new(event)))
            .transpose()
    }
}

/// The raw append log: a directory of checksummed segments with group commit. Open it
/// with `Log.open(path)`; use it as a context manager, or call `close()`. Share one
/// `Log` between threads: appends release the GIL and share fdatasyncs.
#[pyclass(frozen, module = "annal")]
pub struct Log {
    pub(crate) handle: Handle<annal::Log>,
    path: PathBuf,
}

impl Log {
    pub(crate) fn engine(&self) -> PyResult<std::sync::Arc<annal::Log>> {
        self.handle.get()
    }
}

#[pymethods]
impl Log {
    /// Opens (creating if needed) the log in the directory `path`. With `read_only=True`
    /// it opens it as a follower of another process's writer (no lock, nothing written,
    /// following what the writer adds; changes raise `ReadOnly`).
    #[staticmethod]
    #[pyo3(signature = (path, *, segment_bytes = None, verify_reads = None, recovery = None, read_only = false, io_path = IoPath::Auto))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        segment_bytes: Option<u64>,
        verify_reads: Option<bool>,
        recovery: Option<String>,
        read_only: bool,
        io_path: IoPath,
    ) -> PyResult<Log> {
        let options = OpenOptions {
            segment_bytes,
            verify_reads,
            recovery,
            index_checkpoint_events: None,
            io_path,
        }
        .build()?;
        let log = py
            .detach(|| {
                if read_only {
                    annal::Log::open_read_only(&path, options)
                } else {
                    annal::Log::open(&path, options)
                }
            })
            .py_err()?;
        Ok(Log {
            handle: Handle::new(log),
            path,
        })
    }

    /// Appends one event; returns its positions once it is as durable as asked.
    #[pyo3(signature = (data, durability = Durability::Synced))]
    fn append(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        durability: Durability,
    ) -> PyResult<Appended> {
        let log = self.engine()?;
        let batch = Batch::new(PyList::new(py, [data])?.as_any())?;
        let slices = batch.slices();
        let appended = py
            .detach(|| log.append(slices[0], durability.into()))
            .py_err()?;
        Ok(appended.into())
    }

    /// Appends a batch of events as one record: all or nothing across a crash.
    #[pyo3(signature = (events, durability = Durability::Synced))]
    fn append_batch(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
        durability: Durability,
    ) -> PyResult<Appended> {
        let log = self.engine()?;
        let batch = Batch::new(events)?;
        let slices = batch.slices();
        let appended = py
            .detach(|| log.append_batch(&slices, durability.into()))
            .py_err()?;
        Ok(appended.into())
    }

    /// Writes buffered appends to the file (survives a process crash).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.engine()?;
        py.detach(|| log.flush()).py_err()
    }

    /// Makes every append so far durable (fdatasync, shared with concurrent appends).
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.engine()?;
        py.detach(|| log.sync()).py_err()
    }

    /// Syncs and closes the log, reporting errors; later calls raise `annal.Closed`.
    /// Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        match py.detach(|| self.handle.take()) {
            Some(log) => py.detach(|| log.close()).py_err(),
            None => Ok(()),
        }
    }

    /// The event at `position`.
    fn read(&self, py: Python<'_>, position: &Bound<'_, PyAny>) -> PyResult<LogEvent> {
        let position = annal::Position(args::position(position)?);
        let log = self.engine()?;
        let event = py.detach(|| log.read(position)).py_err()?;
        Ok(LogEvent::new(event))
    }

    /// An iterator over the events from `position` to the end written.
    #[pyo3(signature = (position = None))]
    fn read_from(
        &self,
        py: Python<'_>,
        position: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<LogReader> {
        let position = annal::Position(position.map(args::position).transpose()?.unwrap_or(0));
        let log = self.engine()?;
        let reader = py.detach(|| log.read_from(position)).py_err()?;
        Ok(LogReader {
            reader: Mutex::new(reader),
            page: Default::default(),
        })
    }

    /// A subscription from `start` (`BEGINNING`, `END` or a position): catch-up, then
    /// live. `visibility=WRITTEN` also delivers events not yet synced.
    #[pyo3(signature = (start = None, *, visibility = Visibility::Synced))]
    fn subscribe(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        visibility: Visibility,
    ) -> PyResult<LogSubscription> {
        let start = start.map(args::start).transpose()?;
        let log = self.engine()?;
        let options = annal::SubscriptionOptions::default().visibility(visibility.into());
        let subscription = py
            .detach(|| log.subscribe_with(start.unwrap_or(annal::Start::Beginning), options))
            .py_err()?;
        Ok(LogSubscription(Shared::new(subscription)))
    }

    /// Removes whole segments below `position` (never past what consumers still need to
    /// replay); returns the log's first position afterwards.
    fn truncate_before(&self, py: Python<'_>, position: &Bound<'_, PyAny>) -> PyResult<u64> {
        let position = annal::Position(args::position(position)?);
        let log = self.engine()?;
        Ok(py.detach(|| log.truncate_before(position)).py_err()?.0)
    }

    /// The first position the log still holds.
    #[getter]
    fn first_position(&self) -> PyResult<u64> {
        Ok(self.engine()?.first_position().0)
    }

    /// The position the next append will get.
    #[getter]
    fn next_position(&self) -> PyResult<u64> {
        Ok(self.engine()?.next_position().0)
    }

    /// The last position written (published to readers), or `None`.
    #[getter]
    fn last_written(&self) -> PyResult<Option<u64>> {
        Ok(self.engine()?.last_written().map(|p| p.0))
    }

    /// The last position synced (durable), or `None`.
    #[getter]
    fn last_synced(&self) -> PyResult<Option<u64>> {
        Ok(self.engine()?.last_synced().map(|p| p.0))
    }

    /// Whether a failed write or fsync poisoned the log (reopen it to recover).
    #[getter]
    fn poisoned(&self) -> PyResult<bool> {
        Ok(self.engine()?.is_poisoned())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// The log's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Creates the durable consumer `name` with its checkpoint at `start`.
    #[pyo3(signature = (name, start = None))]
    fn create_consumer(
        &self,
        py: Python<'_>,
        name: String,
        start: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Consumer> {
        let start = start.map(args::start).transpose()?;
        let log = self.engine()?;
        let consumer = py
            .detach(|| log.create_consumer(&name, start.unwrap_or(annal::Start::Beginning)))
            .py_err()?;
        Ok(Consumer::new(consumer))
    }

    /// A handle to the existing consumer `name` (`annal.UnknownConsumer` if none).
    fn consumer(&self, py: Python<'_>, name: String) -> PyResult<Consumer> {
        let log = self.engine()?;
        let consumer = py.detach(|| log.consumer(&name)).py_err()?;
        Ok(Consumer::new(consumer))
    }

    /// Every consumer and its checkpoint, in name order.
    fn consumers(&self, py: Python<'_>) -> PyResult<Vec<ConsumerInfo>> {
        let log = self.engine()?;
        let consumers = py.detach(|| log.consumers());
        Ok(consumers.into_iter().map(ConsumerInfo::from).collect())
    }

    /// Deletes the consumer `name`.
    fn delete_consumer(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let log = self.engine()?;
        py.detach(|| log.delete_consumer(&name)).py_err()
    }

    /// The durable write path this log uses (what `IoPath.AUTO` resolved to).
    #[getter]
    fn io_path(&self) -> PyResult<IoPath> {
        Ok(self.engine()?.io_path().into())
    }

    /// The engine's counters since the log opened.
    fn metrics(&self) -> PyResult<Metrics> {
        Ok(self.engine()?.metrics().into())
    }

    /// What recovery did when the log opened (nothing after a clean close).
    fn recovery_report(&self, py: Python<'_>) -> PyResult<RecoveryReport> {
        RecoveryReport::new(py, self.engine()?.recovery_report(), None)
    }

    /// A follower (`read_only=True`) reads what its writer added since it last looked.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.engine()?;
        py.detach(|| log.refresh()).py_err()
    }

    /// Writes back to their files the checkpoints committed with appends.
    fn flush_consumers(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.engine()?;
        py.detach(|| log.flush_consumers()).py_err()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.handle.is_closed() {
            " closed"
        } else {
            ""
        };
        format!("<annal.Log {:?}{state}>", self.path)
    }
}
