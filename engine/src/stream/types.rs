//! The stream layer's public values: what an append proposes, what it expects, what a
//! read returns.

use bytes::Bytes;

use crate::name::Name;
use crate::position::{EventId, Position, Revision};

/// What an append expects of a stream, checked atomically with the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// No check.
    Any,
    /// The stream has no events (it was never written).
    NoStream,
    /// The stream has at least one event.
    StreamExists,
    /// The stream's last revision is exactly this.
    Exact(Revision),
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewEvent {
    /// Optional id; a retry with the same ids writes nothing (see [`crate::EventStore`]).
    pub id: Option<EventId>,
    /// The event type, e.g. `OrderCreated`.
    pub event_type: Bytes,
    /// The event's data.
    pub data: Bytes,
    /// Caller metadata (correlation ids and the like).
    pub metadata: Bytes,
}

impl NewEvent {
    /// An event with a type and data, no id, no metadata.
    pub fn new(event_type: impl Into<Name>, data: impl Into<Bytes>) -> NewEvent {
        NewEvent {
            id: None,
            event_type: event_type.into().into_bytes(),
            data: data.into(),
            metadata: Bytes::new(),
        }
    }

    /// Sets the event id.
    pub fn with_id(mut self, id: EventId) -> NewEvent {
        self.id = Some(id);
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: impl Into<Bytes>) -> NewEvent {
        self.metadata = metadata.into();
        self
    }
}

/// Events for one stream within a (possibly multi-stream) append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    /// The stream's name.
    pub stream: Bytes,
    /// What the append expects of the stream.
    pub expected: ExpectedRevision,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    /// One stream's part of an append: its name (`&str`, `String`, `&[u8]`, `Bytes` …),
    /// what it expects of the stream, and the events.
    pub fn new(
        stream: impl Into<Name>,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> StreamAppend {
        StreamAppend {
            stream: stream.into().into_bytes(),
            expected,
            events,
        }
    }
}

/// Where one stream's part of an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteResult {
    /// Revision of the first event appended to the stream.
    pub first_revision: Revision,
    /// Revision of the last event appended to the stream (the stream's revision now).
    pub last_revision: Revision,
    /// Position of the first event.
    pub first_position: Position,
    /// Position of the last event.
    pub last_position: Position,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The stream it belongs to.
    pub stream: Bytes,
    /// Its revision in the stream.
    pub revision: Revision,
    /// Its global position.
    pub position: Position,
    /// Nanoseconds since the Unix epoch, assigned by the engine, never decreasing.
    pub timestamp_ns: u64,
    /// Its type.
    pub event_type: Bytes,
    /// Its id, if it was given one.
    pub id: Option<EventId>,
    /// Caller metadata.
    pub metadata: Bytes,
    /// The data.
    pub data: Bytes,
}

/// Which way a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forwards,
    /// Newest first.
    Backwards,
}

/// What the store knows about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The last revision written, if any event was.
    pub revision: Option<Revision>,
    /// Reads start at this revision (soft delete truncates before it).
    pub truncate_before: Revision,
    /// Hard-deleted: reads and appends fail.
    pub deleted: bool,
}
