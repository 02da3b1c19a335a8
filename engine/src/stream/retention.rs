//! Retention on the event store: removing the oldest segments, holding back for the
//! store's consumers unless forced, with the index checkpoint written first so that the
//! index never has to be rebuilt from a log that lost its beginning.

use super::EventStore;
use crate::error::Result;
use crate::position::Position;

/// How far [`EventStore::truncate_before`] may go.
///
/// ```
/// use annal::Truncation;
///
/// // The default never removes what a store consumer has not handled yet.
/// assert_eq!(Truncation::default(), Truncation::BehindConsumers);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Never past the smallest checkpoint of the store's consumers: every consumer can
    /// still read what it has not handled.
    #[default]
    BehindConsumers,
    /// Up to the position asked for, whatever the consumers' checkpoints. A consumer
    /// left behind cannot subscribe from its checkpoint
    /// ([`crate::Error::PositionOutOfRange`]; a subscription already reading there gets
    /// [`crate::Error::BehindRetention`]) until it commits a position the store holds.
    Forced,
}

impl EventStore {
    /// Removes every log segment whose events all lie before `position` (or, with
    /// [`Truncation::BehindConsumers`], before the smallest consumer checkpoint if that
    /// is lower) and returns the store's new first position. Only whole segments go,
    /// never the active one.
    ///
    /// The index checkpoint is written first, so that opening the store never rebuilds
    /// the index from a log whose beginning is gone. Reads that need a removed event —
    /// a stream read reaching back past the new first position, say — get
    /// [`crate::Error::PositionOutOfRange`]: truncate such streams first
    /// ([`EventStore::truncate_stream`]) or read from later revisions.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Position};
    /// use annal::{Start, Truncation};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default().segment_bytes(64 << 10))?;
    /// for n in 0..1_000 {
    ///     let event = NewEvent::new("Ticked", vec![0u8; 200]);
    ///     store.append(format!("clock-{n}"), ExpectedRevision::Any, vec![event], Durability::Written)?;
    /// }
    /// let audit = store.create_consumer("audit", Position(300))?;
    /// let first = store.truncate_before(Position(900), Truncation::BehindConsumers)?;
    /// assert!(first > Position(0) && first <= Position(300)); // held back for `audit`
    /// let first = store.truncate_before(Position(900), Truncation::Forced)?;
    /// assert!(first > Position(300));
    /// # drop(audit);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn truncate_before(&self, position: Position, truncation: Truncation) -> Result<Position> {
        let log = &self.core.log;
        let mut until = position;
        if truncation == Truncation::BehindConsumers {
            if let Some(oldest) = log.consumers().iter().map(|c| c.checkpoint).min() {
                until = until.min(oldest);
            }
        }
        if until <= log.first_position() {
            return Ok(log.first_position());
        }
        self.checkpoint()?;
        log.truncate_before(until)
    }

    /// The first position the store's log still holds.
    pub fn first_position(&self) -> Position {
        self.core.log.first_position()
    }
}
