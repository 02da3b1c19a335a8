//! The common append, fused: one event for one stream, without an event id or a
//! consumer's checkpoint. It looks the stream up, checks the expectation, encodes the
//! envelope straight into the log writer's buffer and applies it to the index in one
//! pass, without the plans, results and encoded batch that a multi-part append needs.
//! Its answers are those of the general path (`Core::append_parts`); an append with an
//! id goes there, for the retry checks.
//!
//! Concurrent `Synced` ones are combined (`combiner`): one caller at a time places the
//! queued appends under the store's lock and waits for their group commit once, and the
//! others sleep once each, until their own result is durable.

use std::ptr::NonNull;

use bytes::Bytes;

use super::append::{self, timestamp_ns};
use super::combiner::{Combiner, Combining, Slot, Taken, Turn};
use super::core::{Core, State};
use super::read::not_an_envelope;
use super::stream_handle::StreamHandle;
use super::types::{NewEvent, WriteResult};
use super::EventStore;
use crate::error::{Error, Result};
use crate::format::envelope::{encode, EnvelopeParts, Kind};
use crate::format::record::RecordEvents;
use crate::index::REBASE_PER_APPEND;
use crate::log::PendingAppend;
use crate::name::Name;
use crate::options::Durability;
use crate::position::{check_positions_left, ExpectedRevision, Location, Position, Revision};

/// One envelope, encoded by the log into its record (no copy of its own), and its size.
struct OneEnvelope<'a> {
    parts: EnvelopeParts<'a>,
    bytes: usize,
}

impl<'a> OneEnvelope<'a> {
    // Inlined: called once per append, and a call moved the parts through `memcpy`.
    #[inline(always)]
    fn new(parts: EnvelopeParts<'a>) -> OneEnvelope<'a> {
        let bytes = parts.encoded_bytes();
        OneEnvelope { parts, bytes }
    }
}

impl RecordEvents for OneEnvelope<'_> {
    fn count(&self) -> usize {
        1
    }

    fn payload_bytes(&self, _: usize) -> usize {
        self.bytes
    }

    fn write_payload(&self, _: usize, out: &mut Vec<u8>) {
        encode(&self.parts, out);
    }
}

impl EventStore {
    /// [`EventStore::append`] with borrowed arguments: the stream's name and the events
    /// are read in place, so an application that appends one event at a time builds no
    /// `Vec` and no owned name per call. The same checks, errors and retries as `append`.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let placed = NewEvent::new("OrderPlaced", "");
    /// for expected in [ExpectedRevision::NoStream, ExpectedRevision::Exact(Revision(0))] {
    ///     store.append_from_slice("order-1", expected, std::slice::from_ref(&placed), Durability::Buffered)?;
    /// }
    /// assert_eq!(store.stream_info("order-1")?.revision, Some(Revision(1)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append_from_slice(
        &self,
        stream: impl AsRef<[u8]>,
        expected: ExpectedRevision,
        events: &[NewEvent],
        durability: Durability,
    ) -> Result<WriteResult> {
        let stream = stream.as_ref();
        match events {
            [event] if event.id.is_none() => self
                .core
                .append_one(stream, None, expected, event, durability),
            _ => self.append(
                Bytes::copy_from_slice(stream),
                expected,
                events.to_vec(),
                durability,
            ),
        }
    }
}

/// A `Synced` append handed to the combiner (`combiner`): its arguments, borrowed from
/// the caller, who sleeps in `Combiner::submit` until the combiner has run it.
pub(super) struct OneJob {
    stream: NonNull<[u8]>,
    handle: Option<NonNull<StreamHandle>>,
    expected: ExpectedRevision,
    event: NonNull<NewEvent>,
}

// SAFETY: the pointers are shared borrows of `Sync` values (`[u8]`, `StreamHandle`,
// `NewEvent`), read by the combiner only while their caller sleeps in `submit`.
#[expect(
    unsafe_code,
    reason = "a job's borrowed arguments are read by the combiner"
)]
unsafe impl Sync for OneJob {}

impl OneJob {
    fn new(
        stream: &[u8],
        handle: Option<&StreamHandle>,
        expected: ExpectedRevision,
        event: &NewEvent,
    ) -> OneJob {
        OneJob {
            stream: NonNull::from(stream),
            handle: handle.map(NonNull::from),
            expected,
            event: NonNull::from(event),
        }
    }

