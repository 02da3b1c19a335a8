//! The global sequence number of an event.

use std::fmt;

/// An event's global position: gapless from 0, assigned at append in commit order.
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
