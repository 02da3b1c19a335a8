//! What an operator asks of a store (`annal stat`): its segments, watermarks and
//! consumers through the store (whose log is not handed out: the store is its only
//! writer), and a summary of its streams and categories from the index.

use std::cmp::Reverse;

use super::EventStore;
use crate::consumer::ConsumerInfo;
use crate::error::Result;
use crate::log::SegmentInfo;
use crate::position::Position;

/// How many streams, and how many events in the largest ([`EventStore::stream_summary`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// Streams the index knows (deleted ones included).
    pub streams: u64,
    /// Of those, deleted.
    pub deleted_streams: u64,
    /// Events the index holds.
    pub events: u64,
    /// Every category: its name, its streams and its events, most events first.
    pub categories: Vec<CategorySummary>,
    /// The largest streams by events (name, events), largest first.
    pub largest_streams: Vec<(String, u64)>,
}

/// One category in a [`StreamSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CategorySummary {
    /// The category (the stream-name prefix before the first `-`), lossily as text.
    pub name: String,
    /// Its streams.
    pub streams: u64,
    /// Its events.
    pub events: u64,
}

impl EventStore {
    /// The store's segment files ([`crate::Log::segments`]).
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        self.core.log.segments()
    }

    /// The last position written (visible to readers), if any.
    pub fn last_written(&self) -> Option<Position> {
        self.core.log.last_written()
    }

    /// The last position known durable, if any.
    pub fn last_synced(&self) -> Option<Position> {
        self.core.log.last_synced()
    }

    /// Every consumer and its checkpoint, also on a store opened read-only
    /// ([`crate::Log::consumer_checkpoints`]).
    pub fn consumer_checkpoints(&self) -> Result<Vec<ConsumerInfo>> {
        self.core.log.consumer_checkpoints()
    }

    /// How many streams and events the index holds, every category, and the `largest`
    /// biggest streams (a follower first catches up with its writer).
    pub fn stream_summary(&self, largest: usize) -> Result<StreamSummary> {
        self.core.before_read()?;
        let state = self.core.read_state();
        let index = &state.index;
        let mut summary = StreamSummary {
            streams: index.streams.len() as u64,
            ..StreamSummary::default()
        };
        let mut streams_per_category = vec![0u64; index.categories.len()];
        let mut sizes = Vec::with_capacity(index.streams.len());
        for stream in &index.streams {
            let events = stream.chain.next_seq();
            summary.events += events;
            summary.deleted_streams += u64::from(stream.deleted);
            if let Some(id) = crate::index::category_of(&stream.name)
                .and_then(|c| index.category_ids.get(c).copied())
            {
                streams_per_category[id as usize] += 1;
            }
            sizes.push((events, lossy_name(&stream.name)));
        }
        sizes.sort_by_key(|(events, _)| Reverse(*events));
        summary.largest_streams = sizes
            .into_iter()
            .take(largest)
            .map(|(events, name)| (name, events))
            .collect();
        summary.categories = index
            .categories
            .iter()
            .zip(streams_per_category)
            .map(|(category, streams)| CategorySummary {
                name: lossy_name(&category.name),
                streams,
                events: category.chain.next_seq(),
            })
            .collect();
        summary
            .categories
            .sort_by_key(|c| (Reverse(c.events), c.name.clone()));
        Ok(summary)
    }
}

fn lossy_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
