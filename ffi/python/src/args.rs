//! Python arguments into engine values: durability, direction, visibility, expected
//! revisions, start positions, stream names and event ids.

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::buffer::bytes_like;

/// What an acknowledged append survives: `BUFFERED` (nothing), `WRITTEN` (a process
/// crash), `SYNCED` (power loss: an fdatasync covered it).
#[pyclass(eq, eq_int, frozen, module = "annal", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged once copied into the log's buffer.
    #[pyo3(name = "BUFFERED")]
    Buffered,
    /// Acknowledged once written to the file (survives a process crash).
    #[pyo3(name = "WRITTEN")]
    Written,
    /// Acknowledged once an fdatasync covered it (survives power loss).
    #[pyo3(name = "SYNCED")]
    Synced,
}

impl From<Durability> for annal::Durability {
    fn from(d: Durability) -> annal::Durability {
        match d {
            Durability::Buffered => annal::Durability::Buffered,
            Durability::Written => annal::Durability::Written,
            Durability::Synced => annal::Durability::Synced,
        }
    }
}

/// Which way a read goes: `FORWARDS` (oldest first) or `BACKWARDS` (newest first).
#[pyclass(eq, eq_int, frozen, module = "annal", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    #[pyo3(name = "FORWARDS")]
    Forwards,
    /// Newest first.
    #[pyo3(name = "BACKWARDS")]
    Backwards,
}

impl From<Direction> for annal::Direction {
    fn from(d: Direction) -> annal::Direction {
        match d {
            Direction::Forwards => annal::Direction::Forwards,
            Direction::Backwards => annal::Direction::Backwards,
        }
    }
}

/// Which watermark a subscription reads to: `SYNCED` events only (the default, what
/// survives power loss) or every `WRITTEN` one.
#[pyclass(eq, eq_int, frozen, module = "annal", from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Events written (published), synced or not.
    #[pyo3(name = "WRITTEN")]
    Written,
    /// Events covered by an fdatasync.
    #[pyo3(name = "SYNCED")]
    Synced,
}

impl From<Visibility> for annal::Visibility {
    fn from(v: Visibility) -> annal::Visibility {
        match v {
            Visibility::Written => annal::Visibility::Written,
            Visibility::Synced => annal::Visibility::Synced,
        }
    }
}

/// An expectation on a stream's revision, checked atomically with an append: the
/// module constants `ANY`, `NO_STREAM`, `STREAM_EXISTS`, or `ExpectedRevision.exact(n)`
/// (appends also take a plain `int` for an exact revision).
#[pyclass(frozen, module = "annal", from_py_object)]
#[derive(Clone, Copy)]
pub struct ExpectedRevision(pub(crate) annal::ExpectedRevision);

#[pymethods]
impl ExpectedRevision {
    /// The stream's last revision must be exactly `revision`.
    #[staticmethod]
    fn exact(revision: u64) -> ExpectedRevision {
        ExpectedRevision(annal::ExpectedRevision::Exact(annal::Revision(revision)))
    }

    fn __repr__(&self) -> String {
        match self.0 {
            annal::ExpectedRevision::Any => "annal.ANY".into(),
            annal::ExpectedRevision::NoStream => "annal.NO_STREAM".into(),
            annal::ExpectedRevision::StreamExists => "annal.STREAM_EXISTS".into(),
            annal::ExpectedRevision::Exact(n) => format!("annal.ExpectedRevision.exact({n})"),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        expected(other).is_ok_and(|other| other == self.0)
    }

    fn __hash__(&self) -> u64 {
        match self.0 {
            annal::ExpectedRevision::Any => u64::MAX,
            annal::ExpectedRevision::NoStream => u64::MAX - 1,
            annal::ExpectedRevision::StreamExists => u64::MAX - 2,
            annal::ExpectedRevision::Exact(n) => n.0,
        }
    }
}

/// `expected=`: an `ExpectedRevision` or an `int` (exact revision).
pub(crate) fn expected(obj: &Bound<'_, PyAny>) -> PyResult<annal::ExpectedRevision> {
    if let Ok(e) = obj.cast::<ExpectedRevision>() {
        return Ok(e.get().0);
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "expected must be annal.ANY, NO_STREAM, STREAM_EXISTS or an int revision, not bool",
        ));
    }
    match obj.extract::<u64>() {
        Ok(n) => Ok(annal::ExpectedRevision::Exact(annal::Revision(n))),
        Err(_) if obj.extract::<i64>().is_ok() => Err(PyValueError::new_err(
            "an expected revision must not be negative",
        )),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected must be annal.ANY, NO_STREAM, STREAM_EXISTS or an int revision, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// Where a subscription or consumer starts: the module constants `BEGINNING` and `END`,
/// or an `int` position.
#[pyclass(frozen, module = "annal", from_py_object)]
#[derive(Clone, Copy)]
pub struct Start(pub(crate) StartKind);

/// The two named starts (a position is passed as an `int`).
#[derive(Clone, Copy)]
pub(crate) enum StartKind {
    Beginning,
    End,
}

#[pymethods]
impl Start {
    fn __repr__(&self) -> &'static str {
        match self.0 {
            StartKind::Beginning => "annal.BEGINNING",
            StartKind::End => "annal.END",
        }
    }
}

/// `start=`: `BEGINNING`, `END` or an `int` position.
pub(crate) fn start(obj: &Bound<'_, PyAny>) -> PyResult<annal::Start> {
    if let Ok(s) = obj.cast::<Start>() {
        return Ok(match s.get().0 {
            StartKind::Beginning => annal::Start::Beginning,
            StartKind::End => annal::Start::End,
        });
    }
    Ok(annal::Start::At(annal::Position(position(obj)?)))
}

