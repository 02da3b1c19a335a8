//! `annal.EventStore`: streams on the log — appends with expected revisions (one stream
//! or several atomically), stream, category and whole-log reads (forwards, backwards,
//! as of a position or a time), deletes, subscriptions.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::args::{self, Direction, Durability, Visibility};
use crate::errors::IntoPy;
use crate::event::{new_event, NewEvent, RecordedEvent, StreamInfo, WriteResult};
use crate::handle::Handle;
use crate::options::OpenOptions;
use crate::subscription::{Shared, Subscription};

/// Events a read iterator fetches per call with the GIL released.
const READ_PAGE_EVENTS: usize = 512;

/// What a read iterator walks.
enum Source {
    Stream {
        name: Bytes,
        as_of: Option<annal::Position>,
    },
    Category(Bytes),
    All,
}

/// An iterator over recorded events (a stream, a category or the whole log), read in
/// pages so a long stream is never held in memory at once.
#[pyclass(module = "annal")]
pub struct EventIterator {
    store: Py<EventStore>,
    source: Source,
    direction: annal::Direction,
    /// Where the next page starts (a revision for a stream, else a position); `None`:
    /// nothing more.
    next_from: Option<u64>,
    /// Events still to return (`max_count`), if bounded.
    remaining: Option<usize>,
    page: VecDeque<annal::RecordedEvent>,
}

impl EventIterator {
    fn fetch(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(from) = self.next_from else {
            return Ok(());
        };
        let want = self
            .remaining
            .map_or(READ_PAGE_EVENTS, |r| r.min(READ_PAGE_EVENTS));
        if want == 0 {
            self.next_from = None;
            return Ok(());
        }
        let store = self.store.get().engine()?;
        let direction = self.direction;
        let source = &self.source;
        let events = py
            .detach(|| match source {
                Source::Stream { name, as_of: None } => {
                    store.read_stream(name, annal::Revision(from), direction, want)
                }
                Source::Stream {
                    name,
                    as_of: Some(as_of),
                } => store.read_stream_as_of(name, *as_of, annal::Revision(from), direction, want),
                Source::Category(name) => {
                    store.read_category(name, annal::Position(from), direction, want)
                }
                Source::All => store.read_all(annal::Position(from), direction, want),
            })
            .py_err()?;
        self.next_from = match events.last() {
            Some(last) if events.len() == want => {
                let at = match self.source {
                    Source::Stream { .. } => last.revision.0,
                    Source::Category(_) | Source::All => last.position.0,
                };
                match direction {
                    annal::Direction::Forwards => at.checked_add(1),
                    annal::Direction::Backwards => at.checked_sub(1),
                }
            }
            _ => None,
        };
        if let Some(remaining) = &mut self.remaining {
            *remaining -= events.len();
        }
        self.page.extend(events);
        Ok(())
    }
}

#[pymethods]
impl EventIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<RecordedEvent>> {
        if self.page.is_empty() {
            self.fetch(py)?;
        }
        Ok(self.page.pop_front().map(RecordedEvent::new))
    }
}

/// The events of an `append` argument: a `NewEvent`, or an iterable of `NewEvent`s and
/// `(event_type, data)` tuples.
fn new_events(events: &Bound<'_, PyAny>) -> PyResult<Vec<annal::NewEvent>> {
    if let Ok(event) = events.cast::<NewEvent>() {
        return Ok(vec![event.get().0.clone()]);
    }
    let iter = events.try_iter().map_err(|_| {
        PyTypeError::new_err("events must be a NewEvent or an iterable of NewEvent")
    })?;
    iter.map(|item| new_event(&item?)).collect()
}

