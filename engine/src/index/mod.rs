//! The index of an event store: every stream's chain and lifecycle, every category's
//! chain, a sparse time index and a window of recent event ids. Built by applying
//! envelopes in position order (at append, and when replaying the log's tail after
//! loading a checkpoint).
//!
//! Streams and categories are kept in levels (`levels.rs`): the index checkpoint, mapped
//! and searched in place (`table.rs`), under the entries changed since it was written,
//! on the heap. Opening a store therefore costs what checking the checkpoint file costs,
//! not a decode per stream, and the heap holds only what changed.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use foldhash::quality::RandomState;

use crate::format::envelope::{Envelope, Kind};
use crate::position::{EventId, Location};
use chain::Chain;
use checkpoint::Snapshot;
use levels::Levels;
use table::{Section, Table};

pub(crate) mod chain;
pub(crate) mod checkpoint;
pub(crate) mod checkpoint_v2;
pub(crate) mod checkpointer;
pub(crate) mod levels;
mod names;
pub(crate) mod table;
#[cfg(test)]
mod tests;

/// One time-index entry is kept per this many events.
pub(crate) const TIME_INDEX_EVERY: u64 = 1024;
/// Entries rebased on a newly installed table at once; more are rebased
/// [`REBASE_PER_APPEND`] at a time with later appends.
const REBASE_AT_INSTALL: usize = 4096;
/// Entries rebased per append after an install.
pub(crate) const REBASE_PER_APPEND: usize = 32;
/// Event ids remembered for retries of appends that carry no exact expectation.
pub const IDEMPOTENCY_WINDOW_EVENTS: usize = 100_000;

/// One stream, or one category (the stream-name prefix before the first `-`; its
/// lifecycle fields stay zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainEntry {
    pub(crate) name: Bytes,
    pub(crate) chain: Chain,
    pub(crate) truncate_before: u64,
    pub(crate) deleted: bool,
}

impl ChainEntry {
    pub(crate) fn empty(name: Bytes) -> ChainEntry {
        ChainEntry::with_chain(name, Chain::default())
    }

    pub(crate) fn with_chain(name: Bytes, chain: Chain) -> ChainEntry {
        ChainEntry {
            name,
            chain,
            truncate_before: 0,
            deleted: false,
        }
    }
}

/// What an install replaced: dropped outside the store's lock.
#[derive(Debug, Default)]
#[must_use = "dropped after the store's lock is released"]
pub(crate) struct Retired {
    // Held only to be dropped.
    _streams: Option<Arc<levels::Level>>,
    _categories: Option<Arc<levels::Level>>,
    _table: Option<Arc<Table>>,
}

/// Where an id was stored: the event's revision in its stream, and its position (which
/// names the stream: positions are unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdEntry {
    pub(crate) revision: u64,
    pub(crate) position: u64,
}

/// The whole index.
#[derive(Debug)]
pub(crate) struct Index {
    /// The last index checkpoint, mapped.
    table: Option<Arc<Table>>,
    streams: Levels,
    categories: Levels,
    /// (timestamp, position) of every `TIME_INDEX_EVERY`-th event.
    pub(crate) time: Vec<(u64, u64)>,
    pub(crate) last_timestamp_ns: u64,
    pub(crate) events_indexed: u64,
    /// The position after the last event applied.
    pub(crate) through: u64,
    recent_ids: HashMap<EventId, IdEntry, RandomState>,
    recent_order: VecDeque<EventId>,
    /// Each active stream's category, by the stream's active id, once an append has
    /// looked it up: `Some(None)` for a stream without one. Every append to a stream of
    /// a category would otherwise find the category's name in the stream's and look it
    /// up again. Active ids change only when the levels freeze or thaw, which clear it.
    stream_categories: Vec<Option<Option<u32>>>,
}

/// The category of a stream name: the bytes before the first `-`, if there is one.
pub(crate) fn category_of(stream: &[u8]) -> Option<&[u8]> {
    let dash = stream.iter().position(|&b| b == b'-')?;
    Some(&stream[..dash])
}

