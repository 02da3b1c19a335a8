//! Subscriptions to an event store: the log's subscriptions, delivering recorded events
//! (envelopes decoded) and skipping the store's own lifecycle records.

use std::path::PathBuf;
use std::time::Duration;

use super::envelope::{decode, Kind};
use super::read::{not_an_envelope, recorded};
use super::types::RecordedEvent;
use crate::read::{Start, Subscription, SubscriptionOptions};
use crate::{Event, Log, Position, Result};

/// A subscription to an event store's events, in position order, catch-up then live.
/// Filter by category or event type with [`crate::read::Filter`]. It owns what it
/// needs (no borrow of the store), so bindings can hand it out as a handle.
#[derive(Debug)]
pub struct StoreSubscription {
    dir: PathBuf,
    inner: Subscription,
}

impl StoreSubscription {
    pub(crate) fn new(
        log: &Log,
        start: Start,
        options: SubscriptionOptions,
    ) -> Result<StoreSubscription> {
        Ok(StoreSubscription {
            dir: log.dir().to_path_buf(),
            inner: log.subscribe_with(start, options)?,
        })
    }

    /// The position of the next event this subscription will look at: every event
    /// before it was delivered or filtered out (a checkpoint to resume from).
    pub fn position(&self) -> Position {
        self.inner.position()
    }

    fn to_recorded(&self, event: Event) -> Result<Option<RecordedEvent>> {
        let position = event.position.0;
        let envelope =
            decode(&event.payload).map_err(|e| not_an_envelope(&self.dir, position, e.0))?;
        Ok((envelope.kind == Kind::Event).then(|| recorded(envelope, position)))
    }

    /// The next event, if one is available now.
    pub fn try_next(&mut self) -> Result<Option<RecordedEvent>> {
        while let Some(event) = self.inner.try_next()? {
            if let Some(recorded) = self.to_recorded(event)? {
                return Ok(Some(recorded));
            }
        }
        Ok(None)
    }

    /// The next event, waiting up to `timeout` for one (each lifecycle record skipped
    /// restarts the wait).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<RecordedEvent>> {
        while let Some(event) = self.inner.next(timeout)? {
            if let Some(recorded) = self.to_recorded(event)? {
                return Ok(Some(recorded));
            }
        }
        Ok(None)
    }
}
