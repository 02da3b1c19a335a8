//! Durable consumers of an event store: the log's consumers (`consumer/`), delivering
//! the store's decoded events and committing their checkpoint either alone or in the
//! same record as the store append it caused — the exactly-once step of a reaction or a
//! projection, with no second database.

use std::sync::{Arc, Weak};

use super::core::{Commit, Core};
use super::subscription::{StoreSubscription, StoreSubscriptionOptions};
use super::types::{StreamAppend, WriteResult};
use crate::consumer::Consumer;
use crate::error::{Error, Result};
use crate::options::Durability;
use crate::position::Position;

/// A handle to a named, durable consumer of an [`crate::EventStore`]: its checkpoint
/// (the next position it has to handle) survives restarts and crashes. It owns what it
/// uses (no borrow of the store), so it may be kept and sent between threads; once the
/// store is closed its calls return [`Error::Closed`].
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Start};
/// use annal::{StoreFilter, StoreSubscriptionOptions, StreamAppend};
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// let order = NewEvent::new("OrderPlaced", "42 EUR");
/// store.append("order-42", ExpectedRevision::NoStream, vec![order], Durability::Synced)?;
///
/// let billing = store.create_consumer("billing", Start::Beginning)?;
/// let orders = StoreSubscriptionOptions::default().filter(StoreFilter::Category("order".into()));
/// let mut subscription = billing.subscribe_with(orders)?;
/// while let Some(event) = subscription.next(Duration::from_millis(10))? {
///     let invoice = NewEvent::new("InvoiceIssued", event.data.clone())
///         .with_id(*b"invoice-order-42");
///     let reaction = StreamAppend {
///         stream: "invoice-42".into(),
///         expected: ExpectedRevision::NoStream,
///         events: vec![invoice],
///     };
///     // The invoice and "billing handled everything before here", in one record.
///     billing.append_and_commit(&[reaction], subscription.position(), Durability::Synced)?;
/// }
/// assert_eq!(store.stream_revision("invoice-42"), Some(0.into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StoreConsumer {
    consumer: Consumer,
    core: Weak<Core>,
}

impl std::fmt::Debug for StoreConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConsumer")
            .field("name", &self.consumer.name())
            .finish()
    }
}

impl StoreConsumer {
    pub(super) fn new(consumer: Consumer, core: &Arc<Core>) -> StoreConsumer {
        StoreConsumer {
            consumer,
            core: Arc::downgrade(core),
        }
    }

    /// The store, while it is open.
    fn core(&self) -> Result<Arc<Core>> {
        self.core.upgrade().ok_or(Error::Closed)
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        self.consumer.name()
    }

    /// The committed checkpoint: the next position this consumer has to handle.
    pub fn checkpoint(&self) -> Result<Position> {
        self.core()?;
        self.consumer.checkpoint()
    }

    /// A subscription from the checkpoint, delivering every store event once synced:
    /// catch-up, then live.
    pub fn subscribe(&self) -> Result<StoreSubscription> {
        self.subscribe_with(StoreSubscriptionOptions::default())
    }

    /// A subscription from the checkpoint with the store's options (visibility and a
    /// [`crate::StoreFilter`]: category, event type or stream-name prefix).
    pub fn subscribe_with(&self, options: StoreSubscriptionOptions) -> Result<StoreSubscription> {
        let core = self.core()?;
        StoreSubscription::for_consumer(&core.log, &self.consumer, options)
    }

    /// Commits the checkpoint `position` alone (every event before it is handled),
    /// durably: see [`crate::Consumer::commit`]. Errors: [`Error::CheckpointRegression`]
    /// for an earlier position, [`Error::PositionOutOfRange`] past the end of the log,
    /// [`Error::UnknownConsumer`] once deleted, [`Error::Closed`].
    pub fn commit(&self, position: Position) -> Result<()> {
        let _core = self.core()?;
        self.consumer.commit(position)
    }

    /// The exactly-once step: appends to one or more streams (each with its
    /// expectation; give the events ids) and moves this consumer's checkpoint to
    /// `checkpoint`, in one record. After any crash both are there or neither is, at
    /// `durability`. A retry of the same step (the same event ids) returns the original
    /// results and commits nothing twice, also once the checkpoint has moved past
    /// `checkpoint`. A failed expectation writes nothing and leaves the checkpoint.
    pub fn append_and_commit(
        &self,
        appends: &[StreamAppend],
        checkpoint: Position,
        durability: Durability,
    ) -> Result<Vec<WriteResult>> {
        let core = self.core()?;
        let mut results = Vec::with_capacity(appends.len());
        let commit = match self.consumer.prepare_commit(checkpoint) {
            Ok(pending) => Commit::With(pending),
            Err(error @ Error::CheckpointRegression { .. }) => Commit::RetryOnly(error),
            Err(error) => return Err(error),
        };
        core.append_parts(appends, durability, &mut results, commit)?;
        Ok(results)
    }
}
