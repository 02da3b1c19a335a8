//! The stream layer: an event store on the log. Each business entity is a stream of
//! events found by its name without scanning other streams; appends check expected
//! revisions atomically, recognise retries by event id, and may span several streams.
//!
//! Every event is stored as one log event whose payload is an envelope
//! (`envelope`) carrying back-links to the previous event of its stream and of its
//! category; the in-memory `index` keeps a sparse set of those links per stream and
//! is checkpointed (`checkpoint`) so that opening replays only the log's tail.

mod append;
mod read;
mod subscription;
mod types;

use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::format::envelope::{decode, Kind};
use crate::handle::Log;
use crate::index::checkpointer::{Checkpointer, Snapshot};
use crate::index::{checkpoint, Index, IDEMPOTENCY_WINDOW_EVENTS};
use crate::io::{FileStorage, Storage};
use crate::options::{Durability, Options};
use crate::position::{check_positions_left, ExpectedRevision, Location, Position, Revision};
use read::not_an_envelope;

pub use subscription::{StoreFilter, StoreSubscription, StoreSubscriptionOptions};
pub use types::{Direction, NewEvent, RecordedEvent, StreamAppend, StreamInfo, WriteResult};

struct State {
    index: Index,
    events_at_checkpoint: u64,
    /// The last checkpoint's size: the next one is encoded into a buffer that big.
    checkpoint_bytes: usize,
    /// Reused by every append under the lock: its plans and its encoded envelopes.
    plans: Vec<append::Plan>,
    batch: append::EncodedBatch,
}

/// A first guess at a checkpoint's bytes per stream, before one has been written.
const ENCODED_BYTES_PER_STREAM_GUESS: usize = 64;

/// An event store: streams on a log. `Send + Sync`; share it in an `Arc`.
pub struct EventStore {
    /// First, so a store dropped without `close()` finishes its background checkpoint
    /// before the log and its directory lock go.
    checkpointer: Checkpointer,
    log: Log,
    index_recovery: IndexRecovery,
    state: RwLock<State>,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("log", &self.log)
            .finish()
    }
}

/// What the store's index holds in memory ([`EventStore::index_memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMemory {
    /// Approximate heap bytes of the index.
    pub heap_bytes: usize,
    /// Streams it knows.
    pub streams: usize,
}

