//! The exception hierarchy: `annal.Error` and one subclass per engine error code, each
//! carrying the engine's stable numeric code as `.code` (the same numbers as the C ABI).

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyModule;

pyo3::create_exception!(
    annal,
    Error,
    PyException,
    "Base class of every error the engine reports; `.code` is its stable numeric code."
);

/// Declares the exception classes and the table from engine codes to classes.
macro_rules! exceptions {
    ($($name:ident = $code:ident: $doc:literal,)*) => {
        $(pyo3::create_exception!(annal, $name, Error, $doc);)*

        /// Adds `Error` and every subclass to the module, each with its class-level `code`.
        pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            m.add("Error", py.get_type::<Error>())?;
            py.get_type::<Error>().setattr("code", py.None())?;
            $(
                let class = py.get_type::<$name>();
                class.setattr("code", annal::ErrorCode::$code as i32)?;
                m.add(stringify!($name), class)?;
            )*
            Ok(())
        }

        /// The Python exception for an engine error, its message the engine's sentence.
        pub(crate) fn to_py(error: annal::Error) -> PyErr {
            let message = error.to_string();
            let code = error.code();
            let err = match code {
                $(annal::ErrorCode::$code => PyErr::new::<$name, _>(message),)*
                _ => PyErr::new::<Error, _>(message),
            };
            Python::attach(|py| {
                // Setting attributes on a fresh exception instance cannot fail short of
                // memory exhaustion; the message holds the same facts.
                let _ = err.value(py).setattr("code", code as i32);
                let _ = set_details(err.value(py), &error);
            });
            err
        }
    };
}

exceptions! {
    IoError = Io: "An operating-system call failed.",
    NoSpace = NoSpace: "The device is full; nothing acknowledged was lost.",
    Corrupt = Corrupt: "A file holds bytes that fail their checksum or are not a valid log.",
    Poisoned = Poisoned: "An earlier write or fsync failed; reopen the log to recover.",
    Locked = Locked: "Another owner holds the log directory's lock.",
    LimitExceeded = LimitExceeded: "An input is larger than a documented limit.",
    EmptyBatch = EmptyBatch: "A batch with no events was given.",
    PositionOutOfRange = PositionOutOfRange: "The position is not in the log.",
    InvalidOptions = InvalidOptions: "An option has a value that cannot work.",
    Closed = Closed: "The log or store is closed.",
    WrongExpectedRevision = WrongExpectedRevision: "An append's expected revision did not match; nothing was written.",
    StreamDeleted = StreamDeleted: "The stream was hard-deleted.",
    StreamNotFound = StreamNotFound: "No event was ever appended to the stream.",
    IdempotencyConflict = IdempotencyConflict: "Some, but not all, of an append's event ids are stored already.",
    InvalidArgument = InvalidArgument: "An argument is malformed (an empty or oversized stream name, ...).",
    UnknownConsumer = UnknownConsumer: "No consumer of that name exists.",
    ConsumerExists = ConsumerExists: "A consumer of that name exists already.",
    InvalidConsumerName = InvalidConsumerName: "A consumer name is empty, too long or holds a character not allowed.",
    TooManySubscriptions = TooManySubscriptions: "Too many subscriptions of this log are live.",
    TooManyConsumers = TooManyConsumers: "Too many consumers exist.",
    BehindRetention = BehindRetention: "A subscription fell behind retention.",
    CheckpointRegression = CheckpointRegression: "A consumer's checkpoint can only move forward.",
    IoUringUnavailable = IoUringUnavailable: "io_uring was required but this kernel or sandbox refuses it.",
    ReadOnly = ReadOnly: "The log or store was opened read-only (a follower): it cannot be changed.",
}

/// The facts of an error a caller may act on, as attributes of the exception:
/// `stream`, `expected` and `actual` (`WrongExpectedRevision`), `limit`, `value` and
/// `max` (`LimitExceeded`), `path` and `offset` (`Corrupt`), `position`, `first` and
/// `next` (`PositionOutOfRange`), `stream` (`StreamDeleted`, `StreamNotFound`,
/// `IdempotencyConflict`), `name` (consumer errors).
fn set_details(
    exception: &Bound<'_, pyo3::exceptions::PyBaseException>,
    error: &annal::Error,
) -> PyResult<()> {
    let stream_text = |stream: &[u8]| String::from_utf8_lossy(stream).into_owned();
    match error {
        annal::Error::WrongExpectedRevision {
            stream,
            expected,
            actual,
        } => {
            exception.setattr("stream", stream_text(stream))?;
            exception.setattr("expected", crate::args::ExpectedRevision(*expected))?;
            exception.setattr("actual", actual.map(|r| r.0))?;
        }
        annal::Error::StreamDeleted { stream }
        | annal::Error::StreamNotFound { stream }
        | annal::Error::IdempotencyConflict { stream, .. } => {
            exception.setattr("stream", stream_text(stream))?;
        }
        annal::Error::LimitExceeded { limit, value, max } => {
            exception.setattr("limit", limit.name())?;
            exception.setattr("value", *value)?;
            exception.setattr("max", *max)?;
        }
        annal::Error::Corrupt { path, offset, .. } => {
            exception.setattr("path", path.clone())?;
            exception.setattr("offset", *offset)?;
        }
        annal::Error::PositionOutOfRange {
            position,
            first,
            next,
        } => {
            exception.setattr("position", position.0)?;
            exception.setattr("first", first.0)?;
            exception.setattr("next", next.0)?;
        }
        annal::Error::UnknownConsumer { name }
        | annal::Error::ConsumerExists { name }
        | annal::Error::InvalidConsumerName { name, .. }
        | annal::Error::CheckpointRegression { name, .. } => {
            exception.setattr("name", name.clone())?;
        }
        _ => {}
    }
    Ok(())
}

/// The error for a call on a handle that was closed from Python.
pub(crate) fn closed() -> PyErr {
    to_py(annal::Error::Closed)
}

/// Converts engine results inside `#[pymethods]`.
pub(crate) trait IntoPy<T> {
    /// The value, or the matching Python exception.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for annal::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