    /// Runs the job's placement: `Core::place_one` with the caller's arguments.
    #[expect(unsafe_code, reason = "reading the arguments a sleeping caller lent")]
    fn place<'c>(&self, core: &'c Core, state: &mut State) -> Result<Placed<'c>> {
        // SAFETY: the job's caller keeps its arguments borrowed, and sleeps, until the
        // job is completed (`OneJob`); the job is only placed before that.
        let (stream, handle, event) = unsafe {
            (
                self.stream.as_ref(),
                self.handle.map(|h| h.as_ref()),
                self.event.as_ref(),
            )
        };
        core.place_one(
            state,
            stream,
            handle,
            self.expected,
            event,
            Durability::Synced,
        )
    }
}

/// The combiner of the store's `Synced` single-event appends.
pub(super) type AppendCombiner = Combiner<OneJob, Result<WriteResult>>;

/// An append placed in the log and the index, waiting for its durability.
struct Placed<'c> {
    result: WriteResult,
    pending: PendingAppend<'c>,
}

impl Placed<'_> {
    /// Waits for the durability asked for: the append's result.
    fn finish(self) -> Result<WriteResult> {
        self.pending.finish()?;
        Ok(self.result)
    }
}

/// A job the combiner placed, completed with its result once durable. Dropped while the
/// combiner unwinds, it still waits for its durability, so its caller never runs again
/// an append that is already placed.
struct PlacedJob<'c> {
    taken: Option<Taken<'c, OneJob, Result<WriteResult>>>,
    placed: Option<Placed<'c>>,
}

impl PlacedJob<'_> {
    /// Completes the job with its result, once durable; as the heir, its caller runs the
    /// next turn.
    fn finish(&mut self, heir: bool) {
        if let (Some(taken), Some(placed)) = (self.taken.take(), self.placed.take()) {
            taken.complete(placed.finish(), heir);
        }
    }
}

impl Drop for PlacedJob<'_> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

impl Core {
    /// Appends `event` to `stream` (the caller checked it has no id): the general path's
    /// steps for one event, in one pass. Through a `handle` (whose name is `stream`,
    /// checked when it was made) the stream's index id comes from what the handle
    /// remembered where that still holds, and is remembered for the next append.
    ///
    /// Concurrent `Synced` appends are combined (`combiner`, `Core::combine`): the
    /// caller whose turn it is places the queued appends, waits for their group commit
    /// once and hands each caller its own result; the others sleep once, instead of each
    /// taking the store's lock and then waiting in the group commit.
    pub(super) fn append_one(
        &self,
        stream: &[u8],
        handle: Option<&StreamHandle>,
        expected: ExpectedRevision,
        event: &NewEvent,
        durability: Durability,
    ) -> Result<WriteResult> {
        debug_assert!(
            event.id.is_none(),
            "an append with an id takes the general path"
        );
        if handle.is_none() {
            append::check_stream_name(stream)?;
        }
        append::check_event_type(event)?;
        if durability != Durability::Synced {
            return self.append_one_alone(stream, handle, expected, event, durability);
        }
        let slot = Slot::new(OneJob::new(stream, handle, expected, event));
        match self.combiner.submit(&slot) {
            Turn::Done(result) => result,
            Turn::DoneAndCombine(result, turn) => {
                self.combine(None, turn);
                result
            }
            Turn::Unrun => self.append_one_alone(stream, handle, expected, event, durability),
            Turn::Combine(turn) => self
                .combine(Some(slot.job()), turn)
                .expect("a turn with its own job returns its result"),
        }
    }

    /// One append under the store's lock by itself, then its wait for durability.
    fn append_one_alone(
        &self,
        stream: &[u8],
        handle: Option<&StreamHandle>,
        expected: ExpectedRevision,
        event: &NewEvent,
        durability: Durability,
    ) -> Result<WriteResult> {
        let mut guard = self.write_state();
        let placed = self.place_one(&mut guard, stream, handle, expected, event, durability)?;
        let due = self.checkpoint_if_due(&mut guard);
        drop(guard);
        self.checkpoint_in_background(due);
        placed.finish()
    }

