//! The operation target's checks: store results against the model's predictions, and
//! errors compared as far as the model can tell them apart.

use super::model::{ModelEvent, STREAMS};
use crate::error::Error;
use crate::position::{Position, Revision};
use crate::stream::RecordedEvent;

/// Whether two errors are the same as far as the model can tell.
pub(super) fn same_error(actual: &Error, expected: &Error) -> bool {
    match (actual, expected) {
        (
            Error::WrongExpectedRevision {
                stream: a,
                expected: ae,
                actual: aa,
            },
            Error::WrongExpectedRevision {
                stream: b,
                expected: be,
                actual: ba,
            },
        ) => a == b && ae == be && aa == ba,
        (Error::StreamDeleted { stream: a }, Error::StreamDeleted { stream: b })
        | (Error::StreamNotFound { stream: a }, Error::StreamNotFound { stream: b }) => a == b,
        (
            Error::PositionOutOfRange { position: a, .. },
            Error::PositionOutOfRange { position: b, .. },
        ) => a == b,
        (
            Error::IdempotencyConflict { stream: a, .. },
            Error::IdempotencyConflict { stream: b, .. },
        ) => a == b,
        _ => false,
    }
}

pub(super) fn check_events(what: &str, actual: &[RecordedEvent], expected: &[ModelEvent]) {
    assert_eq!(actual.len(), expected.len(), "{what}: event count");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(
            &a.stream[..],
            STREAMS[e.stream].as_bytes(),
            "{what}: stream"
        );
        assert_eq!(a.revision, Revision(e.revision), "{what}: revision");
        assert_eq!(a.position, Position(e.position), "{what}: position");
        assert_eq!(a.id, e.event.id, "{what}: id");
        assert_eq!(a.event_type, e.event.event_type, "{what}: event type");
        assert_eq!(a.metadata, e.event.metadata, "{what}: metadata");
        assert_eq!(a.data, e.event.data, "{what}: data");
    }
}

pub(super) fn check_result(
    what: &str,
    actual: crate::error::Result<Vec<RecordedEvent>>,
    expected: Result<Vec<ModelEvent>, Error>,
) {
    match (actual, expected) {
        (Ok(actual), Ok(expected)) => check_events(what, &actual, &expected),
        (Err(actual), Err(expected)) => {
            assert!(
                same_error(&actual, &expected),
                "{what}: {actual} instead of {expected}"
            )
        }
        (actual, expected) => panic!("{what}: {actual:?} instead of {expected:?}"),
    }
}
