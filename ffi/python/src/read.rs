//! `annal.EventIterator`: a stream, a category or the whole log read in pages, each
//! fetched with the GIL released, so a long stream is never held in memory at once.
//! Made with the C API (`raw.rs`), like the events it returns: `tp_iternext` is called
//! once per event, and PyO3's method trampoline cost about as much as the rest of it.
#![expect(
    unsafe_code,
    reason = "a class made with the C API: raw object pointers and type slots"
)]

use std::os::raw::c_void;
use std::ptr;

use bytes::Bytes;
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::args::{self, Direction};
use crate::errors::IntoPy;
use crate::raw::{slot, RawType};
use crate::recorded;
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

/// The class `annal.EventIterator`.
static EVENT_ITERATOR: RawType = RawType::new();

/// An iterator over recorded events (a stream, a category or the whole log), read in
/// pages so a long stream is never held in memory at once; converts into its Python
/// object (`IntoPyObject`).
pub(crate) struct EventIterator {
    store: Py<EventStore>,
    source: Source,
    direction: annal::Direction,
    /// Where the next page starts (a revision for a stream, else a position); `None`:
    /// nothing more.
    next_from: Option<u64>,
    /// Events still to return (`max_count`), if bounded.
    remaining: Option<usize>,
    /// The page fetched last, handed out one event at a time (moved into its object).
    page: std::vec::IntoIter<annal::RecordedEvent>,
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
        self.page = events.into_iter();
        Ok(())
    }
}

/// An `EventIterator` instance: the header, whether a thread is inside `fetch` (which
/// releases the GIL, so another thread could call `next` meanwhile), and the state.
#[repr(C)]
struct IteratorObject {
    ob_base: ffi::PyObject,
    busy: bool,
    state: EventIterator,
}

impl<'py> IntoPyObject<'py> for EventIterator {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: attached (`py`); the class was made with this struct's size.
        let obj = unsafe { EVENT_ITERATOR.alloc::<IteratorObject>()? };
        // SAFETY: a fresh object seen by no one yet: its fields are written once.
        unsafe {
            ptr::write(&raw mut (*obj).busy, false);
            ptr::write(&raw mut (*obj).state, self);
            Ok(Bound::from_owned_ptr(py, obj.cast()))
        }
    }
}

/// `tp_iternext`: the next event, or null without an exception at the end.
unsafe extern "C" fn iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let it = obj.cast::<IteratorObject>();
    // SAFETY: CPython calls this attached, on a live `EventIterator`. The GIL is held
    // throughout except inside `fetch`, and `busy` keeps every other caller out while
    // it runs, so this is the only reference to the state.
    unsafe {
        if (*it).busy {
            PyRuntimeError::new_err("this iterator is being read by another thread")
                .restore(Python::assume_attached());
            return ptr::null_mut();
        }
        let state = &mut (*it).state;
        if state.page.len() == 0 {
            // Attached for PyO3 too (see `raw::guard`): once per page.
            let fetched = Python::attach(|py| {
                (*it).busy = true;
                let fetched = state.fetch(py);
                (*it).busy = false;
                fetched.map_err(|err| err.restore(py))
            });
            if fetched.is_err() {
                return ptr::null_mut();
            }
        }
        match state.page.next() {
            Some(event) => recorded::new_ptr(event),
            None => ptr::null_mut(),
        }
    }
}

/// `tp_dealloc`: drops the state (a reference to the store, the page) and the object.
unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls this once, attached, on an iterator whose count reached
    // zero (so no thread is inside `fetch`, which holds a reference). Attached for PyO3
    // too (see `raw::guard`), so the store's reference is released now: a store
    // dropped with its last iterator closes at once.
    Python::attach(|_| unsafe {
        ptr::drop_in_place(&raw mut (*obj.cast::<IteratorObject>()).state);
    });
    // SAFETY: as above; the fields are dropped.
    unsafe { EVENT_ITERATOR.free(obj) };
}

/// Makes the class and adds it to the module as `EventIterator`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let slots = vec![
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(
            ffi::Py_tp_doc,
            c"An iterator over recorded events (a stream, a category or the whole log), read \
in pages so a long stream is never held in memory at once."
                .as_ptr()
                .cast_mut()
                .cast(),
        ),
        slot(ffi::Py_tp_iter, ffi::PyObject_SelfIter as *mut c_void),
        slot(ffi::Py_tp_iternext, iternext as *mut c_void),
    ];
    let class = EVENT_ITERATOR.create(
        m.py(),
        c"annal.EventIterator",
        size_of::<IteratorObject>(),
        slots,
    )?;
    m.add("EventIterator", class)
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
        page: Vec::new().into_iter(),
    };
    iterator.fetch(slf.py())?;
    Ok(iterator)
}
