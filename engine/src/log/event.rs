//! One event as read back from the log, and the watermarks a reader may read to.

use bytes::Bytes;

use crate::position::Position;

/// An event: its position and its payload, a zero-copy slice of the segment mapping
/// (holding it keeps the mapping alive, never the writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's global position.
    pub position: Position,
    /// The bytes appended.
    pub payload: Bytes,
}

/// Which watermark a reader stops at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Every published event (in the page cache; a power loss may take the newest).
    #[default]
    Written,
    /// Only events already made durable by an fdatasync.
    Synced,
}
