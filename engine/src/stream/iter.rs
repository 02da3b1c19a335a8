//! Store subscriptions as iterators: `for event in &mut subscription` waits for each next
//! event (catch-up, then live) until the store closes or an error ends it, and
//! `subscription.iter_timeout(t)` stops once no event arrived within `t`.

use std::time::Duration;

use super::subscription::StoreSubscription;
use super::types::RecordedEvent;
use crate::error::Result;
use crate::position::Position;

/// How long one wait of a blocking iterator lasts before it waits again: it only bounds
/// how long a wait takes to notice nothing, never delays an event.
const WAIT_SLICE: Duration = Duration::from_secs(1);

/// An iterator over a store subscription's events ([`StoreSubscription::iter`],
/// [`StoreSubscription::iter_timeout`], or `for event in &mut subscription`). Each item
/// is an event or the error that ended the iteration (the last item).
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Start};
/// use std::time::Duration;
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// store.append("order-1", ExpectedRevision::Any, vec![NewEvent::new("Placed", "")], Durability::Synced)?;
/// let mut subscription = store.subscribe(Start::Beginning, Default::default())?;
/// for event in subscription.iter_timeout(Duration::from_millis(10)) {
///     assert_eq!(event?.stream, "order-1");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StoreEvents<'a> {
    subscription: &'a mut StoreSubscription,
    /// `None`: wait as long as it takes.
    timeout: Option<Duration>,
    done: bool,
}

impl StoreEvents<'_> {
    /// The subscription's position: every event before it was delivered or filtered
    /// out (the checkpoint to commit after handling the events delivered so far).
    pub fn position(&self) -> Position {
        self.subscription.position()
    }
}

impl Iterator for StoreEvents<'_> {
    type Item = Result<RecordedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.subscription.next(self.timeout.unwrap_or(WAIT_SLICE)) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) if self.timeout.is_some() => {
                    self.done = true;
                    return None;
                }
                Ok(None) => continue,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl StoreSubscription {
    /// A blocking iterator: each item waits for the next event, catch-up then live; it
    /// ends with the error that stops the subscription (`Closed` once the store closes).
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Start};
    /// use annal::StoreSubscriptionOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let mut subscription = store.subscribe(Start::Beginning, Default::default())?;
    /// let placed = NewEvent::new("OrderPlaced", "");
    /// store.append("order-1", ExpectedRevision::NoStream, vec![placed], Durability::Synced)?;
    /// for event in &mut subscription {
    ///     let event = event?;
    ///     assert_eq!(event.stream, "order-1");
    ///     break; // a service would keep going
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> StoreEvents<'_> {
        StoreEvents {
            subscription: self,
            timeout: None,
            done: false,
        }
    }

    /// An iterator that waits up to `timeout` for each next event and ends when none
    /// came in time (or with the error that stops the subscription): drains what is
    /// there, then stops.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Start};
    /// use std::time::Duration;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let events = (0..3).map(|i| NewEvent::new("Ticked", format!("{i}"))).collect();
    /// store.append("clock-1", ExpectedRevision::Any, events, Durability::Synced)?;
    /// let mut subscription = store.subscribe(Start::Beginning, Default::default())?;
    /// let seen = subscription.iter_timeout(Duration::from_millis(10)).count();
    /// assert_eq!(seen, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter_timeout(&mut self, timeout: Duration) -> StoreEvents<'_> {
        StoreEvents {
            subscription: self,
            timeout: Some(timeout),
            done: false,
        }
    }
}

impl<'a> IntoIterator for &'a mut StoreSubscription {
    type Item = Result<RecordedEvent>;
    type IntoIter = StoreEvents<'a>;

    fn into_iter(self) -> StoreEvents<'a> {
        self.iter()
    }
}
