//! Durable consumers: named subscription checkpoints stored in the log directory.
//!
//! A consumer remembers how far it has handled the log (its checkpoint: the next
//! position to handle) across restarts. It commits either on its own
//! ([`Consumer::commit`]: a crash-safe write of its file) or together with an append of
//! its own events ([`Consumer::append_and_commit`]: the checkpoint travels in the same
//! record, so after any crash either both the events and the checkpoint are there or
//! neither is — a transactional outbox, or an exactly-once projection, without a second
//! database).
//!
//! ```
//! use annal::{Durability, Filter, Log, Options, Start, SubscriptionOptions};
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
//! log.append(b"OrderCreated", Durability::Synced)?;
//! let consumer = log.create_consumer("billing", Start::Beginning)?;
//! // Orders only: billing does not bill its own invoices.
//! let orders = Filter::predicate(|event| event.payload.starts_with(b"Order"));
//! let mut subscription = consumer.subscribe_with(SubscriptionOptions::default().filter(orders))?;
//! while let Some(event) = subscription.next(Duration::from_millis(10))? {
//!     let invoice = [b"InvoiceIssued for ".as_slice(), &event.payload[..]].concat();
//!     // The invoice and "billing handled everything before here" in one record.
//!     consumer.append_and_commit(&[invoice], subscription.position(), Durability::Synced)?;
//! }
//! // Nothing more matched; the subscription still scanned past the invoice.
//! consumer.commit(subscription.position())?;
//! assert_eq!(consumer.checkpoint()?, log.next_position());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod inspect;
pub(crate) mod registry;

pub(crate) use inspect::{list_read_only, verify_files};

use std::sync::{Arc, MutexGuard};

use crate::error::{Error, Result};
use crate::format::extension::{put_entry, KIND_CONSUMER_CHECKPOINT};
use crate::limits::{CONSUMERS_MAX, CONSUMER_NAME_BYTES_MAX, CONSUMER_REPLAY_EVENTS_MAX};
use crate::log::{Appended, LogCore, LogHooks, Shared};
use crate::options::Durability;
use crate::position::Position;
use crate::read::{resolve_start, Start, Subscription, SubscriptionOptions};

use crate::format::consumer_checkpoint::CheckpointEntry;
pub(crate) use registry::Registry;
use registry::{Entry, State};

/// A consumer as [`crate::Log::consumers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Its name.
    pub name: String,
    /// Its committed checkpoint: the next position it has to handle.
    pub checkpoint: Position,
}

/// A handle to a named, durable consumer of a log. Handles to the same consumer share
/// its state; commits through any of them are serialized. It owns what it uses (no
/// borrow of the log), so it may be kept across calls and sent between threads; once
/// the log is closed its calls return [`Error::Closed`].
///
/// ```
/// use annal::{Durability, Log, Options, Start};
/// use std::time::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// log.append(b"order 1", Durability::Synced)?;
/// let consumer = log.create_consumer("mailer", Start::Beginning)?;
/// let mut inbox = consumer.subscribe()?;
/// while let Some(_order) = inbox.next(Duration::from_millis(10))? {
///     // ... send the mail, then remember it was sent:
///     consumer.commit(inbox.position())?;
/// }
/// assert_eq!(log.consumer("mailer")?.checkpoint()?, log.next_position());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    shared: Arc<Shared>,
    entry: Arc<Entry>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.entry.name)
            .finish()
    }
}

