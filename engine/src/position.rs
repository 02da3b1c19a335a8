//! Value types every layer shares: an event's position, its location on disk, its
//! revision in its stream and its id.

use std::fmt;

use crate::error::{Error, Limit, Result};

/// An event's number within its stream: gapless from 0.
///
/// ```
/// use annal::Revision;
///
/// assert_eq!(Revision::ZERO.after(2), Revision(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub u64);

impl Revision {
    /// The first revision of every stream.
    pub const ZERO: Revision = Revision(0);

    /// The revision `count` events after this one.
    pub fn after(self, count: u64) -> Revision {
        Revision(self.0 + count)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Revision {
    fn from(value: u64) -> Self {
        Revision(value)
    }
}

/// A 16-byte event id (a UUID, say): appending ids already stored is a retry.
pub type EventId = [u8; 16];

/// What an append expects of a stream, checked atomically with the write.
///
/// ```
/// use annal::{Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Revision};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// let ev = || vec![NewEvent::new("Happened", "")];
/// store.append("order-1", ExpectedRevision::NoStream, ev(), Durability::Written)?;
/// store.append("order-1", ExpectedRevision::Exact(Revision(0)), ev(), Durability::Written)?;
/// store.append("order-1", ExpectedRevision::StreamExists, ev(), Durability::Written)?;
/// let stale = store.append("order-1", ExpectedRevision::Exact(Revision(0)), ev(), Durability::Written);
/// match stale {
///     Err(Error::WrongExpectedRevision { actual, .. }) => assert_eq!(actual, Some(Revision(2))),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// An event's global position: gapless from 0, assigned at append in commit order.
///
/// ```
/// use annal::Position;
///
/// assert_eq!(Position(41).after(1), Position(42));
/// assert_eq!(Position(42).to_string(), "42");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub u64);

impl Position {
    /// The first position of every log.
    pub const ZERO: Position = Position(0);

    /// The position `count` events after this one.
    pub fn after(self, count: u64) -> Position {
        Position(self.0 + count)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Position {
    fn from(value: u64) -> Self {
        Position(value)
    }
}

/// Where an event is: its position and the byte offset of its record in the segment
/// holding it — enough to read it with no index lookup and no scan
/// ([`crate::Log::read_in_record`]). Appends return it ([`crate::Appended::location`]),
/// readers report it, and the event store's index is made of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The event's position.
    pub position: Position,
    /// The byte offset of the event's record in its segment.
    pub record_offset: u32,
}

impl Location {
    /// The location of `position` in the record at `record_offset`.
    pub fn new(position: Position, record_offset: u32) -> Location {
        Location {
            position,
            record_offset,
        }
    }
}

/// Checks that `count` more positions fit after `next`. A log whose files claim positions
/// near `u64::MAX` (fuzzing recovery found one) must refuse a batch rather than overflow
/// the position counter.
pub(crate) fn check_positions_left(next: u64, count: u64) -> Result<()> {
    let positions_left = u64::MAX - next;
    if count > positions_left {
        return Err(Error::LimitExceeded {
            limit: Limit::Positions,
            value: count,
            max: positions_left,
        });
    }
    Ok(())
}
