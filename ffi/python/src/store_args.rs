//! The arguments of appends and subscriptions on an event store, from Python: the
//! events of an `append` (one `NewEvent` borrowed, or an iterable converted), expected
//! revisions, the `(stream, events[, expected])` tuples of `append_multi` and
//! `append_and_commit`, and a subscription's filter.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::args;
use crate::event::{new_event, NewEvent};

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

/// The events of an `append` argument: a single `NewEvent` borrowed (its engine event
/// is immutable and lives as long as the argument), anything else converted.
pub(crate) enum Events<'a> {
    /// A `NewEvent`'s own engine event.
    One(&'a annal::NewEvent),
    /// The events of an iterable.
    Many(Vec<annal::NewEvent>),
}

impl<'a> Events<'a> {
    pub(crate) fn new(events: &'a Bound<'_, PyAny>) -> PyResult<Events<'a>> {
        match events.cast::<NewEvent>() {
            Ok(event) => Ok(Events::One(&event.get().0)),
            Err(_) => new_events(events).map(Events::Many),
        }
    }

    pub(crate) fn as_slice(&self) -> &[annal::NewEvent] {
        match self {
            Events::One(event) => std::slice::from_ref(*event),
            Events::Many(events) => events,
        }
    }

    /// The events owned, for an append that takes them (a single one cloned: its
    /// bytes are shared, not copied).
    pub(crate) fn into_vec(self) -> Vec<annal::NewEvent> {
        match self {
            Events::One(event) => vec![event.clone()],
            Events::Many(events) => events,
        }
    }
}

/// `expected=`: as given, or `ANY`.
pub(crate) fn expected_or_any(
    expected: Option<&Bound<'_, PyAny>>,
) -> PyResult<annal::ExpectedRevision> {
    Ok(expected
        .map(args::expected)
        .transpose()?
        .unwrap_or(annal::ExpectedRevision::Any))
}

/// The appends of an `append_multi` argument: `(stream, events)` or
/// `(stream, events, expected)` tuples.
pub(crate) fn stream_appends(appends: &Bound<'_, PyAny>) -> PyResult<Vec<annal::StreamAppend>> {
    appends
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
        .collect::<PyResult<Vec<_>>>()
}

/// A store subscription's filter: at most one of `category`, `event_type` and
/// `stream_prefix`.
pub(crate) fn store_filter(
    category: Option<&Bound<'_, PyAny>>,
    event_type: Option<&Bound<'_, PyAny>>,
    stream_prefix: Option<&Bound<'_, PyAny>>,
) -> PyResult<annal::StoreFilter> {
    Ok(match (category, event_type, stream_prefix) {
        (None, None, None) => annal::StoreFilter::All,
        (Some(category), None, None) => annal::StoreFilter::Category(args::name(category)?),
        (None, Some(event_type), None) => annal::StoreFilter::EventType(args::name(event_type)?),
        (None, None, Some(prefix)) => annal::StoreFilter::StreamPrefix(args::name(prefix)?),
        _ => {
            return Err(PyValueError::new_err(
                "filter by one of category, event_type or stream_prefix",
            ))
        }
    })
}
