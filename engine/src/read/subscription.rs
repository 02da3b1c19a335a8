//! Subscriptions: readers that catch up from a position and then follow the live tail,
//! waiting (without a lock on the writer's path) for the writer to publish more.
//!
//! A subscription is a [`LogReader`] plus a wait: the reader already re-reads the
//! watermark on every call, so catching up and following live are the same loop, and
//! the switch between them can neither skip nor repeat an event. When the reader has
//! caught up, the subscription waits on the log's tail (`log::watermark`) until the
//! watermark it reads to moves past its position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::limits::{FILTER_SKIPPED_EVENTS_PER_CALL_MAX, SUBSCRIPTIONS_MAX};
use crate::log::{Event, LogReader, Shared, Visibility};
use crate::position::Position;

/// Where a subscription starts.
///
/// ```
/// use annal::{Durability, Log, Options, Position, Start};
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// log.append(b"old", Durability::Synced)?;
/// let from_start = log.subscribe(Start::Beginning)?;
/// let only_new = log.subscribe(Start::End)?;
/// let from_one = log.subscribe(Position(1))?;
/// assert_eq!((from_start.position(), only_new.position()), (Position(0), Position(1)));
/// # drop(from_one);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// The first position the log holds.
    #[default]
    Beginning,
    /// The position the next append will get: only events appended from now on.
    End,
    /// A given position, from the first one the log holds up to the next to be written.
    At(Position),
}

impl From<Position> for Start {
    fn from(position: Position) -> Self {
        Start::At(position)
    }
}

/// A predicate over events, shared between threads.
pub type EventPredicate = dyn Fn(&Event) -> bool + Send + Sync;

/// Which events a subscription delivers. Events a filter rejects are still scanned:
/// [`Subscription::position`] moves past them, so a consumer's checkpoint advances even
/// when nothing matched.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Filter {
    /// Every event.
    #[default]
    All,
    /// The events for which the predicate returns true.
    Predicate(Arc<EventPredicate>),
}

impl Filter {
    /// A filter delivering the events for which `predicate` returns true.
    pub fn predicate(predicate: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Filter {
        Filter::Predicate(Arc::new(predicate))
    }

    /// Whether the filter delivers `event`.
    pub fn matches(&self, event: &Event) -> bool {
        match self {
            Filter::All => true,
            Filter::Predicate(predicate) => predicate(event),
        }
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::All => f.write_str("All"),
            Filter::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// How a subscription reads. The default sees only synced events and delivers all.
#[derive(Debug, Clone)]
pub struct SubscriptionOptions {
    /// The watermark the subscription reads to. Default: [`Visibility::Synced`] (an
    /// event is delivered once durable); [`Visibility::Written`] delivers sooner, but an
    /// event it delivered may be lost in a power loss.
    pub visibility: Visibility,
    /// Which events to deliver.
    pub filter: Filter,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        SubscriptionOptions {
            visibility: Visibility::Synced,
            filter: Filter::All,
        }
    }
}

impl SubscriptionOptions {
    /// Sets the visibility.
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
}

/// The position `start` names, checked against the log's range.
pub(crate) fn resolve_start(shared: &Shared, start: Start) -> Result<Position> {
    let (first, next) = (shared.first(), shared.next());
    let position = match start {
        Start::Beginning => first,
        Start::End => next,
        Start::At(position) => position.0,
    };
    if position < first || position > next {
        return Err(shared.out_of_range(position));
    }
    Ok(Position(position))
}

/// A reader that follows the log: see [`crate::Log::subscribe_with`]. Dropping it ends it.
///
/// ```
/// use annal::{Durability, Filter, Log, Options, Start, SubscriptionOptions};
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// let orders = Filter::predicate(|event| event.payload.starts_with(b"order"));
/// let mut subscription =
///     log.subscribe_with(Start::Beginning, SubscriptionOptions::default().filter(orders))?;
/// log.append(b"audit ping", Durability::Synced)?;
/// log.append(b"order 42", Durability::Synced)?;
/// let event = subscription.next(Duration::from_secs(5))?.expect("published");
/// assert_eq!(event.payload.as_ref(), b"order 42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Subscription {
    shared: Arc<Shared>,
    reader: LogReader,
    visibility: Visibility,
    filter: Filter,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.position())
            .field("visibility", &self.visibility)
            .field("filter", &self.filter)
            .finish()
    }
}

