//! The store's shared core: the log, the index under its lock and the checkpointer.
//! `EventStore` owns it through an `Arc`; store consumers hold a weak reference, so their
//! calls reach the store's append path while it is open and get `Closed` after.

use super::append;
use super::read::not_an_envelope;
use super::state_lock::{StateLock, StateRead, StateWrite};
use super::types::{StreamAppend, WriteResult};
use crate::consumer::PendingCommit;
use crate::error::{Error, Result};
use crate::format::envelope::Kind;
use crate::format::record::RecordEvents;
use crate::handle::Log;
use crate::index::checkpoint::Snapshot;
use crate::index::checkpointer::Checkpointer;
use crate::index::{Index, REBASE_PER_APPEND};
use crate::log::{PendingAppend, WriterKey};
use crate::name::Name;
use crate::options::Durability;
use crate::position::{check_positions_left, Location, Position};

pub(super) struct State {
    pub(super) index: Index,
    pub(super) events_at_checkpoint: u64,
    /// Reused by every append under the lock: its plans and its encoded envelopes.
    pub(super) plans: Vec<append::Plan>,
    pub(super) batch: append::EncodedBatch,
    /// The key of appends that take the store's lock alone, not the log writer's mutex
    /// too (`state_lock`); `None` until the store registered its lock with the log.
    pub(super) writer_key: Option<WriterKey>,
}

/// What a store append does with a consumer's checkpoint.
pub(super) enum Commit<'a> {
    /// Nothing: a plain append.
    None,
    /// Carries the checkpoint in the append's record (`append_and_commit`); a retry of an
    /// append already stored commits nothing.
    With(PendingCommit<'a>),
    /// The consumer is already past the checkpoint: only a retry of an append already
    /// stored succeeds (returning the original results); anything else is this error.
    RetryOnly(Error),
}

/// The store's state behind `EventStore` and its consumers.
pub(super) struct Core {
    /// First, so a store dropped without `close()` finishes its background checkpoint
    /// before the log and its directory lock go.
    pub(super) checkpointer: Checkpointer,
    pub(super) log: Log,
    pub(super) state: StateLock,
}

impl Core {
    /// After a failed write or sync the index may name events that never reached the
    /// log: reads of it stop, as appends do.
    pub(super) fn check_not_poisoned(&self) -> Result<()> {
        if self.log.is_poisoned() {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    /// What every read of the index does first: refuses a poisoned store, and brings a
    /// follower's index up to what its writer added.
    pub(super) fn before_read(&self) -> Result<()> {
        self.check_not_poisoned()?;
        self.catch_up()
    }

    /// A follower ([`EventStore::open_read_only`](super::EventStore::open_read_only))
    /// reads what its writer added and applies it to the index; nothing for a store with
    /// a writer.
    pub(super) fn catch_up(&self) -> Result<()> {
        if !self.log.is_read_only() {
            return Ok(());
        }
        self.log.refresh()?;
        if self.read_state().index.through >= self.log.next_position().0 {
            return Ok(());
        }
        let mut state = self.write_state();
        super::open::replay(&self.log, &mut state.index, false)
    }

    #[inline]
    pub(super) fn read_state(&self) -> StateRead<'_> {
        self.state.read()
    }

    #[inline]
    pub(super) fn write_state(&self) -> StateWrite<'_> {
        self.state.write()
    }

