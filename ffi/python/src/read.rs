//! `annal.EventIterator`: a stream, a category or the whole log read in pages, each
//! fetched with the GIL released, so a long stream is never held in memory at once.

use std::collections::VecDeque;

use bytes::Bytes;
use pyo3::prelude::*;

use crate::args::{self, Direction};
use crate::errors::IntoPy;
use crate::event::RecordedEvent;
use crate::store::EventStore;

/// Events a read iterator fetches per call with the GIL released.
const READ_PAGE_EVENTS: usize = 512;

/// What a read iterator walks.
pub(crate) enum Source {
    /// A stream, as of a position if given.
    Stream {
        /// Its name.
        name: Bytes,
        /// Only events before this position.
        as_of: Option<annal::Position>,
    },
    /// A category.
    Category(Bytes),
    /// Every event.
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

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, RecordedEvent>>> {
        if self.page.is_empty() {
            self.fetch(py)?;
        }
        self.page
            .pop_front()
            .map(|event| RecordedEvent::object(py, event))
            .transpose()
    }
}

/// A read iterator with its first page fetched, so a bad stream fails at the call.
pub(crate) fn iterator(
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
