//! `annal.EventStore`: streams on the log — appends with expected revisions (one stream
//! or several atomically, by name or through a `StreamHandle`), stream, category and
//! whole-log reads (forwards, backwards, as of a position or a time), deletes,
//! subscriptions.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::args::{self, Direction, Durability, Visibility};
use crate::consumer::ConsumerInfo;
use crate::errors::IntoPy;
use crate::event::{StreamInfo, WriteResult};
use crate::handle::Handle;
use crate::options::{IoPath, OpenOptions};
use crate::read::{iterator, EventIterator, Source};
use crate::recorded::RecordedEvent;
use crate::recovery::{IndexRecovery, RecoveryReport};
use crate::stats::{IndexMemory, Metrics};
use crate::store_args::{expected_or_any, store_filter, stream_appends, Events};
use crate::store_consumer::StoreConsumer;
use crate::stream_handle::{next_store_id, StreamHandle};
use crate::subscription::{Shared, Subscription};

/// An event store: streams of events on a log. Open it with `EventStore.open(path)`;
/// use it as a context manager, or call `close()`. Share one store between threads:
/// every blocking call releases the GIL, and concurrent durable appends share fdatasyncs.
#[pyclass(frozen, module = "annal")]
pub struct EventStore {
    handle: Handle<annal::EventStore>,
    path: PathBuf,
    /// This object's identity, which its stream handles carry.
    id: u64,
}

impl EventStore {
    pub(crate) fn engine(&self) -> PyResult<Arc<annal::EventStore>> {
        self.handle.get()
    }
}

