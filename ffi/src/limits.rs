//! Early limit checks: an event certainly over [`EVENT_BYTES_MAX`] is refused before its
//! bytes are copied or encoded, with the error the engine would give. Borderline sizes
//! (a store event's envelope adds a few bytes) are left to the engine's own check. The
//! limits themselves, as constants of the header.

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

/// The most bytes one event may hold (data; for a store, type, data and metadata).
pub const ANNAL_EVENT_BYTES_MAX: usize = 16 << 20;
/// The most events one append may hold.
pub const ANNAL_BATCH_EVENTS_MAX: usize = 65_536;
/// The most payload bytes one append may hold.
pub const ANNAL_BATCH_BYTES_MAX: usize = 64 << 20;
/// The longest stream name, in bytes.
pub const ANNAL_STREAM_NAME_BYTES_MAX: usize = 255;
/// The longest event type, in bytes.
pub const ANNAL_EVENT_TYPE_BYTES_MAX: usize = 255;
/// The longest consumer name, in bytes.
pub const ANNAL_CONSUMER_NAME_BYTES_MAX: usize = 64;
/// The most consumers one log or store holds.
pub const ANNAL_CONSUMERS_MAX: usize = 1024;
/// The most live subscriptions of one log or store.
pub const ANNAL_SUBSCRIPTIONS_MAX: usize = 1024;
/// The smallest segment size an open accepts.
pub const ANNAL_SEGMENT_BYTES_MIN: u64 = 65_536;
/// The largest segment size an open accepts.
pub const ANNAL_SEGMENT_BYTES_MAX: u64 = 2_147_483_648;
/// How many of a store's most recent events a retry with the same ids is recognised
/// within (older ids may be written again).
pub const ANNAL_IDEMPOTENCY_WINDOW_EVENTS: usize = 100_000;

// The header's numbers are literals (cbindgen does not read the engine): each is checked
// against the engine's constant here, at compile time.
const _: () = {
    use annal::limits as engine;
    assert!(ANNAL_EVENT_BYTES_MAX == engine::EVENT_BYTES_MAX);
    assert!(ANNAL_BATCH_EVENTS_MAX == engine::BATCH_EVENTS_MAX);
    assert!(ANNAL_BATCH_BYTES_MAX == engine::BATCH_BYTES_MAX);
    assert!(ANNAL_STREAM_NAME_BYTES_MAX == engine::STREAM_NAME_BYTES_MAX);
    assert!(ANNAL_EVENT_TYPE_BYTES_MAX == engine::EVENT_TYPE_BYTES_MAX);
    assert!(ANNAL_CONSUMER_NAME_BYTES_MAX == engine::CONSUMER_NAME_BYTES_MAX);
    assert!(ANNAL_CONSUMERS_MAX == engine::CONSUMERS_MAX);
    assert!(ANNAL_SUBSCRIPTIONS_MAX == engine::SUBSCRIPTIONS_MAX);
    assert!(ANNAL_SEGMENT_BYTES_MIN == engine::SEGMENT_BYTES_MIN);
    assert!(ANNAL_SEGMENT_BYTES_MAX == engine::SEGMENT_BYTES_MAX);
    assert!(ANNAL_IDEMPOTENCY_WINDOW_EVENTS == annal::IDEMPOTENCY_WINDOW_EVENTS);
};
