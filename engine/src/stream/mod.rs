//! The stream layer: an event store on the log. Each business entity is a stream of
//! events found by its name without scanning other streams; appends check expected
//! revisions atomically, recognise retries by event id, and may span several streams.
//!
//! Every event is stored as one log event whose payload is an envelope
//! (`envelope`) carrying back-links to the previous event of its stream and of its
//! category; the in-memory `index` keeps a sparse set of those links per stream and
//! is checkpointed (`checkpoint`) so that opening replays only the log's tail.

mod append;
mod append_one;
mod consumer;
mod core;
mod inspect;
mod iter;
mod open;
mod read;
mod retention;
mod shortcuts;
mod state_lock;
mod stream_handle;
mod subscription;
mod types;
mod verify;

use std::sync::Arc;

use crate::consumer::ConsumerInfo;
use crate::error::{Error, Result};
use crate::format::envelope::Kind;
use crate::name::Name;
use crate::options::Durability;
use crate::position::{ExpectedRevision, Position, Revision};
use crate::read::Start;
use core::{Commit, Core, State};

pub use consumer::StoreConsumer;
pub use inspect::{CategorySummary, StreamSummary};
pub use iter::StoreEvents;
pub use retention::Truncation;
pub use stream_handle::StreamHandle;
pub use subscription::{StoreFilter, StoreSubscription, StoreSubscriptionOptions};
pub use types::{Direction, NewEvent, RecordedEvent, StreamAppend, StreamInfo, WriteResult};

/// An event store: streams on a log. `Send + Sync`; share it in an `Arc`.
///
/// The whole pattern of an event-sourced service: append with an expectation (a retry
/// with the same event ids writes nothing), read a stream back, audit it as of a
/// position.
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
///
/// let dir = tempfile::tempdir()?;
/// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// let created = NewEvent::new("OrderCreated", r#"{"total": 42}"#).with_id(*b"order-42-created");
/// let first = store.append("order-42", ExpectedRevision::NoStream, vec![created.clone()], Durability::Synced)?;
/// // A retry after a timeout: the original result, nothing written twice.
/// let retry = store.append("order-42", ExpectedRevision::NoStream, vec![created], Durability::Synced)?;
/// assert_eq!(retry, first);
/// let paid = NewEvent::new("OrderPaid", "");
/// store.append("order-42", ExpectedRevision::Exact(Revision(0)), vec![paid], Durability::Synced)?;
/// let history = store.read_stream_last("order-42", 10)?;
/// assert_eq!(history.len(), 2);
/// // The auditor: order-42 as it was before the payment.
/// let before_payment = store.read_stream_as_of("order-42", history[1].position, Revision::ZERO, Default::default(), 10)?;
/// assert_eq!(before_payment.len(), 1);
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventStore {
    /// Shared with the store's consumer handles, which hold it weakly.
    core: Arc<Core>,
    /// What opening found in the index checkpoint.
    index_recovery: IndexRecovery,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("log", &self.core.log)
            .finish()
    }
}

/// What the store's index holds in memory ([`EventStore::index_memory`]).
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// store.append("order-1", ExpectedRevision::Any, vec![NewEvent::new("Placed", "")], Durability::Written)?;
/// assert_eq!(store.index_memory().streams, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMemory {
    /// Approximate heap bytes of the index: the streams and categories changed since
    /// the last index checkpoint, the time index and the window of recent event ids.
    pub heap_bytes: usize,
    /// Bytes of the index checkpoint mapped read-only, where the index reads every
    /// stream not changed since (page cache, shared and reclaimable; not heap).
    pub mapped_bytes: usize,
    /// Streams it knows.
    pub streams: usize,
}

/// What opening found in the index checkpoint (for tests and operators).
///
/// ```
/// use annal::{IndexRecovery, Position};
///
/// let loaded = IndexRecovery::Loaded { replayed_from: Position(1_000) };
/// assert!(matches!(loaded, IndexRecovery::Loaded { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRecovery {
    /// The checkpoint was loaded; the log was replayed from this position.
    Loaded {
        /// Where the replay started.
        replayed_from: Position,
    },
    /// No usable checkpoint: the index was rebuilt from the whole log.
    Rebuilt {
        /// Why the checkpoint was not used.
        reason: String,
    },
}

impl EventStore {
    /// What recovery did to the log when the store opened (see
    /// [`crate::Log::recovery_report`]).
    pub fn recovery_report(&self) -> crate::log::RecoveryReport {
        self.core.log.recovery_report()
    }