#[pymethods]
impl EventStore {
    /// Opens (creating if needed) the event store in the directory `path`. With
    /// `read_only=True` it opens it as a follower of another process's writer (no lock,
    /// nothing written; every read catches up first; changes raise `ReadOnly`).
    #[staticmethod]
    #[pyo3(signature = (path, *, segment_bytes = None, verify_reads = None, recovery = None, index_checkpoint_events = None, read_only = false, io_path = IoPath::Auto))]
    #[allow(clippy::too_many_arguments, reason = "keyword arguments")]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        segment_bytes: Option<u64>,
        verify_reads: Option<bool>,
        recovery: Option<String>,
        index_checkpoint_events: Option<u64>,
        read_only: bool,
        io_path: IoPath,
    ) -> PyResult<EventStore> {
        let options = OpenOptions {
            segment_bytes,
            verify_reads,
            recovery,
            index_checkpoint_events,
            io_path,
        }
        .build()?;
        let store = py
            .detach(|| {
                if read_only {
                    annal::EventStore::open_read_only(&path, options)
                } else {
                    annal::EventStore::open(&path, options)
                }
            })
            .py_err()?;
        Ok(EventStore {
            handle: Handle::new(store),
            path,
            id: next_store_id(),
        })
    }

    /// Appends `events` (a `NewEvent`, or a list of `NewEvent`s and `(event_type, data)`
    /// tuples) to `stream` if it is at the `expected` revision (`ANY`, `NO_STREAM`,
    /// `STREAM_EXISTS` or an int). A retry with the same event ids returns the original
    /// result and writes nothing.
    #[pyo3(signature = (stream, events, *, expected = None, durability = Durability::Synced))]
    fn append(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        events: &Bound<'_, PyAny>,
        expected: Option<&Bound<'_, PyAny>>,
        durability: Durability,
    ) -> PyResult<WriteResult> {
        let stream = args::name_ref(stream)?;
        let expected = expected_or_any(expected)?;
        let events = Events::new(events)?;
        let store = self.engine()?;
        let durability = durability.into();
        // The events (which may share Python `bytes`) are passed by reference, so they
        // are dropped here, attached to the interpreter, not inside the engine.
        if let [event] = events.as_slice() {
            if event.id.is_none() {
                // The common append: the name and the event borrowed for the call (the
                // engine copies the event into its record, the name only into the
                // index of a new stream).
                let events = events.as_slice();
                return Ok(py
                    .detach(|| store.append_from_slice(&stream, expected, events, durability))
                    .py_err()?
                    .into());
            }
        }
        let appends = [annal::StreamAppend {
            stream: stream.into_bytes(),
            expected,
            events: events.into_vec(),
        }];
        let results = py
            .detach(|| store.append_multi(&appends, durability))
            .py_err()?;
        Ok(results[0].into())
    }

    /// A handle on `stream` (which need not exist yet), for `append_to`: the name is
    /// checked here (`InvalidArgument` if empty, too long or holding a NUL), once.
    fn stream_handle(&self, stream: &Bound<'_, PyAny>) -> PyResult<StreamHandle> {
        let name = args::name(stream)?;
        let handle = self.engine()?.stream_handle(name).py_err()?;
        Ok(StreamHandle::new(handle, self.id))
    }

    /// Appends `events` to the stream of `handle` (from this store's `stream_handle`)
    /// exactly as `append` with its name would: the same arguments, result, errors and
    /// retries. One event without an id skips the name's lookup in the index while the
    /// handle's remembered id still holds. A handle of another store raises
    /// `InvalidArgument`.
    #[pyo3(signature = (handle, events, *, expected = None, durability = Durability::Synced))]
    fn append_to(
        &self,
        py: Python<'_>,
        handle: &Bound<'_, StreamHandle>,
        events: &Bound<'_, PyAny>,
        expected: Option<&Bound<'_, PyAny>>,
        durability: Durability,
    ) -> PyResult<WriteResult> {
        let expected = expected_or_any(expected)?;
        let events = Events::new(events)?;
        let events = events.as_slice();
        let store = self.engine()?;
        let handle = handle.get().engine_for(self.id)?;
        Ok(py
            .detach(|| store.append_to(handle, expected, events, durability.into()))
            .py_err()?
            .into())
    }

    /// Appends to several streams atomically: `appends` is a list of
    /// `(stream, events)` or `(stream, events, expected)` tuples. All or nothing.
    #[pyo3(signature = (appends, *, durability = Durability::Synced))]
    fn append_multi(
        &self,
        py: Python<'_>,
        appends: &Bound<'_, PyAny>,
        durability: Durability,
    ) -> PyResult<Vec<WriteResult>> {
        let appends = stream_appends(appends)?;
        let store = self.engine()?;
        let results = py
            .detach(|| store.append_multi(&appends, durability.into()))
            .py_err()?;
        Ok(results.into_iter().map(WriteResult::from).collect())
    }

    /// Iterates over a stream's events from revision `start` (default: the first
    /// forwards, the last backwards), at most `max_count`. `as_of` (a position),
    /// `as_of_time` (a `datetime`; naive means local time) or `as_of_time_ns` (ns since
    /// the epoch) reads the stream as it was then.
    #[pyo3(signature = (stream, start = None, *, direction = Direction::Forwards, max_count = None, as_of = None, as_of_time_ns = None, as_of_time = None))]
    #[allow(clippy::too_many_arguments)]
    fn read_stream(
        slf: &Bound<'_, Self>,
        stream: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
        direction: Direction,
        max_count: Option<usize>,
        as_of: Option<&Bound<'_, PyAny>>,
        as_of_time_ns: Option<u64>,
        as_of_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<EventIterator> {
        let name = args::name(stream)?;
        let mut as_of = as_of
            .map(|p| args::position(p).map(annal::Position))
            .transpose()?;
        let time_ns = match (as_of_time_ns, as_of_time) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "give as_of_time or as_of_time_ns, not both",
                ))
            }
            (Some(ns), None) => Some(ns),
            (None, Some(time)) => Some(args::time_ns(time)?),
            (None, None) => None,
        };
        if let Some(time_ns) = time_ns {
            if as_of.is_some() {
                return Err(PyValueError::new_err("give as_of or a time, not both"));
            }
            let store = slf.get().engine()?;
            as_of = Some(
                slf.py()
                    .detach(|| store.position_after_time(time_ns))
                    .py_err()?,
            );
        }
        let source = Source::Stream { name, as_of };
        iterator(slf, source, start, direction, max_count)
    }

    /// Iterates over a category's events (streams named `category-...`) from position
    /// `start`, at most `max_count`.
    #[pyo3(signature = (category, start = None, *, direction = Direction::Forwards, max_count = None))]
    fn read_category(
        slf: &Bound<'_, Self>,
        category: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
        direction: Direction,
        max_count: Option<usize>,
    ) -> PyResult<EventIterator> {
        let source = Source::Category(args::name(category)?);
        iterator(slf, source, start, direction, max_count)
    }

    /// Iterates over every stream's events in position order from `start`, at most
    /// `max_count`.
    #[pyo3(signature = (start = None, *, direction = Direction::Forwards, max_count = None))]
    fn read_all(
        slf: &Bound<'_, Self>,
        start: Option<&Bound<'_, PyAny>>,
        direction: Direction,
        max_count: Option<usize>,
    ) -> PyResult<EventIterator> {
        iterator(slf, Source::All, start, direction, max_count)
    }

    /// The position of the first event stamped after `time_ns` (ns since the epoch).
    fn position_after_time(&self, py: Python<'_>, time_ns: u64) -> PyResult<u64> {
        let store = self.engine()?;
        Ok(py.detach(|| store.position_after_time(time_ns)).py_err()?.0)
    }

    /// The position of the first event stamped after `time` (a `datetime`; naive means
    /// local time): the log as of that time is everything before it.
    fn position_after(&self, py: Python<'_>, time: &Bound<'_, PyAny>) -> PyResult<u64> {
        let time_ns = args::time_ns(time)?;
        self.position_after_time(py, time_ns)
    }

    /// The last `count` events of a stream, oldest first (a list).
    fn read_stream_last(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        count: usize,
    ) -> PyResult<Vec<RecordedEvent>> {
        let stream = args::name(stream)?;
        let store = self.engine()?;
        let events = py
            .detach(|| store.read_stream_last(&stream, count))
            .py_err()?;
        Ok(events.into_iter().map(RecordedEvent::new).collect())
    }

    /// Creates the durable consumer `name` with its checkpoint at `start` (`BEGINNING`,
    /// `END` or a position; default `BEGINNING`); `ConsumerExists` if there is one.
    #[pyo3(signature = (name, start = None))]
    fn create_consumer(
        &self,
        py: Python<'_>,
        name: &str,
        start: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<StoreConsumer> {
        let start = start
            .map(args::start)
            .transpose()?
            .unwrap_or(annal::Start::Beginning);
        let store = self.engine()?;
        let consumer = py.detach(|| store.create_consumer(name, start)).py_err()?;
        Ok(StoreConsumer::new(consumer))
    }

    /// The existing consumer `name` (`UnknownConsumer` if there is none).
    fn consumer(&self, py: Python<'_>, name: &str) -> PyResult<StoreConsumer> {
        let store = self.engine()?;
        let consumer = py.detach(|| store.consumer(name)).py_err()?;
        Ok(StoreConsumer::new(consumer))
    }

    /// The store's consumers and their checkpoints.
    fn consumers(&self) -> PyResult<Vec<ConsumerInfo>> {
        Ok(self
            .engine()?
            .consumers()
            .into_iter()
            .map(ConsumerInfo::from)
            .collect())
    }

    /// Deletes the consumer `name` (its handles then raise `UnknownConsumer`).
    fn delete_consumer(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let store = self.engine()?;
        py.detach(|| store.delete_consumer(name)).py_err()
    }

    /// Retention: removes every log segment whose events all lie before `position`, but
    /// never past the smallest checkpoint of the store's consumers unless `force=True`,
    /// and returns the store's new first position. Only whole segments go.
    #[pyo3(signature = (position, *, force = false))]
    fn truncate_before(
        &self,
        py: Python<'_>,
        position: &Bound<'_, PyAny>,
        force: bool,
    ) -> PyResult<u64> {
        let position = annal::Position(args::position(position)?);
        let truncation = if force {
            annal::Truncation::Forced
        } else {
            annal::Truncation::BehindConsumers
        };
        let store = self.engine()?;
        Ok(py
            .detach(|| store.truncate_before(position, truncation))
            .py_err()?
            .0)
    }

    /// The first position the store's log still holds.
    #[getter]
    fn first_position(&self) -> PyResult<u64> {
        Ok(self.engine()?.first_position().0)
    }

    /// The durable write path this store uses (what `IoPath.AUTO` resolved to).
    #[getter]
    fn io_path(&self) -> PyResult<IoPath> {
        Ok(self.engine()?.io_path().into())
    }

    /// What recovery did when the store opened, with its index checkpoint's part.
    fn recovery_report(&self, py: Python<'_>) -> PyResult<RecoveryReport> {
        let store = self.engine()?;
        RecoveryReport::new(py, store.recovery_report(), Some(store.index_recovery()))
    }

    /// What opening found in the index checkpoint: loaded (and replayed from where) or
    /// rebuilt (and why).
    fn index_recovery(&self) -> PyResult<IndexRecovery> {
        Ok(self.engine()?.index_recovery().into())
    }

    /// The engine's counters since the store opened.
    fn metrics(&self) -> PyResult<Metrics> {
        Ok(self.engine()?.metrics().into())
    }

    /// The stream index's resident memory.
    fn index_memory(&self, py: Python<'_>) -> PyResult<IndexMemory> {
        let store = self.engine()?;
        Ok(py.detach(|| store.index_memory()).into())
    }

    /// What the store knows about a stream (`annal.StreamNotFound` if never written).
    fn stream_info(&self, py: Python<'_>, stream: &Bound<'_, PyAny>) -> PyResult<StreamInfo> {
        let stream = args::name(stream)?;
        let store = self.engine()?;
        // The index's lock may be held by an append in another thread.
        Ok(py.detach(|| store.stream_info(&stream)).py_err()?.into())
    }

    /// The stream's last revision, or `None` if it has no events.
    fn stream_revision(&self, py: Python<'_>, stream: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
        let stream = args::name(stream)?;
        let store = self.engine()?;
        Ok(py.detach(|| store.stream_revision(&stream)).map(|r| r.0))
    }

    /// Soft delete: reads start at revision `before`; appends still work. Durable.
    fn truncate_stream(
        &self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        before: u64,
    ) -> PyResult<()> {
        let stream = args::name(stream)?;
        let store = self.engine()?;
        py.detach(|| store.truncate_stream(&stream, annal::Revision(before)))
            .py_err()
    }

    /// Hard delete (tombstone): later reads and appends raise `annal.StreamDeleted`.
    fn delete_stream(&self, py: Python<'_>, stream: &Bound<'_, PyAny>) -> PyResult<()> {
        let stream = args::name(stream)?;
        let store = self.engine()?;
        py.detach(|| store.delete_stream(&stream)).py_err()
    }

    /// A subscription from `start` (`BEGINNING`, `END` or a position): catch-up, then
    /// live. Filter by one of `category`, `event_type` or `stream_prefix`.
    #[pyo3(signature = (start = None, *, category = None, event_type = None, stream_prefix = None, visibility = Visibility::Synced))]
    fn subscribe(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        category: Option<&Bound<'_, PyAny>>,
        event_type: Option<&Bound<'_, PyAny>>,
        stream_prefix: Option<&Bound<'_, PyAny>>,
        visibility: Visibility,
    ) -> PyResult<Subscription> {
        let start = start
            .map(args::start)
            .transpose()?
            .unwrap_or(annal::Start::Beginning);
        let filter = store_filter(category, event_type, stream_prefix)?;
        let options = annal::StoreSubscriptionOptions::default()
            .visibility(visibility.into())
            .filter(filter);
        let store = self.engine()?;
        let subscription = py.detach(|| store.subscribe(start, options)).py_err()?;
        Ok(Subscription(Shared::new(subscription)))
    }

    /// Writes `Durability.BUFFERED` appends and publishes them to readers (in this
    /// process and read-only stores in others), without waiting for them to be durable.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.engine()?;
        py.detach(|| store.flush()).py_err()
    }

    /// Writes the index checkpoint now (opening then replays only what follows).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.engine()?;
        py.detach(|| store.checkpoint()).py_err()
    }

    /// The position the next append will get.
    #[getter]
    fn next_position(&self) -> PyResult<u64> {
        Ok(self.engine()?.log_next_position().0)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Checkpoints the index and closes the store, reporting errors; later calls raise
    /// `annal.Closed` and subscriptions end. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        match py.detach(|| self.handle.take()) {
            Some(store) => py.detach(|| store.close()).py_err(),
            None => Ok(()),
        }
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
        format!("<annal.EventStore {:?}{state}>", self.path)
    }
}
