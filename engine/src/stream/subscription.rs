//! Subscriptions to an event store: the log's subscriptions, delivering recorded events
//! (envelopes decoded), skipping the store's own lifecycle records, and filtering by
//! category, event type or stream-name prefix — the store's filters, built here on the
//! raw log's predicate filter, so the layers below never decode an envelope.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::read::{not_an_envelope, recorded};
use super::types::RecordedEvent;
use crate::consumer::Consumer;
use crate::error::Result;
use crate::format::envelope::{decode, peek, Kind};
use crate::handle::Log;
use crate::index::category_of;
use crate::log::{Event, Visibility};
use crate::name::Name;
use crate::position::Position;
use crate::read::{Filter, Start, Subscription, SubscriptionOptions};

/// Which of the store's events a subscription delivers. Events it rejects are still
/// scanned: [`StoreSubscription::position`] moves past them.
///
/// ```
/// use annal::{StoreFilter, StoreSubscriptionOptions};
///
/// let orders = StoreFilter::category("order"); // order-1, order-42, …
/// let payments = StoreFilter::event_type("OrderPaid");
/// let europe = StoreFilter::stream_prefix("order-eu-");
/// let options = StoreSubscriptionOptions::default().filter(orders);
/// assert_ne!(payments, europe);
/// # drop(options);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFilter {
    /// Every event.
    #[default]
    All,
    /// The events of the streams in a category (the stream-name prefix before the first
    /// `-`: `order` for `order-42`).
    Category(Bytes),
    /// The events of one event type.
    EventType(Bytes),
    /// The events of the streams whose names start with these bytes.
    StreamPrefix(Bytes),
}

impl StoreFilter {
    /// The events of the streams in `category` (`"order"` for `order-42`).
    pub fn category(category: impl Into<Name>) -> StoreFilter {
        StoreFilter::Category(category.into().into_bytes())
    }

    /// The events of one event type.
    pub fn event_type(event_type: impl Into<Name>) -> StoreFilter {
        StoreFilter::EventType(event_type.into().into_bytes())
    }

    /// The events of the streams whose names start with `prefix`.
    pub fn stream_prefix(prefix: impl Into<Name>) -> StoreFilter {
        StoreFilter::StreamPrefix(prefix.into().into_bytes())
    }

    /// The raw log filter that delivers what this one does (and the store's lifecycle
    /// records, which the subscription skips).
    fn to_log_filter(&self) -> Filter {
        let matches: fn(&[u8], &[u8], &[u8]) -> bool = match self {
            StoreFilter::All => return Filter::All,
            StoreFilter::Category(_) => |wanted, stream, _| category_of(stream) == Some(wanted),
            StoreFilter::EventType(_) => |wanted, _, event_type| event_type == wanted,
            StoreFilter::StreamPrefix(_) => |wanted, stream, _| stream.starts_with(wanted),
        };
        let wanted = match self {
            StoreFilter::Category(b) | StoreFilter::EventType(b) | StoreFilter::StreamPrefix(b) => {
                b.clone()
            }
            StoreFilter::All => unreachable!("returned above"),
        };
        Filter::Predicate(Arc::new(move |event: &Event| {
            peek(&event.payload)
                .is_some_and(|(stream, event_type)| matches(&wanted, stream, event_type))
        }))
    }
}

/// How a store subscription reads. The default sees only synced events and delivers all.
///
/// ```
/// use annal::{StoreFilter, StoreSubscriptionOptions, Visibility};
///
/// // Deliver events once written (before they are synced), of the `order` category only.
/// let options = StoreSubscriptionOptions::default()
///     .visibility(Visibility::Written)
///     .filter(StoreFilter::category("order"));
/// assert_eq!(options.visibility, Visibility::Written);
/// ```
#[derive(Debug, Clone)]
pub struct StoreSubscriptionOptions {
    /// The watermark the subscription reads to (default [`Visibility::Synced`]).
    pub visibility: Visibility,
    /// Which events to deliver.
    pub filter: StoreFilter,
}

impl Default for StoreSubscriptionOptions {
    fn default() -> Self {
        StoreSubscriptionOptions {
            visibility: Visibility::Synced,
            filter: StoreFilter::All,
        }
    }
}

impl StoreSubscriptionOptions {
    /// Sets the visibility.
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: StoreFilter) -> Self {
        self.filter = filter;
        self
    }
}

/// A subscription to an event store's events, in position order, catch-up then live.
/// It owns what it needs (no borrow of the store), so bindings can hand it out as a
/// handle.
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Start};
/// use std::time::Duration;
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// store.append("order-1", ExpectedRevision::Any, vec![NewEvent::new("Placed", "")], Durability::Synced)?;
/// let mut subscription = store.subscribe(Start::Beginning, Default::default())?;
/// let caught_up = subscription.next(Duration::from_millis(100))?.expect("the first event");
/// assert_eq!(caught_up.event_type, "Placed");
/// // Resume later from here: everything before it was delivered.
/// assert_eq!(subscription.position(), store.log_next_position());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StoreSubscription {
    dir: PathBuf,
    inner: Subscription,
}

impl StoreSubscription {
    pub(crate) fn new(
        log: &Log,
        start: Start,
        options: StoreSubscriptionOptions,
    ) -> Result<StoreSubscription> {
        let options = SubscriptionOptions::default()
            .visibility(options.visibility)
            .filter(options.filter.to_log_filter());
        Ok(StoreSubscription {
            dir: log.dir().to_path_buf(),
            inner: log.subscribe_with(start, options)?,
        })
    }

    /// A subscription from a store consumer's checkpoint.
    pub(crate) fn for_consumer(
        log: &Log,
        consumer: &Consumer,
        options: StoreSubscriptionOptions,
    ) -> Result<StoreSubscription> {
        let options = SubscriptionOptions::default()
            .visibility(options.visibility)
            .filter(options.filter.to_log_filter());
        Ok(StoreSubscription {
            dir: log.dir().to_path_buf(),
            inner: consumer.subscribe_with(options)?,
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
