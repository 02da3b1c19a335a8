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

pub(crate) mod format;
pub(crate) mod registry;

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use crate::format::extension::{put_entry, KIND_CONSUMER_CHECKPOINT};
use crate::limits::{CONSUMERS_MAX, CONSUMER_NAME_BYTES_MAX, CONSUMER_REPLAY_EVENTS_MAX};
use crate::read::{Start, Subscription, SubscriptionOptions};
use crate::{Appended, Durability, Error, Log, Position, Result};

use format::CheckpointEntry;
pub(crate) use registry::Registry;
use registry::{Entry, State};

/// A consumer as [`Log::consumers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Its name.
    pub name: String,
    /// Its committed checkpoint: the next position it has to handle.
    pub checkpoint: Position,
}

/// A handle to a named, durable consumer of a log. Handles to the same consumer share
/// its state; commits through any of them are serialized.
pub struct Consumer<'log> {
    log: &'log Log,
    entry: Arc<Entry>,
}

impl std::fmt::Debug for Consumer<'_> {
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

/// Consumers of a log.
impl Log {
    /// Creates the consumer `name` with its checkpoint at `start` (durably: its file is
    /// written, synced and named before this returns). Errors: [`Error::ConsumerExists`]
    /// (also for a name differing only in ASCII case), [`Error::InvalidConsumerName`],
    /// [`Error::TooManyConsumers`], [`Error::PositionOutOfRange`].
    pub fn create_consumer(&self, name: &str, start: impl Into<Start>) -> Result<Consumer<'_>> {
        validate_name(name)?;
        let shared = self.shared();
        shared.check_usable()?;
        let position = self.resolve_start(start.into())?;
        let entry = shared
            .consumers
            .create(shared, name, position.0, CONSUMERS_MAX)?;
        Ok(Consumer { log: self, entry })
    }

    /// A handle to the existing consumer `name`, or [`Error::UnknownConsumer`].
    pub fn consumer(&self, name: &str) -> Result<Consumer<'_>> {
        validate_name(name)?;
        let entry = self.shared().consumers.get(name)?;
        Ok(Consumer { log: self, entry })
    }

    /// Every consumer and its checkpoint, in name order.
    pub fn consumers(&self) -> Vec<ConsumerInfo> {
        self.shared()
            .consumers
            .all()
            .iter()
            .map(|entry| ConsumerInfo {
                name: entry.name.clone(),
                checkpoint: registry::checkpoint_of(entry),
            })
            .collect()
    }

    /// Deletes the consumer `name` (its file, then a directory sync). Checkpoints it
    /// committed with appends stay in the log and are ignored, also by a new consumer of
    /// the same name.
    pub fn delete_consumer(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let shared = self.shared();
        shared.check_usable()?;
        shared.consumers.delete(shared, name)
    }

    /// Writes back to their files the checkpoints that consumers committed with appends
    /// and that only the log holds, so the next open replays nothing for them. `close`
    /// and `truncate_before` do this; long-running processes may call it now and then.
    pub fn flush_consumers(&self) -> Result<()> {
        flush_where(self, |_| true)
    }
}

/// Flushes every consumer whose file points into the log before `position` (retention
/// is about to remove those records).
pub(crate) fn flush_before(log: &Log, position: u64) -> Result<()> {
    flush_where(log, |state| {
        state
            .file_replay_from
            .is_some_and(|replay_from| replay_from < position)
    })
}

fn flush_where(log: &Log, needs: impl Fn(&State) -> bool) -> Result<()> {
    for entry in log.shared().consumers.all() {
        let mut state = entry.lock();
        if !state.deleted && needs(&state) {
            flush(log, &entry, &mut state)?;
        }
    }
    Ok(())
}

/// Writes the consumer's newest state to its file with no `replay_from`, once the record
/// it came from is durable.
fn flush(log: &Log, entry: &Entry, state: &mut State) -> Result<()> {
    if !state.needs_flush() {
        return Ok(());
    }
    let shared = log.shared();
    if state.sync_to > shared.synced.load(Ordering::Acquire) {
        log.sync()?;
    }
    let position = state.position;
    entry.write_state(state, shared.epoch, position, None)
}

impl<'log> Consumer<'log> {
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
        self.log.subscribe_with(position, options)
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
        let next = self.log.next_position();
        if position > next {
            return Err(Error::PositionOutOfRange {
                position,
                first: self.log.first_position(),
                next,
            });
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
        let mut state = self.state()?;
        self.check_position(&state, position)?;
        if position.0 == state.position && !state.needs_flush() {
            return Ok(());
        }
        let shared = self.log.shared();
        shared.check_usable()?;
        if position.0 > shared.synced.load(Ordering::Acquire)
            || state.sync_to > shared.synced.load(Ordering::Acquire)
        {
            self.log.sync()?;
        }
        self.entry
            .write_state(&mut state, shared.epoch, position.0, None)
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
        let appended = self
            .log
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
    pub(crate) fn prepare_commit(&self, position: Position) -> Result<PendingCommit<'_, 'log>> {
        let mut state = self.state()?;
        self.check_position(&state, position)?;
        let shared = self.log.shared();
        shared.check_usable()?;
        if state.file_replay_from.is_none() {
            // The file holds the newest state (nothing pending): mark it so an open
            // replays the records from here on.
            let current = state.position;
            let replay_from = self.log.next_position().0;
            self.entry
                .write_state(&mut state, shared.epoch, current, Some(replay_from))?;
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
pub(crate) struct PendingCommit<'a, 'log> {
    consumer: &'a Consumer<'log>,
    state: MutexGuard<'a, State>,
    sequence: u64,
    position: u64,
    pub(crate) extension: Vec<u8>,
}

impl PendingCommit<'_, '_> {
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
            let _ = flush(self.consumer.log, &self.consumer.entry, &mut self.state);
        }
    }
}