/// A non-negative `int` position or revision.
pub(crate) fn position(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("a position must be an int, not bool"));
    }
    match obj.extract::<u64>() {
        Ok(n) => Ok(n),
        Err(_) if obj.extract::<i64>().is_ok() => {
            Err(PyValueError::new_err("a position must not be negative"))
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "a position must be an int, BEGINNING or END, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// A stream name, category or event type: `str` (UTF-8) or bytes-like.
pub(crate) fn name(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(s.to_str()?.as_bytes()));
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        // Copied, not shared: the engine's index keeps names, and must not keep Python
        // objects alive past the interpreter's reach.
        return Ok(Bytes::copy_from_slice(bytes.as_bytes()));
    }
    if obj.is_instance_of::<pyo3::types::PyByteArray>()
        || obj.is_instance_of::<pyo3::types::PyMemoryView>()
    {
        return bytes_like(obj);
    }
    Err(PyTypeError::new_err(format!(
        "a name must be str or bytes, not {}",
        obj.get_type().name()?
    )))
}

/// A stream name for the length of one call: borrowed from an immutable `str` or
/// `bytes` (which the caller's argument keeps alive), copied from a mutable buffer.
pub(crate) enum NameRef<'a> {
    /// The bytes of a `str` (its cached UTF-8) or a `bytes`.
    Borrowed(&'a [u8]),
    /// A copy of a `bytearray` or `memoryview`, which may change meanwhile.
    Copied(Bytes),
}

impl AsRef<[u8]> for NameRef<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            NameRef::Borrowed(bytes) => bytes,
            NameRef::Copied(bytes) => bytes,
        }
    }
}

impl NameRef<'_> {
    /// The name owned, for a call that keeps it (copied if borrowed).
    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            NameRef::Borrowed(bytes) => Bytes::copy_from_slice(bytes),
            NameRef::Copied(bytes) => bytes,
        }
    }
}

/// A stream name as [`name`] takes it, borrowed where it can be: for a call that only
/// reads it (an append to a stream that exists copies nothing of its name).
pub(crate) fn name_ref<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<NameRef<'a>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(NameRef::Borrowed(s.to_str()?.as_bytes()));
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(NameRef::Borrowed(bytes.as_bytes()));
    }
    name(obj).map(NameRef::Copied)
}

/// Most distinct event types each thread keeps shared copies of (`event_type`).
const EVENT_TYPES_CACHED_MAX: usize = 32;

thread_local! {
    /// Event types seen lately: an application has a handful, and appending thousands of
    /// events of one type should not allocate its name for each.
    static EVENT_TYPES: std::cell::RefCell<Vec<Bytes>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An event type (`str` or bytes-like), shared with earlier events of the same type.
pub(crate) fn event_type(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    let Ok(s) = obj.cast::<PyString>() else {
        return name(obj);
    };
    let text = s.to_str()?.as_bytes();
    EVENT_TYPES.with_borrow_mut(|cache| {
        if let Some(hit) = cache.iter().find(|cached| cached[..] == *text) {
            return Ok(hit.clone());
        }
        // Promoted to a shared buffer once, here, rather than at each clone.
        let bytes = Bytes::from(text.to_vec());
        if cache.len() == EVENT_TYPES_CACHED_MAX {
            cache.remove(0);
        }
        cache.push(bytes.clone());
        Ok(bytes)
    })
}

/// An event id: 16 bytes, or a `uuid.UUID` (its `.bytes`).
pub(crate) fn event_id(obj: &Bound<'_, PyAny>) -> PyResult<annal::EventId> {
    let bytes = match bytes_like(obj) {
        Ok(bytes) => bytes,
        Err(_) => match obj.getattr("bytes") {
            Ok(inner) => bytes_like(&inner)?,
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "an event id must be 16 bytes or a uuid.UUID, not {}",
                    obj.get_type().name()?
                )))
            }
        },
    };
    <[u8; 16]>::try_from(&bytes[..]).map_err(|_| {
        PyValueError::new_err(format!("an event id must be 16 bytes, not {}", bytes.len()))
    })
}

/// Text for a name read back: UTF-8, with invalid bytes replaced.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Nanoseconds since the Unix epoch of a `datetime.datetime` (naive: local time), exact
/// to the microsecond; `ValueError` before the epoch, `TypeError` for anything else.
pub(crate) fn time_ns(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let py = obj.py();
    let datetime = py.import("datetime")?;
    let class = datetime.getattr("datetime")?;
    if !obj.is_instance(&class)? {
        return Err(PyTypeError::new_err(format!(
            "a time must be a datetime.datetime, not {}",
            obj.get_type().name()?
        )));
    }
    let aware = if obj.getattr("tzinfo")?.is_none() {
        obj.call_method0("astimezone")?
    } else {
        obj.clone()
    };
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    let epoch = class.call((1970, 1, 1, 0, 0, 0, 0, utc), None)?;
    let delta = aware.sub(epoch)?;
    let days: i64 = delta.getattr("days")?.extract()?;
    let seconds: i64 = delta.getattr("seconds")?.extract()?;
    let micros: i64 = delta.getattr("microseconds")?.extract()?;
    if days < 0 {
        return Err(PyValueError::new_err(format!(
            "{} is before the Unix epoch",
            obj.repr()?
        )));
    }
    let ns = (days as u64)
        .checked_mul(86_400_000_000_000)
        .and_then(|n| n.checked_add(seconds as u64 * 1_000_000_000))
        .and_then(|n| n.checked_add(micros as u64 * 1_000))
        .ok_or_else(|| PyValueError::new_err("the time is too far in the future"))?;
    Ok(ns)
}