/// The index ids of a stream and of its category, where known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KnownIds {
    pub(crate) stream: Option<u32>,
    pub(crate) category: Option<u32>,
}

/// An envelope that contradicts the index (a revision out of sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inconsistent(pub(crate) &'static str);

impl Index {
    /// An empty index starting at `position`.
    pub(crate) fn starting_at(position: u64) -> Index {
        Index {
            table: None,
            streams: Levels::new(Section::Streams),
            categories: Levels::new(Section::Categories),
            time: Vec::new(),
            last_timestamp_ns: 0,
            events_indexed: 0,
            through: position,
            recent_ids: HashMap::default(),
            recent_order: VecDeque::new(),
            stream_categories: Vec::new(),
        }
    }

    /// The index a checkpoint holds (its streams and categories read in place).
    pub(crate) fn on_table(table: Arc<Table>) -> Index {
        let header = *table.header();
        let mut index = Index::starting_at(header.through);
        index.time = table.time();
        index.last_timestamp_ns = header.last_timestamp_ns;
        index.events_indexed = header.events_indexed;
        index.table = Some(table);
        index
    }

    /// Adds a stream or category no level has (loading an older checkpoint onto the
    /// heap); `false` if its name is taken.
    pub(crate) fn insert_new(&mut self, section: Section, entry: ChainEntry) -> bool {
        match section {
            Section::Streams => self.streams.insert_new(entry),
            Section::Categories => self.categories.insert_new(entry),
        }
    }