impl Subscription {
    /// A subscription of the log behind `shared` from `start`: see
    /// [`crate::Log::subscribe_with`].
    pub(crate) fn new(
        shared: &Arc<Shared>,
        start: Start,
        options: SubscriptionOptions,
    ) -> Result<Subscription> {
        let position = resolve_start(shared, start)?;
        if !shared.tail().add_subscription(SUBSCRIPTIONS_MAX) {
            return Err(Error::TooManySubscriptions {
                max: SUBSCRIPTIONS_MAX,
            });
        }
        // Not `read_from`: a subscription never takes the writer's lock to write what is
        // buffered.
        match LogReader::new(Arc::clone(shared), position.0, options.visibility) {
            Ok(reader) => Ok(Subscription {
                shared: Arc::clone(shared),
                reader,
                visibility: options.visibility,
                filter: options.filter,
            }),
            Err(e) => {
                shared.tail().remove_subscription();
                Err(e)
            }
        }
    }

    /// The next position the subscription will scan: every event before it was
    /// delivered or rejected by the filter. After handling an event, this is the
    /// checkpoint to commit.
    pub fn position(&self) -> Position {
        self.reader.position()
    }

    /// The watermark this subscription reads to.
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// The next event if one is already published; `Ok(None)` when caught up, or after
    /// skipping [`FILTER_SKIPPED_EVENTS_PER_CALL_MAX`] events the filter rejects (so that one call is
    /// bounded even while a writer keeps appending events nobody wants; [`position`]
    /// tells how far it scanned).
    ///
    /// [`position`]: Subscription::position
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        let mut rejected = 0;
        loop {
            match self.reader.next() {
                Some(Ok(event)) if self.filter.matches(&event) => return Ok(Some(event)),
                Some(Ok(_)) => {
                    rejected += 1;
                    if rejected == FILTER_SKIPPED_EVENTS_PER_CALL_MAX {
                        return Ok(None);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.check_retention()?;
                    return Ok(None);
                }
            }
        }
    }

    /// The next event, waiting up to `timeout` for one to be published; `Ok(None)` when
    /// the timeout passed first (the position may still have moved past rejected
    /// events). Once caught up with a closed or poisoned log it returns
    /// [`Error::Closed`] or [`Error::Poisoned`]: nothing more will come.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(event) = self.try_next()? {
                return Ok(Some(event));
            }
            let tail = self.shared.tail();
            if tail.has_ended() && !self.has_more() {
                self.shared.check_usable()?;
                return Err(Error::Closed);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(None);
            }
            if !tail.wait_until(|| self.has_more() || tail.has_ended(), deadline) {
                return Ok(None);
            }
        }
    }

    /// Waits up to `timeout` for at least one event, then adds to `out` up to `max`
    /// events already published; returns how many it added (0 on timeout).
    pub fn next_batch(
        &mut self,
        max: usize,
        out: &mut Vec<Event>,
        timeout: Duration,
    ) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        match self.next(timeout)? {
            Some(event) => {
                out.push(event);
                Ok(1 + self.try_next_batch(max - 1, out)?)
            }
            None => Ok(0),
        }
    }

    /// Adds to `out` up to `max` events already published, without waiting; returns how
    /// many it added.
    pub fn try_next_batch(&mut self, max: usize, out: &mut Vec<Event>) -> Result<usize> {
        let mut added = 0;
        while added < max {
            match self.try_next()? {
                Some(event) => {
                    out.push(event);
                    added += 1;
                }
                None => break,
            }
        }
        Ok(added)
    }

    /// Whether the watermark this subscription reads to is past its position.
    fn has_more(&self) -> bool {
        self.shared.watermark(self.visibility) > self.reader.position().0
    }

    /// A reader that stops short of the watermark below the log's first position has
    /// met a segment that retention removed: report it rather than wait forever.
    fn check_retention(&self) -> Result<()> {
        let position = self.reader.position();
        let first = Position(self.shared.first());
        if position < first && self.has_more() {
            return Err(Error::BehindRetention { position, first });
        }
        Ok(())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.tail().remove_subscription();
    }
}
