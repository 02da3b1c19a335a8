//! The in-memory index of an event store: every stream's chain and lifecycle, every
//! category's chain, a sparse time index and a window of recent event ids. Built by
//! applying envelopes in position order (at append, and when replaying the log's tail
//! after loading a checkpoint).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use foldhash::quality::RandomState;

use crate::format::envelope::{Envelope, Kind};
use crate::position::{EventId, Location};
use chain::Chain;
use names::NameIds;

pub(crate) mod chain;
pub(crate) mod checkpoint;
pub(crate) mod checkpointer;
mod names;

/// One time-index entry is kept per this many events.
pub(crate) const TIME_INDEX_EVERY: u64 = 1024;
/// Event ids remembered for retries of appends that carry no exact expectation.
pub const IDEMPOTENCY_WINDOW_EVENTS: usize = 100_000;

/// One stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamEntry {
    pub(crate) name: Bytes,
    pub(crate) chain: Chain,
    pub(crate) truncate_before: u64,
    pub(crate) deleted: bool,
}

/// One category (the stream-name prefix before the first `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CategoryEntry {
    pub(crate) name: Bytes,
    pub(crate) chain: Chain,
}

/// Where an id was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdEntry {
    pub(crate) stream: u32,
    pub(crate) revision: u64,
    pub(crate) position: u64,
}

/// The whole index.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) streams: Vec<StreamEntry>,
    pub(crate) stream_ids: NameIds,
    pub(crate) categories: Vec<CategoryEntry>,
    pub(crate) category_ids: HashMap<Bytes, u32, RandomState>,
    /// (timestamp, position) of every `TIME_INDEX_EVERY`-th event.
    pub(crate) time: Vec<(u64, u64)>,
    pub(crate) last_timestamp_ns: u64,
    pub(crate) events_indexed: u64,
    /// The position after the last event applied.
    pub(crate) through: u64,
    recent_ids: HashMap<EventId, IdEntry, RandomState>,
    recent_order: VecDeque<EventId>,
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
            through: position,
            ..Index::default()
        }
    }

    pub(crate) fn stream_id(&self, name: &[u8]) -> Option<u32> {
        self.stream_ids.get(name)
    }

    pub(crate) fn stream(&self, name: &[u8]) -> Option<&StreamEntry> {
        self.stream_id(name).map(|id| &self.streams[id as usize])
    }

    pub(crate) fn category(&self, name: &[u8]) -> Option<&CategoryEntry> {
        self.category_ids
            .get(name)
            .map(|&id| &self.categories[id as usize])
    }

    /// The id of the stream `name`, its entry created if new. The name is copied: a slice
    /// of the event's payload would keep the whole payload alive.
    fn stream_id_or_insert(&mut self, name: &[u8]) -> u32 {
        if let Some(id) = self.stream_ids.get(name) {
            return id;
        }
        let id = self.streams.len() as u32;
        let key = Bytes::copy_from_slice(name);
        self.stream_ids.insert(key.clone(), id);
        self.streams.push(StreamEntry {
            name: key,
            chain: Chain::default(),
            truncate_before: 0,
            deleted: false,
        });
        id
    }

    fn stream_mut(&mut self, name: &[u8]) -> &mut StreamEntry {
        let id = self.stream_id_or_insert(name);
        &mut self.streams[id as usize]
    }

    /// The id of the category `name`, its entry created if new.
    fn category_id_or_insert(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.category_ids.get(name) {
            return id;
        }
        let id = self.categories.len() as u32;
        let key = Bytes::copy_from_slice(name);
        self.category_ids.insert(key.clone(), id);
        self.categories.push(CategoryEntry {
            name: key,
            chain: Chain::default(),
        });
        id
    }

    /// The ids of the stream `name` and of its category, where they exist: an append
    /// looks them up once and hands them to [`Index::apply_event`].
    pub(crate) fn known_ids(&self, name: &[u8]) -> KnownIds {
        KnownIds {
            stream: self.stream_id(name),
            category: category_of(name).and_then(|c| self.category_ids.get(c).copied()),
        }
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
        let stream_id = match known.stream {
            Some(id) => id,
            None => self.stream_id_or_insert(stream_name),
        };
        let stream = &mut self.streams[stream_id as usize];
        if stream.chain.next_seq() != revision {
            return Err(Inconsistent("stream revision out of sequence"));
        }
        stream.chain.push(link);
        let category_id = match (known.category, category_of(stream_name)) {
            (Some(id), _) => Some(id),
            (None, Some(category)) => Some(self.category_id_or_insert(category)),
            (None, None) => None,
        };
        if let Some(category_id) = category_id {
            self.categories[category_id as usize].chain.push(link);
        }
        if self.events_indexed.is_multiple_of(TIME_INDEX_EVERY) {
            self.time.push((timestamp_ns, link.position.0));
        }
        self.events_indexed = self.events_indexed.saturating_add(1);
        if let Some(id) = id {
            self.remember_id(id, stream_id, revision, link.position.0);
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
        let stream = self.stream_mut(stream_name);
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
            if let Some(stream) = self.stream_id(&envelope.stream) {
                self.remember_id(id, stream, envelope.revision, position);
            }
        }
    }

    fn remember_id(&mut self, id: EventId, stream: u32, revision: u64, position: u64) {
        let entry = IdEntry {
            stream,
            revision,
            position,
        };
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

    /// Approximate heap bytes held (for the memory measurement in docs/design.md).
    pub(crate) fn heap_bytes(&self) -> usize {
        let streams: usize = self
            .streams
            .iter()
            .map(|s| s.name.len() + s.chain.heap_bytes())
            .sum();
        let categories: usize = self
            .categories
            .iter()
            .map(|c| c.name.len() + c.chain.heap_bytes())
            .sum();
        // A hash map slot is its entry plus one control byte.
        let name_slot = std::mem::size_of::<(Bytes, u32)>() + 1;
        streams
            + categories
            + self.streams.capacity() * std::mem::size_of::<StreamEntry>()
            + self.stream_ids.capacity() * name_slot
            + self.time.capacity() * 16
            + self.recent_ids.capacity() * 48
            + self.recent_order.capacity() * std::mem::size_of::<EventId>()
            + self.categories.capacity() * std::mem::size_of::<CategoryEntry>()
    }
}