/// Checks a consumer name: 1 to [`CONSUMER_NAME_BYTES_MAX`] bytes of ASCII letters,
/// digits, `-`, `_` and `.`, not starting with `.` (names are file names).
fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("a name must not be empty")
    } else if name.len() > CONSUMER_NAME_BYTES_MAX {
        Some("a name must be at most limits::CONSUMER_NAME_BYTES_MAX (64) bytes")
    } else if name.starts_with('.') {
        Some("a name must not start with '.'")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("a name may hold only ASCII letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidConsumerName {
            name: name.into(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Creates the consumer `name` at `start`: see [`crate::Log::create_consumer`].
pub(crate) fn create(
    shared: &Arc<Shared>,
    registry: &Registry,
    name: &str,
    start: Start,
) -> Result<Consumer> {
    validate_name(name)?;
    shared.check_usable()?;
    let position = resolve_start(shared, start)?;
    let entry = registry.create(shared, name, position.0, CONSUMERS_MAX)?;
    Ok(Consumer {
        shared: Arc::clone(shared),
        entry,
    })
}

/// A handle to the existing consumer `name`: see [`crate::Log::consumer`].
pub(crate) fn open(shared: &Arc<Shared>, registry: &Registry, name: &str) -> Result<Consumer> {
    validate_name(name)?;
    let entry = registry.get(name)?;
    Ok(Consumer {
        shared: Arc::clone(shared),
        entry,
    })
}

/// Every consumer and its checkpoint, in name order.
pub(crate) fn list(registry: &Registry) -> Vec<ConsumerInfo> {
    registry
        .all()
        .iter()
        .map(|entry| ConsumerInfo {
            name: entry.name.clone(),
            checkpoint: registry::checkpoint_of(entry),
        })
        .collect()
}

/// Deletes the consumer `name`: see [`crate::Log::delete_consumer`].
pub(crate) fn delete(shared: &Shared, registry: &Registry, name: &str) -> Result<()> {
    validate_name(name)?;
    shared.check_usable()?;
    registry.delete(shared, name)
}

impl Registry {
    /// Flushes every consumer whose state `needs` says must reach its file.
    pub(crate) fn flush_where(
        &self,
        shared: &Shared,
        needs: impl Fn(&State) -> bool,
    ) -> Result<()> {
        for entry in self.all() {
            let mut state = entry.lock();
            if !state.deleted && needs(&state) {
                flush(shared, &entry, &mut state)?;
            }
        }
        Ok(())
    }
}

/// Retention flushes every consumer whose file points into the records it removes.
impl LogHooks for Registry {
    fn before_truncate(&self, log: &LogCore, new_first: Position) -> Result<()> {
        self.flush_where(log, |state| {
            state
                .file_replay_from
                .is_some_and(|replay_from| replay_from < new_first.0)
        })
    }
}

/// Writes the consumer's newest state to its file with no `replay_from`, once the record
/// it came from is durable.
fn flush(shared: &Shared, entry: &Entry, state: &mut State) -> Result<()> {
    if !state.needs_flush() {
        return Ok(());
    }
    if state.sync_to > shared.synced() {
        shared.sync()?;
    }
    let position = state.position;
    entry.write_state(state, shared.epoch(), position, None)
}

impl Consumer {
    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The committed checkpoint: the next position this consumer has to handle.
    pub fn checkpoint(&self) -> Result<Position> {
        let state = self.state()?;
        Ok(Position(state.position))
    }

    /// A subscription from the checkpoint, seeing synced events only.
    pub fn subscribe(&self) -> Result<Subscription> {
        self.subscribe_with(SubscriptionOptions::default())
    }

    /// A subscription from the checkpoint with the given options.
    pub fn subscribe_with(&self, options: SubscriptionOptions) -> Result<Subscription> {
        let position = self.checkpoint()?;
        Subscription::new(&self.shared, Start::At(position), options)
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let state = self.entry.lock();
        if state.deleted {
            return Err(Error::UnknownConsumer {
                name: self.entry.name.clone(),
            });
        }
        Ok(state)
    }

    /// Checks that `position` is a checkpoint this consumer may move to.
    fn check_position(&self, state: &State, position: Position) -> Result<()> {
        if position.0 < state.position {
            return Err(Error::CheckpointRegression {
                name: self.entry.name.clone(),
                checkpoint: Position(state.position),
                position,
            });
        }
        if position.0 > self.shared.next() {
            return Err(self.shared.out_of_range(position.0));
        }
        Ok(())
    }

    /// Commits the checkpoint `position` (every event before it is handled) to the
    /// consumer's file: it returns once the checkpoint is durable. The log is synced
    /// first when the checkpoint covers events not yet durable, so a checkpoint never
    /// points past what a power loss would leave. A torn write of the file keeps the
    /// previous checkpoint. Errors: [`Error::CheckpointRegression`] for an earlier
    /// position, [`Error::PositionOutOfRange`] past the end of the log,
    /// [`Error::UnknownConsumer`] once deleted.
    pub fn commit(&self, position: Position) -> Result<()> {
        let shared = &self.shared;
        shared.check_usable()?;
        let mut state = self.state()?;
        self.check_position(&state, position)?;
        if position.0 == state.position && !state.needs_flush() {
            return Ok(());
        }
        if position.0 > shared.synced() || state.sync_to > shared.synced() {
            shared.sync()?;
        }
        self.entry
            .write_state(&mut state, shared.epoch(), position.0, None)
    }

    /// Appends `events` and commits the checkpoint `position` in the same record: after
    /// any crash, either the events are in the log and the checkpoint is committed, or
    /// neither. `durability` applies to both. The first such commit after the
    /// consumer's file was last written costs one extra file write and sync (it marks
    /// where the log must be replayed from on open); the following ones cost nothing
    /// beyond the append.
    pub fn append_and_commit<E: AsRef<[u8]>>(
        &self,
        events: &[E],
        position: Position,
        durability: Durability,
    ) -> Result<Appended> {
        let pending = self.prepare_commit(position)?;
        let appended =
            self.shared
                .append_batch_with_extension(events, &pending.extension, durability);
        match appended {
            Ok(appended) => {
                pending.finish(&appended);
                Ok(appended)
            }
            Err(e) => Err(e),
        }
    }

    /// The first half of a commit carried by an append: checks `position`, makes sure
    /// the consumer's file says where to replay the log from, and encodes the record
    /// extension. The caller appends a batch with [`PendingCommit::extension`] and hands
    /// the result to [`PendingCommit::finish`]; until then the consumer's commits wait.
    pub(crate) fn prepare_commit(&self, position: Position) -> Result<PendingCommit<'_>> {
        let mut state = self.state()?;
        self.check_position(&state, position)?;
        let shared = &self.shared;
        shared.check_usable()?;
        if state.file_replay_from.is_none() {
            // The file holds the newest state (nothing pending): mark it so an open
            // replays the records from here on.
            let current = state.position;
            let replay_from = shared.next();
            self.entry
                .write_state(&mut state, shared.epoch(), current, Some(replay_from))?;
        }
        let sequence = state.sequence + 1;
        let mut extension = Vec::new();
        let entry = CheckpointEntry {
            incarnation: self.entry.incarnation,
            sequence,
            position: position.0,
            name: &self.entry.name,
        };
        put_entry(&mut extension, KIND_CONSUMER_CHECKPOINT, &entry.encode());
        Ok(PendingCommit {
            consumer: self,
            state,
            sequence,
            position: position.0,
            extension,
        })
    }
}

/// A checkpoint on its way into a record extension (see [`Consumer::prepare_commit`]).
pub(crate) struct PendingCommit<'a> {
    consumer: &'a Consumer,
    state: MutexGuard<'a, State>,
    sequence: u64,
    position: u64,
    pub(crate) extension: Vec<u8>,
}

impl PendingCommit<'_> {
    /// Commits the checkpoint to the consumer's file instead, when no record will carry
    /// it: the append it came with turned out to be stored already (a retry). A
    /// checkpoint already there costs nothing; a newer one is committed as
    /// [`Consumer::commit`] does (syncing the log first if it covers events not durable).
    pub(crate) fn commit_alone(mut self) -> Result<()> {
        if self.position == self.state.position {
            return Ok(());
        }
        let shared = &self.consumer.shared;
        if self.position > shared.synced() || self.state.sync_to > shared.synced() {
            shared.sync()?;
        }
        self.consumer
            .entry
            .write_state(&mut self.state, shared.epoch(), self.position, None)
    }

    /// Records the commit once the append carrying [`PendingCommit::extension`]
    /// succeeded. When the oldest checkpoint only the log holds is more than
    /// [`CONSUMER_REPLAY_EVENTS_MAX`] events behind, writes the file too (best effort:
    /// the commit already happened; a failure is retried at the next commit).
    pub(crate) fn finish(mut self, appended: &Appended) {
        let end = appended.last.0 + 1;
        self.state.sequence = self.sequence;
        self.state.position = self.position;
        self.state.sync_to = end;
        let replay_from = self.state.file_replay_from.unwrap_or(end);
        if end - replay_from.min(end) > CONSUMER_REPLAY_EVENTS_MAX {
            let _ = flush(&self.consumer.shared, &self.consumer.entry, &mut self.state);
        }
    }
}