    /// Appends events to one stream if it is at the expected revision.
    /// The stream's name may be a `&str`, `String`, `&[u8]` or `Bytes`. Errors:
    /// [`Error::WrongExpectedRevision`] (nothing written), [`Error::StreamDeleted`],
    /// [`Error::IdempotencyConflict`] (ids stored, but not as exactly this one append).
    ///
    /// ```
    /// use annal::{Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Revision};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let placed = NewEvent::new("OrderPlaced", "");
    /// let result = store.append("order-1", ExpectedRevision::NoStream, vec![placed.clone()], Durability::Synced)?;
    /// assert_eq!(result.last_revision, Revision(0));
    /// let again = store.append("order-1", ExpectedRevision::NoStream, vec![placed], Durability::Synced);
    /// assert!(matches!(again, Err(Error::WrongExpectedRevision { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append(
        &self,
        stream: impl Into<Name>,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
        durability: Durability,
    ) -> Result<WriteResult> {
        let stream = stream.into().into_bytes();
        if let [event] = &events[..] {
            if event.id.is_none() {
                return self
                    .core
                    .append_one(&stream, None, expected, event, durability);
            }
        }
        let appends = [StreamAppend {
            stream,
            expected,
            events,
        }];
        let mut result = append::OneResult::default();
        self.core
            .append_parts(&appends, durability, &mut result, Commit::None)?;
        Ok(result.0.expect("an append of one part has one result"))
    }

    /// Appends to several streams at once, each with its own expectation: all of it or
    /// none of it, across a crash. A retry of an append already stored (same event ids)
    /// returns the original results and writes nothing.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, StreamAppend};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let transfer = [
    ///     StreamAppend::new("account-1", ExpectedRevision::Any, vec![NewEvent::new("Debited", "10")]),
    ///     StreamAppend::new("account-2", ExpectedRevision::Any, vec![NewEvent::new("Credited", "10")]),
    /// ];
    /// let results = store.append_multi(&transfer, Durability::Synced)?;
    /// assert_eq!(results[1].first_position.0, results[0].first_position.0 + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append_multi(
        &self,
        appends: &[StreamAppend],
        durability: Durability,
    ) -> Result<Vec<WriteResult>> {
        let mut results = Vec::with_capacity(appends.len());
        self.core
            .append_parts(appends, durability, &mut results, Commit::None)?;
        Ok(results)
    }

    /// Soft delete: reads of the stream start at `before`; the stream can still be
    /// appended to. Durable when this returns.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let events = (0..3).map(|i| NewEvent::new("Ticked", format!("{i}"))).collect();
    /// store.append("clock-1", ExpectedRevision::Any, events, Durability::Written)?;
    /// store.truncate_stream("clock-1", Revision(2))?;
    /// assert_eq!(store.read_stream("clock-1", Revision::ZERO, Default::default(), 10)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn truncate_stream(&self, stream: impl AsRef<[u8]>, before: Revision) -> Result<()> {
        self.core
            .append_lifecycle(stream.as_ref(), Kind::TruncateBefore, before.0)
    }

    /// Hard delete: a tombstone; later reads and appends fail with `StreamDeleted`.
    /// Durable when this returns.
    ///
    /// ```
    /// use annal::{Durability, Error, EventStore, ExpectedRevision, NewEvent, Options};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// store.append("cart-9", ExpectedRevision::Any, vec![NewEvent::new("Added", "")], Durability::Written)?;
    /// store.delete_stream("cart-9")?;
    /// assert!(store.stream_info("cart-9")?.deleted);
    /// let read = store.read_stream_last("cart-9", 10);
    /// assert!(matches!(read, Err(Error::StreamDeleted { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_stream(&self, stream: impl AsRef<[u8]>) -> Result<()> {
        self.core
            .append_lifecycle(stream.as_ref(), Kind::Tombstone, 0)
    }

    /// Reads up to `max_count` events of a stream from revision `from` in `direction`.
    /// To read from the end, see [`EventStore::read_stream_backwards`] and
    /// [`EventStore::read_stream_last`].
    ///
    /// ```
    /// use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let events = (0..5).map(|i| NewEvent::new("Ticked", format!("{i}"))).collect();
    /// store.append("clock-1", ExpectedRevision::Any, events, Durability::Written)?;
    /// let page = store.read_stream("clock-1", Revision(1), Direction::Forwards, 2)?;
    /// assert_eq!((page[0].revision, page[1].revision), (Revision(1), Revision(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_stream(
        &self,
        stream: impl AsRef<[u8]>,
        from: Revision,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.read_stream_bounded(stream.as_ref(), None, from, direction, max_count)
    }

    /// Reads a stream as it was before `position`: only events at lower positions.
    pub fn read_stream_as_of(
        &self,
        stream: impl AsRef<[u8]>,
        as_of: Position,
        from: Revision,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.read_stream_bounded(stream.as_ref(), Some(as_of), from, direction, max_count)
    }

    fn read_stream_bounded(
        &self,
        stream: &[u8],
        as_of: Option<Position>,
        from: Revision,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        append::check_stream_name(stream)?;
        self.core.before_read()?;
        let state = self.core.read_state();
        let index = &state.index;
        read::read_stream(
            &self.core.log,
            index,
            stream,
            from,
            direction,
            max_count,
            as_of,
        )
    }

    /// Reads a stream as it was at `time_ns` (nanoseconds since the Unix epoch): "what
    /// was order-42 at 14:03" in one call.
    pub fn read_stream_at_time(
        &self,
        stream: impl AsRef<[u8]>,
        time_ns: u64,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let as_of = self.position_after_time(time_ns)?;
        self.read_stream_as_of(
            stream,
            as_of,
            Revision::ZERO,
            Direction::Forwards,
            max_count,
        )
    }

    /// The position of the first event stamped after `time_ns`: the log as of that time
    /// is everything before it. Uses the sparse time index, then scans at most
    /// `TIME_INDEX_EVERY` events.
    pub fn position_after_time(&self, time_ns: u64) -> Result<Position> {
        self.core.before_read()?;
        let state = self.core.read_state();
        read::position_after_time(&self.core.log, &state.index, time_ns)
    }

    /// Reads up to `max_count` events of the whole log from `from` in `direction`
    /// (the store's own truncation and tombstone records are skipped).
    ///
    /// ```
    /// use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Position};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// store.append("a-1", ExpectedRevision::Any, vec![NewEvent::new("X", "")], Durability::Written)?;
    /// store.append("b-1", ExpectedRevision::Any, vec![NewEvent::new("Y", "")], Durability::Written)?;
    /// let everything = store.read_all(Position(0), Direction::Forwards, 100)?;
    /// assert_eq!(everything.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_all(
        &self,
        from: Position,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        read::read_all(&self.core.log, from, direction, max_count)
    }

    /// Reads up to `max_count` events of a category (the stream-name prefix before the
    /// first `-`: `order` for `order-42`) from a position.
    ///
    /// ```
    /// use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Position};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// for stream in ["order-1", "cust-1", "order-2"] {
    ///     store.append(stream, ExpectedRevision::Any, vec![NewEvent::new("Happened", "")], Durability::Written)?;
    /// }
    /// let orders = store.read_category("order", Position(0), Direction::Forwards, 100)?;
    /// assert_eq!(orders.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_category(
        &self,
        category: impl AsRef<[u8]>,
        from: Position,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let category = category.as_ref();
        self.core.before_read()?;
        let state = self.core.read_state();
        read::read_category(
            &self.core.log,
            &state.index,
            category,
            from,
            direction,
            max_count,
        )
    }

    /// Subscribes to the store's events from `start`: catch-up, then live. Use
    /// [`StoreFilter`] in the options to receive one category, one event type or the
    /// streams of a name prefix.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Start};
    /// use annal::{StoreFilter, StoreSubscriptionOptions};
    /// use std::time::Duration;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let paid = StoreSubscriptionOptions::default().filter(StoreFilter::event_type("OrderPaid"));
    /// let mut subscription = store.subscribe(Start::Beginning, paid)?;
    /// store.append("order-1", ExpectedRevision::Any, vec![NewEvent::new("OrderPaid", "")], Durability::Synced)?;
    /// let event = subscription.next(Duration::from_secs(1))?.expect("the payment");
    /// assert_eq!(event.stream, "order-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe(
        &self,
        start: impl Into<Start>,
        options: StoreSubscriptionOptions,
    ) -> Result<StoreSubscription> {
        StoreSubscription::new(&self.core.log, start.into(), options)
    }

    /// Creates the durable consumer `name` with its checkpoint at `start` (a
    /// [`Position`], [`Start::Beginning`] or [`Start::End`]); durable when this returns.
    /// Errors: [`Error::ConsumerExists`] (also for a name differing only in ASCII case),
    /// [`Error::InvalidConsumerName`], [`Error::TooManyConsumers`],
    /// [`Error::PositionOutOfRange`].
    ///
    /// ```
    /// use annal::{EventStore, Options, Position, Start};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let projection = store.create_consumer("order-view", Start::Beginning)?;
    /// assert_eq!(projection.checkpoint()?, Position(0));
    /// assert_eq!(store.consumers()[0].name, "order-view");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_consumer(&self, name: &str, start: impl Into<Start>) -> Result<StoreConsumer> {
        let consumer = self.core.log.create_consumer(name, start)?;
        Ok(StoreConsumer::new(consumer, &self.core))
    }

    /// A handle to the existing consumer `name`, or [`Error::UnknownConsumer`].
    pub fn consumer(&self, name: &str) -> Result<StoreConsumer> {
        let consumer = self.core.log.consumer(name)?;
        Ok(StoreConsumer::new(consumer, &self.core))
    }

    /// Every consumer and its checkpoint, in name order.
    pub fn consumers(&self) -> Vec<ConsumerInfo> {
        self.core.log.consumers()
    }

    /// Deletes the consumer `name`; its handles then report [`Error::UnknownConsumer`].
    pub fn delete_consumer(&self, name: &str) -> Result<()> {
        self.core.log.delete_consumer(name)
    }

    /// What the store knows about a stream.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// store.append("order-5", ExpectedRevision::Any, vec![NewEvent::new("Placed", "")], Durability::Written)?;
    /// let info = store.stream_info("order-5")?;
    /// assert_eq!((info.revision, info.deleted), (Some(Revision(0)), false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream_info(&self, stream: impl AsRef<[u8]>) -> Result<StreamInfo> {
        let stream = stream.as_ref();
        append::check_stream_name(stream)?;
        self.core.before_read()?;
        let state = self.core.read_state();
        let entry = state
            .index
            .stream(stream)
            .ok_or_else(|| Error::StreamNotFound {
                stream: Name::from(stream),
            })?;
        Ok(StreamInfo {
            revision: entry.chain.last().map(|(seq, _)| Revision(seq)),
            truncate_before: Revision(entry.truncate_before),
            deleted: entry.deleted,
        })
    }

    /// The stream's last revision (`None`: no events, or never written).
    pub fn stream_revision(&self, stream: impl AsRef<[u8]>) -> Option<Revision> {
        let stream = stream.as_ref();
        // A follower that cannot catch up answers from what it has read.
        let _ = self.core.catch_up();
        let state = self.core.read_state();
        state
            .index
            .stream(stream)
            .and_then(|e| e.chain.last())
            .map(|(seq, _)| Revision(seq))
    }

    /// The log's counters since open ([`crate::Log::metrics`]): appends, bytes written, group
    /// commits, and the located reads that stream and category reads make.
    pub fn metrics(&self) -> crate::metrics::Metrics {
        self.core.log.metrics()
    }

    /// What opening found in the index checkpoint: loaded (and the log replayed after
    /// it) or rebuilt from the whole log, and why.
    pub fn index_recovery(&self) -> IndexRecovery {
        self.index_recovery.clone()
    }

    /// The path durable writes take ([`crate::Log::io_path`]).
    pub fn io_path(&self) -> crate::options::IoPath {
        self.core.log.io_path()
    }

    /// What the index holds in memory (for memory measurements).
    pub fn index_memory(&self) -> IndexMemory {
        let state = self.core.read_state();
        IndexMemory {
            heap_bytes: state.index.heap_bytes(),
            mapped_bytes: state.index.mapped_bytes(),
            streams: state.index.stream_count(),
        }
    }

    /// The underlying log, for reading raw events and positions. The store is the log's
    /// only writer, so no append method is reachable through it.
    pub fn log_next_position(&self) -> Position {
        self.core.log.next_position()
    }

    /// Writes `Durability::Buffered` appends and publishes them to readers (in this
    /// process and read-only stores in others), without waiting for them to be durable:
    /// [`crate::Log::flush`] for the store. A read-only store has nothing to write.
    pub fn flush(&self) -> Result<()> {
        if self.core.log.is_read_only() {
            return Ok(());
        }
        self.core.log.flush()
    }

    /// Writes the index checkpoint now (after syncing the log, so it covers only durable
    /// events), once any checkpoint being written in the background is done.
    pub fn checkpoint(&self) -> Result<()> {
        if self.core.log.is_read_only() {
            return Err(Error::ReadOnly);
        }
        self.core.checkpoint_now(true)
    }

    /// Checkpoints the index and closes the log, reporting errors. Calls in flight on
    /// the store's consumer handles finish first; later ones get [`Error::Closed`].
    pub fn close(self) -> Result<()> {
        let mut core = self.core;
        let core = loop {
            match Arc::try_unwrap(core) {
                Ok(core) => break core,
                Err(shared) => {
                    core = shared;
                    std::thread::yield_now();
                }
            }
        };
        if core.log.is_poisoned() || core.log.is_read_only() {
            core.checkpointer.wait();
        } else {
            core.checkpoint_now(false)?;
        }
        core.log.close()
    }
}