    /// Places a record in the log for an append under the store's lock, held exclusively
    /// by the caller, who passes the state's `writer_key`: with the key, the log's writer
    /// is reached under that lock alone (`state_lock`), not under its mutex too.
    #[inline(always)]
    pub(super) fn place<E: RecordEvents + ?Sized>(
        &self,
        writer_key: &mut Option<WriterKey>,
        events: &E,
        extension: &[u8],
        durability: Durability,
    ) -> Result<PendingAppend<'_>> {
        match writer_key {
            #[expect(unsafe_code, reason = "the store's append under its own lock alone")]
            // SAFETY: the caller holds the store's lock exclusively (the key lives in the
            // state behind it), the lock the store registered with its log, which handed
            // out this key.
            Some(key) => unsafe {
                self.log
                    .begin_append_exclusive(key, events, extension, durability)
            },
            None => {
                // Cold: a store's key is handed over at open. Without it the log takes
                // the store's lock shared unless this thread is recorded as holding it.
                let _held = self.state.mark_held();
                self.log.begin_append(events, extension, durability)
            }
        }
    }

    /// Checks, encodes and places the parts under the store's lock, then waits for their
    /// durability without it; adds each part's result to `results`. With a consumer's
    /// commit, the checkpoint goes in the same record (its extension) and is recorded
    /// once the record is placed; a retry of an append already stored commits nothing.
    pub(super) fn append_parts(
        &self,
        appends: &[StreamAppend],
        durability: Durability,
        results: &mut impl Extend<WriteResult>,
        commit: Commit<'_>,
    ) -> Result<()> {
        // The common append (one event, no id, no checkpoint) takes the fused path.
        if let (Commit::None, [part]) = (&commit, appends) {
            if let [event] = &part.events[..] {
                if event.id.is_none() {
                    let result =
                        self.append_one(&part.stream, None, part.expected, event, durability)?;
                    results.extend([result]);
                    return Ok(());
                }
            }
        }
        append::check_input(appends)?;
        let mut guard = self.write_state();
        let state = &mut *guard;
        self.checkpointer.install_finished(&mut state.index);
        state.index.tidy(REBASE_PER_APPEND);
        state.plans.clear();
        for part in appends {
            let plan = append::plan(&self.log, &mut state.index, part)?;
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
            match durability {
                Durability::Synced => self.log.sync()?,
                Durability::Written => self.log.flush()?,
                Durability::Buffered => self.check_not_poisoned()?,
            }
            // The original step committed this checkpoint, unless the appends were made
            // without it: then the checkpoint is committed now, so the reaction is never
            // stored without it.
            return match commit {
                Commit::With(pending) => pending.commit_alone(),
                Commit::None | Commit::RetryOnly(_) => Ok(()),
            };
        }
        let commit = match commit {
            Commit::RetryOnly(error) => return Err(error),
            Commit::None => None,
            Commit::With(pending) => Some(pending),
        };
        if retries > 0 {
            let retried = appends
                .iter()
                .zip(&state.plans)
                .find(|(_, plan)| matches!(plan, append::Plan::Retry(_)))
                .map_or(&appends[0], |(append, _)| append);
            return Err(Error::IdempotencyConflict {
                stream: Name::from(&retried.stream),
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
        let extension = commit.as_ref().map_or(&[][..], |c| &c.extension[..]);
        let pending = self.place(&mut state.writer_key, &state.batch, extension, durability)?;
        let appended = pending.appended();
        if let Some(commit) = commit {
            commit.finish(&appended);
        }
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
        self.checkpoint_in_background(due);
        pending.finish()?;
        Ok(())
    }

    /// Writes a due checkpoint's snapshot in the background; called without the lock.
    /// The snapshot covers events already written: the sync that makes them durable
    /// comes before the file is written, and both run outside the lock.
    #[inline(always)]
    pub(super) fn checkpoint_in_background(&self, due: Option<Snapshot>) {
        // Inlined: every append calls it, and almost always with nothing due.
        if let Some(snapshot) = due {
            self.write_checkpoint(snapshot);
        }
    }

    #[cold]
    fn write_checkpoint(&self, snapshot: Snapshot) {
        if self.log.sync().is_ok() {
            self.checkpointer.write_in_background(snapshot);
        } else {
            self.checkpointer.abandon(snapshot);
        }
    }

    /// Soft and hard delete: a lifecycle record for `stream`, durable when this returns.
    pub(super) fn append_lifecycle(&self, stream: &[u8], kind: Kind, revision: u64) -> Result<()> {
        append::check_stream_name(stream)?;
        let mut state = self.write_state();
        self.checkpointer.install_finished(&mut state.index);
        let entry = state
            .index
            .stream(stream)
            .ok_or_else(|| Error::StreamNotFound {
                stream: Name::from(stream),
            })?;
        if entry.deleted {
            return Err(Error::StreamDeleted {
                stream: Name::from(stream),
            });
        }
        let timestamp = append::timestamp_ns(state.index.last_timestamp_ns);
        let payload = append::encode_lifecycle(stream, kind, revision, timestamp);
        let mut guard = state;
        let state = &mut *guard;
        let pending = self.place(&mut state.writer_key, &[payload], &[], Durability::Synced)?;
        let appended = pending.appended();
        let link = Location::new(Position(appended.first.0), appended.record_offset);
        state
            .index
            .apply_lifecycle(kind, stream, revision, timestamp, link);
        drop(guard);
        pending.finish().map(drop)
    }

    /// A snapshot to write in the background when one is due
    /// ([`Options::index_checkpoint_events`] events since the last) and no other is being
    /// written. Best effort: the append it follows has succeeded and must be reported
    /// so; a checkpoint not taken only means the next open replays more.
    #[inline(always)]
    pub(super) fn checkpoint_if_due(&self, state: &mut State) -> Option<Snapshot> {
        // Inlined (every append asks, and almost always it is not due); the rest cold.
        let every = self.log.options().index_checkpoint_events;
        let since = state.index.events_indexed - state.events_at_checkpoint;
        if since < every {
            return None;
        }
        self.checkpoint_if_free(state)
    }

    #[cold]
    fn checkpoint_if_free(&self, state: &mut State) -> Option<Snapshot> {
        if state.index.is_frozen() || self.checkpointer.is_busy() {
            return None;
        }
        self.snapshot(state)
    }

    /// Freezes the index's changes for a checkpoint: the only part of one that holds the
    /// store's lock, and O(1) (appends and reads wait for nothing more). The caller syncs
    /// the log, so that every event the snapshot covers is durable, and then writes the
    /// file, both outside the lock. `None` when the last checkpoint holds everything.
    pub(super) fn snapshot(&self, state: &mut State) -> Option<Snapshot> {
        let snapshot = state.index.freeze(self.log.epoch())?;
        state.events_at_checkpoint = state.index.events_indexed;
        Some(snapshot)
    }

    /// Writes a checkpoint in the caller, reporting errors (`checkpoint()`, `close()`):
    /// any background write is waited for and installed first; with `install`, the new
    /// table is installed after (a store that goes on using its index).
    pub(super) fn checkpoint_now(&self, install: bool) -> Result<()> {
        let snapshot = loop {
            self.checkpointer.wait();
            let mut state = self.write_state();
            self.checkpointer.install_finished(&mut state.index);
            // An append may have started a background write since the wait.
            if state.index.is_frozen() {
                drop(state);
                std::thread::yield_now();
                continue;
            }
            match self.snapshot(&mut state) {
                Some(snapshot) => break snapshot,
                None => return Ok(()),
            }
        };
        let written = self
            .log
            .sync()
            .and_then(|()| self.checkpointer.write_now(snapshot));
        let mut state = self.write_state();
        match written {
            Ok(table) if install => {
                let retired = state.index.install(table);
                drop(state);
                drop(retired);
            }
            Ok(_) => {}
            Err(e) => {
                state.index.thaw();
                return Err(e);
            }
        }
        Ok(())
    }
}
