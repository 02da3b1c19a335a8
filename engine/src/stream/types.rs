//! The stream layer's public values: what an append proposes, what it expects, what a
//! read returns.

use bytes::Bytes;

use crate::name::Name;
use crate::position::{EventId, ExpectedRevision, Position, Revision};

/// An event to append.
///
/// ```
/// use annal::NewEvent;
///
/// let event = NewEvent::new("OrderPlaced", r#"{"total": 42}"#)
///     .with_id(*b"0123456789abcdef") // a retry with this id writes nothing
///     .with_metadata("correlation=abc");
/// assert_eq!(event.event_type, "OrderPlaced");
/// ```
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
///
/// ```
/// use annal::{ExpectedRevision, NewEvent, StreamAppend};
///
/// let part = StreamAppend::new("order-42", ExpectedRevision::NoStream, vec![NewEvent::new("OrderPlaced", "")]);
/// assert_eq!(part.stream, "order-42");
/// ```
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
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Position, Revision};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// let events = vec![NewEvent::new("A", ""), NewEvent::new("B", "")];
/// let result = store.append("s-1", ExpectedRevision::Any, events, Durability::Written)?;
/// assert_eq!((result.first_revision, result.last_revision), (Revision(0), Revision(1)));
/// assert_eq!((result.first_position, result.last_position), (Position(0), Position(1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// store.append("order-7", ExpectedRevision::Any, vec![NewEvent::new("Placed", "7 EUR")], Durability::Written)?;
/// let event = &store.read_stream_last("order-7", 1)?[0];
/// assert_eq!((&event.stream, event.revision, &event.data), (&"order-7".into(), Revision(0), &"7 EUR".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// let events = (0..3).map(|i| NewEvent::new("Ticked", format!("{i}"))).collect();
/// store.append("clock-1", ExpectedRevision::Any, events, Durability::Written)?;
/// let newest_first = store.read_stream("clock-1", Revision(2), Direction::Backwards, 3)?;
/// assert_eq!(newest_first[0].revision, Revision(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forwards,
    /// Newest first.
    Backwards,
}

/// What the store knows about a stream.
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// store.append("order-3", ExpectedRevision::Any, vec![NewEvent::new("Placed", "")], Durability::Written)?;
/// let info = store.stream_info("order-3")?;
/// assert_eq!(info.revision, Some(Revision(0)));
/// assert_eq!(info.truncate_before, Revision(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The last revision written, if any event was.
    pub revision: Option<Revision>,
    /// Reads start at this revision (soft delete truncates before it).
    pub truncate_before: Revision,
    /// Hard-deleted: reads and appends fail.
    pub deleted: bool,
}