/// What opening found in the index checkpoint (for tests and operators).
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
    /// Opens (creating if needed) the event store in `dir` on the local file system.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<EventStore> {
        let storage = FileStorage::with_io_path(options.io_path)?;
        EventStore::open_with_storage(dir, options, Arc::new(storage))
    }

    /// Opens the event store on a given storage backend.
    pub fn open_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<EventStore> {
        let log = Log::open_with_storage(dir, options, Arc::clone(&storage))?;
        let (index, index_recovery) = load_index(&log, storage.as_ref())?;
        if let IndexRecovery::Rebuilt { reason } = &index_recovery {
            ::log::info!(
                "annal: index of {} rebuilt from the log ({reason})",
                log.dir().display()
            );
        }
        let events_at_checkpoint = index.events_indexed;
        Ok(EventStore {
            checkpointer: Checkpointer::new(storage, log.dir(), events_at_checkpoint),
            log,
            index_recovery,
            state: RwLock::new(State {
                checkpoint_bytes: index.streams.len() * ENCODED_BYTES_PER_STREAM_GUESS,
                index,
                events_at_checkpoint,
                plans: Vec::new(),
                batch: append::EncodedBatch::default(),
            }),
        })
    }

    /// After a failed write or sync the index may name events that never reached the
    /// log: reads of it stop, as appends do.
    fn check_not_poisoned(&self) -> Result<()> {
        if self.log.is_poisoned() {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    /// What recovery did to the log when the store opened (see
    /// [`Log::recovery_report`]).
    pub fn recovery_report(&self) -> crate::log::RecoveryReport {
        self.log.recovery_report()
    }

    /// Whether opening loaded the index checkpoint or rebuilt the index from the log, and
    /// why.
    pub fn index_recovery(&self) -> IndexRecovery {
        self.index_recovery.clone()
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends events to one stream if it is at the expected revision.
    pub fn append(
        &self,
        stream: impl Into<Bytes>,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
        durability: Durability,
    ) -> Result<WriteResult> {
        let appends = [StreamAppend {
            stream: stream.into(),
            expected,
            events,
        }];
        let mut result = append::OneResult::default();
        self.append_parts(&appends, durability, &mut result)?;
        Ok(result.0.expect("an append of one part has one result"))
    }

    /// Appends to several streams at once, each with its own expectation: all of it or
    /// none of it, across a crash. A retry of an append already stored (same event ids)
    /// returns the original results and writes nothing.
    pub fn append_multi(
        &self,
        appends: &[StreamAppend],
        durability: Durability,
    ) -> Result<Vec<WriteResult>> {
        let mut results = Vec::with_capacity(appends.len());
        self.append_parts(appends, durability, &mut results)?;
        Ok(results)
    }

    /// Checks, encodes and places the parts under the store's lock, then waits for their
    /// durability without it; adds each part's result to `results`.
    fn append_parts(
        &self,
        appends: &[StreamAppend],
        durability: Durability,
        results: &mut impl Extend<WriteResult>,
    ) -> Result<()> {
        append::check_input(appends)?;
        let mut guard = self.write_state();
        let state = &mut *guard;
        state.plans.clear();
        for part in appends {
            let plan = append::plan(&self.log, &state.index, part)?;
            state.plans.push(plan);
        }
        let retries = state
            .plans
            .iter()
            .filter(|p| matches!(p, append::Plan::Retry(_)))
            .count();
        if retries == state.plans.len() {
            results.extend(state.plans.iter().filter_map(|p| match p {
                append::Plan::Retry(result) => Some(*result),
                append::Plan::Append { .. } => None,
            }));
            drop(guard);
            // The original may still be in the writer's buffer: a retry is acknowledged
            // at the durability it asks for, as the original would have been.
            return match durability {
                Durability::Synced => self.log.sync(),
                Durability::Written => self.log.flush(),
                Durability::Buffered => self.check_not_poisoned(),
            };
        }
        if retries > 0 {
            let retried = appends
                .iter()
                .zip(&state.plans)
                .find(|(_, plan)| matches!(plan, append::Plan::Retry(_)))
                .map_or(&appends[0], |(append, _)| append);
            return Err(Error::IdempotencyConflict {
                stream: retried.stream.to_vec(),
                reason: "this part of a multi-stream append was already written, the others not"
                    .into(),
            });
        }
        let first_position = self.log.next_position().0;
        let events: u64 = appends.iter().map(|a| a.events.len() as u64).sum();
        check_positions_left(first_position, events)?;
        let timestamp = append::timestamp_ns(state.index.last_timestamp_ns);
        append::encode_envelopes(
            &state.index,
            appends,
            &state.plans,
            first_position,
            timestamp,
            &mut state.batch,
            results,
        );
        // The record is placed under the lock (positions and revisions are decided there);
        // its durability is waited for after the lock goes, so concurrent `Synced` store
        // appends share one write and one fdatasync, as raw log appends do.
        let pending = self.log.begin_append(&state.batch, &[], durability)?;
        let appended = pending.appended();
        assert_eq!(
            appended.first.0, first_position,
            "the event store is the log's only writer"
        );
        let mut position = first_position;
        for (part, plan) in appends.iter().zip(&state.plans) {
            let append::Plan::Append { current, mut known } = *plan else {
                continue;
            };
            let first_revision = current.map_or(0, |r| r + 1);
            for (i, event) in part.events.iter().enumerate() {
                known = state
                    .index
                    .apply_event(
                        &part.stream,
                        known,
                        first_revision + i as u64,
                        timestamp,
                        event.id,
                        appended.location(position - first_position),
                    )
                    .map_err(|e| not_an_envelope(self.log.dir(), position, e.0))?;
                position += 1;
            }
        }
        let due = self.checkpoint_if_due(state);
        drop(guard);
        // The snapshot covers events already written. The sync that makes them durable
        // comes before the file is written, and both run outside the lock.
        if let Some(snapshot) = due {
            if self.log.sync().is_ok() {
                self.checkpointer.write_in_background(snapshot);
            }
        }
        pending.finish()?;
        Ok(())
    }

    fn append_lifecycle(&self, stream: &[u8], kind: Kind, revision: u64) -> Result<()> {
        append::check_stream_name(stream)?;
        let mut state = self.write_state();
        let entry = state
            .index
            .stream(stream)
            .ok_or_else(|| Error::StreamNotFound {
                stream: stream.to_vec(),
            })?;
        if entry.deleted {
            return Err(Error::StreamDeleted {
                stream: stream.to_vec(),
            });
        }
        let timestamp = append::timestamp_ns(state.index.last_timestamp_ns);
        let payload = append::encode_lifecycle(stream, kind, revision, timestamp);
        let pending = self.log.begin_append(&[payload], &[], Durability::Synced)?;
        let appended = pending.appended();
        let link = Location::new(Position(appended.first.0), appended.record_offset);
        state
            .index
            .apply_lifecycle(kind, stream, revision, timestamp, link);
        drop(state);
        pending.finish().map(drop)
    }

    /// Soft delete: reads of the stream start at `before`; the stream can still be
    /// appended to. Durable when this returns.
    pub fn truncate_stream(&self, stream: &[u8], before: Revision) -> Result<()> {
        self.append_lifecycle(stream, Kind::TruncateBefore, before.0)
    }

    /// Hard delete: a tombstone; later reads and appends fail with `StreamDeleted`.
    /// Durable when this returns.
    pub fn delete_stream(&self, stream: &[u8]) -> Result<()> {
        self.append_lifecycle(stream, Kind::Tombstone, 0)
    }

    /// Reads up to `max_count` events of a stream from revision `from` in `direction`.
    pub fn read_stream(
        &self,
        stream: &[u8],
        from: Revision,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.read_stream_bounded(stream, None, from, direction, max_count)
    }

    /// Reads a stream as it was before `position`: only events at lower positions.
    pub fn read_stream_as_of(
        &self,
        stream: &[u8],
        as_of: Position,
        from: Revision,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.read_stream_bounded(stream, Some(as_of), from, direction, max_count)
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
        self.check_not_poisoned()?;
        let state = self.read_state();
        let index = &state.index;
        read::read_stream(&self.log, index, stream, from, direction, max_count, as_of)
    }

    /// Reads a stream as it was at `time_ns` (nanoseconds since the Unix epoch): "what
    /// was order-42 at 14:03" in one call.
    pub fn read_stream_at_time(
        &self,
        stream: &[u8],
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
        self.check_not_poisoned()?;
        let state = self.read_state();
        read::position_after_time(&self.log, &state.index, time_ns)
    }

    /// Reads up to `max_count` events of the whole log from `from` in `direction`
    /// (the store's own truncation and tombstone records are skipped).
    pub fn read_all(
        &self,
        from: Position,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        read::read_all(&self.log, from, direction, max_count)
    }

    /// Reads up to `max_count` events of a category (the stream-name prefix before the
    /// first `-`: `order` for `order-42`) from a position.
    pub fn read_category(
        &self,
        category: &[u8],
        from: Position,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.check_not_poisoned()?;
        let state = self.read_state();
        read::read_category(
            &self.log,
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
    pub fn subscribe(
        &self,
        start: impl Into<crate::read::Start>,
        options: StoreSubscriptionOptions,
    ) -> Result<StoreSubscription> {
        StoreSubscription::new(&self.log, start.into(), options)
    }

    /// What the store knows about a stream.
    pub fn stream_info(&self, stream: &[u8]) -> Result<StreamInfo> {
        append::check_stream_name(stream)?;
        self.check_not_poisoned()?;
        let state = self.read_state();
        let entry = state
            .index
            .stream(stream)
            .ok_or_else(|| Error::StreamNotFound {
                stream: stream.to_vec(),
            })?;
        Ok(StreamInfo {
            revision: entry.chain.last().map(|(seq, _)| Revision(seq)),
            truncate_before: Revision(entry.truncate_before),
            deleted: entry.deleted,
        })
    }

    /// The stream's last revision (`None`: no events, or never written).
    pub fn stream_revision(&self, stream: &[u8]) -> Option<Revision> {
        let state = self.read_state();
        state
            .index
            .stream(stream)
            .and_then(|e| e.chain.last())
            .map(|(seq, _)| Revision(seq))
    }

    /// The log's counters since open ([`Log::metrics`]): appends, bytes written, group
    /// commits, and the located reads that stream and category reads make.
    pub fn metrics(&self) -> crate::metrics::Metrics {
        self.log.metrics()
    }

    /// The path durable writes take ([`Log::io_path`]).
    pub fn io_path(&self) -> crate::options::IoPath {
        self.log.io_path()
    }

    /// What the index holds in memory (for memory measurements).
    pub fn index_memory(&self) -> IndexMemory {
        let state = self.read_state();
        IndexMemory {
            heap_bytes: state.index.heap_bytes(),
            streams: state.index.streams.len(),
        }
    }

    /// The underlying log, for reading raw events and positions. The store is the log's
    /// only writer, so no append method is reachable through it.
    pub fn log_next_position(&self) -> Position {
        self.log.next_position()
    }

    /// Writes the index checkpoint now (after syncing the log, so it covers only durable
    /// events), once any checkpoint being written in the background is done.
    pub fn checkpoint(&self) -> Result<()> {
        let snapshot = self.snapshot(&mut self.write_state());
        self.log.sync()?;
        self.checkpointer.write_now(&snapshot)
    }

    /// A snapshot to write in the background when one is due
    /// ([`Options::index_checkpoint_events`] events since the last) and the previous one
    /// is written. Best effort: the append it follows has succeeded and must be reported
    /// so; a checkpoint not taken only means the next open replays more.
    fn checkpoint_if_due(&self, state: &mut State) -> Option<Snapshot> {
        let every = self.log.options().index_checkpoint_events;
        let since = state.index.events_indexed - state.events_at_checkpoint;
        if since < every || self.checkpointer.is_busy() {
            return None;
        }
        Some(self.snapshot(state))
    }

    /// Encodes the index: the only part of a checkpoint that holds the store's lock
    /// (appends and reads wait for it). The caller syncs the log, so that every event
    /// the snapshot covers is durable, and then writes the file, both outside the lock.
    fn snapshot(&self, state: &mut State) -> Snapshot {
        let hint = state.checkpoint_bytes + state.checkpoint_bytes / 8;
        let bytes = checkpoint::encode(&state.index, self.log.epoch(), hint);
        state.checkpoint_bytes = bytes.len();
        state.events_at_checkpoint = state.index.events_indexed;
        Snapshot {
            bytes,
            events_indexed: state.index.events_indexed,
        }
    }

    /// Checkpoints the index and closes the log, reporting errors.
    pub fn close(self) -> Result<()> {
        let snapshot = {
            let mut state = self.write_state();
            if self.log.is_poisoned() {
                None
            } else {
                Some(self.snapshot(&mut state))
            }
        };
        match snapshot {
            Some(snapshot) => {
                self.log.sync()?;
                self.checkpointer.write_now(&snapshot)?;
            }
            None => self.checkpointer.wait(),
        }
        self.log.close()
    }
}

/// Loads the index checkpoint if it is usable, then replays the log after it.
/// Why the index checkpoint was not loaded.
enum NotLoaded {
    /// There is none (a new store, or one never checkpointed).
    Missing,
    /// It is damaged or does not fit the log: it is removed, and the index rebuilt.
    Unusable(String),
}

fn load_index(log: &Log, storage: &dyn Storage) -> Result<(Index, IndexRecovery)> {
    let path = log.dir().join(checkpoint::CHECKPOINT_FILE_NAME);
    let first = log.first_position().0;
    let next = log.next_position().0;
    let loaded = match storage.open_file(&path, false) {
        Ok(file) => {
            let bytes = file
                .view()
                .map_err(|e| Error::io("map index checkpoint", Some(path.clone()), e))?;
            checkpoint::decode(&bytes, log.epoch())
                .map_err(|e| NotLoaded::Unusable(e.0.to_owned()))
                .and_then(|index| {
                    if index.through < first || index.through > next {
                        Err(NotLoaded::Unusable(
                            "checkpoint is not within the log (the log lost its tail)".to_owned(),
                        ))
                    } else {
                        Ok(index)
                    }
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(NotLoaded::Missing),
        Err(e) => return Err(Error::io("open index checkpoint", Some(path), e)),
    };
    let (mut index, recovery) = match loaded {
        Ok(index) => {
            let replayed_from = Position(index.through);
            (index, IndexRecovery::Loaded { replayed_from })
        }
        Err(NotLoaded::Missing) => (
            Index::starting_at(first),
            IndexRecovery::Rebuilt {
                reason: "no checkpoint".to_owned(),
            },
        ),
        Err(NotLoaded::Unusable(reason)) => {
            // A stale or damaged checkpoint must never be trusted later either.
            storage
                .remove_file(&path)
                .map_err(|e| Error::io("remove index checkpoint", Some(path.clone()), e))?;
            storage
                .sync_dir(log.dir())
                .map_err(|e| Error::io("fsync directory", Some(log.dir().to_path_buf()), e))?;
            (Index::starting_at(first), IndexRecovery::Rebuilt { reason })
        }
    };
    let ids_from = index
        .through
        .saturating_sub(IDEMPOTENCY_WINDOW_EVENTS as u64)
        .max(first);
    let mut reader = log.read_from(Position(ids_from))?;
    while reader.position().0 < index.through {
        let Some(event) = reader.next() else { break };
        let event = event?;
        let envelope = decode(&event.payload)
            .map_err(|e| not_an_envelope(log.dir(), event.position.0, e.0))?;
        index.remember_envelope_id(&envelope, event.position.0);
    }
    let mut reader = log.read_from(Position(index.through))?;
    while let Some(event) = reader.next() {
        let event = event?;
        let position = event.position.0;
        let envelope =
            decode(&event.payload).map_err(|e| not_an_envelope(log.dir(), position, e.0))?;
        let link = Location::new(Position(position), reader.record_offset());
        index
            .apply(&envelope, link)
            .map_err(|e| not_an_envelope(log.dir(), position, e.0))?;
    }
    Ok((index, recovery))
}
