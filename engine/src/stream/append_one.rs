//! The common append, fused: one event for one stream, without an event id or a
//! consumer's checkpoint. It looks the stream up, checks the expectation, encodes the
//! envelope straight into the log writer's buffer and applies it to the index in one
//! pass, without the plans, results and encoded batch that a multi-part append needs.
//! Its answers are those of the general path (`Core::append_parts`); an append with an
//! id goes there, for the retry checks.

use bytes::Bytes;

use super::append::{self, timestamp_ns};
use super::core::Core;
use super::read::not_an_envelope;
use super::stream_handle::StreamHandle;
use super::types::{NewEvent, WriteResult};
use super::EventStore;
use crate::error::{Error, Result};
use crate::format::envelope::{encode, EnvelopeParts, Kind};
use crate::format::record::RecordEvents;
use crate::index::REBASE_PER_APPEND;
use crate::name::Name;
use crate::options::Durability;
use crate::position::{ExpectedRevision, Location, Position, Revision};

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

impl Core {
    /// Appends `event` to `stream` (the caller checked it has no id): the general path's
    /// steps for one event, in one pass. Through a `handle` (whose name is `stream`,
    /// checked when it was made) the stream's index id comes from what the handle
    /// remembered where that still holds, and is remembered for the next append.
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
        // Unmarked: nothing under it reaches the log's writer but `place` (`state_lock`).
        let mut guard = self.state.write_unmarked();
        let state = &mut *guard;
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
        let pending = self.place(&mut state.writer_key, &envelope, &[], durability)?;
        // Its position is the log's to give (the log checks that one is left); the
        // store's lock, which the log's writer is reached under, keeps it the next one.
        let appended = pending.appended();
        let position = appended.first.0;
        let link: Location = appended.location(0);
        let applied = index
            .apply_event(stream, known, revision, timestamp, None, link)
            .map_err(|e| not_an_envelope(self.log.dir(), position, e.0))?;
        if let Some(handle) = handle {
            handle.remember(applied.stream);
        }
        let due = self.checkpoint_if_due(state);
        drop(guard);
        self.checkpoint_in_background(due);
        pending.finish()?;
        Ok(WriteResult {
            first_revision: Revision(revision),
            last_revision: Revision(revision),
            first_position: Position(position),
            last_position: Position(position),
        })
    }
}