    /// The combiner's turns: places its own append (if it has one) and every one queued
    /// until the turn's intake closes, under the store's lock; waits for the group commit
    /// once (for the last append placed, whose sync covers the others) while still
    /// holding the turn, so the appends that arrive meanwhile queue for the next turn
    /// instead of each taking the lock and waiting in the group commit; then completes
    /// each job with its own result (an append that fails its checks at once) and wakes
    /// their callers together. With appends queued for the next turn it passes the turn to
    /// one of its callers, or runs it itself when it had none. Returns its own result.
    fn combine<'c>(
        &'c self,
        mut own: Option<&OneJob>,
        mut turn: Combining<'c, OneJob, Result<WriteResult>>,
    ) -> Option<Result<WriteResult>> {
        let mut own_result = None;
        let mut taken = Vec::new();
        loop {
            let mut guard = self.write_state();
            let own_placed = own.take().map(|job| job.place(self, &mut guard));
            let mut placed: Vec<PlacedJob<'_>> = Vec::new();
            let mut failed = false;
            while turn.take(&mut taken) {
                for job in taken.drain(..) {
                    match job.job().place(self, &mut guard) {
                        Ok(one) => placed.push(PlacedJob {
                            taken: Some(job),
                            placed: Some(one),
                        }),
                        Err(e) => {
                            job.complete(Err(e), false);
                            failed = true;
                        }
                    }
                }
            }
            let due = self.checkpoint_if_due(&mut guard);
            drop(guard);
            if failed {
                turn.wake();
            }
            self.checkpoint_in_background(due);
            // The last placed covers the others. Its outcome is each job's own to see:
            // every `finish` below asks again (at once, when it succeeded).
            let last = placed.last().and_then(|job| job.placed.as_ref());
            let own_ok = own_placed.as_ref().and_then(|p| p.as_ref().ok());
            if let Some(last) = last.or(own_ok) {
                last.pending.wait().ok();
            }
            let more = turn.pass();
            let heir = more && !placed.is_empty();
            for (i, job) in placed.iter_mut().enumerate().rev() {
                job.finish(heir && i == 0);
            }
            if let Some(own_placed) = own_placed {
                own_result = Some(own_placed.and_then(Placed::finish));
            }
            if !more {
                turn.finish();
                return own_result;
            }
            if heir {
                turn.hand_over();
                return own_result;
            }
            turn = turn.next_turn();
        }
    }

    /// Checks the expectation, encodes the envelope into the log writer's buffer and
    /// applies it to the index, under the store's lock (`state`); the caller waits for
    /// the durability after releasing it.
    fn place_one(
        &self,
        state: &mut State,
        stream: &[u8],
        handle: Option<&StreamHandle>,
        expected: ExpectedRevision,
        event: &NewEvent,
        durability: Durability,
    ) -> Result<Placed<'_>> {
        self.checkpointer.install_finished(&mut state.index);
        state.index.tidy(REBASE_PER_APPEND);
        let index = &mut state.index;
        let remembered = handle
            .and_then(StreamHandle::remembered)
            .and_then(|id| index.known_ids_if_still(stream, id));
        let known = match remembered {
            Some(known) => known,
            None => index.known_ids(stream),
        };
        let stream_entry = known.stream.map(|id| index.known_stream(id));
        if stream_entry.is_some_and(|entry| entry.deleted) {
            return Err(Error::StreamDeleted {
                stream: Name::from(stream),
            });
        }
        let chain = stream_entry.map(|entry| &entry.chain);
        let last_in_stream = chain.and_then(|c| c.last());
        let current = last_in_stream.map(|(revision, _)| revision);
        if !append::expectation_holds(expected, current) {
            return Err(Error::WrongExpectedRevision {
                stream: Name::from(stream),
                expected,
                actual: current.map(Revision),
            });
        }
        let position = self.log.next_position().0;
        check_positions_left(position, 1)?;
        let timestamp = timestamp_ns(index.last_timestamp_ns);
        let revision = current.map_or(0, |r| r + 1);
        let block = chain.and_then(|c| c.tail().block_for_next());
        let previous_in_category = known
            .category
            .and_then(|id| index.known_category(id).chain.last())
            .map(|(_, link)| link);
        let envelope = OneEnvelope::new(EnvelopeParts {
            kind: Kind::Event,
            stream,
            event_type: &event.event_type,
            revision,
            timestamp_ns: timestamp,
            previous_in_stream: last_in_stream.map(|(_, link)| link),
            previous_in_category,
            id: None,
            link_block: block.as_ref().map_or(&[][..], |b| &b[..]),
            metadata: &event.metadata,
            data: &event.data,
        });
        let pending = self.log.begin_append(&envelope, &[], durability)?;
        let appended = pending.appended();
        assert_eq!(
            appended.first.0, position,
            "the event store is the log's only writer"
        );
        let link: Location = appended.location(0);
        let applied = index
            .apply_event(stream, known, revision, timestamp, None, link)
            .map_err(|e| not_an_envelope(self.log.dir(), position, e.0))?;
        if let Some(handle) = handle {
            handle.remember(applied.stream);
        }
        Ok(Placed {
            result: WriteResult {
                first_revision: Revision(revision),
                last_revision: Revision(revision),
                first_position: Position(position),
                last_position: Position(position),
            },
            pending,
        })
    }
}
