//! Early limit checks: an event certainly over [`EVENT_BYTES_MAX`] is refused before its
//! bytes are copied or encoded, with the error the engine would give. Borderline sizes
//! (a store event's envelope adds a few bytes) are left to the engine's own check.

use annal::limits::EVENT_BYTES_MAX;
use annal::{Error, Limit};

use crate::failure::Failure;

/// Refuses `len` payload bytes for one event when they exceed the event limit.
pub fn check_event_bytes(len: usize) -> Result<(), Failure> {
    if len > EVENT_BYTES_MAX {
        return Err(Failure::Engine(Error::LimitExceeded {
            limit: Limit::EventBytes,
            value: len as u64,
            max: EVENT_BYTES_MAX as u64,
        }));
    }
    Ok(())
}