/// An event store: streams of events on a log. Open it with `EventStore.open(path)`;
/// use it as a context manager, or call `close()`. Share one store between threads:
/// every blocking call releases the GIL, and concurrent durable appends share fdatasyncs.
#[pyclass(frozen, module = "annal")]
pub struct EventStore {
    handle: Handle<annal::EventStore>,
    path: PathBuf,
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
    #[pyo3(signature = (path, *, segment_bytes = None, verify_reads = None, recovery = None, index_checkpoint_events = None, read_only = false))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        segment_bytes: Option<u64>,
        verify_reads: Option<bool>,
        recovery: Option<String>,
        index_checkpoint_events: Option<u64>,
        read_only: bool,
    ) -> PyResult<EventStore> {
        let options = OpenOptions {
            segment_bytes,
            verify_reads,
            recovery,
            index_checkpoint_events,
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
        let stream = args::name(stream)?;
        let expected = expected
            .map(args::expected)
            .transpose()?
            .unwrap_or(annal::ExpectedRevision::Any);
        let appends = [annal::StreamAppend {
            stream,
            expected,
            events: new_events(events)?,
        }];
        let store = self.engine()?;
        // By reference, so the events (which may share Python `bytes`) are dropped here,
        // attached to the interpreter, not inside the engine.
        let results = py
            .detach(|| store.append_multi(&appends, durability.into()))
            .py_err()?;
        Ok(results[0].into())
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
        let appends = appends
            .try_iter()?
            .map(|item| {
                let item = item?;
                let tuple = item.cast::<PyTuple>().map_err(|_| {
                    PyTypeError::new_err("each append must be a (stream, events[, expected]) tuple")
                })?;
                let expected = match tuple.len() {
                    2 => annal::ExpectedRevision::Any,
                    3 => args::expected(&tuple.get_item(2)?)?,
                    n => {
                        return Err(PyValueError::new_err(format!(
                        "each append must be a (stream, events[, expected]) tuple, not {n} items"
                    )))
                    }
                };
                Ok(annal::StreamAppend {
                    stream: args::name(&tuple.get_item(0)?)?,
                    expected,
                    events: new_events(&tuple.get_item(1)?)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let store = self.engine()?;
        let results = py
            .detach(|| store.append_multi(&appends, durability.into()))
            .py_err()?;
        Ok(results.into_iter().map(WriteResult::from).collect())
    }

    /// Iterates over a stream's events from revision `start` (default: the first
    /// forwards, the last backwards), at most `max_count`. `as_of` (a position) or
    /// `as_of_time_ns` reads the stream as it was then.
    #[pyo3(signature = (stream, start = None, *, direction = Direction::Forwards, max_count = None, as_of = None, as_of_time_ns = None))]
    #[allow(clippy::too_many_arguments)]
    fn read_stream(
        slf: &Bound<'_, Self>,
        stream: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
        direction: Direction,
        max_count: Option<usize>,
        as_of: Option<&Bound<'_, PyAny>>,
        as_of_time_ns: Option<u64>,
    ) -> PyResult<EventIterator> {
        let name = args::name(stream)?;
        let mut as_of = as_of
            .map(|p| args::position(p).map(annal::Position))
            .transpose()?;
        if let Some(time_ns) = as_of_time_ns {
            if as_of.is_some() {
                return Err(PyValueError::new_err(
                    "give as_of or as_of_time_ns, not both",
                ));
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
        let filter = match (category, event_type, stream_prefix) {
            (None, None, None) => annal::StoreFilter::All,
            (Some(category), None, None) => annal::StoreFilter::Category(args::name(category)?),
            (None, Some(event_type), None) => {
                annal::StoreFilter::EventType(args::name(event_type)?)
            }
            (None, None, Some(prefix)) => annal::StoreFilter::StreamPrefix(args::name(prefix)?),
            _ => {
                return Err(PyValueError::new_err(
                    "filter by one of category, event_type or stream_prefix",
                ))
            }
        };
        let options = annal::StoreSubscriptionOptions::default()
            .visibility(visibility.into())
            .filter(filter);
        let store = self.engine()?;
        let subscription = py.detach(|| store.subscribe(start, options)).py_err()?;
        Ok(Subscription(Shared::new(subscription)))
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

/// A read iterator with its first page fetched, so a bad stream fails at the call.
fn iterator(
    slf: &Bound<'_, EventStore>,
    source: Source,
    start: Option<&Bound<'_, PyAny>>,
    direction: Direction,
    max_count: Option<usize>,
) -> PyResult<EventIterator> {
    let direction = annal::Direction::from(direction);
    let from = match start {
        Some(start) => args::position(start)?,
        None => match direction {
            annal::Direction::Forwards => 0,
            annal::Direction::Backwards => u64::MAX,
        },
    };
    let mut iterator = EventIterator {
        store: slf.clone().unbind(),
        source,
        direction,
        next_from: Some(from),
        remaining: max_count,
        page: VecDeque::new(),
    };
    iterator.fetch(slf.py())?;
    Ok(iterator)
}