    /// The stream `name`, if it exists.
    pub(crate) fn stream(&self, name: &[u8]) -> Option<Cow<'_, ChainEntry>> {
        self.streams.get(self.table.as_deref(), name)
    }

    /// The category `name`, if it has events.
    pub(crate) fn category(&self, name: &[u8]) -> Option<Cow<'_, ChainEntry>> {
        self.categories.get(self.table.as_deref(), name)
    }

    /// The entry of a stream known by its id (from [`Index::known_ids`]).
    pub(crate) fn known_stream(&self, id: u32) -> &ChainEntry {
        self.streams.active(id)
    }

    /// The entry of a category known by its id (from [`Index::known_ids`]).
    pub(crate) fn known_category(&self, id: u32) -> &ChainEntry {
        self.categories.active(id)
    }

    /// Calls `f` with every stream once (in no particular order).
    pub(crate) fn for_each_stream(&self, f: impl FnMut(&ChainEntry)) {
        self.streams.for_each(self.table.as_deref(), f);
    }

    /// Calls `f` with every category once (in no particular order).
    pub(crate) fn for_each_category(&self, f: impl FnMut(&ChainEntry)) {
        self.categories.for_each(self.table.as_deref(), f);
    }

    /// Streams the index knows.
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.count(self.table.as_deref())
    }

    /// The ids of the stream `name` and of its category, where they exist, copied up to
    /// the heap for the append about to change them: an append looks them up once and
    /// hands them to [`Index::apply_event`]. Copying up changes no answer.
    pub(crate) fn known_ids(&mut self, name: &[u8]) -> KnownIds {
        let table = self.table.as_deref();
        let stream = self.streams.promote(table, name);
        let cached = stream.and_then(|id| self.stream_categories.get(id as usize).copied());
        let category = match cached.flatten() {
            Some(category) => category,
            None => category_of(name).and_then(|c| self.categories.promote(table, c)),
        };
        KnownIds { stream, category }
    }

    /// What [`Index::known_ids`] returns for `name`, found from `remembered` (the
    /// active id a stream handle kept from an earlier append to `name`) without hashing
    /// the name, if that id still names `name`'s active entry: the entry's name is
    /// compared, so an id from before a freeze or a thaw (which number the active
    /// entries anew) is never taken for another stream's. Its category comes from the
    /// category remembered per active stream, as in `known_ids`. `None` when the id went
    /// stale or was never known: the caller looks the name up.
    #[inline]
    pub(crate) fn known_ids_if_still(&mut self, name: &[u8], remembered: u32) -> Option<KnownIds> {
        if !self.streams.active_is(remembered, name) {
            return None;
        }
        let cached = self.stream_categories.get(remembered as usize).copied();
        let category = match cached.flatten() {
            Some(category) => category,
            None => {
                category_of(name).and_then(|c| self.categories.promote(self.table.as_deref(), c))
            }
        };
        Some(KnownIds {
            stream: Some(remembered),
            category,
        })
    }

    /// Remembers that the stream with active id `stream` is in the category with active
    /// id `category` (or in none), for [`Index::known_ids`].
    fn remember_category(&mut self, stream: u32, category: Option<u32>) {
        let slot = stream as usize;
        if slot >= self.stream_categories.len() {
            self.stream_categories.resize(slot + 1, None);
        }
        self.stream_categories[slot] = Some(category);
    }

    /// Applies the envelope of the event at `link` (events must come in position order).
    pub(crate) fn apply(
        &mut self,
        envelope: &Envelope,
        link: Location,
    ) -> Result<(), Inconsistent> {
        match envelope.kind {
            Kind::Event => self
                .apply_event(
                    &envelope.stream,
                    KnownIds::default(),
                    envelope.revision,
                    envelope.timestamp_ns,
                    envelope.id,
                    link,
                )
                .map(drop),
            kind => {
                self.apply_lifecycle(
                    kind,
                    &envelope.stream,
                    envelope.revision,
                    envelope.timestamp_ns,
                    link,
                );
                Ok(())
            }
        }
    }

    /// Applies a stream event at `link`: from a decoded envelope at replay, or straight
    /// from the parts an append just encoded. `known` holds the ids the caller already
    /// has (the rest are looked up, or created); the ids after the event are returned,
    /// for the next event of the same stream.
    pub(crate) fn apply_event(
        &mut self,
        stream_name: &[u8],
        known: KnownIds,
        revision: u64,
        timestamp_ns: u64,
        id: Option<EventId>,
        link: Location,
    ) -> Result<KnownIds, Inconsistent> {
        let table = self.table.as_deref();
        let stream_id = match known.stream {
            Some(id) => id,
            None => self.streams.id_or_insert(table, stream_name),
        };
        let stream = self.streams.active_mut(stream_id);
        if stream.chain.next_seq() != revision {
            return Err(Inconsistent("stream revision out of sequence"));
        }
        stream.chain.push(link);
        let category_id = match (known.category, category_of(stream_name)) {
            (Some(id), _) => Some(id),
            (None, Some(category)) => Some(self.categories.id_or_insert(table, category)),
            (None, None) => None,
        };
        if let Some(category_id) = category_id {
            self.categories.active_mut(category_id).chain.push(link);
        }
        self.remember_category(stream_id, category_id);
        if self.events_indexed.is_multiple_of(TIME_INDEX_EVERY) {
            self.time.push((timestamp_ns, link.position.0));
        }
        self.events_indexed = self.events_indexed.saturating_add(1);
        if let Some(id) = id {
            self.remember_id(id, revision, link.position.0);
        }
        self.advance(timestamp_ns, link.position.0);
        Ok(KnownIds {
            stream: Some(stream_id),
            category: category_id,
        })
    }

    /// Applies a truncate-before or tombstone record at `link`.
    pub(crate) fn apply_lifecycle(
        &mut self,
        kind: Kind,
        stream_name: &[u8],
        revision: u64,
        timestamp_ns: u64,
        link: Location,
    ) {
        let id = self
            .streams
            .id_or_insert(self.table.as_deref(), stream_name);
        let stream = self.streams.active_mut(id);
        match kind {
            Kind::TruncateBefore => {
                stream.truncate_before = stream.truncate_before.max(revision);
            }
            Kind::Tombstone => stream.deleted = true,
            Kind::Event => unreachable!("events are applied by apply_event"),
        }
        self.advance(timestamp_ns, link.position.0);
    }

    fn advance(&mut self, timestamp_ns: u64, position: u64) {
        self.last_timestamp_ns = self.last_timestamp_ns.max(timestamp_ns);
        self.through = position + 1;
    }

    /// Remembers an event's id (also used when replaying the id window before `through`).
    pub(crate) fn remember_envelope_id(&mut self, envelope: &Envelope, position: u64) {
        if let (Some(id), Kind::Event) = (envelope.id, envelope.kind) {
            self.remember_id(id, envelope.revision, position);
        }
    }

    fn remember_id(&mut self, id: EventId, revision: u64, position: u64) {
        let entry = IdEntry { revision, position };
        if self.recent_ids.insert(id, entry).is_none() {
            self.recent_order.push_back(id);
        }
        while self.recent_order.len() > IDEMPOTENCY_WINDOW_EVENTS {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent_ids.remove(&old);
            }
        }
    }

    /// Where a remembered id was stored.
    pub(crate) fn recent_id(&self, id: &EventId) -> Option<IdEntry> {
        self.recent_ids.get(id).copied()
    }

    /// Approximate heap bytes held (for the memory measurement in docs/design.md). The
    /// mapped checkpoint is not heap: see [`Index::mapped_bytes`].
    pub(crate) fn heap_bytes(&self) -> usize {
        self.streams.heap_bytes()
            + self.categories.heap_bytes()
            + self.time.capacity() * 16
            + self.recent_ids.capacity() * (std::mem::size_of::<(EventId, IdEntry)>() + 1)
            + self.recent_order.capacity() * std::mem::size_of::<EventId>()
            + self.stream_categories.capacity() * std::mem::size_of::<Option<Option<u32>>>()
    }

    /// Bytes of the checkpoint file mapped (page cache, shared, not heap).
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.mapped_bytes())
    }

    /// Whether a snapshot is being written.
    pub(crate) fn is_frozen(&self) -> bool {
        self.streams.is_frozen()
    }

    /// A snapshot of the index for a checkpoint of the log `epoch`: the entries changed
    /// since the table was written are frozen (O(1): later changes go to new levels) and
    /// shared with the writer, which merges them with the table outside the store's
    /// lock. `None` when the table already holds everything.
    pub(crate) fn freeze(&mut self, epoch: u64) -> Option<Snapshot> {
        let covered = self.table.as_ref().is_some_and(|t| {
            t.header().through == self.through && t.header().events_indexed == self.events_indexed
        });
        if covered && self.streams.is_unchanged() && self.categories.is_unchanged() {
            return None;
        }
        // The new active levels number their entries from zero.
        self.stream_categories = Vec::new();
        Some(Snapshot {
            epoch,
            through: self.through,
            events_indexed: self.events_indexed,
            last_timestamp_ns: self.last_timestamp_ns,
            time: self.time.clone(),
            table: self.table.clone(),
            streams: self.streams.freeze(),
            categories: self.categories.freeze(),
        })
    }

    /// The checkpoint written from the frozen snapshot is `table`: it becomes the bottom
    /// level. What it replaces (the frozen levels, the old table) is returned, to be
    /// dropped outside the store's lock: freeing a million entries takes a while.
    pub(crate) fn install(&mut self, table: Arc<Table>) -> Retired {
        let retired = Retired {
            _streams: self.streams.install(&table),
            _categories: self.categories.install(&table),
            _table: self.table.replace(table),
        };
        // Small levels are rebased at once; large ones over the next appends.
        self.tidy(REBASE_AT_INSTALL);
        retired
    }

    /// Part of the work an install leaves: up to `budget` entries of each kind rebased
    /// on the new table (the store calls it with every append).
    #[inline]
    pub(crate) fn tidy(&mut self, budget: usize) {
        self.streams.rebase_some(budget);
        self.categories.rebase_some(budget);
    }

    /// The checkpoint from the frozen snapshot was not written: its entries return to
    /// the heap's active level.
    pub(crate) fn thaw(&mut self) {
        self.streams.thaw();
        self.categories.thaw();
        // The merged levels number their entries anew.
        self.stream_categories.clear();
    }
}
