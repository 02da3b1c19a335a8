//! One event as read back from the log.

use bytes::Bytes;

use crate::Position;

/// An event: its position and its payload, a zero-copy slice of the segment mapping
/// (holding it keeps the mapping alive, never the writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's global position.
    pub position: Position,
    /// The bytes appended.
    pub payload: Bytes,
}
